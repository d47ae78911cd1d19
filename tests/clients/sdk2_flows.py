"""The SageMaker Python SDK v2's flows, run by the clients-sdk2 venv's Python (not by pytest): `python sdk2_flows.py
<flow> '<json args>'`. Each flow uses the SDK as its documentation shows and prints one JSON line of what it saw; the
test asserts on it. The SDK finds the local services through AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_SAGEMAKER.

Offline settings (documented in docs/local-sagemaker.md): the role is given as an ARN (the SDK's
`get_execution_role()` asks IAM or the notebook's metadata) and the bucket is named (the SDK's default bucket asks STS
for the account at STS's public regional endpoint, not at AWS_ENDPOINT_URL).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sagemaker.estimator import Estimator
from sagemaker.session import Session
from sagemaker.tuner import ContinuousParameter, HyperparameterTuner, WarmStartConfig, WarmStartTypes

METRICS = [{"Name": "loss", "Regex": r"loss=([-+0-9.eE]+)"}]


def session(args: dict[str, Any]) -> Session:
    return Session(default_bucket=args["bucket"])


def estimator(args: dict[str, Any], sess: Session, **hyperparameters: Any) -> Estimator:
    return Estimator(
        image_uri=args["image"],
        role=args["role"],
        instance_count=1,
        instance_type="ml.m5.large",
        volume_size=1,
        max_run=600,
        output_path=f"s3://{args['bucket']}/sdk2/output",
        base_job_name="sdk2",
        hyperparameters={"epochs": 3, "data_channel": "train", **hyperparameters},
        metric_definitions=METRICS,
        sagemaker_session=sess,
    )


def upload(args: dict[str, Any], sess: Session) -> str:
    data = Path(args["tmp"]) / "sdk2-train.csv"
    data.write_text("1,2\n3,4\n")
    return sess.upload_data(str(data), key_prefix="sdk2/train")  # to the default bucket, made if missing


def fit(args: dict[str, Any]) -> dict[str, Any]:
    """Estimator.fit with its logs, then the training job's analytics (its metrics from CloudWatch)."""
    sess = session(args)
    est = estimator(args, sess, x=0.5)
    est.fit({"train": upload(args, sess)}, wait=True, logs="All")
    frame = est.training_job_analytics.dataframe()
    return {
        "job": est.latest_training_job.name,
        "model_data": est.model_data,
        "status": est.latest_training_job.describe()["TrainingJobStatus"],
        "metrics": frame.to_dict("records"),
    }


def step(action: Callable[[], Any]) -> Any:
    """One step's result, or what it raised: a step that fails does not hide the ones after it."""
    try:
        return action()
    except Exception as exc:  # noqa: BLE001 - the point: report any failure of the client to the test
        return {"error": f"{type(exc).__name__}: {exc}"}


def attach(name: str, sess: Session) -> dict[str, Any]:
    """HyperparameterTuner.attach, and what a user reads back from the tuner and its estimator."""
    tuner = HyperparameterTuner.attach(name, sagemaker_session=sess)
    est = tuner.estimator
    return {
        "objective": tuner.objective_metric_name,
        "objective_type": tuner.objective_type,
        "ranges": tuner.hyperparameter_ranges(),
        "max_jobs": tuner.max_jobs,
        "max_parallel_jobs": tuner.max_parallel_jobs,
        "strategy": tuner.strategy,
        "image": est.image_uri,
        "role": est.role,
        "resources": [est.instance_type, est.instance_count, est.volume_size],
        "hyperparameters": est.hyperparameters(),
        "best": tuner.best_training_job(),
    }


def tune(args: dict[str, Any]) -> dict[str, Any]:
    """HyperparameterTuner.fit, its analytics dataframe, the best training job, attach of the tuner (the SDK's own
    tuning job, and args["attach"], one retune made) and of the best estimator."""
    sess = session(args)
    tuner = HyperparameterTuner(
        estimator(args, sess),
        objective_metric_name="loss",
        hyperparameter_ranges={"x": ContinuousParameter(0.0, 1.0)},
        metric_definitions=METRICS,
        objective_type="Minimize",
        strategy="Random",
        max_jobs=args["max_jobs"],
        max_parallel_jobs=2,
        base_tuning_job_name="sdk2",
        random_seed=11,
    )
    tuner.fit({"train": upload(args, sess)}, wait=True)
    name = tuner.latest_tuning_job.name
    frame = tuner.analytics().dataframe()

    def best_estimator() -> dict[str, Any]:
        best = tuner.best_estimator()
        return {
            "job": best.latest_training_job.name,
            "model_data": best.model_data,
            "hyperparameters": best.hyperparameters(),
            "image": best.image_uri,
        }

    return {
        "tuning_job": name,
        "analytics": json.loads(frame.to_json(orient="records")),
        "best": tuner.best_training_job(),
        "attached": step(lambda: attach(name, sess)),
        "attached_retune": step(lambda: attach(args["attach"], sess)),
        "best_estimator": step(best_estimator),
    }


def warm_start(args: dict[str, Any]) -> dict[str, Any]:
    """A tuner warm-started from a finished tuning job (WarmStartConfig, IdenticalDataAndAlgorithm), then one
    made from it with transfer_learning_tuner()."""
    sess = session(args)
    inputs = {"train": upload(args, sess)}
    identical = HyperparameterTuner(
        estimator(args, sess),
        objective_metric_name="loss",
        hyperparameter_ranges={"x": ContinuousParameter(0.0, 1.0)},
        metric_definitions=METRICS,
        objective_type="Minimize",
        strategy="Bayesian",
        max_jobs=2,
        max_parallel_jobs=1,
        base_tuning_job_name="sdk2-ws",
        warm_start_config=WarmStartConfig(
            WarmStartTypes.IDENTICAL_DATA_AND_ALGORITHM, parents={args["parent"]}
        ),
    )
    identical.fit(inputs, wait=True)
    transfer = HyperparameterTuner(
        estimator(args, sess),
        objective_metric_name="loss",
        hyperparameter_ranges={"x": ContinuousParameter(0.0, 1.0)},
        metric_definitions=METRICS,
        objective_type="Minimize",
        strategy="Random",
        max_jobs=2,
        max_parallel_jobs=2,
        base_tuning_job_name="sdk2-tl",
        warm_start_config=WarmStartConfig(
            WarmStartTypes.TRANSFER_LEARNING, parents={identical.latest_tuning_job.name}
        ),
    )
    transfer.fit(inputs, wait=True)
    # The SDK's own helper copies the tuner without its metric_definitions: with an image of one's own, SageMaker
    # refuses the request.
    helper = identical.transfer_learning_tuner()
    describe = sess.sagemaker_client.describe_hyper_parameter_tuning_job
    return {
        "identical": describe(HyperParameterTuningJobName=identical.latest_tuning_job.name),
        "transfer": describe(HyperParameterTuningJobName=transfer.latest_tuning_job.name),
        "transfer_learning_tuner": step(lambda: helper.fit(inputs, wait=False)),
    }


FLOWS = {"fit": fit, "tune": tune, "warm_start": warm_start}

if __name__ == "__main__":
    result = FLOWS[sys.argv[1]](json.loads(sys.argv[2]))
    print(json.dumps(result, default=str))
