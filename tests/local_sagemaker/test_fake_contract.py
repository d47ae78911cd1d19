"""The unit tests' simulated SageMaker (tests/fakes.py, SimulatedSageMaker) and the local SageMaker answer the same
requests the same way, so that the fakes do not drift from the stack.

Both sides are driven through retune's SageMaker port: the fake directly, the local service through retune's own
adapter (retune.adapters.sagemaker) over a boto3 client on its HTTP server, as the functions call it. For each
request of the table the two answers must agree on: the outcome (the same retune error, or none); every key the
fake answers exists in the local answer with a value of the same JSON type (the fake may answer less: it models
what retune reads); the fields retune reads (READS) are there on both sides and, where they are facts of the
scenario rather than of the simulation, equal. What legitimately differs is named in DIFFERENT with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from retune.adapters.sagemaker import SageMaker
from retune.errors import AlreadyExists, NotFound
from retune_local import LocalSageMaker

from tests.fakes import SimulatedSageMaker
from tests.local_sagemaker.conftest import Connect, trials, tuning_request

pytestmark = pytest.mark.local_stack

# What retune reads from each answer (layers/core/retune: trials.py, use_cases/close_round.py, start_round.py,
# registry.py, by_hand.py, deploy.py).
READS: dict[str, list[str]] = {
    "describe_tuning_job": [
        "HyperParameterTuningJobStatus",
        "BestTrainingJob.TrainingJobName",
        "BestTrainingJob.FinalHyperParameterTuningJobObjectiveMetric.Value",
        "HyperParameterTuningEndTime",
        "TrainingJobDefinition.InputDataConfig",
    ],
    "describe_training_job": [
        "TrainingJobName",
        "TrainingJobStatus",
        "SecondaryStatus",
        "HyperParameters",
        "FinalMetricDataList",
        "ResourceConfig.InstanceCount",
        "BillableTimeInSeconds",
        "TrainingTimeInSeconds",
        "ModelArtifacts.S3ModelArtifacts",
        "TrainingStartTime",
        "TrainingEndTime",
    ],
    "list_trials": ["*.TrainingJobName", "*.TrainingJobStatus"],
    "describe_model_package_group": ["ModelPackageGroupArn"],
    "describe_model_package": ["ModelPackageArn", "ModelApprovalStatus", "CustomerMetadataProperties"],
    "describe_endpoint": ["EndpointArn", "EndpointConfigName", "EndpointStatus"],
}
# Facts of the scenario: both sides must give the same value.
EQUAL: dict[str, list[str]] = {
    "describe_tuning_job": ["HyperParameterTuningJobStatus", "BestTrainingJob.TrainingJobName"],
    "describe_training_job": ["TrainingJobName", "TrainingJobStatus", "SecondaryStatus", "HyperParameters"],
    "list_trials": ["*.TrainingJobName", "*.TrainingJobStatus"],
    "describe_model_package_group": ["ModelPackageGroupArn"],
    "describe_model_package": ["ModelPackageArn", "ModelApprovalStatus", "CustomerMetadataProperties"],
    "describe_endpoint": ["EndpointArn", "EndpointConfigName"],
}
# What legitimately differs, by call and path, and why.
DIFFERENT: dict[str, dict[str, str]] = {
    "describe_training_job": {
        "BillableTimeInSeconds": "the fake's are the test's given seconds, the local's the trial's virtual ones "
        "(equal values are not a fact of the scenario)",
    },
    "describe_endpoint": {
        "EndpointStatus": "the fake leaves a new endpoint Creating until the test settles it (endpoint_by_hand); "
        "the local one, deterministic, is InService as soon as it is described",
    },
}

INFERENCE = {
    "Containers": [
        {"Image": "retune-serve:1", "ModelDataUrl": "s3://retune-data/models/m/output/model.tar.gz"}
    ],
    "SupportedContentTypes": ["text/csv"],
    "SupportedResponseMIMETypes": ["text/csv"],
}
ROLE = "arn:aws:iam::123456789012:role/retune-sagemaker"


def _kind(value: Any) -> str:
    """The value's type as botocore hands it to retune (JSON's types, and datetimes)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, datetime):
        return "timestamp"
    return {str: "string", dict: "object", list: "array", type(None): "null"}[type(value)]


def drift(fake: Any, real: Any, path: str = "") -> list[str]:
    """Keys the fake answers that the local service does not, and values of another type."""
    if _kind(fake) != _kind(real):
        return [f"{path or '.'}: {_kind(fake)} in the fake, {_kind(real)} in the local service"]
    found: list[str] = []
    if isinstance(fake, dict):
        for key in fake:
            where = f"{path}.{key}".lstrip(".")
            if key not in real:
                found.append(f"{where}: only in the fake")
            else:
                found.extend(drift(fake[key], real[key], where))
    elif isinstance(fake, list) and fake and real:
        for item in fake:
            found.extend(drift(item, real[0], f"{path}.*".lstrip(".")))
    return found


