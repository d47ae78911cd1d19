"""A Lambda-like harness over the fake world: deliver events to the real handlers with Lambda's retries, inject a
fault at any AWS call a use case makes, park what fails every attempt, and read back every effect.

A fault site is one call of one port method (the adapters' interfaces: the state table, the bucket, SageMaker, the
topic, the event bus, CloudWatch, SQS). Each is recorded with the use-case line that made it, so a sweep can say
which call sites of which use case it reached.
"""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retune.errors import (
    ConflictError,
    LimitExceeded,
    Refused,
    RetuneError,
    Throttled,
    TransientError,
)
from retune.table import ConditionFailed, Operation
from retune.use_cases.stop_round import StopRoundDeps, stop_round

from functions.close_round import handler as close_round_handler
from functions.promote import handler as promote_handler
from functions.reconcile import handler as reconcile_handler
from functions.record_trial import handler as record_trial_handler
from functions.start_round import handler as start_round_handler
from tests.conftest import BUCKET, World, compose_fakes

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
USE_CASES = str(ROOT / "layers" / "core" / "retune" / "use_cases")
LAMBDA_ATTEMPTS = 3  # the first invocation and Lambda's 2 retries of an asynchronous invocation


class Crash(BaseException):
    """The invocation died (timeout, out of memory) right after the call took effect. A BaseException, so no
    `except Exception` in the code under test can swallow it, as none could survive a dead process."""


# ---------------------------------------------------------------- the ports and their calls

READS = {
    "table": ("get", "query", "query_index"),
    "bucket": ("read", "keys", "exists"),
    "sagemaker": (
        "describe_training_job",
        "describe_tuning_job",
        "list_trials",
        "describe_model_package_group",
        "describe_model_package",
        "describe_endpoint",
        "list_tags",
    ),
    "series": ("series",),
    "queues": ("depth",),
}
WRITES = {
    "table": ("write",),
    "bucket": ("write_json", "copy", "put_tags"),
    "sagemaker": (
        "add_tags",
        "create_tuning_job",
        "create_training_job",
        "create_model_package_group",
        "create_model_package",
        "update_model_package",
        "create_model",
        "create_endpoint_config",
        "create_endpoint",
        "update_endpoint",
        "stop_training_job",
        "stop_tuning_job",
    ),
    "alerts": ("publish",),
    "bus": ("put",),
}


@dataclass(frozen=True)
class Kind:
    """A fault: what is raised, and whether the call took effect first (its response was lost)."""

    name: str
    make: Callable[[str], BaseException]
    after: bool


KINDS = {
    "throttled": Kind("throttled", lambda site: Throttled(f"{site}: ThrottlingException"), after=False),
    "server_error": Kind(
        "server_error", lambda site: TransientError(f"{site}: InternalFailure (HTTP 500)"), after=False
    ),
    # The request took effect but its response never came back (read timeout): the caller cannot tell.
    "timeout": Kind("timeout", lambda site: TransientError(f"{site}: read timeout"), after=True),
    "crash": Kind("crash", lambda site: Crash(f"invocation died after {site}"), after=True),
    "limit_exceeded": Kind(
        "limit_exceeded", lambda site: LimitExceeded(f"{site}: ResourceLimitExceeded"), after=False
    ),
    # A transaction cancelled for a concurrent transaction on the same items (TransactionConflict).
    "conflict": Kind("conflict", lambda site: ConflictError(f"{site}: TransactionConflict"), after=False),
    # The SDK retried a conditional write whose first response was lost: the retry meets its own effect.
    "condition_failed": Kind("condition_failed", lambda site: ConditionFailed(0), after=True),
    # A refusal no retry changes (a 4xx: access denied on iam:PassRole). Not among any call's kinds in the sweep:
    # its outcome is not the reference's (the drop fails), so test_faults.py checks it on its own.
    "refused": Kind(
        "refused",
        lambda site: Refused(f"{site}: AccessDeniedException: not authorized to perform: iam:PassRole"),
        after=False,
    ),
}


def kinds_for(port: str, method: str, args: tuple[Any, ...]) -> list[str]:
    """The faults that AWS can give at this call."""
    if method in READS.get(port, ()):
        return ["throttled", "server_error"]
    kinds = ["throttled", "server_error", "timeout", "crash"]
    if port == "sagemaker" and method.startswith("create_"):
        kinds.append("limit_exceeded")
    if port == "table":
        kinds.append("conflict")
        operations: list[Operation] = list(args[0]) if args else []
        if any(op.condition is not None for op in operations):
            kinds.append("condition_failed")
    return kinds


