"""MLflow's own tracking server for the local stack: `mlflow server` from the tools venv `.venv-tools/mlflow` (`make
mlflow-venv`), its SQLite backend and artifact root under the stack's state directory (so a kept state directory
keeps the runs), bound to 127.0.0.1 on a free port.

Ready means its `/health` endpoint answered; stopped means its whole process group (the CLI, uvicorn and its
workers) has exited. `stop` then `start` again is an outage and its end: the same port, the same database.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO

from retune_local.template import ROOT

VENV = ROOT / ".venv-tools" / "mlflow"
MLFLOW = VENV / "bin" / "mlflow"
PYTHON = VENV / "bin" / "python"
# A fresh database runs MLflow's migrations; on a busy 2-core machine the first start takes up to about 40 s.
START_TIMEOUT = 180.0


class MLflowUnavailable(RuntimeError):
    """The tracking server cannot be started: the message names the fix."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def backend_uri(state_dir: Path) -> str:
    return f"sqlite:///{(state_dir / 'mlflow' / 'mlflow.db').absolute()}"


def server_command(state_dir: Path, port: int, mlflow: Path = MLFLOW) -> list[str]:
    """`mlflow server` on `state_dir`'s database and artifacts (the same command `make mlflow-ui` runs)."""
    return [
        str(mlflow),
        "server",
        "--backend-store-uri",
        backend_uri(state_dir),
        "--artifacts-destination",
        str((state_dir / "mlflow" / "artifacts").absolute()),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]


def server_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ", "TMPDIR")}
    # MLflow 3's job runner starts seven task consumers for GenAI jobs: nothing the stack uses.
    env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"
    return env


class MLflowServer:
    """One `mlflow server` process group, started and stopped by the stack."""

    def __init__(self, state_dir: Path, port: int | None = None, mlflow: Path = MLFLOW) -> None:
        self.state_dir = state_dir
        self.port = port or free_port()
        self._mlflow = mlflow
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.log_path = state_dir / "logs" / "mlflow.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def launch(self) -> MLflowServer:
        """Start the process (without waiting for it: the stack goes on starting meanwhile)."""
        if not self._mlflow.exists():
            raise MLflowUnavailable(
                f"{self._mlflow} is missing: `make mlflow-venv` installs MLflow's tracking server (about 2.5 min)"
            )
        if self.running:
            return self
        (self.state_dir / "mlflow" / "artifacts").mkdir(parents=True, exist_ok=True)
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            server_command(self.state_dir, self.port, self._mlflow),
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=server_environment(),
            cwd=str(self.state_dir),
            start_new_session=True,  # its own process group: stop() ends the CLI and the workers it forks
        )
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Poll `/health` until it answers OK; MLflowUnavailable if the process exits or the time runs out."""
        deadline = time.monotonic() + timeout
        while True:
            if self._process is None or self._process.poll() is not None:
                raise MLflowUnavailable(f"mlflow server exited before it was ready: {self._tail()}")
            if self.healthy():
                return
            if time.monotonic() > deadline:
                self.stop()
                raise MLflowUnavailable(f"mlflow server not ready after {timeout:.0f} s: {self._tail()}")
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._process.wait(timeout=0.2)  # the poll's pace, and an exit is seen at once

    def start(self, timeout: float = START_TIMEOUT) -> MLflowServer:
        self.launch()
        self.wait_ready(timeout)
        return self

    def healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM to the server's process group, then SIGKILL if it has not exited in `timeout` seconds."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            # uvicorn's worker may outlive the CLI for a moment (not our child: nothing to wait on but the group).
            deadline = time.monotonic() + 5.0
            while _group_alive(process.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _group_alive(process.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None

    def _tail(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-2000:]
        except OSError:
            return "(no log)"


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
