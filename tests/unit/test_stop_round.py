"""`retune stop` (issue 20's leftover): a round still training its incumbents is stopped: its incumbents' jobs are
stopped, its tuning job never starts, and the round ends as a round whose tuning job was stopped ends (the same
records, alert and queued drop), exactly once whatever the order and repeats of the events that follow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from retune.errors import Throttled, TransientError
from retune.events import DROP_READY, parse_drop_event
from retune.use_cases.close_round import close_round
from retune.use_cases.reconcile import reconcile
from retune.use_cases.record_trial import record_trial
from retune.use_cases.start_round import start_round
from retune.use_cases.stop_round import StopRoundDeps, stop_round

from tests.conftest import World, compose_fakes
from tests.replay.harness import bus_event
from tests.unit.test_incumbents import PROFILE, ROUND_1, ROUND_2, end_job, first_round, start_second

WHO = "arn:aws:iam::123456789012:user/ops"
INC = f"{ROUND_2}-inc1"


def deps(world: World) -> StopRoundDeps:
    return compose_fakes(world).stop_round


def stops(world: World) -> list[str]:
    return [r["TrainingJobName"] for op, r in world.sagemaker.requests if op == "StopTrainingJob"]


def drop_ready(world: World, drop_id: str) -> list[dict[str, Any]]:
    return [d for kind, d in world.bus.events if kind == DROP_READY and d["drop_id"] == drop_id]


def throttle_once(world: World, stop: str, when: Callable[[str], bool] = lambda name: True) -> None:
    """SageMaker throttles the first `stop` (stop_tuning_job or stop_training_job) of a job `when` holds for."""
    real = getattr(world.sagemaker, stop)
    throttled = [Throttled("sagemaker: ThrottlingException")]

    def throttling(name: str) -> None:
        if throttled and when(name):
            raise throttled.pop()
        real(name)

    setattr(world.sagemaker, stop, throttling)


def another_reconcile_stops_first(world: World, stop: str) -> list[Any]:
    """Two Reconciles at once: both described the job InProgress; the other run's `stop` lands first, then this
    one's is refused (Stopping). Returns the list the other run's report is put in."""
    real = getattr(world.sagemaker, stop)
    overlapped: list[Any] = []

    def other_run_first(name: str) -> None:
        setattr(world.sagemaker, stop, real)
        overlapped.append(reconcile(world.reconcile_deps))
        real(name)

    setattr(world.sagemaker, stop, other_run_first)
    return overlapped


def round_2_training_its_incumbent_with_a_drop_queued(world: World) -> None:
    first_round(world)
    start_second(world)
    assert start_round(parse_drop_event(world.drop("2016-01-01")), world.deps).status == "queued"
    assert world.store.get_round(PROFILE, 2).status == "starting"


def test_stopping_a_round_training_its_incumbents_stops_them_and_ends_it_as_a_stopped_round(
    world: World,
) -> None:
    round_2_training_its_incumbent_with_a_drop_queued(world)
    result = stop_round(PROFILE, 2, WHO, deps(world))
    assert (result.status, result.incumbents) == ("stopping", (INC,))
    rnd = world.store.get_round(PROFILE, 2)
    assert (rnd.status, rnd.stop_requested_by) == ("stopping", WHO)
    assert stops(world) == [INC]
    # The stop again before SageMaker has stopped it (Stopping): asked once more, harmlessly.
    assert stop_round(PROFILE, 2, WHO, deps(world)).status == "stopping"

    end_job(world, INC, None, status="Stopped")  # SageMaker's Stopped event, delivered twice
    assert record_trial(INC, world.record_deps).status == "recorded"
    assert record_trial(INC, world.record_deps).status == "duplicate"
    assert drop_ready(world, "2015-07-01") == []  # no announcement: its tuning job is not due
    # A late "Drop Ready" of round 2's drop (one put before the stop) starts nothing.
    late = {"profile": PROFILE, "drop_id": "2015-07-01", "bucket": "retune-data"}
    late["key"] = f"datasets/{PROFILE}/2015-07-01/manifest.json"
    assert start_round(parse_drop_event(bus_event(late)), world.deps).status == "already_started"

    reconcile(world.reconcile_deps)
    closed = world.store.get_round(PROFILE, 2)
    assert closed.status == "failed" and closed.tuning_status == "Stopped"
    assert closed.decision.outcome == "not_evaluated"
    assert closed.decision.reason.startswith("tuning job Stopped: stopped by " + WHO)
    assert closed.trial_counts == {"Stopped": 1} and closed.stopped_early == 0
    assert ROUND_2 not in world.sagemaker.tuning_jobs  # never created
    assert [a.subject for a in world.alerts.published if a.outcome == "round_failed"] == [
        f"[retune] {PROFILE} round 2: failed (tuning job Stopped)"
    ]
    # The profile is released and the queued drop starts (Reconcile's same run, as after any round's end).
    assert world.store.get_round(PROFILE, 3).drop_id == "2016-01-01"
    assert world.store.get_plan(PROFILE) is not None

    # Repeats change nothing: Reconcile again, the Stopped event again, the stop again.
    alerts = list(world.alerts.published)
    reconcile(world.reconcile_deps)
    assert record_trial(INC, world.record_deps).status == "duplicate"
    assert stop_round(PROFILE, 2, WHO, deps(world)).status == "not_running"
    assert world.store.get_round(PROFILE, 2) == closed
    assert world.alerts.published == alerts
    assert ROUND_2 not in world.sagemaker.tuning_jobs


def test_a_stopped_round_whose_incumbent_completed_is_evaluated_as_a_stopped_round_with_a_model(
    world: World,
) -> None:
    round_2_training_its_incumbent_with_a_drop_queued(world)
    end_job(world, INC, 0.41)  # it completed just before the stop; its event is on its way
    result = stop_round(PROFILE, 2, WHO, deps(world))
    assert (result.status, result.incumbents) == ("stopping", ())  # SageMaker refused: not InProgress
    assert world.store.get_trial(PROFILE, 2, INC) is None  # its own event records it
    reconcile(world.reconcile_deps)  # before the event: Reconcile describes it
    closed = world.store.get_round(PROFILE, 2)
    assert closed.status == "evaluating" and closed.tuning_status == "Stopped"
    assert closed.best_training_job == INC and closed.best_objective == 0.41
    assert f"{ROUND_2}-eval" in world.sagemaker.training_jobs
    assert record_trial(INC, world.record_deps).status == "duplicate"  # the late event
    assert ROUND_2 not in world.sagemaker.tuning_jobs


def test_a_stop_interrupted_before_it_stopped_the_incumbents_is_finished_by_running_it_again(
    world: World,
) -> None:
    round_2_training_its_incumbent_with_a_drop_queued(world)
    world.sagemaker.fail_next.append(Throttled("sagemaker: ThrottlingException"))
    with pytest.raises(Throttled):
        stop_round(PROFILE, 2, WHO, deps(world))
    assert world.store.get_round(PROFILE, 2).status == "stopping"  # written first: no tuning job can start
    assert stop_round(PROFILE, 2, WHO, deps(world)).incumbents == (INC,)
    assert ROUND_2 not in world.sagemaker.tuning_jobs
    end_job(world, INC, None, status="Stopped")
    record_trial(INC, world.record_deps)
    reconcile(world.reconcile_deps)
    assert world.store.get_round(PROFILE, 2).status == "failed"


def test_an_incumbent_never_created_is_recorded_stopped_and_never_created_after(world: World) -> None:
    first_round(world)
    world.sagemaker.fail_next.append(Throttled("sagemaker: ThrottlingException"))
    event = parse_drop_event(world.drop("2015-07-01"))
    with pytest.raises(Throttled):
        start_round(event, world.deps)  # the round is recorded; its incumbent's create failed
    assert INC not in world.sagemaker.training_jobs
    assert stop_round(PROFILE, 2, WHO, deps(world)).incumbents == ()
    trial = world.store.get_trial(PROFILE, 2, INC)
    assert trial.status == "Stopped" and "before its training job was created" in trial.failure_reason
    assert start_round(event, world.deps).status == "already_started"  # Lambda's retry creates nothing
    reconcile(world.reconcile_deps)
    assert INC not in world.sagemaker.training_jobs
    assert world.store.get_round(PROFILE, 2).status == "failed"


def incumbent_ended_and_announced(world: World, objective: float | None = 0.42) -> dict[str, Any]:
    """Round 2's incumbent ended (recorded): RecordTrial's "Drop Ready", which starts the tuning job, is returned."""
    first_round(world)
    start_second(world)
    end_job(world, INC, objective, status="Completed" if objective is not None else "Failed")
    record_trial(INC, world.record_deps)
    return next(d for kind, d in world.bus.events if kind == DROP_READY and d["drop_id"] == "2015-07-01")


def tuning_stops(world: World) -> list[str]:
    return [
        r["HyperParameterTuningJobName"]
        for op, r in world.sagemaker.requests
        if op == "StopHyperParameterTuningJob"
    ]


def tuning_status(world: World) -> str:
    return str(world.sagemaker.tuning_jobs[ROUND_2]["HyperParameterTuningJobStatus"])


def test_startround_stops_the_tuning_job_it_created_as_the_stop_was_written(world: World) -> None:
    detail = incumbent_ended_and_announced(world)
    # StartRound read the round `starting` (every incumbent ended), then the stop was written (it found no tuning
    # job), then StartRound created the tuning job: its write of `running` fails on the condition, and it stops
    # the job it created. Before, the job ran its whole budget until `retune stop` was run again.
    stop_written_before_the_tuning_create(world)
    result = start_round(parse_drop_event(bus_event(detail)), world.deps)
    assert result.status == "already_started" and "stopping" in result.detail
    assert world.store.get_round(PROFILE, 2).status == "stopping"
    assert tuning_stops(world) == [ROUND_2] and tuning_status(world) == "Stopping"
    # Reconcile, a late "Drop Ready" and the stop again while SageMaker stops it: nothing is asked twice.
    reconcile(world.reconcile_deps)
    assert start_round(parse_drop_event(bus_event(detail)), world.deps).status == "already_started"
    stop_round(PROFILE, 2, WHO, deps(world))
    assert tuning_stops(world) == [ROUND_2] and world.store.get_round(PROFILE, 2).status == "stopping"
    # SageMaker stops it (a trial it had launched is Stopped too); its events close the round, once.
    (trial,) = world.sagemaker.run_trials(ROUND_2, [{"objective": None, "status": "Stopped"}], "Stopped")
    assert record_trial(trial, world.record_deps).status == "recorded"
    assert close_round(ROUND_2, world.close_deps).status == "evaluating"  # its Stopped event
    assert close_round(ROUND_2, world.close_deps).status == "duplicate"  # delivered twice
    closed = world.store.get_round(PROFILE, 2)
    assert closed.tuning_status == "Stopped" and closed.best_training_job == INC  # the incumbent completed
    assert closed.trial_counts == {"Completed": 1, "Stopped": 1}
    assert record_trial(trial, world.record_deps).status == "duplicate"  # a late Stopped event
    reconcile(world.reconcile_deps)
    assert world.store.get_round(PROFILE, 2).evaluation.status == "InProgress"
    assert tuning_stops(world) == [ROUND_2]


def test_a_stopped_round_whose_tuning_job_startround_stopped_fails_with_one_alert(world: World) -> None:
    """The incumbent failed: the stopped tuning job's round has no model, so it closes `failed` with its
    `round_failed` alert, once, whichever of its Stopped event and Reconcile comes first and however often."""
    detail = incumbent_ended_and_announced(world, objective=None)
    stop_written_before_the_tuning_create(world)
    start_round(parse_drop_event(bus_event(detail)), world.deps)
    assert tuning_status(world) == "Stopping"
    world.sagemaker.run_trials(ROUND_2, [{"objective": None, "status": "Stopped"}], "Stopped")
    reconcile(world.reconcile_deps)  # its Stopped event lost: Reconcile closes it (backfilling the trial)
    assert close_round(ROUND_2, world.close_deps).status == "duplicate"  # the late event
    reconcile(world.reconcile_deps)
    closed = world.store.get_round(PROFILE, 2)
    assert (closed.status, closed.tuning_status) == ("failed", "Stopped")
    assert closed.trial_counts == {"Failed": 1, "Stopped": 1}
    assert [a.subject for a in world.alerts.published if a.outcome == "round_failed"] == [
        f"[retune] {PROFILE} round 2: failed (tuning job Stopped)"
    ]
    assert tuning_stops(world) == [ROUND_2]


def test_the_stop_written_between_startrounds_create_and_its_write_stops_the_job_once(world: World) -> None:
    detail = incumbent_ended_and_announced(world)
    create = world.sagemaker.create_tuning_job

    def stop_after_the_create(request: dict[str, Any]) -> str:
        arn = create(request)
        stop_round(PROFILE, 2, WHO, deps(world))  # finds the job: stops it itself
        return arn

    world.sagemaker.create_tuning_job = stop_after_the_create  # type: ignore[method-assign]
    assert start_round(parse_drop_event(bus_event(detail)), world.deps).status == "already_started"
    assert world.store.get_round(PROFILE, 2).status == "stopping"
    assert tuning_stops(world) == [ROUND_2] and tuning_status(world) == "Stopping"


class Died(BaseException):
    """StartRound's invocation ended (a Lambda timeout): no code catches it."""


