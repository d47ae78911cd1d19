"""moto's part of the local stack's state, kept across restarts (docs/local-mode.md, "State across restarts").

moto keeps everything in memory. When a stack that persists (`LocalStack(persist=True)`, `serve --state-dir`, the
demo) closes, `save` writes what it holds in moto to `<state_dir>/moto/`: the tables' items, every version of the
buckets' objects (bodies content-addressed in `objects/`) with their version ids, times, metadata and tags, the
queues' messages with their attributes, and the training jobs' metrics. On the next start the resources are created
from template.yaml as always and `restore` loads their content, before any event is routed. The local SageMaker
keeps its own state under `<state_dir>/sagemaker/` as it goes; a marker file (`moto.open`) says a stack is using
the directory, so a stack that ended without saving (killed) is noticed instead of restoring a stale snapshot.

Everything goes through moto's API as the administrator, except what the API cannot do, done on moto's in-process
backends (the stack runs moto's server in its own process): an S3 version keeps its version id and time (retune
keys drops and plans on version ids); messages still in flight or delayed are made visible before saving (as they
would be after their timeout) so the API reads them; metric data points are read as they were put (the API serves
them only aggregated per period).
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import os
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

log = logging.getLogger(__name__)

FORMAT = 1
MOTO_DIR = "moto"
SNAPSHOT = "snapshot.json"
OPEN_MARKER = "moto.open"
METRICS_NAMESPACES = ("/aws/sagemaker/TrainingJobs",)
# An S3 object's headers that put_object takes back as they came.
_OBJECT_HEADERS = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl")


class StateError(Exception):
    """A state directory the stack cannot start from: the message names the file and the fix."""


@dataclass
class Contents:
    """The physical names of the tables and buckets the stack created in moto, by logical id."""

    tables: dict[str, str]
    buckets: dict[str, str]


def _fix(state_dir: Path) -> str:
    return f"delete {state_dir} to start from an empty stack (its rounds, trials and models go with it)"


def check(state_dir: Path) -> Path | None:
    """The snapshot to restore from `state_dir`, None when the directory holds no state yet. StateError when it
    cannot be restored: a stack that used it did not save (killed), it was written by a retune_local that did
    not save moto's state, or the snapshot is missing or unreadable."""
    marker = state_dir / OPEN_MARKER
    snapshot = state_dir / MOTO_DIR / SNAPSHOT
    if marker.exists():
        raise StateError(
            f"{marker} exists: the stack that last used {state_dir} did not save moto's state when it ended "
            f"(killed, or it is still running), so {snapshot} is older than the local SageMaker's state; stop "
            f"the other stack if it runs, else {_fix(state_dir)}"
        )
    if snapshot.exists():
        read(snapshot)  # fails now, naming the file, rather than after the stack is half up
        return snapshot
    jobs = state_dir / "sagemaker" / "state"
    if jobs.is_dir() and any(jobs.rglob("*.json")):
        raise StateError(
            f"{state_dir} holds the local SageMaker's state but no snapshot of moto's ({snapshot} is missing): "
            f"it was written by an older retune_local, which kept only SageMaker's state; {_fix(state_dir)}"
        )
    return None


