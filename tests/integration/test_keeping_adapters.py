"""The adapters behind issue 17's items 1, 2 and 19: S3's copies and object tags on moto, SageMaker's ListTags and
AddTags through a Stubber (the exact requests, AWS's response shapes)."""

from __future__ import annotations

import boto3
import pytest
from botocore.stub import Stubber
from retune.adapters import s3
from retune.adapters.s3 import Bucket
from retune.adapters.sagemaker import SageMaker
from retune.errors import NotFound

from tests.integration.conftest import AwsWorld

GROUP = "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/retune-market-xgb"


def test_copy_carries_exactly_the_tags_given(aws: AwsWorld) -> None:
    bucket = Bucket(aws.s3)
    aws.put("models/job/output/model.tar.gz", b"weights")
    aws.s3.put_object_tagging(
        Bucket=aws.bucket,
        Key="models/job/output/model.tar.gz",
        Tagging={"TagSet": [{"Key": "from", "Value": "sagemaker"}]},
    )
    assert not bucket.exists(aws.bucket, "registry/p/round-1/model.tar.gz")
    bucket.copy(aws.bucket, "models/job/output/model.tar.gz", "registry/p/round-1/model.tar.gz", tags={})
    bucket.copy(
        aws.bucket,
        "models/job/output/model.tar.gz",
        "registry/p/round-2/model.tar.gz",
        tags={"retune:expirable": "true"},
    )
    assert bucket.exists(aws.bucket, "registry/p/round-1/model.tar.gz")
    kept = aws.s3.get_object(Bucket=aws.bucket, Key="registry/p/round-1/model.tar.gz")
    assert kept["Body"].read() == b"weights"
    assert aws.s3.get_object_tagging(Bucket=aws.bucket, Key="registry/p/round-1/model.tar.gz")["TagSet"] == []
    assert aws.s3.get_object_tagging(Bucket=aws.bucket, Key="registry/p/round-2/model.tar.gz")["TagSet"] == [
        {"Key": "retune:expirable", "Value": "true"}
    ]