def startround_died_after_its_create(world: World, detail: dict[str, Any]) -> None:
    save = world.store.save_round

    def dies_at_running(rnd: Any, **kwargs: Any) -> None:
        if rnd.status == "running":
            raise Died
        save(rnd, **kwargs)

    world.store.save_round = dies_at_running  # type: ignore[method-assign]
    with pytest.raises(Died):
        start_round(parse_drop_event(bus_event(detail)), world.deps)
    world.store.save_round = save  # type: ignore[method-assign]
    assert tuning_status(world) == "InProgress"


def test_reconcile_stops_the_tuning_job_of_a_startround_that_died_after_its_create(world: World) -> None:
    detail = incumbent_ended_and_announced(world)
    stop_written_before_the_tuning_create(world)
    startround_died_after_its_create(world, detail)
    assert world.store.get_round(PROFILE, 2).status == "stopping" and tuning_stops(world) == []
    report = reconcile(world.reconcile_deps)
    assert f"stopped {PROFILE} round 2's tuning job {ROUND_2}" in report.actions
    assert tuning_stops(world) == [ROUND_2] and tuning_status(world) == "Stopping"
    # Reconcile again before SageMaker has stopped it: DescribeHyperParameterTuningJob says Stopping.
    again = reconcile(world.reconcile_deps)
    assert tuning_stops(world) == [ROUND_2] and again.errors == again.failures == []
    world.sagemaker.run_trials(ROUND_2, [{"objective": 0.47}], "Stopped")
    reconcile(world.reconcile_deps)  # its Stopped event lost: Reconcile closes it
    closed = world.store.get_round(PROFILE, 2)
    assert (closed.status, closed.tuning_status) == ("evaluating", "Stopped")
    assert closed.trial_counts == {"Completed": 2}


