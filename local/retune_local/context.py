"""What the service's parts share: the lock, the store, the event bus, the clients, the runners and the
mode."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from botocore.exceptions import BotoCoreError, ClientError

from retune_local.events import EventBus
from retune_local.images import ImageRegistry, ImageSpec
from retune_local.runner import ForkServerRunner, Runner, SubprocessRunner
from retune_local.scheduler import DeterministicScheduler, RealTimeScheduler, Scheduler
from retune_local.shapes import Account
from retune_local.store import Store

log = logging.getLogger(__name__)

METRICS_NAMESPACE = "/aws/sagemaker/TrainingJobs"
_PUT_METRIC_DATA_MAX = 1000


class RunnerPool:
    """One runner per image: warm (a fork server with the image's preload) when the image and the service
    allow."""

    def __init__(self, warm: bool) -> None:
        self._warm = warm
        self._plain = SubprocessRunner()
        self._servers: dict[tuple[tuple[str, ...], tuple[tuple[str, str], ...]], ForkServerRunner] = {}
        self._lock = threading.Lock()

    def for_image(self, image: ImageSpec) -> Runner:
        if not (self._warm and image.warm):
            return self._plain
        key = (image.preload, tuple(sorted(image.env.items())))
        with self._lock:
            runner = self._servers.get(key)
            if runner is None:
                runner = ForkServerRunner(image.preload, {**os.environ, **image.env})
                self._servers[key] = runner
            return runner

    def close(self) -> None:
        with self._lock:
            runners = list(self._servers.values())
            self._servers.clear()
        for runner in runners:
            runner.close()


class JobRoles(Protocol):
    """The execution roles SageMaker may assume for a job (the local stack's IAM principals): SageMaker reads a
    job's data, writes its model and metrics, and gives its container credentials, all as the job's role."""

    def assumable(self, role_arn: str) -> bool:
        """The role exists and trusts sagemaker.amazonaws.com."""
        ...

    def client(self, role_arn: str, service: str) -> Any:
        """A boto3 client signed as the role's SageMaker session."""
        ...

    def environment(self, role_arn: str) -> dict[str, str]:
        """What the job's container gets to call AWS as the role: its credentials and the local endpoints."""
        ...


class Driver(Protocol):
    """What runs a job on its own thread (a TuningRun, a TrainingJobDriver)."""

    done: threading.Event

    def request_stop(self) -> None: ...


@dataclass
class Context:
    account: Account
    store: Store
    bus: EventBus
    images: ImageRegistry
    runners: RunnerPool
    jobs_dir: Path
    s3: Any | None
    cloudwatch: Any | None
    deterministic: bool
    roles: JobRoles | None = (
        None  # None: every job uses `s3`, `cloudwatch` and `logs` (the service on its own)
    )
    logs: Any | None = None
    stop_grace_seconds: float = 5.0
    base_env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    lock: threading.RLock = field(default_factory=threading.RLock)
    changed: threading.Condition = field(init=False)
    wall: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        self.changed = threading.Condition(self.lock)

    def scheduler(self) -> Scheduler:
        origin = self.wall()
        return DeterministicScheduler(origin) if self.deterministic else RealTimeScheduler(origin)

    def stop_drivers(self, drivers: Mapping[str, Driver]) -> list[threading.Event]:
        """Ask each driver still running to stop; returns every driver's `done`, to wait on."""
        with self.lock:
            every = list(drivers.values())
        for driver in every:
            if not driver.done.is_set():
                driver.request_stop()
        return [driver.done for driver in every]

    def notify(self) -> None:
        with self.changed:
            self.changed.notify_all()

    def s3_for(self, role_arn: str | None) -> Any:
        """The S3 client SageMaker uses for a job: signed as its execution role in the local stack."""
        return self.roles.client(role_arn, "s3") if self.roles and role_arn else self.s3

    def cloudwatch_for(self, role_arn: str | None) -> Any:
        return self.roles.client(role_arn, "cloudwatch") if self.roles and role_arn else self.cloudwatch

    def logs_for(self, role_arn: str | None) -> Any:
        """The CloudWatch Logs client SageMaker writes a job's output with: as its execution role in the stack."""
        return self.roles.client(role_arn, "logs") if self.roles and role_arn else self.logs

    def publish_metrics(
        self,
        job_name: str,
        metrics: Sequence[tuple[str, float]],
        timestamp: float,
        role_arn: str | None = None,
    ) -> None:
        """Each value to CloudWatch under /aws/sagemaker/TrainingJobs, dimension TrainingJobName, as SageMaker
        does (with the job's execution role)."""
        cloudwatch = self.cloudwatch_for(role_arn)
        if cloudwatch is None or not metrics:
            return
        data = [
            {
                "MetricName": name,
                "Dimensions": [{"Name": "TrainingJobName", "Value": job_name}],
                "Timestamp": datetime.fromtimestamp(timestamp, tz=UTC),
                "Value": value,
                "Unit": "None",
            }
            for name, value in metrics
        ]
        for start in range(0, len(data), _PUT_METRIC_DATA_MAX):
            try:
                cloudwatch.put_metric_data(
                    Namespace=METRICS_NAMESPACE, MetricData=data[start : start + _PUT_METRIC_DATA_MAX]
                )
            except (ClientError, BotoCoreError) as exc:
                # SageMaker's metric delivery is best effort too: the job goes on.
                log.warning("could not publish metrics of %s: %s", job_name, exc)
