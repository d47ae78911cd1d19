"""One full run of retune on the local stack, with IAM enforced, that takes every path a function's permission is for:
what the mutation test (test_enforcement.py) records and then re-evaluates with each statement of each role removed.

Three profiles of the toy trainer, each with an endpoint, and one that trains "forever" until it is stopped:

- iam-flow: a drop whose manifest names a missing file (StartRound fails it, with an alert); a drop that runs and is
  promoted and deployed while the next drop queues behind it (Promote announces it); that next round trains its
  incumbent first (RecordTrial announces its end, StartRound starts the tuning job), then loses its trials' events,
  so CloseRound reads their series itself; then the profile's range moves next to the optimum, and
  the third round's challenger, promoted, updates the endpoint. Its fourth round's incumbents train "forever":
  `retune stop` dies after writing the round `stopping`, before its stops; Reconcile stops them, then closes it.
  Its fifth round's `retune stop` is written as StartRound creates the tuning job: StartRound's write of `running`
  fails and it stops the job (its stops are lost here); Reconcile stops it; its Stopped event closes it. Its sixth
  round's incumbents are created after `retune stop` found none and Reconcile closed the round: StartRound, reading
  the round again after its creates, stops them.
- iam-slow: a round stopped with `retune stop` while a drop waits: the round fails, CloseRound alerts and announces
  the queued drop, whose round is stopped too.
- iam-lost: SageMaker's events of rounds 1 and 2 (tuning jobs, trials, evaluations), its endpoint's and the
  queued drop's "Drop Ready" are all lost: Reconcile closes round 1, decides it, creates the endpoint, starts the
  queued drop and settles the deployment from DescribeEndpoint; records round 2's incumbent and starts its tuning
  job; then closes round 2 (its range moved next to the
  optimum), decides it and updates the endpoint.
- and an event that fails three times (parked on CloseRound's on-failure queue), which Reconcile alerts.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from unittest.mock import patch

from retune.adapters.sagemaker import SageMaker
from retune_cli.__main__ import main as retune
from retune_local.errors import ServiceError
from retune_local.stack import LocalStack

from tests.local.conftest import park_close_round_event, toy_profile, write_drop

SLOW_IMAGE = "retune/slow"
TIMEOUT = 180


def _names(event: Mapping[str, Any]) -> list[str]:
    detail = event.get("detail") or {}
    keys = ("TrainingJobName", "HyperParameterTuningJobName", "EndpointName", "profile")
    return [str(detail[k]) for k in keys if k in detail]


def _lost(event: Mapping[str, Any]) -> bool:
    """The events this run loses: iam-flow round 2's trials, and everything of iam-lost round 1."""
    names = _names(event)
    trial_of_flow_2 = event.get("detail-type") == "SageMaker Training Job State Change" and any(
        n.startswith("rt-iam-flow-0002-") and not n.endswith("-eval") and "-inc" not in n for n in names
    )
    of_lost = any(n.startswith(("rt-iam-lost-0001", "rt-iam-lost-0002")) or n == "iam-lost" for n in names)
    return trial_of_flow_2 or of_lost


# The toy trainer's objective is best at x = 0.3: a round searching FAR is beaten by one searching NEAR.
FAR = (0.9, 1.0)
NEAR = (0.29, 0.31)


def _profile(work: Path, stack: LocalStack, name: str, x: tuple[float, float] = FAR, **training: Any) -> None:
    doc = toy_profile(max_jobs=2, parallel=2)
    doc["name"] = name
    doc["training"].update(training)
    doc["search"]["ranges"] = [{"type": "continuous", "name": "x", "min_value": x[0], "max_value": x[1]}]
    doc["promotion"]["endpoint"] = {"name": name, "instance_type": "ml.m5.large"}
    path = work / f"{name}.json"
    path.write_text(json.dumps(doc))
    stack.put_profile(path)