def test_a_stop_after_startround_died_after_its_create_stops_the_tuning_job(world: World) -> None:
    """StartRound created the tuning job and died before its write: the round is still `starting` when the stop
    writes it `stopping`, so no write of StartRound's fails; the stop finds the job and stops it."""
    detail = incumbent_ended_and_announced(world)
    startround_died_after_its_create(world, detail)
    assert world.store.get_round(PROFILE, 2).status == "starting"
    assert stop_round(PROFILE, 2, WHO, deps(world)).status == "stopping"
    assert tuning_stops(world) == [ROUND_2] and tuning_status(world) == "Stopping"
    # Lambda's retry of the dead StartRound: the round is stopping, its job Stopping: nothing more.
    assert start_round(parse_drop_event(bus_event(detail)), world.deps).status == "already_started"
    reconcile(world.reconcile_deps)
    assert tuning_stops(world) == [ROUND_2] and world.store.get_round(PROFILE, 2).status == "stopping"


def test_startrounds_throttled_stop_is_retried_by_lambdas_retry(world: World) -> None:
    detail = incumbent_ended_and_announced(world)
    stop_written_before_the_tuning_create(world)
    throttle_once(world, "stop_tuning_job")
    with pytest.raises(Throttled):  # transient: Lambda retries the event
        start_round(parse_drop_event(bus_event(detail)), world.deps)
    assert tuning_status(world) == "InProgress"
    retry = start_round(parse_drop_event(bus_event(detail)), world.deps)
    assert retry.status == "already_started" and "asked to stop" in retry.detail
    assert tuning_status(world) == "Stopping"


