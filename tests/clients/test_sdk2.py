"""The SageMaker Python SDK v2 (Estimator, HyperparameterTuner) against the local SageMaker, in its own venv
(clients-sdk2). Slow (the SDK polls every 5 to 10 s): `make test-clients` runs it."""

from __future__ import annotations

from statistics import mean
from typing import Any

import pytest

from tests.clients.conftest import BUCKET, IMAGE, ROLE, ClientStack, run_flow
from tests.local_sagemaker.trainers.curve import loss

pytestmark = [pytest.mark.local_stack, pytest.mark.slow, pytest.mark.xdist_group("clients-sdk2")]

MAX_JOBS = 4


def args(stack: ClientStack, **more: Any) -> dict[str, Any]:
    return {"bucket": BUCKET, "image": IMAGE, "role": ROLE, "tmp": str(stack.tmp), **more}


ATTACHED = "sdk2-by-boto3"


@pytest.fixture(scope="module")
def tuned(stack: ClientStack) -> dict[str, Any]:
    """The SDK's tuning job, and one made with boto3 as retune makes its own (a definition with ResourceConfig) for
    HyperparameterTuner.attach."""
    stack.admin("s3").create_bucket(Bucket=BUCKET)
    stack.admin("sagemaker").create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=ATTACHED,
        HyperParameterTuningJobConfig={
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": MAX_JOBS, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "x", "MinValue": "0", "MaxValue": "1", "ScalingType": "Auto"}
                ],
                "IntegerParameterRanges": [],
                "CategoricalParameterRanges": [],
            },
            "TrainingJobEarlyStoppingType": "Off",
        },
        TrainingJobDefinition={
            "StaticHyperParameters": {"epochs": "3"},
            "AlgorithmSpecification": {
                "TrainingImage": IMAGE,
                "TrainingInputMode": "File",
                "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([-+0-9.eE]+)"}],
            },
            "RoleArn": ROLE,
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/sdk2/attached"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600},
        },
    )
    stack.sagemaker.wait_tuning_job(ATTACHED, 120)
    return run_flow(stack, "sdk2", "sdk2_flows.py", "tune", args(stack, max_jobs=MAX_JOBS, attach=ATTACHED))


def test_estimator_fit_prints_the_jobs_logs_and_reads_its_metrics(stack: ClientStack) -> None:
    seen = run_flow(stack, "sdk2", "sdk2_flows.py", "fit", args(stack))
    described = stack.admin("sagemaker").describe_training_job(TrainingJobName=seen["job"])

    assert seen["status"] == "Completed"
    assert seen["model_data"] == f"s3://{BUCKET}/sdk2/output/{seen['job']}/output/model.tar.gz"
    assert described["HyperParameters"]["x"] == "0.5"
    # fit(logs="All") prints the container's output, read from CloudWatch Logs.
    assert "epoch=3 loss=" in seen["_stdout"]
    # TrainingJobAnalytics reads the metric from CloudWatch: the average per minute (its default period) of the
    # values published, one per epoch (10 virtual seconds each: all in the first minute).
    assert [(m["metric_name"], m["timestamp"]) for m in seen["metrics"]] == [("loss", 0.0)]
    assert seen["metrics"][0]["value"] == pytest.approx(mean(loss(0.5, epoch) for epoch in (1, 2, 3)))
    assert described["FinalMetricDataList"][0]["Value"] == pytest.approx(loss(0.5, 3))


def test_tuner_fit_analytics_and_best_training_job(stack: ClientStack, tuned: dict[str, Any]) -> None:
    described = stack.admin("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuned["tuning_job"]
    )
    rows = tuned["analytics"]

    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert len(rows) == MAX_JOBS
    assert {r["TrainingJobStatus"] for r in rows} == {"Completed"}
    best_row = min(rows, key=lambda r: r["FinalObjectiveValue"])
    assert tuned["best"] == best_row["TrainingJobName"] == described["BestTrainingJob"]["TrainingJobName"]
    assert all(0.0 <= r["x"] <= 1.0 for r in rows)


def test_tuner_attach_rebuilds_the_tuner_and_its_estimator(stack: ClientStack, tuned: dict[str, Any]) -> None:
    """HyperparameterTuner.attach of a tuning job whose definition has a ResourceConfig and all three range lists.
    The SDK's attach reads both unchecked. Not of the SDK's own jobs: the SDK sends HyperParameterTuningResourceConfig,
    and whether AWS then describes a ResourceConfig too is not documented (the SDK's own integration test of attach
    is skipped as "always failed"); nor whether AWS describes missing range kinds as empty lists (retune sends only
    the kinds it uses). Both are open questions in the notes of issue 19."""
    attached = tuned["attached"]
    described = stack.admin("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=ATTACHED
    )

    assert "error" not in attached, attached
    assert attached["objective"] == "loss"
    assert attached["objective_type"] == "Minimize"
    assert attached["strategy"] == "Random"
    assert (attached["max_jobs"], attached["max_parallel_jobs"]) == (MAX_JOBS, 2)
    assert attached["ranges"]["ContinuousParameterRanges"][0]["Name"] == "x"
    assert attached["image"] == IMAGE
    assert attached["role"] == ROLE
    # The reserved `_tuning_objective_metric` is removed by attach: the static hyperparameters are the user's.
    assert attached["hyperparameters"] == {"epochs": "3"}
    assert attached["best"] == described["BestTrainingJob"]["TrainingJobName"]


def test_best_estimator_is_the_best_training_job_attached(tuned: dict[str, Any]) -> None:
    best = tuned["best_estimator"]

    assert "error" not in best, best
    assert best["job"] == tuned["best"]
    assert best["model_data"] == f"s3://{BUCKET}/sdk2/output/{tuned['best']}/output/model.tar.gz"
    assert best["image"] == IMAGE
    assert set(best["hyperparameters"]) >= {"epochs", "data_channel", "x"}


def test_warm_start_from_the_tuning_job(stack: ClientStack, tuned: dict[str, Any]) -> None:
    seen = run_flow(stack, "sdk2", "sdk2_flows.py", "warm_start", args(stack, parent=tuned["tuning_job"]))
    identical, transfer = seen["identical"], seen["transfer"]

    assert identical["HyperParameterTuningJobStatus"] == "Completed"
    assert identical["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": tuned["tuning_job"]}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }
    assert identical["TrainingJobStatusCounters"]["Completed"] == 2
    # With identical data and algorithm, the best of the parent's and the child's jobs is reported.
    overall = identical["OverallBestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    best_own = identical["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    assert overall <= best_own
    assert transfer["HyperParameterTuningJobStatus"] == "Completed"
    assert transfer["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [
            {"HyperParameterTuningJobName": identical["HyperParameterTuningJobName"]}
        ],
        "WarmStartType": "TransferLearning",
    }
    # transfer_learning_tuner() drops the tuner's metric_definitions; for an image of one's own SageMaker answers
    # as it does to anyone whose objective has no metric definition.
    assert seen["transfer_learning_tuner"]["error"].startswith(
        "ClientError: An error occurred (ValidationException)"
    )
    assert (
        "A metric is required for this hyperparameter tuning job objective"
        in seen["transfer_learning_tuner"]["error"]
    )
