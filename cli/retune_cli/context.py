"""One command's context: its options, the target (resolved on first use), and retune's own adapters on it.

The CLI talks to the store, the bucket, the registry and the topic through the same `retune` adapters the
functions use, so what it reads and writes is exactly what they read and write.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

from retune.errors import InvalidInput, NotFound

from retune_cli.errors import CliError
from retune_cli.target import EVENT_BUS, Target, resolve

if TYPE_CHECKING:
    from retune.adapters.cloudwatch import Metrics
    from retune.adapters.eventbus import EventBus
    from retune.adapters.s3 import Bucket
    from retune.adapters.sagemaker import SageMaker
    from retune.adapters.sns import Topic
    from retune.adapters.sqs import Queues
    from retune.composition import Composition
    from retune.ports import Clock, MetricsPort
    from retune.profile import Profile
    from retune.store import Store
    from retune.use_cases.promote import PromoteDeps


@dataclass
class Context:
    args: argparse.Namespace
    _target: Target | None = field(default=None)

    @property
    def json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    @cached_property
    def target(self) -> Target:
        if self._target is not None:
            return self._target
        a = self.args
        return resolve(
            getattr(a, "stack", None),
            getattr(a, "endpoints_file", None),
            getattr(a, "region", None),
            getattr(a, "aws_profile", None),
        )

    @cached_property
    def store(self) -> Store:
        from retune.store import Store  # noqa: PLC0415
        from retune.table import DynamoTable  # noqa: PLC0415

        return Store(DynamoTable(self.target.client("dynamodb"), self.target.resource("StateTable")))

    @cached_property
    def bucket(self) -> Bucket:
        from retune.adapters.s3 import Bucket  # noqa: PLC0415

        return Bucket(self.target.client("s3"))

    @cached_property
    def sagemaker(self) -> SageMaker:
        from retune.adapters.sagemaker import SageMaker  # noqa: PLC0415

        return SageMaker(self.target.client("sagemaker"))

    @cached_property
    def topic(self) -> Topic:
        from retune.adapters.sns import Topic  # noqa: PLC0415

        # The functions' idempotency table: an alert the CLI publishes is published once per key, as theirs are.
        return Topic(
            self.target.client("sns"),
            self.target.resource("AlertsTopic"),
            self.target.resource("IdempotencyTable"),
            dynamodb_client=self.target.client("dynamodb"),
        )

    @cached_property
    def event_bus(self) -> EventBus:
        from retune.adapters.eventbus import EventBus  # noqa: PLC0415

        return EventBus(self.target.client("events"), EVENT_BUS)

    @cached_property
    def composition(self) -> Composition:
        """retune's use cases on the target, composed as the functions compose theirs (for the commands that run
        one: `retune promote`)."""
        from retune.composition import compose  # noqa: PLC0415

        return compose(_TargetPorts(self), _TargetSettings(self.target))

    def promote_deps(self) -> PromoteDeps:
        return self.composition.promote

    def profile(self, name: str) -> tuple[Profile, str]:
        """The profile as StartRound reads it from the bucket, with its S3 version."""
        from retune.profile import profile_key, read_profile  # noqa: PLC0415

        try:
            return read_profile(self.bucket, self.target.bucket, name)
        except NotFound:
            key = profile_key(name)
            raise CliError(f"no profile {name}: s3://{self.target.bucket}/{key} does not exist") from None
        except InvalidInput as exc:
            raise CliError(
                f"profile {name} in the bucket is invalid: {'; '.join(exc.errors)} "
                f"(check it with `retune profile validate`)"
            ) from None

    def client(self, service: str) -> Any:
        return self.target.client(service)


class _TargetPorts:
    """The use cases' ports (`retune.composition.Ports`) on the target: the context's adapters, each built at its
    first read."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx

    @property
    def store(self) -> Store:
        return self._ctx.store

    @property
    def bucket(self) -> Bucket:
        return self._ctx.bucket

    @property
    def sagemaker(self) -> SageMaker:
        return self._ctx.sagemaker

    @property
    def alerts(self) -> Topic:
        return self._ctx.topic

    @property
    def bus(self) -> EventBus:
        return self._ctx.event_bus

    @property
    def metric_series(self) -> Metrics:
        from retune.adapters.cloudwatch import Metrics  # noqa: PLC0415

        return Metrics(self._ctx.client("cloudwatch"))

    @property
    def queues(self) -> Queues:
        from retune.adapters.sqs import Queues  # noqa: PLC0415

        return Queues(self._ctx.client("sqs"))

    @property
    def metrics(self) -> MetricsPort:
        from retune.ports import NoMetrics  # noqa: PLC0415

        return NoMetrics()  # the functions' metrics are theirs: a command counts none

    @property
    def clock(self) -> Clock:
        from retune.timeutil import utcnow  # noqa: PLC0415

        return utcnow

    @property
    def sagemaker_model(self) -> Any:
        return self._ctx.client("sagemaker").meta.service_model


class _TargetSettings:
    """What the use cases read of the functions' settings (`retune.composition.UseCaseSettings`), on the target."""

    def __init__(self, target: Target) -> None:
        self._target = target

    # Reconcile's settings, as the functions' defaults: the CLI runs no Reconcile.
    @property
    def parked_queue_urls(self) -> tuple[str, ...]:
        return ()

    @property
    def stall_factor(self) -> float:
        from retune.settings import Settings  # noqa: PLC0415

        return float(Settings.model_fields["stall_factor"].default)

    @property
    def data_bucket(self) -> str:
        return self._target.bucket

    @property
    def sagemaker_role_arn(self) -> str:
        return self._target.resource("SageMakerRole")

    @property
    def region(self) -> str | None:
        return None if self._target.local else self._target.region  # the local stack has no console to link
