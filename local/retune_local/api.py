"""LocalSageMaker: the SageMaker operations retune calls, in-process (`handle`); retune_local.http serves them over
HTTP for whoever holds the service.

Requests are checked with retune's shared validator (retune.validation) and answered in SageMaker's JSON
shapes, with datetimes as epoch seconds. Errors are `ServiceError`s carrying the code real SageMaker returns
for the call. The operations live with their resources: training_jobs.py, tuning_jobs.py, registry.py (model
package groups and packages), hosting.py (models, endpoint configurations, endpoints), tags.py, seed.py.
"""

from __future__ import annotations

import copy
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from retune_local import errors
from retune_local.checks import check_objective_metric, check_roles, validate
from retune_local.context import Context, JobRoles, RunnerPool
from retune_local.events import EventBus, EventSink
from retune_local.hosting import Hosting
from retune_local.images import ImageRegistry, ImageSpec
from retune_local.records import Records
from retune_local.registry import ModelRegistry
from retune_local.seed import SeedTrial, seed_tuning_job
from retune_local.shapes import Account
from retune_local.store import Store
from retune_local.tags import Tags
from retune_local.training_jobs import TrainingJobs
from retune_local.tuning_jobs import TuningJobs

__all__ = ["LocalSageMaker", "SeedTrial", "default_state_dir"]

log = logging.getLogger(__name__)


