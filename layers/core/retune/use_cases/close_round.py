"""CloseRound: a tuning job ended. Backfill lost trial events, summarize the round, plan the next one, and start
the evaluation that scores champion and challenger on the drop's held-out test data.

The round's close and the next plan are one transaction. A failed or stopped tuning job is closed and alerted too;
nothing is evaluated or promoted from it unless it has a completed best trial.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from retune import alerts
from retune.errors import (
    AlreadyExists,
    ConditionFailed,
    InvalidInput,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    TransientError,
)
from retune.incumbents import launch_plan
from retune.naming import evaluation_job_of
from retune.plan import Plan
from retune.policy import KNOBS, plan_next_round
from retune.ports import AlertPort, BucketPort, Clock, EventBusPort, MetricsPort, NoMetrics, SageMakerPort
from retune.profile import Profile, read_profile
from retune.records import Decision, Evaluation, RoundHistory, RoundRecord, TrialRecord
from retune.sagemaker_facts import TERMINAL_JOB_STATUSES
from retune.store import Store
from retune.timeutil import parse_timestamp
from retune.use_cases.evaluation import evaluation_request
from retune.use_cases.finish import finish_round, release_if_held
from retune.use_cases.record_trial import RecordTrialDeps, record_trial_of_round

logger = logging.getLogger(__name__)


@dataclass
class CloseRoundDeps:
    store: Store
    sagemaker: SageMakerPort
    bucket: BucketPort
    alerts: AlertPort
    bus: EventBusPort
    record: RecordTrialDeps
    clock: Clock
    data_bucket: str
    role_arn: str
    region: str | None = None  # for the alerts' console links
    metrics: MetricsPort = field(default_factory=NoMetrics)
    service_model: Any = None


class CloseResult(NamedTuple):
    status: Literal["evaluating", "failed", "duplicate", "ignored", "running"]
    tuning_job: str
    profile: str | None = None
    seq: int | None = None
    backfilled: int = 0
    detail: str = ""


def close_round(tuning_job: str, deps: CloseRoundDeps) -> CloseResult:
    """Close the round of a terminal tuning job (idempotent: a repeat resumes or does nothing)."""
    lookup = deps.store.get_lookup(tuning_job)
    if lookup is None or lookup.kind != "tuning":
        deps.metrics.count("ForeignJobsIgnored")
        return CloseResult("ignored", tuning_job, detail="no retune round launched it")
    rnd = deps.store.get_round(lookup.profile, lookup.seq)
    if rnd is None:
        raise TransientError(f"round {lookup.seq} of {lookup.profile} is not recorded yet")
    # A repeat finishes what an interrupted attempt began after its write: the alerts (published once per key),
    # the evaluation, the release of the profile.
    if rnd.status == "evaluating":
        profile, _ = _current_profile(rnd.profile, deps)
        _alert_over_budget(deps, profile, rnd)
        if rnd.evaluation is not None and rnd.evaluation.status == "Pending":
            start_evaluation(rnd, deps)
        return CloseResult("duplicate", tuning_job, rnd.profile, rnd.seq, detail="already closed; evaluating")
    if rnd.status in ("decided", "failed"):
        if rnd.decision is not None and rnd.decision.outcome == "not_evaluated":
            profile, _ = _current_profile(rnd.profile, deps)
            _alert(deps, profile, alerts.round_failed(rnd, rnd.decision.reason, deps.region))
        release_if_held(deps.store, deps.bus, rnd)
        return CloseResult("duplicate", tuning_job, rnd.profile, rnd.seq, detail=f"already {rnd.status}")

    described = deps.sagemaker.describe_tuning_job(tuning_job)
    status = str(described["HyperParameterTuningJobStatus"])
    if status not in TERMINAL_JOB_STATUSES:
        return CloseResult("running", tuning_job, rnd.profile, rnd.seq, detail=f"tuning job is {status}")

    backfilled = _backfill(rnd, deps)
    if rnd.status != "running" and rnd.incumbents:
        # StartRound created the tuning job with its launch plan (the same-drop target) but never wrote the round
        # `running` with it (its write kept failing, or a stop was written first): close with the plan the job ran.
        rnd = rnd.model_copy(update={"plan": launch_plan(rnd, deps.store.trials(rnd.profile, rnd.seq))})
    return _close(rnd, described, backfilled, deps)


def close_stopped_round(rnd: RoundRecord, deps: CloseRoundDeps) -> CloseResult:
    """Close a round `retune stop` stopped while it trained its incumbents (status `stopping`, every incumbent
    ended): it has no tuning job, and ends as a round whose tuning job was stopped does (the same summary, plan,
    alert, release and queued drop; the evaluation when an incumbent completed). Idempotent: the close is
    conditional on the round still `stopping`."""
    who = rnd.stop_requested_by or "an operator"
    described = {
        "HyperParameterTuningJobStatus": "Stopped",
        "FailureReason": f"stopped by {who} while it trained its incumbents; no tuning job was created",
    }
    # Its `round_failed` alert goes before the write: once the round is written `failed` (ACTIVE released in the
    # same write) no Reconcile run finds it again, and no event repeats the close. Its outcome cannot change
    # between runs: every incumbent has a terminal record, and those are never replaced.
    return _close(rnd, described, 0, deps, alert_first=True)


def _close(
    rnd: RoundRecord,
    described: dict[str, Any],
    backfilled: int,
    deps: CloseRoundDeps,
    alert_first: bool = False,
) -> CloseResult:
    tuning_job = rnd.tuning_job_name
    status = str(described["HyperParameterTuningJobStatus"])
    trials = deps.store.trials(rnd.profile, rnd.seq)
    closed = summarize(rnd, described, trials, deps.clock())
    profile, profile_version = _current_profile(rnd.profile, deps)
    plan = _next_plan(profile, profile_version, closed, trials, deps)
    extra = {"profile": rnd.profile, "round": rnd.seq, "tuning_job": tuning_job}

    if closed.best_model_artifact is None:
        reason = _not_evaluated_reason(status, closed)
        failed = closed.model_copy(
            update={
                "status": "failed",
                "decision": Decision(outcome="not_evaluated", reason=reason, decided_at=deps.clock()),
            }
        )
        alert = alerts.round_failed(failed, reason, deps.region)
        if alert_first:
            _alert(deps, profile, alert)  # published once per key
        won = finish_round(deps.store, deps.bus, failed, expected_status=rnd.status, plan=plan)
        if won:
            deps.metrics.count("RoundsFailed")
            _count_saved(deps, profile, trials)
            logger.warning("round closed without a model to evaluate", extra={**extra, "reason": reason})
            if not alert_first:
                _alert(deps, profile, alert)
        return CloseResult("failed", tuning_job, rnd.profile, rnd.seq, backfilled, reason)

    name = evaluation_job_of(rnd.tuning_job_name)  # the round's own name, whichever it took
    evaluating = closed.model_copy(
        update={"status": "evaluating", "evaluation": Evaluation(job_name=name, status="Pending")}
    )
    try:
        deps.store.close_round_and_plan(evaluating, expected_status=rnd.status, plan=plan)
    except ConditionFailed:
        return CloseResult(
            "duplicate", tuning_job, rnd.profile, rnd.seq, detail="closed by another invocation"
        )
    deps.metrics.count("RoundsClosed")
    _count_saved(deps, profile, trials)
    if closed.compute is not None:
        deps.metrics.count("RoundCompute", closed.compute, "None")
    logger.info("round closed", extra={**extra, "best": closed.best_objective, "trials": closed.trial_counts})
    _alert_over_budget(deps, profile, closed)
    start_evaluation(evaluating, deps)
    return CloseResult("evaluating", tuning_job, rnd.profile, rnd.seq, backfilled)


def _backfill(rnd: RoundRecord, deps: CloseRoundDeps) -> int:
    """Record every trial whose terminal event never arrived. Returns how many were written."""
    count = 0
    # The round's incumbents too (plain jobs: no tuning job lists them), so that a close never misses them.
    names = [str(summary["TrainingJobName"]) for summary in deps.sagemaker.list_trials(rnd.tuning_job_name)]
    for name in [*names, *(i.job_name for i in rnd.incumbents)]:
        existing = deps.store.get_trial(rnd.profile, rnd.seq, name)
        if existing is not None and existing.terminal:
            continue
        if record_trial_of_round(rnd.profile, rnd.seq, name, deps.record).status == "recorded":
            count += 1
    if count:
        deps.metrics.count("TrialsBackfilled", count)
    return count


def summarize(
    rnd: RoundRecord, described: dict[str, Any], trials: list[TrialRecord], now: Any
) -> RoundRecord:
    """The round summary: counts, best trial and objective, compute, trials stopped early, round time."""
    status = str(described["HyperParameterTuningJobStatus"])
    counts: dict[str, int] = {}
    for trial in trials:
        counts[trial.status] = counts.get(trial.status, 0) + 1
    # An operator's stop of the whole round is not early stopping (see retune.trials).
    stopped_early = 0 if status == "Stopped" else sum(t.stopped_early for t in trials)
    best_job = (described.get("BestTrainingJob") or {}).get("TrainingJobName")
    best_value = (
        (described.get("BestTrainingJob") or {}).get("FinalHyperParameterTuningJobObjectiveMetric") or {}
    ).get("Value")
    by_name = {t.training_job_name: t for t in trials}
    best = by_name.get(best_job) if best_job else None
    if best is None or best.status != "Completed":
        best = _best_completed(rnd, [t for t in trials if t.source == "tuning"])
        best_value = best.final_objective if best else None
    # The round's incumbents ran on the same drop: the best of them is a candidate for the challenger too.
    incumbent = _best_completed(rnd, [t for t in trials if t.source == "incumbent"])
    if incumbent is not None and (best_value is None or _better(rnd, incumbent.final_objective, best_value)):
        best, best_value = incumbent, incumbent.final_objective
    computes = [t.compute for t in trials if t.compute is not None]
    end = described.get("HyperParameterTuningEndTime")
    return rnd.model_copy(
        update={
            "tuning_status": status,
            "failure_reason": described.get("FailureReason"),
            "ended_at": parse_timestamp(end) if end is not None else now,
            "trial_counts": counts,
            "stopped_early": stopped_early,
            "best_training_job": best.training_job_name if best else None,
            "best_objective": float(best_value) if best_value is not None else None,
            "best_model_artifact": best.model_artifact if best else None,
            "compute": sum(computes) if computes else None,
            "billable_seconds": sum(t.billable_seconds or 0 for t in trials),
        }
    )


def _better(rnd: RoundRecord, value: float | None, than: float) -> bool:
    if value is None:
        return False
    return value < than if rnd.objective_type == "Minimize" else value > than


def _best_completed(rnd: RoundRecord, trials: list[TrialRecord]) -> TrialRecord | None:
    done = [
        t
        for t in trials
        if t.status == "Completed"
        and t.final_objective is not None
        and math.isfinite(t.final_objective)
        and t.model_artifact
    ]
    if not done:
        return None
    pick = min if rnd.objective_type == "Minimize" else max
    return pick(done, key=lambda t: t.final_objective or 0.0)


def _not_evaluated_reason(status: str, rnd: RoundRecord) -> str:
    failure = f": {rnd.failure_reason}" if rnd.failure_reason else ""
    return f"tuning job {status}{failure}; no completed trial with a model to evaluate"


def _current_profile(name: str, deps: CloseRoundDeps) -> tuple[Profile | None, str | None]:
    try:
        return read_profile(deps.bucket, deps.data_bucket, name)
    except (NotFound, InvalidInput) as exc:
        # The next drop validates the profile again and fails with the errors; the plan waits for it.
        logger.warning(
            "profile unreadable at close; the next plan is made at the next start",
            extra={"profile": name, "error": str(exc)},
        )
        return None, None


def _next_plan(
    profile: Profile | None,
    version: str | None,
    closed: RoundRecord,
    trials: list[TrialRecord],
    deps: CloseRoundDeps,
) -> Plan | None:
    if profile is None:
        return None
    history = [
        h for h in deps.store.history(closed.profile, KNOBS.history_rounds) if h.round.seq != closed.seq
    ]
    history.append(RoundHistory(round=closed, trials=trials))
    return plan_next_round(profile, history, version)


def start_evaluation(rnd: RoundRecord, deps: CloseRoundDeps) -> None:
    """Create the evaluation job of a round in status `evaluating` (a repeat meets ResourceInUse: fine)."""
    assert rnd.evaluation is not None and rnd.best_model_artifact is not None
    profile, _ = _current_profile(rnd.profile, deps)
    drop = deps.store.get_drop(rnd.profile, rnd.drop_id)
    if profile is None or drop is None or drop.channel_content_types() is None:
        _decide_unevaluated(rnd, deps, "the profile or the drop could not be read to start the evaluation")
        return
    champion = deps.store.get_champion(rnd.profile)
    request = evaluation_request(
        rnd, profile, drop, champion, data_bucket=deps.data_bucket, role_arn=deps.role_arn
    )
    try:
        deps.sagemaker.create_training_job(request)
    except AlreadyExists:
        logger.info(
            "evaluation job already exists: a replay", extra={"profile": rnd.profile, "round": rnd.seq}
        )
    except InvalidRequest as exc:
        _decide_unevaluated(rnd, deps, f"the evaluation request is invalid: {'; '.join(exc.errors)}")
        return
    except LimitExceeded as exc:
        raise TransientError(f"evaluation of round {rnd.seq} waits for SageMaker capacity: {exc}") from exc
    evaluation = rnd.evaluation.model_copy(
        update={
            "status": "InProgress",
            "champion_model_package": champion.model_package_arn if champion else None,
        }
    )
    try:
        deps.store.save_round(rnd.model_copy(update={"evaluation": evaluation}), expected_status="evaluating")
    except ConditionFailed:
        pass  # Promote already decided (its event can overtake this write)


def _decide_unevaluated(rnd: RoundRecord, deps: CloseRoundDeps, reason: str) -> None:
    decided = rnd.model_copy(
        update={
            "status": "decided",
            "decision": Decision(outcome="not_evaluated", reason=reason, decided_at=deps.clock()),
        }
    )
    if finish_round(deps.store, deps.bus, decided, expected_status=rnd.status):
        deps.alerts.publish(alerts.round_failed(decided, reason, deps.region))


def _alert_over_budget(deps: CloseRoundDeps, profile: Profile | None, rnd: RoundRecord) -> None:
    if (
        profile is not None
        and profile.budget.compute_budget
        and (rnd.compute or 0) > profile.budget.compute_budget
    ):
        _alert(deps, profile, alerts.over_budget(rnd, profile.budget.compute_budget, deps.region))


def compute_seconds_saved(max_jobs: int, trials: list[TrialRecord]) -> float | None:
    """What the round's plan saved against the profile's full budget: `max_jobs` trials at the round's mean
    billable seconds per trial, minus what the round billed (negative when the plan ran more trials than the
    profile's budget). None when no trial reported billable time."""
    billed = [t.billable_seconds for t in trials if t.billable_seconds is not None]
    if not billed:
        return None
    return max_jobs * sum(billed) / len(billed) - sum(billed)


def _count_saved(deps: CloseRoundDeps, profile: Profile | None, trials: list[TrialRecord]) -> None:
    saved = compute_seconds_saved(profile.budget.max_jobs, trials) if profile is not None else None
    if saved is not None:
        deps.metrics.count("ComputeSecondsSaved", saved, "Seconds")


def _alert(deps: CloseRoundDeps, profile: Profile | None, alert: alerts.Alert) -> None:
    if profile is None or profile.alerts_on(alert.outcome):
        deps.alerts.publish(alert)