def _reconcile(stack: LocalStack) -> None:
    assert stack.router is not None
    stack.router.fire_schedule("ReconcileFunction")
    assert stack.wait_until(stack.router.idle, timeout=TIMEOUT)


def _cli(endpoints: Path, *args: str) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = retune([*args, "--endpoints-file", str(endpoints)])
    assert code == 0, out.getvalue()
    return out.getvalue()


def _stop_as_startround_creates_the_tuning_job(stack: LocalStack, endpoints: Path, work: Path) -> None:
    """iam-flow round 5: its incumbents (training "forever") are stopped by hand, so StartRound starts the tuning
    job; `retune stop` (the CLI, through the gate) is written between StartRound's read of the round and its
    CreateHyperParameterTuningJob, so the stop finds no job and StartRound's write of `running` fails: StartRound
    stops the job it created (StartRoundFunction's StopTuningJobsOfStoppedRounds). Those stops never take effect
    here (the local SageMaker refuses them, as if StartRound had died before it could stop the job: a Lambda
    timeout costs minutes to simulate, a throttled stop's retries about 25 s), so Reconcile stops it
    (ReconcileFunction's)."""
    assert stack.sagemaker is not None
    store, sagemaker = stack.state(), stack.client("sagemaker")
    name = "rt-iam-flow-0005"
    operations = stack.sagemaker._operations  # the service's own operation table, patched below
    create, stop = operations["CreateHyperParameterTuningJob"], operations["StopHyperParameterTuningJob"]
    creating, stopped, lost = threading.Event(), threading.Event(), threading.Event()
    lost.set()

    def create_after_the_stop(request: dict[str, Any]) -> dict[str, Any]:
        if request.get("HyperParameterTuningJobName") == name:
            creating.set()
            assert stopped.wait(TIMEOUT), "the stop was never written"
        return create(request)

    def never_reached(request: dict[str, Any]) -> dict[str, Any]:
        if request.get("HyperParameterTuningJobName") == name and lost.is_set():
            raise ServiceError("ValidationException", f"stop of {name} lost (the test's stand-in)")
        return stop(request)

    stack.drop(write_drop(work / "iam-flow" / "2017-01-01", validation_rows=2, test_rows=2), "iam-flow")
    fifth = stack.wait_for_round("iam-flow", 5, timeout=TIMEOUT, statuses=("starting",))
    incumbents = [i.job_name for i in fifth.incumbents]
    assert incumbents, fifth
    with patch.dict(
        operations,
        {
            "CreateHyperParameterTuningJob": create_after_the_stop,
            "StopHyperParameterTuningJob": never_reached,
        },
    ):
        assert stack.wait_until(
            lambda: all(
                sagemaker.describe_training_job(TrainingJobName=n)["TrainingJobStatus"] == "InProgress"
                for n in incumbents
            ),
            TIMEOUT,
        )
        for incumbent in incumbents:  # by hand (the administrator): their Stopped events start the tuning job
            sagemaker.stop_training_job(TrainingJobName=incumbent)
        assert creating.wait(TIMEOUT), "StartRound never created the tuning job"
        _cli(endpoints, "stop", "iam-flow", "5")
        stopped.set()
        assert stack.router is not None and stack.wait_until(stack.router.idle, TIMEOUT)
        asked = [
            e
            for e in stack.gate.trace()
            if e.principal == "StartRoundFunction" and e.operation == "StopHyperParameterTuningJob"
        ]
        assert asked, "StartRound never stopped the tuning job it created as the stop was written"
        assert store.get_round("iam-flow", 5).status == "stopping"
        assert (
            sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)[
                "HyperParameterTuningJobStatus"
            ]
            == "InProgress"
        )
        lost.clear()
        _reconcile(stack)  # stops the tuning job
    assert stack.wait_until(
        lambda: (r := store.get_round("iam-flow", 5)) is not None and r.status == "failed", TIMEOUT
    )
    closed = store.get_round("iam-flow", 5)
    assert closed.tuning_status == "Stopped", closed


