"""Where retune runs: a deployed stack (its CloudFormation outputs) or the local stack (a `serve`'s endpoints file).

Either way the CLI ends up with the same two things: a boto3 client for each service, and the physical name of each
resource by its logical id in template.yaml (`DataBucket`, `StateTable`, `StartRoundOnFailureQueue`, ...).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from retune_cli.errors import CliError, UsageError

# template.yaml's Globals set EVENT_BUS_NAME to the default bus; retune's "Drop Ready" events go there.
EVENT_BUS = "default"
FUNCTIONS = ("StartRound", "RecordTrial", "CloseRound", "Promote", "Reconcile")
# The stack's outputs are named after the resource's logical id plus what they give: DataBucketName,
# AlertsTopicArn, StartRoundOnFailureQueueUrl, SageMakerRoleArn.
_OUTPUT_SUFFIX = re.compile(r"(Name|Arn|Url)$")
_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=60)


@dataclass
class Target:
    """A retune deployment: clients and resource names. Build it with `from_stack` or `from_endpoints_file`."""

    region: str
    session: Any
    resources: dict[str, str]
    endpoints: dict[str, str] = field(default_factory=dict)  # service → URL, local stack only
    stack: str | None = None
    endpoints_file: Path | None = None
    _clients: dict[str, Any] = field(default_factory=dict)
    _listed: bool = False

    @property
    def local(self) -> bool:
        return self.endpoints_file is not None

    def client(self, service: str) -> Any:
        if service not in self._clients:
            params: dict[str, Any] = {"config": _CONFIG, "region_name": self.region}
            if self.local:
                # moto's server answers every service but SageMaker on one URL.
                params["endpoint_url"] = self.endpoints.get(service) or self.endpoints["s3"]
            self._clients[service] = self.session.client(service, **params)
        return self._clients[service]

    def resource(self, logical_id: str) -> str:
        """The physical name (a name, an ARN or a queue URL) of a resource of template.yaml."""
        if logical_id not in self.resources and not self.local and not self._listed:
            self._list_stack_resources()
        if logical_id not in self.resources:
            where = f"stack {self.stack}" if self.stack else f"endpoints file {self.endpoints_file}"
            raise CliError(f"{where} has no {logical_id}: is it a retune stack of this version?")
        return self.resources[logical_id]

    @property
    def bucket(self) -> str:
        return self.resource("DataBucket")

    def who(self) -> str:
        """Who acts, for the champion's history and the registry: the caller's IAM identity (the local stack
        answers with the CLI principal's)."""
        return str(self.client("sts").get_caller_identity()["Arn"])

    def _list_stack_resources(self) -> None:
        """What the outputs leave out (the rules' dead-letter queues): the stack's resources, by logical id."""
        self._listed = True
        paginator = self.client("cloudformation").get_paginator("list_stack_resources")
        for page in paginator.paginate(StackName=self.stack):
            for summary in page.get("StackResourceSummaries", []):
                self.resources.setdefault(summary["LogicalResourceId"], summary["PhysicalResourceId"])

    @classmethod
    def from_stack(cls, stack: str, region: str | None, aws_profile: str | None) -> Target:
        session = boto3.session.Session(profile_name=aws_profile, region_name=region)
        if not session.region_name:
            raise UsageError("no AWS region: pass --region or set AWS_REGION (or a region in ~/.aws/config)")
        cloudformation = session.client("cloudformation", config=_CONFIG)
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            stacks = cloudformation.describe_stacks(StackName=stack)["Stacks"]
        except ClientError as exc:
            raise CliError(f"stack {stack}: {exc.response.get('Error', {}).get('Message', exc)}") from exc
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
        return cls.from_outputs(stack, session, outputs, cloudformation)

    @classmethod
    def from_outputs(cls, stack: str, session: Any, outputs: dict[str, str], cloudformation: Any) -> Target:
        """`DataBucketName` → `DataBucket`, `StartRoundOnFailureQueueUrl` → `StartRoundOnFailureQueue`, ..."""
        resources = {_OUTPUT_SUFFIX.sub("", key): value for key, value in outputs.items()}
        target = cls(region=session.region_name, session=session, resources=resources, stack=stack)
        target._clients["cloudformation"] = cloudformation
        return target

    @classmethod
    def from_endpoints_file(cls, path: Path) -> Target:
        try:
            data = json.loads(path.read_text())
            region, endpoints, resources = data["region"], dict(data["endpoints"]), dict(data["resources"])
        except FileNotFoundError:
            raise CliError(
                f"{path}: no such endpoints file; is `python -m retune_local serve` running?"
            ) from None
        except (ValueError, KeyError, TypeError) as exc:
            raise CliError(f"{path}: not a local stack's endpoints file ({exc})") from None
        attributes = data.get("attributes") or {}
        # The functions' SAGEMAKER_ROLE_ARN: the role the stack creates (template.yaml, Globals).
        if "SageMakerExecutionRole.Arn" in attributes:
            resources["SageMakerRole"] = attributes["SageMakerExecutionRole.Arn"]
        # The local stack enforces IAM: the CLI signs with the key of its own principal, whose policy is the one
        # the README documents for operators.
        keys = (data.get("credentials") or {}).get("cli")
        if not isinstance(keys, dict):
            raise CliError(
                f"{path}: the endpoints file has no credentials for the CLI; restart the local stack"
            )
        session = boto3.session.Session(
            aws_access_key_id=keys.get("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=keys.get("AWS_SECRET_ACCESS_KEY"),
            aws_session_token=keys.get("AWS_SESSION_TOKEN"),
            region_name=region,
        )
        return cls(
            region=region, session=session, resources=resources, endpoints=endpoints, endpoints_file=path
        )


def resolve(
    stack: str | None, endpoints_file: str | None, region: str | None, aws_profile: str | None
) -> Target:
    """The target from the options, else from RETUNE_STACK / RETUNE_ENDPOINTS_FILE."""
    stack = stack or os.environ.get("RETUNE_STACK") or None
    endpoints_file = endpoints_file or os.environ.get("RETUNE_ENDPOINTS_FILE") or None
    if stack and endpoints_file:
        raise UsageError("--stack and --endpoints-file exclude each other: pick AWS or the local stack")
    if endpoints_file:
        return Target.from_endpoints_file(Path(endpoints_file))
    if stack:
        return Target.from_stack(stack, region, aws_profile)
    raise UsageError(
        "say where retune runs: --stack NAME (a deployed stack) or --endpoints-file PATH (a running "
        "`python -m retune_local serve`), or set RETUNE_STACK or RETUNE_ENDPOINTS_FILE"
    )
