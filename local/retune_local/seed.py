"""Seed mode: a Completed tuning job with finished training jobs of given results, running nothing (for tests,
replays and benchmarks that need a round's history without training it)."""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from retune_local.engine import TuningJob, trial_name, trial_resource_config
from retune_local.training import TrainingJob, save
from retune_local.tuning_jobs import TuningJobs

# (training job name, [(metric, value)], epoch seconds): what goes to CloudWatch once the jobs are stored.
MetricPoints = list[tuple[str, list[tuple[str, float]], float]]


@dataclass
class SeedTrial:
    """A finished training job for seed mode: its tuned hyperparameters and objective per epoch."""

    hyperparameters: dict[str, str]
    objective: Sequence[float] = ()
    status: str = "Completed"  # Completed, Stopped or Failed
    metrics: dict[str, float] = field(default_factory=dict)
    failure_reason: str | None = None


def seed_tuning_job(
    tunings: TuningJobs,
    request: Mapping[str, Any],
    trials: Sequence[SeedTrial | Mapping[str, Any]],
    *,
    events: bool = False,
) -> dict[str, Any]:
    """`request` is a CreateHyperParameterTuningJob request (validated as one). Each trial's objective series is
    its per-epoch objective; its metrics land in CloudWatch when the service has a client. Events only if
    `events`. Returns the tuning job's description."""
    ctx = tunings.ctx
    params = copy.deepcopy(dict(request))
    tunings.validate_request(params)
    seeded = [t if isinstance(t, SeedTrial) else SeedTrial(**t) for t in trials]
    points: MetricPoints = []
    with ctx.lock:
        tunings.check_new_name(params["HyperParameterTuningJobName"])
        tuning = tunings.new_job(params)
        clock = tuning.creation_time
        spe = _seconds_per_epoch(tunings, tuning.definition)
        for index, trial in enumerate(seeded, start=1):
            job = _seeded_job(tunings, tuning, index, trial, clock, spe, points)
            tunings.training.add(job)
            tuning.training_jobs.append(job.name)
            save(ctx, job, event=events)
            clock = job.training_end_time or clock
        tuning.status = "Completed"
        tuning.end_time = tuning.last_modified_time = clock
        tuning.runtime_seconds = int(clock - tuning.creation_time)
        tunings.save(tuning, event=events)
        described = tunings.describe_job(tuning)
    for job_name, metrics, at in points:
        ctx.publish_metrics(job_name, metrics, at)
    return described


def _seconds_per_epoch(tunings: TuningJobs, definition: Mapping[str, Any]) -> float:
    image = tunings.ctx.images.resolve(definition.get("AlgorithmSpecification", {}).get("TrainingImage", ""))
    return image.seconds_per_epoch if image else 60.0


def _seeded_job(
    tunings: TuningJobs,
    tuning: TuningJob,
    index: int,
    trial: SeedTrial,
    start: float,
    spe: float,
    points: MetricPoints,
) -> TrainingJob:
    """One finished training job of seed mode, its epochs laid out on the image's virtual clock."""
    definition = tuning.definition
    objective = tuning.objective
    name = trial_name(tuning.name, index)
    request: dict[str, Any] = {
        key: definition[key]
        for key in (
            "RoleArn",
            "InputDataConfig",
            "OutputDataConfig",
            "StoppingCondition",
        )
        if key in definition
    }
    request["HyperParameters"] = {**(definition.get("StaticHyperParameters") or {}), **trial.hyperparameters}
    resources = trial_resource_config(definition)
    if resources is not None:
        request["ResourceConfig"] = resources
    request["AlgorithmSpecification"] = definition["AlgorithmSpecification"]
    job = TrainingJob(
        name=name,
        arn=tunings.ctx.account.arn("training-job", name),
        request=request,
        creation_time=start,
        tuning_job_name=tuning.name,
        tuning_job_arn=tuning.arn,
        tuned_hyperparameters=dict(trial.hyperparameters),
        objective_metric=objective["MetricName"],
        objective_type=objective["Type"],
    )
    job.training_start_time = start
    job.move("Training", start)
    end = start + max(1, len(trial.objective)) * spe
    job.objective_series = [float(v) for v in trial.objective]
    for epoch, value in enumerate(job.objective_series, start=1):
        points.append((name, [(objective["MetricName"], value)], start + epoch * spe))
    job.record_metrics([(objective["MetricName"], v) for v in job.objective_series], end)
    if trial.metrics:
        job.record_metrics(list(trial.metrics.items()), end)
        points.append((name, list(trial.metrics.items()), end))
    if trial.status == "Failed":
        job.failure_reason = trial.failure_reason or "AlgorithmError: seeded failure"
        job.move("Failed", end, status="Failed", message=job.failure_reason)
    elif trial.status == "Stopped":
        job.move("Stopped", end, status="Stopped")
    else:
        output = definition.get("OutputDataConfig", {}).get("S3OutputPath", "s3://local")
        job.model_artifacts = f"{output.rstrip('/')}/{name}/output/model.tar.gz"
        job.move("Completed", end, status="Completed")
    job.finish_times(end, end - start, 0.0)
    job.settle_objective()
    return job
