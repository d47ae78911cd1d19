"""The local event source mapping for DynamoDB streams (retune_local.streams): batching, partial failures, retries,
bisection and the on-failure record, with a fake function; the mapping read from a SAM-transformed template; and
the poller against moto's stream."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models.dynamodb import (
    DynamoDBStreamLambdaOnFailureDestinationModel,
)
from retune_local.lambda_runtime import Outcome
from retune_local.streams import (
    ShardProcessor,
    StreamMapping,
    StreamPoller,
    batches,
    lambda_record,
    read_stream,
    shuffled_with_duplicates,
    stream_mappings,
)
from retune_local.template import Resolver, transformed

from tests.local.tracking import stub_template

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/t/stream/2026-01-01T00:00:00"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:track"
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def record(seq: int, at: datetime = T0) -> dict[str, Any]:
    return {
        "eventID": f"e{seq}",
        "eventName": "INSERT",
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": at,
            "Keys": {"pk": {"S": "P#toy"}, "sk": {"S": f"T#{seq}"}},
            "NewImage": {"pk": {"S": "P#toy"}, "sk": {"S": f"T#{seq}"}},
            "SequenceNumber": str(seq),
            "SizeBytes": 40,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        },
    }


class FakeFunction:
    """Answers each invocation from `answer(sequence numbers)`: an Outcome; records what it was sent."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.batches: list[list[int]] = []
        self.events: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any]) -> Outcome:
        numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in event["Records"]]
        self.batches.append(numbers)
        self.events.append(event)
        return self.answer(numbers)


def ok(result: Any = None) -> Outcome:
    return Outcome("Track", True, result)


def error() -> Outcome:
    return Outcome(
        "Track", False, error={"errorType": "TrackingUnavailable", "errorMessage": "connection refused"}
    )


def processor(function: FakeFunction, **settings: Any) -> ShardProcessor:
    mapping = StreamMapping(
        "Stream", "TrackFunction", "StateTable", on_failure="TrackOnFailureQueue", **settings
    )
    parked: list[dict[str, Any]] = []
    return ShardProcessor(
        mapping,
        function,
        parked.append,
        FUNCTION_ARN,
        STREAM_ARN,
        "shardId-1",
        clock=lambda: T0 + timedelta(1),
    )


def test_a_successful_batch_is_delivered_once_in_order_in_lambdas_event_shape() -> None:
    function = FakeFunction(lambda numbers: ok())
    shard = processor(function)
    shard.process([record(1), record(2), record(3)])
    assert function.batches == [[1, 2, 3]]
    first = function.events[0]["Records"][0]
    assert first["eventSourceARN"] == STREAM_ARN
    assert first["dynamodb"]["ApproximateCreationDateTime"] == int(T0.timestamp())
    assert first["dynamodb"]["SequenceNumber"] == "1"
    assert shard.parked == []


def test_batches_hold_at_most_batch_size_records_in_order() -> None:
    assert [
        [int(r["dynamodb"]["SequenceNumber"]) for r in b] for b in batches([record(i) for i in range(7)], 3)
    ] == [
        [0, 1, 2],
        [3, 4, 5],
        [6],
    ]


