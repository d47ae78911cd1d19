"""cfn-lint and `sam validate --lint` are clean, and so is the CloudFormation the SAM transform makes.

cfn-lint checks a SAM template against SAM's schema without transforming it, so it cannot see the resources
SAM generates (the `<Function><Event>` rules the queue policies name, the roles, the event-invoke configs).
The transform tests run SAM's translator offline, with the SAM CLI's own interpreter, and lint its output.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.conftest import ROOT, SAM, SAM_PYTHON, TEMPLATE, require_sam, tool_env

pytestmark = pytest.mark.infrastructure

TRANSFORM = ROOT / "scripts" / "sam_transform.py"
FUNCTIONS = ("StartRound", "RecordTrial", "CloseRound", "Promote", "Reconcile")


def cfn_lint() -> str:
    """The cfn-lint of the interpreter running the tests (the project's venv)."""
    beside = Path(sys.executable).with_name("cfn-lint")
    return str(beside if beside.exists() else ROOT / ".venv" / "bin" / "cfn-lint")


def run(command: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, env=tool_env(), capture_output=True, text=True, timeout=300, check=False
    )


def transformed(tmp_path: Path, *parameters: str) -> tuple[Path, dict[str, Any]]:
    require_sam()
    result = run([str(SAM_PYTHON), str(TRANSFORM), str(TEMPLATE), *parameters])
    assert result.returncode == 0, result.stderr
    path = tmp_path / "transformed.json"
    path.write_text(result.stdout)
    return path, json.loads(result.stdout)


def test_lint_no_code_is_repeated() -> None:
    """pylint's duplicate-code check (configured in pyproject.toml) over every package that is code, not tests."""
    pylint = Path(sys.executable).with_name("pylint")
    result = run([str(pylint), "layers/core/retune", "functions", "cli/retune_cli", "local/retune_local"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_cfn_lint_is_clean() -> None:
    result = run([cfn_lint(), str(TEMPLATE), str(ROOT / "roles" / "profile-role.yaml")])
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_sam_validate_is_clean() -> None:
    require_sam()
    result = run([str(SAM), "validate", "--lint", "--region", "us-east-1", "--template-file", str(TEMPLATE)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout + result.stderr


def test_lint_transformed_template_is_clean(tmp_path: Path) -> None:
    path, _ = transformed(tmp_path)
    result = run([cfn_lint(), str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_lint_transform_lets_each_function_send_to_its_on_failure_queue(tmp_path: Path) -> None:
    _, output = transformed(tmp_path)
    resources = output["Resources"]
    for function in FUNCTIONS:
        role = resources[f"{function}FunctionRole"]["Properties"]
        statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
        queue = {"Fn::GetAtt": [f"{function}OnFailureQueue", "Arn"]}
        assert any(
            s["Action"] in ("sqs:SendMessage", ["sqs:SendMessage"]) and s["Resource"] == queue
            for s in statements
        )


def test_lint_transform_adds_xray_only_when_tracing_is_active(tmp_path: Path) -> None:
    _, quiet = transformed(tmp_path)
    _, traced = transformed(tmp_path, "Tracing=Active")
    for function in FUNCTIONS:
        quiet_role = quiet["Resources"][f"{function}FunctionRole"]["Properties"]
        traced_role = traced["Resources"][f"{function}FunctionRole"]["Properties"]
        assert not any("XRay" in arn or "Xray" in arn for arn in quiet_role["ManagedPolicyArns"])
        assert "TracingConfig" not in quiet["Resources"][f"{function}Function"]["Properties"]
        assert any("XRay" in arn or "Xray" in arn for arn in traced_role["ManagedPolicyArns"])
