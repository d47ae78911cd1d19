"""The whole loop on one machine: a manifest dropped into the local bucket goes, through the router and the real
handlers, to a tuning job that really runs, recorded trials, a closed round, an evaluation, a champion and an
alert; the second drop warm-starts from the first."""

from __future__ import annotations

import json
from pathlib import Path

from retune_local.stack import LocalStack

from tests.local.conftest import park_close_round_event, write_drop


def test_local_stack_runs_two_drops_end_to_end(stack: LocalStack, tmp_path: Path) -> None:
    store = stack.state()
    stack.drop(write_drop(tmp_path / "2015-01-01"), "toy")
    first = stack.wait_for_round("toy", 1, timeout=300)
    assert first.status == "decided", first
    assert first.tuning_status == "Completed"
    trials = store.trials("toy", 1)
    assert len(trials) == 4 and all(t.terminal for t in trials)
    completed = [t for t in trials if t.status == "Completed"]
    assert completed, [t.status for t in trials]
    assert all(len(t.objective_series) == 4 for t in completed)  # one value per epoch, from CloudWatch
    assert all(t.compute == 40 for t in completed)
    assert all(t.stopped_early for t in trials if t.status == "Stopped")
    assert first.evaluation is not None and first.evaluation.challenger_score is not None
    assert first.decision is not None and first.decision.outcome == "approved"
    champion = store.get_champion("toy")
    assert champion is not None and champion.round_seq == 1

    stack.drop(write_drop(tmp_path / "2015-07-01", validation_rows=4, test_rows=4), "toy")
    second = stack.wait_for_round("toy", 2, timeout=300)
    assert second.status == "decided"
    assert second.plan.warm_start_parents.value == ["rt-toy-0001"]
    described = stack.client("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="rt-toy-0002"
    )
    assert described["WarmStartConfig"]["ParentHyperParameterTuningJobs"] == [
        {"HyperParameterTuningJobName": "rt-toy-0001"}
    ]
    assert second.evaluation is not None and second.evaluation.champion_score is not None

    subjects = [alert["Subject"] for alert in stack.alerts()]
    assert subjects[0].startswith("[retune] toy round 1: promoted")
    assert subjects[1].startswith("[retune] toy round 2: ")
    lines = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    routed = {(line["event"]["detail-type"], tuple(line["functions"])) for line in lines}
    assert ("SageMaker HyperParameter Tuning Job State Change", ("CloseRoundFunction",)) in routed
    assert all(outcome["ok"] for line in lines for outcome in line["outcomes"]), "a handler failed"


def test_local_stack_parks_a_failing_invocation_on_the_on_failure_queue(stack: LocalStack) -> None:
    park_close_round_event(stack, "toy", 9)
    assert stack.wait_until(lambda: len(stack.on_failure_records) == 1, timeout=60)
    record = stack.on_failure_records[0]
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 3  # the first attempt and Lambda's 2 retries
    sqs = stack.client("sqs")
    queue = stack.resource("CloseRoundOnFailureQueue")
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert (
        json.loads(messages[0]["Body"])["requestPayload"]["detail"]["HyperParameterTuningJobName"]
        == "rt-toy-0009"
    )


def test_local_stack_warm_worker_is_reused(stack: LocalStack, tmp_path: Path) -> None:
    stack.drop(write_drop(tmp_path / "2015-01-01"), "toy")
    stack.wait_for_round("toy", 1, timeout=300)
    runtime = stack.runtimes["RecordTrialFunction"]
    assert runtime.invocations >= 8  # InProgress and Completed of 4 trials, at least
    assert runtime.cold_starts == 1
