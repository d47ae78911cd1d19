"""A moto world for integration tests: the bucket, tables, topic (with a subscribed queue) as the template has
them, the real adapters on top, and a Stubber for SageMaker that pins exact requests."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from retune.adapters.cloudwatch import Metrics
from retune.adapters.eventbus import EventBus
from retune.adapters.s3 import Bucket
from retune.adapters.sagemaker import SageMaker
from retune.adapters.sns import Topic
from retune.adapters.sqs import Queues
from retune.composition import Composition, compose
from retune.settings import load_settings
from retune.store import Store
from retune.table import DynamoTable
from retune.timeutil import utcnow
from retune.use_cases.start_round import StartRoundDeps

from tests.conftest import WorldPorts
from tests.fakes import FakeMetrics
from tests.moto_env import create_idempotency_table, create_state_table

ROOT = Path(__file__).resolve().parents[2]
ENV = json.loads((ROOT / "events" / "env.json").read_text())["Parameters"]
REGION = "us-east-1"


class FakeLambdaContext:
    function_name = "retune-StartRoundFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:retune-StartRoundFunction"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@dataclass
class AwsWorld:
    s3: Any
    dynamodb: Any
    sns: Any
    sqs: Any
    sagemaker: Any
    stubber: Stubber
    alerts_queue_url: str
    store: Store
    composed: Composition  # every use case's deps on the real adapters

    @property
    def deps(self) -> StartRoundDeps:
        return self.composed.start_round

    @property
    def bucket(self) -> str:
        return str(ENV["DATA_BUCKET"])

    def put(self, key: str, body: bytes | str | dict[str, Any]) -> str:
        if isinstance(body, dict):
            body = json.dumps(body)
        return str(self.s3.put_object(Bucket=self.bucket, Key=key, Body=body)["VersionId"])

    def alerts(self) -> list[dict[str, Any]]:
        messages = self.sqs.receive_message(QueueUrl=self.alerts_queue_url, MaxNumberOfMessages=10).get(
            "Messages", []
        )
        return [json.loads(m["Body"]) for m in messages]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[AwsWorld]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
        **ENV,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=ENV["DATA_BUCKET"])
        s3.put_bucket_versioning(Bucket=ENV["DATA_BUCKET"], VersioningConfiguration={"Status": "Enabled"})
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_state_table(dynamodb, ENV["STATE_TABLE"])
        create_idempotency_table(dynamodb, ENV["IDEMPOTENCY_TABLE"])
        sns = boto3.client("sns", region_name=REGION)
        topic_arn = sns.create_topic(Name="retune-alerts")["TopicArn"]
        assert topic_arn == ENV["ALERTS_TOPIC_ARN"]
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="alerts-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        store = Store(DynamoTable(dynamodb, ENV["STATE_TABLE"]))
        with Stubber(sagemaker) as stubber:
            ports = WorldPorts(
                store=store,
                bucket=Bucket(s3),
                sagemaker=SageMaker(sagemaker),
                alerts=Topic(sns, topic_arn, ENV["IDEMPOTENCY_TABLE"]),
                bus=EventBus(boto3.client("events", region_name=REGION), ENV["EVENT_BUS_NAME"]),
                metric_series=Metrics(boto3.client("cloudwatch", region_name=REGION)),
                queues=Queues(sqs),
                metrics=FakeMetrics(),
                clock=utcnow,
                sagemaker_model=sagemaker.meta.service_model,
            )
            composed = compose(ports, load_settings({**ENV, "AWS_REGION": REGION}))
            yield AwsWorld(s3, dynamodb, sns, sqs, sagemaker, stubber, queue_url, store, composed)


def load_event(path: str) -> dict[str, Any]:
    return dict(json.loads((ROOT / "events" / path).read_text()))
