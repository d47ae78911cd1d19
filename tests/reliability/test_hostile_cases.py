"""Hand-written hostile cases through the handlers on moto (S3, DynamoDB, SNS) with the real adapters, and a
botocore Stubber for SageMaker that fails on any call not expected: a huge manifest, keys that need encoding, manifest
paths that leave the drop's prefix, the wrong bucket, an unknown profile, jobs that are not retune's, missing
fields, wrong types, and every timestamp form SageMaker uses. (On the local stack once it lands: issue 9, part 4.)
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

import pytest
from retune.adapters.sagemaker import SageMaker
from retune.composition import compose
from retune.timeutil import utcnow

from functions.close_round.handler import lambda_handler as close_round_handler
from functions.promote.handler import lambda_handler as promote_handler
from functions.record_trial.handler import lambda_handler as record_trial_handler
from functions.start_round.handler import lambda_handler as start_round_handler
from tests.conftest import World, profile_doc, s3_event, settings, world_ports
from tests.integration.conftest import AwsWorld, FakeLambdaContext, load_event
from tests.reliability.harness import endpoint_event, package_event, training_event, tuning_event

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

MANIFEST = {
    "channels": {
        "train": {"files": ["train.csv"], "content_type": "text/csv"},
        "validation": {"files": ["validation.csv"], "content_type": "text/csv"},
        "test": {"files": ["test.csv"], "content_type": "text/csv"},
    }
}
TUNING_ARN = "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/rt-market-xgb-0001"


def drop(aws: AwsWorld, drop_id: str, manifest: Any = None, profile: str = "market-xgb") -> dict[str, Any]:
    """Upload a drop's files and then its manifest; the S3 event as EventBridge delivers it (key URL-encoded)."""
    prefix = f"datasets/{profile}/{drop_id}/"
    for name in ("train.csv", "validation.csv", "test.csv"):
        aws.put(prefix + name, "y,x\n0.1,0.2\n")
    body = manifest if isinstance(manifest, bytes | str) else json.dumps(manifest or MANIFEST)
    version = aws.put(prefix + "manifest.json", body)
    encoded = "/".join(quote_plus(part, safe="") for part in (prefix + "manifest.json").split("/"))
    return s3_event(encoded, version, bucket=aws.bucket)


def start(aws: AwsWorld, event: dict[str, Any]) -> dict[str, Any]:
    return start_round_handler(event, FakeLambdaContext(), aws.deps)


def created_jobs(aws: AwsWorld) -> int:
    return len(aws.deps.metrics.counts) and int(aws.deps.metrics.counts.get("RoundsStarted", 0))  # type: ignore[attr-defined]


@pytest.fixture
def profile(aws: AwsWorld) -> None:
    aws.put("profiles/market-xgb.json", profile_doc())


@pytest.mark.usefixtures("profile")
def test_hostile_huge_manifest_fails_naming_its_size_without_reading_it_whole(aws: AwsWorld) -> None:
    huge = json.dumps({"channels": {"train": {"files": [f"part/{i:07d}.csv" for i in range(80_000)]}}})
    assert len(huge) > 1_048_576
    result = start(aws, drop(aws, "2015-01-01", huge))
    assert result["status"] == "failed"
    assert any("over the 1048576 limit" in e for e in result["errors"]), result["errors"]
    assert created_jobs(aws) == 0
    (alert,) = aws.alerts()
    assert "failed validation" in alert["Subject"]


@pytest.mark.usefixtures("profile")
@pytest.mark.parametrize("drop_id", ["2015 01+01", "caf\u00e9-\u65e5\u672c", "a&b=c;d", "100%"])
def test_hostile_keys_that_need_encoding_start_their_drop(aws: AwsWorld, drop_id: str) -> None:
    aws.stubber.add_response("create_hyper_parameter_tuning_job", {"HyperParameterTuningJobArn": TUNING_ARN})
    event = drop(aws, drop_id)
    assert (
        event["detail"]["object"]["key"] != f"datasets/market-xgb/{drop_id}/manifest.json"
    )  # it was encoded
    result = start(aws, event)
    assert (result["status"], result["drop_id"]) == ("started", drop_id)
    aws.stubber.assert_no_pending_responses()
    assert aws.store.get_drop("market-xgb", drop_id).state == "started"  # type: ignore[union-attr]


