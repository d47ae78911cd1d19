"""The SageMaker Python SDK v3's flows, run by the clients-sdk3 venv's Python (not by pytest): `python sdk3_flows.py
<flow> '<json args>'`. v3 replaces v2's Estimator with ModelTrainer (sagemaker.train) and keeps a
HyperparameterTuner (sagemaker.train.tuner, `tune()` instead of `fit()`); it has no `attach` classmethods: a job
that already exists is read with sagemaker-core's resources (`HyperParameterTuningJob.get`, `TrainingJob.get`).

Offline settings, as for v2 (docs/local-sagemaker.md): the role is an ARN and the bucket is named.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sagemaker.core.helper.session_helper import Session
from sagemaker.core.parameter import ContinuousParameter
from sagemaker.core.resources import HyperParameterTuningJob, TrainingJob
from sagemaker.core.shapes import HyperParameterTuningJobWarmStartConfig, ParentHyperParameterTuningJob
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import Compute, InputData, MetricDefinition, OutputDataConfig, StoppingCondition
from sagemaker.train.tuner import HyperparameterTuner

METRICS = [{"Name": "loss", "Regex": r"loss=([-+0-9.eE]+)"}]


def step(action: Callable[[], Any]) -> Any:
    """One step's result, or what it raised: a step that fails does not hide the ones after it."""
    try:
        return action()
    except Exception as exc:  # noqa: BLE001 - the point: report any failure of the client to the test
        return {"error": f"{type(exc).__name__}: {exc}"}


def session(args: dict[str, Any]) -> Session:
    return Session(default_bucket=args["bucket"])


def trainer(args: dict[str, Any], sess: Session, **hyperparameters: Any) -> ModelTrainer:
    return ModelTrainer(
        training_image=args["image"],
        role=args["role"],
        sagemaker_session=sess,
        base_job_name="sdk3",
        compute=Compute(instance_type="ml.m5.large", instance_count=1, volume_size_in_gb=1),
        stopping_condition=StoppingCondition(max_runtime_in_seconds=600),
        output_data_config=OutputDataConfig(s3_output_path=f"s3://{args['bucket']}/sdk3/output"),
        hyperparameters={"epochs": 3, "data_channel": "train", **hyperparameters},
    ).with_metric_definitions([MetricDefinition(name=m["Name"], regex=m["Regex"]) for m in METRICS])


def upload(args: dict[str, Any], sess: Session) -> str:
    data = Path(args["tmp"]) / "sdk3-train.csv"
    data.write_text("1,2\n3,4\n")
    return sess.upload_data(str(data), key_prefix="sdk3/train")  # to the default bucket, made if missing


def fit(args: dict[str, Any]) -> dict[str, Any]:
    """ModelTrainer.train with its logs; the job read back with TrainingJob.get."""
    sess = session(args)
    model_trainer = trainer(args, sess, x=0.5)
    model_trainer.train(
        input_data_config=[InputData(channel_name="train", data_source=upload(args, sess))], logs=True
    )
    job = model_trainer._latest_training_job
    got = TrainingJob.get(job.training_job_name, session=sess.boto_session)
    return {
        "job": got.training_job_name,
        "status": got.training_job_status,
        "model_data": got.model_artifacts.s3_model_artifacts,
        "hyperparameters": got.hyper_parameters,
    }


