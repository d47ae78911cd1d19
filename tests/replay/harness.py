"""The fast replay: the recorded events through the real handlers, in process, on fakes that hold what the
recorded run left in S3 and SageMaker. Lambda's semantics are kept: an invocation that raises is retried twice,
later (the retry goes back into the schedule at a random later place, as Lambda retries after a minute or two
while other events flow), then parked; Reconcile runs until nothing changes.
"""

from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from retune.alerts import Alert
from retune.events import DROP_READY
from retune.store import Store
from retune.table import MemoryTable

from functions.close_round import handler as close_round_handler
from functions.promote import handler as promote_handler
from functions.reconcile import handler as reconcile_handler
from functions.record_trial import handler as record_trial_handler
from functions.start_round import handler as start_round_handler
from tests.conftest import compose_fakes
from tests.fakes import (
    FakeBucket,
    FakeClock,
    FakeEventBus,
    FakeMetrics,
    FakeMetricSeries,
    FakeQueues,
    SimulatedSageMaker,
    _Version,
)
from tests.replay.recording import Recording

LAMBDA_ATTEMPTS = 3  # the first invocation and Lambda's 2 retries
MAX_RECONCILES = 20


class Context:
    """What the handlers and Powertools read from Lambda's context."""

    function_name = "replay"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:replay"
    memory_limit_in_mb = 512
    aws_request_id = "replay"
    log_group_name = "/aws/lambda/replay"
    log_stream_name = "replay"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


class CountingAlerts:
    """The alerts topic, idempotent on the key as the SNS adapter is; every publish call is counted too."""

    def __init__(self) -> None:
        self.published: list[Alert] = []
        self.calls = 0

    def publish(self, alert: Alert) -> None:
        self.calls += 1
        if alert.key not in {a.key for a in self.published}:
            self.published.append(alert)

    def register_lambda_context(self, context: Any) -> None:
        return None


class RecordedSageMaker(SimulatedSageMaker):
    """SageMaker as the recorded run left it: its tuning and training jobs exist (a create meets AlreadyExists);
    the model registry starts empty, as retune's own state does."""

    def __init__(self, recording: Recording) -> None:
        super().__init__()
        self.tuning_jobs = copy.deepcopy(recording.tuning_jobs)
        self.training_jobs = copy.deepcopy(recording.training_jobs)
        self.trials = copy.deepcopy(recording.trials)
        self.new_jobs: list[str] = []

    def create_tuning_job(self, request: dict[str, Any]) -> str:
        arn = super().create_tuning_job(request)
        self.new_jobs.append(request["HyperParameterTuningJobName"])
        return arn

    def create_training_job(self, request: dict[str, Any]) -> str:
        arn = super().create_training_job(request)
        self.new_jobs.append(request["TrainingJobName"])
        return arn


@dataclass
class ReplayWorld:
    """One schedule's fresh retune state over the recorded S3 and SageMaker."""

    recording: Recording
    clock: FakeClock = field(default_factory=FakeClock)
    table: MemoryTable = field(default_factory=MemoryTable)
    alerts: CountingAlerts = field(default_factory=CountingAlerts)
    metrics: FakeMetrics = field(default_factory=FakeMetrics)
    queues: FakeQueues = field(default_factory=FakeQueues)
    bus: FakeEventBus = field(default_factory=FakeEventBus)

    def __post_init__(self) -> None:
        self.store = Store(self.table)
        self.bucket = FakeBucket(self.clock)
        for key, versions in self.recording.objects.items():
            self.bucket.objects[(self.recording.bucket, key)] = [
                _Version(body, version_id, modified) for version_id, body, modified in versions
            ]
        self.sagemaker = RecordedSageMaker(self.recording)
        self.series = FakeMetricSeries()
        for seq, trials in self.recording.trial_records.items():
            metric = self.recording.rounds[seq - 1].objective_metric
            for trial in trials:
                self.series.values[(trial.training_job_name, metric)] = list(trial.objective_series)
        composed = compose_fakes(self, data_bucket=self.recording.bucket)
        self.start = composed.start_round
        self.record = composed.record_trial
        self.close = composed.close_round
        self.promote = composed.promote
        self.reconcile = composed.reconcile
        self.handlers: dict[str, Callable[[dict[str, Any]], Any]] = {
            "StartRoundFunction": lambda e: start_round_handler.lambda_handler(e, Context(), deps=self.start),
            "RecordTrialFunction": lambda e: record_trial_handler.lambda_handler(
                e, Context(), deps=self.record
            ),
            "CloseRoundFunction": lambda e: close_round_handler.lambda_handler(e, Context(), deps=self.close),
            "PromoteFunction": lambda e: promote_handler.lambda_handler(e, Context(), deps=self.promote),
        }


