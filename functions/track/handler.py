"""Track: the state table's DynamoDB stream (a batch of records) → the MLflow tracking server's runs.

Lambda's event source mapping reads the stream in order, one batch per shard at a time, and with
ReportBatchItemFailures retries from the first record this returns as failed (the records before it are done).
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from retune.errors import AccessDenied, InvalidInput, NotFound, PermanentError, TransientError
from retune.observability import logger, metrics
from retune.use_cases.track import ItemKey, Mirror, TrackDeps, item_key, refused
from retune.wiring import track_deps


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext, deps: TrackDeps | None = None) -> dict[str, Any]:
    mirror: Mirror | None = None
    done: set[ItemKey] = set()
    counts = {"mirrored": 0, "skipped": 0, "refused": 0}
    for record in event.get("Records") or []:
        sequence = str((record.get("dynamodb") or {}).get("SequenceNumber", ""))
        try:
            key = _item_key(record)
        except InvalidInput as exc:
            logger.error("stream record rejected", extra={"errors": exc.errors, "sequence": sequence})
            metrics.add_metric(name="EventsRejected", unit="Count", value=1)
            continue
        # Only rounds, trials and the champion are mirrored; a removed item leaves its run as history. A key
        # already mirrored in this batch is done: the mirror reads the item's current state, not the record's.
        if key is None or record.get("eventName") == "REMOVE" or key in done:
            counts["skipped"] += 1
            continue
        logger.append_keys(profile=key.profile, kind=key.kind, round=key.seq, training_job=key.training_job)
        if deps is None:  # a misconfigured function raises here: every record stays for the retry
            deps = track_deps(_sagemaker_arn_prefix(record))
        mirror = mirror or Mirror(deps)
        try:
            mirror.item(key)
        except (AccessDenied, NotFound, TransientError) as exc:
            # An outage, a missing permission, a run deleted under us: retried, then parked with its range.
            return _failed_from(sequence, exc, counts)
        except PermanentError as exc:
            refused(key, exc, deps)
            counts["refused"] += 1
            done.add(key)
            continue
        except Exception as exc:  # noqa: BLE001 - the point: any failure parks this record and those after it
            logger.exception("record failed", extra={"sequence": sequence})
            return _failed_from(sequence, exc, counts)
        done.add(key)
        counts["mirrored"] += 1
    logger.info("stream batch tracked", extra=counts)
    metrics.add_metric(name="TrackRecordsMirrored", unit="Count", value=counts["mirrored"])
    return {"batchItemFailures": []}


def _failed_from(sequence: str, exc: Exception, counts: dict[str, int]) -> dict[str, Any]:
    logger.warning("batch stopped; Lambda retries from this record", extra={"error": str(exc), **counts})
    metrics.add_metric(name="TrackRecordsMirrored", unit="Count", value=counts["mirrored"])
    return {"batchItemFailures": [{"itemIdentifier": sequence}]}


def _item_key(record: dict[str, Any]) -> ItemKey | None:
    keys = (record.get("dynamodb") or {}).get("Keys") or {}
    pk, sk = (keys.get("pk") or {}).get("S"), (keys.get("sk") or {}).get("S")
    if not isinstance(pk, str) or not isinstance(sk, str):
        raise InvalidInput(
            "DynamoDB stream record", ["dynamodb.Keys: needs the table's keys pk and sk as strings"]
        )
    return item_key(pk, sk)


def _sagemaker_arn_prefix(record: dict[str, Any]) -> str | None:
    """The stream's ARN names the partition, region and account the SageMaker jobs' ARNs share."""
    parts = str(record.get("eventSourceARN", "")).split(":")
    if len(parts) < 6 or parts[0] != "arn":
        return None
    return f"arn:{parts[1]}:sagemaker:{parts[3]}:{parts[4]}"