def tune(args: dict[str, Any]) -> dict[str, Any]:
    """HyperparameterTuner.tune, its analytics dataframe, the best training job, the tuning job and the best job
    read back (v3's attach)."""
    sess = session(args)
    tuner = HyperparameterTuner(
        model_trainer=trainer(args, sess),
        objective_metric_name="loss",
        hyperparameter_ranges={"x": ContinuousParameter(0.0, 1.0)},
        metric_definitions=METRICS,
        objective_type="Minimize",
        strategy="Random",
        max_jobs=args["max_jobs"],
        max_parallel_jobs=2,
        base_tuning_job_name="sdk3",
        random_seed=13,
    )
    tuner.tune(inputs={"train": upload(args, sess)}, wait=True)
    name = tuner.latest_tuning_job.hyper_parameter_tuning_job_name

    def attached() -> dict[str, Any]:
        job = HyperParameterTuningJob.get(name, session=sess.boto_session)
        config = job.hyper_parameter_tuning_job_config
        return {
            "status": job.hyper_parameter_tuning_job_status,
            "objective": config.hyper_parameter_tuning_job_objective.metric_name,
            "max_jobs": config.resource_limits.max_number_of_training_jobs,
            "image": job.training_job_definition.algorithm_specification.training_image,
            "static": job.training_job_definition.static_hyper_parameters,
            "best": job.best_training_job.training_job_name,
        }

    def best_job() -> dict[str, Any]:
        job = TrainingJob.get(tuner.best_training_job(), session=sess.boto_session)
        return {
            "job": job.training_job_name,
            "model_data": job.model_artifacts.s3_model_artifacts,
            "resource_config": job.resource_config.instance_type if job.resource_config else None,
            "tuning_job_arn": job.tuning_job_arn,
        }

    return {
        "tuning_job": name,
        "analytics": step(lambda: json.loads(tuner.analytics().dataframe().to_json(orient="records"))),
        "best": step(tuner.best_training_job),
        "attached": step(attached),
        "best_job": step(best_job),
    }


def warm_start(args: dict[str, Any]) -> dict[str, Any]:
    """A tuner warm-started from a finished tuning job: with a WarmStartConfig (IdenticalDataAndAlgorithm), and
    with transfer_learning_tuner() of a tuner that ran."""
    sess = session(args)
    inputs = {"train": upload(args, sess)}
    identical = HyperparameterTuner(
        model_trainer=trainer(args, sess),
        objective_metric_name="loss",
        hyperparameter_ranges={"x": ContinuousParameter(0.0, 1.0)},
        metric_definitions=METRICS,
        objective_type="Minimize",
        strategy="Bayesian",
        max_jobs=2,
        max_parallel_jobs=1,
        base_tuning_job_name="sdk3-ws",
        warm_start_config=HyperParameterTuningJobWarmStartConfig(
            warm_start_type="IdenticalDataAndAlgorithm",
            parent_hyper_parameter_tuning_jobs=[
                ParentHyperParameterTuningJob(hyper_parameter_tuning_job_name=args["parent"])
            ],
        ),
    )
    identical.tune(inputs=inputs, wait=True)
    # v3.27's transfer_learning_tuner() fails in the SDK itself (it builds HyperParameterTuningJobWarmStartConfig
    # with a `parents` field the model does not have): the same tuner, written out.
    transfer = HyperparameterTuner(
        model_trainer=trainer(args, sess),
        objective_metric_name="loss",
        hyperparameter_ranges={"x": ContinuousParameter(0.0, 1.0)},
        metric_definitions=METRICS,
        objective_type="Minimize",
        strategy="Random",
        max_jobs=2,
        max_parallel_jobs=2,
        base_tuning_job_name="sdk3-tl",
        warm_start_config=HyperParameterTuningJobWarmStartConfig(
            warm_start_type="TransferLearning",
            parent_hyper_parameter_tuning_jobs=[
                ParentHyperParameterTuningJob(
                    hyper_parameter_tuning_job_name=identical.latest_tuning_job.hyper_parameter_tuning_job_name
                )
            ],
        ),
    )
    transfer.tune(inputs=inputs, wait=True)

    def described(tuner: HyperparameterTuner) -> dict[str, Any]:
        name = tuner.latest_tuning_job.hyper_parameter_tuning_job_name
        return sess.sagemaker_client.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)

    return {"identical": described(identical), "transfer": described(transfer)}


FLOWS = {"fit": fit, "tune": tune, "warm_start": warm_start}

if __name__ == "__main__":
    # v3 logs a job's output (train(logs=True)) at INFO and leaves logging to the application, as here.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    result = FLOWS[sys.argv[1]](json.loads(sys.argv[2]))
    print(json.dumps(result, default=str))
