"""Models, the model registry and endpoints: versions, idempotency, approval, deployment, tags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from retune_local import LocalSageMaker, ServiceError

from tests.local_sagemaker.conftest import Connect, ServiceFactory

pytestmark = pytest.mark.local_stack

INFERENCE = {
    "Containers": [{"Image": "retune-serve:1", "ModelDataUrl": "s3://retune-out/job/output/model.tar.gz"}],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}


def package(service: LocalSageMaker, group: str = "retune-market", **extra: Any) -> str:
    return str(
        service.handle(
            "CreateModelPackage",
            {"ModelPackageGroupName": group, "InferenceSpecification": INFERENCE, **extra},
        )["ModelPackageArn"]
    )


@pytest.fixture
def registry(service: LocalSageMaker) -> LocalSageMaker:
    service.handle(
        "CreateModelPackageGroup",
        {"ModelPackageGroupName": "retune-market", "ModelPackageGroupDescription": "market"},
    )
    return service


def test_registry_package_versions_increment_per_group(registry: LocalSageMaker) -> None:
    registry.handle("CreateModelPackageGroup", {"ModelPackageGroupName": "other"})

    arns = [package(registry), package(registry), package(registry, "other")]

    assert arns == [
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/retune-market/1",
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/retune-market/2",
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/other/1",
    ]
    described = registry.handle("DescribeModelPackage", {"ModelPackageName": arns[1]})
    assert described["ModelPackageVersion"] == 2
    assert described["ModelPackageGroupName"] == "retune-market"
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    assert described["ModelPackageStatus"] == "Completed"


def test_registry_client_token_makes_create_model_package_idempotent(registry: LocalSageMaker) -> None:
    first = package(registry, ClientToken="rt-round-1")
    again = package(registry, ClientToken="rt-round-1")
    other = package(registry, ClientToken="rt-round-2")

    assert first == again != other
    listed = registry.handle("ListModelPackages", {"ModelPackageGroupName": "retune-market"})[
        "ModelPackageSummaryList"
    ]
    assert [p["ModelPackageVersion"] for p in listed] == [1, 2]


def test_registry_package_in_a_missing_group_is_a_validation_error(service: LocalSageMaker) -> None:
    with pytest.raises(ServiceError) as caught:
        package(service, "absent")

    assert caught.value.code == "ValidationException"


def test_registry_approval_change_sends_a_model_package_state_change(
    registry: LocalSageMaker, events: list[dict[str, Any]]
) -> None:
    arn = package(registry)

    registry.handle(
        "UpdateModelPackage",
        {"ModelPackageArn": arn, "ModelApprovalStatus": "Approved", "ApprovalDescription": "by hand"},
    )
    registry.handle(
        "UpdateModelPackage", {"ModelPackageArn": arn, "CustomerMetadataProperties": {"round": "3"}}
    )
    registry.wait_idle()

    changes = [e for e in events if e["detail-type"] == "SageMaker Model Package State Change"]
    assert [e["detail"]["ModelApprovalStatus"] for e in changes] == ["PendingManualApproval", "Approved"]
    approved = changes[-1]
    assert approved["source"] == "aws.sagemaker"
    assert approved["resources"] == [arn]
    assert approved["detail"]["ModelPackageGroupName"] == "retune-market"
    assert approved["detail"]["ModelPackageVersion"] == 1
    assert approved["detail"]["ModelPackageArn"] == arn
    assert approved["detail"]["InferenceSpecification"] == INFERENCE
    described = registry.handle("DescribeModelPackage", {"ModelPackageName": "retune-market/1"})
    assert described["ApprovalDescription"] == "by hand"
    assert described["CustomerMetadataProperties"] == {"round": "3"}


def test_registry_list_model_packages_filters_by_approval_and_sorts(registry: LocalSageMaker) -> None:
    arns = [package(registry) for _ in range(3)]
    registry.handle("UpdateModelPackage", {"ModelPackageArn": arns[0], "ModelApprovalStatus": "Approved"})
    registry.handle("UpdateModelPackage", {"ModelPackageArn": arns[2], "ModelApprovalStatus": "Approved"})

    approved = registry.handle(
        "ListModelPackages",
        {
            "ModelPackageGroupName": "retune-market",
            "ModelApprovalStatus": "Approved",
            "SortBy": "CreationTime",
            "SortOrder": "Descending",
        },
    )["ModelPackageSummaryList"]

    assert [p["ModelPackageArn"] for p in approved] == [arns[2], arns[0]]


def test_registry_groups_describe_and_list(registry: LocalSageMaker) -> None:
    registry.handle("CreateModelPackageGroup", {"ModelPackageGroupName": "retune-other"})

    described = registry.handle("DescribeModelPackageGroup", {"ModelPackageGroupName": "retune-market"})
    listed = registry.handle("ListModelPackageGroups", {"NameContains": "other"})[
        "ModelPackageGroupSummaryList"
    ]

    assert described["ModelPackageGroupStatus"] == "Completed"
    assert described["ModelPackageGroupDescription"] == "market"
    assert [g["ModelPackageGroupName"] for g in listed] == ["retune-other"]
    with pytest.raises(ServiceError) as caught:
        registry.handle("CreateModelPackageGroup", {"ModelPackageGroupName": "retune-market"})
    assert caught.value.code == "ValidationException"


def test_registry_only_approved_packages_become_models(registry: LocalSageMaker) -> None:
    arn = package(registry)
    model = {
        "ModelName": "champion-1",
        "PrimaryContainer": {"ModelPackageName": arn},
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/x",
    }

    with pytest.raises(ServiceError):
        registry.handle("CreateModel", model)
    registry.handle("UpdateModelPackage", {"ModelPackageArn": arn, "ModelApprovalStatus": "Approved"})

    assert registry.handle("CreateModel", model)["ModelArn"].endswith(":model/champion-1")


def deploy(service: LocalSageMaker, config: str, model: str) -> None:
    service.handle(
        "CreateModel",
        {
            "ModelName": model,
            "PrimaryContainer": {"Image": "retune-serve:1"},
            "ExecutionRoleArn": "arn:aws:iam::123456789012:role/x",
        },
    )
    service.handle(
        "CreateEndpointConfig",
        {
            "EndpointConfigName": config,
            "ProductionVariants": [
                {
                    "VariantName": "main",
                    "ModelName": model,
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        },
    )


def test_registry_endpoint_create_and_update_go_through_states_with_events(
    service: LocalSageMaker, events: list[dict[str, Any]]
) -> None:
    deploy(service, "cfg-1", "model-1")
    deploy(service, "cfg-2", "model-2")

    service.handle("CreateEndpoint", {"EndpointName": "Market", "EndpointConfigName": "cfg-1"})
    service.wait_endpoint("Market")
    service.handle("UpdateEndpoint", {"EndpointName": "Market", "EndpointConfigName": "cfg-2"})
    described = service.wait_endpoint("Market")
    service.wait_idle()

    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == "cfg-2"
    assert described["EndpointArn"] == "arn:aws:sagemaker:us-east-1:123456789012:endpoint/market"
    assert described["ProductionVariants"][0]["VariantName"] == "main"
    changes = [e for e in events if e["detail-type"] == "SageMaker Endpoint State Change"]
    assert [e["detail"]["EndpointStatus"] for e in changes] == [
        "CREATING",
        "IN_SERVICE",
        "UPDATING",
        "IN_SERVICE",
    ]
    assert [e["detail"]["EndpointConfigName"] for e in changes] == ["cfg-1", "cfg-1", "cfg-1", "cfg-2"]


def test_registry_endpoint_real_time_mode_settles_asynchronously(make_service: ServiceFactory) -> None:
    service = make_service(deterministic=False, endpoint_seconds=0.05)
    deploy(service, "cfg-1", "model-1")

    service.handle("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "cfg-1"})

    assert service.wait_endpoint("ep")["EndpointStatus"] == "InService"


def test_registry_endpoint_errors(service: LocalSageMaker) -> None:
    with pytest.raises(ServiceError) as missing_config:
        service.handle("CreateEndpoint", {"EndpointName": "ep", "EndpointConfigName": "absent"})
    with pytest.raises(ServiceError) as missing_endpoint:
        service.handle("DescribeEndpoint", {"EndpointName": "absent"})
    with pytest.raises(ServiceError) as missing_update:
        service.handle("UpdateEndpoint", {"EndpointName": "absent", "EndpointConfigName": "absent"})

    assert {missing_config.value.code, missing_endpoint.value.code, missing_update.value.code} == {
        "ValidationException"
    }


def test_registry_tags_on_versioned_package_arns_and_jobs(registry: LocalSageMaker, connect: Connect) -> None:
    arn = package(registry, Tags=[{"Key": "profile", "Value": "market"}])
    client = connect(registry)

    client.add_tags(
        ResourceArn=arn, Tags=[{"Key": "round", "Value": "7"}, {"Key": "profile", "Value": "market-xgb"}]
    )
    tags = client.list_tags(ResourceArn=arn)["Tags"]

    assert sorted((t["Key"], t["Value"]) for t in tags) == [("profile", "market-xgb"), ("round", "7")]
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.list_tags(ResourceArn="arn:aws:sagemaker:us-east-1:123456789012:model-package/absent/1")
    assert caught.value.response["Error"]["Code"] == "ValidationException"


def test_registry_tags_on_tuning_jobs(make_service: ServiceFactory) -> None:
    from tests.local_sagemaker.conftest import run_tuning, tuning_request  # noqa: PLC0415

    service = make_service()
    request = tuning_request("tagged", max_jobs=1, parallel=1)
    request["Tags"] = [{"Key": "profile", "Value": "market"}]
    described = run_tuning(service, request)

    service.handle(
        "AddTags",
        {"ResourceArn": described["HyperParameterTuningJobArn"], "Tags": [{"Key": "round", "Value": "1"}]},
    )

    tags = service.handle("ListTags", {"ResourceArn": described["HyperParameterTuningJobArn"]})["Tags"]
    assert tags == [{"Key": "profile", "Value": "market"}, {"Key": "round", "Value": "1"}]


def test_registry_endpoint_and_group_tags_answer_list_tags_and_add_tags_and_survive_a_restart(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    """Issue 17, items 1 and 2: Promote reads the retune:profile tag of a group and of an endpoint by its ARN, and
    tags an endpoint it created before it tagged them; the local IAM reads aws:ResourceTag from the same tags."""
    state = tmp_path / "tags"
    first = make_service(state_dir=state)
    group = first.handle(
        "CreateModelPackageGroup",
        {"ModelPackageGroupName": "retune-market", "Tags": [{"Key": "retune:profile", "Value": "market"}]},
    )["ModelPackageGroupArn"]
    deploy(first, "cfg-1", "model-1")
    deploy(first, "cfg-2", "model-2")
    tagged = first.handle(
        "CreateEndpoint",
        {
            "EndpointName": "market",
            "EndpointConfigName": "cfg-1",
            "Tags": [{"Key": "retune:profile", "Value": "market"}],
        },
    )["EndpointArn"]
    untagged = first.handle("CreateEndpoint", {"EndpointName": "older", "EndpointConfigName": "cfg-1"})[
        "EndpointArn"
    ]
    first.wait_endpoint("market")
    first.wait_endpoint("older")
    first.handle("UpdateEndpoint", {"EndpointName": "market", "EndpointConfigName": "cfg-2"})
    first.wait_endpoint("market")
    assert first.handle("ListTags", {"ResourceArn": untagged})["Tags"] == []
    first.handle("AddTags", {"ResourceArn": untagged, "Tags": [{"Key": "retune:profile", "Value": "market"}]})
    first.close()

    second = make_service(state_dir=state)
    for arn in (group, tagged, untagged):
        assert second.handle("ListTags", {"ResourceArn": arn})["Tags"] == [
            {"Key": "retune:profile", "Value": "market"}
        ]
    assert "Tags" not in second.handle("DescribeEndpoint", {"EndpointName": "market"})
