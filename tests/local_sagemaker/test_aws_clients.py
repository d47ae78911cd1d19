"""What AWS's own clients (the SageMaker Python SDK, the AWS CLI) read from SageMaker and the local service must
answer as AWS does: the reserved `_tuning_objective_metric`, a trial's ResourceConfig when the tuning job gave a
HyperParameterTuningResourceConfig, OutputDataConfig.KmsKeyId."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from retune_local import LocalSageMaker
from retune_local.job_logs import LOG_GROUP

from tests.local_sagemaker.conftest import (
    ROLE,
    SECONDS_PER_EPOCH,
    Connect,
    ServiceFactory,
    run_tuning,
    trials,
    tuning_request,
)
from tests.local_sagemaker.test_state_format import DATA as STATE_BEFORE
from tests.local_sagemaker.test_training_jobs import training_request

pytestmark = pytest.mark.local_stack

OBJECTIVE = "loss"  # tuning_request's objective metric


def test_tuning_objective_metric_is_a_static_hyperparameter_of_the_tuning_job_and_of_every_trial(
    service: LocalSageMaker, connect: Connect
) -> None:
    # The SDK v2's HyperparameterTuner.attach deletes it from StaticHyperParameters (a KeyError without it).
    run_tuning(service, tuning_request("tom", max_jobs=2, parallel=1))
    client = connect(service)

    described = client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="tom")
    static = described["TrainingJobDefinition"]["StaticHyperParameters"]
    assert static["_tuning_objective_metric"] == OBJECTIVE
    assert static["epochs"] == "5"  # the request's own static hyperparameters stay
    for summary in trials(service, "tom"):
        name = summary["TrainingJobName"]
        job = client.describe_training_job(TrainingJobName=name)
        assert job["HyperParameters"]["_tuning_objective_metric"] == OBJECTIVE
        # AMT hands it to the container like every hyperparameter, as a string
        written = json.loads(
            (service.ctx.jobs_dir / name / "input" / "config" / "hyperparameters.json").read_text()
        )
        assert written["_tuning_objective_metric"] == OBJECTIVE
        # it is not tuned
        assert "_tuning_objective_metric" not in summary["TunedHyperParameters"]


def test_tuning_objective_metric_reaches_seeded_trials_and_training_job_events(
    service: LocalSageMaker, events: list[dict[str, Any]]
) -> None:
    service.seed_tuning_job(
        tuning_request("seeded", max_jobs=1, parallel=1),
        [{"hyperparameters": {"x": "0.5"}, "objective": [1.0]}],
    )
    (summary,) = trials(service, "seeded")
    job = service.handle("DescribeTrainingJob", {"TrainingJobName": summary["TrainingJobName"]})
    assert job["HyperParameters"]["_tuning_objective_metric"] == OBJECTIVE

    run_tuning(service, tuning_request("evented", max_jobs=1, parallel=1))
    service.wait_idle()
    training = [e for e in events if e["detail-type"] == "SageMaker Training Job State Change"]
    assert training
    assert all(e["detail"]["HyperParameters"]["_tuning_objective_metric"] == OBJECTIVE for e in training)
    tuning = [e for e in events if e["detail-type"] == "SageMaker HyperParameter Tuning Job State Change"]
    assert all(
        e["detail"]["TrainingJobDefinition"]["StaticHyperParameters"]["_tuning_objective_metric"] == OBJECTIVE
        for e in tuning
    )


def test_warm_start_from_a_parent_is_not_upset_by_the_reserved_hyperparameter(
    service: LocalSageMaker,
) -> None:
    # Warm start needs the same static hyperparameter names; the reserved one is AMT's, not the request's.
    run_tuning(service, tuning_request("parent", max_jobs=2, parallel=1))
    child = tuning_request(
        "child",
        max_jobs=2,
        parallel=1,
        strategy="Bayesian",
        warm_start={
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
            "WarmStartType": "IdenticalDataAndAlgorithm",
        },
    )
    assert run_tuning(service, child)["HyperParameterTuningJobStatus"] == "Completed"


def _flexible(request: dict[str, Any], resources: dict[str, Any]) -> dict[str, Any]:
    definition = request["TrainingJobDefinition"]
    del definition["ResourceConfig"]
    definition["HyperParameterTuningResourceConfig"] = resources
    return request


@pytest.mark.parametrize(
    ("resources", "expected"),
    [
        # what the SDK v2 always sends: the single-instance fields
        (
            {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
            {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        ),
        # instance type flexibility: AllocationStrategy Prioritized uses the first configuration that has capacity,
        # and the local machine always has capacity
        (
            {
                "AllocationStrategy": "Prioritized",
                "InstanceConfigs": [
                    {"InstanceType": "ml.c5.2xlarge", "InstanceCount": 2, "VolumeSizeInGB": 40},
                    {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
                ],
            },
            {"InstanceType": "ml.c5.2xlarge", "InstanceCount": 2, "VolumeSizeInGB": 40},
        ),
    ],
    ids=["single", "instance-configs"],
)
def test_trials_of_a_tuning_job_with_a_tuning_resource_config_have_a_resource_config(
    service: LocalSageMaker,
    connect: Connect,
    events: list[dict[str, Any]],
    resources: dict[str, Any],
    expected: dict[str, Any],
) -> None:
    # The SDK v2's Estimator.attach reads ResourceConfig.InstanceCount/InstanceType/VolumeSizeInGB unchecked.
    run_tuning(service, _flexible(tuning_request("flex", max_jobs=1, parallel=1), resources))
    service.wait_idle()
    client = connect(service)
    (summary,) = trials(service, "flex")
    job = client.describe_training_job(TrainingJobName=summary["TrainingJobName"])
    assert job["ResourceConfig"] == expected
    training = [e for e in events if e["detail-type"] == "SageMaker Training Job State Change"]
    assert training
    assert all(e["detail"]["ResourceConfig"] == expected for e in training)
    config = json.loads(
        (
            service.ctx.jobs_dir / summary["TrainingJobName"] / "input" / "config" / "resourceconfig.json"
        ).read_text()
    )
    assert config["current_instance_type"] == expected["InstanceType"]


@pytest.mark.parametrize(
    ("resources", "described"),
    [
        # What the SDK v2 sends: DescribeHyperParameterTuningJob answers a ResourceConfig of the same fields.
        (
            {
                "InstanceType": "ml.m5.xlarge",
                "InstanceCount": 1,
                "VolumeSizeInGB": 30,
                "VolumeKmsKeyId": "k-1",
            },
            {
                "InstanceType": "ml.m5.xlarge",
                "InstanceCount": 1,
                "VolumeSizeInGB": 30,
                "VolumeKmsKeyId": "k-1",
            },
        ),
        # Several instance configurations have no one ResourceConfig: none is invented.
        (
            {
                "AllocationStrategy": "Prioritized",
                "InstanceConfigs": [
                    {"InstanceType": "ml.c5.2xlarge", "InstanceCount": 2, "VolumeSizeInGB": 40},
                    {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
                ],
            },
            None,
        ),
    ],
    ids=["single", "instance-configs"],
)
def test_a_tuning_job_with_a_tuning_resource_config_describes_its_resource_config(
    service: LocalSageMaker,
    connect: Connect,
    events: list[dict[str, Any]],
    resources: dict[str, Any],
    described: dict[str, Any] | None,
) -> None:
    # The SDK v2's HyperparameterTuner.attach reads TrainingJobDefinition.ResourceConfig unchecked, and the SDK
    # itself only ever sends HyperParameterTuningResourceConfig (docs/local-sagemaker.md, "What AWS's own clients
    # see").
    run_tuning(service, _flexible(tuning_request("flexdesc", max_jobs=1, parallel=1), resources))
    service.wait_idle()
    definition = connect(service).describe_hyper_parameter_tuning_job(HyperParameterTuningJobName="flexdesc")[
        "TrainingJobDefinition"
    ]
    assert definition["HyperParameterTuningResourceConfig"] == resources  # the request's own, as given
    assert definition.get("ResourceConfig") == described
    tuning = [e for e in events if e["detail-type"] == "SageMaker HyperParameter Tuning Job State Change"]
    assert tuning
    assert all(e["detail"]["TrainingJobDefinition"].get("ResourceConfig") == described for e in tuning)


def test_a_tuning_resource_config_with_a_volume_key_passes_it_on(service: LocalSageMaker) -> None:
    resources = {
        "InstanceType": "ml.m5.xlarge",
        "InstanceCount": 1,
        "VolumeSizeInGB": 30,
        "VolumeKmsKeyId": "k-1",
    }
    run_tuning(service, _flexible(tuning_request("flexkms", max_jobs=1, parallel=1), resources))
    (summary,) = trials(service, "flexkms")
    job = service.handle("DescribeTrainingJob", {"TrainingJobName": summary["TrainingJobName"]})
    assert job["ResourceConfig"] == resources


def test_describe_training_job_reports_an_empty_output_kms_key_when_none_was_given(
    service: LocalSageMaker, connect: Connect
) -> None:
    # AWS answers OutputDataConfig.KmsKeyId "" when unset; the SDK v2's Estimator.attach reads it unchecked.
    run_tuning(service, tuning_request("kms", max_jobs=1, parallel=1))
    seeded = tuning_request("kmsgiven", max_jobs=1, parallel=1)
    seeded["TrainingJobDefinition"]["OutputDataConfig"]["KmsKeyId"] = "alias/retune"
    service.seed_tuning_job(seeded, [{"hyperparameters": {"x": "0.5"}, "objective": [1.0]}])
    client = connect(service)
    (plain,) = trials(service, "kms")
    (given,) = trials(service, "kmsgiven")
    output = client.describe_training_job(TrainingJobName=plain["TrainingJobName"])["OutputDataConfig"]
    assert output == {"S3OutputPath": "s3://retune-out/trials", "KmsKeyId": ""}
    output = client.describe_training_job(TrainingJobName=given["TrainingJobName"])["OutputDataConfig"]
    assert output["KmsKeyId"] == "alias/retune"


def test_a_trial_stored_before_the_reserved_hyperparameter_answers_with_it(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    # The state fixture was written before: its trials' records hold no `_tuning_objective_metric`.
    state = tmp_path / "before"
    shutil.copytree(STATE_BEFORE, state)
    stored = json.loads(next((state / "state" / "training-jobs").glob("*.json")).read_text())
    assert "_tuning_objective_metric" not in stored["request"]["HyperParameters"]
    service = make_service(state_dir=state)
    job = service.handle("DescribeTrainingJob", {"TrainingJobName": stored["name"]})
    assert job["HyperParameters"] == {
        **stored["request"]["HyperParameters"],
        "_tuning_objective_metric": "loss",
    }


# -- CloudWatch Logs ------------------------------------------------------------------------------------------


@pytest.fixture
def logs(moto_endpoint: str) -> Any:
    return boto3.client(
        "logs",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )


def log_events(logs: Any, job_name: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The job's streams and the first one's events, read as the SDK v2's logs_for_job reads them."""
    streams = logs.describe_log_streams(
        logGroupName=LOG_GROUP, logStreamNamePrefix=job_name + "/", orderBy="LogStreamName"
    )["logStreams"]
    names = [s["logStreamName"] for s in streams]
    events: list[dict[str, Any]] = []
    token: dict[str, str] = {}
    while names:
        page = logs.get_log_events(
            logGroupName=LOG_GROUP, logStreamName=names[0], startFromHead=True, **token
        )
        events.extend(page["events"])
        if not page["events"]:
            break
        token = {"nextToken": page["nextForwardToken"]}
    return names, events