def test_a_function_error_is_retried_then_the_range_parked_with_lambdas_record() -> None:
    function = FakeFunction(lambda numbers: error())
    shard = processor(function, max_retries=2)
    shard.process([record(5), record(6, T0 + timedelta(seconds=3))])
    assert function.batches == [[5, 6]] * 3  # the first attempt and 2 retries
    (parked,) = shard.parked
    model = DynamoDBStreamLambdaOnFailureDestinationModel.model_validate(parked)  # powertools reads it
    info = parked["DDBStreamBatchInfo"]
    assert info == {
        "shardId": "shardId-1",
        "startSequenceNumber": "5",
        "endSequenceNumber": "6",
        "approximateArrivalOfFirstRecord": "2026-01-01T00:00:00Z",
        "approximateArrivalOfLastRecord": "2026-01-01T00:00:03Z",
        "batchSize": 2,
        "streamArn": STREAM_ARN,
    }
    assert parked["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert parked["requestContext"]["approximateInvokeCount"] == 3
    assert parked["requestContext"]["functionArn"] == FUNCTION_ARN
    assert model.response_context.function_error == "Unhandled"
    assert "Records" not in json.dumps(parked)  # the metadata, never the records


def test_bisect_isolates_the_poison_record_and_the_rest_succeeds() -> None:
    function = FakeFunction(lambda numbers: error() if 3 in numbers else ok())
    shard = processor(function, bisect=True, max_retries=1)
    shard.process([record(i) for i in range(1, 6)])
    # [1..5] fails → [1,2] ok, [3,4,5] fails → [3] fails, retried once, parked; [4,5] ok.
    assert function.batches == [[1, 2, 3, 4, 5], [1, 2], [3, 4, 5], [3], [3], [4, 5]]
    (parked,) = shard.parked
    assert parked["DDBStreamBatchInfo"]["startSequenceNumber"] == "3"
    assert parked["DDBStreamBatchInfo"]["batchSize"] == 1


def test_a_partial_failure_checkpoints_before_the_lowest_reported_record_and_retries_the_rest() -> None:
    answers = iter([ok({"batchItemFailures": [{"itemIdentifier": "4"}, {"itemIdentifier": "3"}]}), ok()])
    function = FakeFunction(lambda numbers: next(answers))
    shard = processor(function, report_item_failures=True, max_retries=3)
    shard.process([record(i) for i in range(1, 6)])
    assert function.batches == [[1, 2, 3, 4, 5], [3, 4, 5]]
    assert shard.parked == []


def test_reports_are_ignored_without_report_batch_item_failures() -> None:
    function = FakeFunction(lambda numbers: ok({"batchItemFailures": [{"itemIdentifier": str(numbers[0])}]}))
    shard = processor(function, max_retries=3)
    shard.process([record(1), record(2)])
    assert function.batches == [[1, 2]]


@pytest.mark.parametrize("identifier", ["", None, "99"])
def test_a_malformed_report_fails_the_whole_batch(identifier: str | None) -> None:
    function = FakeFunction(lambda numbers: ok({"batchItemFailures": [{"itemIdentifier": identifier}]}))
    shard = processor(function, report_item_failures=True, max_retries=1)
    shard.process([record(1), record(2)])
    assert function.batches == [[1, 2], [1, 2]]
    (parked,) = shard.parked
    assert parked["DDBStreamBatchInfo"]["batchSize"] == 2
    # The function answered; its report failed the batch.
    assert "functionError" not in parked["responseContext"]


def test_records_older_than_the_maximum_age_are_parked_unsent() -> None:
    function = FakeFunction(lambda numbers: ok())
    shard = processor(function, max_record_age=3600)
    now = T0 + timedelta(1)
    shard.process([record(1, now - timedelta(hours=2)), record(2, now - timedelta(minutes=1))])
    assert function.batches == [[2]]
    (parked,) = shard.parked
    assert parked["requestContext"]["condition"] == "RecordAgeExceeded"
    assert parked["DDBStreamBatchInfo"]["endSequenceNumber"] == "1"


def test_without_a_destination_a_discarded_range_is_only_skipped() -> None:
    function = FakeFunction(lambda numbers: error())
    mapping = StreamMapping("Stream", "TrackFunction", "StateTable", max_retries=0)
    sent: list[dict[str, Any]] = []
    shard = ShardProcessor(mapping, function, sent.append, FUNCTION_ARN, STREAM_ARN, "shardId-1")
    shard.process([record(1)])
    assert function.batches == [[1]]
    assert sent == []
    assert len(shard.parked) == 1


def test_a_replay_is_every_record_shuffled_with_duplicates() -> None:
    records = [record(i) for i in range(20)]
    replay = shuffled_with_duplicates(records, seed=7)
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in replay]
    assert set(numbers) == set(range(20))
    assert len(numbers) > 20  # some twice
    assert numbers != sorted(numbers)