@dataclass(frozen=True)
class Call:
    index: int  # in the whole run
    step: int
    attempt: int
    function: str  # the handler the event was delivered to
    port: str
    method: str
    site: str  # the use-case line that made the call, e.g. start_round.py:98
    caller: str  # the use-case function that made it, e.g. evaluation_ended
    kinds: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.port}.{self.method}"


@dataclass
class FaultPlan:
    """Where to fail: one call of the run (`at`), or every call of one method during one step's attempts (an
    outage of that service while the event is retried)."""

    kind: str
    at: int | None = None
    outage: tuple[int, str] | None = None  # (step, "port.method")
    fired: int = 0
    any_kind: bool = (
        False  # fire even where AWS would not give this kind in the sweep (a kind checked on its own)
    )

    def hits(self, call: Call) -> bool:
        if self.at is not None:
            return call.index == self.at
        assert self.outage is not None
        return (call.step, call.label) == self.outage


def _use_case_site() -> tuple[str, str]:
    """The innermost frame in retune/use_cases: the line and the function of the use case that made the call."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(USE_CASES):
            return f"{Path(filename).name}:{frame.f_lineno}", frame.f_code.co_name
        frame = frame.f_back  # type: ignore[assignment]
    return "outside a use case", ""


class Instrument:
    """Wraps every port method of a World's fakes: records each call, and raises the planned fault."""

    def __init__(self, world: World) -> None:
        self.calls: list[Call] = []
        self.plan: FaultPlan | None = None
        self.step = -1
        self.attempt = 0
        self.function = ""
        self.recording = True
        ports = {
            "table": world.table,
            "bucket": world.bucket,
            "sagemaker": world.sagemaker,
            "alerts": world.alerts,
            "bus": world.bus,
            "series": world.series,
            "queues": world.queues,
        }
        for port, target in ports.items():
            for method in (*READS.get(port, ()), *WRITES.get(port, ())):
                setattr(target, method, self._wrap(port, method, getattr(target, method)))

    def _wrap(self, port: str, method: str, real: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            if not self.recording:
                return real(*args, **kwargs)
            site, caller = _use_case_site()
            record = Call(
                index=len(self.calls),
                step=self.step,
                attempt=self.attempt,
                function=self.function,
                port=port,
                method=method,
                site=site,
                caller=caller,
                kinds=tuple(kinds_for(port, method, args)),
            )
            self.calls.append(record)
            plan = self.plan
            if plan is None or not plan.hits(record) or (plan.kind not in record.kinds and not plan.any_kind):
                return real(*args, **kwargs)
            kind = KINDS[plan.kind]
            plan.fired += 1
            if kind.after:
                real(*args, **kwargs)
            raise kind.make(f"{port}.{method}")

        return call

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """Calls the test makes itself (reading the state back) are neither recorded nor failed."""
        self.recording = False
        try:
            yield
        finally:
            self.recording = True


# ---------------------------------------------------------------- events as AWS sends them


def sample(path: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / path).read_text()))


def training_event(name: str, status: str, secondary: str | None = None) -> dict[str, Any]:
    event = sample("record_trial/training_completed.json")
    detail = event["detail"]
    detail.update(TrainingJobName=name, TrainingJobStatus=status, SecondaryStatus=secondary or status)
    detail["TrainingJobArn"] = f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"
    detail.pop("TuningJobArn", None)
    event["resources"] = [detail["TrainingJobArn"]]
    return event


def tuning_event(name: str, status: str) -> dict[str, Any]:
    event = sample("close_round/tuning_completed.json")
    event["detail"].update(HyperParameterTuningJobName=name, HyperParameterTuningJobStatus=status)
    return event


def package_event(arn: str, approval: str, who: str) -> dict[str, Any]:
    event = sample("promote/model_package_approved.json")
    event["detail"].update(ModelPackageArn=arn, ModelApprovalStatus=approval)
    event["detail"]["LastModifiedBy"] = {"IamIdentity": {"Arn": who}}
    return event


def endpoint_event(name: str, status: str, config: str) -> dict[str, Any]:
    event = sample("promote/endpoint_in_service.json")
    event["detail"].update(EndpointName=name, EndpointStatus=status, EndpointConfigName=config)
    return event


def drop_ready_event(detail: dict[str, Any]) -> dict[str, Any]:
    event = sample("start_round/drop_ready.json")
    event["detail"] = dict(detail)
    return event


SCHEDULE = sample("reconcile/schedule.json")


class LambdaContext:
    function_name = "retune-Function"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:retune-Function"
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