def test_a_trial_writes_its_output_to_cloudwatch_logs_as_sagemaker_does(
    make_service: ServiceFactory, logs: Any
) -> None:
    service = make_service(logs=logs)
    name = f"logs-{uuid.uuid4().hex[:8]}"
    run_tuning(service, tuning_request(name, max_jobs=1, parallel=1, epochs=3))
    (summary,) = trials(service, name)
    job = service.handle("DescribeTrainingJob", {"TrainingJobName": summary["TrainingJobName"]})

    streams, events = log_events(logs, job["TrainingJobName"])
    assert streams == [f"{job['TrainingJobName']}/algo-1-{int(job['TrainingStartTime'])}"]
    output = (service.ctx.jobs_dir / job["TrainingJobName"] / "output" / "training.log").read_text()
    assert [e["message"] for e in events] == output.splitlines()
    # the deterministic mode's clock: the line reporting epoch k at start + k x seconds per epoch
    start = job["TrainingStartTime"]
    assert [e["timestamp"] for e in events] == [
        round((start + k * SECONDS_PER_EPOCH) * 1000) for k in (1, 2, 3)
    ]


def test_the_log_stream_has_the_lines_while_the_job_runs(make_service: ServiceFactory, logs: Any) -> None:
    sent = threading.Event()
    seen: list[str] = []

    class Recording:
        """moto's client, noting each line it is given."""

        def __getattr__(self, name: str) -> Any:
            return getattr(logs, name)

        def put_log_events(self, **params: Any) -> Any:
            answer = logs.put_log_events(**params)
            seen.extend(e["message"] for e in params["logEvents"])
            if any(m.startswith("epoch=2 ") for m in seen):
                sent.set()
            return answer

    service = make_service(logs=Recording())
    request = training_request(f"tail-{uuid.uuid4().hex[:8]}", hyperparameters={"epochs": "2", "hang": "1"})
    service.handle("CreateTrainingJob", request)
    assert sent.wait(30)
    name = request["TrainingJobName"]
    assert (
        service.handle("DescribeTrainingJob", {"TrainingJobName": name})["TrainingJobStatus"] == "InProgress"
    )
    assert [e["message"] for e in log_events(logs, name)[1]][-1].startswith("epoch=2 ")
    service.handle("StopTrainingJob", {"TrainingJobName": name})
    assert service.wait_training_job(name)["TrainingJobStatus"] == "Stopped"


