"""The warm runner's server: a Python process that imports a trainer's heavy modules once, then forks one
child per training job, so that a trial does not pay numpy/pandas/xgboost imports each time.

It runs in its own interpreter (started by `runner.ForkServerRunner`) and must stay import-light: it imports
nothing from retune_local but this module, so that children inherit only the preloaded modules.

Protocol, over a SOCK_SEQPACKET Unix socket (one JSON object per packet):
  client → server  {"op": "spawn", "id", "argv", "cwd", "env"} with one file descriptor, the write end of
                   the job's output pipe (the child's stdout and stderr);
                   {"op": "signal", "id", "signal"}: signal the child's process group, unless reaped.
  server → client  {"id", "pid"} once forked, or {"id", "error"};
                   {"id", "exit", "cpu"} when reaped (exit as subprocess reports it: minus the signal).
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import re
import runpy
import selectors
import signal
import socket
import sys
import traceback
from typing import Any

_MAX_PACKET = 1 << 20
_PYTHON = re.compile(r"^python[0-9.]*$")


def command_kind(argv: list[str]) -> tuple[str, str, list[str]] | None:
    """How a child runs `argv` in-process: ("script", path, args), ("module", name, args) or ("code", src,
    args).

    None when argv is not a plain Python invocation the server can emulate (the caller then uses a
    subprocess).
    """
    if not argv or not _PYTHON.match(os.path.basename(argv[0])):
        return None
    rest = argv[1:]
    while rest and rest[0] in ("-u", "-B", "-s", "-E"):
        rest = rest[1:]
    if not rest:
        return None
    head = rest[0]
    if head == "-m" and len(rest) >= 2:
        return ("module", rest[1], rest[2:])
    if head == "-c" and len(rest) >= 2:
        return ("code", rest[1], rest[2:])
    if head.startswith("-"):
        return None
    return ("script", head, rest[1:])


def _run_in_child(argv: list[str], cwd: str, env: dict[str, str]) -> int:
    kind = command_kind(argv)
    if kind is None:
        print(f"forkserver: cannot run {argv!r} in-process", file=sys.stderr)
        return 127
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    mode, target, args = kind
    try:
        if mode == "script":
            script = os.path.abspath(target)
            sys.argv = [target, *args]
            sys.path[0] = os.path.dirname(script)
            runpy.run_path(script, run_name="__main__")
        elif mode == "module":
            sys.argv = [target, *args]
            sys.path[0] = cwd
            runpy.run_module(target, run_name="__main__", alter_sys=True)
        else:
            sys.argv = ["-c", *args]
            sys.path[0] = cwd
            exec(compile(target, "<string>", "exec"), {"__name__": "__main__"})
    except SystemExit as exc:
        code = exc.code
        if code is None:
            return 0
        if isinstance(code, int):
            return code
        print(code, file=sys.stderr)
        return 1
    except BaseException:  # noqa: BLE001 - whatever the trainer raises ends it with status 1, as python would
        traceback.print_exc()
        return 1
    return 0


def _child(sock: socket.socket, request: dict[str, Any], out_fd: int) -> None:
    """In the forked child: become a process group, wire stdout/stderr to the job's pipe, run, exit."""
    code = 1
    try:
        os.setpgid(0, 0)
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        sock.close()
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        os.close(out_fd)
        # Trainers print one metric line per epoch: line buffering delivers each as it happens.
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        code = _run_in_child(request["argv"], request["cwd"], request["env"])
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


class _Server:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.children: dict[int, int] = {}  # pid -> request id
        self.pids: dict[int, int] = {}  # request id -> pid

    def send(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(OSError):
            self.sock.send(json.dumps(message).encode())

    def spawn(self, request: dict[str, Any], fds: list[int]) -> None:
        job_id = request["id"]
        if len(fds) != 1:
            for fd in fds:
                os.close(fd)
            self.send({"id": job_id, "error": "spawn needs exactly one output descriptor"})
            return
        out_fd = fds[0]
        try:
            pid = os.fork()
        except OSError as exc:
            os.close(out_fd)
            self.send({"id": job_id, "error": f"fork failed: {exc}"})
            return
        if pid == 0:
            _child(self.sock, request, out_fd)
        os.close(out_fd)
        # Also set it from here, so a signal sent right after the reply reaches the group.
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        self.children[pid] = job_id
        self.pids[job_id] = pid
        self.send({"id": job_id, "pid": pid})

    def signal_child(self, request: dict[str, Any]) -> None:
        pid = self.pids.get(request["id"])
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, int(request["signal"]))

    def reap(self) -> None:
        while self.children:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            job_id = self.children.pop(pid, None)
            if job_id is None:
                continue
            self.pids.pop(job_id, None)
            cpu = usage.ru_utime + usage.ru_stime
            self.send({"id": job_id, "exit": os.waitstatus_to_exitcode(status), "cpu": cpu})

    def shutdown(self) -> None:
        for pid in list(self.children):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pid, signal.SIGKILL)

    def serve(self) -> None:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_r, False)
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        selector = selectors.DefaultSelector()
        selector.register(self.sock, selectors.EVENT_READ, "sock")
        selector.register(wake_r, selectors.EVENT_READ, "wake")
        try:
            while True:
                for key, _ in selector.select():
                    if key.data == "wake":
                        with contextlib.suppress(BlockingIOError):
                            while os.read(wake_r, 512):
                                pass
                        self.reap()
                        continue
                    try:
                        data, fds, _flags, _addr = socket.recv_fds(self.sock, _MAX_PACKET, 4)
                    except InterruptedError:
                        continue
                    if not data:
                        return
                    request = json.loads(data)
                    if request.get("op") == "spawn":
                        self.spawn(request, fds)
                    elif request.get("op") == "signal":
                        self.signal_child(request)
                self.reap()
        finally:
            self.shutdown()


def main(argv: list[str] | None = None) -> None:
    """`<python> -c ... <socket fd> [module ...]`: preload the modules, then serve until the socket closes."""
    args = sys.argv[1:] if argv is None else argv
    sock = socket.socket(fileno=int(args[0]))
    failures = []
    for name in args[1:]:
        try:
            importlib.import_module(name)
        except Exception as exc:  # noqa: BLE001 - a failed preload only costs warmth; report it and go on
            failures.append(f"{name}: {exc}")
    for failure in failures:
        print(f"forkserver: could not preload {failure}", file=sys.stderr)
    _Server(sock).serve()
