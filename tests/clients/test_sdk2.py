"""The SageMaker Python SDK v2 (Estimator, HyperparameterTuner) against the local SageMaker, in its own venv
(clients-sdk2). Slow (the SDK polls every 5 to 10 s): `make test-clients` runs it."""

from __future__ import annotations

import json
from statistics import mean
from typing import Any

import pytest
from retune.policy import initial_plan
from retune.profile import parse_profile
from retune.requests import sagemaker_manifest, tuning_job_request

from tests.clients.conftest import BUCKET, IMAGE, ROLE, ClientStack, run_flow
from tests.local_sagemaker.trainers.curve import loss

pytestmark = [pytest.mark.local_stack, pytest.mark.slow, pytest.mark.xdist_group("clients-sdk2")]

MAX_JOBS = 4


def args(stack: ClientStack, **more: Any) -> dict[str, Any]:
    return {"bucket": BUCKET, "image": IMAGE, "role": ROLE, "tmp": str(stack.tmp), **more}


# A profile of the curve trainer for retune's own request builder: one continuous range, so retune's request has no
# integer or categorical range to send.
PROFILE = {
    "name": "sdk2-attach",
    "objective": {"metric_name": "loss", "type": "Minimize"},
    "training": {
        "image": IMAGE,
        "instance_type": "ml.m5.large",
        "max_runtime_seconds": 600,
        "metric_definitions": [{"name": "loss", "regex": r"loss=([-+0-9.eE]+)"}],
        "static_hyperparameters": {"epochs": "3"},
        "channels": ["train"],
    },
    "search": {
        "strategy": "Random",
        "ranges": [{"type": "continuous", "name": "x", "min_value": 0, "max_value": 1}],
    },
    "budget": {"max_jobs": MAX_JOBS, "max_parallel_jobs": 2},
    "early_stopping": "Off",
    "evaluation": {"test_channel": "test"},
    "promotion": {"inference_image": IMAGE, "margin": 0.01, "approval": "auto"},
}


def create_retune_tuning_job(stack: ClientStack) -> str:
    """A tuning job created by retune's own request (retune.requests.tuning_job_request) for round 1 of PROFILE, its
    train channel a SageMaker manifest of one file; it runs to the end."""
    profile = parse_profile(json.dumps(PROFILE))
    s3 = stack.admin("s3")
    s3.put_object(Bucket=BUCKET, Key="retune/drop/train/part-0.csv", Body=b"1,2\n3,4\n")
    manifest = sagemaker_manifest(BUCKET, "retune/drop/", ["train/part-0.csv"])
    s3.put_object(Bucket=BUCKET, Key="retune/manifests/train.manifest", Body=json.dumps(manifest).encode())
    request = tuning_job_request(
        profile=profile,
        plan=initial_plan(profile),
        seq=1,
        drop_id="2025-01-01",
        bucket=BUCKET,
        channel_manifests={"train": f"s3://{BUCKET}/retune/manifests/train.manifest"},
        channel_content_types={"train": None},
        role_arn=ROLE,
    )
    name: str = request["HyperParameterTuningJobName"]
    stack.admin("sagemaker").create_hyper_parameter_tuning_job(**request)
    stack.sagemaker.wait_tuning_job(name, 120)
    return name


@pytest.fixture(scope="module")
def tuned(stack: ClientStack) -> dict[str, Any]:
    """The SDK's own tuning job, made and attached as a user would, and one made by retune's request, attached."""
    stack.admin("s3").create_bucket(Bucket=BUCKET)
    retune_job = create_retune_tuning_job(stack)
    seen = run_flow(stack, "sdk2", "sdk2_flows.py", "tune", args(stack, max_jobs=MAX_JOBS, attach=retune_job))
    seen["retune_job"] = retune_job
    return seen


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


def test_tuner_attach_rebuilds_the_sdks_own_tuning_job(stack: ClientStack, tuned: dict[str, Any]) -> None:
    """HyperparameterTuner.attach of the tuning job the SDK itself created: the SDK sent
    HyperParameterTuningResourceConfig and reads back TrainingJobDefinition.ResourceConfig (docs/local-sagemaker.md,
    "What AWS's own clients see")."""
    attached = tuned["attached"]
    described = stack.admin("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuned["tuning_job"]
    )

    assert "error" not in attached, attached
    assert attached["objective"] == "loss"
    assert attached["objective_type"] == "Minimize"
    assert attached["strategy"] == "Random"
    assert (attached["max_jobs"], attached["max_parallel_jobs"]) == (MAX_JOBS, 2)
    assert attached["ranges"]["ContinuousParameterRanges"][0]["Name"] == "x"
    assert attached["image"] == IMAGE
    assert attached["role"] == ROLE
    # the estimator's instance settings, as the SDK's estimator gave them
    assert attached["resources"] == ["ml.m5.large", 1, 1]
    # The reserved `_tuning_objective_metric` is removed by attach: the static hyperparameters are the user's.
    assert attached["hyperparameters"] == {"epochs": "3", "data_channel": "train"}
    assert attached["best"] == tuned["best"] == described["BestTrainingJob"]["TrainingJobName"]


def test_tuner_attach_rebuilds_a_tuning_job_retune_created(stack: ClientStack, tuned: dict[str, Any]) -> None:
    """HyperparameterTuner.attach of a tuning job made by retune's own request builder, whose ranges are all
    continuous: the SDK reads all three range lists."""
    attached = tuned["attached_retune"]
    described = stack.admin("sagemaker").describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuned["retune_job"]
    )

    assert "error" not in attached, attached
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert attached["objective"] == "loss"
    assert attached["strategy"] == "Random"
    assert (attached["max_jobs"], attached["max_parallel_jobs"]) == (MAX_JOBS, 2)
    assert [r["Name"] for r in attached["ranges"]["ContinuousParameterRanges"]] == ["x"]
    assert (
        attached["ranges"]["IntegerParameterRanges"] == attached["ranges"]["CategoricalParameterRanges"] == []
    )
    assert attached["image"] == IMAGE
    assert attached["resources"] == [
        "ml.m5.large",
        1,
        described["TrainingJobDefinition"]["ResourceConfig"]["VolumeSizeInGB"],
    ]
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