def test_the_mapping_is_read_from_the_sam_transformed_template(tmp_path: Path) -> None:
    """The stub template's `Events: {Type: DynamoDB}` as SAM transforms it: CloudFormation's property names."""
    path = stub_template(tmp_path, tmp_path / "stub-log")
    template = transformed(path)
    resolver = Resolver(template)
    resolver.parameters["TrackingServer"] = "http://127.0.0.1:5000"
    resolver.name_everything()
    (mapping,) = stream_mappings(template, resolver).values()
    assert mapping.function == "TrackFunction"
    assert mapping.table == "StateTable"
    assert (mapping.starting_position, mapping.batch_size, mapping.batching_window) == (
        "TRIM_HORIZON",
        25,
        1.0,
    )
    assert (mapping.bisect, mapping.max_retries, mapping.max_record_age) == (True, 2, 86400)
    assert (mapping.parallelization, mapping.report_item_failures) == (1, True)
    assert mapping.on_failure == "TrackOnFailureQueue"
    resolver.parameters["TrackingServer"] = ""  # no tracking server: no mapping
    assert stream_mappings(template, resolver) == {}


# -- the poller on moto's stream ------------------------------------------------------------------------------------


@pytest.fixture
def streamed_table() -> Iterator[tuple[Any, Any, str, str]]:
    """A table with a stream in moto's server (the local stack's; moto's in-process mock does not route
    dynamodbstreams), named for the test: moto's backends are shared by the process."""
    from moto.server import ThreadedMotoServer  # noqa: PLC0415

    server = ThreadedMotoServer(port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {
        "region_name": "us-east-1",
        "endpoint_url": f"http://{host}:{port}",
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    name = f"state-{uuid.uuid4().hex[:8]}"
    dynamodb = boto3.client("dynamodb", **options)
    try:
        description = dynamodb.create_table(
            TableName=name,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]
        yield dynamodb, boto3.client("dynamodbstreams", **options), description["LatestStreamArn"], name
        dynamodb.delete_table(TableName=name)
    finally:
        server.stop()


def put(dynamodb: Any, table: str, n: int) -> None:
    for i in range(n):
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "P#toy"}, "sk": {"S": f"T#{i:03d}"}})


def sequence(event: Mapping[str, Any]) -> list[int]:
    return [int(r["dynamodb"]["SequenceNumber"]) for r in event["Records"]]


def test_the_poller_delivers_every_record_in_order_in_batches_from_trim_horizon(
    streamed_table: tuple[Any, Any, str, str],
) -> None:
    dynamodb, streams, arn, table = streamed_table
    put(dynamodb, table, 7)  # before the poller starts: TRIM_HORIZON reads them
    function = FakeFunction(lambda numbers: ok())
    mapping = StreamMapping("Stream", "TrackFunction", "StateTable", batch_size=3)
    poller = StreamPoller(mapping, streams, arn, function, lambda r: None, FUNCTION_ARN).start()
    try:
        assert poller.wait_drained(30)
        put_more = 2
        dynamodb.put_item(TableName=table, Item={"pk": {"S": "P#toy"}, "sk": {"S": "T#000"}, "x": {"N": "1"}})
        dynamodb.delete_item(TableName=table, Key={"pk": {"S": "P#toy"}, "sk": {"S": "T#001"}})
        assert poller.wait_drained(30)
    finally:
        poller.stop()
    delivered = [n for b in function.batches for n in b]
    assert delivered == sorted(delivered)
    assert len(delivered) == 7 + put_more
    assert all(len(b) <= 3 for b in function.batches)
    assert [r["eventName"] for e in function.events for r in e["Records"]][-2:] == ["MODIFY", "REMOVE"]
    last = function.events[-1]["Records"][-1]
    assert "OldImage" in last["dynamodb"]
    assert last["eventSourceARN"] == arn


def test_a_replay_reads_the_whole_stream(streamed_table: tuple[Any, Any, str, str]) -> None:
    dynamodb, streams, arn, table = streamed_table
    put(dynamodb, table, 5)
    assert [int(r["dynamodb"]["SequenceNumber"]) for r in read_stream(streams, arn)] == sorted(
        int(r["dynamodb"]["SequenceNumber"]) for r in read_stream(streams, arn)
    )
    assert len(read_stream(streams, arn)) == 5
    assert lambda_record(read_stream(streams, arn)[0], arn)["eventSource"] == "aws:dynamodb"
