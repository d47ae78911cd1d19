"""What IAM needs to know about the stack's resources: their resource-based policies (the bucket's, the topic's, the
queues', the key's), the KMS key that encrypts each table, topic, queue and log group, and the tags of SageMaker's
resources (from the local SageMaker). All from the SAM-transformed template, resolved against the running stack."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple
from urllib.parse import urlparse

from retune_local.iam.policy import Policy
from retune_local.template import Resolver


class ResourcePolicy(NamedTuple):
    policy: Policy
    key_policy: bool  # a KMS key's policy: it must allow (or delegate to IAM) for anything to be allowed


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


class StackResources:
    """Resource policies and the gate's lookups (retune_local.iam.actions.Lookups) for one local stack."""

    def __init__(
        self,
        transformed: Mapping[str, Any],
        resolver: Resolver,
        sagemaker_tags: Callable[[str], Mapping[str, str] | None] | None = None,
    ) -> None:
        self.region, self.account = resolver.region, resolver.account
        self._sagemaker_tags = sagemaker_tags
        self._policies: dict[str, ResourcePolicy] = {}  # resource ARN (a bucket's: its ARN) → policy
        self._keys: dict[str, str] = {}  # resource ARN → the ARN of the key that encrypts it
        self._key_arns: dict[str, str] = {}  # key id, alias name and ARN → key ARN
        resources = transformed.get("Resources") or {}
        aliases: list[tuple[str, str]] = []
        for lid, resource in resources.items():
            if not resolver.resource_enabled(lid):
                continue
            kind = resource.get("Type")
            props = resolver.resolve(resource.get("Properties") or {})
            if kind == "AWS::KMS::Key":
                arn = str(resolver.get_att(lid, "Arn"))
                key_id = str(resolver.ref(lid))
                self._key_arns.update({arn: arn, key_id: arn})
                self._policies[arn] = ResourcePolicy(
                    Policy.parse(props["KeyPolicy"], lid, kind="resource"), key_policy=True
                )
            elif kind == "AWS::KMS::Alias":
                aliases.append((str(props["AliasName"]), str(props["TargetKeyId"])))
            elif kind == "AWS::S3::BucketPolicy":
                policy = Policy.parse(props["PolicyDocument"], lid, kind="resource")
                self._policies[f"arn:aws:s3:::{props['Bucket']}"] = ResourcePolicy(policy, key_policy=False)
            elif kind == "AWS::SNS::TopicPolicy":
                policy = Policy.parse(props["PolicyDocument"], lid, kind="resource")
                for topic in _as_list(props["Topics"]):
                    self._policies[str(topic)] = ResourcePolicy(policy, key_policy=False)
            elif kind == "AWS::SQS::QueuePolicy":
                policy = Policy.parse(props["PolicyDocument"], lid, kind="resource")
                for url in _as_list(props["Queues"]):
                    self._policies[self.queue_arn(str(url))] = ResourcePolicy(policy, key_policy=False)
        for alias, target in aliases:
            arn = self.key_arn(target)
            self._key_arns.update({alias: arn, f"arn:aws:kms:{self.region}:{self.account}:{alias}": arn})
        for lid, resource in resources.items():
            if not resolver.resource_enabled(lid):
                continue
            kind = resource.get("Type")
            props = resolver.resolve(resource.get("Properties") or {})
            key = None
            if kind == "AWS::DynamoDB::Table":
                key = (props.get("SSESpecification") or {}).get("KMSMasterKeyId")
                arn = str(resolver.get_att(lid, "Arn"))
            elif kind in ("AWS::SNS::Topic", "AWS::SQS::Queue"):
                key = props.get("KmsMasterKeyId")
                arn = str(resolver.get_att(lid, "TopicArn" if kind == "AWS::SNS::Topic" else "Arn"))
            elif kind == "AWS::Logs::LogGroup":
                key = props.get("KmsKeyId")
                arn = f"arn:aws:logs:{self.region}:{self.account}:log-group:{props.get('LogGroupName')}"
            if key:
                self._keys[arn] = self.key_arn(str(key))

    # -- resource-based policies -------------------------------------------------------------------------------

    def resource_policy(self, arn: str) -> ResourcePolicy | None:
        """The resource-based policy that applies to a resource: an S3 object's is its bucket's."""
        if arn.startswith("arn:aws:s3:::"):
            arn = arn.split("/", 1)[0]
        return self._policies.get(arn)

    # -- the lookups of retune_local.iam.actions -----------------------------------------------------------------

    def resource_tags(self, arn: str) -> Mapping[str, str] | None:
        if self._sagemaker_tags is not None and arn.startswith("arn:aws:sagemaker:"):
            return self._sagemaker_tags(arn)
        return None

    def queue_arn(self, queue_url: str) -> str:
        """`http(s)://host/<account>/<name>` → `arn:aws:sqs:<region>:<account>:<name>`."""
        parts = urlparse(queue_url).path.strip("/").split("/")
        if len(parts) != 2:
            raise ValueError(f"{queue_url!r} is not an SQS queue URL")
        return f"arn:aws:sqs:{self.region}:{parts[0]}:{parts[1]}"

    def encryption_key(self, resource_arn: str) -> str | None:
        return self._keys.get(resource_arn)

    def key_arn(self, key_id: str) -> str:
        if key_id in self._key_arns:
            return self._key_arns[key_id]
        if key_id.startswith("arn:"):
            return key_id
        return f"arn:aws:kms:{self.region}:{self.account}:key/{key_id}"
