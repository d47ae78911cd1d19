"""The SageMaker Python SDK v3 (ModelTrainer, HyperparameterTuner) against the local SageMaker, in its own venv
(clients-sdk3). Slow (the SDK polls; its venv is about 1 GB and takes minutes to install): `make test-clients` runs
it, `make test` does not."""

from __future__ import annotations

from typing import Any

import pytest

from tests.clients.conftest import BUCKET, IMAGE, ROLE, ClientStack, run_flow

pytestmark = [pytest.mark.local_stack, pytest.mark.slow, pytest.mark.xdist_group("clients-sdk3")]

MAX_JOBS = 4
# v3 checks the execution role with IAM's policy simulator before every job; offline there is no IAM to ask.
OFFLINE = {"SAGEMAKER_VALIDATE_ROLE": "false"}


def args(stack: ClientStack, **more: Any) -> dict[str, Any]:
    return {"bucket": BUCKET, "image": IMAGE, "role": ROLE, "tmp": str(stack.tmp), **more}


@pytest.fixture(scope="module")
def tuned(stack: ClientStack) -> dict[str, Any]:
    return run_flow(stack, "sdk3", "sdk3_flows.py", "tune", args(stack, max_jobs=MAX_JOBS), env=OFFLINE)


def test_model_trainer_train_prints_the_jobs_logs(stack: ClientStack) -> None:
    seen = run_flow(stack, "sdk3", "sdk3_flows.py", "fit", args(stack), env=OFFLINE)

    assert seen["status"] == "Completed"
    assert seen["model_data"] == f"s3://{BUCKET}/sdk3/output/{seen['job']}/output/model.tar.gz"
    assert seen["hyperparameters"]["x"] == "0.5"
    # train(logs=True) prints the container's output, read from CloudWatch Logs.
    assert "epoch=3 loss=" in seen["_stdout"] + seen["_stderr"]


def test_tuner_tune_analytics_and_best_training_job(stack: ClientStack, tuned: dict[str, Any]) -> None:
    described = stack.admin("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuned["tuning_job"]
    )
    rows = tuned["analytics"]

    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert isinstance(rows, list), rows
    assert len(rows) == MAX_JOBS
    best_row = min(rows, key=lambda r: r["FinalObjectiveValue"])
    assert tuned["best"] == best_row["TrainingJobName"] == described["BestTrainingJob"]["TrainingJobName"]


def test_the_tuning_job_and_its_best_job_read_back(tuned: dict[str, Any]) -> None:
    attached, best = tuned["attached"], tuned["best_job"]

    assert "error" not in attached, attached
    assert attached["status"] == "Completed"
    assert attached["objective"] == "loss"
    assert attached["max_jobs"] == MAX_JOBS
    assert attached["image"] == IMAGE
    assert attached["best"] == tuned["best"]
    assert "error" not in best, best
    assert best["job"] == tuned["best"]
    assert best["model_data"] == f"s3://{BUCKET}/sdk3/output/{tuned['best']}/output/model.tar.gz"
    assert best["resource_config"] == "ml.m5.large"
    assert best["tuning_job_arn"].endswith(f":hyper-parameter-tuning-job/{tuned['tuning_job']}")


def test_warm_start_from_the_tuning_job(stack: ClientStack, tuned: dict[str, Any]) -> None:
    seen = run_flow(
        stack, "sdk3", "sdk3_flows.py", "warm_start", args(stack, parent=tuned["tuning_job"]), env=OFFLINE
    )
    identical, transfer = seen["identical"], seen["transfer"]

    assert identical["HyperParameterTuningJobStatus"] == "Completed"
    assert identical["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": tuned["tuning_job"]}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    assert transfer["HyperParameterTuningJobStatus"] == "Completed"
    assert transfer["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [
            {"HyperParameterTuningJobName": identical["HyperParameterTuningJobName"]}
        ],
        "WarmStartType": "TransferLearning",
    }
    assert "OverallBestTrainingJob" in identical
