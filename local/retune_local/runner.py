"""How a training job's process is started: a plain subprocess, or a fork of a warm server (see
forkserver.py).

Either way a job gets its own working directory, environment, combined stdout/stderr stream, process group,
exit status and CPU time. The warm runner only changes how fast the process gets going.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from retune_local.forkserver import command_kind

log = logging.getLogger(__name__)

_LOCAL_DIR = str(Path(__file__).resolve().parent.parent)
_SERVER_BOOT = "import sys; sys.path[0] = sys.argv.pop(1); from retune_local.forkserver import main; main()"


@dataclass(frozen=True)
class ExitInfo:
    code: int
    """As subprocess reports it: the exit status, or minus the signal number that ended the process."""
    cpu_seconds: float


class ProcessHandle(Protocol):
    @property
    def pid(self) -> int: ...

    def lines(self) -> Iterator[bytes]:
        """The process's stdout and stderr, line by line, until both are closed."""
        ...

    def signal(self, signum: int) -> None:
        """Signal the process's group (nothing happens once it has ended)."""
        ...

    def wait(self) -> ExitInfo: ...


class Runner(Protocol):
    def start(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> ProcessHandle: ...

    def close(self) -> None: ...


class _PipeLines:
    def __init__(self, stream: IO[bytes]) -> None:
        self._stream = stream

    def lines(self) -> Iterator[bytes]:
        with self._stream:
            yield from self._stream


class SubprocessHandle(_PipeLines):
    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        super().__init__(process.stdout)
        self._process = process
        self._exit: ExitInfo | None = None
        self._lock = threading.Lock()

    @property
    def pid(self) -> int:
        return self._process.pid

    def signal(self, signum: int) -> None:
        with self._lock:
            if self._exit is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self._process.pid, signum)

    def wait(self) -> ExitInfo:
        # wait4 gives the child's own CPU time; Popen is told the result so it never waits again.
        _, status, usage = os.wait4(self._process.pid, 0)
        info = ExitInfo(os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime)
        with self._lock:
            self._exit = info
            self._process.returncode = info.code
        return info


class SubprocessRunner:
    """One fresh process per job: the trainer pays its imports every time."""

    def start(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> ProcessHandle:
        process = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return SubprocessHandle(process)

    def close(self) -> None:
        return None


class ForkHandle(_PipeLines):
    def __init__(
        self, server: _ForkServer, job_id: int, stream: IO[bytes], pid: int, done: Future[ExitInfo]
    ) -> None:
        super().__init__(stream)
        self._server = server
        self._id = job_id
        self._pid = pid
        self._done = done

    @property
    def pid(self) -> int:
        return self._pid

    def signal(self, signum: int) -> None:
        if not self._done.done():
            self._server.send({"op": "signal", "id": self._id, "signal": int(signum)})

    def wait(self) -> ExitInfo:
        return self._done.result()


class ForkServerError(RuntimeError):
    """The warm server could not start a job (it died, or fork failed)."""


class _ForkServer:
    def __init__(self, python: str, preload: Sequence[str], env: Mapping[str, str]) -> None:
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._sock = parent_sock
        self._process = subprocess.Popen(
            [python, "-c", _SERVER_BOOT, _LOCAL_DIR, str(child_sock.fileno()), *preload],
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            pass_fds=[child_sock.fileno()],
            start_new_session=True,
        )
        child_sock.close()
        self._lock = threading.Lock()
        self._next_id = 0
        self._started: dict[int, Future[int]] = {}
        self._exits: dict[int, Future[ExitInfo]] = {}
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="forkserver-reader", daemon=True)
        self._reader.start()

    def send(self, message: dict[str, Any], fds: Sequence[int] = ()) -> None:
        data = json.dumps(message).encode()
        with self._lock:
            if self._closed:
                raise ForkServerError("the warm runner is closed")
            socket.send_fds(self._sock, [data], list(fds))

    def spawn(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> ForkHandle:
        read_fd, write_fd = os.pipe()
        with self._lock:
            self._next_id += 1
            job_id = self._next_id
            started: Future[int] = Future()
            done: Future[ExitInfo] = Future()
            self._started[job_id] = started
            self._exits[job_id] = done
        try:
            self.send(
                {"op": "spawn", "id": job_id, "argv": list(argv), "cwd": str(cwd), "env": dict(env)},
                [write_fd],
            )
        except OSError as exc:
            os.close(read_fd)
            raise ForkServerError(f"the warm runner is gone: {exc}") from exc
        finally:
            os.close(write_fd)
        try:
            pid = started.result()
        except ForkServerError:
            os.close(read_fd)
            raise
        return ForkHandle(self, job_id, os.fdopen(read_fd, "rb"), pid, done)

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(1 << 16)
            except OSError:
                data = b""
            if not data:
                break
            message = json.loads(data)
            job_id = message["id"]
            with self._lock:
                started = (
                    self._started.pop(job_id, None) if ("pid" in message or "error" in message) else None
                )
                done = self._exits.pop(job_id, None) if "exit" in message else None
            if started is not None:
                if "error" in message:
                    self._exits.pop(job_id, None)
                    started.set_exception(ForkServerError(message["error"]))
                else:
                    started.set_result(int(message["pid"]))
            if done is not None:
                done.set_result(ExitInfo(int(message["exit"]), float(message["cpu"])))
        # The server is gone: every job still waiting hears about it.
        with self._lock:
            self._closed = True
            pending_starts = list(self._started.values())
            pending_exits = list(self._exits.values())
            self._started.clear()
            self._exits.clear()
        for future in pending_starts:
            future.set_exception(ForkServerError("the warm runner's server exited"))
        for exit_future in pending_exits:
            exit_future.set_result(ExitInfo(-int(signal.SIGKILL), 0.0))

    @property
    def alive(self) -> bool:
        return not self._closed and self._process.poll() is None

    def close(self) -> None:
        with self._lock:
            self._closed = True
        # Closing our end makes the server kill its children and exit.
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)
        self._sock.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join(timeout=10)


class ForkServerRunner:
    """Forks each job from a warm server that has already imported `preload`.

    One server per (interpreter, preload list, environment); started on first use. Commands that are not a
    plain `python script.py ...`, `python -m module ...` or `python -c ...` run as subprocesses instead.
    """

    def __init__(self, preload: Sequence[str] = (), env: Mapping[str, str] | None = None) -> None:
        self._preload = tuple(preload)
        self._env = dict(os.environ if env is None else env)
        self._servers: dict[str, _ForkServer] = {}
        self._lock = threading.Lock()
        self._fallback = SubprocessRunner()

    def _server(self, python: str) -> _ForkServer:
        with self._lock:
            server = self._servers.get(python)
            if server is None or not server.alive:
                server = _ForkServer(python, self._preload, self._env)
                self._servers[python] = server
            return server

    def warm_up(self, python: str = sys.executable) -> None:
        """Start the server now rather than on the first job."""
        self._server(python)

    def start(self, argv: Sequence[str], cwd: Path, env: Mapping[str, str]) -> ProcessHandle:
        if command_kind(list(argv)) is None:
            return self._fallback.start(argv, cwd, env)
        return self._server(argv[0]).spawn(argv, cwd, env)

    def close(self) -> None:
        with self._lock:
            servers = list(self._servers.values())
            self._servers.clear()
        for server in servers:
            server.close()
