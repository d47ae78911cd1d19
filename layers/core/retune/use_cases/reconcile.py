"""Reconcile (every few minutes): catch what never arrived. Everything goes through the same idempotent use cases.

- a round whose tuning job ended but whose terminal event was lost is closed;
- a round `retune stop` stopped while it trained its incumbents has those still InProgress stopped (the stop may
  have died after its write), and is closed once they have ended; a tuning job StartRound created as the stop was
  written and is still InProgress is stopped (StartRound died before it could stop it);
- a round whose evaluation ended unseen is decided; a decided round still holding ACTIVE (its decision's run died
  after the write) is finished: replan, alert, release, deploy; a half-started round is launched;
- a deployment left pending (its endpoint was busy) is deployed once the endpoint is free, and one whose endpoint
  event never came is settled from DescribeEndpoint;
- a queued drop with no active round (its "Drop Ready" lost, or SageMaker's limit met) is started;
- a round with no trial event for `stall_factor` times its per-trial limit is alerted, once;
- messages waiting on a dead-letter or on-failure queue are alerted.
Each profile's round, deployment and queued drop, and each queue, is its own item: one item's failure stops
nothing else. A transient one is retried by the next run; any other is alerted (`reconcile_failed`) and counted,
and the handler ends the run failed, so that the function's Errors alarm fires.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import NamedTuple, Protocol

from retune import alerts
from retune.errors import ConditionFailed, LimitExceeded, NotFound, RetuneError, TransientError
from retune.events import DropRef
from retune.incumbents import incumbents_ended
from retune.ports import AlertPort, Clock, MetricsPort, NoMetrics
from retune.records import ActiveRecord, RoundRecord
from retune.sagemaker_facts import TERMINAL_JOB_STATUSES
from retune.store import Store
from retune.use_cases.close_round import CloseRoundDeps, close_round, close_stopped_round
from retune.use_cases.decide import evaluation_ended, finish_decision
from retune.use_cases.deploy import settle_deployment
from retune.use_cases.finish import release_if_held
from retune.use_cases.promote import PromoteDeps, profile_or_none
from retune.use_cases.record_trial import record_trial_of_round
from retune.use_cases.start_round import StartRoundDeps, start_round
from retune.use_cases.stop_round import record_never_started, stop_incumbents_in_progress, stop_tuning_job

logger = logging.getLogger(__name__)


class QueuePort(Protocol):
    def depth(self, queue_url: str) -> int: ...


@dataclass
class ReconcileDeps:
    store: Store
    start: StartRoundDeps
    close: CloseRoundDeps
    promote: PromoteDeps
    queues: QueuePort
    alerts: AlertPort
    clock: Clock
    parked_queue_urls: tuple[str, ...] = ()
    stall_factor: float = 3.0
    metrics: MetricsPort = field(default_factory=NoMetrics)


@dataclass
class ReconcileReport:
    actions: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # transient: the next run tries again
    failures: list[str] = field(default_factory=list)  # alerted: the run ends failed


class ReconcileFailed(RetuneError):
    """Items failed (each alerted, the others done): raised at the end of the run so that it counts as an error."""


def reconcile(deps: ReconcileDeps) -> ReconcileReport:
    report = ReconcileReport()
    for active in _listed(deps, report, "active", deps.store.active_rounds) or []:
        _guarded(
            deps,
            report,
            _Item(active.profile, f"round {active.seq}", f"round/{active.seq}"),
            partial(_round, active, deps, report),
        )
    for rnd in _listed(deps, report, "deploying", deps.store.deploying_rounds) or []:
        _guarded(
            deps,
            report,
            _Item(rnd.profile, f"round {rnd.seq} deployment", f"round/{rnd.seq}/deployment"),
            partial(_deployment, rnd, deps, report),
        )
    # Read again: a round released above lets its profile's queued drop start in this run.
    still_active = _listed(deps, report, "active", deps.store.active_rounds)
    if still_active is not None:
        active_profiles = {a.profile for a in still_active}
        for queued in _listed(deps, report, "queued", deps.store.queued_drops) or []:
            # A drop waiting for SageMaker's capacity is retried less and less often (its queue entry says when).
            waiting = queued.not_before is not None and queued.not_before > deps.clock()
            if queued.profile not in active_profiles and not waiting:
                _guarded(
                    deps,
                    report,
                    _Item(queued.profile, f"drop {queued.drop_id}", f"drop/{queued.drop_id}"),
                    partial(_start_queued, queued.profile, queued.drop_id, deps, report),
                )
    for url in deps.parked_queue_urls:
        name = url.rsplit("/", 1)[-1]
        item = _Item("*", f"queue {name}", f"queue/{name}")
        _guarded(deps, report, item, partial(_parked, url, deps, report))
    for action in report.actions:
        deps.metrics.count("ReconcileActions")
        logger.info("reconciled", extra={"action": action})
    return report


class _Item(NamedTuple):
    """One unit of Reconcile's work: a profile's round, deployment or queued drop, a queue, or a list of work."""

    profile: str  # "*" for the service's own
    name: str  # as the report and the alert say it, after the profile
    about: str  # its part of the alert's key

    @property
    def what(self) -> str:
        return self.name if self.profile == "*" else f"{self.profile} {self.name}"


def _guarded(deps: ReconcileDeps, report: ReconcileReport, item: _Item, work: Callable[[], None]) -> bool:
    """Do one item's work so that its failure stops nothing else; True when it was done. A transient error
    (throttling, a lost race, no capacity) waits for the next run; any other is alerted and counted, and ends the
    run failed."""
    try:
        work()
    except (TransientError, LimitExceeded) as exc:
        report.errors.append(f"{item.what}: {exc}")
        logger.warning("reconcile item deferred", extra={"item": item.what, "error": str(exc)})
        return False
    except Exception as exc:  # isolation is the point: one item's failure must not stop the rest
        report.failures.append(f"{item.what}: {type(exc).__name__}: {exc}")
        logger.exception("reconcile item failed", extra={"item": item.what})
        deps.metrics.count("ReconcileFailures")
        try:
            deps.alerts.publish(
                alerts.reconcile_failed(item.profile, item.what, item.about, exc, deps.clock())
            )
        except Exception:  # the run ends failed anyway, and Lambda's retry publishes it
            logger.exception("reconcile failure not alerted", extra={"item": item.what})
        return False
    return True


def _listed[T](
    deps: ReconcileDeps, report: ReconcileReport, kind: str, read: Callable[[], list[T]]
) -> list[T] | None:
    """One of the index reads that list Reconcile's work, guarded like an item: None when it failed (that work waits
    for the next run; the rest goes on)."""
    found: list[T] = []
    item = _Item("*", f"the list of {kind} items", f"list/{kind}")
    return found if _guarded(deps, report, item, lambda: found.extend(read())) else None


def _round(active: ActiveRecord, deps: ReconcileDeps, report: ReconcileReport) -> None:
    rnd = deps.store.get_round(active.profile, active.seq)
    if rnd is None:
        return
    if rnd.status == "starting":
        if rnd.incumbents:
            _record_incumbents(rnd, deps, report)
        _start_queued(rnd.profile, rnd.drop_id, deps, report)
    elif rnd.status == "running":
        status = str(
            deps.close.sagemaker.describe_tuning_job(rnd.tuning_job_name)["HyperParameterTuningJobStatus"]
        )
        if status in TERMINAL_JOB_STATUSES:
            result = close_round(rnd.tuning_job_name, deps.close)
            report.actions.append(f"closed {rnd.profile} round {rnd.seq} ({result.status})")
        else:
            _stall_check(rnd, deps, report)
    elif rnd.status == "stopping":
        _stopping(rnd, deps, report)
    elif rnd.status == "evaluating" and rnd.evaluation is not None:
        if rnd.evaluation.status == "Pending":
            close_round(rnd.tuning_job_name, deps.close)
            report.actions.append(f"started the evaluation of {rnd.profile} round {rnd.seq}")
            return
        described = deps.promote.sagemaker.describe_training_job(rnd.evaluation.job_name)
        if described.get("TrainingJobStatus") in TERMINAL_JOB_STATUSES:
            decided = evaluation_ended(rnd.evaluation.job_name, deps.promote)
            report.actions.append(f"decided {rnd.profile} round {rnd.seq} ({decided.status})")
    elif rnd.status == "decided":
        finish_decision(rnd, profile_or_none(rnd.profile, deps.promote), deps.promote)
        report.actions.append(f"finished the decision of {rnd.profile} round {rnd.seq}")
    elif rnd.status == "failed":
        release_if_held(deps.store, deps.close.bus, rnd)
        report.actions.append(f"released {rnd.profile} round {rnd.seq}")


def _record_incumbents(rnd: RoundRecord, deps: ReconcileDeps, report: ReconcileReport) -> None:
    """Record the incumbents whose terminal event never arrived (their jobs are described), so that the start of
    the tuning job that follows (StartRound's resume) sees them ended."""
    recorded = {t.training_job_name: t for t in deps.store.trials(rnd.profile, rnd.seq)}
    for incumbent in rnd.incumbents:
        trial = recorded.get(incumbent.job_name)
        if trial is not None and trial.terminal:
            continue
        result = record_trial_of_round(rnd.profile, rnd.seq, incumbent.job_name, deps.close.record)
        if result.status == "recorded":
            report.actions.append(f"recorded {rnd.profile} round {rnd.seq}'s incumbent {incumbent.job_name}")


def _stopping(rnd: RoundRecord, deps: ReconcileDeps, report: ReconcileReport) -> None:
    """A round `retune stop` stopped while it trained its incumbents: once every incumbent has ended (its event
    recorded, or its job described here; one never created is recorded as stopped), it is closed as a stopped
    round. An incumbent still InProgress is stopped here: the stop died between its write and its stops, or
    StartRound created it after the stop looked. A tuning job StartRound created as the stop was written closes
    the round through CloseRound instead; one still InProgress is stopped here (StartRound died between its create
    and its stop)."""
    _stop_incumbents_still_training(rnd, deps, report)
    try:
        status = str(
            deps.close.sagemaker.describe_tuning_job(rnd.tuning_job_name)["HyperParameterTuningJobStatus"]
        )
    except NotFound:
        status = None
    if status is not None:
        if status in TERMINAL_JOB_STATUSES:
            result = close_round(rnd.tuning_job_name, deps.close)
            report.actions.append(f"closed {rnd.profile} round {rnd.seq} ({result.status})")
        elif status == "InProgress" and stop_tuning_job(rnd, deps.close.sagemaker):
            report.actions.append(f"stopped {rnd.profile} round {rnd.seq}'s tuning job {rnd.tuning_job_name}")
        return
    if incumbents_ended(rnd, deps.store.trials(rnd.profile, rnd.seq)):
        result = close_stopped_round(rnd, deps.close)
        report.actions.append(f"closed stopped {rnd.profile} round {rnd.seq} ({result.status})")


def _stop_incumbents_still_training(rnd: RoundRecord, deps: ReconcileDeps, report: ReconcileReport) -> None:
    """Describe every incumbent of a `stopping` round, the recorded ones too, and stop each still InProgress
    (`stop_incumbents_in_progress`). One not recorded as ended is recorded from its description (as never created
    if it does not exist)."""
    recorded = {t.training_job_name: t for t in deps.store.trials(rnd.profile, rnd.seq)}
    for job in stop_incumbents_in_progress(rnd, deps.close.sagemaker, deps.store, deps.clock):
        name = job.incumbent.job_name
        trial = recorded.get(name)
        ended = trial is not None and trial.terminal
        if job.described is None:
            if not ended:
                record_never_started(rnd, job.incumbent, deps.store, deps.clock())
            continue
        if not ended:
            recorded_now = record_trial_of_round(rnd.profile, rnd.seq, name, deps.close.record, job.described)
            if recorded_now.status == "recorded":
                report.actions.append(f"recorded {rnd.profile} round {rnd.seq}'s incumbent {name}")
        if job.asked:
            report.actions.append(f"stopped {rnd.profile} round {rnd.seq}'s incumbent {name}")


def _deployment(rnd: RoundRecord, deps: ReconcileDeps, report: ReconcileReport) -> None:
    done = settle_deployment(rnd, deps.promote)
    if done:
        report.actions.append(f"{rnd.profile} round {rnd.seq}: {done}")


def _stall_check(rnd: RoundRecord, deps: ReconcileDeps, report: ReconcileReport) -> None:
    if rnd.stall_alerted:
        return
    trials = deps.store.trials(rnd.profile, rnd.seq)
    last = max([t.updated_at for t in trials] + [rnd.started_at])
    quiet = (deps.clock() - last).total_seconds()
    if quiet <= deps.stall_factor * rnd.plan.max_runtime_seconds.value:
        return
    # The alert first (once per key), then the flag: the other order loses the alert when this run dies between.
    deps.alerts.publish(alerts.round_stalled(rnd, quiet, deps.promote.region))
    try:
        deps.store.save_round(rnd.model_copy(update={"stall_alerted": True}), expected_status="running")
    except ConditionFailed:
        return  # the round moved on meanwhile
    deps.metrics.count("RoundsStalled")
    report.actions.append(f"alerted stalled {rnd.profile} round {rnd.seq}")


def _start_queued(profile: str, drop_id: str, deps: ReconcileDeps, report: ReconcileReport) -> None:
    drop = deps.store.get_drop(profile, drop_id)
    if drop is None:
        return
    ref = DropRef(
        bucket=drop.bucket,
        keys=(drop.manifest_key,),
        version_id=drop.version_id,
        origin="drop-ready",
        event_time=deps.clock(),
    )
    result = start_round(ref, deps.start)
    report.actions.append(f"drop {profile}/{drop_id}: {result.status}")


def _parked(url: str, deps: ReconcileDeps, report: ReconcileReport) -> None:
    count = deps.queues.depth(url)
    if count > 0:
        deps.alerts.publish(alerts.parked_events(url, count, deps.clock()))
        deps.metrics.count("EventsParked", count)
        report.actions.append(f"{count} parked on {url}")
