"""The data bucket: manifests, profiles, the files of a drop, SageMaker manifest files, evaluation reports."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, NamedTuple

from botocore.exceptions import ClientError

from retune.adapters.errors import error_code, translated


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
