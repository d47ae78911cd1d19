"""The tuning job operations: Create, Describe, List and Stop HyperParameterTuningJob(s), and
ListTrainingJobsForHyperParameterTuningJob. The tuning job itself and its driver are in engine.py."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from typing import Any

from retune.validation import ParentJob

from retune_local import errors
from retune_local.checks import check_builtin_tuning, validate
from retune_local.context import Context
from retune_local.engine import TuningJob, TuningRun, effective_seed, save_tuning
from retune_local.shapes import paginate, sort_by, within_times
from retune_local.strategies import parse_ranges
from retune_local.tags import Tagged, tagged_among
from retune_local.training import TrainingJob
from retune_local.training_jobs import RESTART_REASON, TrainingJobs

# SortBy of ListHyperParameterTuningJobs and of ListTrainingJobsForHyperParameterTuningJob; ties in name order.
_TUNING_JOB_ORDERS: dict[str, Callable[[TuningJob], Any]] = {
    "Name": lambda t: t.name,
    "Status": lambda t: (t.status, t.name),
    "CreationTime": lambda t: (t.creation_time, t.name),
}
_TRAINING_JOB_ORDERS: dict[str, Callable[[TrainingJob], Any]] = {
    "Name": lambda j: j.name,
    "CreationTime": lambda j: (j.creation_time, j.name),
    "Status": lambda j: (j.status, j.name),
    "FinalObjectiveMetricValue": lambda j: (j.final_objective, j.name),
}


class TuningJobs:
    """max_concurrent: above it, CreateHyperParameterTuningJob gives ResourceLimitExceeded. max_jobs: the training
    jobs a tuning job may have, its warm-start parents' included. median_min_jobs: how many earlier jobs the Auto
    median rule needs before it stops anything."""

    def __init__(
        self,
        ctx: Context,
        training: TrainingJobs,
        *,
        max_concurrent: int,
        max_jobs: int,
        median_min_jobs: int,
    ) -> None:
        self.ctx = ctx
        self.training = training
        self.max_concurrent = max_concurrent
        self.max_jobs = max_jobs
        self.median_min_jobs = median_min_jobs
        self.jobs: dict[str, TuningJob] = {}  # by lowercased name
        self.runs: dict[str, TuningRun] = {}

    def run(self, name: str) -> TuningRun | None:
        return self.runs.get(name.lower())

    def save(self, tuning: TuningJob, *, event: bool) -> None:
        save_tuning(self.ctx, tuning, self.training.get, event=event)

    def describe_job(self, tuning: TuningJob) -> dict[str, Any]:
        return copy.deepcopy(tuning.describe(self.training.get))

    # -- creating --------------------------------------------------------------------------------------------

    def _parents(self, params: Mapping[str, Any]) -> dict[str, ParentJob]:
        parents: dict[str, ParentJob] = {}
        for item in (params.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs", []):
            name = item.get("HyperParameterTuningJobName")
            parent = self.jobs.get(str(name).lower())
            if parent is None:
                continue
            types = {r.name: r.kind for r in parse_ranges(parent.config.get("ParameterRanges"))}
            for static in parent.definition.get("StaticHyperParameters") or {}:
                types.setdefault(static, "static")
            parents[name] = ParentJob(parent.name, parent.status, parent.objective.get("MetricName"), types)
        return parents

    def validate_request(self, params: dict[str, Any]) -> dict[str, ParentJob]:
        """A CreateHyperParameterTuningJob request, checked with its warm-start parents, and what the local
        service runs."""
        with self.ctx.lock:
            parents = self._parents(params)
        validate("CreateHyperParameterTuningJob", params, parents)
        unsupported: list[str] = [key for key in ("TrainingJobDefinitions", "Autotune") if key in params]
        if "TrainingJobDefinition" not in params:
            unsupported.append("a request without TrainingJobDefinition")
        elif "TrainingImage" not in params["TrainingJobDefinition"].get("AlgorithmSpecification", {}):
            unsupported.append("AlgorithmName (give a TrainingImage)")
        if unsupported:
            raise errors.validation(f"The local SageMaker does not support {', '.join(unsupported)}")
        check_builtin_tuning(params)
        return parents

    def check_new_name(self, name: str) -> None:
        existing = self.jobs.get(name.lower())
        if existing is not None:
            raise errors.in_use(
                f"Tuning job {name} already exists ({existing.arn}): "
                "tuning job names are unique, case-insensitively"
            )

    def new_job(self, params: dict[str, Any]) -> TuningJob:
        name = params["HyperParameterTuningJobName"]
        config = params["HyperParameterTuningJobConfig"]
        tuning = TuningJob(
            name=name,
            arn=self.ctx.account.arn("hyper-parameter-tuning-job", name),
            config=config,
            definition=params["TrainingJobDefinition"],
            creation_time=self.ctx.wall(),
            seed=effective_seed(config, name, self.ctx.deterministic),
            warm_start=params.get("WarmStartConfig"),
            tags=params.get("Tags", []),
        )
        self.jobs[name.lower()] = tuning
        return tuning

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        self.validate_request(params)
        name = params["HyperParameterTuningJobName"]
        with self.ctx.lock:
            self.check_new_name(name)
            running = sum(1 for t in self.jobs.values() if not t.terminal)
            if running >= self.max_concurrent:
                raise errors.limit_exceeded(
                    "The account-level service limit 'Number of concurrent hyperparameter tuning jobs' is "
                    f"{self.max_concurrent} Jobs, with current utilization of {running} Jobs "
                    "and a request delta of 1 Jobs. Please use AWS Service Quotas to request an increase for "
                    "this quota."
                )
            parent_jobs: list[TrainingJob] = []
            for item in (params.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs", []):
                parent = self.jobs[item["HyperParameterTuningJobName"].lower()]
                parent_jobs.extend(self._training_jobs(parent))
            limits = params["HyperParameterTuningJobConfig"]["ResourceLimits"]
            planned = int(limits.get("MaxNumberOfTrainingJobs") or 0)
            if parent_jobs and len(parent_jobs) + planned > self.max_jobs:
                raise errors.limit_exceeded(
                    f"The warm-start parents' {len(parent_jobs)} training jobs plus "
                    f"MaxNumberOfTrainingJobs {planned} "
                    f"exceed the limit of {self.max_jobs} training jobs per tuning job"
                )
            tuning = self.new_job(params)
            tuning.parent_jobs = [job.name for job in parent_jobs]
            history = [
                (dict(job.request.get("HyperParameters") or {}), job.final_objective)
                for job in parent_jobs
                if job.objective_status == "Succeeded" and job.final_objective is not None
            ]
            self.save(tuning, event=True)
            run = TuningRun(
                self.ctx,
                tuning,
                self.training.add,
                self.training.get,
                history=history,
                median_min_jobs=self.median_min_jobs,
            )
            self.runs[name.lower()] = run
        run.start()
        return {"HyperParameterTuningJobArn": tuning.arn}

    # -- reading ---------------------------------------------------------------------------------------------

    def _job(self, name: str) -> TuningJob:
        tuning = self.jobs.get(name.lower())
        if tuning is None:
            raise errors.not_found(f"Amazon SageMaker can't find a tuning job with name {name}")
        return tuning

    def _training_jobs(self, tuning: TuningJob) -> list[TrainingJob]:
        return [job for job in map(self.training.get, tuning.training_jobs) if job is not None]

    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            return self.describe_job(self._job(params["HyperParameterTuningJobName"]))

    def list_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            items = list(self.jobs.values())
            if params.get("NameContains"):
                items = [t for t in items if params["NameContains"].lower() in t.name.lower()]
            if params.get("StatusEquals"):
                items = [t for t in items if t.status == params["StatusEquals"]]
            items = sort_by(within_times(items, params), params, _TUNING_JOB_ORDERS, "Name")
            return copy.deepcopy(
                paginate(
                    items,
                    params,
                    default_max=10,
                    key="HyperParameterTuningJobSummaries",
                    render=lambda t: t.summary(self.training.get),
                )
            )

    def list_training_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            jobs = self._training_jobs(self._job(params["HyperParameterTuningJobName"]))
            if params.get("StatusEquals"):
                jobs = [job for job in jobs if job.status == params["StatusEquals"]]
            if params.get("SortBy") == "FinalObjectiveMetricValue":
                jobs = [
                    job
                    for job in jobs
                    if job.objective_status == "Succeeded" and job.final_objective is not None
                ]
            jobs = sort_by(jobs, params, _TRAINING_JOB_ORDERS, "Name")
            return copy.deepcopy(
                paginate(
                    jobs,
                    params,
                    default_max=10,
                    key="TrainingJobSummaries",
                    render=lambda j: j.tuning_summary(),
                )
            )

    def tagged(self, arn: str) -> Tagged | None:
        return tagged_among(self.jobs.values(), arn, lambda tuning: self.save(tuning, event=False))

    # -- stopping and waiting --------------------------------------------------------------------------------

    def stop(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            tuning = self._job(params["HyperParameterTuningJobName"])
            if tuning.status == "Stopping":
                return {}
            if tuning.status != "InProgress":
                raise errors.validation(
                    f"The hyperparameter tuning job {tuning.name} is {tuning.status}: "
                    "only an InProgress job can be stopped"
                )
            run = self.runs[tuning.name.lower()]
        run.request_stop()
        return {}

    def ended(self, name: str) -> bool:
        """The tuning job is terminal and its driver (if it runs here) has finished."""
        tuning = self.jobs.get(name.lower())
        run = self.run(name)
        return tuning is not None and tuning.terminal and (run is None or run.done.is_set())

    def idle(self) -> bool:
        return all(run.done.is_set() for run in self.runs.values())

    def stop_all(self) -> list[threading.Event]:
        return self.ctx.stop_drivers(self.runs)

    # -- restart ---------------------------------------------------------------------------------------------

    def load(self) -> None:
        for record in self.ctx.store.load("tuning-jobs").values():
            tuning = TuningJob.from_record(record)
            self.jobs[tuning.name.lower()] = tuning

    def recover(self, now: float) -> None:
        """A tuning job that was running when the service went down cannot resume: Stopping ones end Stopped,
        InProgress ones Failed (a retryable InternalServerError); each sends its event."""
        for tuning in self.jobs.values():
            if tuning.terminal:
                continue
            if tuning.status == "Stopping":
                tuning.status = "Stopped"
            else:
                tuning.status = "Failed"
                tuning.failure_reason = RESTART_REASON
            tuning.end_time = tuning.last_modified_time = now
            self.save(tuning, event=True)
