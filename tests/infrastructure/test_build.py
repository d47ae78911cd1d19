"""`sam build` succeeds, and the layer it builds (layers/core/Makefile) holds retune, aarch64 binaries for Lambda's
arm64 and unchecked bytecode for every module (scripts/check_layer.py).

One build per session (it pip-installs the layer for arm64, the slowest infrastructure test), so one test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.infrastructure.conftest import ROOT, SAM, TEMPLATE, require_sam, tool_env

pytestmark = pytest.mark.infrastructure

FUNCTIONS = (
    "StartRoundFunction",
    "RecordTrialFunction",
    "CloseRoundFunction",
    "PromoteFunction",
    "ReconcileFunction",
)


def test_build_makes_an_arm64_layer_holding_retune_and_its_bytecode(tmp_path: Path) -> None:
    require_sam()
    build_dir = tmp_path / "build"
    build = subprocess.run(
        [
            str(SAM),
            "build",
            "--template-file",
            str(TEMPLATE),
            "--build-dir",
            str(build_dir),
            "--cache-dir",
            str(tmp_path / "cache"),
        ],
        cwd=ROOT,
        env=tool_env(),
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert build.returncode == 0, build.stdout[-4000:] + build.stderr[-4000:]
    for function in FUNCTIONS:
        assert (build_dir / function / "handler.py").is_file(), function

    check = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "check_layer.py"), str(build_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