def at(answer: Any, path: str) -> list[Any]:
    """The values at a dotted path (`*` for every item of a list); none when a key is absent."""
    values = [answer]
    for part in path.split("."):
        step: list[Any] = []
        for value in values:
            if part == "*" and isinstance(value, list):
                step.extend(value)
            elif isinstance(value, dict) and part in value:
                step.append(value[part])
        values = step
    return values


class Sides:
    """The fake and the local service behind retune's port, and the local service itself."""

    def __init__(self, service: LocalSageMaker, connect: Connect) -> None:
        self.service = service
        self.fake = SimulatedSageMaker()
        self.real = SageMaker(connect(service))

    def both(self, call: Callable[[Any], Any]) -> tuple[Any, Any]:
        """The call's answer (or the retune error it raised) on each side."""
        answers = []
        for port in (self.fake, self.real):
            try:
                answers.append(call(port))
            except (NotFound, AlreadyExists) as exc:
                answers.append(type(exc))
        return answers[0], answers[1]


def compare(operation: str, fake: Any, real: Any) -> list[str]:
    if isinstance(fake, type) or isinstance(real, type):
        return [] if fake is real else [f"{operation}: {fake!r} in the fake, {real!r} in the local service"]
    problems = [f"{operation}: {d}" for d in drift(fake, real)]
    different = DIFFERENT.get(operation, {})
    for path in READS.get(operation, []):
        if path in different:
            continue
        if bool(at(fake, path)) != bool(at(real, path)):
            side = "fake" if not at(fake, path) else "local service"
            problems.append(f"{operation}: {path} read by retune is missing in the {side}")
    for path in EQUAL.get(operation, []):
        if path not in different and at(fake, path) != at(real, path):
            problems.append(
                f"{operation}: {path}: {at(fake, path)} in the fake, {at(real, path)} in the local"
            )
    return problems


@pytest.fixture
def sides(service: LocalSageMaker, connect: Connect) -> Sides:
    return Sides(service, connect)


