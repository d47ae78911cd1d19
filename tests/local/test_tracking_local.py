"""Tracking on the local stack: a real `mlflow server` (the mlflow tools venv), the state table's stream polled as
Lambda's event source mapping polls it, delivered to the Track function in its warm worker.

Until the Track function is in template.yaml, these run a stand-in (tests/local/track_stub) on a template that adds
what the Track function's template declares (tests/local/tracking.py): they check the pipe (every record, in
order, in batches; an outage retried, parked with Lambda's record and alerted; a replay; the server's lifecycle).
test_tracking_real.py checks the real handler's runs in MLflow once it exists.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from retune_local.images import ImageSpec
from retune_local.mlflow_server import PYTHON as MLFLOW_PYTHON
from retune_local.mlflow_server import MLflowServer
from retune_local.stack import Endpoints, LocalStack
from retune_local.streams import read_stream
from retune_local.template import functions, load_template

from tests.local.conftest import TOY, TOY_IMAGE, toy_profile, write_drop
from tests.local.tracking import stub_batches, stub_environment, stub_template

# Each of these starts MLflow's server (tens of seconds): `make test-reliability` runs them, with the mlflow venv.
pytestmark = [
    pytest.mark.local_stack,
    pytest.mark.slow,
    pytest.mark.skipif(not MLFLOW_PYTHON.exists(), reason="the mlflow venv is missing: make mlflow-venv"),
]


def sequence_numbers(batches: list[list[dict[str, Any]]]) -> list[int]:
    return [int(r["sequence"]) for batch in batches for r in batch]


def tracked_stack(tmp_path: Path, log_dir: Path) -> LocalStack:
    images = {TOY_IMAGE: ImageSpec.python(str(TOY), seconds_per_epoch=10.0)}
    return LocalStack(
        tmp_path / "state",
        images,
        event_log=tmp_path / "events.jsonl",
        template_path=stub_template(tmp_path, log_dir),
        env_overrides=stub_environment(log_dir),
        tracking=True,
    )


def test_tracking_a_round_reaches_the_track_function_in_order_then_an_outage_is_parked_and_alerted(
    tmp_path: Path,
) -> None:
    """One stack with MLflow (its start is the slow part): the pipe end to end, then the server's end with the
    stack's."""
    log_dir = tmp_path / "stub"
    with tracked_stack(tmp_path, log_dir) as stack:
        server = check_the_pipe(stack, log_dir, tmp_path)
    # The server stops with the stack (its whole process group); its database stays in the state directory.
    assert not server.running
    assert not server.healthy()
    assert (tmp_path / "state" / "mlflow" / "mlflow.db").exists()


