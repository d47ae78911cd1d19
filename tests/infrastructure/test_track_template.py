"""Track in template.yaml: optional per stack, its stream mapping as the local stand-in emulates it, its IAM least
privilege (the MLflow actions are exactly what the adapter calls, on the server's ARN only)."""

from __future__ import annotations

import ast
import re
from typing import Any

from retune.adapters.mlflow import MANAGED_ARN

from tests.infrastructure.conftest import ROOT
from tests.infrastructure.test_template import as_list, function_statements, identity_statements, props

TRACK_RESOURCES = {
    "TrackFunction",
    "TrackStreamMapping",
    "TrackLogGroup",
    "TrackOnFailureQueue",
    "TrackErrorsAlarm",
    "TrackOnFailureAlarm",
    "TrackRefusedAlarm",
}


def test_track_exists_only_with_a_tracking_server(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["TrackingServer"]
    assert parameter["Default"] == ""
    pattern = re.compile(parameter["AllowedPattern"])
    for good in (
        "",
        "http://127.0.0.1:5000",
        "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/t",
    ):
        assert pattern.fullmatch(good), good
    assert not pattern.fullmatch("mlflow.example.com")
    assert template["Conditions"]["HasTrackingServer"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "TrackingServer"}, ""]}]
    }
    for name in TRACK_RESOURCES:
        assert template["Resources"][name]["Condition"] == "HasTrackingServer", name
    stream = props(template["Resources"]["StateTable"])["StreamSpecification"]
    assert stream == {
        "Fn::If": ["HasTrackingServer", {"StreamViewType": "NEW_AND_OLD_IMAGES"}, {"Ref": "AWS::NoValue"}]
    }


def test_track_stream_mapping_retries_bisects_and_parks(template: dict[str, Any]) -> None:
    mapping = props(template["Resources"]["TrackStreamMapping"])
    assert mapping["FunctionName"] == {"Ref": "TrackFunction"}
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["StateTable", "StreamArn"]}
    assert mapping["StartingPosition"] == "TRIM_HORIZON"
    assert mapping["ParallelizationFactor"] == 1  # each item's records in order
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert mapping["BisectBatchOnFunctionError"] is True
    assert 0 < mapping["MaximumRetryAttempts"] <= 10_000
    assert 60 <= mapping["MaximumRecordAgeInSeconds"] <= 86_400  # no longer than the stream keeps records
    assert mapping["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["TrackOnFailureQueue", "Arn"]
    }
    queue = props(template["Resources"]["TrackOnFailureQueue"])
    assert queue["KmsMasterKeyId"] == {"Ref": "EncryptionKey"}
    alarm = props(template["Resources"]["TrackOnFailureAlarm"])
    assert alarm["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["TrackOnFailureQueue", "QueueName"]}}
    ]
    assert alarm["AlarmActions"] == [{"Ref": "AlertsTopic"}]
    assert props(template["Resources"]["TrackFunction"])["Handler"] == "handler.handler"


def test_track_role_reads_only_its_stream_and_items_and_sends_only_to_its_queue(
    template: dict[str, Any],
) -> None:
    granted = {
        action: statement["Resource"]
        for statement in function_statements(template, "TrackFunction")
        for action in as_list(statement["Action"])
    }
    stream = {"Fn::GetAtt": ["StateTable", "StreamArn"]}
    assert granted == {
        "dynamodb:DescribeStream": stream,
        "dynamodb:GetRecords": stream,
        "dynamodb:GetShardIterator": stream,
        "dynamodb:ListStreams": "*",
        "dynamodb:GetItem": {"Fn::GetAtt": ["StateTable", "Arn"]},
        "sqs:SendMessage": {"Fn::GetAtt": ["TrackOnFailureQueue", "Arn"]},
        "kms:Decrypt": {"Fn::GetAtt": ["EncryptionKey", "Arn"]},
        "kms:GenerateDataKey": {"Fn::GetAtt": ["EncryptionKey", "Arn"]},
    }


def adapter_endpoints() -> set[str]:
    """The MLflow REST paths retune.adapters.mlflow calls, read from its source."""
    source = (ROOT / "layers" / "core" / "retune" / "adapters" / "mlflow.py").read_text()
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "_call" and len(node.args) >= 2:
            path = node.args[1]
            if isinstance(path, ast.Constant):
                found.add(str(path.value))
    return found


def test_track_mlflow_actions_are_what_the_adapter_calls_on_the_server_only(template: dict[str, Any]) -> None:
    # sagemaker-mlflow's actions are MLflow's operations by name (the Service Authorization Reference).
    operations = {
        "/experiments/get-by-name": "GetExperimentByName",
        "/experiments/create": "CreateExperiment",
        "/experiments/set-experiment-tag": "SetExperimentTag",
        "/runs/search": "SearchRuns",
        "/runs/create": "CreateRun",
        "/runs/update": "UpdateRun",
        "/runs/delete": "DeleteRun",
        "/runs/log-batch": "LogBatch",
    }
    assert adapter_endpoints() == set(operations)
    policy = template["Resources"]["TrackMlflowPolicy"]
    assert policy["Condition"] == "ManagedTrackingServer"
    assert props(policy)["Roles"] == [{"Ref": "TrackFunctionRole"}]
    statements = [s for owner, s in identity_statements(template) if owner == "TrackMlflowPolicy"]
    (statement,) = statements
    assert set(statement["Action"]) == {f"sagemaker-mlflow:{a}" for a in operations.values()}
    assert statement["Resource"] == {"Ref": "TrackingServer"}
    # ManagedTrackingServer holds exactly for what the adapter signs: an ARN.
    assert MANAGED_ARN.match("arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/t")
    assert template["Conditions"]["ManagedTrackingServer"] == {
        "Fn::And": [
            {"Condition": "HasTrackingServer"},
            {"Fn::Equals": [{"Fn::Select": [0, {"Fn::Split": [":", {"Ref": "TrackingServer"}]}]}, "arn"]},
        ]
    }


def test_track_outputs_name_the_server_for_resync(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    for name in ("TrackFunctionName", "TrackOnFailureQueueUrl", "TrackingServer"):
        assert outputs[name]["Condition"] == "HasTrackingServer", name
