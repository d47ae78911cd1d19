"""The warm runner (fork server) and the plain subprocess runner give each job the same process contract."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from retune_local.runner import ForkServerRunner, Runner, SubprocessRunner

SCRIPT = """
import os, sys
print("cwd=" + os.getcwd())
print("flag=" + os.environ.get("FLAG", ""))
print("argv=" + ",".join(sys.argv[1:]))
print("warm=" + str("json" in sys.modules))
print("err", file=sys.stderr)
sys.exit(int(os.environ.get("CODE", "0")))
"""


@pytest.fixture(params=["warm", "plain"])
def runner(request: pytest.FixtureRequest) -> Iterator[Runner]:
    chosen: Runner = ForkServerRunner(preload=["json"]) if request.param == "warm" else SubprocessRunner()
    yield chosen
    chosen.close()


def run(runner: Runner, argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[list[str], int]:
    process = runner.start(argv, cwd, env)
    lines = [line.decode().strip() for line in process.lines()]
    return lines, process.wait().code


def test_runner_gives_the_job_its_directory_environment_arguments_and_exit_status(
    runner: Runner, tmp_path: Path
) -> None:
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)

    lines, code = run(runner, [sys.executable, str(script), "a", "b"], tmp_path, {"FLAG": "on", "CODE": "4"})

    assert lines[:3] == [f"cwd={tmp_path}", "flag=on", "argv=a,b"]
    assert "err" in lines
    assert code == 4


def test_runner_warm_jobs_find_preloaded_modules(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    runner = ForkServerRunner(preload=["json"])
    try:
        lines, code = run(runner, [sys.executable, str(script)], tmp_path, {})
    finally:
        runner.close()

    assert "warm=True" in lines
    assert code == 0


def test_runner_signal_ends_the_process_group(runner: Runner, tmp_path: Path) -> None:
    process = runner.start(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"], tmp_path, {}
    )
    lines = process.lines()
    assert next(lines) == b"up\n"

    process.signal(signal.SIGTERM)

    assert list(lines) == []
    assert process.wait().code == -signal.SIGTERM


def test_runner_reports_cpu_time(runner: Runner, tmp_path: Path) -> None:
    process = runner.start([sys.executable, "-c", "sum(i * i for i in range(300000))"], tmp_path, {})
    list(process.lines())

    assert process.wait().cpu_seconds > 0


def test_runner_warm_module_commands_and_uncaught_exceptions(tmp_path: Path) -> None:
    runner = ForkServerRunner()
    try:
        module_lines, module_code = run(runner, [sys.executable, "-m", "json.tool", "--help"], tmp_path, {})
        crash_lines, crash_code = run(
            runner, [sys.executable, "-c", "raise RuntimeError('boom')"], tmp_path, {}
        )
    finally:
        runner.close()

    assert module_code == 0
    assert any("usage" in line for line in module_lines)
    assert crash_code == 1
    assert any("RuntimeError: boom" in line for line in crash_lines)


def test_runner_warm_falls_back_to_a_subprocess_for_other_commands(tmp_path: Path) -> None:
    runner = ForkServerRunner()
    try:
        lines, code = run(
            runner, ["/bin/sh", "-c", "echo shell; exit 2"], tmp_path, {"PATH": "/bin:/usr/bin"}
        )
    finally:
        runner.close()

    assert lines == ["shell"]
    assert code == 2
