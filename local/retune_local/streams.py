"""DynamoDB Streams to Lambda, locally: each `AWS::Lambda::EventSourceMapping` of the SAM-transformed template that
reads a table's stream is polled as Lambda's event source mapping polls it
(https://docs.aws.amazon.com/lambda/latest/dg/with-ddb.html, services-ddb-params.html, services-dynamodb-errors.html,
services-ddb-batchfailurereporting.html):

- from StartingPosition (TRIM_HORIZON or LATEST) per shard, in order, one batch at a time per shard;
- a batch holds up to BatchSize records, gathered for at most MaximumBatchingWindowInSeconds (0: whatever one read
  returns);
- the function is invoked synchronously with `{"Records": [...]}` in Lambda's event shape; a batch succeeds when the
  function returns without error and, with FunctionResponseTypes [ReportBatchItemFailures], reports no failure;
- a partial failure checkpoints the records before the lowest reported sequence number and retries from it; an
  itemIdentifier that is empty or not in the batch fails the whole batch;
- a function error with BisectBatchOnFunctionError splits the batch in two and retries each half (a split uses no
  retry); otherwise the batch is retried, up to MaximumRetryAttempts (-1: until the records expire);
- records older than MaximumRecordAgeInSeconds are not sent; they and the batches out of retries are discarded:
  their range's metadata (never the records) goes to DestinationConfig.OnFailure, and the shard moves on.

The local stack reads the stream with the function's execution role, as Lambda's event source mapping does (the
gate checks the template's stream statements; see docs/local-mode.md), and sends the on-failure record as the
function's role, as Lambda does. ParallelizationFactor above 1 lets AWS run up to that many
batches of a shard at once, in order per partition key; the poller runs them one at a time, one of the orders AWS
may take.

moto's streams: one shard per table, never closed or split; records are never trimmed (AWS keeps 24 hours);
sequence numbers are consecutive integers; a write that changes nothing still writes a MODIFY record (DynamoDB
writes none); ApproximateCreationDateTime is the write's time.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from retune_local.lambda_runtime import Outcome
from retune_local.template import Resolver

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25  # Lambda polls each shard of a DynamoDB stream four times a second


@dataclass(frozen=True)
class StreamMapping:
    """One event source mapping from a table's stream to a function, with CloudFormation's property names' values
    (AWS::Lambda::EventSourceMapping) and Lambda's defaults for DynamoDB streams."""

    logical_id: str
    function: str  # the function's logical id
    table: str  # the table's logical id
    starting_position: str = "TRIM_HORIZON"
    batch_size: int = 100
    batching_window: float = 0.0  # MaximumBatchingWindowInSeconds
    bisect: bool = False  # BisectBatchOnFunctionError
    max_retries: int = -1  # MaximumRetryAttempts
    max_record_age: int = -1  # MaximumRecordAgeInSeconds
    parallelization: int = 1  # ParallelizationFactor
    report_item_failures: bool = False  # FunctionResponseTypes has ReportBatchItemFailures
    on_failure: str | None = None  # DestinationConfig.OnFailure's queue (or topic), by logical id
    enabled: bool = True


def _logical(value: Any) -> str | None:
    """The logical id a `Ref` or `Fn::GetAtt` names."""
    if isinstance(value, dict):
        if "Ref" in value:
            return str(value["Ref"])
        if "Fn::GetAtt" in value:
            att = value["Fn::GetAtt"]
            return str(att[0] if isinstance(att, list) else str(att).split(".", 1)[0])
    return None