def test_tuning_jobs_and_their_trials_answer_the_same_way(sides: Sides) -> None:
    request = tuning_request("rt-contract", max_jobs=2, parallel=1)
    problems: list[str] = []

    fake_arn, real_arn = sides.both(lambda port: port.create_tuning_job(request))
    assert fake_arn == real_arn
    described = sides.service.wait_tuning_job("rt-contract")
    # The fake's trials get the results the local ones had, as a unit test would give them.
    results = []
    for summary in trials(sides.service, "rt-contract"):
        job = sides.service.handle("DescribeTrainingJob", {"TrainingJobName": summary["TrainingJobName"]})
        tuned = summary["TunedHyperParameters"]
        static = request["TrainingJobDefinition"]["StaticHyperParameters"]
        objective = summary["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        results.append(
            {
                "objective": objective,
                "hyperparameters": {**static, **tuned},
                "billable": job["BillableTimeInSeconds"],
            }
        )
    real_names = sides.fake.run_trials(
        "rt-contract", results, status=described["HyperParameterTuningJobStatus"]
    )
    fake_names = [s["TrainingJobName"] for s in sides.fake.list_trials("rt-contract")]
    # Trial names differ only in AMT's 8-hex part (the fake's is the index, AWS's is not published).
    pattern = re.compile(r"^rt-contract-\d{3}-[0-9a-f]{8}$")
    local_names = [s["TrainingJobName"] for s in trials(sides.service, "rt-contract")]
    assert all(pattern.match(n) for n in [*fake_names, *local_names])
    assert [n[:-9] for n in fake_names] == [n[:-9] for n in local_names]
    renamed = dict(zip(fake_names, local_names, strict=True))
    del real_names

    fake, real = sides.both(lambda port: port.describe_tuning_job("rt-contract"))
    if isinstance(fake, dict) and "BestTrainingJob" in fake:
        fake["BestTrainingJob"]["TrainingJobName"] = renamed[fake["BestTrainingJob"]["TrainingJobName"]]
    problems += compare("describe_tuning_job", fake, real)

    fake_list, real_list = sides.both(lambda port: port.list_trials("rt-contract"))
    for summary in fake_list:
        summary["TrainingJobName"] = renamed[summary["TrainingJobName"]]
    problems += compare(
        "list_trials", sorted(fake_list, key=str), sorted(real_list, key=lambda s: s["TrainingJobName"])
    )

    for fake_name, local_name in renamed.items():
        fake, real = sides.fake.describe_training_job(fake_name), sides.real.describe_training_job(local_name)
        fake = {**fake, "TrainingJobName": local_name}
        problems += compare("describe_training_job", fake, real)

    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        (
            "create_tuning_job (the name again)",
            lambda port: port.create_tuning_job(tuning_request("rt-again")),
        ),
        (
            "create_tuning_job (the name in other case)",
            lambda port: port.create_tuning_job(tuning_request("RT-AGAIN")),
        ),
        ("describe_tuning_job (missing)", lambda port: port.describe_tuning_job("rt-missing")),
        (
            "describe_training_job (missing)",
            lambda port: port.describe_training_job("rt-missing-001-00000000"),
        ),
        ("describe_model_package_group (missing)", lambda port: port.describe_model_package_group("missing")),
        (
            "create_model_package (missing group)",
            lambda port: port.create_model_package(
                {"ModelPackageGroupName": "missing", "InferenceSpecification": INFERENCE}
            ),
        ),
        ("describe_endpoint (missing)", lambda port: port.describe_endpoint("missing")),
        (
            "list_tags (missing)",
            lambda port: port.list_tags("arn:aws:sagemaker:us-east-1:123456789012:endpoint/x"),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_errors_are_the_same(sides: Sides, operation: str, call: Callable[[Any], Any]) -> None:
    sides.both(lambda port: port.create_tuning_job(tuning_request("rt-again", max_jobs=1, parallel=1)))
    fake, real = sides.both(call)
    assert compare(operation, fake, real) == []
    assert isinstance(fake, type), f"{operation}: no error"


def test_the_registry_and_endpoints_answer_the_same_way(sides: Sides) -> None:
    problems: list[str] = []
    group = {
        "ModelPackageGroupName": "retune-market",
        "ModelPackageGroupDescription": "market",
        "Tags": [{"Key": "retune:profile", "Value": "market"}],
    }
    fake, real = sides.both(lambda port: port.create_model_package_group(group))
    assert fake == real
    fake, real = sides.both(lambda port: port.create_model_package_group(group))
    problems += compare("create_model_package_group (again)", fake, real)
    fake, real = sides.both(lambda port: port.describe_model_package_group("retune-market"))
    problems += compare("describe_model_package_group", fake, real)
    group_arn = real["ModelPackageGroupArn"]
    fake, real = sides.both(lambda port: port.list_tags(group_arn))
    assert fake == real == {"retune:profile": "market"}
    sides.both(lambda port: port.add_tags(group_arn, {"retune:champion": "none"}))
    fake, real = sides.both(lambda port: port.list_tags(group_arn))
    assert fake == real == {"retune:profile": "market", "retune:champion": "none"}

    package = {
        "ModelPackageGroupName": "retune-market",
        "InferenceSpecification": INFERENCE,
        "ModelApprovalStatus": "PendingManualApproval",
        "CustomerMetadataProperties": {"retune:round": "1"},
        "ClientToken": "rt-market-0001",
    }
    fake, real = sides.both(lambda port: port.create_model_package(package))
    assert fake == real
    fake_again, real_again = sides.both(lambda port: port.create_model_package(package))
    assert fake_again == fake and real_again == real, "a ClientToken seen before returns the same package"
    arn = real
    fake, real = sides.both(lambda port: port.describe_model_package(arn))
    problems += compare("describe_model_package", fake, real)
    update = {
        "ModelPackageArn": arn,
        "ModelApprovalStatus": "Approved",
        "ApprovalDescription": "retune: better",
    }
    sides.both(lambda port: port.update_model_package(update))
    fake, real = sides.both(lambda port: port.describe_model_package(arn))
    problems += compare("describe_model_package (approved)", fake, real)
    assert at(fake, "ModelApprovalStatus") == at(real, "ModelApprovalStatus") == ["Approved"]

    model = {"ModelName": "market-1", "PrimaryContainer": {"ModelPackageName": arn}, "ExecutionRoleArn": ROLE}
    config = {
        "EndpointConfigName": "market-1",
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": "market-1",
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    }
    for call in (
        lambda port: port.create_model(model),
        lambda port: port.create_endpoint_config(config),
        lambda port: port.create_endpoint({"EndpointName": "market", "EndpointConfigName": "market-1"}),
    ):
        fake, real = sides.both(call)
        assert fake is None and real is None
        fake, real = sides.both(call)
        problems += compare("create again", fake, real)
    sides.service.wait_endpoint("market")
    fake, real = sides.both(lambda port: port.describe_endpoint("market"))
    problems += compare("describe_endpoint", fake, real)

    assert problems == [], "\n".join(problems)


def test_the_comparison_finds_drift() -> None:
    real = {"A": {"B": 1, "C": "x"}, "L": [{"N": "n"}], "T": datetime(2026, 1, 1)}
    assert drift({"A": {"B": "1"}, "L": [{"M": 1}], "Z": 0, "T": 0}, real) == [
        "A.B: string in the fake, number in the local service",
        "L.*.M: only in the fake",
        "Z: only in the fake",
        "T: number in the fake, timestamp in the local service",
    ]
    assert compare(
        "describe_endpoint", {"EndpointArn": "a"}, {"EndpointArn": "b", "EndpointConfigName": "c"}
    ) == [
        "describe_endpoint: EndpointConfigName read by retune is missing in the fake",
        "describe_endpoint: EndpointArn: ['a'] in the fake, ['b'] in the local",
        "describe_endpoint: EndpointConfigName: [] in the fake, ['c'] in the local",
    ]
