"""S3's "Object Created" events, as S3 sends them to EventBridge.

moto's are not: every event carries one constant `sequencer` and one constant `id`, `detail.object.eTag` instead of
`etag`, and `reason` "ObjectCreated" instead of the API that created the object. retune orders a key's versions by
the sequencer, so the local stack makes these events itself, for every object-creating write its gate lets through
to a bucket with EventBridge notifications on (AWS's S3 User Guide, "EventBridge event message structure"):

- `reason`: PutObject, POST Object, CopyObject or CompleteMultipartUpload;
- `sequencer`: a hexadecimal string that grows with each write (S3's grows within a key; this one across all keys),
  18 digits like S3's, so that comparing after padding (S3's guide has said left, and now says right) agrees;
- `id`, `request-id`: new for each event; `etag` without quotes; `size` and `version-id` of the stored object.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from retune_local.events import eventbridge_event

# The S3 API behind each object-creating write → the event's `reason`.
REASONS = {
    "PutObject": "PutObject",
    "PostObject": "POST Object",
    "CopyObject": "CopyObject",
    "CompleteMultipartUpload": "CompleteMultipartUpload",
}


class ObjectEvents:
    """Makes the event of each object-creating write and hands it to `sink` (the router), in the order of the
    writes: `lock` is held around each write and its event, so the sequencers follow the order S3 applied them."""

    def __init__(self, sink: Callable[[dict[str, Any]], None], region: str, account: str) -> None:
        self.sink = sink
        self.region, self.account = region, account
        self.lock = threading.Lock()
        # Starts from the clock, like S3's: values from an earlier stack's state directory stay smaller.
        self._sequence = time.time_ns() // 1000

    def created(self, bucket: str, key: str, version_id: str | None, reason: str) -> dict[str, Any] | None:
        """The event of a write that just succeeded (call it with `lock` held), or None when the bucket sends no
        events to EventBridge or the object is gone."""
        stored = _stored(self.account, bucket, key, version_id)
        if stored is None:
            return None
        size, etag, version = stored
        self._sequence += 1
        event = eventbridge_event(
            "aws.s3",
            "Object Created",
            account_id=self.account,
            region=self.region,
            resources=[f"arn:aws:s3:::{bucket}"],
            detail={
                "version": "0",
                "bucket": {"name": bucket},
                "object": {
                    "key": key,
                    "size": size,
                    "etag": etag,
                    **({"version-id": version} if version else {}),
                    "sequencer": format(self._sequence, "018X"),
                },
                "request-id": uuid.uuid4().hex[:16].upper(),
                "requester": self.account,
                "source-ip-address": "127.0.0.1",
                "reason": reason,
            },
            time=time.time(),
        )
        self.sink(event)
        return event


def _stored(
    account: str, bucket_name: str, key: str, version_id: str | None
) -> tuple[int, str, str | None] | None:
    """(size, ETag without quotes, version id) of the object in moto's backend, if its bucket sends events to
    EventBridge. The local stack runs moto's server in its own process, so its backend is here to read."""
    from moto.s3.models import s3_backends  # noqa: PLC0415 (moto is loaded by the stack already)

    backend = s3_backends[account]["aws"]
    bucket = backend.buckets.get(bucket_name)
    config = getattr(bucket, "notification_configuration", None)
    if bucket is None or config is None or config.event_bridge is None:
        return None
    try:
        stored = backend.get_object(bucket_name, key, version_id=version_id)
    except Exception:  # noqa: BLE001 (deleted meanwhile: no event to make)
        return None
    if stored is None:
        return None
    version = None if stored.version_id in (None, "null") else str(stored.version_id)
    return int(stored.size), str(stored.etag).strip('"'), version
