"""The local event router: EventBridge's rules from template.yaml, delivering to the functions as Lambda would.

Every event (S3's, SageMaker's, retune's own, the schedules') is matched against each function's patterns with
EventBridge's pattern semantics (moto's matcher: prefix, suffix, anything-but, exists, numeric, wildcard, `$or`),
and each matching function is invoked asynchronously. Every routed event is appended to the event log, one JSON
object a line: `{"event": ..., "functions": [...], "outcomes": [...]}`, once its invocations have finished.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from moto.events.models import EventPattern

from retune_local.events import eventbridge_event
from retune_local.lambda_runtime import FunctionRuntime, Outcome
from retune_local.template import FunctionSpec

log = logging.getLogger(__name__)


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """EventBridge's pattern matching (moto's implementation)."""
    return bool(EventPattern(json.dumps(pattern), dict(pattern)).matches_event(dict(event)))  # type: ignore[arg-type]


class Router:
    def __init__(
        self,
        functions: Mapping[str, FunctionSpec],
        runtimes: Mapping[str, FunctionRuntime],
        event_log: Path | None = None,
        region: str = "us-east-1",
        account: str = "123456789012",
    ) -> None:
        self.functions = dict(functions)
        self.runtimes = dict(runtimes)
        self.region, self.account = region, account
        self._log_path = event_log
        self._log_lock = threading.Lock()
        self._changed = threading.Condition()
        self.in_flight = 0
        self.routed = 0
        self.listeners: list[Callable[[dict[str, Any], list[dict[str, Any]]], None]] = []
        # Events this predicate holds for are lost, as EventBridge or SageMaker (rarely) lose one: tests use it to
        # make Reconcile find what never arrived. The lost events are kept in `lost`.
        self.losing: Callable[[Mapping[str, Any]], bool] | None = None
        self.lost: list[dict[str, Any]] = []

    def targets(self, event: Mapping[str, Any]) -> list[str]:
        """The functions with a rule that matches the event."""
        return [
            logical_id
            for logical_id, spec in self.functions.items()
            if any(matches(pattern, event) for _, pattern in spec.patterns)
        ]

    def route(self, event: dict[str, Any]) -> list[str]:
        """Deliver an event to every function whose rule matches; returns their logical ids."""
        if self.losing is not None and self.losing(event):
            with self._changed:
                self.lost.append(event)
                self._changed.notify_all()
            return []
        targets = self.targets(event)
        self._deliver(event, targets)
        return targets

    def fire_schedule(self, logical_id: str | None = None) -> list[str]:
        """Fire the scheduled rules (all, or one function's) now, with EventBridge's "Scheduled Event" shape."""
        fired = []
        for spec in self.functions.values():
            if logical_id is not None and spec.logical_id != logical_id:
                continue
            for name, _ in spec.schedules:
                event = eventbridge_event(
                    "aws.events",
                    "Scheduled Event",
                    account_id=self.account,
                    region=self.region,
                    resources=[f"arn:aws:events:{self.region}:{self.account}:rule/{spec.logical_id}{name}"],
                    detail={},
                    time=time.time(),
                )
                self._deliver(event, [spec.logical_id])
                fired.append(spec.logical_id)
        return fired

    def _deliver(self, event: dict[str, Any], targets: list[str]) -> None:
        with self._changed:
            self.routed += 1
            if not targets:
                self._record(event, [], [])
                self._changed.notify_all()
                return
            self.in_flight += 1
        pending = {"left": len(targets), "outcomes": []}
        lock = threading.Lock()

        def done(outcomes: list[Outcome]) -> None:
            with lock:
                pending["outcomes"].extend(o.summary() for o in outcomes)  # type: ignore[attr-defined]
                pending["left"] -= 1  # type: ignore[operator]
                finished = pending["left"] == 0
            if finished:
                self._record(event, targets, pending["outcomes"])  # type: ignore[arg-type]
                with self._changed:
                    self.in_flight -= 1
                    self._changed.notify_all()

        for target in targets:
            self.runtimes[target].invoke_async(event, done)

    def _record(self, event: dict[str, Any], targets: list[str], outcomes: list[dict[str, Any]]) -> None:
        for listener in self.listeners:
            listener(event, outcomes)
        if self._log_path is None:
            return
        line = json.dumps({"event": event, "functions": targets, "outcomes": outcomes}, default=str)
        with self._log_lock, self._log_path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Block until `predicate()` holds, re-checking it whenever an invocation finishes. False on timeout."""
        with self._changed:
            return self._changed.wait_for(predicate, timeout=timeout)

    def notify(self) -> None:
        """Wake waiters: something outside the router changed (a SageMaker job's state, say)."""
        with self._changed:
            self._changed.notify_all()

    def idle(self) -> bool:
        return self.in_flight == 0