def test_a_tuning_job_that_ended_before_its_stop_is_left_alone_and_closes_the_round(world: World) -> None:
    detail = incumbent_ended_and_announced(world)
    create = world.sagemaker.create_tuning_job

    def fails_at_once(request: dict[str, Any]) -> str:
        arn = create(request)
        world.sagemaker.run_trials(ROUND_2, [{"objective": None, "status": "Failed"}], "Failed")
        return arn

    world.sagemaker.create_tuning_job = fails_at_once  # type: ignore[method-assign]
    stop_written_before_the_tuning_create(world)
    assert start_round(parse_drop_event(bus_event(detail)), world.deps).status == "already_started"
    reconcile(world.reconcile_deps)  # its Failed event lost
    assert tuning_stops(world) == []  # ended: nothing to stop
    closed = world.store.get_round(PROFILE, 2)
    assert (closed.status, closed.tuning_status, closed.best_training_job) == ("evaluating", "Failed", INC)


def test_two_reconciles_at_once_stop_the_tuning_job_once_and_fail_nothing(world: World) -> None:
    detail = incumbent_ended_and_announced(world)
    stop_written_before_the_tuning_create(world)
    startround_died_after_its_create(world, detail)
    overlapped = another_reconcile_stops_first(world, "stop_tuning_job")
    report = reconcile(world.reconcile_deps)
    assert tuning_stops(world) == [ROUND_2, ROUND_2]  # asked twice; SageMaker refused the second (Stopping)
    assert f"stopped {PROFILE} round 2's tuning job {ROUND_2}" in overlapped[0].actions
    assert f"stopped {PROFILE} round 2's tuning job {ROUND_2}" not in report.actions
    assert report.errors == report.failures == overlapped[0].failures == []
    assert tuning_status(world) == "Stopping"


def test_reconciles_throttled_stop_of_the_tuning_job_is_retried_by_its_next_run(world: World) -> None:
    detail = incumbent_ended_and_announced(world)
    stop_written_before_the_tuning_create(world)
    startround_died_after_its_create(world, detail)
    throttle_once(world, "stop_tuning_job")
    first = reconcile(world.reconcile_deps)
    assert first.errors and "ThrottlingException" in first.errors[0] and first.failures == []
    assert tuning_status(world) == "InProgress"
    assert [a for a in world.alerts.published if a.outcome == "reconcile_failed"] == []
    second = reconcile(world.reconcile_deps)
    assert f"stopped {PROFILE} round 2's tuning job {ROUND_2}" in second.actions
    assert tuning_status(world) == "Stopping"


def stop_written_before_the_tuning_create(world: World) -> None:
    """StartRound read round 2 `starting` with every incumbent ended, and read it again before its tuning job;
    then the stop was written (it found no tuning job); then StartRound's create of the tuning job landed."""
    create = world.sagemaker.create_tuning_job

    def stop_first(request: dict[str, Any]) -> str:
        if (
            request["HyperParameterTuningJobName"] == ROUND_2
            and world.store.get_round(PROFILE, 2).status == "starting"
        ):
            stop_round(PROFILE, 2, WHO, deps(world))
        return create(request)

    world.sagemaker.create_tuning_job = stop_first  # type: ignore[method-assign]


def test_stopping_a_running_round_stops_its_tuning_job(world: World) -> None:
    first_round(world)
    assert stop_round(PROFILE, 1, WHO, deps(world)).status == "not_running"
    start_second(world)
    end_job(world, INC, 0.42)
    record_trial(INC, world.record_deps)
    detail = next(d for kind, d in world.bus.events if kind == DROP_READY and d["drop_id"] == "2015-07-01")
    start_round(parse_drop_event(bus_event(detail)), world.deps)
    assert world.store.get_round(PROFILE, 2).status == "running"
    result = stop_round(PROFILE, 2, WHO, deps(world))
    assert (result.status, result.tuning_job) == ("stopping", ROUND_2)
    assert world.sagemaker.tuning_jobs[ROUND_2]["HyperParameterTuningJobStatus"] == "Stopping"
    assert world.store.get_round(PROFILE, 2).status == "running"  # CloseRound closes it on its Stopped event
    assert ROUND_1 in world.sagemaker.tuning_jobs


