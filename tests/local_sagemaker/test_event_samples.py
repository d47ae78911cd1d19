"""The local SageMaker's events against AWS's documented samples (data/aws_events/, with where they come from):
the same detail-type and source, the same envelope, and in the detail the same keys with values of the same types.

A key the local event has and the sample lacks is allowed only when it is named in EXTRA with the reason; a key of
the sample the local event lacks is allowed only when named in ABSENT with the reason."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from retune_local import LocalSageMaker

from tests.local_sagemaker.conftest import ServiceFactory, run_tuning, trials, tuning_request
from tests.local_sagemaker.test_registry import INFERENCE, deploy

pytestmark = pytest.mark.local_stack

SAMPLES = Path(__file__).resolve().parent / "data" / "aws_events"
ENVELOPE = ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]

TRAINING = "SageMaker Training Job State Change"
TUNING = "SageMaker HyperParameter Tuning Job State Change"
ENDPOINT = "SageMaker Endpoint State Change"
PACKAGE = "SageMaker Model Package State Change"

# detail keys (paths) the local events carry beyond the samples, and why
EXTRA: dict[str, dict[str, str]] = {
    TRAINING: {
        "ModelArtifacts": "in the EventBridge schema registry's aws.sagemaker@SageMakerTrainingJobStateChange, and "
        "retune's Promote reads it from the evaluation job's Completed event",
        "AlgorithmSpecification.MetricDefinitions": "echoed from the request, as DescribeTrainingJob does",
        "HyperParameters.*": "the sample's one hyperparameter is a placeholder: any name, a string value",
        "VpcConfig.SecurityGroupIds": "the sample's VpcConfig is empty; the tuning job sample's shows these keys",
        "VpcConfig.Subnets": "the sample's VpcConfig is empty; the tuning job sample's shows these keys",
    },
    TUNING: {
        "TrainingJobDefinition.StaticHyperParameters.*": "the sample's are empty: any name, a string value",
    },
    ENDPOINT: {
        "ProductionVariants.*.VariantName": "each variant's name, as events/promote/endpoint_in_service.json (the "
        "EventBridge schema registry's shape) has it",
    },
    PACKAGE: {
        "CustomerMetadataProperties": "echoed from DescribeModelPackage when the package has them (retune's do)",
        "ModelPackageDescription": "echoed from DescribeModelPackage when given",
        "ApprovalDescription": "echoed from DescribeModelPackage when given",
    },
}
# sample keys the local events may lack, and why
ABSENT: dict[str, dict[str, str]] = {
    TRAINING: {
        "VpcConfig": "only when the request has one (SageMaker echoes the request; the sample's is empty)",
        "ResourceConfig.VolumeKmsKeyId": "only when the request gives one",
        "InputDataConfig.*.CompressionType": "echoed from the request: only when given",
        "InputDataConfig.*.RecordWrapperType": "echoed from the request: only when given",
        "InputDataConfig.*.ContentType": "echoed from the request: only when given",
        "InputDataConfig": "only when the request has channels",
        "TrainingStartTime": "only once training has started (DescribeTrainingJob's field; the InProgress event is "
        "sent at launch)",
        "TrainingEndTime": "only once the job has ended",
    },
    TUNING: {
        "TrainingJobDefinition.VpcConfig": "only when the request has one",
        "TrainingJobDefinition.ResourceConfig.VolumeKmsKeyId": "only when the request gives one",
        "TrainingJobDefinition.OutputDataConfig.KmsKeyId": "echoed from the request: only when given",
        "TrainingJobDefinition.InputDataConfig": "only when the request has channels",
    },
    ENDPOINT: {},
    PACKAGE: {
        "InferenceSpecification.Containers.*.ImageDigest": "SageMaker resolves the image's digest from ECR; the "
        "local registry has no images to resolve",
        "MetadataProperties": "only when the request gives it",
        "ModelMetrics": "only when the request gives it",
    },
}


def sample(name: str) -> dict[str, Any]:
    # The model package sample has `source` twice (a string, then a list): keep the first, the documented form.
    def first(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            out.setdefault(key, value)
        return out

    loaded: dict[str, Any] = json.loads((SAMPLES / name).read_text(), object_pairs_hook=first)
    return loaded


def _kind(value: Any) -> str:
    """The value's JSON type (JSON has one number type: 1 and 1.0 are both numbers)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return {str: "string", dict: "object", list: "array", type(None): "null"}[type(value)]


def differences(
    local: Any, documented: Any, extra: dict[str, str], absent: dict[str, str], path: str = ""
) -> list[str]:
    """Where `local` differs from `documented` in keys or types (paths like `A.B.*.C`, `*` for list items and
    for the keys of a map the sample only illustrates)."""
    if _kind(local) != _kind(documented):
        return [f"{path or '.'}: {_kind(local)} here, {_kind(documented)} in the sample"]
    found: list[str] = []
    if isinstance(local, dict):
        if f"{path}.*".lstrip(".") in extra:
            values = [v for v in [*local.values(), *documented.values()]]
            return [f"{path}: values of mixed types" for v in values if _kind(v) != "string"][:1]
        for key in sorted(set(local) | set(documented)):
            where = f"{path}.{key}".lstrip(".")
            if key not in documented:
                if where not in extra:
                    found.append(f"{where}: not in the sample")
            elif key not in local:
                if where not in absent:
                    found.append(f"{where}: missing")
            else:
                found.extend(differences(local[key], documented[key], extra, absent, where))
    elif isinstance(local, list) and local and documented:
        for item in local:
            found.extend(differences(item, documented[0], extra, absent, f"{path}.*".lstrip(".")))
    return found


