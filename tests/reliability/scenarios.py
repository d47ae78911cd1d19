"""Whole runs of the loop, as the events of AWS would drive it, for the fault sweep.

Each scenario uploads profiles and drops, lets the simulated SageMaker run what retune launched, and delivers each
event the way AWS would (some twice, some never). Where the script needs SageMaker to have received a job, it
waits for it as the real loop would: Reconcile runs on its schedule until the job exists. A fault-free run never
needs Reconcile there, so its calls are the sweep's reference.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from retune.errors import NotFound, Refused
from retune.naming import evaluation_job_name, tuning_job_name
from retune.use_cases.reconcile import reconcile
from retune.use_cases.stop_round import stop_round

from tests.conftest import BUCKET, compose_fakes, profile_doc
from tests.reliability.harness import (
    Harness,
    endpoint_event,
    package_event,
    training_event,
    tuning_event,
)

PROFILE = "market-xgb"
ENDPOINT = "market-xgb"
PERSON = "arn:aws:sts::123456789012:assumed-role/ml-lead/alice"


def configuration(eta: float, depth: int) -> dict[str, str]:
    """A full configuration of market-xgb's searched hyperparameters: a trial that sets every one of them can be
    an incumbent of a later round (one that sets some cannot)."""
    return {
        "eta": f"{eta:g}",
        "max_depth": str(depth),
        "min_child_weight": "3.5",
        "subsample": "0.8",
        "colsample_bytree": "0.6",
        "lambda": "1.2",
    }


# Trials that set one searched hyperparameter of six: no configuration to carry, so round 2 has no incumbents.
ROUND_1 = [
    {"objective": 0.52, "compute": 100},
    {"objective": 0.48, "compute": 80},
    {"objective": 0.61, "status": "Stopped", "secondary": "Stopped", "compute": 20},
]
# Full configurations, as AMT's trials carry: round 2 retrains the best ones first (its incumbents).
ROUND_1_FULL = [
    {"objective": 0.52, "compute": 100, "hyperparameters": configuration(0.2, 6)},
    {"objective": 0.48, "compute": 80, "hyperparameters": configuration(0.05, 4)},
    ROUND_1[2],
]
ROUND_2 = [
    {"objective": 0.50, "compute": 150},
    {"objective": 0.46, "compute": 150},
]
# The n-th incumbent's validation score on its round's drop, whichever way the script ends it.
INCUMBENT_SCORES = (0.49, 0.47, 0.50)
SCHEDULE_RUNS = 3  # Reconcile runs a script waits for SageMaker's job, at most


def ensure(h: Harness, what: str, done: Callable[[], bool]) -> None:
    """Wait, as the loop would, for something Reconcile or a queued "Drop Ready" brings about; an operator
    alerted to parked events (Reconcile's alert) sends them again."""
    for _ in range(SCHEDULE_RUNS):
        if done():
            return
        h.reconcile()
        h.deliver_bus()
        if not done() and h.parked:
            h.redrive()
            h.deliver_bus()
    assert done(), f"stuck: {what} never happened"


def tuning(seq: int) -> str:
    return tuning_job_name(PROFILE, seq)


def evaluation(seq: int) -> str:
    return evaluation_job_name(PROFILE, seq)


def started(h: Harness, seq: int) -> None:
    """Round `seq`'s tuning job exists. A round with incumbents starts it when they have ended: SageMaker ends
    each as soon as it exists (a start refused for capacity and retried creates them later)."""

    def done() -> bool:
        end_created_incumbents(h, seq)
        return tuning(seq) in h.world.sagemaker.tuning_jobs

    ensure(h, f"tuning job {tuning(seq)} created", done)


def incumbent_names(h: Harness, seq: int) -> list[str]:
    with h.instrument.quiet():
        rnd = h.world.store.get_round(PROFILE, seq)
    return [i.job_name for i in rnd.incumbents] if rnd is not None else []


def round_status(h: Harness, seq: int) -> str | None:
    with h.instrument.quiet():
        rnd = h.world.store.get_round(PROFILE, seq)
    return rnd.status if rnd is not None else None


def end_incumbent(h: Harness, name: str, objective: float) -> None:
    """SageMaker ends an incumbent's plain training job, completed, as it ends a trial."""
    job = h.world.sagemaker.training_jobs[name]
    job.update(
        TrainingJobStatus="Completed",
        SecondaryStatus="Completed",
        HyperParameters=job["request"]["HyperParameters"],
        FinalMetricDataList=[
            {"MetricName": "validation:rmse", "Value": objective},
            {"MetricName": "train:compute", "Value": 40.0},
        ],
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large"},
        BillableTimeInSeconds=50,
        TrainingTimeInSeconds=50,
        TrainingStartTime=datetime(2026, 1, 1, tzinfo=UTC),
        TrainingEndTime=datetime(2026, 1, 1, 0, 2, tzinfo=UTC),
        ModelArtifacts={"S3ModelArtifacts": f"s3://{BUCKET}/models/{name}/output/model.tar.gz"},
    )
    h.world.bucket.put(BUCKET, f"models/{name}/output/model.tar.gz", f"model of {name}")
    h.world.series.values[(name, "validation:rmse")] = [0.6, objective]


def incumbents_end(h: Harness, seq: int) -> list[str]:
    """Round `seq`'s incumbents (StartRound creates them first) end, the n-th scoring INCUMBENT_SCORES[n], each
    event delivered once; the last one's announcement ("Drop Ready") starts the tuning job. Those already ended
    are left as they are."""
    jobs = h.world.sagemaker.training_jobs
    ensure(
        h,
        f"round {seq}'s incumbents created",
        lambda: bool(names := incumbent_names(h, seq)) and all(n in jobs for n in names),
    )
    end_created_incumbents(h, seq)
    return incumbent_names(h, seq)


def end_created_incumbents(h: Harness, seq: int) -> None:
    """Those of round `seq`'s incumbents that exist and still train end (see `incumbents_end`); nothing else."""
    jobs = h.world.sagemaker.training_jobs
    ended = False
    for index, name in enumerate(incumbent_names(h, seq)):
        if name in jobs and jobs[name]["TrainingJobStatus"] == "InProgress":
            end_incumbent(h, name, INCUMBENT_SCORES[index % len(INCUMBENT_SCORES)])
            h.deliver("record_trial", training_event(name, "Completed"))
            ended = True
    if ended:
        h.deliver_bus()


def run_trials(h: Harness, seq: int, results: list[dict[str, Any]], status: str = "Completed") -> list[str]:
    started(h, seq)
    names = h.world.sagemaker.run_trials(tuning(seq), results, status=status)
    for name in names:
        h.world.series.values[(name, "validation:rmse")] = [0.7, 0.6, 0.55]
    return names


def end_evaluation(
    h: Harness, seq: int, challenger: float | None, champion: float | None = None, **kw: Any
) -> None:
    name = evaluation(seq)
    ensure(h, f"evaluation {name} created", lambda: name in h.world.sagemaker.training_jobs)
    h.world.sagemaker.end_evaluation(name, challenger, champion, **kw)


def round_to_evaluation(
    h: Harness, seq: int, results: list[dict[str, Any]], challenger: float, champion: float | None = None
) -> None:
    """Round `seq` runs `results`, every trial's event arrives, it closes, and its evaluation ends and is
    delivered once."""
    for name in run_trials(h, seq, results):
        h.deliver("record_trial", training_event(name, "Completed"))
    h.deliver("close_round", tuning_event(tuning(seq), "Completed"))
    end_evaluation(h, seq, challenger, champion)
    h.deliver("promote", training_event(evaluation(seq), "Completed"))


def endpoint_in_service(h: Harness, seq: int) -> None:
    """SageMaker finishes creating or updating the endpoint for round `seq`'s model, and says so."""
    config = f"{tuning(seq)}-config"
    ensure(
        h,
        f"endpoint {ENDPOINT} deployed with {config}",
        lambda: h.world.sagemaker.endpoints.get(ENDPOINT, {}).get("EndpointConfigName") == config,
    )
    h.world.sagemaker.endpoints[ENDPOINT]["EndpointStatus"] = "InService"
    h.deliver("promote", endpoint_event(ENDPOINT, "IN_SERVICE", config))


def endpoint_profile(**changes: Any) -> dict[str, Any]:
    doc = profile_doc(PROFILE)
    doc["promotion"]["endpoint"] = {"name": ENDPOINT, "instance_type": "ml.m5.large"}
    for path, value in changes.items():
        section, key = path.split("__")
        doc[section][key] = value
    return doc


def loop(h: Harness, round_1: list[dict[str, Any]] = ROUND_1) -> None:
    """Two rounds: a drop starts round 1, a second drop queues behind it and S3 repeats the first; trials are
    recorded (one event late, one lost: CloseRound backfills it); round 1 is promoted and deployed; "Drop Ready"
    starts round 2 (which first trains its incumbents when `round_1`'s trials carry full configurations: their
    events late and repeated), which goes over its compute budget, is promoted and updates the endpoint."""
    w = h.world
    w.put_profile(endpoint_profile(budget__compute_budget=250))
    first = w.drop("2015-01-01")
    h.deliver("start_round", first)
    started(h, 1)
    h.deliver("start_round", w.drop("2015-07-01"))
    h.deliver("start_round", first)  # S3 delivers at least once
    a, b, _ = run_trials(h, 1, round_1)  # the third's events are all lost
    h.deliver("record_trial", training_event(a, "InProgress", "Training"))  # late: the job is done by now
    h.deliver("record_trial", training_event(a, "Completed"))
    h.deliver("record_trial", training_event(b, "Completed"))
    h.deliver("record_trial", training_event(a, "Completed"))  # SageMaker may send an event twice
    h.deliver("close_round", tuning_event(tuning(1), "Completed"))  # c's event was lost: backfilled
    end_evaluation(h, 1, 0.47)
    h.deliver("promote", training_event(evaluation(1), "Completed"))
    h.deliver("promote", training_event(evaluation(1), "Completed"))
    endpoint_in_service(h, 1)
    h.deliver_bus()  # the queued drop's "Drop Ready": round 2 starts (with its incumbents, if it has any)
    if incumbent_names(h, 2):
        first, *_ = incumbents_end(h, 2)
        h.deliver("record_trial", training_event(first, "InProgress", "Training"))  # late: it ended
        h.deliver("record_trial", training_event(first, "Completed"))  # and again
    started(h, 2)
    for name in run_trials(h, 2, ROUND_2):
        h.deliver("record_trial", training_event(name, "Completed"))
    h.deliver("close_round", tuning_event(tuning(2), "Completed"))
    h.deliver("close_round", tuning_event(tuning(2), "Completed"))
    end_evaluation(h, 2, 0.45, 0.47)
    h.deliver("promote", training_event(evaluation(2), "Completed"))
    endpoint_in_service(h, 2)
    h.deliver_bus()
    h.reconcile()


def manual(h: Harness) -> None:
    """A round that waits for a person: registered for manual approval; a person approves it in the registry
    (the event comes twice), which makes it the champion and deploys it."""
    w = h.world
    w.put_profile(endpoint_profile(promotion__approval="manual"))
    h.deliver("start_round", w.drop("2015-01-01"))
    round_to_evaluation(h, 1, ROUND_1, 0.47)
    ensure(h, "round 1 decided", lambda: bool(w.sagemaker.packages))
    (arn,) = w.sagemaker.packages
    w.sagemaker.packages[arn]["ModelApprovalStatus"] = "Approved"
    w.sagemaker.packages[arn]["LastModifiedBy"] = {"IamIdentity": {"Arn": PERSON}}
    h.deliver("promote", package_event(arn, "Approved", PERSON))
    h.deliver("promote", package_event(arn, "Approved", PERSON))
    ensure(h, f"endpoint {ENDPOINT} created", lambda: ENDPOINT in w.sagemaker.endpoints)
    w.sagemaker.endpoints[ENDPOINT]["EndpointStatus"] = "Failed"
    h.deliver("promote", endpoint_event(ENDPOINT, "FAILED", f"{tuning(1)}-config"))
    h.deliver_bus()
    h.reconcile()


def failures(h: Harness) -> None:
    """What fails: a drop whose file is missing, a round whose trials all fail (the queued drop then starts),
    and an evaluation that fails."""
    w = h.world
    w.put_profile()
    h.deliver("start_round", w.drop("2014-12-01", files=("train.csv", "validation.csv")))
    h.deliver("start_round", w.drop("2015-01-01"))
    started(h, 1)
    h.deliver("start_round", w.drop("2015-07-01"))
    names = run_trials(
        h, 1, [{"objective": None, "status": "Failed", "failure": "AlgorithmError: boom"}], status="Failed"
    )
    w.sagemaker.tuning_jobs[tuning(1)]["FailureReason"] = "All training jobs failed"
    for name in names:
        h.deliver("record_trial", training_event(name, "Failed"))
    h.deliver("close_round", tuning_event(tuning(1), "Failed"))
    h.deliver("close_round", tuning_event(tuning(1), "Failed"))
    h.deliver_bus()
    for name in run_trials(h, 2, ROUND_2):
        h.deliver("record_trial", training_event(name, "Completed"))
    h.deliver("close_round", tuning_event(tuning(2), "Completed"))
    end_evaluation(h, 2, None, status="Failed", failure="ClientError: no test data")
    h.deliver("promote", training_event(evaluation(2), "Failed"))
    h.deliver("promote", training_event(evaluation(2), "Failed"))
    h.reconcile()


def lost(h: Harness, round_1: list[dict[str, Any]] = ROUND_1) -> None:
    """SageMaker's terminal events never arrive: Reconcile closes the round (backfilling every trial) and decides
    it once the evaluation ends."""
    w = h.world
    w.put_profile()
    h.deliver("start_round", w.drop("2015-01-01"))
    run_trials(h, 1, round_1)
    h.reconcile()  # the tuning job's terminal event was lost
    end_evaluation(h, 1, 0.47)
    h.reconcile()  # and so was the evaluation's
    h.reconcile()


def lost_incumbents(h: Harness) -> None:
    """`lost`, then round 2: its incumbents end unseen too, so Reconcile records them and starts the tuning job,
    whose end it catches as well (CloseRound's backfill reads the incumbents' records)."""
    w = h.world
    lost(h, ROUND_1_FULL)
    h.deliver("start_round", w.drop("2015-07-01"))
    jobs = w.sagemaker.training_jobs
    ensure(
        h,
        "round 2's incumbents created",
        lambda: bool(names := incumbent_names(h, 2)) and all(n in jobs for n in names),
    )
    for index, name in enumerate(incumbent_names(h, 2)):
        end_incumbent(h, name, INCUMBENT_SCORES[index % len(INCUMBENT_SCORES)])
    h.reconcile()
    run_trials(h, 2, ROUND_2)
    h.reconcile()
    end_evaluation(h, 2, 0.45, 0.47)
    h.reconcile()


def queue(h: Harness) -> None:
    """Drops pile up behind a running round: each newer one takes the queue and supersedes the one before; a drop
    whose manifest is older than the queued one's is superseded at once; a queued drop's manifest is uploaded
    again. The round stalls (one alert however often Reconcile looks), then ends; a person rejects the package
    it registered for manual approval; the queued drop starts the next round, which ends too."""
    w = h.world
    w.put_profile(endpoint_profile(promotion__approval="manual"))
    h.deliver("start_round", w.drop("2015-01-01"))
    started(h, 1)
    h.deliver("start_round", w.drop("2015-03-01"))
    h.deliver("start_round", w.drop("2015-05-01"))  # supersedes 2015-03-01
    now = w.clock.now
    w.clock.now = now - timedelta(hours=1)  # its manifest was written before 2015-05-01's
    h.deliver("start_round", w.drop("2014-12-01"))
    w.clock.now = now
    h.deliver("start_round", w.drop("2015-05-01"))  # the manifest uploaded again
    w.sagemaker.tuning_jobs[tuning(1)]["HyperParameterTuningJobStatus"] = "InProgress"
    w.clock.advance(3 * 900 + 1)  # no trial event for three per-trial time limits
    h.reconcile()
    h.reconcile()
    round_to_evaluation(h, 1, ROUND_1, 0.47)
    ensure(h, "round 1 registered", lambda: bool(w.sagemaker.packages))
    (arn,) = w.sagemaker.packages
    w.sagemaker.packages[arn]["ModelApprovalStatus"] = "Rejected"
    w.sagemaker.packages[arn]["LastModifiedBy"] = {"IamIdentity": {"Arn": PERSON}}
    h.deliver("promote", package_event(arn, "Rejected", PERSON))
    h.deliver_bus()
    round_to_evaluation(h, 2, ROUND_2, 0.45, 0.47)
    h.deliver_bus()  # a drop redriven late, queued behind round 2, is superseded now: round 2 had newer data
    h.reconcile()


def stop_incumbent(h: Harness, name: str) -> None:
    """SageMaker ends an incumbent's job that `retune stop` stopped: Stopped, no model, no final objective."""
    job = h.world.sagemaker.training_jobs[name]
    job.update(
        TrainingJobStatus="Stopped",
        SecondaryStatus="Stopped",
        HyperParameters=job["request"]["HyperParameters"],
        FinalMetricDataList=[{"MetricName": "train:compute", "Value": 10.0}],
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large"},
        BillableTimeInSeconds=20,
        TrainingTimeInSeconds=20,
        TrainingStartTime=datetime(2026, 1, 1, tzinfo=UTC),
        TrainingEndTime=datetime(2026, 1, 1, 0, 1, tzinfo=UTC),
        ModelArtifacts={},
    )
    h.world.series.values[(name, "validation:rmse")] = [0.6]


class _StopDied(Exception):
    """`retune stop`'s process died (the operator's session ended) after its write, before its stops."""


class _DiesAtItsStops:
    """SageMaker as a stop that died after its write reached it: every call but the stops."""

    def __init__(self, sagemaker: Any) -> None:
        self._sagemaker = sagemaker

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sagemaker, name)

    def stop_training_job(self, name: str) -> None:
        raise _StopDied(name)