def a_stop_that_died_after_its_write(world: World) -> None:
    """`retune stop` wrote the round `stopping`, then died before its StopTrainingJob calls."""
    round_2_training_its_incumbent_with_a_drop_queued(world)
    world.sagemaker.fail_next.append(ConnectionResetError("the operator's laptop went to sleep"))
    with pytest.raises(ConnectionResetError):
        stop_round(PROFILE, 2, WHO, deps(world))
    assert world.store.get_round(PROFILE, 2).status == "stopping"
    assert world.sagemaker.training_jobs[INC]["TrainingJobStatus"] == "InProgress"
    assert stops(world) == []


def test_reconcile_stops_the_incumbents_of_a_stop_that_died_after_its_write(world: World) -> None:
    a_stop_that_died_after_its_write(world)
    report = reconcile(world.reconcile_deps)
    assert f"stopped {PROFILE} round 2's incumbent {INC}" in report.actions
    assert stops(world) == [INC]
    assert world.sagemaker.training_jobs[INC]["TrainingJobStatus"] == "Stopping"
    assert world.store.get_round(PROFILE, 2).status == "stopping"  # until SageMaker has stopped it
    # Reconcile again before SageMaker has stopped it: DescribeTrainingJob says Stopping, nothing is asked.
    again = reconcile(world.reconcile_deps)
    assert stops(world) == [INC] and again.errors == again.failures == []
    end_job(world, INC, None, status="Stopped")  # its Stopped event is lost: Reconcile records it and closes
    reconcile(world.reconcile_deps)
    closed = world.store.get_round(PROFILE, 2)
    assert (closed.status, closed.tuning_status, closed.decision.outcome) == (
        "failed",
        "Stopped",
        "not_evaluated",
    )
    assert closed.trial_counts == {"Stopped": 1}
    assert ROUND_2 not in world.sagemaker.tuning_jobs
    assert world.store.get_round(PROFILE, 3).drop_id == "2016-01-01"
    assert [a.outcome for a in world.alerts.published if a.outcome == "reconcile_failed"] == []


def test_two_reconciles_at_once_stop_the_incumbent_once_and_fail_nothing(world: World) -> None:
    a_stop_that_died_after_its_write(world)
    overlapped = another_reconcile_stops_first(world, "stop_training_job")
    report = reconcile(world.reconcile_deps)
    assert stops(world) == [INC, INC]  # asked twice; SageMaker refused the second (Stopping)
    assert f"stopped {PROFILE} round 2's incumbent {INC}" in overlapped[0].actions
    assert f"stopped {PROFILE} round 2's incumbent {INC}" not in report.actions
    assert report.errors == report.failures == overlapped[0].failures == []
    assert world.store.get_trial(PROFILE, 2, INC).status == "InProgress"  # not mistaken for never created
    end_job(world, INC, None, status="Stopped")
    assert record_trial(INC, world.record_deps).status == "recorded"
    reconcile(world.reconcile_deps)
    assert world.store.get_round(PROFILE, 2).status == "failed"


def test_an_incumbent_that_completed_before_reconciles_stop_makes_the_round_evaluated(world: World) -> None:
    a_stop_that_died_after_its_write(world)
    stop = world.sagemaker.stop_training_job

    def completed_meanwhile(name: str) -> None:
        end_job(world, INC, 0.41)  # between Reconcile's describe and its stop
        stop(name)

    world.sagemaker.stop_training_job = completed_meanwhile  # type: ignore[method-assign]
    report = reconcile(world.reconcile_deps)
    assert report.errors == report.failures == []
    assert world.sagemaker.training_jobs[INC]["TrainingJobStatus"] == "Completed"
    assert world.store.get_round(PROFILE, 2).status == "stopping"  # recorded InProgress as described
    assert record_trial(INC, world.record_deps).status == "recorded"  # its Completed event
    reconcile(world.reconcile_deps)
    closed = world.store.get_round(PROFILE, 2)
    assert (closed.status, closed.tuning_status, closed.best_training_job) == ("evaluating", "Stopped", INC)


def test_reconciles_throttled_stop_is_retried_by_its_next_run(world: World) -> None:
    a_stop_that_died_after_its_write(world)
    throttle_once(world, "stop_training_job")
    first = reconcile(world.reconcile_deps)
    assert first.errors and "ThrottlingException" in first.errors[0] and first.failures == []
    assert world.sagemaker.training_jobs[INC]["TrainingJobStatus"] == "InProgress"
    assert [a for a in world.alerts.published if a.outcome == "reconcile_failed"] == []  # transient: no alert
    second = reconcile(world.reconcile_deps)
    assert f"stopped {PROFILE} round 2's incumbent {INC}" in second.actions
    assert world.sagemaker.training_jobs[INC]["TrainingJobStatus"] == "Stopping"


def test_a_stopped_close_whose_alert_failed_alerts_at_reconciles_next_run(world: World) -> None:
    """Found by the fault sweep: Reconcile wrote the stopped round `failed` (releasing it), then its alert failed;
    no later run finds the round, so the alert was lost. The alert now goes first."""
    round_2_training_its_incumbent_with_a_drop_queued(world)
    stop_round(PROFILE, 2, WHO, deps(world))
    end_job(world, INC, None, status="Stopped")
    record_trial(INC, world.record_deps)
    world.alerts.fail_next.append(Throttled("sns: Throttling"))
    first = reconcile(world.reconcile_deps)
    assert first.errors and first.failures == []
    reconcile(world.reconcile_deps)
    assert world.store.get_round(PROFILE, 2).status == "failed"
    assert [a.subject for a in world.alerts.published if a.outcome == "round_failed"] == [
        f"[retune] {PROFILE} round 2: failed (tuning job Stopped)"
    ]


