"""The composition root in AWS: the use cases' ports as boto3 adapters, built once per execution environment.

boto3 reads `AWS_ENDPOINT_URL_<SERVICE>` from the environment, which is how the local stand-ins are reached:
nothing here knows whether it runs in AWS or locally. What each use case gets is `retune.composition`'s, as in the
tests' worlds and the CLI.
"""

from __future__ import annotations

from functools import cache, cached_property
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from retune.adapters.cloudwatch import Metrics
from retune.adapters.eventbus import EventBus
from retune.adapters.s3 import Bucket
from retune.adapters.sagemaker import SageMaker
from retune.adapters.sns import Topic
from retune.adapters.sqs import Queues
from retune.composition import Composition, compose
from retune.observability import PowertoolsMetrics
from retune.ports import Clock
from retune.settings import get_settings
from retune.store import Store
from retune.table import DynamoTable
from retune.timeutil import utcnow

if TYPE_CHECKING:
    from retune.use_cases.close_round import CloseRoundDeps
    from retune.use_cases.promote import PromoteDeps
    from retune.use_cases.reconcile import ReconcileDeps
    from retune.use_cases.record_trial import RecordTrialDeps
    from retune.use_cases.start_round import StartRoundDeps
    from retune.use_cases.track import TrackDeps

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)


@cache
def session() -> boto3.session.Session:
    """One session for every client: each new session reads botocore's endpoint and service data again, which
    made a client cost about three times as much (benchmarks/cold_start.py)."""
    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    return session().client(service, config=_CONFIG)  # type: ignore[call-overload]


class AwsPorts:
    """`retune.composition.Ports` on AWS, each adapter (and its client) built at its first read: a function
    creates only the clients of the ports its use cases talk to."""

    @cached_property
    def store(self) -> Store:
        return Store(DynamoTable(client("dynamodb"), get_settings().state_table))

    @cached_property
    def bucket(self) -> Bucket:
        return Bucket(client("s3"))

    @cached_property
    def sagemaker(self) -> SageMaker:
        return SageMaker(client("sagemaker"))

    @cached_property
    def alerts(self) -> Topic:
        settings = get_settings()
        return Topic(
            client("sns"),
            settings.alerts_topic_arn,
            settings.idempotency_table,
            dynamodb_client=client("dynamodb"),
        )

    @cached_property
    def bus(self) -> EventBus:
        return EventBus(client("events"), get_settings().event_bus_name)

    @cached_property
    def metric_series(self) -> Metrics:
        return Metrics(client("cloudwatch"))

    @cached_property
    def queues(self) -> Queues:
        return Queues(client("sqs"))

    @cached_property
    def metrics(self) -> PowertoolsMetrics:
        return PowertoolsMetrics()

    @property
    def clock(self) -> Clock:
        return utcnow

    @property
    def sagemaker_model(self) -> Any:
        return client("sagemaker").meta.service_model


@cache
def composition() -> Composition:
    return compose(AwsPorts(), get_settings())


def start_round_deps() -> StartRoundDeps:
    return composition().start_round


def record_trial_deps() -> RecordTrialDeps:
    return composition().record_trial


def close_round_deps() -> CloseRoundDeps:
    return composition().close_round


def promote_deps() -> PromoteDeps:
    return composition().promote


def reconcile_deps() -> ReconcileDeps:
    return composition().reconcile


@cache
def track_deps(sagemaker_arn_prefix: str | None = None) -> TrackDeps:
    """Track's deps: the tracking server of TRACKING_SERVER, signed with the function's credentials when it is a
    SageMaker managed one."""
    from retune.adapters.mlflow import MlflowRest  # noqa: PLC0415
    from retune.settings import SettingsError  # noqa: PLC0415

    server = get_settings().tracking_server
    if not server:
        raise SettingsError("the function's environment is incomplete: TRACKING_SERVER is not set")
    try:
        tracker = MlflowRest(server, session().get_credentials() if server.startswith("arn:") else None)
    except ValueError as exc:
        raise SettingsError(str(exc)) from exc
    return composition().track(tracker, sagemaker_arn_prefix)