# ---------------------------------------------------------------- delivering events as Lambda does


@dataclass
class Delivery:
    function: str
    event: dict[str, Any]
    errors: list[BaseException] = field(default_factory=list)
    result: dict[str, Any] | None = None

    @property
    def parked(self) -> bool:
        return self.result is None


def stop_command(event: dict[str, Any], context: Any, deps: StopRoundDeps) -> dict[str, Any]:
    """`retune stop PROFILE SEQ` as the CLI runs it (its use case; the CLI's exit code is its error). A stop that
    fails is run again by the person, as Lambda retries an event (and the sweep's redrive sends it again)."""
    del context
    return stop_round(event["profile"], event["seq"], event["who"], deps)._asdict()


class Harness:
    """One world, its instrumented ports, and Lambda's delivery rules."""

    HANDLERS: dict[str, Callable[..., dict[str, Any]]] = {
        "start_round": start_round_handler.lambda_handler,
        "record_trial": record_trial_handler.lambda_handler,
        "close_round": close_round_handler.lambda_handler,
        "promote": promote_handler.lambda_handler,
        "reconcile": reconcile_handler.lambda_handler,
    }
    # What a person runs, delivered as an event is (a failed run is run again): not a function of the stack.
    COMMANDS: dict[str, Callable[..., dict[str, Any]]] = {"stop": stop_command}

    def __init__(self, plan: FaultPlan | None = None) -> None:
        self.world = World()
        self.instrument = Instrument(self.world)
        self.instrument.plan = plan
        self.deliveries: list[Delivery] = []
        self.parked: list[Delivery] = []
        self.bus_delivered = 0
        self.script_calls = 0  # the calls the scenario made before its recovery phase (the fault sites)
        self.on_failure_urls = {
            name: f"https://sqs.us-east-1.amazonaws.com/123456789012/retune-{name}-on-failure"
            for name in (*self.HANDLERS, *self.COMMANDS)
        }
        self.world.reconcile_deps.parked_queue_urls = tuple(self.on_failure_urls.values())

    def deps(self, function: str) -> Any:
        w = self.world
        return {
            "start_round": w.deps,
            "record_trial": w.record_deps,
            "close_round": w.close_deps,
            "promote": w.promote_deps,
            "reconcile": w.reconcile_deps,
            "stop": compose_fakes(w).stop_round,
        }[function]

    def deliver(self, function: str, event: dict[str, Any]) -> Delivery:
        """One asynchronous invocation: up to 3 attempts; an event that fails all of them is parked on the
        function's on-failure queue (what Reconcile watches)."""
        self.instrument.step += 1
        self.instrument.function = function
        delivery = Delivery(function, copy.deepcopy(event))
        for attempt in range(LAMBDA_ATTEMPTS):
            self.instrument.attempt = attempt
            try:
                handler = self.HANDLERS.get(function) or self.COMMANDS[function]
                delivery.result = handler(copy.deepcopy(event), LambdaContext(), self.deps(function))
                break
            except (Exception, Crash) as exc:  # noqa: BLE001 (Lambda retries whatever the handler raised)
                delivery.errors.append(exc)
        self.deliveries.append(delivery)
        if delivery.parked:
            self.parked.append(delivery)
            url = self.on_failure_urls[function]
            self.world.queues.depths[url] = self.world.queues.depths.get(url, 0) + 1
        return delivery

    def deliver_bus(self) -> None:
        """retune's own events ("Drop Ready") reach StartRound, each as often as it was put."""
        while self.bus_delivered < len(self.world.bus.events):
            detail_type, detail = self.world.bus.events[self.bus_delivered]
            self.bus_delivered += 1
            assert detail_type == "Drop Ready"
            self.deliver("start_round", drop_ready_event(detail))

    def reconcile(self) -> Delivery:
        return self.deliver("reconcile", SCHEDULE)

    def redrive(self) -> None:
        """An operator, alerted to parked events, sends them again (after the cause has cleared)."""
        parked, self.parked = self.parked, []
        for url in self.on_failure_urls.values():
            self.world.queues.depths[url] = 0
        for delivery in parked:
            self.deliver(delivery.function, delivery.event)

    def unclassified_errors(self) -> list[str]:
        """Errors a handler raised that are neither an injected fault nor one of retune's own."""
        out = []
        for delivery in self.deliveries:
            for exc in delivery.errors:
                if isinstance(exc, Crash | RetuneError):
                    continue
                out.append(f"{delivery.function}: {type(exc).__name__}: {exc}")
        return out


# ---------------------------------------------------------------- every effect, read back


