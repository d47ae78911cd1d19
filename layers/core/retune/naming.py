"""Deterministic names for what retune launches, so that a replay meets "already exists" instead of a duplicate.

Every name starts with JOB_PREFIX, which the EventBridge rules match. Tuning job names are at most 32 characters of
`[a-zA-Z0-9](-*[a-zA-Z0-9])*` and case-insensitive; profile names are lowercase, so no two profiles collide by case.
"""

from __future__ import annotations

import hashlib
import re

# A profile's name: its file profiles/<name>.json, its drops' prefix datasets/<name>/, part of its jobs' names.
PROFILE_NAME_PATTERN = r"^[a-z0-9]+(-[a-z0-9]+)*$"
PROFILE_NAME_MAX = 48
JOB_PREFIX = "rt-"
TUNING_JOB_NAME_MAX = 32
EVALUATION_SUFFIX = "-eval"
SEQ_WIDTH = 4
# Training jobs a tuning job launches: <tuning job>-<3 digits>-<8 hex>.
_TRIAL_SUFFIX = re.compile(r"^(?P<tuning>.+)-\d{3}-[0-9a-f]{8}$")


def seq_key(seq: int) -> str:
    """Round sequences are zero-padded so that they sort as numbers in the store."""
    return f"{seq:0{SEQ_WIDTH}d}"


def profile_stem(profile: str, room: int) -> str:
    """The profile's name cut to `room` characters; a cut name carries a hash of the whole so it stays unique."""
    if len(profile) <= room:
        return profile
    digest = hashlib.sha256(profile.encode()).hexdigest()[:6]
    head = profile[: room - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}"


def tuning_job_name(profile: str, seq: int) -> str:
    seq_text = seq_key(seq)
    room = TUNING_JOB_NAME_MAX - len(JOB_PREFIX) - 1 - len(seq_text)
    return f"{JOB_PREFIX}{profile_stem(profile, room)}-{seq_text}"


def evaluation_job_name(profile: str, seq: int, attempt: int = 1) -> str:
    """The round's evaluation job; an evaluation made again (the champion changed meanwhile) is numbered."""
    again = f"-{attempt}" if attempt > 1 else ""
    return tuning_job_name(profile, seq) + again + EVALUATION_SUFFIX


def is_retune_job(name: str) -> bool:
    return name.startswith(JOB_PREFIX)


def is_evaluation_job(name: str) -> bool:
    return is_retune_job(name) and name.endswith(EVALUATION_SUFFIX)


def tuning_job_of_trial(training_job_name: str) -> str | None:
    """The tuning job that launched a training job, from AMT's naming rule; None if the name does not follow it."""
    match = _TRIAL_SUFFIX.match(training_job_name)
    return match.group("tuning") if match else None


def client_token(profile: str, seq: int, purpose: str) -> str:
    """An idempotency token of at most 36 characters of [a-zA-Z0-9-], derived from the round."""
    digest = hashlib.sha256(f"{profile}/{seq}/{purpose}".encode()).hexdigest()
    return f"rt-{digest[:33]}"


def package_group(package_arn: str) -> str | None:
    """The model package group of a versioned package's ARN (`arn:...:model-package/<group>/<version>`); None for
    an unversioned package's or any other ARN."""
    _, marker, path = package_arn.partition(":model-package/")
    parts = path.split("/")
    return parts[0] if marker and len(parts) == 2 and parts[0] else None
