"""Who calls the local stack, and what each may do.

- each function, as its execution role: the role the SAM-transformed template gives it (its inline policies, the
  AWS managed policies it attaches, the statements SAM adds for its on-failure destination), in a session named
  after the function, as Lambda assumes it;
- the SageMaker execution role (and any other role of the template), as SageMaker assumes it for a job;
- the retune CLI, with the policy its documentation gives operators (a JSON block in docs/cli.md, between the
  `cli-policy` markers, written with `Fn::Sub` placeholders such as `${DataBucket.Arn}`);
- an administrator, for what is not retune's code: setting up the stack, uploading drops, the tests' checks.

Each has its own access key; the gate tells callers apart by the key id in a request's signature. AWS managed
policies come from moto's bundled copy of them.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from retune_local.iam.policy import Caller, Policy
from retune_local.template import ROOT, Resolver

ADMINISTRATOR = "administrator"
CLI = "cli"
CLI_POLICY_DOC = ROOT / "docs" / "cli.md"
_CLI_POLICY_BLOCK = re.compile(
    r"<!-- cli-policy -->\s*```json\n(?P<json>.*?)```\s*<!-- /cli-policy -->", re.S
)


class Principal(NamedTuple):
    """A caller of the local stack: who it is to IAM, what it may do, and its credentials."""

    name: str  # "StartRoundFunction", "SageMakerExecutionRole", "cli", "administrator"
    caller: Caller
    policies: tuple[Policy, ...]
    access_key_id: str
    secret_access_key: str
    administrator: bool = False
    service: str | None = (
        None  # for a role's session: the service that assumed it ("sagemaker.amazonaws.com")
    )

    @property
    def session_token(self) -> str:
        return f"local-session-{self.name}"

    def environment(self) -> dict[str, str]:
        """The credentials as a process's environment carries them (Lambda sets the same three variables)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }

    def client_credentials(self) -> dict[str, str]:
        """The same as boto3.client's keyword arguments."""
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }


def access_key_id(name: str) -> str:
    """A temporary credential's key id (`ASIA` and 16 characters), stable per principal name."""
    digest = base64.b32encode(hashlib.sha256(name.encode()).digest()).decode()
    return "ASIA" + digest[:16]


def _principal(
    name: str,
    caller: Caller,
    policies: tuple[Policy, ...],
    *,
    administrator: bool = False,
    service: str | None = None,
) -> Principal:
    return Principal(
        name=name,
        caller=caller,
        policies=policies,
        access_key_id=access_key_id(name),
        secret_access_key=f"local-secret-{name}",
        administrator=administrator,
        service=service,
    )


def administrator(account: str) -> Principal:
    """Set-up and checks: everything is allowed, and nothing of it is recorded."""
    caller = Caller(f"arn:aws:iam::{account}:user/retune-local-administrator", account)
    return _principal(ADMINISTRATOR, caller, (), administrator=True)


@cache
def _managed_policies() -> dict[str, dict[str, Any]]:
    from moto.iam.aws_managed_policies import aws_managed_policies_data  # noqa: PLC0415 (large; loaded once)

    policies: dict[str, dict[str, Any]] = {}
    for name, data in json.loads(aws_managed_policies_data).items():
        policies[f"arn:aws:iam::aws:policy{data['Path']}{name}"] = data["Document"]
    return policies


def managed_policy(arn: str) -> Policy:
    """An AWS managed policy by its ARN, from moto's bundled copy (e.g. AWSLambdaBasicExecutionRole)."""
    documents = _managed_policies()
    if arn not in documents:
        raise LookupError(f"{arn}: not an AWS managed policy known to the local stack (moto's bundled copy)")
    return Policy.parse(documents[arn], arn.rsplit("/", 1)[-1])


def role_policies(role: Mapping[str, Any], resolver: Resolver) -> tuple[Policy, ...]:
    """An AWS::IAM::Role's identity policies: its inline policies and the managed ones it attaches."""
    props = resolver.resolve(role.get("Properties") or {})
    policies = [
        Policy.parse(entry["PolicyDocument"], str(entry.get("PolicyName") or f"inline{index}"))
        for index, entry in enumerate(props.get("Policies") or [])
    ]
    policies.extend(managed_policy(str(arn)) for arn in props.get("ManagedPolicyArns") or [])
    return tuple(policies)


def _role_of(function: Mapping[str, Any]) -> str:
    role = (function.get("Properties") or {}).get("Role")
    if not (isinstance(role, dict) and "Fn::GetAtt" in role):
        raise ValueError(f"a function's Role is {role!r}: the local stack needs the role of the template")
    target = role["Fn::GetAtt"]
    return str(target[0] if isinstance(target, list) else str(target).split(".", 1)[0])