def check_the_pipe(stack: LocalStack, log_dir: Path, tmp_path: Path) -> MLflowServer:
    profile = tmp_path / "toy.json"
    profile.write_text(json.dumps(toy_profile(max_jobs=2, parallel=2)))
    stack.put_profile(profile)
    assert stack.mlflow is not None and stack.mlflow.healthy()
    assert stack.endpoints is not None and stack.endpoints.tracking_server == stack.mlflow.url
    assert (stack.state_dir / "mlflow" / "mlflow.db").exists()
    (mapping,) = stack.stream_mappings().values()
    assert stack.functions["TrackFunction"].environment["TRACKING_SERVER"] == stack.mlflow.url

    stack.drop(write_drop(tmp_path / "d1"), "toy", "d1")
    assert stack.wait_for_round("toy", 1).status == "decided"
    assert stack.wait_for_streams(120)

    # Every record of the stream, once, in the stream's order, in batches of at most BatchSize.
    stream = read_stream(
        stack.client("dynamodbstreams"), stack.resolver.attributes[("StateTable", "StreamArn")]
    )
    delivered = stub_batches(log_dir)
    assert sequence_numbers(delivered) == [int(r["dynamodb"]["SequenceNumber"]) for r in stream]
    assert all(len(batch) <= mapping.batch_size for batch in delivered)
    keys = [r["keys"]["sk"]["S"] for batch in delivered for r in batch]
    assert any("#TRIAL#" in k for k in keys), keys[:20]
    assert {r["source"] for batch in delivered for r in batch} == {"aws:dynamodb"}

    # An outage: the function fails on every attempt; the record is retried (MaximumRetryAttempts), then its
    # range goes to the on-failure queue with Lambda's record, as the function's role; Reconcile alerts it.
    assert stack.mlflow is not None
    stack.mlflow.stop()
    stack.client("dynamodb").put_item(
        TableName=stack.resource("StateTable"), Item={"pk": {"S": "OUTAGE"}, "sk": {"S": "X"}}
    )
    assert stack.wait_for_streams(120)
    (parked,) = [r for r in stack.on_failure_records if "DDBStreamBatchInfo" in r]
    info = parked["DDBStreamBatchInfo"]
    outage_seq = int(
        read_stream(stack.client("dynamodbstreams"), info["streamArn"])[-1]["dynamodb"]["SequenceNumber"]
    )
    assert (int(info["startSequenceNumber"]), int(info["endSequenceNumber"]), info["batchSize"]) == (
        outage_seq,
        outage_seq,
        1,
    )
    assert parked["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert parked["requestContext"]["approximateInvokeCount"] == mapping.max_retries + 1
    stack.alerts()  # the round's own alerts, if any
    assert stack.router is not None
    stack.router.fire_schedule("ReconcileFunction")
    assert stack.wait_until(lambda: stack.router is not None and stack.router.idle(), 120)
    subjects = [a.get("Subject", "") for a in stack.alerts()]
    assert any("parked" in s.lower() for s in subjects), subjects
    sqs = stack.client("sqs")
    messages = sqs.receive_message(QueueUrl=stack.resource("TrackOnFailureQueue"), MaxNumberOfMessages=10)[
        "Messages"
    ]
    assert [json.loads(m["Body"])["DDBStreamBatchInfo"] for m in messages] == [info]
    sent = [e for e in stack.gate.trace() if e.principal == "TrackFunction" and e.operation == "SendMessage"]
    assert sent and all(e.allowed for e in sent)

    # The server back: the next record goes through; the parked one stays parked (resync's job).
    stack.mlflow.start()
    stack.client("dynamodb").put_item(
        TableName=stack.resource("StateTable"), Item={"pk": {"S": "OUTAGE"}, "sk": {"S": "Y"}}
    )
    assert stack.wait_for_streams(120)
    after = sequence_numbers(stub_batches(log_dir))
    assert after[-1] == outage_seq + 1
    assert outage_seq not in after

    # A replay: every record again, shuffled, some twice, each batch answered.
    outcomes = stack.replay_stream(seed=3)
    assert outcomes and all(o.ok for o in outcomes)
    replayed = sequence_numbers(stub_batches(log_dir))[len(after) :]
    assert set(replayed) == {
        int(r["dynamodb"]["SequenceNumber"])
        for r in read_stream(stack.client("dynamodbstreams"), info["streamArn"])
    }
    assert len(replayed) > len(set(replayed))
    assert replayed != sorted(replayed)
    return stack.mlflow


def test_tracking_a_restarted_stack_goes_on_from_the_streams_checkpoint(tmp_path: Path) -> None:
    """Restoring the snapshot writes the table's items to the new stream again; those records were delivered
    before the stop (the stack drains its pollers as it closes), so the restarted stack's poller starts after
    them, as a mapping keeps its checkpoint: only what is written after the restart is delivered. MLflow's
    database is kept in the state directory."""
    log_dir = tmp_path / "stub"
    path = stub_template(tmp_path, log_dir)
    table_item = {"pk": {"S": "RESTART"}, "sk": {"S": "A"}}
    with LocalStack(
        tmp_path / "state",
        {},
        template_path=path,
        env_overrides=stub_environment(log_dir),
        tracking=True,
        persist=True,
    ) as stack:
        stack.client("dynamodb").put_item(TableName=stack.resource("StateTable"), Item=table_item)
    first = sequence_numbers(stub_batches(log_dir))
    assert len(first) == 1  # delivered before the stack stopped
    with LocalStack(
        tmp_path / "state",
        {},
        template_path=path,
        env_overrides=stub_environment(log_dir),
        tracking=True,
        persist=True,
    ) as stack:
        assert stack.wait_for_streams(120)
        assert len(sequence_numbers(stub_batches(log_dir))) == 1  # the restored item is not delivered again
        stack.client("dynamodb").put_item(
            TableName=stack.resource("StateTable"), Item={**table_item, "sk": {"S": "B"}}
        )
        assert stack.wait_for_streams(120)
        delivered = [r["keys"]["sk"]["S"] for batch in stub_batches(log_dir) for r in batch]
    assert delivered == ["A", "B"]


def test_tracking_the_endpoints_file_gives_invoke_the_tracking_server(tmp_path: Path) -> None:
    """`python -m retune_local invoke TrackFunction --endpoints-file ...` finds Track: the file keeps the server's
    URI, and the resolver it makes gives it to the TrackingServer parameter (so the condition holds)."""
    url = "http://127.0.0.1:5999"
    path = tmp_path / "endpoints.json"
    path.write_text(
        json.dumps(Endpoints("us-east-1", "http://aws", "http://sm", tracking_server=url).as_json())
    )
    endpoints = Endpoints.read(path)
    assert endpoints.tracking_server == url
    template = load_template(stub_template(tmp_path, tmp_path / "stub"))
    resolver = endpoints.resolver(template)
    resolver.name_everything()
    assert functions(template, resolver)["TrackFunction"].environment["TRACKING_SERVER"] == url
    untracked = Endpoints("us-east-1", "http://aws", "http://sm").resolver(template)
    untracked.name_everything()
    assert "TrackFunction" not in functions(template, untracked)
