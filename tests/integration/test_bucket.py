"""The S3 adapter on moto: what S3 answers is what the use cases get."""

from __future__ import annotations

from retune.adapters.s3 import Bucket

from tests.integration.conftest import AwsWorld


def test_bucket_ranged_read_of_an_empty_object_is_an_empty_body(aws: AwsWorld) -> None:
    # A ranged GET of a 0-byte object is 416 InvalidRange; every reader of a profile or manifest reads with a range.
    version = aws.put("profiles/market-xgb.json", b"")
    stored = Bucket(aws.s3).read(aws.bucket, "profiles/market-xgb.json", max_bytes=262_144)
    assert stored.body == b""
    assert stored.version == version
    by_version = Bucket(aws.s3).read(aws.bucket, "profiles/market-xgb.json", version, max_bytes=10)
    assert by_version.body == b"" and by_version.version == version


def test_bucket_ranged_read_stops_one_byte_past_the_limit(aws: AwsWorld) -> None:
    aws.put("datasets/market-xgb/d/manifest.json", b"x" * 100)
    stored = Bucket(aws.s3).read(aws.bucket, "datasets/market-xgb/d/manifest.json", max_bytes=10)
    assert stored.body == b"x" * 11