@dataclass
class Outcome:
    deliveries: int = 0
    attempts: int = 0
    retried: int = 0
    parked: list[tuple[str, str, str]] = field(default_factory=list)  # (function, detail-type, error)
    reconciles: int = 0


def is_drop_manifest(event: dict[str, Any]) -> bool:
    detail = event.get("detail") or {}
    return event.get("source") == "aws.s3" and str((detail.get("object") or {}).get("key", "")).endswith(
        "/manifest.json"
    )


def schedule(recording: Recording, seed: int) -> list[list[dict[str, Any]]]:
    """Every recorded event 1 to 3 times, shuffled, in phases.

    A drop is a person's upload, not a delivery: drops keep their recorded order, and each phase starts with a
    drop's manifest event. Every other event of the phase, and every repeat of any event (a manifest's too), goes
    to a random place in its own phase or a later one: shuffled, and late by up to the whole run.
    """
    rng = random.Random(seed)
    phases: list[list[dict[str, Any]]] = [[]]
    firsts: list[dict[str, Any] | None] = [None]
    for e in recording.events:
        if is_drop_manifest(e["event"]) and e["event"] not in [f["event"] for f in firsts if f]:
            phases.append([])
            firsts.append(e)
            copies = rng.randint(1, 3) - 1
        else:
            copies = rng.randint(1, 3)
        for _ in range(copies):
            phases[-1].append(e)
    # late repeats: move each copy to its phase or a later one
    spread: list[list[dict[str, Any]]] = [[] for _ in phases]
    for index, phase in enumerate(phases):
        for e in phase:
            spread[rng.randint(index, len(phases) - 1)].append(e)
    out = []
    for first, phase in zip(firsts, spread, strict=True):
        rng.shuffle(phase)
        out.append(([first] if first else []) + phase)
    return out


def in_order_phases(recording: Recording) -> list[list[dict[str, Any]]]:
    """The recorded events once each, in their order, in one phase."""
    return [list(recording.events)]


def replay(world: ReplayWorld, phases: list[list[dict[str, Any]]], seed: int) -> Outcome:
    """Deliver each event to the functions its rules matched in the recorded run, with Lambda's retries; the
    bus's events (retune's own "Drop Ready") are delivered too, as its rule would. Between two drops the stack
    settles as it would in the minutes between two uploads: retries run, then Reconcile until nothing changes."""
    rng = random.Random(seed ^ 0x5EED)
    outcome = Outcome()
    for phase in phases:
        outcome.deliveries += len(phase)
        pending = [(function, e["event"], 1) for e in phase for function in e["functions"]]
        deliver(world, pending, rng, outcome)
        settle(world, rng, outcome)
    return outcome


def deliver(
    world: ReplayWorld, pending: list[tuple[str, dict[str, Any], int]], rng: random.Random, outcome: Outcome
) -> None:
    while pending:
        function, event, attempt = pending.pop(0)
        outcome.attempts += 1
        bus_before = len(world.bus.events)
        try:
            world.handlers[function](event)
        except Exception as exc:  # noqa: BLE001 (Lambda's view: any raise is a failed attempt)
            if attempt < LAMBDA_ATTEMPTS:
                outcome.retried += 1
                pending.insert(rng.randint(0, len(pending)), (function, event, attempt + 1))
            else:
                outcome.parked.append(
                    (function, event.get("detail-type", ""), f"{type(exc).__name__}: {exc}")
                )
        for detail_type, detail in world.bus.events[bus_before:]:
            if detail_type == DROP_READY:
                pending.insert(rng.randint(0, len(pending)), ("StartRoundFunction", bus_event(detail), 1))
        world.clock.advance(1)


def settle(world: ReplayWorld, rng: random.Random, outcome: Outcome) -> None:
    """The schedule fires until retune's state stops changing (what Reconcile starts is delivered too)."""
    before = None
    for _ in range(MAX_RECONCILES):
        bus_before = len(world.bus.events)
        reconcile_handler.lambda_handler(scheduled_event(), Context(), deps=world.reconcile)
        outcome.reconciles += 1
        pending = [
            ("StartRoundFunction", bus_event(detail), 1)
            for detail_type, detail in world.bus.events[bus_before:]
            if detail_type == DROP_READY
        ]
        deliver(world, pending, rng, outcome)
        after = fingerprint(world)
        if after == before:
            return
        before = after
        world.clock.advance(300)


def scheduled_event() -> dict[str, Any]:
    return {
        "version": "0",
        "id": "replay",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }


def bus_event(detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "version": "0",
        "id": "replay",
        "detail-type": "Drop Ready",
        "source": "retune",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }


def fingerprint(world: ReplayWorld) -> Any:
    items = sorted(json.dumps(item, sort_keys=True, default=str) for item in world.table.items.values())
    return items, len(world.alerts.published)
