"""Deterministic names for what retune launches, so that a replay meets "already exists" instead of a duplicate.

Every name starts with JOB_PREFIX, which the EventBridge rules match. Tuning job names are at most 32 characters of
`[a-zA-Z0-9](-*[a-zA-Z0-9])*` and case-insensitive; profile names are lowercase, so no two profiles collide by case.

A round's first choice is `rt-<stem>-<round>`, the stem being the profile's name cut to fit with a short hash of the
whole. Two profiles can have one stem (a profile may be named as another's cut stem), so the first choice is only
taken when no other profile's round holds it (StartRound reads the job-name lookup, and writes it on the condition
that it is still free); else the round takes its alternative, `rt-<head>--<hash>-<round>`, which no first choice can
equal (profile names never hold "--") and whose hash is long enough that no two profiles' alternatives meet. The
round's trials (`<tuning>-<3 digits>-<8 hex>`), incumbents (`<tuning>-inc<n>`), evaluation (`<tuning>-eval`),
model and endpoint config are named after the tuning job name the round took (stored in the round), so they are
the round's alone too.
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
LEGACY_KEY_MAX = 10_000  # rounds up to it keep the sort keys the code before issue 17 gave them
ALTERNATIVE_MARK = "--"  # in alternative names only: profile names never hold it
ALTERNATIVE_HASH = 13  # base-36 characters of SHA-256 (67 bits): no two profiles' alternatives meet
# Training jobs a tuning job launches: <tuning job>-<3 digits>-<8 hex>.
_TRIAL_SUFFIX = re.compile(r"^(?P<tuning>.+)-\d{3}-[0-9a-f]{8}$")
# A round's incumbents (plain training jobs): <tuning job>-inc<n>, n one digit. "inc" is no hex, so no trial name
# has this suffix; no evaluation name either (they end in "-eval"); a tuning job name ends in digits. So the IAM
# pattern INCUMBENT_GRANT, whose `?` is one character and which, like every IAM pattern, matches the whole name,
# admits a round's incumbents and no other job of retune's, even of a profile named "acme-inc" (whose trials and
# evaluation hold "-inc" but do not end in "-inc<digit>"). Hence at most INCUMBENT_MAX incumbents a round.
INCUMBENT_MARK = "-inc"
INCUMBENT_MAX = 9
INCUMBENT_GRANT = f"{JOB_PREFIX}*{INCUMBENT_MARK}?"
_INCUMBENT_SUFFIX = re.compile(r"^(?P<tuning>.+)-inc(?P<index>[1-9])$")
TRAINING_JOB_NAME_MAX = 63


def seq_key(seq: int) -> str:
    """A round's number in the store's sort keys, in an order that holds for any number of rounds.

    Up to 10,000 as the code before issue 17 wrote them, zero-padded to 4 digits (so 10,000 is "10000": the last
    round that code could start, and the one key that sorts out of order, between "1000" and "1001"; the store's
    ordered reads look it up by itself). From 10,001 on, a letter giving the number of digits ("a" for 5, "b" for
    6, ...; after "z", a "~" per 26 more) and the digits: every such key sorts after every digit, and by length
    first, then digit by digit."""
    if seq <= LEGACY_KEY_MAX:
        return f"{seq:0{SEQ_WIDTH}d}"
    digits = str(seq)
    extra = len(digits) - SEQ_WIDTH - 1
    return "~" * (extra // 26) + chr(ord("a") + extra % 26) + digits


def seq_of_key(key: str) -> int:
    """The round number a sort-key part written by `seq_key` (or by the code before it) holds."""
    return int(key if key[:1].isdigit() else key.lstrip("~")[1:])


def profile_stem(profile: str, room: int) -> str:
    """The profile's name cut to `room` characters; a cut name carries a hash of the whole so it stays unique."""
    if len(profile) <= room:
        return profile
    digest = hashlib.sha256(profile.encode()).hexdigest()[:6]
    head = profile[: room - len(digest) - 1].rstrip("-")
    return f"{head}-{digest}"


def round_text(seq: int) -> str:
    """A round's number in its job names: at least 4 digits (names need no order, only uniqueness)."""
    return f"{seq:0{SEQ_WIDTH}d}"


def tuning_job_name(profile: str, seq: int) -> str:
    """A round's first-choice tuning job name (the only rule before issue 17: rounds started then keep it)."""
    seq_text = round_text(seq)
    room = TUNING_JOB_NAME_MAX - len(JOB_PREFIX) - 1 - len(seq_text)
    return f"{JOB_PREFIX}{profile_stem(profile, room)}-{seq_text}"


def alternative_tuning_job_name(profile: str, seq: int) -> str:
    """A round's tuning job name when another profile's round holds its first choice."""
    seq_text = round_text(seq)
    digest = _base36(int(hashlib.sha256(profile.encode()).hexdigest(), 16) % 36**ALTERNATIVE_HASH)
    room = TUNING_JOB_NAME_MAX - len(JOB_PREFIX) - len(ALTERNATIVE_MARK) - len(digest) - 1 - len(seq_text)
    head = profile[: max(room, 1)].rstrip("-")
    return f"{JOB_PREFIX}{head}{ALTERNATIVE_MARK}{digest}-{seq_text}"


def round_job_names(profile: str, seq: int) -> tuple[str, str]:
    """The names a round may take, in order of preference."""
    return tuning_job_name(profile, seq), alternative_tuning_job_name(profile, seq)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out.rjust(ALTERNATIVE_HASH, "0")


def evaluation_job_name(profile: str, seq: int, attempt: int = 1) -> str:
    """The evaluation job of a round that took its first-choice name (tests and tools; use cases use
    `evaluation_job_of`)."""
    return evaluation_job_of(tuning_job_name(profile, seq), attempt)


def evaluation_job_of(tuning_job: str, attempt: int = 1) -> str:
    """The evaluation job of the round whose tuning job this is; an evaluation made again (the champion changed
    meanwhile) is numbered."""
    again = f"-{attempt}" if attempt > 1 else ""
    return tuning_job + again + EVALUATION_SUFFIX


def incumbent_job_name(tuning_job: str, index: int) -> str:
    """The plain training job of a round's `index`-th incumbent (1 to INCUMBENT_MAX), named after the round's
    tuning job."""
    if not 1 <= index <= INCUMBENT_MAX:
        raise ValueError(
            f"incumbent index {index}: a round has at most {INCUMBENT_MAX} incumbents (one digit, which the IAM "
            f"grants on {INCUMBENT_GRANT} rely on)"
        )
    return f"{tuning_job}{INCUMBENT_MARK}{index}"


def tuning_job_of_incumbent(training_job_name: str) -> str | None:
    """The tuning job of the round an incumbent's training job belongs to; None for any other name."""
    match = _INCUMBENT_SUFFIX.match(training_job_name)
    return match.group("tuning") if match and is_retune_job(training_job_name) else None


def incumbent_index(training_job_name: str) -> int | None:
    """Which of its round's incumbents (from 1) a training job is; None for any other name."""
    match = _INCUMBENT_SUFFIX.match(training_job_name)
    return int(match.group("index")) if match and is_retune_job(training_job_name) else None


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