def effects(h: Harness) -> dict[str, Any]:
    """What the run left behind, in a form two runs can be compared by: the store's records (without their
    timestamps), SageMaker's jobs, packages, models and endpoints, and the alerts by key."""
    w = h.world
    with h.instrument.quiet():
        items = {(pk, sk): json.loads(item["doc"]) for (pk, sk), item in w.table.items.items()}
    store: dict[str, Any] = {}
    for (pk, sk), doc in sorted(items.items()):
        if sk.startswith("DROP#"):
            store[f"{pk}/{sk}"] = {k: doc.get(k) for k in ("state", "round_seq", "waiting_for_capacity")}
        elif "#TRIAL#" in sk:
            store[f"{pk}/{sk}"] = {
                k: doc.get(k)
                for k in (
                    "status",
                    "secondary_status",
                    "final_objective",
                    "objective_series",
                    "billable_seconds",
                    "compute",
                    "stopped_early",
                )
            }
        elif sk.startswith("ROUND#"):
            evaluation = doc.get("evaluation") or {}
            decision = doc.get("decision") or {}
            store[f"{pk}/{sk}"] = {
                **{
                    k: doc.get(k)
                    for k in (
                        "status",
                        "drop_id",
                        "tuning_job_name",
                        "trial_counts",
                        "stopped_early",
                        "best_training_job",
                        "best_objective",
                        "compute",
                        "billable_seconds",
                        "tuning_status",
                        "incumbents",
                    )
                },
                "evaluation": {
                    k: evaluation.get(k) for k in ("job_name", "status", "challenger_score", "champion_score")
                },
                "decision": {k: decision.get(k) for k in ("outcome", "model_package_arn", "decided_by")},
                "deployment": doc.get("deployment"),
                "plan": doc.get("plan"),
            }
        elif sk == "CHAMPION":
            store[f"{pk}/{sk}"] = {
                "model_package_arn": doc["model_package_arn"],
                "version": doc["version"],
                "history": [
                    (c["model_package_arn"], c["round_seq"], c["decided_by"]) for c in doc["history"]
                ],
            }
        elif sk == "PLAN":
            store[f"{pk}/{sk}"] = doc
        elif sk in ("ACTIVE", "QUEUED"):
            store[f"{pk}/{sk}"] = {k: doc.get(k) for k in ("seq", "drop_id", "tuning_job_name")}
        else:
            store[f"{pk}/{sk}"] = doc
    sm = w.sagemaker
    return {
        "store": store,
        "tuning_jobs": sorted(sm.tuning_jobs),
        "evaluation_jobs": sorted(n for n in sm.training_jobs if n.endswith("-eval")),
        "incumbent_jobs": sorted(n for n in sm.training_jobs if "-inc" in n),
        "packages": {arn: p["ModelApprovalStatus"] for arn, p in sm.packages.items()},
        "models": sorted(sm.models),
        "endpoint_configs": sorted(sm.endpoint_configs),
        "endpoints": {name: e["EndpointConfigName"] for name, e in sm.endpoints.items()},
        "endpoint_updates": sm.calls.count("UpdateEndpoint"),
        "alerts": sorted(a.key for a in w.alerts.published),
        "channel_manifests": sorted(
            k for (b, k) in w.bucket.objects if b == BUCKET and k.startswith("manifests/")
        ),
    }


def champion_is_whole(h: Harness) -> list[str]:
    """The champion is never half-promoted: the champion's round decided it (or a person approved it), and every
    round retune decided to promote made its package the champion."""
    problems = []
    w = h.world
    with h.instrument.quiet():
        for (pk, sk), item in w.table.items.items():
            doc = json.loads(item["doc"])
            if sk == "CHAMPION":
                last = doc["history"][-1]
                if last["decided_by"] == "retune":
                    rnd = w.store.get_round(doc["profile"], doc["round_seq"])
                    if rnd is None or rnd.status != "decided" or rnd.decision is None:
                        problems.append(f"{pk}: champion from round {doc['round_seq']}, which is not decided")
                    elif rnd.decision.model_package_arn != doc["model_package_arn"]:
                        problems.append(f"{pk}: champion {doc['model_package_arn']} is not round's package")
            elif sk.startswith("ROUND#") and "#TRIAL#" not in sk:
                decision = doc.get("decision") or {}
                if decision.get("outcome") == "approved":
                    champion = w.store.get_champion(doc["profile"])
                    arns = [c.model_package_arn for c in champion.history] if champion else []
                    if decision.get("model_package_arn") not in arns:
                        problems.append(f"{pk}/{sk}: approved but its package never became the champion")
    return problems
