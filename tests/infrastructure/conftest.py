"""The template as data, read with a loader that knows CloudFormation's short tags, and the tools' paths."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAM_VENV = ROOT / ".venv-tools" / "sam"
SAM = SAM_VENV / "bin" / "sam"
SAM_PYTHON = SAM_VENV / "bin" / "python"


class CloudFormationLoader(yaml.SafeLoader):
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
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="session")
def template() -> dict[str, Any]:
    return load_template()


def tool_env() -> dict[str, str]:
    """The environment the SAM CLI and cfn-lint run in: no telemetry, a region, python3.13 visible."""
    env = dict(os.environ)
    env.update(
        {
            "SAM_CLI_TELEMETRY": "0",
            "AWS_DEFAULT_REGION": env.get("AWS_DEFAULT_REGION") or "us-east-1",
            # `sam build` for python3.13 finds the interpreter through pyenv only when PYENV_VERSION lists it.
            "PYENV_VERSION": "3.13.0:3.11.7",
        }
    )
    # No account is needed offline; dummy credentials keep the SAM CLI from looking for one.
    env.setdefault("AWS_ACCESS_KEY_ID", "testing")
    env.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    return env


def require_sam() -> None:
    if not SAM.exists():
        pytest.skip(f"the SAM CLI is not installed at {SAM.relative_to(ROOT)}: `make tools` installs it")
