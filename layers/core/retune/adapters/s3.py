"""The data bucket: manifests, profiles, the files of a drop, SageMaker manifest files, evaluation reports."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple
from urllib.parse import urlencode

from botocore.exceptions import ClientError

from retune.adapters.errors import error_code, translated
from retune.errors import AccessDenied, NotFound

# CopyObject copies at most 5 GiB; a larger object is copied in parts of UploadPartCopy (S3's API reference).
COPY_MAX_BYTES = 5 * 1024**3
COPY_PART_BYTES = 512 * 1024**2


class StoredObject(NamedTuple):
    body: bytes
    version: str  # the S3 version id, or the ETag where the bucket is not versioned
    last_modified: datetime


class Bucket:
    def __init__(self, client: Any) -> None:
        self._client = client

    def read(
        self, bucket: str, key: str, version_id: str | None = None, *, max_bytes: int | None = None
    ) -> StoredObject:
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if version_id:
            params["VersionId"] = version_id
        if max_bytes is not None:
            # One byte over the limit tells "too large" without reading a huge object whole.
            params["Range"] = f"bytes=0-{max_bytes}"
        with translated("s3"):
            try:
                response = self._client.get_object(**params)
            except ClientError as exc:
                if max_bytes is None or error_code(exc) != "InvalidRange":
                    raise
                # S3 answers a range on an empty object with 416 InvalidRange. Read it without one, and still no
                # more than the limit's worth: the object may have been replaced since.
                del params["Range"]
                response = self._client.get_object(**params)
            stream = response["Body"]
            body = stream.read() if max_bytes is None else stream.read(max_bytes + 1)
            stream.close()
        version = response.get("VersionId")
        if not version or version == "null":
            version = str(response.get("ETag", "")).strip('"')
        return StoredObject(body=body, version=version, last_modified=response["LastModified"])

    def keys(self, bucket: str, prefix: str) -> set[str]:
        """Every key under `prefix` (paginated)."""
        found: set[str] = set()
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        with translated("s3"):
            while True:
                response = self._client.list_objects_v2(**params)
                found.update(obj["Key"] for obj in response.get("Contents", []))
                if not response.get("IsTruncated"):
                    return found
                params["ContinuationToken"] = response["NextContinuationToken"]

    def write_json(self, bucket: str, key: str, document: Any) -> None:
        with translated("s3"):
            self._client.put_object(
                Bucket=bucket,
                Key=key,
                Body=json.dumps(document, indent=1).encode(),
                ContentType="application/json",
            )

    def exists(self, bucket: str, key: str) -> bool:
        """HeadObject: False for a missing key (a 404, which S3 gives only to a caller allowed s3:ListBucket)."""
        try:
            with translated("s3"):
                self._client.head_object(Bucket=bucket, Key=key)
        except NotFound:
            return False
        return True

    def copy(self, bucket: str, source_key: str, key: str, *, tags: dict[str, str]) -> None:
        """A server-side copy within the bucket, carrying exactly `tags` and encrypted as the source is (a model
        SageMaker wrote with a profile's KMS key stays under that key): CopyObject, or a multipart copy for an
        object over CopyObject's 5 GiB. AccessDenied when the caller may not read the source or use its key."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            self._copy(bucket, source_key, key, tags)
        except ClientError as exc:
            if error_code(exc) in ("AccessDenied", "AccessDeniedException"):
                raise AccessDenied(f"s3: copying {source_key}: {exc}") from exc
            raise

    def _copy(self, bucket: str, source_key: str, key: str, tags: dict[str, str]) -> None:
        source = {"Bucket": bucket, "Key": source_key}
        # REPLACE with no tags given: the copy has none (COPY would take the source's).
        extra: dict[str, Any] = {"Tagging": urlencode(tags)} if tags else {}
        with translated("s3"):
            head = self._client.head_object(Bucket=bucket, Key=source_key)
            if head.get("ServerSideEncryption") == "aws:kms" and head.get("SSEKMSKeyId"):
                extra.update(ServerSideEncryption="aws:kms", SSEKMSKeyId=head["SSEKMSKeyId"])
            size = int(head["ContentLength"])
            if size <= COPY_MAX_BYTES:
                self._client.copy_object(
                    Bucket=bucket, Key=key, CopySource=source, TaggingDirective="REPLACE", **extra
                )
                return
            upload = self._client.create_multipart_upload(Bucket=bucket, Key=key, **extra)
            try:
                parts = []
                for number, start in enumerate(range(0, size, COPY_PART_BYTES), start=1):
                    end = min(start + COPY_PART_BYTES, size) - 1
                    part = self._client.upload_part_copy(
                        Bucket=bucket,
                        Key=key,
                        UploadId=upload["UploadId"],
                        PartNumber=number,
                        CopySource=source,
                        CopySourceRange=f"bytes={start}-{end}",
                    )
                    parts.append({"PartNumber": number, "ETag": part["CopyPartResult"]["ETag"]})
                self._client.complete_multipart_upload(
                    Bucket=bucket, Key=key, UploadId=upload["UploadId"], MultipartUpload={"Parts": parts}
                )
            except BaseException:
                self._client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload["UploadId"])
                raise

    def put_tags(self, bucket: str, key: str, tags: dict[str, str]) -> None:
        """PutObjectTagging, or DeleteObjectTagging for no tags at all."""
        with translated("s3"):
            if not tags:
                self._client.delete_object_tagging(Bucket=bucket, Key=key)
                return
            self._client.put_object_tagging(
                Bucket=bucket,
                Key=key,
                Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]},
            )