class LocalSageMaker:
    """A local stand-in for SageMaker that really runs training and tuning jobs.

    state_dir: where state (survives a restart) and the jobs' working directories live.
    images: TrainingImage name → ImageSpec or argv (see images.py for how URIs are matched).
    sink: receives every EventBridge event (full envelopes) on a dedicated thread, in order.
    cloudwatch / s3 / logs: boto3 clients (moto in local mode); None = no metrics published / no S3 data / no
    CloudWatch Logs (the jobs' output is in their directories either way).
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
        logs: Any | None = None,
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
            logs=logs,
            deterministic=deterministic,
            roles=roles,
            stop_grace_seconds=stop_grace_seconds,
        )
        # A trial is stopped through its tuning run; the lambda finds self.tuning, made next, when called.
        self.training = TrainingJobs(self.ctx, lambda name: self.tuning.run(name))  # noqa: PLW0108
        self.tuning = TuningJobs(
            self.ctx,
            self.training,
            max_concurrent=max_concurrent_tuning_jobs,
            max_jobs=max_jobs_per_tuning_job,
            median_min_jobs=median_min_jobs,
        )
        self.records = Records(self.ctx)
        self.registry = ModelRegistry(self.ctx, self.records)
        self.hosting = Hosting(self.ctx, self.records, self.registry, endpoint_seconds)
        self.tags = Tags(self.ctx, [self.training.tagged, self.tuning.tagged, self.records.tagged])
        self._operations: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "CreateHyperParameterTuningJob": self.tuning.create,
            "DescribeHyperParameterTuningJob": self.tuning.describe,
            "ListHyperParameterTuningJobs": self.tuning.list_jobs,
            "StopHyperParameterTuningJob": self.tuning.stop,
            "ListTrainingJobsForHyperParameterTuningJob": self.tuning.list_training_jobs,
            "CreateTrainingJob": self.training.create,
            "DescribeTrainingJob": self.training.describe,
            "StopTrainingJob": self.training.stop,
            "ListTrainingJobs": self.training.list_jobs,
            "CreateModelPackageGroup": self.registry.create_group,
            "DescribeModelPackageGroup": self.registry.describe_group,
            "ListModelPackageGroups": self.registry.list_groups,
            "CreateModelPackage": self.registry.create_package,
            "DescribeModelPackage": self.registry.describe_package,
            "UpdateModelPackage": self.registry.update_package,
            "ListModelPackages": self.registry.list_packages,
            "CreateModel": self.hosting.create_model,
            "CreateEndpointConfig": self.hosting.create_endpoint_config,
            "CreateEndpoint": self.hosting.create_endpoint,
            "UpdateEndpoint": self.hosting.update_endpoint,
            "DescribeEndpoint": self.hosting.describe_endpoint,
            "AddTags": self.tags.add_tags,
            "ListTags": self.tags.list_tags,
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
            validate(operation, request)
        check_objective_metric(operation, request)
        check_roles(self.ctx.roles, request)
        return handler(request)

    def seed_tuning_job(
        self,
        request: Mapping[str, Any],
        trials: Sequence[SeedTrial | Mapping[str, Any]],
        *,
        events: bool = False,
    ) -> dict[str, Any]:
        """Create a Completed tuning job with finished training jobs of the given results, running nothing
        (seed.py)."""
        return seed_tuning_job(self.tuning, request, trials, events=events)

    def register_image(self, name: str, spec: ImageSpec | Sequence[str]) -> ImageSpec:
        """Map a TrainingImage name (see images.py for matching) to a local command."""
        return self.ctx.images.register(name, spec)

    def resource_tags(self, arn: str) -> dict[str, str] | None:
        """The tags of the resource with this ARN (what ListTags gives), or None when no such resource exists:
        IAM's `aws:ResourceTag/<key>` condition keys."""
        return self.tags.tags_of(arn)

    def training_job_names(self) -> list[str]:
        return self.training.names()

    # -- waiting ---------------------------------------------------------------------------------------------

    def wait_tuning_job(self, name: str, timeout: float = 120.0) -> dict[str, Any]:
        """Block until the tuning job is terminal and its driver has finished; returns its description."""
        self.wait_for(lambda: self.tuning.ended(name), timeout, f"tuning job {name}")
        return self.handle("DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": name})

    def wait_training_job(self, name: str, timeout: float = 120.0) -> dict[str, Any]:
        self.wait_for(lambda: self.training.ended(name), timeout, f"training job {name}")
        return self.handle("DescribeTrainingJob", {"TrainingJobName": name})

    def wait_endpoint(self, name: str, timeout: float = 30.0) -> dict[str, Any]:
        self.wait_for(lambda: self.hosting.settled(name), timeout, f"endpoint {name}")
        return self.handle("DescribeEndpoint", {"EndpointName": name})

    def wait_idle(self, timeout: float = 120.0) -> None:
        """Block until every job has ended and every event has been handed to the sink."""
        self.wait_for(lambda: self.tuning.idle() and self.training.idle(), timeout, "idle")
        if not self.ctx.bus.wait_idle(timeout):
            raise TimeoutError("events still undelivered")

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 60.0, what: str = "condition") -> None:
        """Block until `predicate()` holds; it is checked under the service's lock after every state
        change."""
        with self.ctx.changed:
            if not self.ctx.changed.wait_for(predicate, timeout):
                raise TimeoutError(f"waited {timeout}s for {what}")

    # -- lifecycle -------------------------------------------------------------------------------------------

    def close(self, timeout: float = 30.0) -> None:
        """Stop every running job, then the runners and the event bus. (Whoever started an HTTP server for the
        service stops it.)"""
        for done in [*self.tuning.stop_all(), *self.training.stop_all()]:
            done.wait(timeout)
        self.hosting.close()
        self.ctx.runners.close()
        self.ctx.bus.wait_idle(timeout)
        self.ctx.bus.close()

    def __enter__(self) -> LocalSageMaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _load(self) -> None:
        """Rebuild state from disk; jobs that were running when the service went down end, each with its
        event (TrainingJobs.recover, TuningJobs.recover), and endpoints left changing settle."""
        now = self.ctx.wall()
        with self.ctx.lock:
            self.training.load()
            self.tuning.load()
            self.records.load()
            self.registry.load()
            self.training.recover(now)
            self.tuning.recover(now)
            self.hosting.settle_pending()


def default_state_dir() -> Path:
    return Path(os.environ.get("RETUNE_LOCAL_STATE", ".retune-local"))
