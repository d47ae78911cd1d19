"""The AWS side of the CLI, with botocore's Stubber pinning the exact requests: the stack's outputs and resources
as names, and redrive's asynchronous Lambda invocation."""

from __future__ import annotations

import argparse
import json

import boto3
from botocore.stub import Stubber
from retune_cli.context import Context
from retune_cli.redrive import LambdaInvoker, Parked
from retune_cli.target import Target

OUTPUTS = {
    "DataBucketName": "retune-databucket-1a2b",
    "StateTableName": "retune-StateTable-XYZ",
    "AlertsTopicArn": "arn:aws:sns:eu-west-1:123456789012:retune-AlertsTopic",
    "SageMakerRoleArn": "arn:aws:iam::123456789012:role/retune-SageMakerExecutionRole",
    "StartRoundFunctionName": "retune-StartRoundFunction-abc",
    "StartRoundOnFailureQueueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/retune-StartRoundOnFailure",
}


def session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="test", aws_secret_access_key="test", region_name="eu-west-1"
    )


def test_target_names_resources_from_the_stack_outputs_then_its_resources() -> None:
    aws = session()
    cloudformation = aws.client("cloudformation")
    target = Target.from_outputs("retune", aws, OUTPUTS, cloudformation)
    assert target.bucket == "retune-databucket-1a2b"
    assert target.resource("SageMakerRole") == OUTPUTS["SageMakerRoleArn"]
    assert target.resource("StartRoundOnFailureQueue") == OUTPUTS["StartRoundOnFailureQueueUrl"]
    dlq = "https://sqs.eu-west-1.amazonaws.com/123456789012/retune-StartRoundRuleDLQ"
    with Stubber(cloudformation) as stub:
        stub.add_response(
            "list_stack_resources",
            {
                "StackResourceSummaries": [
                    {
                        "LogicalResourceId": "StartRoundRuleDLQ",
                        "PhysicalResourceId": dlq,
                        "ResourceType": "AWS::SQS::Queue",
                        "LastUpdatedTimestamp": "2026-01-01T00:00:00Z",
                        "ResourceStatus": "CREATE_COMPLETE",
                    }
                ]
            },
            {"StackName": "retune"},
        )
        assert target.resource("StartRoundRuleDLQ") == dlq  # not an output: listed once, on demand
        stub.assert_no_pending_responses()


def test_redrive_in_aws_invokes_the_function_asynchronously_with_the_original_event() -> None:
    aws = session()
    target = Target.from_outputs("retune", aws, OUTPUTS, aws.client("cloudformation"))
    lambda_client = aws.client("lambda")
    target._clients["lambda"] = lambda_client
    event = {"version": "0", "detail-type": "Object Created", "source": "aws.s3", "detail": {}}
    parked = Parked(
        "StartRoundOnFailureQueue", "url", "StartRoundFunction", "on-failure", "m1", "r1", event, "boom"
    )
    with Stubber(lambda_client) as stub:
        stub.add_response(
            "invoke",
            {"StatusCode": 202},
            {
                "FunctionName": "retune-StartRoundFunction-abc",
                "InvocationType": "Event",
                "Payload": json.dumps(event).encode(),
            },
        )
        ctx = Context(argparse.Namespace(json=False), _target=target)
        assert LambdaInvoker(ctx).invoke(parked) == (True, True, "invoked (Event)")
