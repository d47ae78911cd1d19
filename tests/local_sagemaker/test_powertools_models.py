"""Powertools' parser models accept every event the local stack emits and every sample under events/: S3's "Object
Created" (local/retune_local/s3_events.py) with S3EventNotificationEventBridgeModel, and every EventBridge event
(S3's, SageMaker's, the schedule's, retune's own) with EventBridgeModel."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.parser.models import (
    EventBridgeModel,
    S3EventNotificationEventBridgeModel,
)
from retune_local import LocalSageMaker
from retune_local.router import Router
from retune_local.s3_events import ObjectEvents
from retune_local.template import FunctionSpec

from tests.local_sagemaker.conftest import run_tuning, tuning_request
from tests.local_sagemaker.test_registry import INFERENCE, deploy

pytestmark = pytest.mark.local_stack

EVENTS = Path(__file__).resolve().parents[2] / "events"


def parse(event: dict[str, Any]) -> EventBridgeModel:
    model = EventBridgeModel.model_validate(event)
    assert model.detail_type == event["detail-type"]
    assert model.source == event["source"]
    assert model.resources == event["resources"]
    assert model.detail == event["detail"]
    return model


def parse_object_created(event: dict[str, Any]) -> None:
    model = S3EventNotificationEventBridgeModel.model_validate(event)
    detail = event["detail"]
    assert model.detail.bucket.name == detail["bucket"]["name"]
    assert model.detail.object.key == detail["object"]["key"]
    assert model.detail.object.size == detail["object"]["size"]
    assert model.detail.object.etag == detail["object"]["etag"]
    assert model.detail.object.sequencer == detail["object"]["sequencer"]
    assert model.detail.reason == detail["reason"]
    parse(event)


def sample_files() -> list[Path]:
    return sorted(p for p in EVENTS.rglob("*.json") if p.name != "env.json")


@pytest.mark.parametrize("path", sample_files(), ids=lambda p: str(p.relative_to(EVENTS)))
def test_every_sample_under_events_parses_with_its_powertools_model(path: Path) -> None:
    event = json.loads(path.read_text())
    if "Records" in event:  # Track's: a DynamoDB Streams batch as Lambda's event source mapping delivers it
        from aws_lambda_powertools.utilities.parser.models import DynamoDBStreamModel  # noqa: PLC0415

        batch = DynamoDBStreamModel.model_validate(event)
        assert [r.dynamodb.SequenceNumber for r in batch.Records] == [
            r["dynamodb"]["SequenceNumber"] for r in event["Records"]
        ]
        return
    if event["source"] == "aws.s3" and event["detail-type"] == "Object Created":
        parse_object_created(event)
    else:
        parse(event)


def test_the_local_stacks_object_created_events_parse(moto_endpoint: str) -> None:
    s3 = boto3.client(
        "s3",
        endpoint_url=moto_endpoint,
        region_name="us-east-1",
        aws_access_key_id="local",
        aws_secret_access_key="local",
    )
    bucket = f"retune-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_bucket_notification_configuration(
        Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
    )
    made: list[dict[str, Any]] = []
    objects = ObjectEvents(made.append, "us-east-1", "123456789012")
    for key, reason in (
        ("datasets/market/2015-01-01/manifest.json", "PutObject"),
        ("a b+c=d.csv", "CopyObject"),
    ):
        version = s3.put_object(Bucket=bucket, Key=key, Body=b"{}")["VersionId"]
        with objects.lock:
            assert objects.created(bucket, key, version, reason) is not None

    assert len(made) == 2
    for event in made:
        parse_object_created(event)


def test_the_local_sagemakers_events_parse(service: LocalSageMaker, events: list[dict[str, Any]]) -> None:
    run_tuning(service, tuning_request("parsed", max_jobs=2, parallel=1))
    run_tuning(service, tuning_request("failing", max_jobs=1, parallel=1, static={"fail_above": "-1"}))
    service.handle("CreateModelPackageGroup", {"ModelPackageGroupName": "market"})
    arn = service.handle(
        "CreateModelPackage", {"ModelPackageGroupName": "market", "InferenceSpecification": INFERENCE}
    )["ModelPackageArn"]
    service.handle("UpdateModelPackage", {"ModelPackageArn": arn, "ModelApprovalStatus": "Approved"})
    deploy(service, "cfg-1", "model-1")
    service.handle("CreateEndpoint", {"EndpointName": "market", "EndpointConfigName": "cfg-1"})
    service.wait_endpoint("market")
    service.wait_idle()

    kinds = {e["detail-type"] for e in events}
    assert kinds == {
        "SageMaker Training Job State Change",
        "SageMaker HyperParameter Tuning Job State Change",
        "SageMaker Model Package State Change",
        "SageMaker Endpoint State Change",
    }
    for event in events:
        parse(event)


def test_the_routers_scheduled_events_parse() -> None:
    spec = FunctionSpec(
        logical_id="ReconcileFunction",
        code_uri=Path("functions/reconcile"),
        handler="handler.handler",
        environment={},
        patterns=(),
        schedules=(("Schedule", "rate(5 minutes)"),),
        max_retries=2,
        on_failure=None,
        timeout=60,
    )
    delivered: list[dict[str, Any]] = []
    router = Router({"ReconcileFunction": spec}, {})
    router._deliver = lambda event, targets: delivered.append(event)  # type: ignore[method-assign]

    assert router.fire_schedule() == ["ReconcileFunction"]
    (event,) = delivered
    model = parse(event)
    assert model.detail_type == "Scheduled Event"
