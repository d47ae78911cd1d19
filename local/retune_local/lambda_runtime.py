"""Lambda, locally: a warm worker process per function, asynchronous invocations with Lambda's retries, and the
on-failure destination.

Each function runs in its own process with its own environment (the template's, `env.json` overrides, endpoints
pointed at the local services) and its own code path plus `layers/core` (the layer `sam build` makes holds arm64
binaries, which cannot load on an x86_64 machine, so the layer's source folder stands in). The first invocation
pays the cold start; later ones reuse the process, as Lambda reuses an execution environment. An asynchronous
invocation that raises is retried `max_retries` times (Lambda's default is 2, after about 1 and 2 minutes; here at
once, or after `retry_delays`), then its event goes to the on-failure destination in Lambda's record format.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from retune_local.template import ROOT, FunctionSpec

log = logging.getLogger(__name__)

LAYER = ROOT / "layers" / "core"


@dataclass
class Outcome:
    """One invocation attempt's result, as Lambda would report it."""

    function: str
    ok: bool
    result: Any = None
    error: dict[str, Any] | None = None
    cold: bool = False
    duration_ms: float = 0.0
    attempt: int = 1

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "function": self.function,
            "ok": self.ok,
            "attempt": self.attempt,
            "cold": self.cold,
            "duration_ms": round(self.duration_ms, 1),
        }
        if self.ok:
            out["result"] = self.result
        else:
            assert self.error is not None
            out["error"] = {
                "errorType": self.error.get("errorType"),
                "errorMessage": self.error.get("errorMessage"),
            }
        return out


class Worker:
    """A warm execution environment: one process, one invocation at a time."""

    def __init__(self, spec: FunctionSpec, environment: Mapping[str, str], log_file: IO[str] | None) -> None:
        self.spec = spec
        module, _, function = spec.handler.rpartition(".")
        read_fd, write_fd = os.pipe()
        env = dict(environment)
        env["PYTHONPATH"] = os.pathsep.join([str(spec.code_uri), str(LAYER), str(ROOT / "local")])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "retune_local.lambda_worker", module, function, str(write_fd)],
            stdin=subprocess.PIPE,
            stdout=log_file or subprocess.DEVNULL,
            stderr=subprocess.STDOUT if log_file else subprocess.DEVNULL,
            env=env,
            pass_fds=(write_fd,),
            text=True,
            cwd=str(spec.code_uri),
        )
        os.close(write_fd)
        self._results = os.fdopen(read_fd, "r")

    def invoke(self, event: dict[str, Any], timeout: float) -> Outcome:
        request_id = str(uuid.uuid4())
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"id": request_id, "event": event, "timeout": timeout}) + "\n")
        self.process.stdin.flush()
        reply = self._read(timeout)
        if reply is None:
            self.close()
            return Outcome(
                self.spec.logical_id,
                False,
                error={
                    "errorType": "Sandbox.Timedout"
                    if self.process.returncode is None
                    else "Runtime.ExitError",
                    "errorMessage": f"Task timed out after {timeout:.0f} seconds or the runtime exited",
                },
            )
        ok = "error" not in reply
        return Outcome(
            self.spec.logical_id,
            ok,
            reply.get("result"),
            reply.get("error"),
            bool(reply.get("cold")),
            float(reply.get("duration_ms", 0.0)),
        )

    def _read(self, timeout: float) -> dict[str, Any] | None:
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self._results.readline()), daemon=True)
        reader.start()
        reader.join(timeout)
        if not box or not box[0]:
            return None
        return dict(json.loads(box[0]))

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def close(self) -> None:
        if self.process.stdin and not self.process.stdin.closed:
            try:
                self.process.stdin.close()
            except OSError:
                pass
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self._results.close()


@dataclass
class Invocation:
    event: dict[str, Any]
    done: Callable[[list[Outcome]], None]
    outcomes: list[Outcome] = field(default_factory=list)


OnFailure = Callable[[FunctionSpec, dict[str, Any], Outcome], None]


class FunctionRuntime:
    """One function: its warm worker and its asynchronous invocation queue (one invocation at a time)."""

    def __init__(
        self,
        spec: FunctionSpec,
        environment: Mapping[str, str],
        *,
        on_failure: OnFailure | None = None,
        log_dir: Path | None = None,
        retry_delays: tuple[float, ...] = (),
    ) -> None:
        self.spec = spec
        self.environment = dict(environment)
        self.on_failure = on_failure
        self.retry_delays = retry_delays
        self._log = (log_dir / f"{spec.logical_id}.log").open("a", encoding="utf-8") if log_dir else None
        self._worker: Worker | None = None
        self._queue: queue.Queue[Invocation | None] = queue.Queue()
        self._lock = threading.Lock()
        self.invocations = 0
        self.cold_starts = 0
        self._thread = threading.Thread(target=self._serve, name=f"lambda-{spec.logical_id}", daemon=True)
        self._thread.start()

    def invoke_sync(self, event: dict[str, Any]) -> Outcome:
        """RequestResponse: one attempt, no retries (as `sam local invoke` and the CLI do)."""
        with self._lock:
            return self._attempt(event, 1)

    def invoke_async(self, event: dict[str, Any], done: Callable[[list[Outcome]], None]) -> None:
        """Event invocation: queued, retried on error, then sent to the on-failure destination."""
        self._queue.put(Invocation(event, done))

    def _serve(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            for attempt in range(1, self.spec.max_retries + 2):
                with self._lock:
                    outcome = self._attempt(item.event, attempt)
                item.outcomes.append(outcome)
                if outcome.ok:
                    break
                if attempt <= len(self.retry_delays):
                    time.sleep(self.retry_delays[attempt - 1])  # Lambda's back-off between retries, if asked
            else:
                if self.on_failure is not None:
                    self.on_failure(self.spec, item.event, item.outcomes[-1])
            try:
                item.done(item.outcomes)
            except Exception:
                log.exception("invocation listener failed")

    def _attempt(self, event: dict[str, Any], attempt: int) -> Outcome:
        if self._worker is None or not self._worker.alive:
            self._worker = Worker(self.spec, self.environment, self._log)
        outcome = self._worker.invoke(event, float(self.spec.timeout))
        outcome.attempt = attempt
        self.invocations += 1
        self.cold_starts += int(outcome.cold)
        if not self._worker.alive:
            self._worker = None
        return outcome

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)
        if self._worker is not None:
            self._worker.close()
        if self._log:
            self._log.close()


def failure_record(
    spec: FunctionSpec, event: dict[str, Any], outcome: Outcome, region: str, account: str
) -> dict[str, Any]:
    """What Lambda sends to an on-failure destination after an asynchronous invocation's last retry."""
    return {
        "version": "1.0",
        "timestamp": datetime.now(tz=UTC).isoformat(),
        "requestContext": {
            "requestId": str(uuid.uuid4()),
            "functionArn": f"arn:aws:lambda:{region}:{account}:function:{spec.logical_id}:$LATEST",
            "condition": "RetriesExhausted",
            "approximateInvokeCount": outcome.attempt,
        },
        "requestPayload": event,
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": outcome.error,
    }