def stop_died_after_its_write(h: Harness, seq: int) -> None:
    """`retune stop PROFILE seq` wrote the round `stopping` and died before any StopTrainingJob; nobody runs it
    again. Its write is the script's premise, not a fault site (the first stop's are)."""
    deps = compose_fakes(h.world).stop_round
    with h.instrument.quiet(), contextlib.suppress(_StopDied):
        stop_round(PROFILE, seq, PERSON, replace(deps, sagemaker=_DiesAtItsStops(deps.sagemaker)))


def fail_incumbents(h: Harness, seq: int) -> None:
    """Round `seq`'s incumbents fail (an algorithm error), each event delivered once; the last one's announcement
    starts the tuning job."""
    jobs = h.world.sagemaker.training_jobs
    ensure(
        h,
        f"round {seq}'s incumbents created",
        lambda: bool(names := incumbent_names(h, seq)) and all(n in jobs for n in names),
    )
    for name in incumbent_names(h, seq):
        stop_incumbent(h, name)
        jobs[name].update(
            TrainingJobStatus="Failed", SecondaryStatus="Failed", FailureReason="AlgorithmError"
        )
        h.deliver("record_trial", training_event(name, "Failed"))


class _BeforeTheCreate:
    """SageMaker as `retune stop` saw it when it looked before StartRound's create took effect: no tuning job."""

    def __init__(self, sagemaker: Any, name: str) -> None:
        self._sagemaker, self._name = sagemaker, name

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sagemaker, name)

    def describe_tuning_job(self, name: str) -> dict[str, Any]:
        if name == self._name:
            raise NotFound(f"tuning job {name} not found")
        return dict(self._sagemaker.describe_tuning_job(name))


