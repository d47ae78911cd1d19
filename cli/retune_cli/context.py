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
    from retune.adapters.eventbus import EventBus
    from retune.adapters.s3 import Bucket
    from retune.adapters.sagemaker import SageMaker
    from retune.adapters.sns import Topic
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

    def promote_deps(self) -> PromoteDeps:
        from retune.timeutil import utcnow  # noqa: PLC0415
        from retune.use_cases.promote import PromoteDeps  # noqa: PLC0415

        return PromoteDeps(
            store=self.store,
            sagemaker=self.sagemaker,
            bucket=self.bucket,
            alerts=self.topic,
            bus=self.event_bus,
            clock=utcnow,
            data_bucket=self.target.bucket,
            role_arn=self.target.resource("SageMakerRole"),
            region=None if self.target.local else self.target.region,
        )

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