@pytest.mark.usefixtures("profile")
@pytest.mark.parametrize(
    "path",
    [
        "../2015-07-01/train.csv",
        "/datasets/market-xgb/x/train.csv",
        "a/../../b.csv",
        "./train.csv",
        "a//b.csv",
    ],
)
def test_hostile_manifest_paths_that_leave_the_drop_fail(aws: AwsWorld, path: str) -> None:
    manifest = json.loads(json.dumps(MANIFEST))
    manifest["channels"]["train"]["files"] = [path]
    result = start(aws, drop(aws, "2015-01-01", manifest))
    assert result["status"] == "failed"
    assert any(e.startswith("manifest channels.train.files") for e in result["errors"]), result["errors"]
    assert created_jobs(aws) == 0


@pytest.mark.usefixtures("profile")
def test_hostile_wrong_bucket_is_ignored_without_reading_it(aws: AwsWorld) -> None:
    event = drop(aws, "2015-01-01")
    event["detail"]["bucket"]["name"] = "someone-elses-bucket"
    result = start(aws, event)
    assert result["status"] == "ignored"
    assert "not retune's data bucket" in result["detail"]
    assert aws.store.get_drop("market-xgb", "2015-01-01") is None


def test_hostile_unknown_profile_fails_naming_the_missing_file(aws: AwsWorld) -> None:
    result = start(aws, drop(aws, "2015-01-01", profile="no-such-profile"))
    assert result["status"] == "failed"
    assert result["errors"] == [
        "profile: profiles/no-such-profile.json does not exist; upload the profile before its drops"
    ]


def other_deps(aws: AwsWorld) -> World:
    """A world whose RecordTrial, CloseRound and Promote deps are on moto's store and the stubbed SageMaker (the
    fakes for the rest)."""
    world = World()
    ports = replace(world_ports(world), store=aws.store, sagemaker=SageMaker(aws.sagemaker))
    composed = compose(ports, settings())
    world.record_deps, world.close_deps = composed.record_trial, composed.close_round
    world.promote_deps = composed.promote
    return world


@pytest.mark.parametrize(
    ("handler", "event"),
    [
        ("record_trial", training_event("xgboost-2026-01-05-09-38-26-123", "Completed")),
        ("record_trial", training_event("rt-someone-elses-0001-001-0a0b0c0d", "Completed")),
        ("close_round", tuning_event("hpo-not-ours", "Completed")),
        ("close_round", tuning_event("rt-market-xgb-0007", "Completed")),
        ("promote", training_event("rt-market-xgb-0007-eval", "Completed")),
        ("promote", endpoint_event("someone-elses-endpoint", "IN_SERVICE", "someone-elses-config")),
    ],
    ids=["foreign-trial", "rt-prefixed-trial", "foreign-tuning", "unknown-round", "unknown-eval", "endpoint"],
)
def test_hostile_jobs_that_are_not_retunes_are_ignored_without_a_sagemaker_call(
    aws: AwsWorld, handler: str, event: dict[str, Any]
) -> None:
    world = other_deps(aws)
    handlers = {
        "record_trial": (record_trial_handler, world.record_deps),
        "close_round": (close_round_handler, world.close_deps),
        "promote": (promote_handler, world.promote_deps),
    }
    function, deps = handlers[handler]
    result = function(event, FakeLambdaContext(), deps)  # the Stubber fails any SageMaker call
    assert result["status"] == "ignored", result
    assert result["detail"]


def test_hostile_model_package_that_is_not_retunes_is_ignored(aws: AwsWorld) -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/someone-elses-group/3"
    aws.stubber.add_response(
        "describe_model_package",
        {
            "ModelPackageName": "someone-elses-group",
            "ModelPackageArn": arn,
            "CreationTime": utcnow(),
            "ModelPackageStatus": "Completed",
            "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
        },
    )
    world = other_deps(aws)
    result = promote_handler(
        package_event(arn, "Approved", "arn:aws:iam::1:user/x"), FakeLambdaContext(), world.promote_deps
    )
    assert (result["status"], result["detail"]) == ("ignored", "not a retune package")


