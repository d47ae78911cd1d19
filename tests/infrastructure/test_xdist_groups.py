"""`make test` runs the suite with `-n 2 --dist loadgroup`: the modules marked with one `xdist_group` (the IAM trace,
the built-in XGBoost's venvs, the sequence trainer's jobs, the AWS CLI's stack) build costly module fixtures once,
on one worker. pytest 9.2 silently turned that grouping off (pytest-xdist issue 1386), and nothing failed: the
fixtures were just built twice. This checks that the pinned pytest and pytest-xdist still group."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

MODULE = """
import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.xdist_group("one")


@pytest.mark.parametrize("i", range(6))
def test_grouped(i):
    Path(f"worker-{i}").write_text(os.environ["PYTEST_XDIST_WORKER"])
"""


def test_tests_of_one_xdist_group_run_on_one_worker(tmp_path: Path) -> None:
    (tmp_path / "test_grouped.py").write_text(MODULE)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "xdist.plugin",
            "-n",
            "2",
            "--dist",
            "loadgroup",
        ],
        cwd=tmp_path,
        # xdist alone: the venv's other plugins (hypothesis, ...) only slow the three interpreters' start.
        env={**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    workers = {(tmp_path / f"worker-{i}").read_text() for i in range(6)}
    assert len(workers) == 1, f"one group ran on {sorted(workers)}"