class _Roles:
    """Execution roles whose CloudWatch Logs client refuses every write, as the gate does for a role without
    logs:CreateLogStream; every other client is the service's own."""

    def __init__(self, denied: Any, clients: dict[str, Any]) -> None:
        self.asked: list[tuple[str, str]] = []
        self._denied, self._clients = denied, clients

    def assumable(self, role_arn: str) -> bool:
        return True

    def client(self, role_arn: str, service: str) -> Any:
        self.asked.append((role_arn, service))
        return self._denied if service == "logs" else self._clients.get(service)

    def environment(self, role_arn: str) -> dict[str, str]:
        return {}


class _DeniedLogs:
    def __getattr__(self, operation: str) -> Any:
        def denied(**params: Any) -> Any:
            raise ClientError(
                {
                    "Error": {
                        "Code": "AccessDeniedException",
                        "Message": f"not authorized to perform: {operation}",
                    }
                },
                operation,
            )

        return denied


def test_logs_are_written_as_the_jobs_role_and_a_refusal_does_not_fail_the_job(
    make_service: ServiceFactory, caplog: pytest.LogCaptureFixture
) -> None:
    roles = _Roles(_DeniedLogs(), {})
    service = make_service(roles=roles)
    request = training_request(f"denied-{uuid.uuid4().hex[:8]}")
    service.handle("CreateTrainingJob", request)
    assert service.wait_training_job(request["TrainingJobName"])["TrainingJobStatus"] == "Completed"
    assert (ROLE, "logs") in roles.asked
    assert "could not write the logs of training job" in caplog.text
    assert "AccessDeniedException" in caplog.text
