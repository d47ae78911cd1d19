"""The composition root: AWS clients and use-case dependencies, built once per execution environment.

boto3 reads `AWS_ENDPOINT_URL_<SERVICE>` from the environment, which is how the local stand-ins are reached:
nothing here knows whether it runs in AWS or locally.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from retune.adapters.cloudwatch import Metrics
from retune.adapters.eventbus import EventBus
from retune.adapters.s3 import Bucket
from retune.adapters.sagemaker import SageMaker
from retune.adapters.sns import Topic
from retune.adapters.sqs import Queues
from retune.observability import PowertoolsMetrics
from retune.settings import get_settings
from retune.store import Store
from retune.table import DynamoTable
from retune.timeutil import utcnow

# Each factory imports its own use case: a function imports only the use cases it runs (its cold start).
if TYPE_CHECKING:
    from retune.use_cases.close_round import CloseRoundDeps
    from retune.use_cases.promote import PromoteDeps
    from retune.use_cases.reconcile import ReconcileDeps
    from retune.use_cases.record_trial import RecordTrialDeps
    from retune.use_cases.start_round import StartRoundDeps

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)


@cache
def session() -> boto3.session.Session:
    """One session for every client: each new session reads botocore's endpoint and service data again, which
    made a client cost about three times as much (benchmarks/cold_start.py)."""
    return boto3.session.Session()


@cache
def client(service: str) -> Any:
    return session().client(service, config=_CONFIG)  # type: ignore[call-overload]


@cache
def store() -> Store:
    return Store(DynamoTable(client("dynamodb"), get_settings().state_table))


@cache
def topic() -> Topic:
    settings = get_settings()
    return Topic(
        client("sns"),
        settings.alerts_topic_arn,
        settings.idempotency_table,
        dynamodb_client=client("dynamodb"),
    )


@cache
def sagemaker() -> SageMaker:
    return SageMaker(client("sagemaker"))


@cache
def start_round_deps() -> StartRoundDeps:
    from retune.use_cases.start_round import StartRoundDeps  # noqa: PLC0415

    settings = get_settings()
    return StartRoundDeps(
        store=store(),
        bucket=Bucket(client("s3")),
        sagemaker=sagemaker(),
        alerts=topic(),
        clock=utcnow,
        data_bucket=settings.data_bucket,
        role_arn=settings.sagemaker_role_arn,
        metrics=PowertoolsMetrics(),
        service_model=client("sagemaker").meta.service_model,
    )


@cache
def record_trial_deps() -> RecordTrialDeps:
    from retune.use_cases.record_trial import RecordTrialDeps  # noqa: PLC0415

    return RecordTrialDeps(
        store=store(),
        sagemaker=sagemaker(),
        metric_series=Metrics(client("cloudwatch")),
        clock=utcnow,
        metrics=PowertoolsMetrics(),
    )


@cache
def event_bus() -> EventBus:
    return EventBus(client("events"), get_settings().event_bus_name)


@cache
def close_round_deps() -> CloseRoundDeps:
    from retune.use_cases.close_round import CloseRoundDeps  # noqa: PLC0415

    settings = get_settings()
    return CloseRoundDeps(
        store=store(),
        sagemaker=sagemaker(),
        bucket=Bucket(client("s3")),
        alerts=topic(),
        bus=event_bus(),
        record=record_trial_deps(),
        clock=utcnow,
        data_bucket=settings.data_bucket,
        role_arn=settings.sagemaker_role_arn,
        region=settings.region,
        metrics=PowertoolsMetrics(),
    )


@cache
def promote_deps() -> PromoteDeps:
    from retune.use_cases.promote import PromoteDeps  # noqa: PLC0415

    settings = get_settings()
    return PromoteDeps(
        store=store(),
        sagemaker=sagemaker(),
        bucket=Bucket(client("s3")),
        alerts=topic(),
        bus=event_bus(),
        clock=utcnow,
        data_bucket=settings.data_bucket,
        role_arn=settings.sagemaker_role_arn,
        region=settings.region,
        metrics=PowertoolsMetrics(),
    )


@cache
def reconcile_deps() -> ReconcileDeps:
    from retune.use_cases.reconcile import ReconcileDeps  # noqa: PLC0415

    settings = get_settings()
    return ReconcileDeps(
        store=store(),
        start=start_round_deps(),
        close=close_round_deps(),
        promote=promote_deps(),
        queues=Queues(client("sqs")),
        alerts=topic(),
        clock=utcnow,
        parked_queue_urls=settings.parked_queue_urls,
        stall_factor=settings.stall_factor,
        metrics=PowertoolsMetrics(),
    )