def stop_as_the_tuning_job_is_created(h: Harness, seq: int) -> None:
    """`retune stop PROFILE seq` runs after StartRound (or Reconcile's start) read the round `starting` (every
    incumbent ended) and before its CreateHyperParameterTuningJob took effect: the stop writes the round
    `stopping` and finds no tuning job; the create then takes effect, whatever its caller hears. The stop's calls
    are the script's premise, not fault sites (the create's are)."""
    sagemaker = h.world.sagemaker
    create = sagemaker.create_tuning_job  # the instrumented one: its calls stay fault sites

    def then_the_stop(request: dict[str, Any]) -> str:
        try:
            return create(request)
        finally:
            if tuning(seq) in sagemaker.tuning_jobs and sagemaker.create_tuning_job is then_the_stop:
                sagemaker.create_tuning_job = create  # type: ignore[method-assign]
                deps = compose_fakes(h.world).stop_round
                view = _BeforeTheCreate(deps.sagemaker, tuning(seq))
                with h.instrument.quiet():
                    stop_round(PROFILE, seq, PERSON, replace(deps, sagemaker=view))

    sagemaker.create_tuning_job = then_the_stop  # type: ignore[method-assign]


class _IncumbentsNotCreated:
    """SageMaker as `retune stop` and Reconcile saw it when they looked before StartRound's creates of round
    `seq`'s incumbents took effect: none of those jobs exists (the stop's StopTrainingJob is refused, as for a
    job that does not exist)."""

    def __init__(self, sagemaker: Any, names: list[str]) -> None:
        self._sagemaker, self._names = sagemaker, names

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sagemaker, name)

    def describe_training_job(self, name: str) -> dict[str, Any]:
        if name in self._names:
            raise NotFound(f"training job {name} not found")
        return dict(self._sagemaker.describe_training_job(name))

    def stop_training_job(self, name: str) -> None:
        if name in self._names:
            raise Refused(f"sagemaker: ValidationException: {name} is not InProgress")
        self._sagemaker.stop_training_job(name)