def template_principals(transformed: Mapping[str, Any], resolver: Resolver) -> dict[str, Principal]:
    """Every function (as its role, in a session named after it) and every other role of the template (in a
    session named after the service that assumes it), from the SAM-transformed template.

    `resolver` resolves the transformed template: the stack's physical names, and a name for what SAM generated."""
    resources = transformed.get("Resources") or {}
    account = resolver.account
    roles: dict[str, tuple[Policy, ...]] = {}
    role_arns: dict[str, str] = {}
    for lid, resource in resources.items():
        if resource.get("Type") != "AWS::IAM::Role" or not resolver.resource_enabled(lid):
            continue
        roles[lid] = role_policies(resource, resolver)
        role_arns[lid] = str(resolver.get_att(lid, "Arn"))
    out: dict[str, Principal] = {}
    assumed_by_functions = set()
    for lid, resource in resources.items():
        if resource.get("Type") != "AWS::Lambda::Function" or not resolver.resource_enabled(lid):
            continue
        role = _role_of(resource)
        assumed_by_functions.add(role)
        session = str(resolver.ref(lid))
        out[lid] = _principal(
            lid, _session(role_arns[role], session, account), roles[role], service="lambda.amazonaws.com"
        )
    for lid, policies in roles.items():
        if lid in assumed_by_functions:
            continue
        out[lid] = role_principal(lid, resources[lid], role_arns[lid], policies, account)
    return out


def role_principal(
    name: str, role: Mapping[str, Any], role_arn: str, policies: tuple[Policy, ...], account: str
) -> Principal:
    """A role as the service its trust policy names assumes it (SageMaker names its session `SageMaker`)."""
    service = _trusted_service(role)
    session = "local"
    if service:
        session = "SageMaker" if service.startswith("sagemaker.") else service.split(".", 1)[0]
    return _principal(name, _session(role_arn, session, account), policies, service=service)


def deployed_roles(template: Mapping[str, Any], resolver: Resolver) -> dict[str, Principal]:
    """The roles of a plain CloudFormation template (e.g. roles/profile-role.yaml) as if deployed as a stack named
    `resolver.stack_name`: each named as CloudFormation names it (`<stack>-<logical id>`), under its Path."""
    out = {}
    for lid, resource in (template.get("Resources") or {}).items():
        if resource.get("Type") != "AWS::IAM::Role" or not resolver.resource_enabled(lid):
            continue
        props = resolver.resolve(resource.get("Properties") or {})
        name = str(props.get("RoleName") or f"{resolver.stack_name}-{lid}")[:64]
        path = str(props.get("Path") or "/")
        arn = f"arn:aws:iam::{resolver.account}:role{path}{name}"
        resolver.physical[lid] = name
        resolver.attributes[(lid, "Arn")] = arn
        principal_name = f"{resolver.stack_name}/{lid}"
        out[principal_name] = role_principal(
            principal_name, resource, arn, role_policies(resource, resolver), resolver.account
        )
    return out


def _session(role_arn: str, session: str, account: str) -> Caller:
    role_name = role_arn.rsplit("/", 1)[-1]
    return Caller(f"arn:aws:sts::{account}:assumed-role/{role_name}/{session}", account, role_arn)


def _trusted_service(role: Mapping[str, Any]) -> str | None:
    """The AWS service a role's trust policy lets assume it, if any."""
    trust = (role.get("Properties") or {}).get("AssumeRolePolicyDocument") or {}
    statements = trust.get("Statement") or []
    for statement in statements if isinstance(statements, list) else [statements]:
        if statement.get("Effect") != "Allow":
            continue
        service = (statement.get("Principal") or {}).get("Service")
        for name in service if isinstance(service, list) else [service]:
            if isinstance(name, str) and name.endswith(".amazonaws.com"):
                return name
    return None


def cli_policy_document(path: Path = CLI_POLICY_DOC) -> dict[str, Any]:
    """The retune CLI's IAM policy as its documentation states it (placeholders unresolved)."""
    match = _CLI_POLICY_BLOCK.search(path.read_text(encoding="utf-8"))
    if match is None:
        raise LookupError(f"{path}: no ```json block between <!-- cli-policy --> and <!-- /cli-policy -->")
    document: dict[str, Any] = json.loads(match.group("json"))
    return document


def cli(resolver: Resolver, path: Path = CLI_POLICY_DOC) -> Principal:
    """The retune CLI as an operator runs it, with the documented policy resolved against this stack."""
    document = _substitute(cli_policy_document(path), resolver)
    caller = Caller(f"arn:aws:iam::{resolver.account}:user/retune-operator", resolver.account)
    return _principal(CLI, caller, (Policy.parse(document, "retune-cli"),))


def _substitute(value: Any, resolver: Resolver) -> Any:
    if isinstance(value, str):
        return resolver.sub(value)
    if isinstance(value, list):
        return [_substitute(v, resolver) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, resolver) for k, v in value.items()}
    return value
