"""template.yaml as data: CloudFormation's short tags, parameters, conditions and intrinsic functions resolved
against a local stack's physical names. The local stack creates its resources from this, not from a hand-kept list.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
# The SAM translator lives in the SAM CLI's venv (`make tools`): it pins a pydantic the project's venv does not use.
SAM_PYTHON = ROOT / ".venv-tools" / "sam" / "bin" / "python"
SAM_TRANSFORM = ROOT / "scripts" / "sam_transform.py"
SAM_PINS = ROOT / "tools" / "sam-constraints.txt"
TRANSFORM_CACHE = ROOT / "out" / "sam-transform"


# libyaml's parser when PyYAML has it (PyPI's wheels do): the pure-Python one takes seconds over the template, and
# every local stack start reads it.
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CloudFormationLoader(_SafeLoader):  # type: ignore[misc,valid-type]
    """A SafeLoader that turns `!Ref X`, `!GetAtt A.B`, `!Sub ...`, `!If [...]` into their long forms."""


def _construct_tag(loader: CloudFormationLoader, tag_suffix: str, node: yaml.Node) -> dict[str, Any]:
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{tag_suffix}": value}


CloudFormationLoader.add_multi_constructor("!", _construct_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        document = yaml.load(handle, Loader=CloudFormationLoader)
    if not isinstance(document, dict):
        raise TypeError(f"{path} is not a template")
    return document


def transformed(path: Path = TEMPLATE, parameters: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The CloudFormation template SAM's transform makes of `path`: what CloudFormation deploys, with the roles,
    rules and event-invoke configs SAM generates. Cached under out/ by the template's bytes, the parameters and the
    translator's pins (a transform takes seconds; the local stack needs it at every start)."""
    params = dict(sorted((parameters or {}).items()))
    digest = hashlib.sha256(path.read_bytes())
    digest.update(json.dumps(params).encode())
    digest.update(SAM_PINS.read_bytes() if SAM_PINS.exists() else b"")
    cache = TRANSFORM_CACHE / f"{digest.hexdigest()[:32]}.json"
    if cache.exists():
        document: dict[str, Any] = json.loads(cache.read_text())
        return document
    python = Path(os.environ.get("RETUNE_SAM_PYTHON") or SAM_PYTHON)
    if not python.exists():
        raise FileNotFoundError(
            f"{python}: the SAM translator's Python is missing; `make tools` installs it (or set RETUNE_SAM_PYTHON "
            "to a Python with aws-sam-translator)"
        )
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"}
    result = subprocess.run(
        [str(python), str(SAM_TRANSFORM), str(path), *(f"{k}={v}" for k, v in params.items())],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the SAM transform of {path} failed: {result.stderr.strip()[-2000:]}")
    cache.parent.mkdir(parents=True, exist_ok=True)
    partial = cache.with_suffix(f".{os.getpid()}.tmp")
    partial.write_text(result.stdout)
    partial.replace(cache)  # atomic: parallel test workers never read half a file
    document = json.loads(result.stdout)
    return document


class Unresolvable(ValueError):
    """An intrinsic function or reference the local stack cannot resolve."""


@dataclass
class Resolver:
    """Resolves intrinsic functions. `physical` maps a logical id to what `Ref` gives, `attributes` to what
    `Fn::GetAtt` gives; pseudo parameters come from `region`, `account` and `stack_name`."""

    template: dict[str, Any]
    region: str = "us-east-1"
    account: str = "123456789012"
    stack_name: str = "retune-local"
    parameters: dict[str, str] = field(default_factory=dict)
    physical: dict[str, Any] = field(default_factory=dict)
    attributes: dict[tuple[str, str], Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name, spec in (self.template.get("Parameters") or {}).items():
            if name not in self.parameters:
                self.parameters[name] = str(spec.get("Default", ""))

    def name_everything(self) -> None:
        """Give every resource not yet named a name and an ARN of the stack's form (IAM roles, functions, log
        groups and layers exist in the template only: nothing creates them locally)."""
        for lid, resource in (self.template.get("Resources") or {}).items():
            name = f"{self.stack_name}-{lid}".lower()
            kind = str(resource.get("Type", ""))
            # What Ref gives: a topic's ARN, anything else's name.
            topic = f"arn:aws:sns:{self.region}:{self.account}:{name}"
            self.physical.setdefault(lid, topic if kind == "AWS::SNS::Topic" else name)
            if kind == "AWS::IAM::Role":
                arn = f"arn:aws:iam::{self.account}:role/{name}"
            elif kind == "AWS::Serverless::Function":
                arn = f"arn:aws:lambda:{self.region}:{self.account}:function:{name}"
            else:
                service = kind.split("::")[1].lower() if kind.count("::") == 2 else "local"
                arn = f"arn:aws:{service}:{self.region}:{self.account}:{name}"
            self.attributes.setdefault((lid, "Arn"), arn)

    def pseudo(self, name: str) -> str:
        values = {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account,
            "AWS::StackName": self.stack_name,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.stack_name}/local",
            "AWS::NoValue": "",
        }
        if name not in values:
            raise Unresolvable(f"pseudo parameter {name}")
        return values[name]

    def condition(self, name: str) -> bool:
        spec = (self.template.get("Conditions") or {})[name]
        return bool(self.resolve(spec))

    def resource_enabled(self, logical_id: str) -> bool:
        condition = self.template["Resources"][logical_id].get("Condition")
        return condition is None or self.condition(condition)

    def ref(self, name: str) -> Any:
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical:
            return self.physical[name]
        raise Unresolvable(f"Ref {name}")

    def get_att(self, resource: str, attribute: str) -> Any:
        if (resource, attribute) in self.attributes:
            return self.attributes[(resource, attribute)]
        raise Unresolvable(f"GetAtt {resource}.{attribute}")

    def sub(self, spec: Any) -> str:
        text, variables = (spec, {}) if isinstance(spec, str) else (spec[0], self.resolve(spec[1]))

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return str(self.get_att(resource, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)

    def resolve(self, value: Any) -> Any:
        """The value with every intrinsic function applied (AWS::NoValue drops the key or item)."""
        if isinstance(value, list):
            return [self.resolve(v) for v in value if not _is_no_value(v, self)]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((key, arg),) = value.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::GetAtt":
                resource, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(resource, attribute)
            if key == "Fn::Sub":
                return self.sub(arg)
            if key == "Fn::Join":
                return str(arg[0]).join(str(v) for v in self.resolve(arg[1]))
            if key == "Fn::If":
                name, yes, no = arg
                return self.resolve(yes if self.condition(name) else no)
            if key == "Fn::Equals":
                a, b = self.resolve(arg[0]), self.resolve(arg[1])
                return a == b
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Condition":
                return self.condition(arg)
            if key == "Fn::Select":
                return self.resolve(arg[1])[int(self.resolve(arg[0]))]
            if key == "Fn::Split":
                return str(self.resolve(arg[1])).split(arg[0])
            if key == "Fn::GetAZs":
                return [f"{self.region}a", f"{self.region}b"]
            if key.startswith("Fn::"):
                raise Unresolvable(key)
        return {k: self.resolve(v) for k, v in value.items() if not _is_no_value(v, self)}


def _is_no_value(value: Any, resolver: Resolver) -> bool:
    if value == {"Ref": "AWS::NoValue"}:
        return True
    if isinstance(value, dict) and list(value) == ["Fn::If"]:
        name, yes, no = value["Fn::If"]
        chosen = yes if resolver.condition(name) else no
        return bool(chosen == {"Ref": "AWS::NoValue"})
    return False


@dataclass(frozen=True)
class FunctionSpec:
    """One AWS::Serverless::Function as the router runs it."""

    logical_id: str
    code_uri: Path
    handler: str
    environment: Mapping[str, str]
    patterns: tuple[tuple[str, dict[str, Any]], ...]  # (event name, EventBridge pattern)
    schedules: tuple[tuple[str, str], ...]  # (event name, rate or cron expression)
    max_retries: int
    on_failure: str | None  # logical id of the on-failure SQS queue
    timeout: int


def functions(template: dict[str, Any], resolver: Resolver) -> dict[str, FunctionSpec]:
    """Every function with its triggers, environment (Globals merged in) and on-failure destination."""
    globals_ = (template.get("Globals") or {}).get("Function") or {}
    out = {}
    for logical_id, resource in template["Resources"].items():
        if resource.get("Type") != "AWS::Serverless::Function" or not resolver.resource_enabled(logical_id):
            continue
        props = resource.get("Properties") or {}
        env = dict((globals_.get("Environment") or {}).get("Variables") or {})
        env.update((props.get("Environment") or {}).get("Variables") or {})
        patterns, schedules = [], []
        for name, event in (props.get("Events") or {}).items():
            kind, eprops = event.get("Type"), event.get("Properties") or {}
            if kind == "EventBridgeRule":
                patterns.append((name, resolver.resolve(eprops["Pattern"])))
            elif kind in ("Schedule", "ScheduleV2"):
                schedules.append(
                    (name, str(resolver.resolve(eprops.get("Schedule") or eprops.get("ScheduleExpression"))))
                )
        invoke = props.get("EventInvokeConfig") or {}
        destination = ((invoke.get("DestinationConfig") or {}).get("OnFailure") or {}).get("Destination")
        on_failure = None
        if isinstance(destination, dict):
            on_failure = (destination.get("Fn::GetAtt") or [None])[0] or destination.get("Ref")
        out[logical_id] = FunctionSpec(
            logical_id=logical_id,
            code_uri=ROOT / str(props.get("CodeUri", "")),
            handler=str(props.get("Handler") or globals_.get("Handler", "handler.lambda_handler")),
            environment={k: str(v) for k, v in resolver.resolve(env).items()},
            patterns=tuple(patterns),
            schedules=tuple(schedules),
            max_retries=int(invoke.get("MaximumRetryAttempts", 2)),
            on_failure=on_failure,
            timeout=int(props.get("Timeout") or globals_.get("Timeout", 3)),
        )
    return out
