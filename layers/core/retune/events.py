"""Inbound events as models: every event becomes one of these at the edge, or a classified InvalidInput."""

# Annotations are evaluated as written, not postponed: see retune.modeling.
import re
from typing import Any, Literal
from urllib.parse import unquote_plus

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from retune.envelope import Envelope
from retune.errors import InvalidInput
from retune.modeling import Model
from retune.naming import PROFILE_NAME_MAX, PROFILE_NAME_PATTERN
from retune.timeutil import Timestamp
from retune.validation_errors import describe_validation_error

__all__ = [
    "DATASETS_PREFIX",
    "DROP_ID_MAX",
    "DROP_READY",
    "MANIFEST_NAME",
    "RETUNE_SOURCE",
    "BadDropKey",
    "DropReadyDetail",
    "DropRef",
    "Envelope",
    "NotADrop",
    "ObjectCreatedDetail",
    "S3Bucket",
    "S3Object",
    "candidate_keys",
    "parse_drop_event",
    "sequencer_order",
    "split_manifest_key",
]

# retune's own event on the default bus: a queued drop may start now (CloseRound, Promote → StartRound).
RETUNE_SOURCE = "retune"
DROP_READY = "Drop Ready"

DATASETS_PREFIX = "datasets/"
MANIFEST_NAME = "manifest.json"
DROP_ID_MAX = 128


class S3Bucket(Model):
    name: str = Field(min_length=3, max_length=63)


class S3Object(Model):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    key: str = Field(min_length=1, max_length=1024)
    size: int | None = None
    etag: str | None = None
    version_id: str | None = Field(default=None, alias="version-id")
    sequencer: str | None = None


class ObjectCreatedDetail(Model):
    model_config = ConfigDict(extra="ignore")

    bucket: S3Bucket
    object: S3Object
    reason: str | None = None


class DropReadyDetail(Model):
    """retune's own "Drop Ready" event: a queued drop may start now."""

    model_config = ConfigDict(extra="forbid")

    profile: str
    drop_id: str
    bucket: str
    key: str
    version_id: str | None = None
    sequencer: str | None = Field(
        default=None, description="S3's sequencer of the manifest's version, when the drop's record has it."
    )


class DropRef(Model):
    """Which manifest object a drop event points at.

    `keys` are the candidate object keys, in the order to try them: S3's notifications URL-encode keys
    ("red flower.jpg" arrives as "red+flower.jpg"), so the key as given is tried first and then its decoded
    form; the first that exists is the drop's manifest."""

    model_config = ConfigDict(frozen=True)

    bucket: str
    keys: tuple[str, ...] = Field(min_length=1)
    version_id: str | None = None
    etag: str | None = None
    sequencer: str | None = None
    origin: Literal["s3", "drop-ready"]
    event_time: Timestamp


class NotADrop(Exception):
    """The event is well formed but names no drop (a deeper key, another file): ignore it."""


class BadDropKey(InvalidInput):
    """A manifest's key that retune cannot take as a drop (its profile folder or drop id breaks a rule). `bucket`
    is the bucket of the S3 event that named it, when one did: the person who uploaded it is told."""

    def __init__(self, key: str, problems: list[str], bucket: str | None = None) -> None:
        super().__init__("drop key", problems)
        self.key = key
        self.bucket = bucket


def _parse[M: BaseModel](model: type[M], data: Any, what: str) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(what, describe_validation_error(exc)) from exc


def split_manifest_key(key: str) -> tuple[str, str]:
    """`datasets/<profile>/<drop>/manifest.json` → (profile, drop). The rule's wildcard also matches deeper
    keys (its `*` crosses `/`), so the depth is checked here."""
    parts = key.split("/")
    if len(parts) != 4 or parts[0] != DATASETS_PREFIX.rstrip("/") or parts[3] != MANIFEST_NAME:
        raise NotADrop(f"{key!r} is not datasets/<profile>/<drop>/manifest.json")
    profile, drop_id = parts[1], parts[2]
    problems = []
    if not re.match(PROFILE_NAME_PATTERN, profile) or len(profile) > PROFILE_NAME_MAX:
        problems.append(
            f"profile {profile!r}: use lowercase letters, digits and '-' (at most {PROFILE_NAME_MAX})"
        )
    if not drop_id or len(drop_id) > DROP_ID_MAX or any(ord(c) < 32 or ord(c) == 127 for c in drop_id):
        problems.append(f"drop id {drop_id!r}: use 1 to {DROP_ID_MAX} printable characters")
    elif drop_id in (".", ".."):
        # S3 takes them as names, but a path or URI through them (the drop's prefix, its channels' manifests)
        # resolves out of the profile's folder.
        problems.append(f"drop id {drop_id!r}: '.' and '..' would leave the profile's folder: use another id")
    if problems:
        raise BadDropKey(key, problems)
    return profile, drop_id


def sequencer_order(a: str, b: str) -> int:
    """-1, 0 or 1 as S3 event `a` happened before, with, or after `b` (two events of one object key). AWS's S3
    guide ("Event message structure"): sequencers vary in length; right-pad the shorter with zeros, then compare
    lexicographically (they are hexadecimal, and begin with the time)."""
    width = max(len(a), len(b))
    left, right = a.upper().ljust(width, "0"), b.upper().ljust(width, "0")
    return (left > right) - (left < right)


def candidate_keys(raw_key: str) -> list[str]:
    """The key as the event gives it, then URL-decoded if that differs; only those shaped like a manifest."""
    decoded = unquote_plus(raw_key)
    keys = [raw_key] if decoded == raw_key else [raw_key, decoded]
    valid = []
    for key in keys:
        try:
            split_manifest_key(key)
        except NotADrop:
            continue
        valid.append(key)
    if not valid:
        raise NotADrop(f"{raw_key!r} is not datasets/<profile>/<drop>/manifest.json")
    return valid


def parse_drop_event(event: dict[str, Any]) -> DropRef:
    """An S3 "Object Created" event (through EventBridge) or retune's "Drop Ready" event → DropRef.

    Raises InvalidInput for a malformed event and NotADrop for a key that is not a drop's manifest."""
    envelope = _parse(Envelope, event, "event")
    if envelope.source == "aws.s3" and envelope.detail_type == "Object Created":
        detail = _parse(ObjectCreatedDetail, envelope.detail, "S3 event detail")
        try:
            keys = tuple(candidate_keys(detail.object.key))
        except BadDropKey as exc:
            raise BadDropKey(exc.key, exc.errors, detail.bucket.name) from exc
        return DropRef(
            bucket=detail.bucket.name,
            keys=keys,
            version_id=detail.object.version_id,
            etag=detail.object.etag,
            sequencer=detail.object.sequencer or None,
            origin="s3",
            event_time=envelope.time,
        )
    if envelope.source == RETUNE_SOURCE and envelope.detail_type == DROP_READY:
        ready = _parse(DropReadyDetail, envelope.detail, "Drop Ready detail")
        if split_manifest_key(ready.key) != (ready.profile, ready.drop_id):
            raise InvalidInput(
                "Drop Ready detail",
                [
                    f"key: {ready.key!r} is not the manifest of profile {ready.profile!r}, "
                    f"drop {ready.drop_id!r}"
                ],
            )
        return DropRef(
            bucket=ready.bucket,
            keys=(ready.key,),
            version_id=ready.version_id,
            sequencer=ready.sequencer,
            origin="drop-ready",
            event_time=envelope.time,
        )
    raise InvalidInput(
        "event", [f"source {envelope.source!r} / detail-type {envelope.detail_type!r} is not a drop event"]
    )