def test_a_round_closed_before_startround_wrote_it_running_keeps_the_target_its_tuning_job_ran(
    world: World,
) -> None:
    """Found by the fault sweep (`incumbents`, an outage of StartRound's `running` write): the tuning job was
    created with the same-drop target, the round stayed `starting`, and CloseRound closed it with the plan
    that had none."""
    round_2_training_its_incumbent_with_a_drop_queued(world)
    end_job(world, INC, 0.40)
    record_trial(INC, world.record_deps)
    detail = next(d for kind, d in world.bus.events if kind == DROP_READY and d["drop_id"] == "2015-07-01")
    save = world.store.save_round

    def running_never_written(rnd: Any, **kwargs: Any) -> None:
        if rnd.status == "running":
            raise Throttled("dynamodb: ThrottlingException")
        save(rnd, **kwargs)

    world.store.save_round = running_never_written  # type: ignore[method-assign]
    with pytest.raises(Throttled):
        start_round(parse_drop_event(bus_event(detail)), world.deps)
    world.store.save_round = save  # type: ignore[method-assign]
    assert world.store.get_round(PROFILE, 2).status == "starting"
    sent = world.sagemaker.tuning_jobs[ROUND_2]["request"]
    target = sent["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"][
        "TargetObjectiveMetricValue"
    ]
    world.sagemaker.run_trials(ROUND_2, [{"objective": 0.45, "compute": 10}])
    assert close_round(ROUND_2, world.close_deps).status == "evaluating"
    closed = world.store.get_round(PROFILE, 2)
    assert closed.plan.target_objective.value == target
    assert world.store.get_plan(PROFILE).target_objective.previous == target


def stop_before_the_create(world: World) -> None:
    """StartRound read the round `starting`; the stop was written and found no incumbent job (recorded it stopped,
    never created); then StartRound's create of the incumbent landed."""
    create = world.sagemaker.create_training_job

    def stop_first(request: dict[str, Any]) -> str:
        if request["TrainingJobName"] == INC and INC not in world.sagemaker.training_jobs:
            stop_round(PROFILE, 2, WHO, deps(world))
        return create(request)

    world.sagemaker.create_training_job = stop_first  # type: ignore[method-assign]


def test_an_incumbent_created_after_the_stop_recorded_it_never_created_is_stopped_by_startround(
    world: World,
) -> None:
    """Before, StartRound took the incumbent for ended (its never-created record) and created the tuning job too,
    which its failed write of `running` then stopped; the incumbent was left to Reconcile. Now StartRound reads
    the round again after its creates: it stops the incumbent itself, and the tuning job never starts."""
    first_round(world)
    stop_before_the_create(world)
    result = start_round(parse_drop_event(world.drop("2015-07-01")), world.deps)
    assert result.status == "already_started" and "stopping" in result.detail
    assert world.store.get_trial(PROFILE, 2, INC).status == "Stopped"  # as never created
    assert world.sagemaker.training_jobs[INC]["TrainingJobStatus"] == "Stopping"
    assert stops(world) == [INC, INC]  # the stop's (refused: no job yet) and StartRound's
    assert ROUND_2 not in world.sagemaker.tuning_jobs
    report = reconcile(world.reconcile_deps)  # Stopping: nothing asked twice
    assert report.errors == report.failures == [] and stops(world) == [INC, INC]
    end_job(world, INC, None, status="Stopped")
    assert record_trial(INC, world.record_deps).status == "duplicate"  # its Stopped event: already terminal
    reconcile(world.reconcile_deps)
    assert world.store.get_round(PROFILE, 2).status == "failed"
    assert round_failed_alerts(world) == [f"[retune] {PROFILE} round 2: failed (tuning job Stopped)"]


def test_an_incumbent_created_after_the_stop_by_a_startround_that_died_is_stopped_by_reconcile(
    world: World,
) -> None:
    """StartRound died between its create and its read of the round (a Lambda timeout), and its retries were lost:
    Reconcile, which describes every incumbent of a `stopping` round, stops the job."""
    first_round(world)
    stop_before_the_create(world)
    create = world.sagemaker.create_training_job

    def dies_after(request: dict[str, Any]) -> str:
        create(request)
        raise Died

    world.sagemaker.create_training_job = dies_after  # type: ignore[method-assign]
    with pytest.raises(Died):
        start_round(parse_drop_event(world.drop("2015-07-01")), world.deps)
    world.sagemaker.create_training_job = create  # type: ignore[method-assign]
    assert world.sagemaker.training_jobs[INC]["TrainingJobStatus"] == "InProgress"
    report = reconcile(world.reconcile_deps)
    assert f"stopped {PROFILE} round 2's incumbent {INC}" in report.actions
    assert world.sagemaker.training_jobs[INC]["TrainingJobStatus"] == "Stopping"
    reconcile(world.reconcile_deps)  # nothing asked twice
    assert stops(world).count(INC) == 2  # the stop's (refused: no job yet) and Reconcile's
    assert ROUND_2 not in world.sagemaker.tuning_jobs