def read(snapshot: Path) -> dict[str, Any]:
    try:
        doc = json.loads(snapshot.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StateError(f"{snapshot} cannot be read ({exc}); {_fix(snapshot.parent.parent)}") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        found = doc.get("format") if isinstance(doc, dict) else None
        raise StateError(
            f"{snapshot} has format {found!r}, this retune_local reads format {FORMAT}; {_fix(snapshot.parent.parent)}"
        )
    return doc


def mark_open(state_dir: Path) -> None:
    (state_dir / OPEN_MARKER).write_text(f"pid {os.getpid()}\n")


def mark_closed(state_dir: Path) -> None:
    (state_dir / OPEN_MARKER).unlink(missing_ok=True)


# -- saving ---------------------------------------------------------------------------------------------------------


def save(state_dir: Path, contents: Contents, clients: Mapping[str, Any], account: str, region: str) -> Path:
    """Write moto's content to `<state_dir>/moto/` (replacing the last snapshot only once the new one is whole).
    Call it once nothing else writes: after the functions and the local SageMaker have stopped."""
    final = state_dir / MOTO_DIR
    work = state_dir / f"{MOTO_DIR}.saving"
    shutil.rmtree(work, ignore_errors=True)
    (work / "objects").mkdir(parents=True)
    previous = final / "objects"
    doc = {
        "format": FORMAT,
        "saved_at": datetime.now(UTC).isoformat(),
        "tables": {lid: _scan(clients["dynamodb"], name) for lid, name in contents.tables.items()},
        "buckets": {
            lid: _objects(clients["s3"], name, work / "objects", previous, account)
            for lid, name in contents.buckets.items()
        },
        "queues": _messages(clients["sqs"], account, region),
        "metrics": _metrics(account, region),
    }
    (work / SNAPSHOT).write_text(json.dumps(doc, separators=(",", ":")))
    old = state_dir / f"{MOTO_DIR}.old"
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    work.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final / SNAPSHOT


def _scan(dynamodb: Any, table: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        items.extend(_encode_item(item) for item in page.get("Items", []))
    return items


def _encode_item(value: Any) -> Any:
    """A DynamoDB item (typed JSON) with its binary values in base64."""
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dict):
        return {k: _encode_item(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode_item(v) for v in value]
    return value


def _decode_item(value: Any, kind: str | None = None) -> Any:
    if kind == "B":
        return base64.b64decode(value)
    if kind == "BS":
        return [base64.b64decode(v) for v in value]
    if isinstance(value, dict):
        return {k: _decode_item(v, k if len(value) == 1 else None) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode_item(v) for v in value]
    return value


def _objects(s3: Any, bucket: str, blobs: Path, previous: Path, account: str) -> list[dict[str, Any]]:
    """Every version and delete marker of the bucket, each key's oldest first."""
    entries: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        for marker in page.get("DeleteMarkers", []):
            entries.append(
                {
                    "Key": marker["Key"],
                    "VersionId": marker["VersionId"],
                    "LastModified": marker["LastModified"].isoformat(),
                    "DeleteMarker": True,
                }
            )
        for version in page.get("Versions", []):
            key, version_id = version["Key"], version["VersionId"]
            got = s3.get_object(Bucket=bucket, Key=key, VersionId=version_id)
            body = got["Body"].read()
            digest = hashlib.sha256(body).hexdigest()
            blob = blobs / digest
            if not blob.exists():
                kept = previous / digest
                if kept.exists():
                    os.link(kept, blob)  # the last snapshot's copy: no second write of the same bytes
                else:
                    blob.write_bytes(body)
            tags = s3.get_object_tagging(Bucket=bucket, Key=key, VersionId=version_id).get("TagSet", [])
            entries.append(
                {
                    "Key": key,
                    "VersionId": version_id,
                    "LastModified": version["LastModified"].isoformat(),
                    "Body": digest,
                    "Metadata": got.get("Metadata", {}),
                    "Tags": {t["Key"]: t["Value"] for t in tags},
                    **{h: got[h] for h in _OBJECT_HEADERS if got.get(h)},
                }
            )
    # Each key's versions oldest first, so that writing them in order leaves the same version current; the API's
    # times are to the second, moto's own to the microsecond.
    written = _version_times(account, bucket)
    for entry in entries:
        entry["LastModified"] = written.get((entry["Key"], entry["VersionId"]), entry["LastModified"])
    entries.sort(key=lambda e: (e["Key"], e["LastModified"]))
    return entries


def _messages(sqs: Any, account: str, region: str) -> dict[str, list[dict[str, Any]]]:
    """Every queue's messages, in the order SQS gives them."""
    _make_messages_visible(account, region)
    out: dict[str, list[dict[str, Any]]] = {}
    for url in _queue_urls(sqs):
        name = url.rsplit("/", 1)[-1]
        messages: list[dict[str, Any]] = []
        while True:
            got = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=10,
                VisibilityTimeout=43200,  # each message once: the stack is closing, nobody else reads
                WaitTimeSeconds=0,
                MessageAttributeNames=["All"],
                MessageSystemAttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
            ).get("Messages", [])
            if not got:
                break
            messages.extend(
                {
                    "Body": m["Body"],
                    "MessageAttributes": _encode_item(m.get("MessageAttributes") or {}),
                    "Attributes": m.get("Attributes", {}),
                }
                for m in got
            )
        out[name] = messages
    return out


def _queue_urls(sqs: Any) -> Iterator[str]:
    for page in sqs.get_paginator("list_queues").paginate():
        yield from page.get("QueueUrls", [])


def _metrics(account: str, region: str) -> list[dict[str, Any]]:
    """The training jobs' metric data points, each as it was put (the API serves them only per period)."""
    from moto.cloudwatch.models import MetricDatum, cloudwatch_backends  # noqa: PLC0415

    return [
        {
            "Namespace": datum.namespace,
            "MetricName": datum.name,
            "Dimensions": [{"Name": d.name, "Value": d.value} for d in datum.dimensions],
            "Timestamp": datum.timestamp.replace(tzinfo=datum.timestamp.tzinfo or UTC).isoformat(),
            "Value": datum.value,
            "Unit": datum.unit or "None",
        }
        for datum in cloudwatch_backends[account][region].metric_data
        if isinstance(datum, MetricDatum) and datum.namespace in METRICS_NAMESPACES
    ]


# -- restoring ------------------------------------------------------------------------------------------------------


def restore(
    snapshot: Path,
    contents: Contents,
    clients: Mapping[str, Any],
    queue_urls: Mapping[str, str],
    account: str,
) -> None:
    """Load a snapshot into the stack's freshly created (empty) resources. The snapshot must name the same
    tables and buckets as the template does now; queues it names that the stack no longer has are an error."""
    doc = read(snapshot)
    state_dir = snapshot.parent.parent
    for kind, saved, now in (
        ("tables", doc["tables"], contents.tables),
        ("buckets", doc["buckets"], contents.buckets),
        ("queues", doc["queues"], queue_urls),
    ):
        missing = sorted(set(saved) - set(now))
        if missing:
            raise StateError(
                f"{snapshot} holds {kind} {', '.join(missing)} that this stack (template.yaml) does not have; "
                f"{_fix(state_dir)}"
            )
    for lid, items in doc["tables"].items():
        _put_items(clients["dynamodb"], contents.tables[lid], items)
    for lid, entries in doc["buckets"].items():
        _put_objects(clients["s3"], contents.buckets[lid], entries, snapshot.parent / "objects", account)
    for name, messages in doc["queues"].items():
        _send_messages(clients["sqs"], queue_urls[name], messages)
    _put_metrics(clients["cloudwatch"], doc.get("metrics", []))


def _put_items(dynamodb: Any, table: str, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        requests = [{"PutRequest": {"Item": _decode_item(i)}} for i in items[start : start + 25]]
        pending: dict[str, Any] = {table: requests}
        while pending:
            pending = dynamodb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def _put_objects(s3: Any, bucket: str, entries: list[dict[str, Any]], blobs: Path, account: str) -> None:
    for entry in entries:
        if entry.get("DeleteMarker"):
            s3.delete_object(Bucket=bucket, Key=entry["Key"])
        else:
            blob = blobs / entry["Body"]
            if not blob.exists():
                raise StateError(
                    f"{blob} is missing: the snapshot's object s3://{bucket}/{entry['Key']} has no body; "
                    f"{_fix(blobs.parent.parent)}"
                )
            params: dict[str, Any] = {
                "Bucket": bucket,
                "Key": entry["Key"],
                "Body": blob.read_bytes(),
                "Metadata": entry.get("Metadata", {}),
                **{h: entry[h] for h in _OBJECT_HEADERS if h in entry},
            }
            if entry.get("Tags"):
                params["Tagging"] = urlencode(entry["Tags"])
            s3.put_object(**params)
        _keep_version(account, bucket, entry["Key"], entry["VersionId"], entry["LastModified"])


def _send_messages(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    for message in messages:
        params: dict[str, Any] = {"QueueUrl": url, "MessageBody": message["Body"]}
        if message.get("MessageAttributes"):
            params["MessageAttributes"] = _decode_attributes(message["MessageAttributes"])
        sqs.send_message(**params)


def _decode_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    return {
        name: {
            k: (base64.b64decode(v) if k == "BinaryValue" else v)
            for k, v in value.items()
            if k in ("DataType", "StringValue", "BinaryValue")
        }
        for name, value in attributes.items()
    }


def _put_metrics(cloudwatch: Any, metrics: list[dict[str, Any]]) -> None:
    for namespace in sorted({m["Namespace"] for m in metrics}):
        data = [
            {
                "MetricName": m["MetricName"],
                "Dimensions": m["Dimensions"],
                "Timestamp": datetime.fromisoformat(m["Timestamp"]),
                "Value": m["Value"],
                "Unit": m["Unit"],
            }
            for m in metrics
            if m["Namespace"] == namespace
        ]
        for start in range(0, len(data), 1000):
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[start : start + 1000])


# -- what moto's API cannot do: on its in-process backends --------------------------------------------------------


def _keep_version(account: str, bucket: str, key: str, version_id: str, last_modified: str) -> None:
    """Give the version just written back its saved version id and time: retune records a drop's manifest and a
    plan's profile by version id, and reads them back by it."""
    from moto.s3.models import s3_backends  # noqa: PLC0415

    versions = s3_backends[account]["aws"].get_bucket(bucket).keys.getlist(key)
    latest = versions[-1]
    latest._version_id = version_id
    latest.last_modified = datetime.fromisoformat(last_modified).astimezone(UTC).replace(tzinfo=None)


def _version_times(account: str, bucket: str) -> dict[tuple[str, str], str]:
    """When each version and delete marker was written, to the microsecond (UTC)."""
    from moto.s3.models import s3_backends  # noqa: PLC0415

    keys = s3_backends[account]["aws"].get_bucket(bucket).keys
    return {
        (name, str(version.version_id)): version.last_modified.replace(tzinfo=UTC).isoformat()
        for name in list(keys)
        for version in keys.getlist(name)
    }


def _make_messages_visible(account: str, region: str) -> None:
    """Messages received and not deleted, or sent with a delay, come back when their timeout ends; the snapshot
    keeps them as they will be then."""
    from moto.sqs.models import sqs_backends  # noqa: PLC0415

    for queue in sqs_backends[account][region].queues.values():
        for message in queue._messages:
            message.visible_at = 0.0
            message.delayed_until = 0.0
