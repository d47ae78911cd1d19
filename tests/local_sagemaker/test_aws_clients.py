"""What AWS's own clients (the SageMaker Python SDK, the AWS CLI) read from SageMaker and the local service must
answer as AWS does: the reserved `_tuning_objective_metric`, a trial's ResourceConfig when the tuning job gave a
HyperParameterTuningResourceConfig, OutputDataConfig.KmsKeyId."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from retune_local import LocalSageMaker

from tests.local_sagemaker.conftest import Connect, ServiceFactory, run_tuning, trials, tuning_request
from tests.local_sagemaker.test_state_format import DATA as STATE_BEFORE

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