# An incumbent StartRound creates after the stopped round was closed (issue 20's last window): StartRound had read the
# round `starting`; `retune stop` wrote it `stopping` and found no job (recorded it never created); Reconcile saw
# every incumbent ended and closed the round; then StartRound's create landed. Nothing looks at a closed round again:
# StartRound reads the round again after its creates and stops what it created.


def stop_and_close_before_the_create(world: World) -> None:
    """Round 2's incumbent's create lands after the stop was written and Reconcile closed the stopped round."""
    create = world.sagemaker.create_training_job

    def closed_first(request: dict[str, Any]) -> str:
        if request["TrainingJobName"] == INC and INC not in world.sagemaker.training_jobs:
            stop_round(PROFILE, 2, WHO, deps(world))
            reconcile(world.reconcile_deps)
            assert world.store.get_round(PROFILE, 2).status == "failed"  # closed: no Reconcile looks again
        return create(request)

    world.sagemaker.create_training_job = closed_first  # type: ignore[method-assign]


def round_failed_alerts(world: World) -> list[str]:
    return [a.subject for a in world.alerts.published if a.outcome == "round_failed"]


def test_an_incumbent_created_after_its_stopped_round_was_closed_is_stopped_by_startround(
    world: World,
) -> None:
    first_round(world)
    stop_and_close_before_the_create(world)
    event = parse_drop_event(world.drop("2015-07-01"))
    result = start_round(event, world.deps)
    assert result.status == "already_started" and "retune stop" in result.detail and INC in result.detail
    assert world.sagemaker.training_jobs[INC]["TrainingJobStatus"] == "Stopping"
    assert stops(world) == [INC, INC]  # the stop's (refused: no job yet), then StartRound's
    assert ROUND_2 not in world.sagemaker.tuning_jobs  # a stopped round's tuning job never starts
    closed = world.store.get_round(PROFILE, 2)
    assert (closed.status, closed.trial_counts) == ("failed", {"Stopped": 1})
    assert round_failed_alerts(world) == [f"[retune] {PROFILE} round 2: failed (tuning job Stopped)"]
    # Its events and a repeat of the drop's event after SageMaker stopped it: nothing more is asked or written.
    end_job(world, INC, None, status="Stopped")
    assert record_trial(INC, world.record_deps).status == "duplicate"
    assert world.store.get_trial(PROFILE, 2, INC).status == "Stopped"
    assert start_round(event, world.deps).status == "already_started"
    reconcile(world.reconcile_deps)
    assert stops(world) == [INC, INC] and ROUND_2 not in world.sagemaker.tuning_jobs
    assert world.store.get_round(PROFILE, 2) == closed
    assert drop_ready(world, "2015-07-01") == []


def test_startrounds_throttled_stop_of_an_incumbent_of_a_closed_round_is_retried_by_lambdas_retry(
    world: World,
) -> None:
    first_round(world)
    stop_and_close_before_the_create(world)
    throttle_once(world, "stop_training_job", when=lambda name: name in world.sagemaker.training_jobs)
    event = parse_drop_event(world.drop("2015-07-01"))
    with pytest.raises(Throttled):  # transient: Lambda retries the event
        start_round(event, world.deps)
    assert world.sagemaker.training_jobs[INC]["TrainingJobStatus"] == "InProgress"
    retry = start_round(event, world.deps)  # the round is closed: its resume stops the incumbent
    assert retry.status == "already_started" and "asked to stop" in retry.detail
    assert world.sagemaker.training_jobs[INC]["TrainingJobStatus"] == "Stopping"
    assert ROUND_2 not in world.sagemaker.tuning_jobs
    assert start_round(event, world.deps).status == "already_started"  # Lambda's last retry: nothing more
    assert stops(world) == [
        INC,
        INC,
    ]  # the stop's (refused: no job yet) and the retry's (throttled: unrecorded)


def test_an_incumbent_startround_created_not_yet_visible_to_its_stop_is_retried_not_taken_as_never_created(
    world: World,
) -> None:
    """SageMaker does not document that a job is visible to DescribeTrainingJob and StopTrainingJob as soon as its
    CreateTrainingJob returns: a job this run created and cannot find yet is raised for Lambda's retry."""
    first_round(world)
    stop_and_close_before_the_create(world)
    hidden: dict[str, Any] = {}
    create = world.sagemaker.create_training_job

    def created_unseen(request: dict[str, Any]) -> str:
        arn = create(request)
        hidden[INC] = world.sagemaker.training_jobs.pop(INC)
        return arn

    world.sagemaker.create_training_job = created_unseen  # type: ignore[method-assign]
    event = parse_drop_event(world.drop("2015-07-01"))
    with pytest.raises(TransientError):
        start_round(event, world.deps)
    world.sagemaker.training_jobs.update(hidden)  # visible by the time Lambda retries
    assert world.sagemaker.training_jobs[INC]["TrainingJobStatus"] == "InProgress"
    assert start_round(event, world.deps).status == "already_started"
    assert world.sagemaker.training_jobs[INC]["TrainingJobStatus"] == "Stopping"
    assert ROUND_2 not in world.sagemaker.tuning_jobs


