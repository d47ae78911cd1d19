"""The template as data, read with a loader that knows CloudFormation's short tags, and the tools' paths."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from retune_local.template import load_template

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAM_VENV = ROOT / ".venv-tools" / "sam"
SAM = SAM_VENV / "bin" / "sam"
SAM_PYTHON = SAM_VENV / "bin" / "python"


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