def check(event: dict[str, Any], documented: dict[str, Any]) -> None:
    kind = documented["detail-type"]
    assert list(event) == ENVELOPE
    assert sorted(documented) == sorted(ENVELOPE)
    assert event["detail-type"] == kind
    assert event["source"] == documented["source"] == "aws.sagemaker"
    for key in ("version", "id", "account", "region", "time"):
        assert isinstance(event[key], str), key
    assert isinstance(event["resources"], list)
    assert all(isinstance(r, str) for r in event["resources"])
    assert differences(event["detail"], documented["detail"], EXTRA[kind], ABSENT[kind]) == []


def of(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e for e in events if e["detail-type"] == kind]


def test_training_and_tuning_job_events_have_the_documented_shape(
    make_service: ServiceFactory, events: list[dict[str, Any]], aws: dict[str, Any]
) -> None:
    service = make_service(s3=aws["s3"], cloudwatch=aws["cloudwatch"])
    aws["s3"].put_object(Bucket=aws["bucket"], Key="data/train/part-0.csv", Body=b"1,2\n")
    channel = {
        "ChannelName": "train",
        "DataSource": {
            "S3DataSource": {
                "S3DataType": "S3Prefix",
                "S3Uri": f"s3://{aws['bucket']}/data/train",
                "S3DataDistributionType": "FullyReplicated",
            }
        },
        "ContentType": "text/csv",
        "CompressionType": "None",
        "RecordWrapperType": "None",
    }
    request = tuning_request(
        "documented", max_jobs=1, parallel=1, channels=[channel], output=f"s3://{aws['bucket']}/trials"
    )
    definition = request["TrainingJobDefinition"]
    definition["OutputDataConfig"]["KmsKeyId"] = "alias/retune"
    definition["ResourceConfig"]["VolumeKmsKeyId"] = "alias/retune-volume"
    definition["VpcConfig"] = {
        "SecurityGroupIds": ["sg-0123456789abcdef0"],
        "Subnets": ["subnet-0123456789abcdef0"],
    }
    run_tuning(service, request)
    service.wait_idle()
    (trial,) = trials(service, "documented")
    assert trial["TrainingJobStatus"] == "Completed", trial.get("FailureReason")

    training = of(events, TRAINING)
    assert [e["detail"]["TrainingJobStatus"] for e in training] == ["InProgress", "Completed"]
    for event in training:
        check(event, sample("training_job_state_change.json"))
    for event in of(events, TUNING):
        check(event, sample("tuning_job_state_change.json"))


def test_a_failed_training_job_event_adds_only_its_failure_reason(
    service: LocalSageMaker, events: list[dict[str, Any]]
) -> None:
    # The guide: "If the value of TrainingJobStatus is Failed, the event contains the FailureReason field".
    run_tuning(service, tuning_request("failing", max_jobs=1, parallel=1, static={"fail_above": "-1"}))
    service.wait_idle()

    failed = of(events, TRAINING)[-1]
    assert failed["detail"]["TrainingJobStatus"] == "Failed"
    assert isinstance(failed["detail"].pop("FailureReason"), str)
    check(failed, sample("training_job_state_change.json"))


def test_endpoint_and_model_package_events_have_the_documented_shape(
    service: LocalSageMaker, events: list[dict[str, Any]]
) -> None:
    service.handle("CreateModelPackageGroup", {"ModelPackageGroupName": "market"})
    arn = service.handle(
        "CreateModelPackage",
        {
            "ModelPackageGroupName": "market",
            "InferenceSpecification": INFERENCE,
            "MetadataProperties": {"GeneratedBy": "arn:aws:sagemaker:us-east-1:123456789012:training-job/x"},
            "ModelMetrics": {
                "ModelQuality": {
                    "Statistics": {"ContentType": "application/json", "S3Uri": "s3://b/eval.json"}
                }
            },
        },
    )["ModelPackageArn"]
    service.handle("UpdateModelPackage", {"ModelPackageArn": arn, "ModelApprovalStatus": "Approved"})
    deploy(service, "cfg-1", "model-1")
    service.handle("CreateEndpoint", {"EndpointName": "market", "EndpointConfigName": "cfg-1"})
    service.wait_endpoint("market")
    service.wait_idle()

    packages = of(events, PACKAGE)
    assert [e["detail"]["ModelApprovalStatus"] for e in packages] == ["PendingManualApproval", "Approved"]
    for event in packages:
        check(event, sample("model_package_state_change.json"))
    endpoints = of(events, ENDPOINT)
    assert [e["detail"]["EndpointStatus"] for e in endpoints] == ["CREATING", "IN_SERVICE"]
    for event in endpoints:
        check(event, sample("endpoint_state_change.json"))


def test_the_comparison_finds_a_key_or_a_type_that_differs() -> None:
    documented = sample("training_job_state_change.json")["detail"]
    changed = {**documented, "TrainingJobStatus": 3, "Unknown": "x"}
    del changed["RoleArn"]
    assert differences(changed, documented, EXTRA[TRAINING], ABSENT[TRAINING]) == [
        "RoleArn: missing",
        "TrainingJobStatus: number here, string in the sample",
        "Unknown: not in the sample",
    ]