def stop_and_close_as_the_incumbents_are_created(h: Harness, seq: int) -> None:
    """`retune stop PROFILE seq` runs after StartRound read round `seq` `starting` and before its first incumbent's
    CreateTrainingJob took effect: the stop writes the round `stopping` and finds no incumbent job (recorded as
    never created); then Reconcile, finding every incumbent ended, closes the round. The create then takes effect,
    whatever its caller hears, and so do the later incumbents' creates. The stop's and that Reconcile's calls
    are the script's premise, not fault sites (the creates' are)."""
    sagemaker = h.world.sagemaker
    create = sagemaker.create_training_job  # the instrumented one: its calls stay fault sites

    def then_the_stop_and_the_close(request: dict[str, Any]) -> str:
        try:
            return create(request)
        finally:
            names = incumbent_names(h, seq)
            if (
                request["TrainingJobName"] in names
                and request["TrainingJobName"] in sagemaker.training_jobs
                and sagemaker.create_training_job is then_the_stop_and_the_close
            ):
                sagemaker.create_training_job = create  # type: ignore[method-assign]
                composed = compose_fakes(h.world)
                view = _IncumbentsNotCreated(composed.stop_round.sagemaker, names)
                deps = h.world.reconcile_deps
                with h.instrument.quiet():
                    stop_round(PROFILE, seq, PERSON, replace(composed.stop_round, sagemaker=view))
                    reconcile(replace(deps, close=replace(deps.close, sagemaker=view)))

    sagemaker.create_training_job = then_the_stop_and_the_close  # type: ignore[method-assign]