def _incumbent_created_after_the_stopped_round_closed(stack: LocalStack, endpoints: Path, work: Path) -> None:
    """iam-flow round 6: StartRound's create of its first incumbent lands after `retune stop` (the CLI, through the
    gate) found no job (recording it never created) and Reconcile closed the stopped round. StartRound reads the
    round again after its creates, finds it closed after a stop, and stops the incumbents it created
    (StartRoundFunction's StopIncumbentsOfStoppedRounds); no tuning job starts."""
    assert stack.sagemaker is not None and stack.router is not None
    store, sagemaker = stack.state(), stack.client("sagemaker")
    operations = stack.sagemaker._operations  # the service's own operation table, patched below
    create = operations["CreateTrainingJob"]
    creating, closed = threading.Event(), threading.Event()

    def create_after_the_close(request: dict[str, Any]) -> dict[str, Any]:
        if str(request.get("TrainingJobName", "")).startswith("rt-iam-flow-0006-inc") and not closed.is_set():
            creating.set()
            assert closed.wait(TIMEOUT), "the round was never closed"
        return create(request)

    with patch.dict(operations, {"CreateTrainingJob": create_after_the_close}):
        stack.drop(write_drop(work / "iam-flow" / "2017-07-01", validation_rows=2, test_rows=2), "iam-flow")
        assert creating.wait(TIMEOUT), "StartRound never created round 6's incumbents"
        sixth = store.get_round("iam-flow", 6)
        assert sixth is not None and sixth.status == "starting" and sixth.incumbents, sixth
        incumbents = [i.job_name for i in sixth.incumbents]
        _cli(endpoints, "stop", "iam-flow", "6")
        # Reconcile closes it while StartRound waits in its create (the router is not idle: wait for the close).
        stack.router.fire_schedule("ReconcileFunction")
        assert stack.wait_until(
            lambda: (r := store.get_round("iam-flow", 6)) is not None and r.status == "failed", TIMEOUT
        )
        closed.set()
        assert stack.wait_until(stack.router.idle, TIMEOUT)
    asked = [
        e.request.resource.rsplit("/", 1)[-1]
        for e in stack.gate.trace()
        if e.principal == "StartRoundFunction" and e.operation == "StopTrainingJob"
    ]
    assert sorted(asked) == sorted(incumbents), (asked, incumbents)
    assert stack.wait_until(
        lambda: all(
            sagemaker.describe_training_job(TrainingJobName=n)["TrainingJobStatus"] == "Stopped"
            for n in incumbents
        ),
        TIMEOUT,
    )
    assert not sagemaker.list_hyper_parameter_tuning_jobs(NameContains="rt-iam-flow-0006")[
        "HyperParameterTuningJobSummaries"
    ]
    assert stack.wait_until(stack.router.idle, TIMEOUT)  # the incumbents' Stopped events: already terminal
    closed_round = store.get_round("iam-flow", 6)
    assert (closed_round.status, closed_round.tuning_status) == ("failed", "Stopped"), closed_round


