"""The EventBridge events the local SageMaker sends, in AWS's documented shapes and order."""

from __future__ import annotations

from typing import Any

import pytest
from retune.timeutil import parse_timestamp
from retune_local import LocalSageMaker

from tests.local_sagemaker.conftest import Connect, ServiceFactory, run_tuning, trials, tuning_request

pytestmark = pytest.mark.local_stack

ENVELOPE = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["detail-type"] == kind]


def test_events_training_jobs_send_in_progress_then_their_end(
    service: LocalSageMaker, events: list[dict[str, Any]]
) -> None:
    run_tuning(service, tuning_request("ev", max_jobs=6, parallel=2, early_stopping="Auto", seed=11))
    service.wait_idle()

    by_job: dict[str, list[str]] = {}
    for event in of(events, "SageMaker Training Job State Change"):
        by_job.setdefault(event["detail"]["TrainingJobName"], []).append(event["detail"]["TrainingJobStatus"])
    statuses = {s["TrainingJobName"]: s["TrainingJobStatus"] for s in trials(service, "ev")}
    for name, sequence in by_job.items():
        expected = (
            ["InProgress", "Completed"]
            if statuses[name] == "Completed"
            else ["InProgress", "Stopping", "Stopped"]
        )
        assert sequence == expected, name
    assert set(by_job) == set(statuses)


def test_events_training_job_detail_has_the_documented_shape(
    service: LocalSageMaker, events: list[dict[str, Any]]
) -> None:
    run_tuning(service, tuning_request("shape", max_jobs=1, parallel=1))
    service.wait_idle()

    completed = of(events, "SageMaker Training Job State Change")[-1]
    assert set(completed) == ENVELOPE
    assert completed["source"] == "aws.sagemaker"
    assert completed["account"] == "123456789012"
    assert completed["region"] == "us-east-1"
    detail = completed["detail"]
    assert completed["resources"] == [detail["TrainingJobArn"]]
    assert detail["TrainingJobStatus"] == "Completed"
    assert detail["SecondaryStatus"] == "Completed"
    for key in (
        "HyperParameters",
        "AlgorithmSpecification",
        "RoleArn",
        "OutputDataConfig",
        "ResourceConfig",
        "StoppingCondition",
        "ModelArtifacts",
    ):
        assert key in detail, key
    for key in ("FinalMetricDataList", "BillableTimeInSeconds", "TuningJobArn"):
        assert key not in detail, key
    assert isinstance(detail["CreationTime"], str)
    assert detail["CreationTime"].isdigit()
    assert parse_timestamp(detail["TrainingEndTime"]).timestamp() == pytest.approx(
        service.handle("DescribeTrainingJob", {"TrainingJobName": detail["TrainingJobName"]})[
            "TrainingEndTime"
        ],
        abs=0.001,
    )
    assert detail["Tags"] == {}
    assert parse_timestamp(completed["time"])


def test_events_tuning_job_detail_has_the_documented_shape(
    service: LocalSageMaker, events: list[dict[str, Any]]
) -> None:
    request = tuning_request("tshape", max_jobs=2, parallel=1)
    request["Tags"] = [{"Key": "profile", "Value": "market"}]
    run_tuning(service, request)
    service.wait_idle()

    changes = of(events, "SageMaker HyperParameter Tuning Job State Change")
    assert [e["detail"]["HyperParameterTuningJobStatus"] for e in changes] == ["InProgress", "Completed"]
    detail = changes[-1]["detail"]
    assert set(detail) == {
        "HyperParameterTuningJobName",
        "HyperParameterTuningJobArn",
        "TrainingJobDefinition",
        "HyperParameterTuningJobStatus",
        "CreationTime",
        "LastModifiedTime",
        "TrainingJobStatusCounters",
        "ObjectiveStatusCounters",
        "Tags",
    }
    assert detail["HyperParameterTuningJobArn"].endswith(":hyper-parameter-tuning-job/tshape")
    assert detail["TrainingJobStatusCounters"]["Completed"] == 2
    assert detail["ObjectiveStatusCounters"]["Succeeded"] == 2
    assert detail["Tags"] == {"profile": "market"}


def test_events_the_tuning_job_ends_after_its_training_jobs(
    service: LocalSageMaker, events: list[dict[str, Any]]
) -> None:
    run_tuning(service, tuning_request("order", max_jobs=4, parallel=2))
    service.wait_idle()

    last = events[-1]
    assert last["detail-type"] == "SageMaker HyperParameter Tuning Job State Change"
    assert last["detail"]["HyperParameterTuningJobStatus"] == "Completed"


def test_events_are_sent_several_times_when_asked(
    make_service: ServiceFactory, events: list[dict[str, Any]]
) -> None:
    service = make_service(event_copies=2)
    run_tuning(service, tuning_request("twice", max_jobs=1, parallel=1))
    service.wait_idle()

    ids = [e["id"] for e in of(events, "SageMaker HyperParameter Tuning Job State Change")]
    assert len(ids) == 4
    assert len(set(ids)) == 2


def test_events_deterministic_mode_sends_the_same_sequence_whatever_the_timing(
    make_service: ServiceFactory,
) -> None:
    sequences = []
    for _ in range(2):
        received: list[dict[str, Any]] = []
        service = make_service(sink=received.append)
        run_tuning(service, tuning_request("seq", max_jobs=8, parallel=4, early_stopping="Auto", seed=11))
        service.wait_idle()
        sequences.append(
            [
                (
                    e["detail-type"],
                    e["detail"].get("TrainingJobName") or e["detail"].get("HyperParameterTuningJobName"),
                    e["detail"].get("TrainingJobStatus") or e["detail"].get("HyperParameterTuningJobStatus"),
                )
                for e in received
            ]
        )

    assert sequences[0] == sequences[1]


def test_events_a_sink_may_call_the_service_back(make_service: ServiceFactory, connect: Connect) -> None:
    seen: list[str] = []
    holder: list[LocalSageMaker] = []

    def describing_sink(event: dict[str, Any]) -> None:
        # What the router's handlers do: describe the job an event names, over HTTP.
        if event["detail-type"] == "SageMaker Training Job State Change":
            client = connect(holder[0])
            described = client.describe_training_job(TrainingJobName=event["detail"]["TrainingJobName"])
            seen.append(described["TrainingJobName"])

    service = make_service(sink=describing_sink)
    holder.append(service)
    run_tuning(service, tuning_request("callback", max_jobs=2, parallel=2))
    service.wait_idle()

    assert len(seen) == 4