def stop(h: Harness) -> None:
    """A person stops round 2 while it trains its incumbents (`retune stop`), a drop queued behind it: SageMaker
    stops them, their Stopped events arrive (one twice, one late), no tuning job starts, Reconcile closes the
    round as a stopped round (alerted), and the queued drop starts round 3. Round 3's stop dies after its write:
    Reconcile stops its incumbents, records the Stopped one whose event is lost, and closes it. Round 4's stop is
    written as StartRound starts its tuning job: StartRound's write of `running` fails and it stops the job (or
    Reconcile does, where StartRound died); the job's Stopped events close the round, failed (its incumbents
    failed), with its alert. Round 5's incumbents are created after its stop found none and Reconcile closed it:
    StartRound, reading the round again after its creates (or its retry, or the redrive of its parked event),
    stops them; no tuning job starts, and their events change nothing."""
    w = h.world
    w.put_profile()
    h.deliver("start_round", w.drop("2015-01-01"))
    round_to_evaluation(h, 1, ROUND_1_FULL, 0.47)
    h.deliver("start_round", w.drop("2015-07-01"))
    jobs = w.sagemaker.training_jobs
    ensure(
        h,
        "round 2's incumbents created",
        lambda: bool(names := incumbent_names(h, 2)) and all(n in jobs for n in names),
    )
    names = incumbent_names(h, 2)
    h.deliver("start_round", w.drop("2016-01-01"))  # queued behind round 2
    h.deliver("stop", {"profile": PROFILE, "seq": 2, "who": PERSON})
    ensure(
        h,
        "round 2's incumbents stopping",
        lambda: all(jobs[n]["TrainingJobStatus"] == "Stopping" for n in names),
    )
    first, *others = names
    for name in names:
        stop_incumbent(h, name)
    h.deliver("record_trial", training_event(first, "Stopped"))
    h.deliver("record_trial", training_event(first, "Stopped"))  # SageMaker may send an event twice
    h.deliver("record_trial", training_event(first, "InProgress", "Training"))  # late
    for name in others:
        h.deliver("record_trial", training_event(name, "Stopped"))
    h.deliver_bus()
    h.reconcile()  # closes round 2, then starts the queued drop
    h.deliver("stop", {"profile": PROFILE, "seq": 2, "who": PERSON})  # the stop again: nothing to stop
    h.deliver_bus()

    ensure(
        h,
        "round 3's incumbents created",
        lambda: bool(names := incumbent_names(h, 3)) and all(n in jobs for n in names),
    )
    names = incumbent_names(h, 3)
    stop_died_after_its_write(h, 3)
    h.reconcile()  # stops them
    ensure(
        h,
        "round 3's incumbents stopping",
        lambda: all(jobs[n]["TrainingJobStatus"] == "Stopping" for n in names),
    )
    first, *others = names
    for name in names:
        stop_incumbent(h, name)
    h.deliver("record_trial", training_event(first, "Stopped"))  # the others' events are lost
    h.reconcile()  # records the others, and closes round 3

    h.deliver("start_round", w.drop("2016-07-01"))
    stop_as_the_tuning_job_is_created(h, 4)
    fail_incumbents(h, 4)
    h.deliver_bus()  # the announcement: StartRound creates the tuning job, meets the stop, and stops it
    ensure(
        h,
        "round 4's tuning job stopping",
        lambda: w.sagemaker.tuning_jobs.get(tuning(4), {}).get("HyperParameterTuningJobStatus") == "Stopping",
    )
    (trial,) = w.sagemaker.run_trials(tuning(4), [{"objective": None, "status": "Stopped"}], status="Stopped")
    h.deliver("record_trial", training_event(trial, "Stopped"))
    h.deliver("close_round", tuning_event(tuning(4), "Stopped"))
    h.deliver("close_round", tuning_event(tuning(4), "Stopped"))  # twice

    stop_and_close_as_the_incumbents_are_created(h, 5)
    h.deliver(
        "start_round", w.drop("2017-01-01")
    )  # its incumbents' creates land after the stop and the close
    ensure(
        h,
        "round 5's incumbents created and stopped by StartRound",
        lambda: (
            round_status(h, 5) == "failed"
            and bool(names := incumbent_names(h, 5))
            and all(jobs.get(n, {}).get("TrainingJobStatus") == "Stopping" for n in names)
        ),
    )
    for name in incumbent_names(h, 5):
        stop_incumbent(h, name)
        h.deliver("record_trial", training_event(name, "Stopped"))  # its record (never created) stays
    h.deliver("start_round", w.drop("2017-01-01"))  # a late repeat of the drop's event: nothing to stop


SCENARIOS: dict[str, Callable[[Harness], None]] = {
    "loop": loop,
    "manual": manual,
    "failures": failures,
    "lost": lost,
    "queue": queue,
    # Incumbents (round 2 retrains round 1's configurations first), and `retune stop` while they train.
    "incumbents": lambda h: loop(h, ROUND_1_FULL),
    "lost_incumbents": lost_incumbents,
    "stop": stop,
}


def finish(h: Harness) -> None:
    """After the script: the faults have cleared, the schedule keeps running, and an operator alerted to parked
    events sends them again."""
    h.script_calls = len(h.instrument.calls)
    h.instrument.plan = None
    h.reconcile()
    h.deliver_bus()
    if h.parked:
        h.redrive()
        h.deliver_bus()
    h.reconcile()
    h.deliver_bus()
    h.reconcile()


def run(name: str, h: Harness) -> Harness:
    SCENARIOS[name](h)
    finish(h)
    return h