def stream_mappings(template: Mapping[str, Any], resolver: Resolver) -> dict[str, StreamMapping]:
    """The enabled event source mappings of `template` (SAM-transformed) that read a DynamoDB table's stream."""
    resources = template.get("Resources") or {}
    out: dict[str, StreamMapping] = {}
    for lid, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::EventSourceMapping" or not resolver.resource_enabled(lid):
            continue
        props = resource.get("Properties") or {}
        source = props.get("EventSourceArn")
        table = _logical(source)
        if (
            table is None
            or (resources.get(table) or {}).get("Type") != "AWS::DynamoDB::Table"
            or "StreamArn" not in json.dumps(source)
        ):
            continue  # not a DynamoDB stream: SQS, Kinesis and Kafka sources are not emulated
        function = _logical(props.get("FunctionName"))
        if function is None:
            raise ValueError(f"{lid}: FunctionName must be a Ref or Fn::GetAtt of the template's function")

        def value(name: str, default: Any, props: Mapping[str, Any] = props) -> Any:
            return resolver.resolve(props[name]) if name in props else default

        destination = ((props.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        out[lid] = StreamMapping(
            logical_id=lid,
            function=function,
            table=table,
            starting_position=str(value("StartingPosition", "TRIM_HORIZON")),
            batch_size=int(value("BatchSize", 100)),
            batching_window=float(value("MaximumBatchingWindowInSeconds", 0)),
            bisect=_true(value("BisectBatchOnFunctionError", False)),
            max_retries=int(value("MaximumRetryAttempts", -1)),
            max_record_age=int(value("MaximumRecordAgeInSeconds", -1)),
            parallelization=int(value("ParallelizationFactor", 1)),
            report_item_failures="ReportBatchItemFailures" in (value("FunctionResponseTypes", []) or []),
            on_failure=_logical(destination),
            enabled=_true(value("Enabled", True)),
        )
    return out


def _true(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


# -- Lambda's event and on-failure record shapes ------------------------------------------------------------------


def lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda hands it to the function: `eventSourceARN` added, the creation time in epoch
    seconds (boto3 parses it into a datetime)."""
    out = json.loads(json.dumps(record, default=_plain))
    dynamodb = out.setdefault("dynamodb", {})
    created = record.get("dynamodb", {}).get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = int(created.timestamp())
    out["eventSourceARN"] = stream_arn
    return dict(out)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, bytes | bytearray):
        import base64  # noqa: PLC0415

        return base64.b64encode(bytes(value)).decode()
    raise TypeError(type(value).__name__)


def _arrival(record: Mapping[str, Any]) -> datetime:
    created = record["dynamodb"]["ApproximateCreationDateTime"]
    if isinstance(created, datetime):
        return created.astimezone(UTC)
    return datetime.fromtimestamp(float(created), tz=UTC)


def _iso_seconds(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def failure_record(
    mapping: StreamMapping,
    function_arn: str,
    stream_arn: str,
    shard_id: str,
    records: Sequence[Mapping[str, Any]],
    condition: str,
    invoke_count: int,
    outcome: Outcome | None,
) -> dict[str, Any]:
    """What Lambda sends to a stream source's on-failure destination: the discarded range's metadata
    (services-dynamodb-errors.html; powertools' DynamoDBStreamLambdaOnFailureDestinationModel reads it)."""
    response: dict[str, Any] = {"statusCode": 200, "executedVersion": "$LATEST"}
    if outcome is not None and not outcome.ok:
        response["functionError"] = "Unhandled"
    return {
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": invoke_count,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": datetime.now(tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "DDBStreamBatchInfo": {
            "shardId": shard_id,
            "startSequenceNumber": records[0]["dynamodb"]["SequenceNumber"],
            "endSequenceNumber": records[-1]["dynamodb"]["SequenceNumber"],
            "approximateArrivalOfFirstRecord": _iso_seconds(_arrival(records[0])),
            "approximateArrivalOfLastRecord": _iso_seconds(_arrival(records[-1])),
            "batchSize": len(records),
            "streamArn": stream_arn,
        },
    }


# -- one shard's batches ------------------------------------------------------------------------------------------

Invoke = Callable[[dict[str, Any]], Outcome]
Park = Callable[[dict[str, Any]], None]


@dataclass
class Delivery:
    """What happened to one batch: the sequence numbers sent, and how the function answered."""

    sequence_numbers: list[str]
    ok: bool
    failed_from: str | None = None  # the lowest reported batchItemFailure, for a partial failure


@dataclass
class ShardProcessor:
    """Lambda's handling of one shard's records: batches, retries, bisection, on-failure (no I/O but `invoke` and
    `park`, so the logic is tested with a fake function)."""

    mapping: StreamMapping
    invoke: Invoke
    park: Park
    function_arn: str
    stream_arn: str
    shard_id: str
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(tz=UTC))
    retry_delay: Callable[[int], None] = field(default=lambda attempt: None)
    deliveries: list[Delivery] = field(default_factory=list)
    parked: list[dict[str, Any]] = field(default_factory=list)

    def process(self, batch: Sequence[Mapping[str, Any]]) -> None:
        """Deliver one batch (at most BatchSize records, in shard order) until every record has succeeded or been
        discarded; the shard's checkpoint moves past the batch when this returns."""
        # A stack of (records, retries used); the top is delivered next. Bisection pushes the halves.
        work: list[tuple[list[Mapping[str, Any]], int, int]] = [(list(batch), 0, 0)]
        while work:
            records, retries, invokes = work.pop()
            records = self._drop_expired(records, invokes)
            if not records:
                continue
            outcome = self.invoke(
                {"Records": [lambda_record(r, self.stream_arn) for r in records]},
            )
            invokes += 1
            numbers = [str(r["dynamodb"]["SequenceNumber"]) for r in records]
            failed_from = self._failed_from(records, outcome)
            self.deliveries.append(
                Delivery(numbers, outcome.ok and failed_from is None, failed_from if outcome.ok else None)
            )
            if outcome.ok and failed_from is None:
                continue
            if outcome.ok and failed_from is not None and failed_from != "*":
                # Checkpointed up to the failed record; only the rest is retried.
                records = [r for r in records if int(r["dynamodb"]["SequenceNumber"]) >= int(failed_from)]
            elif not outcome.ok and self.mapping.bisect and len(records) > 1:
                half = len(records) // 2
                work.append((records[half:], retries, invokes))
                work.append((records[:half], retries, invokes))
                continue
            if self.mapping.max_retries != -1 and retries >= self.mapping.max_retries:
                self._discard(records, "RetryAttemptsExhausted", invokes, outcome)
                continue
            self.retry_delay(retries + 1)
            work.append((records, retries + 1, invokes))

    def _failed_from(self, records: Sequence[Mapping[str, Any]], outcome: Outcome) -> str | None:
        """The lowest sequence number a successful invocation reported as failed; "*" for a malformed report (the
        whole batch failed); None for none or when the mapping does not take reports."""
        if not outcome.ok or not self.mapping.report_item_failures or not isinstance(outcome.result, dict):
            return None
        failures = outcome.result.get("batchItemFailures")
        if not failures:
            return None
        numbers = {str(r["dynamodb"]["SequenceNumber"]) for r in records}
        reported = []
        for failure in failures:
            identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
            if not identifier or str(identifier) not in numbers:
                return "*"
            reported.append(int(identifier))
        return str(min(reported))

    def _drop_expired(self, records: list[Mapping[str, Any]], invokes: int) -> list[Mapping[str, Any]]:
        if self.mapping.max_record_age == -1:
            return records
        now = self.clock()
        expired = [r for r in records if (now - _arrival(r)).total_seconds() > self.mapping.max_record_age]
        if expired:
            # Records are in order: the expired ones are a prefix.
            self._discard(records[: len(expired)], "RecordAgeExceeded", invokes, None)
        return records[len(expired) :]

    def _discard(
        self, records: Sequence[Mapping[str, Any]], condition: str, invokes: int, outcome: Outcome | None
    ) -> None:
        record = failure_record(
            self.mapping,
            self.function_arn,
            self.stream_arn,
            self.shard_id,
            records,
            condition,
            invokes,
            outcome,
        )
        self.parked.append(record)
        log.warning(
            "%s: discarding stream records %s-%s of %s (%s)",
            self.mapping.logical_id,
            record["DDBStreamBatchInfo"]["startSequenceNumber"],
            record["DDBStreamBatchInfo"]["endSequenceNumber"],
            self.shard_id,
            condition,
        )
        if self.mapping.on_failure is not None:
            self.park(record)


def batches(records: Sequence[Mapping[str, Any]], size: int) -> Iterable[list[Mapping[str, Any]]]:
    for start in range(0, len(records), size):
        yield list(records[start : start + size])


# -- the poller -----------------------------------------------------------------------------------------------------


class StreamPoller:
    """Polls one mapping's stream (every shard, a thread each) and hands the batches to ShardProcessor.

    `streams` is a boto3 `dynamodbstreams` client; `after` maps a shard id to the sequence number to start after
    (the checkpoint a restarted stack keeps), else StartingPosition applies.
    """

    def __init__(
        self,
        mapping: StreamMapping,
        streams: Any,
        stream_arn: str,
        invoke: Invoke,
        park: Park,
        function_arn: str,
        *,
        after: Mapping[str, str] | None = None,
        on_batch: Callable[[], None] | None = None,
        retry_delays: tuple[float, ...] = (),
    ) -> None:
        self.mapping = mapping
        self._streams = streams
        self.stream_arn = stream_arn
        self._invoke, self._park, self._function_arn = invoke, park, function_arn
        self._after = dict(after or {})
        self._on_batch = on_batch
        self._retry_delays = retry_delays
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._polls = 0  # reads started
        # Per shard: the last read that found it drained, with no batch in flight.
        self._quiet_from: dict[str, int] = {}
        self._threads: list[threading.Thread] = []
        self.processors: dict[str, ShardProcessor] = {}
        self.checkpoints: dict[str, str] = {}
        self.errors: list[BaseException] = []

    def start(self) -> StreamPoller:
        shards = self._streams.describe_stream(StreamArn=self.stream_arn)["StreamDescription"]["Shards"]
        for shard in shards:
            shard_id = shard["ShardId"]
            self.processors[shard_id] = ShardProcessor(
                self.mapping,
                self._invoke,
                self._park,
                self._function_arn,
                self.stream_arn,
                shard_id,
                retry_delay=self._delay,
            )
            thread = threading.Thread(
                target=self._run, args=(shard_id,), name=f"stream-{self.mapping.function}", daemon=True
            )
            thread.start()
            self._threads.append(thread)
        return self

    def _delay(self, retry: int) -> None:
        if retry <= len(self._retry_delays):
            self._stop.wait(self._retry_delays[retry - 1])

    def _iterator(self, shard_id: str) -> str:
        if shard_id in self._after:
            kind = {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": self._after[shard_id]}
        else:
            kind = {"ShardIteratorType": self.mapping.starting_position}
        return str(
            self._streams.get_shard_iterator(StreamArn=self.stream_arn, ShardId=shard_id, **kind)[
                "ShardIterator"
            ]
        )

    def _run(self, shard_id: str) -> None:
        try:
            iterator = self._iterator(shard_id)
            buffer: list[dict[str, Any]] = []
            while not self._stop.is_set():
                with self._changed:
                    poll = self._polls
                    self._polls += 1
                answer = self._streams.get_records(ShardIterator=iterator, Limit=1000)
                iterator = answer["NextShardIterator"]
                buffer.extend(answer.get("Records", []))
                if not buffer:
                    self._quiet(shard_id, poll)
                    self._stop.wait(POLL_SECONDS)
                    continue
                gathered = self._gather(buffer, iterator)
                if gathered is None:
                    return
                batch, iterator = gathered
                self.processors[shard_id].process(batch)
                self.checkpoints[shard_id] = str(batch[-1]["dynamodb"]["SequenceNumber"])
                if self._on_batch is not None:
                    self._on_batch()
        except Exception as exc:  # the stack reports it: a dead poller must not pass silently
            if not self._stop.is_set():
                log.exception("stream poller %s stopped", self.mapping.logical_id)
                self.errors.append(exc)
                with self._changed:
                    self._changed.notify_all()

    def _gather(self, buffer: list[dict[str, Any]], iterator: str) -> tuple[list[dict[str, Any]], str] | None:
        """Take the next batch off `buffer`, reading more for up to MaximumBatchingWindowInSeconds while it holds
        fewer than BatchSize records."""
        deadline = time.monotonic() + self.mapping.batching_window
        while len(buffer) < self.mapping.batch_size and time.monotonic() < deadline:
            if self._stop.wait(min(POLL_SECONDS, max(0.0, deadline - time.monotonic()))):
                return None
            answer = self._streams.get_records(ShardIterator=iterator, Limit=1000)
            iterator = answer["NextShardIterator"]
            buffer.extend(answer.get("Records", []))
        batch = buffer[: self.mapping.batch_size]
        del buffer[: self.mapping.batch_size]
        return batch, iterator

    def _quiet(self, shard_id: str, poll: int) -> None:
        with self._changed:
            self._quiet_from[shard_id] = max(self._quiet_from.get(shard_id, -1), poll)
            self._changed.notify_all()

    def wait_drained(self, timeout: float) -> bool:
        """Block until every record written before the call has been handled (delivered or discarded): a read that
        started after the call found nothing left. False on timeout or if the poller died."""
        with self._changed:
            target = self._polls

            def drained() -> bool:
                return all(self._quiet_from.get(shard, -1) >= target for shard in self.processors)

            return (
                self._changed.wait_for(lambda: drained() or bool(self.errors), timeout=timeout)
                and not self.errors
            )

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def read_stream(streams: Any, stream_arn: str) -> list[dict[str, Any]]:
    """Every record the stream holds, shard by shard, from TRIM_HORIZON (what a replay re-delivers)."""
    out: list[dict[str, Any]] = []
    for shard in streams.describe_stream(StreamArn=stream_arn)["StreamDescription"]["Shards"]:
        iterator = streams.get_shard_iterator(
            StreamArn=stream_arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        while True:
            answer = streams.get_records(ShardIterator=iterator, Limit=1000)
            if not answer.get("Records"):
                break
            out.extend(answer["Records"])
            iterator = answer["NextShardIterator"]
    return out


def shuffled_with_duplicates(
    records: Sequence[Mapping[str, Any]], seed: int, duplicate_share: float = 0.5
) -> list[Mapping[str, Any]]:
    """The records in a random order, a share of them twice: what a replay delivers (at-least-once, no order)."""
    rng = random.Random(seed)
    out = list(records) + [r for r in records if rng.random() < duplicate_share]
    rng.shuffle(out)
    return out
