"""The composition root: AWS clients and use-case dependencies, built once per execution environment.

boto3 reads `AWS_ENDPOINT_URL_<SERVICE>` from the environment, which is how the local stand-ins are reached:
nothing here knows whether it runs in AWS or locally.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import boto3
from botocore.config import Config

from retune.adapters.s3 import Bucket
from retune.adapters.sagemaker import SageMaker
from retune.adapters.sns import Topic
from retune.observability import PowertoolsMetrics
from retune.settings import get_settings
from retune.store import Store
from retune.table import DynamoTable
from retune.timeutil import utcnow
from retune.use_cases.start_round import StartRoundDeps

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)


@cache
def client(service: str) -> Any:
    return boto3.session.Session().client(service, config=_CONFIG)  # type: ignore[call-overload]


@cache
def store() -> Store:
    return Store(DynamoTable(client("dynamodb"), get_settings().state_table))


@cache
def topic() -> Topic:
    settings = get_settings()
    return Topic(client("sns"), settings.alerts_topic_arn, settings.idempotency_table)


@cache
def start_round_deps() -> StartRoundDeps:
    settings = get_settings()
    sagemaker = client("sagemaker")
    return StartRoundDeps(
        store=store(),
        bucket=Bucket(client("s3")),
        sagemaker=SageMaker(sagemaker),
        alerts=topic(),
        clock=utcnow,
        data_bucket=settings.data_bucket,
        role_arn=settings.sagemaker_role_arn,
        metrics=PowertoolsMetrics(),
        service_model=sagemaker.meta.service_model,
    )
