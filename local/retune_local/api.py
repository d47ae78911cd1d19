"""LocalSageMaker: the SageMaker operations retune calls, in-process (`handle`); retune_local.http serves them over
HTTP for whoever holds the service.

Requests are checked with retune's shared validator (retune.validation) and answered in SageMaker's JSON
shapes, with datetimes as epoch seconds. Errors are `ServiceError`s carrying the code real SageMaker returns
for the call.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retune.errors import InvalidRequest
from retune.validation import ParentJob, validate_request

from retune_local import errors
from retune_local.context import Context, JobRoles, RunnerPool
from retune_local.engine import TuningJob, TuningRun, effective_seed, save_tuning, trial_name
from retune_local.events import EventBus, EventSink
from retune_local.images import ImageRegistry, ImageSpec
from retune_local.registry import Registry
from retune_local.shapes import Account, paginate
from retune_local.store import Store
from retune_local.strategies import parse_ranges
from retune_local.training import TrainingJob, TrainingJobDriver, save

log = logging.getLogger(__name__)

MAX_TAGS = 50
RESTART_REASON = "InternalServerError: the local SageMaker service restarted while the job was running"


@dataclass
class SeedTrial:
    """A finished training job for seed mode: its tuned hyperparameters and objective per epoch."""

    hyperparameters: dict[str, str]
    objective: Sequence[float] = ()
    status: str = "Completed"  # Completed, Stopped or Failed
    metrics: dict[str, float] = field(default_factory=dict)
    failure_reason: str | None = None


class LocalSageMaker:
    """A local stand-in for SageMaker that really runs training and tuning jobs.

    state_dir: where state (survives a restart) and the jobs' working directories live.
    images: TrainingImage name → ImageSpec or argv (see images.py for how URIs are matched).
    sink: receives every EventBridge event (full envelopes) on a dedicated thread, in order.
    cloudwatch / s3: boto3 clients (moto in local mode); None = no metrics published / no S3 data.
    roles: the execution roles SageMaker may assume (the local stack's); a job's data, model and metrics then go
    through clients signed as its role, its container gets the role's credentials, and a role that does not exist
    fails the request. None: every job uses `s3` and `cloudwatch`.
    deterministic: consume job reports in (virtual time, job index) order on a virtual clock; False = real
    time. max_concurrent_tuning_jobs: above it, CreateHyperParameterTuningJob gives ResourceLimitExceeded.
    warm: run Python trainers on the warm runner (fork server) rather than as fresh processes.
    median_min_jobs: how many earlier jobs the Auto median rule needs before it stops anything.
    event_copies: deliver each event this many times (SageMaker may send several per state change).
    """

    def __init__(
        self,
        state_dir: Path | str,
        images: Mapping[str, ImageSpec | Sequence[str]] | None = None,
        *,
        sink: EventSink | None = None,
        cloudwatch: Any | None = None,
        s3: Any | None = None,
        deterministic: bool = True,
        max_concurrent_tuning_jobs: int = 100,
        max_jobs_per_tuning_job: int = 750,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        warm: bool = True,
        median_min_jobs: int = 3,
        event_copies: int = 1,
        stop_grace_seconds: float = 5.0,
        endpoint_seconds: float = 1.0,
        roles: JobRoles | None = None,
    ) -> None:
        state = Path(state_dir)
        (state / "jobs").mkdir(parents=True, exist_ok=True)
        self.ctx = Context(
            account=Account(region, account_id),
            store=Store(state),
            bus=EventBus(sink, event_copies),
            images=ImageRegistry(images),
            runners=RunnerPool(warm),
            jobs_dir=state / "jobs",
            s3=s3,
            cloudwatch=cloudwatch,
            deterministic=deterministic,
            roles=roles,
            stop_grace_seconds=stop_grace_seconds,
        )
        self.max_concurrent_tuning_jobs = max_concurrent_tuning_jobs
        self.max_jobs_per_tuning_job = max_jobs_per_tuning_job
        self.median_min_jobs = median_min_jobs
        self.registry = Registry(self.ctx, endpoint_seconds)
        self._training: dict[str, TrainingJob] = {}
        self._tuning: dict[str, TuningJob] = {}
        self._runs: dict[str, TuningRun] = {}
        self._drivers: dict[str, TrainingJobDriver] = {}
        self._operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "CreateHyperParameterTuningJob": self._create_tuning_job,
            "DescribeHyperParameterTuningJob": self._describe_tuning_job,
            "ListHyperParameterTuningJobs": self._list_tuning_jobs,
            "StopHyperParameterTuningJob": self._stop_tuning_job,
            "ListTrainingJobsForHyperParameterTuningJob": self._list_training_jobs_for_tuning_job,
            "CreateTrainingJob": self._create_training_job,
            "DescribeTrainingJob": self._describe_training_job,
            "StopTrainingJob": self._stop_training_job,
            "CreateModel": self.registry.create_model,
            "CreateModelPackageGroup": self.registry.create_model_package_group,
            "DescribeModelPackageGroup": self.registry.describe_model_package_group,
            "ListModelPackageGroups": self.registry.list_model_package_groups,
            "CreateModelPackage": self.registry.create_model_package,
            "DescribeModelPackage": self.registry.describe_model_package,
            "UpdateModelPackage": self.registry.update_model_package,
            "ListModelPackages": self.registry.list_model_packages,
            "CreateEndpointConfig": self.registry.create_endpoint_config,
            "CreateEndpoint": self.registry.create_endpoint,
            "UpdateEndpoint": self.registry.update_endpoint,
            "DescribeEndpoint": self.registry.describe_endpoint,
            "AddTags": self._add_tags,
            "ListTags": self._list_tags,
        }
        self._load()

    # -- public API ------------------------------------------------------------------------------------------

    @property
    def operations(self) -> list[str]:
        return sorted(self._operations)

    def handle(self, operation: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Run one SageMaker operation. Raises ServiceError (code + message) as SageMaker would answer."""
        handler = self._operations.get(operation)
        if handler is None:
            raise errors.unknown_operation(operation)
        request = copy.deepcopy(dict(params or {}))
        if operation != "CreateHyperParameterTuningJob":  # checked with its parents, in the handler
            self._validate(operation, request)
        self._check_roles(request)
        return handler(request)

    def _check_roles(self, request: Mapping[str, Any]) -> None:
        """SageMaker assumes a job's (or a model's) execution role: one that does not exist or does not trust
        sagemaker.amazonaws.com fails the request. Checked when the service knows the account's roles."""
        roles = self.ctx.roles
        if roles is None:
            return
        definitions = [
            request.get("TrainingJobDefinition") or {},
            *(request.get("TrainingJobDefinitions") or []),
        ]
        named = [
            request.get("RoleArn"),
            request.get("ExecutionRoleArn"),
            *(d.get("RoleArn") for d in definitions),
        ]
        for role in named:
            if role and not roles.assumable(str(role)):
                raise errors.validation(
                    f"Could not assume role {role}. Please ensure that the role exists and allows principal "
                    "'sagemaker.amazonaws.com' to assume the role."
                )

    def register_image(self, name: str, spec: ImageSpec | Sequence[str]) -> ImageSpec:
        """Map a TrainingImage name (see images.py for matching) to a local command."""
        return self.ctx.images.register(name, spec)

    def resource_tags(self, arn: str) -> dict[str, str] | None:
        """The tags of the resource with this ARN (what ListTags gives), or None when no such resource exists:
        IAM's `aws:ResourceTag/<key>` condition keys."""
        with self.ctx.lock:
            try:
                tags, _ = self._tag_holder(arn)
            except errors.ServiceError:
                return None
            return {tag["Key"]: tag["Value"] for tag in tags}

    def wait_tuning_job(self, name: str, timeout: float = 120.0) -> dict[str, Any]:
        """Block until the tuning job is terminal and its driver has finished; returns its description."""

        def ended() -> bool:
            tuning = self._tuning.get(name.lower())
            run = self._runs.get(name.lower())
            return tuning is not None and tuning.terminal and (run is None or run.done.is_set())

        self._wait(ended, timeout, f"tuning job {name}")
        return self.handle("DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": name})

    def wait_training_job(self, name: str, timeout: float = 120.0) -> dict[str, Any]:
        def ended() -> bool:
            job = self._training.get(name.lower())
            driver = self._drivers.get(name.lower())
            return job is not None and job.terminal and (driver is None or driver.done.is_set())

        self._wait(ended, timeout, f"training job {name}")
        return self.handle("DescribeTrainingJob", {"TrainingJobName": name})

    def wait_endpoint(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        def settled() -> bool:
            endpoint = self.registry.endpoints.get(name.lower())
            return endpoint is not None and endpoint["EndpointStatus"] in ("InService", "Failed")

        self._wait(settled, timeout, f"endpoint {name}")
        return self.handle("DescribeEndpoint", {"EndpointName": name})

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Block until every job has ended and every event has been handed to the sink."""

        def idle() -> bool:
            return all(run.done.is_set() for run in self._runs.values()) and all(
                driver.done.is_set() for driver in self._drivers.values()
            )

        self._wait(idle, timeout, "idle")
        if not self.ctx.bus.wait_idle(timeout):
            raise TimeoutError("events still undelivered")

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
        """Block until `predicate()` holds; it is checked under the service's lock after every state
        change."""
        self._wait(predicate, timeout, what)

    def training_job_names(self) -> list[str]:
        with self.ctx.lock:
            return [job.name for job in self._training.values()]

    def close(self, timeout: float = 30.0) -> None:
        """Stop every running job, then the runners and the event bus. (Whoever started an HTTP server for the
        service stops it.)"""
        with self.ctx.lock:
            runs, drivers = list(self._runs.values()), list(self._drivers.values())
        for run in runs:
            if not run.done.is_set():
                run.request_stop()
        for driver in drivers:
            if not driver.done.is_set():
                driver.request_stop()
        for done in [*(run.done for run in runs), *(driver.done for driver in drivers)]:
            done.wait(timeout)
        self.registry.close()
        self.ctx.runners.close()
        self.ctx.bus.wait_idle(timeout)
        self.ctx.bus.close()

    def __enter__(self) -> LocalSageMaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- seed mode -------------------------------------------------------------------------------------------

    def seed_tuning_job(
        self,
        request: Mapping[str, Any],
        trials: Sequence[SeedTrial | Mapping[str, Any]],
        *,
        events: bool = False,
    ) -> dict[str, Any]:
        """Create a Completed tuning job with finished training jobs of the given results, running nothing.

        `request` is a CreateHyperParameterTuningJob request (validated as one). Each trial's objective series
        is its per-epoch objective; its metrics land in CloudWatch when a client was given. Events only if
        `events`.
        """
        params = copy.deepcopy(dict(request))
        self._validate_tuning_request(params)
        seeded = [t if isinstance(t, SeedTrial) else SeedTrial(**t) for t in trials]
        points: list[tuple[str, list[tuple[str, float]], float]] = []
        with self.ctx.lock:
            self._check_new_tuning_name(params["HyperParameterTuningJobName"])
            tuning = self._new_tuning_job(params)
            clock = tuning.creation_time
            for index, trial in enumerate(seeded, start=1):
                job = self._seeded_job(tuning, index, trial, clock, points)
                self._training[job.name.lower()] = job
                tuning.training_jobs.append(job.name)
                save(self.ctx, job, event=events)
                clock = job.training_end_time or clock
            tuning.status = "Completed"
            tuning.end_time = tuning.last_modified_time = clock
            tuning.runtime_seconds = int(clock - tuning.creation_time)
            save_tuning(self.ctx, tuning, self._lookup, event=events)
            described = copy.deepcopy(tuning.describe(self._lookup))
        for job_name, metrics, at in points:
            self.ctx.publish_metrics(job_name, metrics, at)
        return described

    def _seeded_job(
        self,
        tuning: TuningJob,
        index: int,
        trial: SeedTrial,
        start: float,
        points: list[tuple[str, list[tuple[str, float]], float]],
    ) -> TrainingJob:
        """One finished training job of seed mode, its epochs laid out on the image's virtual clock."""
        definition = tuning.definition
        objective = tuning.objective
        spe = self._seconds_per_epoch(definition)
        name = trial_name(tuning.name, index)
        request: dict[str, Any] = {
            key: definition[key]
            for key in (
                "RoleArn",
                "InputDataConfig",
                "OutputDataConfig",
                "ResourceConfig",
                "StoppingCondition",
            )
            if key in definition
        }
        request["HyperParameters"] = {
            **(definition.get("StaticHyperParameters") or {}),
            **trial.hyperparameters,
        }
        request["AlgorithmSpecification"] = definition["AlgorithmSpecification"]
        job = TrainingJob(
            name=name,
            arn=self.ctx.account.arn("training-job", name),
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
        job.objective_status = "Succeeded" if job.objective_series and job.status != "Failed" else "Failed"
        return job

    # -- internals -------------------------------------------------------------------------------------------

    def _wait(self, done: Callable[[], bool], timeout: float, what: str) -> None:
        with self.ctx.changed:
            if not self.ctx.changed.wait_for(done, timeout):
                raise TimeoutError(f"waited {timeout}s for {what}")

    def _validate(
        self, operation: str, params: Mapping[str, Any], parents: Mapping[str, ParentJob] | None = None
    ) -> None:
        try:
            validate_request(operation, params, parents=parents)
        except InvalidRequest as exc:
            raise errors.validation("; ".join(exc.errors)) from exc

    def _lookup(self, name: str) -> TrainingJob | None:
        return self._training.get(name.lower())

    def _register(self, job: TrainingJob) -> None:
        self._training[job.name.lower()] = job

    def _seconds_per_epoch(self, definition: Mapping[str, Any]) -> float:
        image = self.ctx.images.resolve(definition.get("AlgorithmSpecification", {}).get("TrainingImage", ""))
        return image.seconds_per_epoch if image else 60.0

    def _load(self) -> None:
        """Rebuild state from disk. Jobs that were running when the service went down cannot resume:
        InProgress jobs become Failed (a retryable InternalServerError), Stopping ones Stopped; each sends its
        event."""
        now = self.ctx.wall()
        with self.ctx.lock:
            for record in self.ctx.store.load("training-jobs").values():
                job = TrainingJob.from_record(record)
                self._training[job.name.lower()] = job
            for record in self.ctx.store.load("tuning-jobs").values():
                tuning = TuningJob.from_record(record)
                self._tuning[tuning.name.lower()] = tuning
            self.registry.load()
            for job in self._training.values():
                if job.status == "InProgress":
                    job.failure_reason = RESTART_REASON
                    job.retryable_failure = True
                    job.move("Failed", now, status="Failed", message=RESTART_REASON)
                elif job.status == "Stopping":
                    job.move("Stopped", now, status="Stopped")
                else:
                    continue
                if job.objective_metric is not None:
                    job.objective_status = (
                        "Succeeded" if job.objective_series and job.status != "Failed" else "Failed"
                    )
                save(self.ctx, job, event=True)
            for tuning in self._tuning.values():
                if tuning.terminal:
                    continue
                if tuning.status == "Stopping":
                    tuning.status = "Stopped"
                else:
                    tuning.status = "Failed"
                    tuning.failure_reason = RESTART_REASON
                tuning.end_time = tuning.last_modified_time = now
                save_tuning(self.ctx, tuning, self._lookup, event=True)
            self.registry.settle_pending()

    # -- tuning jobs -----------------------------------------------------------------------------------------

    def _parents(self, params: Mapping[str, Any]) -> dict[str, ParentJob]:
        parents: dict[str, ParentJob] = {}
        for item in (params.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs", []):
            name = item.get("HyperParameterTuningJobName")
            parent = self._tuning.get(str(name).lower())
            if parent is None:
                continue
            types = {r.name: r.kind for r in parse_ranges(parent.config.get("ParameterRanges"))}
            for static in parent.definition.get("StaticHyperParameters") or {}:
                types.setdefault(static, "static")
            parents[name] = ParentJob(parent.name, parent.status, parent.objective.get("MetricName"), types)
        return parents

    def _validate_tuning_request(self, params: dict[str, Any]) -> dict[str, ParentJob]:
        with self.ctx.lock:
            parents = self._parents(params)
        self._validate("CreateHyperParameterTuningJob", params, parents)
        unsupported: list[str] = [key for key in ("TrainingJobDefinitions", "Autotune") if key in params]
        if "TrainingJobDefinition" not in params:
            unsupported.append("a request without TrainingJobDefinition")
        elif "TrainingImage" not in params["TrainingJobDefinition"].get("AlgorithmSpecification", {}):
            unsupported.append("AlgorithmName (give a TrainingImage)")
        if unsupported:
            raise errors.validation(f"The local SageMaker does not support {', '.join(unsupported)}")
        return parents

    def _check_new_tuning_name(self, name: str) -> None:
        existing = self._tuning.get(name.lower())
        if existing is not None:
            raise errors.in_use(
                f"Tuning job {name} already exists ({existing.arn}): "
                "tuning job names are unique, case-insensitively"
            )

    def _new_tuning_job(self, params: dict[str, Any]) -> TuningJob:
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
        self._tuning[name.lower()] = tuning
        return tuning

    def _create_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        self._validate_tuning_request(params)
        name = params["HyperParameterTuningJobName"]
        with self.ctx.lock:
            self._check_new_tuning_name(name)
            running = sum(1 for t in self._tuning.values() if not t.terminal)
            if running >= self.max_concurrent_tuning_jobs:
                raise errors.limit_exceeded(
                    "The account-level service limit 'Number of concurrent hyperparameter tuning jobs' is "
                    f"{self.max_concurrent_tuning_jobs} Jobs, with current utilization of {running} Jobs "
                    "and a request delta of 1 Jobs. Please use AWS Service Quotas to request an increase for "
                    "this quota."
                )
            parent_jobs: list[TrainingJob] = []
            for item in (params.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs", []):
                parent = self._tuning[item["HyperParameterTuningJobName"].lower()]
                parent_jobs.extend(job for job in map(self._lookup, parent.training_jobs) if job is not None)
            limits = params["HyperParameterTuningJobConfig"]["ResourceLimits"]
            planned = int(limits.get("MaxNumberOfTrainingJobs") or 0)
            if parent_jobs and len(parent_jobs) + planned > self.max_jobs_per_tuning_job:
                raise errors.limit_exceeded(
                    f"The warm-start parents' {len(parent_jobs)} training jobs plus "
                    f"MaxNumberOfTrainingJobs {planned} "
                    f"exceed the limit of {self.max_jobs_per_tuning_job} training jobs per tuning job"
                )
            tuning = self._new_tuning_job(params)
            tuning.parent_jobs = [job.name for job in parent_jobs]
            history = [
                (dict(job.request.get("HyperParameters") or {}), job.final_objective)
                for job in parent_jobs
                if job.objective_status == "Succeeded" and job.final_objective is not None
            ]
            save_tuning(self.ctx, tuning, self._lookup, event=True)
            run = TuningRun(
                self.ctx,
                tuning,
                self._register,
                self._lookup,
                history=history,
                median_min_jobs=self.median_min_jobs,
            )
            self._runs[name.lower()] = run
        run.start()
        return {"HyperParameterTuningJobArn": tuning.arn}

    def _tuning_job(self, name: str) -> TuningJob:
        tuning = self._tuning.get(name.lower())
        if tuning is None:
            raise errors.not_found(f"Amazon SageMaker can't find a tuning job with name {name}")
        return tuning

    def _describe_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            return copy.deepcopy(
                self._tuning_job(params["HyperParameterTuningJobName"]).describe(self._lookup)
            )

    def _list_tuning_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            items = list(self._tuning.values())
            if params.get("NameContains"):
                items = [t for t in items if params["NameContains"].lower() in t.name.lower()]
            if params.get("StatusEquals"):
                items = [t for t in items if t.status == params["StatusEquals"]]
            for key, attribute, after in (
                ("CreationTimeAfter", "creation_time", True),
                ("CreationTimeBefore", "creation_time", False),
                ("LastModifiedTimeAfter", "last_modified_time", True),
                ("LastModifiedTimeBefore", "last_modified_time", False),
            ):
                if params.get(key) is not None:
                    bound = float(params[key])
                    items = [t for t in items if (getattr(t, attribute) > bound) == after]
            sort_key: Callable[[TuningJob], Any] = {
                "Name": lambda t: t.name,
                "Status": lambda t: (t.status, t.name),
                "CreationTime": lambda t: (t.creation_time, t.name),
            }[params.get("SortBy") or "Name"]
            items.sort(key=sort_key, reverse=(params.get("SortOrder") or "Ascending") == "Descending")
            return copy.deepcopy(
                paginate(
                    items,
                    params,
                    default_max=10,
                    key="HyperParameterTuningJobSummaries",
                    render=lambda t: t.summary(self._lookup),
                )
            )

    def _stop_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            tuning = self._tuning_job(params["HyperParameterTuningJobName"])
            if tuning.status == "Stopping":
                return {}
            if tuning.status != "InProgress":
                raise errors.validation(
                    f"The hyperparameter tuning job {tuning.name} is {tuning.status}: "
                    "only an InProgress job can be stopped"
                )
            run = self._runs[tuning.name.lower()]
        run.request_stop()
        return {}

    def _list_training_jobs_for_tuning_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            tuning = self._tuning_job(params["HyperParameterTuningJobName"])
            jobs = [job for job in map(self._lookup, tuning.training_jobs) if job is not None]
            if params.get("StatusEquals"):
                jobs = [job for job in jobs if job.status == params["StatusEquals"]]
            sort_by = params.get("SortBy") or "Name"
            if sort_by == "FinalObjectiveMetricValue":
                jobs = [
                    job
                    for job in jobs
                    if job.objective_status == "Succeeded" and job.final_objective is not None
                ]
            sort_key: Callable[[TrainingJob], Any] = {
                "Name": lambda j: j.name,
                "CreationTime": lambda j: (j.creation_time, j.name),
                "Status": lambda j: (j.status, j.name),
                "FinalObjectiveMetricValue": lambda j: (j.final_objective, j.name),
            }[sort_by]
            jobs.sort(key=sort_key, reverse=(params.get("SortOrder") or "Ascending") == "Descending")
            return copy.deepcopy(
                paginate(
                    jobs,
                    params,
                    default_max=10,
                    key="TrainingJobSummaries",
                    render=lambda j: j.tuning_summary(),
                )
            )

    # -- training jobs ---------------------------------------------------------------------------------------

    def _create_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TrainingJobName"]
        with self.ctx.lock:
            existing = self._training.get(name.lower())
            if existing is not None:
                raise errors.in_use(
                    "Training job names must be unique within an AWS account and region, and a training "
                    f"job with this name already exists ({existing.arn})"
                )
            if "TrainingImage" not in params.get("AlgorithmSpecification", {}):
                raise errors.validation(
                    "The local SageMaker does not support AlgorithmName: give a TrainingImage"
                )
            tags = params.pop("Tags", [])
            job = TrainingJob(
                name=name,
                arn=self.ctx.account.arn("training-job", name),
                request={k: v for k, v in params.items() if k != "TrainingJobName"},
                creation_time=self.ctx.wall(),
                tags=tags,
            )
            self._training[name.lower()] = job
            save(self.ctx, job, event=True)
            driver = TrainingJobDriver(self.ctx, job)
            self._drivers[name.lower()] = driver
        driver.start()
        return {"TrainingJobArn": job.arn}

    def _training_job(self, name: str) -> TrainingJob:
        job = self._training.get(name.lower())
        if job is None:
            # What SageMaker really answers, although its model lists ResourceNotFound.
            raise errors.validation("Requested resource not found.")
        return job

    def _describe_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            return copy.deepcopy(self._training_job(params["TrainingJobName"]).describe())

    def _stop_training_job(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            job = self._training_job(params["TrainingJobName"])
            if job.status == "Stopping":
                return {}
            if job.status != "InProgress":
                raise errors.validation(
                    f"The request was rejected because the training job is in status {job.status}."
                )
            run = self._runs.get((job.tuning_job_name or "").lower())
            driver = self._drivers.get(job.name.lower())
        if run is not None:
            run.request_stop_training_job(job.name)
        elif driver is not None:
            driver.request_stop()
        return {}

    # -- tags ------------------------------------------------------------------------------------------------

    def _tag_holder(self, arn: str) -> tuple[list[dict[str, str]], Callable[[list[dict[str, str]]], None]]:
        """The tags of the resource with this ARN, and how to store new ones."""
        lowered = arn.lower()
        job = next((j for j in self._training.values() if j.arn.lower() == lowered), None)
        if job is not None:
            training_job = job

            def store_training(tags: list[dict[str, str]]) -> None:
                training_job.tags = tags
                save(self.ctx, training_job, event=False)

            return job.tags, store_training
        tuning = next((t for t in self._tuning.values() if t.arn.lower() == lowered), None)
        if tuning is not None:
            tuning_job = tuning

            def store_tuning(tags: list[dict[str, str]]) -> None:
                tuning_job.tags = tags
                save_tuning(self.ctx, tuning_job, self._lookup, event=False)

            return tuning.tags, store_tuning
        found = self.registry.tagged(arn)
        if found is None:
            raise errors.validation(f"Resource {arn} not found.")
        kind, key, record = found

        def store(tags: list[dict[str, str]]) -> None:
            record["Tags"] = tags
            self.registry.save_tags(kind, key, record)

        return list(record.get("Tags", [])), store

    def _add_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            current, store = self._tag_holder(params["ResourceArn"])
            merged = {tag["Key"]: tag["Value"] for tag in current}
            merged.update({tag["Key"]: tag["Value"] for tag in params["Tags"]})
            if len(merged) > MAX_TAGS:
                raise errors.validation(
                    f"A resource has at most {MAX_TAGS} tags; this request would make {len(merged)}"
                )
            store([{"Key": k, "Value": v} for k, v in merged.items()])
        return {"Tags": params["Tags"]}

    def _list_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            current, _ = self._tag_holder(params["ResourceArn"])
            return copy.deepcopy(paginate(current, params, default_max=50, key="Tags", render=dict))


def default_state_dir() -> Path:
    return Path(os.environ.get("RETUNE_LOCAL_STATE", ".retune-local"))