def test_an_incumbent_adopted_after_its_stopped_round_was_closed_is_stopped_and_no_tuning_job_starts(
    world: World,
) -> None:
    """The adopting form of the window: StartRound's create took effect but its answer was lost (Lambda retries);
    the retry read the round `starting`, then the stop (which could not see the job yet, so recorded it never
    created) and Reconcile's close came before the retry's create, which met AlreadyExists. The retry reads the
    round again after a job it adopted as after one it created: it stops the job, and the tuning job, which the
    never-created record would have let start, is never created."""
    first_round(world)
    create = world.sagemaker.create_training_job
    attempts: list[str] = []

    def answer_lost_then_closed_unseen(request: dict[str, Any]) -> str:
        attempts.append(request["TrainingJobName"])
        if len(attempts) == 1:
            create(request)
            raise TransientError("sagemaker: read timeout")  # the job exists; its answer is lost
        unseen = world.sagemaker.training_jobs.pop(INC)
        stop_round(PROFILE, 2, WHO, deps(world))
        reconcile(world.reconcile_deps)
        assert world.store.get_round(PROFILE, 2).status == "failed"  # closed: no Reconcile looks again
        world.sagemaker.training_jobs[INC] = unseen  # visible again by the retry's create
        return create(request)

    world.sagemaker.create_training_job = answer_lost_then_closed_unseen  # type: ignore[method-assign]
    event = parse_drop_event(world.drop("2015-07-01"))
    with pytest.raises(TransientError):
        start_round(event, world.deps)
    retry = start_round(event, world.deps)
    world.sagemaker.create_training_job = create  # type: ignore[method-assign]
    assert attempts == [INC, INC]
    assert retry.status == "already_started" and INC in retry.detail
    assert world.sagemaker.training_jobs[INC]["TrainingJobStatus"] == "Stopping"
    assert ROUND_2 not in world.sagemaker.tuning_jobs
    assert stops(world) == [INC, INC]  # the stop's (refused: not seen) and the retry's


def test_a_retry_that_finds_its_incumbent_recorded_never_created_starts_no_tuning_job(world: World) -> None:
    """StartRound's first attempt died before its create; its retry read the round `starting`, then the stop
    (no job: recorded it never created) and Reconcile's close came before the retry read the round's trials. The
    retry skips the recorded incumbent and launches nothing, yet reads the round again before any tuning job: the
    round is stopped, so no tuning job is created (before, one was, then stopped on the failed write of `running`)."""
    first_round(world)
    create = world.sagemaker.create_training_job

    def dies_before(request: dict[str, Any]) -> str:
        raise Died

    world.sagemaker.create_training_job = dies_before  # type: ignore[method-assign]
    event = parse_drop_event(world.drop("2015-07-01"))
    with pytest.raises(Died):
        start_round(event, world.deps)
    world.sagemaker.create_training_job = create  # type: ignore[method-assign]
    assert INC not in world.sagemaker.training_jobs
    trials = world.store.trials
    closed: list[bool] = []

    def stopped_and_closed_first(profile: str, seq: int) -> Any:
        if not closed:
            closed.append(True)
            stop_round(PROFILE, 2, WHO, deps(world))
            reconcile(world.reconcile_deps)
            assert world.store.get_round(PROFILE, 2).status == "failed"  # closed: no Reconcile looks again
        return trials(profile, seq)

    world.store.trials = stopped_and_closed_first  # type: ignore[method-assign]
    retry = start_round(event, world.deps)
    world.store.trials = trials  # type: ignore[method-assign]
    assert closed and retry.status == "already_started" and "retune stop" in retry.detail
    assert ROUND_2 not in world.sagemaker.tuning_jobs and INC not in world.sagemaker.training_jobs
    assert world.store.get_trial(PROFILE, 2, INC).status == "Stopped"  # as never created


def test_a_tuning_job_created_after_its_stopped_round_was_closed_is_stopped_by_startround(
    world: World,
) -> None:
    """The tuning job's form of the window: StartRound read the round `starting` with every incumbent ended; the
    stop (no tuning job yet) and Reconcile's close came before its create. Its write of `running` fails on a
    round closed, not `stopping`: it stops the job all the same."""
    detail = incumbent_ended_and_announced(world)
    create = world.sagemaker.create_tuning_job

    def closed_first(request: dict[str, Any]) -> str:
        stop_round(PROFILE, 2, WHO, deps(world))
        reconcile(world.reconcile_deps)
        assert world.store.get_round(PROFILE, 2).status == "evaluating"  # the incumbent completed
        return create(request)

    world.sagemaker.create_tuning_job = closed_first  # type: ignore[method-assign]
    event = parse_drop_event(bus_event(detail))
    result = start_round(event, world.deps)
    world.sagemaker.create_tuning_job = create  # type: ignore[method-assign]
    assert result.status == "already_started" and "asked to stop" in result.detail
    assert tuning_stops(world) == [ROUND_2] and tuning_status(world) == "Stopping"
    # Its Stopped event finds the round closed: nothing changes, the evaluation goes on.
    world.sagemaker.run_trials(ROUND_2, [{"objective": None, "status": "Stopped"}], "Stopped")
    assert close_round(ROUND_2, world.close_deps).status == "duplicate"
    assert start_round(event, world.deps).status == "already_started"
    assert tuning_stops(world) == [ROUND_2]
    assert world.store.get_round(PROFILE, 2).status == "evaluating"