def run(stack: LocalStack, work: Path) -> None:
    """The run; asserts that each step ended as intended, so a denial that breaks a path fails here first."""
    assert stack.router is not None and stack.sagemaker is not None
    stack.router.losing = _lost
    endpoints = work / "endpoints.json"
    stack.write_endpoints(endpoints)
    store = stack.state()
    for name in ("iam-flow", "iam-lost"):
        _profile(work, stack, name)
    _profile(work, stack, "iam-slow", image=SLOW_IMAGE)

    # iam-flow: a broken drop, then a round that is promoted and deployed while the next drop queues.
    broken = write_drop(work / "iam-flow" / "2014-12-01")
    (broken / "test.csv").unlink()
    stack.drop(broken, "iam-flow")
    assert stack.wait_until(
        lambda: (d := store.get_drop("iam-flow", "2014-12-01")) is not None and d.state == "failed", TIMEOUT
    )
    stack.drop(write_drop(work / "iam-flow" / "2015-01-01"), "iam-flow")
    stack.drop(write_drop(work / "iam-flow" / "2015-07-01", validation_rows=2, test_rows=2), "iam-flow")
    first = stack.wait_for_round("iam-flow", 1, timeout=TIMEOUT)
    assert first.decision is not None and first.decision.outcome == "approved", first.decision
    second = stack.wait_for_round("iam-flow", 2, timeout=TIMEOUT)
    assert second.status == "decided", second.status
    stack.sagemaker.wait_endpoint("iam-flow", timeout=TIMEOUT)
    _profile(work, stack, "iam-flow", NEAR)
    stack.drop(write_drop(work / "iam-flow" / "2016-01-01", validation_rows=2, test_rows=2), "iam-flow")
    third = stack.wait_for_round("iam-flow", 3, timeout=TIMEOUT)
    assert third.decision is not None and third.decision.outcome == "approved", third.decision
    assert stack.wait_until(
        lambda: (
            ((r := store.get_round("iam-flow", 3)) is not None and (r.deployment or {}).get("status"))
            == "InService"
        ),
        TIMEOUT,
    )

    # iam-flow round 4 trains its incumbents "forever"; the stop dies after its write; Reconcile stops them.
    _profile(work, stack, "iam-flow", NEAR, image=SLOW_IMAGE)
    stack.drop(write_drop(work / "iam-flow" / "2016-07-01", validation_rows=2, test_rows=2), "iam-flow")
    fourth = stack.wait_for_round("iam-flow", 4, timeout=TIMEOUT, statuses=("starting",))
    incumbents = [i.job_name for i in fourth.incumbents]
    assert incumbents, fourth
    sagemaker = stack.client("sagemaker")

    def training() -> bool:
        described = [sagemaker.describe_training_job(TrainingJobName=n) for n in incumbents]
        return all(d["TrainingJobStatus"] == "InProgress" for d in described)

    assert stack.wait_until(training, TIMEOUT)
    # `retune stop` (the CLI, through the gate) writes the round `stopping`, then dies at its first stop.
    died = ConnectionResetError("the operator's session ended")
    with (
        patch.object(SageMaker, "stop_training_job", side_effect=died),
        contextlib.suppress(ConnectionResetError),
    ):
        retune(["stop", "iam-flow", "4", "--endpoints-file", str(endpoints)])
    assert store.get_round("iam-flow", 4).status == "stopping"
    assert training()
    _reconcile(stack)  # stops the incumbents
    assert stack.wait_until(
        lambda: all(
            (t := store.get_trial("iam-flow", 4, n)) is not None and t.status == "Stopped" for n in incumbents
        ),
        TIMEOUT,
    )
    _reconcile(stack)  # closes the round
    stopped = store.get_round("iam-flow", 4)
    assert (stopped.status, stopped.tuning_status) == ("failed", "Stopped"), stopped

    _stop_as_startround_creates_the_tuning_job(stack, endpoints, work)
    _incumbent_created_after_the_stopped_round_closed(stack, endpoints, work)

    # iam-slow: a round stopped while a drop waits behind it.
    stack.drop(write_drop(work / "iam-slow" / "2016-01-01"), "iam-slow")
    stack.wait_for_round("iam-slow", 1, timeout=TIMEOUT, statuses=("running",))
    stack.drop(write_drop(work / "iam-slow" / "2016-02-01"), "iam-slow")
    assert stack.wait_until(
        lambda: (d := store.get_drop("iam-slow", "2016-02-01")) is not None and d.state == "queued", TIMEOUT
    )
    _cli(endpoints, "stop", "iam-slow", "1")
    assert stack.wait_for_round("iam-slow", 1, timeout=TIMEOUT).status == "failed"
    stack.wait_for_round("iam-slow", 2, timeout=TIMEOUT, statuses=("running",))
    _cli(endpoints, "stop", "iam-slow", "2")
    stack.wait_for_round("iam-slow", 2, timeout=TIMEOUT)

    # iam-lost: every event of round 1 lost; Reconcile does it all.
    stack.drop(write_drop(work / "iam-lost" / "2015-01-01"), "iam-lost")
    stack.wait_for_round("iam-lost", 1, timeout=TIMEOUT, statuses=("running",))
    stack.sagemaker.wait_tuning_job("rt-iam-lost-0001", timeout=TIMEOUT)
    stack.drop(write_drop(work / "iam-lost" / "2015-07-01", validation_rows=2, test_rows=2), "iam-lost")
    assert stack.wait_until(
        lambda: (d := store.get_drop("iam-lost", "2015-07-01")) is not None and d.state == "queued", TIMEOUT
    )
    _profile(work, stack, "iam-lost", NEAR)  # the queued drop's round searches next to the optimum
    _reconcile(stack)  # closes round 1 and starts its evaluation
    evaluating = store.get_round("iam-lost", 1)
    assert evaluating is not None and evaluating.evaluation is not None, evaluating
    stack.sagemaker.wait_training_job(evaluating.evaluation.job_name, timeout=TIMEOUT)
    _reconcile(stack)  # decides, deploys, announces the queued drop (lost too) and starts it
    decided = store.get_round("iam-lost", 1)
    assert decided is not None and decided.decision is not None and decided.decision.outcome == "approved"
    stack.sagemaker.wait_endpoint("iam-lost", timeout=TIMEOUT)
    _reconcile(stack)  # settles the deployment from DescribeEndpoint (and starts the queued drop, if not yet)
    settled = store.get_round("iam-lost", 1)
    assert settled is not None and (settled.deployment or {}).get("status") == "InService", settled.deployment
    # Round 2 trains its incumbents (round 1's best configurations) first; their events are lost too: Reconcile
    # records them and starts the tuning job.
    starting = stack.wait_for_round("iam-lost", 2, timeout=TIMEOUT, statuses=("starting", "running"))
    assert starting.incumbents and starting.incumbents[0].job_name == "rt-iam-lost-0002-inc1", (
        starting.incumbents
    )
    for incumbent in starting.incumbents:
        stack.sagemaker.wait_training_job(incumbent.job_name, timeout=TIMEOUT)
    _reconcile(stack)
    # Running, or already past it: when the incumbents end before the Reconcile above that settled the deployment,
    # that run already started the tuning job, and this one closes it (a toy trial takes a second).
    stack.wait_for_round("iam-lost", 2, timeout=TIMEOUT, statuses=("running", "evaluating", "decided"))
    stack.sagemaker.wait_tuning_job("rt-iam-lost-0002", timeout=TIMEOUT)
    _reconcile(stack)  # closes round 2 and starts its evaluation
    evaluating = store.get_round("iam-lost", 2)
    assert evaluating is not None and evaluating.evaluation is not None, evaluating
    stack.sagemaker.wait_training_job(evaluating.evaluation.job_name, timeout=TIMEOUT)
    _reconcile(stack)  # decides round 2 and updates the endpoint
    updated = store.get_round("iam-lost", 2)
    assert updated is not None and updated.decision is not None, updated
    assert updated.decision.outcome == "approved", (
        updated.decision,
        updated.plan.ranges if updated.plan else None,
    )
    assert updated.deployment is not None, updated

    # A parked event: CloseRound fails on a lookup whose round does not exist; Reconcile alerts the queue.
    parked = len(stack.on_failure_records)
    park_close_round_event(stack, "ghost", 9)
    assert stack.wait_until(lambda: len(stack.on_failure_records) == parked + 1, timeout=TIMEOUT)
    _reconcile(stack)
    subjects = [alert["Subject"] for alert in stack.alerts()]
    assert any("parked" in subject for subject in subjects), subjects
