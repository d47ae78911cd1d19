"""Tuning jobs that really run: the record DescribeHyperParameterTuningJob renders, and the driver that
launches training jobs, consumes their epochs in the scheduler's order, stops them by AMT's rules and ends the
tuning job.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from retune_local.context import Context
from retune_local.events import TUNING_JOB_STATE_CHANGE, envelope, tuning_job_detail
from retune_local.rules import CompletionTracker, Hyperband, hyperband_config, median_rule_stops, worse
from retune_local.scheduler import Command, Epoch, Finished, Scheduler, StopDone, Timeout
from retune_local.strategies import SearchSpace, Strategy, Suggestion, parse_ranges
from retune_local.training import (
    TERMINAL,
    TUNING_OBJECTIVE_HYPERPARAMETER,
    JobRun,
    TrainingJob,
    apply_epoch,
    finish,
    save,
    summary_status_counts,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_JOBS = 750
FAIL_FAST_JOBS = 3
# Keys of a HyperParameterTrainingJobDefinition that each training job request carries over.
_DEFINITION_KEYS = (
    "RoleArn",
    "InputDataConfig",
    "VpcConfig",
    "OutputDataConfig",
    "StoppingCondition",
    "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "RetryStrategy",
    "Environment",
)


def trial_resource_config(definition: Mapping[str, Any]) -> dict[str, Any] | None:
    """A trial's ResourceConfig: the definition's, or one built from its HyperParameterTuningResourceConfig. With
    InstanceConfigs, the first: AllocationStrategy Prioritized is their order of preference, and the local machine
    has every instance type (docs/local-sagemaker.md, "What AWS's own clients see")."""
    if definition.get("ResourceConfig"):
        return dict(definition["ResourceConfig"])
    flexible = definition.get("HyperParameterTuningResourceConfig")
    if not flexible:
        return None
    chosen = (flexible.get("InstanceConfigs") or [flexible])[0]
    resources = {k: chosen[k] for k in ("InstanceType", "InstanceCount", "VolumeSizeInGB") if k in chosen}
    if flexible.get("VolumeKmsKeyId"):
        resources["VolumeKmsKeyId"] = flexible["VolumeKmsKeyId"]
    return resources


def described_resource_config(definition: Mapping[str, Any]) -> dict[str, Any] | None:
    """The ResourceConfig DescribeHyperParameterTuningJob answers in a definition given only a
    HyperParameterTuningResourceConfig: its single-instance fields (what the SDK v2 sends, and whose attach reads
    them). InstanceConfigs have no one ResourceConfig, so none (docs/local-sagemaker.md, "What AWS's own clients
    see")."""
    flexible = definition.get("HyperParameterTuningResourceConfig")
    if definition.get("ResourceConfig") or not flexible or flexible.get("InstanceConfigs"):
        return None
    keys = ("InstanceType", "InstanceCount", "VolumeSizeInGB", "VolumeKmsKeyId")
    return {key: flexible[key] for key in keys if key in flexible} or None


@dataclass
class TuningJob:
    name: str
    arn: str
    config: dict[str, Any]
    definition: dict[str, Any]
    creation_time: float
    seed: int
    warm_start: dict[str, Any] | None = None
    tags: list[dict[str, str]] = field(default_factory=list)
    status: str = "InProgress"
    end_time: float | None = None
    last_modified_time: float = 0.0
    failure_reason: str | None = None
    training_jobs: list[str] = field(default_factory=list)
    parent_jobs: list[str] = field(default_factory=list)
    not_improving: int = 0
    convergence_time: float | None = None
    runtime_seconds: int = 0
    completion_reason: str | None = None

    def __post_init__(self) -> None:
        self.last_modified_time = self.last_modified_time or self.creation_time

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TuningJob:
        return cls(**record)

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def objective(self) -> dict[str, str]:
        return dict(self.config["HyperParameterTuningJobObjective"])

    @property
    def minimize(self) -> bool:
        return self.objective["Type"] == "Minimize"

    def describe(self, lookup: Callable[[str], TrainingJob | None]) -> dict[str, Any]:
        jobs = [job for job in (lookup(name) for name in self.training_jobs) if job is not None]
        training_counts, objective_counts = summary_status_counts(jobs)
        definition = {
            **self.definition,
            "StaticHyperParameters": {
                **(self.definition.get("StaticHyperParameters") or {}),
                TUNING_OBJECTIVE_HYPERPARAMETER: self.objective["MetricName"],
            },
        }
        resources = described_resource_config(self.definition)
        if resources is not None:
            definition["ResourceConfig"] = resources
        response: dict[str, Any] = {
            "HyperParameterTuningJobName": self.name,
            "HyperParameterTuningJobArn": self.arn,
            "HyperParameterTuningJobConfig": self.config,
            "TrainingJobDefinition": definition,
            "HyperParameterTuningJobStatus": self.status,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "TrainingJobStatusCounters": training_counts,
            "ObjectiveStatusCounters": objective_counts,
            "TuningJobCompletionDetails": {"NumberOfTrainingJobsObjectiveNotImproving": self.not_improving},
            "ConsumedResources": {"RuntimeInSeconds": self.runtime_seconds},
        }
        if self.convergence_time is not None:
            response["TuningJobCompletionDetails"]["ConvergenceDetectedTime"] = self.convergence_time
        if self.end_time is not None:
            response["HyperParameterTuningEndTime"] = self.end_time
        if self.failure_reason:
            response["FailureReason"] = self.failure_reason
        if self.warm_start:
            response["WarmStartConfig"] = self.warm_start
        best = best_job(jobs, self.minimize)
        if best is not None:
            response["BestTrainingJob"] = best.tuning_summary()
        if self.warm_start and self.warm_start.get("WarmStartType") == "IdenticalDataAndAlgorithm":
            parents = [job for job in (lookup(name) for name in self.parent_jobs) if job is not None]
            overall = best_job([*jobs, *parents], self.minimize)
            if overall is not None:
                response["OverallBestTrainingJob"] = overall.tuning_summary()
        return response

    def summary(self, lookup: Callable[[str], TrainingJob | None]) -> dict[str, Any]:
        jobs = [job for job in (lookup(name) for name in self.training_jobs) if job is not None]
        training_counts, objective_counts = summary_status_counts(jobs)
        summary: dict[str, Any] = {
            "HyperParameterTuningJobName": self.name,
            "HyperParameterTuningJobArn": self.arn,
            "HyperParameterTuningJobStatus": self.status,
            "Strategy": self.config["Strategy"],
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "TrainingJobStatusCounters": training_counts,
            "ObjectiveStatusCounters": objective_counts,
            "ResourceLimits": self.config["ResourceLimits"],
        }
        if self.end_time is not None:
            summary["HyperParameterTuningEndTime"] = self.end_time
        return summary


def best_job(jobs: Sequence[TrainingJob], minimize: bool) -> TrainingJob | None:
    """The job with the best final objective among those whose objective counted; the earliest on a tie."""
    best: TrainingJob | None = None
    for job in jobs:
        value = job.final_objective
        if job.objective_status != "Succeeded" or value is None:
            continue
        if best is None or worse(best.final_objective, value, minimize):  # type: ignore[arg-type]
            best = job
    return best


def save_tuning(
    ctx: Context, tuning: TuningJob, lookup: Callable[[str], TrainingJob | None], *, event: bool
) -> None:
    with ctx.lock:
        ctx.store.put("tuning-jobs", tuning.name.lower(), tuning.to_record())
        if event:
            detail = tuning_job_detail(tuning.describe(lookup), tuning.tags)
            ctx.bus.publish(
                envelope(ctx.account, TUNING_JOB_STATE_CHANGE, tuning.arn, tuning.last_modified_time, detail)
            )
        ctx.changed.notify_all()


def effective_seed(config: Mapping[str, Any], name: str, deterministic: bool) -> int:
    """RandomSeed when given; in the deterministic mode one derived from the job's name, else a random one."""
    if config.get("RandomSeed") is not None:
        return int(config["RandomSeed"])
    if deterministic:
        return int(hashlib.sha256(name.lower().encode()).hexdigest()[:8], 16)
    return random.SystemRandom().randrange(2**31)


def trial_name(tuning: str, index: int) -> str:
    """AMT's naming rule: <tuning job>-<3 digits>-<8 hex>; the hex part is derived from the name and index."""
    digest = hashlib.sha256(f"{tuning.lower()}/{index}".encode()).hexdigest()[:8]
    return f"{tuning}-{index:03d}-{digest}"


@dataclass
class Trial:
    index: int
    run: JobRun
    suggestion: Suggestion
    start_at: float
    bracket: int | None = None
    stopping: str | None = None  # the secondary status a stop ends in: Stopped or MaxRuntimeExceeded

    @property
    def job(self) -> TrainingJob:
        return self.run.job


class TuningRun:
    """Drives one tuning job on its own thread until it is Completed, Stopped or Failed."""

    def __init__(
        self,
        ctx: Context,
        tuning: TuningJob,
        register: Callable[[TrainingJob], None],
        lookup: Callable[[str], TrainingJob | None],
        *,
        history: Sequence[tuple[Mapping[str, str], float]] = (),
        median_min_jobs: int = 3,
    ) -> None:
        self.ctx = ctx
        self.tuning = tuning
        self._register = register
        self._lookup = lookup
        self.median_min_jobs = median_min_jobs
        config = tuning.config
        self.minimize = tuning.minimize
        self.metric = tuning.objective["MetricName"]
        self.space = SearchSpace(parse_ranges(config.get("ParameterRanges")))
        self.strategy_name = config["Strategy"]
        self.strategy = Strategy(self.strategy_name, self.space, tuning.seed, self.minimize)
        self.seeded = self.strategy.seed_history(history)
        limits = config["ResourceLimits"]
        self.parallel = int(limits["MaxParallelTrainingJobs"])
        if self.strategy_name == "Grid":
            self.max_jobs = self.space.grid_size()
        else:
            self.max_jobs = int(limits.get("MaxNumberOfTrainingJobs") or DEFAULT_MAX_JOBS)
        self.max_runtime = limits.get("MaxRuntimeInSeconds")
        self.early_stopping = config.get("TrainingJobEarlyStoppingType", "Off") == "Auto"
        static = tuning.definition.get("StaticHyperParameters") or {}
        self.hyperband: Hyperband | None = (
            hyperband_config(config, static) if self.strategy_name == "Hyperband" else None
        )
        self.tracker = CompletionTracker.from_config(config, self.minimize)
        self.scheduler: Scheduler = ctx.scheduler()
        self.scheduler.origin = tuning.creation_time
        self.trials: list[Trial] = []
        self.active: dict[int, Trial] = {}
        self.closing: str | None = None  # the status the tuning job ends in, once decided
        self._thread = threading.Thread(target=self._drive, name=f"tuning-{tuning.name}", daemon=True)
        self.done = threading.Event()

    # -- API side --------------------------------------------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self.scheduler.command(Command("stop-tuning-job"))

    def request_stop_training_job(self, name: str) -> None:
        self.scheduler.command(Command("stop-training-job", name))

    # -- driver ----------------------------------------------------------------------------------------------

    def _drive(self) -> None:
        try:
            self.scheduler.set_deadline(None if self.max_runtime is None else float(self.max_runtime))
            self._fill()
            while self.active:
                item = self.scheduler.next()
                at = self.scheduler.clock()
                event = item.event
                if isinstance(event, Command):
                    self._command(event, at)
                elif isinstance(event, Timeout):
                    if event.job is None:
                        self._close("Completed", "MaxRuntimeInSeconds", at)
                    else:
                        trial = self.active.get(event.job.index)
                        if trial is not None and trial.stopping is None:
                            self._stop(trial, "MaxRuntimeExceeded", "MaxRuntime", at)
                else:
                    trial = self.active.get(item.job.index) if item.job is not None else None
                    if trial is None:
                        continue  # the job already ended: nothing it reports counts any more
                    if isinstance(event, Epoch):
                        self._epoch(trial, event, at)
                    else:
                        self._terminal(trial, event, at)
                self._fill()
            self._end()
        except Exception as exc:
            log.exception("tuning job %s failed", self.tuning.name)
            self._abort(f"InternalServerError: {exc}")
        finally:
            self.done.set()
            self.ctx.notify()

    def _command(self, command: Command, at: float) -> None:
        if command.name == "stop-tuning-job":
            if self.closing is None:
                with self.ctx.lock:
                    self.tuning.status = "Stopping"
                    self.tuning.last_modified_time = at
                save_tuning(self.ctx, self.tuning, self._lookup, event=True)
                self._close("Stopped", None, at)
        elif command.name == "stop-training-job":
            for trial in self.active.values():
                if trial.job.name.lower() == str(command.argument).lower() and trial.stopping is None:
                    self._stop(trial, "Stopped", "User", at)

    def _can_launch(self) -> bool:
        return self.closing is None and len(self.active) < self.parallel and len(self.trials) < self.max_jobs

    def _fill(self) -> None:
        while self._can_launch():
            suggestion = self.strategy.suggest()
            if suggestion is None:
                self.max_jobs = len(self.trials)
                return
            self._launch(suggestion)

    def _launch(self, suggestion: Suggestion) -> None:
        index = len(self.trials) + 1
        definition = self.tuning.definition
        algorithm = definition["AlgorithmSpecification"]
        request: dict[str, Any] = {key: definition[key] for key in _DEFINITION_KEYS if key in definition}
        # AMT's reserved `_tuning_objective_metric` joins these in TrainingJob.hyperparameters (describe, events, and
        # the container: the built-in algorithms evaluate and early-stop on it).
        request["HyperParameters"] = {
            **(definition.get("StaticHyperParameters") or {}),
            **suggestion.hyperparameters,
        }
        resources = trial_resource_config(definition)
        if resources is not None:
            request["ResourceConfig"] = resources
        request["AlgorithmSpecification"] = {
            key: algorithm[key]
            for key in ("TrainingImage", "AlgorithmName", "TrainingInputMode", "MetricDefinitions")
            if key in algorithm
        }
        name = trial_name(self.tuning.name, index)
        at = self.scheduler.clock()
        job = TrainingJob(
            name=name,
            arn=self.ctx.account.arn("training-job", name),
            request=request,
            creation_time=at,
            tuning_job_name=self.tuning.name,
            tuning_job_arn=self.tuning.arn,
            tuned_hyperparameters=suggestion.hyperparameters,
            objective_metric=self.metric,
            objective_type=self.tuning.objective["Type"],
            objective_status="Pending",
        )
        run = JobRun(self.ctx, job, index, self.scheduler, self.metric)
        max_runtime = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        start = self.scheduler.at(
            self.scheduler.add(run, None if max_runtime is None else float(max_runtime))
        )
        run.start_at = start
        trial = Trial(
            index, run, suggestion, start, self.hyperband.bracket(index) if self.hyperband else None
        )
        self.trials.append(trial)
        self.active[index] = trial
        with self.ctx.lock:
            self._register(job)
            self.tuning.training_jobs.append(name)
            self.tuning.last_modified_time = at
            save(self.ctx, job, event=True)
            save_tuning(self.ctx, self.tuning, self._lookup, event=False)
        run.start()

    def _stop(self, trial: Trial, secondary: str, cause: str, at: float) -> None:
        trial.stopping = secondary
        with self.ctx.lock:
            trial.job.stop_cause = cause
            trial.job.move("Stopping", at, status="Stopping")
            save(self.ctx, trial.job, event=True)
        self.scheduler.stopped(trial.run)
        trial.run.stop()

    def _epoch(self, trial: Trial, epoch: Epoch, at: float) -> None:
        apply_epoch(self.ctx, trial.run, epoch, at)
        if trial.stopping is not None or epoch.objective is None or self.closing is not None:
            return
        value, number = epoch.objective, len(trial.job.objective_series)
        if self.early_stopping:
            previous = [t.job.objective_series for t in self.trials[: trial.index - 1]]
            if median_rule_stops(value, number, previous, self.minimize, self.median_min_jobs):
                self._stop(trial, "Stopped", "EarlyStopping", at)
                return
        if self.hyperband is not None and trial.bracket is not None:
            if number >= self.hyperband.max_resource:
                self._stop(trial, "Stopped", "MaxResource", at)
            elif number in self.hyperband.rungs(trial.bracket):
                competing = [
                    t.job.objective_series[number - 1]
                    for t in self.trials[: trial.index - 1]
                    if t.bracket == trial.bracket and len(t.job.objective_series) >= number
                ]
                if not self.hyperband.promoted(value, competing, self.minimize):
                    self._stop(trial, "Stopped", "Hyperband", at)

    def _terminal(self, trial: Trial, event: Finished | StopDone, at: float) -> None:
        finish(self.ctx, trial.run, event, at=at, start=trial.start_at, stop_secondary=trial.stopping)
        self.active.pop(trial.index, None)
        self.scheduler.remove(trial.run)
        job = trial.job
        value = job.final_objective if job.objective_status == "Succeeded" else None
        self.strategy.tell(trial.suggestion, value)
        met = None
        if value is not None:
            met = self.tracker.observe(value)
        with self.ctx.lock:
            self.tuning.not_improving = self.tracker.not_improving
            if self.tracker.converged and self.tuning.convergence_time is None:
                self.tuning.convergence_time = at
            self.tuning.last_modified_time = at
            self.tuning.runtime_seconds = int(at - self.tuning.creation_time)
            save_tuning(self.ctx, self.tuning, self._lookup, event=False)
        if met is not None and self.closing is None:
            self._close("Completed", met, at)
        self._fail_fast(at)

    def _fail_fast(self, at: float) -> None:
        """retune's rule: when the first jobs all fail without an objective, the tuning job fails."""
        if self.closing is not None:
            return
        first = self.trials[: min(FAIL_FAST_JOBS, self.max_jobs)]
        if len(first) < min(FAIL_FAST_JOBS, self.max_jobs) or any(not t.job.terminal for t in first):
            return
        if all(t.job.status == "Failed" for t in first):
            self._close(
                "Failed",
                None,
                at,
                f"The first {len(first)} training jobs failed: {first[0].job.failure_reason}",
            )

    def _close(self, status: str, reason: str | None, at: float, failure: str | None = None) -> None:
        """Decide how the tuning job ends: launch nothing more and stop every running job."""
        if self.closing is not None:
            return
        self.closing = status
        with self.ctx.lock:
            self.tuning.completion_reason = reason
            if failure:
                self.tuning.failure_reason = failure
        for trial in list(self.active.values()):
            if trial.stopping is None:
                self._stop(trial, "Stopped", "TuningJobEnded", at)

    def _end(self) -> None:
        at = self.scheduler.clock()
        for trial in self.trials:
            with contextlib.suppress(RuntimeError):
                trial.run.join(timeout=30)
        with self.ctx.lock:
            status = self.closing or "Completed"
            if status == "Completed" and best_job([t.job for t in self.trials], self.minimize) is None:
                status = "Failed"
                self.tuning.failure_reason = (
                    self.tuning.failure_reason or "No training job reported the objective metric"
                )
            self.tuning.status = status
            self.tuning.end_time = at
            self.tuning.last_modified_time = at
            self.tuning.runtime_seconds = int(at - self.tuning.creation_time)
            save_tuning(self.ctx, self.tuning, self._lookup, event=True)

    def _abort(self, reason: str) -> None:
        for trial in list(self.active.values()):
            with contextlib.suppress(Exception):
                trial.run.stop()
        with self.ctx.lock:
            at = self.ctx.wall()
            for trial in self.trials:
                if not trial.job.terminal:
                    trial.job.failure_reason = reason
                    trial.job.retryable_failure = True
                    trial.job.objective_status = "Failed"
                    trial.job.move("Failed", at, status="Failed", message=reason)
                    save(self.ctx, trial.job, event=True)
            self.tuning.status = "Failed"
            self.tuning.failure_reason = reason
            self.tuning.end_time = at
            self.tuning.last_modified_time = at
            save_tuning(self.ctx, self.tuning, self._lookup, event=True)
