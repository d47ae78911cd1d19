"""The one recipe for the use cases' dependencies: every use case's deps from the ports and the settings.

Production (`retune.wiring`: AWS adapters), the tests' worlds (fakes, moto) and the CLI all compose here, so a new
dependency is added here once. Each deps is built at its first use, importing its own use case then, from only the
ports that use case talks to: a function imports only the use cases it runs, and builds only the clients it needs
(its cold start).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from retune.ports import AlertPort, Clock, EventBusPort, KeepingPort, MetricsPort, RegistryPort
    from retune.store import Store
    from retune.use_cases.close_round import CloseRoundDeps
    from retune.use_cases.promote import PromoteDeps
    from retune.use_cases.reconcile import QueuePort, ReconcileDeps
    from retune.use_cases.record_trial import MetricSeriesPort, RecordTrialDeps
    from retune.use_cases.start_round import StartRoundDeps
    from retune.use_cases.stop_round import StopRoundDeps
    from retune.use_cases.track import TrackDeps, TrackerPort


class Ports(Protocol):
    """What the use cases talk to. Read only when a use case's deps are built: production's build each on first
    read."""

    @property
    def store(self) -> Store: ...
    @property
    def bucket(self) -> KeepingPort: ...
    @property
    def sagemaker(self) -> RegistryPort: ...
    @property
    def alerts(self) -> AlertPort: ...
    @property
    def bus(self) -> EventBusPort: ...
    @property
    def metric_series(self) -> MetricSeriesPort: ...
    @property
    def queues(self) -> QueuePort: ...
    @property
    def metrics(self) -> MetricsPort: ...
    @property
    def clock(self) -> Clock: ...
    @property
    def sagemaker_model(self) -> Any:
        """SageMaker's botocore service model, shared with the client; None: the validator loads it once."""


class UseCaseSettings(Protocol):
    """What the use cases read of the configuration: `retune.settings.Settings` in the functions."""

    @property
    def data_bucket(self) -> str: ...
    @property
    def sagemaker_role_arn(self) -> str: ...
    @property
    def region(self) -> str | None: ...
    @property
    def parked_queue_urls(self) -> tuple[str, ...]: ...
    @property
    def stall_factor(self) -> float: ...


@dataclass
class Composition:
    """Every use case's deps over one set of ports, each built once (Reconcile runs the others on theirs)."""

    ports: Ports
    settings: UseCaseSettings

    # Each property imports its own use case: importing this module imports none of them.
    @cached_property
    def start_round(self) -> StartRoundDeps:
        from retune.use_cases.start_round import StartRoundDeps  # noqa: PLC0415

        ports, settings = self.ports, self.settings
        return StartRoundDeps(
            store=ports.store,
            bucket=ports.bucket,
            sagemaker=ports.sagemaker,
            alerts=ports.alerts,
            clock=ports.clock,
            data_bucket=settings.data_bucket,
            role_arn=settings.sagemaker_role_arn,
            metrics=ports.metrics,
            service_model=ports.sagemaker_model,
        )

    @cached_property
    def record_trial(self) -> RecordTrialDeps:
        from retune.use_cases.record_trial import RecordTrialDeps  # noqa: PLC0415

        ports = self.ports
        return RecordTrialDeps(
            store=ports.store,
            sagemaker=ports.sagemaker,
            metric_series=ports.metric_series,
            clock=ports.clock,
            metrics=ports.metrics,
            bus=_DeferredBus(ports),
        )

    @cached_property
    def close_round(self) -> CloseRoundDeps:
        from retune.use_cases.close_round import CloseRoundDeps  # noqa: PLC0415

        ports, settings = self.ports, self.settings
        return CloseRoundDeps(
            store=ports.store,
            sagemaker=ports.sagemaker,
            bucket=ports.bucket,
            alerts=ports.alerts,
            bus=ports.bus,
            record=self.record_trial,
            clock=ports.clock,
            data_bucket=settings.data_bucket,
            role_arn=settings.sagemaker_role_arn,
            region=settings.region,
            metrics=ports.metrics,
        )

    @cached_property
    def promote(self) -> PromoteDeps:
        from retune.use_cases.promote import PromoteDeps  # noqa: PLC0415

        ports, settings = self.ports, self.settings
        return PromoteDeps(
            store=ports.store,
            sagemaker=ports.sagemaker,
            bucket=ports.bucket,
            alerts=ports.alerts,
            bus=ports.bus,
            clock=ports.clock,
            data_bucket=settings.data_bucket,
            role_arn=settings.sagemaker_role_arn,
            region=settings.region,
            metrics=ports.metrics,
        )

    @cached_property
    def stop_round(self) -> StopRoundDeps:
        """`retune stop`'s (the CLI's only: no function stops a round; Reconcile finishes an interrupted stop's
        incumbents with `stop_round.stop_incumbent` on its own deps)."""
        from retune.use_cases.stop_round import StopRoundDeps  # noqa: PLC0415

        ports = self.ports
        return StopRoundDeps(store=ports.store, sagemaker=ports.sagemaker, clock=ports.clock)

    @cached_property
    def reconcile(self) -> ReconcileDeps:
        from retune.use_cases.reconcile import ReconcileDeps  # noqa: PLC0415

        ports, settings = self.ports, self.settings
        return ReconcileDeps(
            store=ports.store,
            start=self.start_round,
            close=self.close_round,
            promote=self.promote,
            queues=ports.queues,
            alerts=ports.alerts,
            clock=ports.clock,
            parked_queue_urls=settings.parked_queue_urls,
            stall_factor=settings.stall_factor,
            metrics=ports.metrics,
        )

    def track(self, tracker: TrackerPort, sagemaker_arn_prefix: str | None = None) -> TrackDeps:
        """Track's deps over `tracker` (the tracking server: the function's from its environment, the CLI's
        from its options), built anew for each: the server is not one of the ports."""
        from retune.use_cases.track import TrackDeps  # noqa: PLC0415

        ports = self.ports
        return TrackDeps(
            store=ports.store,
            tracker=tracker,
            metrics=ports.metrics,
            clock=ports.clock,
            sagemaker_arn_prefix=sagemaker_arn_prefix,
        )


class _DeferredBus:
    """The event bus, built at its first put: RecordTrial puts only when a round's last incumbent ends, so its
    cold start builds no client for it."""

    def __init__(self, ports: Ports) -> None:
        self._ports = ports

    def put(self, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> None:
        self._ports.bus.put(detail_type, detail, resources)


def compose(ports: Ports, settings: UseCaseSettings) -> Composition:
    """The use cases' deps over `ports`; each is built when first read."""
    return Composition(ports, settings)
