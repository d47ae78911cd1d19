"""The state directory's format: what a service wrote before must load, and the service writes it as it did.

tests/local_sagemaker/data/state-7e9bf5d/ was written by `write_state` on commit 7e9bf5d (the service before it was
split by concern), with `answers.json` its answers to `READS` then (and one answer since: the tuning job's
StaticHyperParameters carry AMT's reserved `_tuning_objective_metric`, added when described, not stored):

    PYTHONPATH=.:layers/core:local:cli .venv/bin/python -c \
        "from tests.local_sagemaker.test_state_format import generate; generate()"
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from retune_local import LocalSageMaker, SeedTrial

from tests.local_sagemaker.conftest import ServiceFactory, curve_image, tuning_request

pytestmark = pytest.mark.local_stack

DATA = Path(__file__).resolve().parent / "data" / "state-7e9bf5d"
CLOCK = 1_700_000_000.0
PACKAGE = "arn:aws:sagemaker:us-east-1:123456789012:model-package/market/"
INFERENCE = {
    "Containers": [{"Image": "retune-serve:1", "ModelDataUrl": "s3://retune-out/job/output/model.tar.gz"}],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}
PROFILE_TAG = [{"Key": "retune:profile", "Value": "market"}]
TUNING_ARN = "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/seeded"
ENDPOINT_ARN = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/market"
READS: list[tuple[str, dict[str, Any]]] = [
    ("DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": "seeded"}),
    ("ListHyperParameterTuningJobs", {}),
    ("ListTrainingJobsForHyperParameterTuningJob", {"HyperParameterTuningJobName": "seeded"}),
    ("DescribeModelPackageGroup", {"ModelPackageGroupName": "market"}),
    ("ListModelPackageGroups", {}),
    ("DescribeModelPackage", {"ModelPackageName": PACKAGE + "1"}),
    ("DescribeModelPackage", {"ModelPackageName": PACKAGE + "2"}),
    ("DescribeModelPackage", {"ModelPackageName": "loose"}),
    ("ListModelPackages", {"ModelPackageGroupName": "market"}),
    ("ListModelPackages", {}),
    ("DescribeEndpoint", {"EndpointName": "market"}),
    ("ListTags", {"ResourceArn": TUNING_ARN}),
    ("ListTags", {"ResourceArn": ENDPOINT_ARN}),
    ("ListTags", {"ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/market"}),
    ("ListTags", {"ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:model/market-model"}),
    ("ListTags", {"ResourceArn": PACKAGE + "1"}),
]


def write_state(service: LocalSageMaker) -> None:
    """Every kind of record the service keeps: a seeded tuning job and its training jobs, a group, versioned and
    unversioned packages (a ClientToken, an update token, metadata), a model, an endpoint config, an endpoint, and
    tags added to several of them. The clock is fixed so that the files are the same on every run."""
    service.ctx.wall = lambda: CLOCK
    request = tuning_request("seeded", max_jobs=2, parallel=1)
    request["Tags"] = PROFILE_TAG
    service.seed_tuning_job(
        request,
        [SeedTrial({"x": "0.25"}, [0.5, 0.4]), SeedTrial({"x": "0.75"}, [0.9], status="Failed")],
    )
    service.handle("CreateModelPackageGroup", {"ModelPackageGroupName": "market", "Tags": PROFILE_TAG})
    first = service.handle(
        "CreateModelPackage",
        {"ModelPackageGroupName": "market", "InferenceSpecification": INFERENCE, "ClientToken": "token-1"},
    )["ModelPackageArn"]
    second = service.handle(
        "CreateModelPackage", {"ModelPackageGroupName": "market", "InferenceSpecification": INFERENCE}
    )["ModelPackageArn"]
    service.handle(
        "UpdateModelPackage",
        {
            "ModelPackageArn": first,
            "ModelApprovalStatus": "Approved",
            "CustomerMetadataProperties": {"round": "1"},
        },
    )
    service.handle(
        "UpdateModelPackage",
        {"ModelPackageArn": second, "ModelApprovalStatus": "Rejected", "ClientToken": "update-1"},
    )
    service.handle("CreateModelPackage", {"ModelPackageName": "loose", "InferenceSpecification": INFERENCE})
    service.handle(
        "CreateModel",
        {
            "ModelName": "market-model",
            "PrimaryContainer": {"ModelPackageName": first},
            "ExecutionRoleArn": "arn:aws:iam::123456789012:role/x",
        },
    )
    service.handle(
        "CreateEndpointConfig",
        {
            "EndpointConfigName": "market-config",
            "ProductionVariants": [
                {
                    "VariantName": "main",
                    "ModelName": "market-model",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        },
    )
    service.handle("CreateEndpoint", {"EndpointName": "market", "EndpointConfigName": "market-config"})
    service.handle("AddTags", {"ResourceArn": ENDPOINT_ARN, "Tags": PROFILE_TAG})
    service.handle("AddTags", {"ResourceArn": TUNING_ARN, "Tags": [{"Key": "round", "Value": "1"}]})
    service.handle("AddTags", {"ResourceArn": first, "Tags": [{"Key": "round", "Value": "1"}]})


def answers(service: LocalSageMaker) -> list[dict[str, Any]]:
    return [json.loads(json.dumps(service.handle(operation, params))) for operation, params in READS]


def records(state: Path) -> dict[str, Any]:
    """Every record under state/, by its path."""
    root = state / "state"
    return {
        str(path.relative_to(root)): json.loads(path.read_text()) for path in sorted(root.rglob("*.json"))
    }


def generate(target: Path = DATA) -> None:
    """Write the fixture with the service as it is (see the module's docstring)."""
    shutil.rmtree(target, ignore_errors=True)
    with LocalSageMaker(target, {"retune-curve": curve_image()}) as service:
        write_state(service)
        (target / "answers.json").write_text(json.dumps(answers(service), indent=1, sort_keys=True) + "\n")
    shutil.rmtree(target / "jobs")


def test_state_written_before_loads_and_answers_as_it_did(
    make_service: ServiceFactory, tmp_path: Path
) -> None:
    state = tmp_path / "before"
    shutil.copytree(DATA, state)
    service = make_service(state_dir=state)

    assert answers(service) == json.loads((DATA / "answers.json").read_text())
    again = service.handle(
        "CreateModelPackage",
        {"ModelPackageGroupName": "market", "InferenceSpecification": INFERENCE, "ClientToken": "token-1"},
    )
    after = service.handle(
        "CreateModelPackage", {"ModelPackageGroupName": "market", "InferenceSpecification": INFERENCE}
    )
    updated = service.handle(
        "UpdateModelPackage",
        {"ModelPackageArn": PACKAGE + "2", "ModelApprovalStatus": "Approved", "ClientToken": "update-1"},
    )
    assert again["ModelPackageArn"] == PACKAGE + "1"
    assert after["ModelPackageArn"] == PACKAGE + "3"
    assert updated["ModelPackageArn"] == PACKAGE + "2"
    described = service.handle("DescribeModelPackage", {"ModelPackageName": PACKAGE + "2"})
    assert described["ModelApprovalStatus"] == "Rejected", "an update token already used changes nothing"
    listed = service.handle("ListModelPackages", {"ModelPackageGroupName": "market"})[
        "ModelPackageSummaryList"
    ]
    assert [p["ModelPackageVersion"] for p in listed] == [1, 2, 3]


def test_state_is_written_as_before(make_service: ServiceFactory, tmp_path: Path) -> None:
    state = tmp_path / "now"
    service = make_service(state_dir=state)

    write_state(service)

    assert records(state) == records(DATA)