def test_hostile_package_claiming_retunes_metadata_in_another_group_never_becomes_the_champion(
    aws: AwsWorld,
) -> None:
    """Issue 17, item 1: anyone who may create a package can copy retune's metadata onto it and approve it; a
    round of the profile must record the package, so it is refused, with an alert to the profile's owners."""
    from retune.events import parse_drop_event  # noqa: PLC0415
    from retune.store import round_item  # noqa: PLC0415
    from retune.table import Put  # noqa: PLC0415
    from retune.use_cases.start_round import start_round  # noqa: PLC0415

    from tests.unit.test_loop import close_and_evaluate, run_round  # noqa: PLC0415

    world = other_deps(aws)
    fake = World()  # round 1 decided, as Promote leaves it
    fake.put_profile()
    start_round(parse_drop_event(fake.drop("2015-01-01")), fake.deps)
    run_round(fake)
    assert close_and_evaluate(fake, challenger=0.47).status == "approved"
    aws.store.table.write([Put(round_item(fake.store.get_round("market-xgb", 1)))])
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/someone-elses-group/3"
    aws.stubber.add_response(
        "describe_model_package",
        {
            "ModelPackageName": "someone-elses-group",
            "ModelPackageArn": arn,
            "CreationTime": utcnow(),
            "ModelPackageStatus": "Completed",
            "ModelApprovalStatus": "Approved",
            "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
            "InferenceSpecification": {
                "Containers": [{"Image": "x", "ModelDataUrl": f"s3://{aws.bucket}/somewhere/model.tar.gz"}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            "CustomerMetadataProperties": {"retune:profile": "market-xgb", "retune:round": "1"},
        },
        {"ModelPackageName": arn},
    )
    result = promote_handler(
        package_event(arn, "Approved", "arn:aws:iam::1:user/x"), FakeLambdaContext(), world.promote_deps
    )
    aws.stubber.assert_no_pending_responses()
    assert result["status"] == "ignored"
    assert result["detail"] == "retune did not register it for market-xgb (no round of market-xgb records it)"
    assert aws.store.get_champion("market-xgb") is None
    assert world.alerts.published[-1].key == f"market-xgb/champion/{arn}/refused"


@pytest.mark.parametrize(
    ("path", "event", "mutate", "field"),
    [
        (
            "start_round",
            "start_round/manifest_uploaded.json",
            ("detail", "object", "key", None),
            "object.key",
        ),
        ("start_round", "start_round/manifest_uploaded.json", ("detail", "bucket", None, None), "bucket"),
        ("start_round", "start_round/drop_ready.json", ("detail", "drop_id", None, None), "drop_id"),
        (
            "record_trial",
            "record_trial/training_completed.json",
            ("detail", "TrainingJobName", None, None),
            "TrainingJobName",
        ),
        (
            "close_round",
            "close_round/tuning_completed.json",
            ("detail", "HyperParameterTuningJobStatus", None, None),
            "HyperParameterTuningJobStatus",
        ),
        (
            "promote",
            "promote/model_package_approved.json",
            ("detail", "ModelPackageArn", None, None),
            "ModelPackageArn",
        ),
        (
            "promote",
            "promote/endpoint_in_service.json",
            ("detail", "EndpointStatus", None, None),
            "EndpointStatus",
        ),
        ("record_trial", "record_trial/training_completed.json", ("time", None, None, None), "time"),
    ],
    ids=lambda v: v if isinstance(v, str) and "/" not in v else None,
)
def test_hostile_missing_fields_are_rejected_naming_the_field(
    aws: AwsWorld, path: str, event: str, mutate: tuple[Any, ...], field: str
) -> None:
    document = load_event(event)
    parts = [p for p in mutate if p is not None]
    parent = document
    for part in parts[:-1]:
        parent = parent[part]
    del parent[parts[-1]]
    result = run(aws, path, document)
    assert result["status"] == "rejected", result
    assert any(field in e and "required" in e for e in result["errors"]), result["errors"]


WRONG_TYPES = [
    ("start_round", "start_round/manifest_uploaded.json", ["detail", "object", "size"], "big", "object.size"),
    ("start_round", "start_round/manifest_uploaded.json", ["detail", "bucket"], "retune-data", "bucket"),
    (
        "record_trial",
        "record_trial/training_completed.json",
        ["detail", "TrainingJobStatus"],
        42,
        "TrainingJobStatus",
    ),
    (
        "record_trial",
        "record_trial/training_completed.json",
        ["detail", "HyperParameters"],
        ["eta"],
        "HyperParameters",
    ),
    ("record_trial", "record_trial/training_completed.json", ["detail", "Tags"], [1, 2], "Tags"),
    (
        "close_round",
        "close_round/tuning_completed.json",
        ["detail", "HyperParameterTuningJobName"],
        "x" * 33,
        "HyperParameterTuningJobName",
    ),
    (
        "promote",
        "promote/model_package_approved.json",
        ["detail", "ModelPackageVersion"],
        "one",
        "ModelPackageVersion",
    ),
    (
        "promote",
        "promote/model_package_approved.json",
        ["detail", "ModelApprovalStatus"],
        "Maybe",
        "ModelApprovalStatus",
    ),
    ("promote", "promote/evaluation_completed.json", ["time"], "yesterday", "time"),
]


@pytest.mark.parametrize(
    ("path", "event", "where", "value", "field"), WRONG_TYPES, ids=[w[-1] + "-" + w[0] for w in WRONG_TYPES]
)
def test_hostile_wrong_types_are_rejected_naming_the_field(
    aws: AwsWorld, path: str, event: str, where: list[str], value: Any, field: str
) -> None:
    document = load_event(event)
    parent = document
    for part in where[:-1]:
        parent = parent[part]
    parent[where[-1]] = value
    result = run(aws, path, document)
    assert result["status"] == "rejected", result
    assert any(
        e.split(":")[0].endswith(field) or e.startswith(field) or f".{field}" in e.split(":")[0]
        for e in result["errors"]
    ), result["errors"]


TIMESTAMPS = [
    1767605406281,  # epoch milliseconds, a number
    "1767605406281",  # epoch milliseconds, a string
    1767605406281.5,
    1767605406,  # epoch seconds
    "2026-01-05T09:30:06Z",
    "2026-01-05T09:30:06.281Z",
    "2026-01-05T09:30:06.281+00:00",
    "2026-01-05T10:30:06+01:00",
    "2026-01-05T09:30:06",
]


@pytest.mark.parametrize(
    ("path", "event"),
    [
        ("record_trial", "record_trial/training_completed.json"),
        ("close_round", "close_round/tuning_completed.json"),
        ("promote", "promote/endpoint_in_service.json"),
    ],
)
def test_hostile_every_timestamp_form_sagemaker_uses_is_accepted(
    aws: AwsWorld, path: str, event: str
) -> None:
    for value in TIMESTAMPS:
        document = load_event(event)
        document["time"] = value if isinstance(value, str) else str(value)
        for key in ("CreationTime", "LastModifiedTime", "TrainingStartTime", "TrainingEndTime"):
            if key in document["detail"]:
                document["detail"][key] = value
        for name in ("TrainingJobName", "HyperParameterTuningJobName", "EndpointName"):
            if name in document["detail"]:
                document["detail"][name] = "not-retunes"
        result = run(aws, path, document)
        assert result["status"] == "ignored", (value, result)  # parsed, then found not to be retune's


def run(aws: AwsWorld, path: str, document: dict[str, Any]) -> dict[str, Any]:
    world = other_deps(aws)
    handler, deps = {
        "start_round": (start_round_handler, aws.deps),
        "record_trial": (record_trial_handler, world.record_deps),
        "close_round": (close_round_handler, world.close_deps),
        "promote": (promote_handler, world.promote_deps),
    }[path]
    return dict(handler(document, FakeLambdaContext(), deps))


def test_hostile_update_of_an_endpoint_another_caller_is_updating_is_transient() -> None:
    """Two callers that both found the endpoint free: the second UpdateEndpoint meets SageMaker's
    ValidationException "Cannot update in-progress endpoint", which must read as busy (retried), not as bad
    input."""
    import boto3  # noqa: PLC0415
    from botocore.stub import Stubber  # noqa: PLC0415
    from retune.errors import TransientError  # noqa: PLC0415

    client = boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    request = {"EndpointName": "market-xgb", "EndpointConfigName": "rt-market-xgb-0002-config"}
    with Stubber(client) as stub:
        stub.add_client_error(
            "update_endpoint",
            "ValidationException",
            'Cannot update in-progress endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/market-xgb".',
            400,
            expected_params=request,
        )
        with pytest.raises(TransientError, match="market-xgb is busy"):
            SageMaker(client).update_endpoint(request)


@pytest.mark.parametrize("group_exists", [False, True])
def test_hostile_registration_into_a_missing_group_is_not_found_and_other_invalid_requests_stay_invalid(
    group_exists: bool,
) -> None:
    """CreateModelPackage into a group deleted by hand answers ValidationException: the adapter tells that apart
    from other invalid requests by describing the group (NotFound, which Promote answers by creating the group),
    never by the message's wording; with the group there, the original error stands."""
    import boto3  # noqa: PLC0415
    from botocore.exceptions import ClientError  # noqa: PLC0415
    from botocore.stub import Stubber  # noqa: PLC0415
    from retune.errors import NotFound  # noqa: PLC0415

    client = boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    request = {
        "ModelPackageGroupName": "retune-market-xgb",
        "InferenceSpecification": {
            "Containers": [{"Image": "retune/market-volatility-xgb", "ModelDataUrl": "s3://b/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"],
            "SupportedResponseMIMETypes": ["text/csv"],
        },
    }
    with Stubber(client) as stub:
        stub.add_client_error("create_model_package", "ValidationException", "a message", 400)
        if group_exists:
            stub.add_response(
                "describe_model_package_group",
                {
                    "ModelPackageGroupName": "retune-market-xgb",
                    "ModelPackageGroupArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/g",
                    "CreationTime": datetime(2026, 1, 1, tzinfo=UTC),
                    "CreatedBy": {},
                    "ModelPackageGroupStatus": "Completed",
                },
                {"ModelPackageGroupName": "retune-market-xgb"},
            )
            with pytest.raises(ClientError, match="a message"):
                SageMaker(client).create_model_package(request)
        else:
            stub.add_client_error(
                "describe_model_package_group",
                "ValidationException",
                "ModelPackageGroup retune-market-xgb does not exist.",
                400,
                expected_params={"ModelPackageGroupName": "retune-market-xgb"},
            )
            with pytest.raises(NotFound, match="model package group retune-market-xgb does not exist"):
                SageMaker(client).create_model_package(request)
        stub.assert_no_pending_responses()


@pytest.mark.parametrize(
    ("code", "status", "raised"),
    [
        ("AccessDeniedException", 400, "Refused"),
        ("ValidationException", 400, "Refused"),
        ("ResourceNotFound", 400, "NotFound"),
        ("ThrottlingException", 400, "Throttled"),
        ("RequestTimeout", 400, "TransientError"),
        ("InternalFailure", 500, "TransientError"),
        ("ResourceLimitExceeded", 400, "LimitExceeded"),
        ("ResourceInUse", 400, "AlreadyExists"),
    ],
)
def test_hostile_tuning_job_launch_errors_are_classified(code: str, status: int, raised: str) -> None:
    """Every answer to CreateHyperParameterTuningJob is one of retune's errors: a refusal (4xx) is permanent,
    throttling, a request timeout and 5xx are transient; none reaches StartRound as a bare ClientError."""
    import boto3  # noqa: PLC0415
    from botocore.stub import Stubber  # noqa: PLC0415
    from retune import errors  # noqa: PLC0415

    from tests.integration.test_start_round_handler import expected_request  # noqa: PLC0415

    client = boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(client) as stub:
        stub.add_client_error("create_hyper_parameter_tuning_job", code, "the service's message", status)
        with pytest.raises(getattr(errors, raised), match=r"^sagemaker: "):
            SageMaker(client).create_tuning_job(expected_request("2015-01-01"))
