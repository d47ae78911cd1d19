"""The gate as a caller meets it: each service's own error for a denied request, as botocore parses it; unknown keys and
unsigned requests refused; who the caller is (sts:GetCallerIdentity); S3's 404 only for a caller that may list the
bucket; iam:PassRole checked when a create call names a role; an operation the stand-in cannot authorize refused."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError
from retune_local.stack import LocalStack

pytestmark = pytest.mark.local_stack

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack(tmp_path_factory.mktemp("gate") / "state") as local:
        yield local


def error(call: Any) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    return {
        "code": raised.value.response["Error"]["Code"],
        "message": raised.value.response["Error"].get("Message", ""),
        "status": raised.value.response["ResponseMetadata"]["HTTPStatusCode"],
    }


def session(principal: str) -> str:
    return f"arn:aws:sts::{ACCOUNT}:assumed-role/retune-local-{principal.lower()}role/retune-local-{principal.lower()}"


@pytest.mark.parametrize(
    ("service", "call", "code", "status", "action"),
    [
        (
            "s3",
            lambda c, s: c.put_object(Bucket=s.bucket, Key="models/x", Body=b"x"),
            "AccessDenied",
            403,
            "s3:PutObject",
        ),
        (
            "dynamodb",
            lambda c, s: c.scan(TableName=s.resource("StateTable")),
            "AccessDeniedException",
            400,
            "dynamodb:Scan",
        ),
        (
            "sqs",
            lambda c, s: c.receive_message(QueueUrl=s.resource("StartRoundOnFailureQueue")),
            "AccessDenied",
            403,
            "sqs:ReceiveMessage",
        ),
        (
            "events",
            # RecordTrial may put on the default bus (a round's last incumbent ended), on no other
            lambda c, s: c.put_events(
                Entries=[
                    {
                        "Source": "retune",
                        "DetailType": "Drop Ready",
                        "Detail": "{}",
                        "EventBusName": "elsewhere",
                    }
                ]
            ),
            "AccessDeniedException",
            400,
            "events:PutEvents",
        ),
        (
            "sagemaker",
            lambda c, s: c.delete_endpoint(EndpointName="anything"),
            "AccessDeniedException",
            400,
            "sagemaker:DeleteEndpoint",
        ),
        (
            "kms",
            lambda c, s: c.decrypt(CiphertextBlob=b"x" * 32, KeyId=s.resource("EncryptionKey")),
            "AccessDeniedException",
            400,
            "kms:Decrypt",
        ),
    ],
    ids=["s3", "dynamodb", "sqs", "events", "sagemaker", "kms"],
)
def test_gate_answers_a_denied_request_with_the_services_own_error(
    stack: LocalStack, service: str, call: Any, code: str, status: int, action: str
) -> None:
    found = error(lambda: call(stack.client(service, "RecordTrialFunction"), stack))
    assert (found["code"], found["status"]) == (code, status)
    assert found["message"].startswith(
        f"User: {session('RecordTrialFunction')} is not authorized to perform: {action}"
    )
    assert "because no identity-based policy allows the" in found["message"]


def test_gate_answers_a_denied_publish_as_sns_does(stack: LocalStack) -> None:
    found = error(
        lambda: stack.client("sns", "RecordTrialFunction").publish(
            TopicArn=stack.resource("AlertsTopic"), Message="x"
        )
    )
    assert (found["code"], found["status"]) == ("AuthorizationError", 403)
    assert "is not authorized to perform: sns:Publish on resource: arn:aws:sns:" in found["message"]


def test_gate_denies_cloudwatch_reads_to_a_role_without_them(stack: LocalStack) -> None:
    cloudwatch = stack.client("cloudwatch", "StartRoundFunction")
    found = error(
        lambda: cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "a",
                    "MetricStat": {
                        "Metric": {"Namespace": "x", "MetricName": "y"},
                        "Period": 60,
                        "Stat": "Average",
                    },
                }
            ],
            StartTime=0,
            EndTime=60,
        )
    )
    assert (found["code"], found["status"]) == ("AccessDenied", 403)
    # cloudwatch:GetMetricData has no resource: AWS's message names none.
    assert found["message"] == (
        f"User: {session('StartRoundFunction')} is not authorized to perform: cloudwatch:GetMetricData "
        "because no identity-based policy allows the cloudwatch:GetMetricData action"
    )


def test_gate_refuses_unknown_keys_and_unsigned_requests(stack: LocalStack) -> None:
    assert stack.endpoints is not None
    unknown = {
        "aws_access_key_id": "AKIAUNKNOWNKEY000000",
        "aws_secret_access_key": "x",
        "region_name": "us-east-1",
    }
    s3 = boto3.client("s3", endpoint_url=stack.endpoints.aws, **unknown)
    assert error(lambda: s3.list_objects_v2(Bucket=stack.bucket))["code"] == "InvalidAccessKeyId"
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.endpoints.aws, **unknown)
    assert error(dynamodb.list_tables)["code"] == "UnrecognizedClientException"
    sagemaker = boto3.client("sagemaker", endpoint_url=stack.endpoints.sagemaker, **unknown)
    assert error(sagemaker.list_endpoints)["code"] == "UnrecognizedClientException"
    anonymous = boto3.client(
        "s3",
        endpoint_url=stack.endpoints.aws,
        region_name="us-east-1",
        config=Config(signature_version=UNSIGNED),
    )
    assert error(lambda: anonymous.list_objects_v2(Bucket=stack.bucket))["code"] == "AccessDenied"


def test_gate_tells_each_caller_who_it_is(stack: LocalStack) -> None:
    assert stack.client("sts", "PromoteFunction").get_caller_identity()["Arn"] == session("PromoteFunction")
    assert (
        stack.client("sts", "cli").get_caller_identity()["Arn"]
        == f"arn:aws:iam::{ACCOUNT}:user/retune-operator"
    )
    assert stack.client("sts", "SageMakerExecutionRole").get_caller_identity()["Arn"] == (
        f"arn:aws:sts::{ACCOUNT}:assumed-role/retune-local-sagemakerexecutionrole/SageMaker"
    )


def test_gate_shows_a_missing_object_only_to_a_caller_that_may_list_the_bucket(stack: LocalStack) -> None:
    """S3 answers a read of a missing object 404 to a caller with s3:ListBucket, else 403 (GetObject's
    "Permissions" in the S3 API reference). StartRound may list the bucket; CloseRound, which reads profiles, may
    not."""
    key = "profiles/missing.json"
    assert (
        error(lambda: stack.client("s3", "StartRoundFunction").get_object(Bucket=stack.bucket, Key=key))[
            "code"
        ]
        == "NoSuchKey"
    )
    hidden = error(lambda: stack.client("s3", "CloseRoundFunction").get_object(Bucket=stack.bucket, Key=key))
    assert (hidden["code"], hidden["status"]) == ("AccessDenied", 403)
    assert "s3:ListBucket" in hidden["message"]


def test_gate_checks_pass_role_when_a_create_call_names_a_role(stack: LocalStack, tmp_path: Path) -> None:
    """CreateModel names an execution role: Promote may pass the stack's SageMaker role, not another."""
    sagemaker = stack.client("sagemaker", "PromoteFunction")
    request = {
        "ModelName": "rt-passrole-check",
        "PrimaryContainer": {"Image": "retune/toy", "ModelDataUrl": f"s3://{stack.bucket}/models/m.tar.gz"},
    }
    other = f"arn:aws:iam::{ACCOUNT}:role/someone-elses-role"
    found = error(lambda: sagemaker.create_model(**request, ExecutionRoleArn=other))
    assert found["code"] == "AccessDeniedException"
    assert f"is not authorized to perform: iam:PassRole on resource: {other}" in found["message"]
    allowed = stack.gate.trace()
    sagemaker.create_model(
        **request, ExecutionRoleArn=stack.iam_resolver.get_att("SageMakerExecutionRole", "Arn")
    )
    passed = [e for e in stack.gate.trace()[len(allowed) :] if e.request.action == "iam:PassRole"]
    assert passed and passed[0].allowed
    assert passed[0].request.context["iam:PassedToService"] == "sagemaker.amazonaws.com"


def test_gate_refuses_an_operation_it_cannot_authorize(stack: LocalStack) -> None:
    """An operation outside the table is denied, loudly, naming it: never let through."""
    found = error(lambda: stack.client("s3", "StartRoundFunction").get_bucket_policy(Bucket=stack.bucket))
    assert found["code"] == "AccessDenied"
    assert "s3:GetBucketPolicy" in found["message"] and "no authorization rule" in found["message"]