def test_copy_of_an_object_over_copy_objects_limit_goes_in_parts(
    aws: AwsWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(s3, "COPY_MAX_BYTES", 1024)
    monkeypatch.setattr(s3, "COPY_PART_BYTES", 5 * 1024**2)  # S3's smallest part
    body = bytes(range(256)) * (11 * 1024**2 // 256)
    aws.put("models/big/model.tar.gz", body)
    Bucket(aws.s3).copy(
        aws.bucket, "models/big/model.tar.gz", "registry/p/round-3/model.tar.gz", tags={"a": "b"}
    )
    assert aws.s3.get_object(Bucket=aws.bucket, Key="registry/p/round-3/model.tar.gz")["Body"].read() == body
    assert aws.s3.get_object_tagging(Bucket=aws.bucket, Key="registry/p/round-3/model.tar.gz")["TagSet"] == [
        {"Key": "a", "Value": "b"}
    ]
    assert aws.s3.list_multipart_uploads(Bucket=aws.bucket).get("Uploads", []) == []


def test_copy_of_a_missing_object_and_tags_of_one_are_not_found(aws: AwsWorld) -> None:
    bucket = Bucket(aws.s3)
    with pytest.raises(NotFound):
        bucket.copy(aws.bucket, "models/expired/model.tar.gz", "registry/p/round-4/model.tar.gz", tags={})
    with pytest.raises(NotFound):
        bucket.put_tags(aws.bucket, "registry/p/expired/model.tar.gz", {"retune:expirable": "true"})
    # (DeleteObjectTagging of a missing key is a 404 NoSuchKey in S3; moto fails it with a 500, so Promote looks
    # before it tags: HeadObject.)


def test_put_tags_sets_and_clears_an_objects_tags(aws: AwsWorld) -> None:
    bucket = Bucket(aws.s3)
    aws.put("registry/p/round-5/model.tar.gz", b"weights")
    bucket.put_tags(aws.bucket, "registry/p/round-5/model.tar.gz", {"retune:expirable": "true"})
    tags = aws.s3.get_object_tagging(Bucket=aws.bucket, Key="registry/p/round-5/model.tar.gz")["TagSet"]
    assert tags == [{"Key": "retune:expirable", "Value": "true"}]
    bucket.put_tags(aws.bucket, "registry/p/round-5/model.tar.gz", {})
    assert aws.s3.get_object_tagging(Bucket=aws.bucket, Key="registry/p/round-5/model.tar.gz")["TagSet"] == []


def sagemaker_client() -> object:
    return boto3.client(
        "sagemaker", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )


def test_list_tags_reads_every_page_and_a_missing_resource_is_not_found() -> None:
    client = sagemaker_client()
    with Stubber(client) as stub:  # type: ignore[arg-type]
        stub.add_response(
            "list_tags",
            {"Tags": [{"Key": "retune:profile", "Value": "market-xgb"}], "NextToken": "t"},
            {"ResourceArn": GROUP, "MaxResults": 100},
        )
        stub.add_response(
            "list_tags",
            {"Tags": [{"Key": "team", "Value": "ml"}]},
            {"ResourceArn": GROUP, "MaxResults": 100, "NextToken": "t"},
        )
        stub.add_client_error(
            "list_tags",
            "ValidationException",
            f"Resource {GROUP}x does not exist.",
            400,
            expected_params={"ResourceArn": GROUP + "x", "MaxResults": 100},
        )
        sagemaker = SageMaker(client)
        assert sagemaker.list_tags(GROUP) == {"retune:profile": "market-xgb", "team": "ml"}
        with pytest.raises(NotFound):
            sagemaker.list_tags(GROUP + "x")
        stub.assert_no_pending_responses()


def test_add_tags_and_create_group_send_sagemakers_shapes() -> None:
    client = sagemaker_client()
    endpoint = "arn:aws:sagemaker:us-east-1:123456789012:endpoint/market-xgb"
    with Stubber(client) as stub:  # type: ignore[arg-type]
        stub.add_response(
            "add_tags",
            {"Tags": [{"Key": "retune:profile", "Value": "market-xgb"}]},
            {"ResourceArn": endpoint, "Tags": [{"Key": "retune:profile", "Value": "market-xgb"}]},
        )
        stub.add_response(
            "create_model_package_group",
            {"ModelPackageGroupArn": GROUP},
            {"ModelPackageGroupName": "retune-market-xgb"},
        )
        sagemaker = SageMaker(client)
        sagemaker.add_tags(endpoint, {"retune:profile": "market-xgb"})
        assert sagemaker.create_model_package_group({"ModelPackageGroupName": "retune-market-xgb"}) == GROUP
        stub.assert_no_pending_responses()


def test_copy_of_a_model_under_a_kms_key_stays_under_that_key(aws: AwsWorld) -> None:
    """A profile's training.output_kms_key_id: SageMaker writes the model under that key; its copy keeps it (the
    bucket's default would quietly downgrade it)."""
    key = boto3.client("kms", region_name="us-east-1").create_key()["KeyMetadata"]["Arn"]
    aws.s3.put_object(
        Bucket=aws.bucket,
        Key="models/kms/model.tar.gz",
        Body=b"secret",
        ServerSideEncryption="aws:kms",
        SSEKMSKeyId=key,
    )
    Bucket(aws.s3).copy(aws.bucket, "models/kms/model.tar.gz", "registry/p/round-6/model.tar.gz", tags={})
    head = aws.s3.head_object(Bucket=aws.bucket, Key="registry/p/round-6/model.tar.gz")
    assert (head["ServerSideEncryption"], head["SSEKMSKeyId"]) == ("aws:kms", key)


def test_copy_refused_for_lack_of_a_permission_is_access_denied() -> None:
    from datetime import UTC, datetime  # noqa: PLC0415

    from retune.errors import AccessDenied  # noqa: PLC0415

    client = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(client) as stub:
        stub.add_response(
            "head_object",
            {
                "ContentLength": 6,
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": "arn:aws:kms:us-east-1:123456789012:key/k",
                "LastModified": datetime(2026, 1, 1, tzinfo=UTC),
            },
            {"Bucket": "b", "Key": "models/kms/model.tar.gz"},
        )
        stub.add_client_error(
            "copy_object", "AccessDenied", "User is not authorized to perform: kms:Decrypt", 403
        )
        with pytest.raises(AccessDenied, match="kms:Decrypt"):
            Bucket(client).copy("b", "models/kms/model.tar.gz", "registry/p/round-7/model.tar.gz", tags={})
        stub.assert_no_pending_responses()
