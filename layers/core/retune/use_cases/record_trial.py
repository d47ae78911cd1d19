"""RecordTrial: every state change of a training job retune launched becomes (or updates) its trial record.

The event carries no metrics and no billing, so the job is described; once it is terminal, the objective's
per-epoch series is read from CloudWatch. A late or repeated event never moves a trial back from a terminal
state, and a job SageMaker retried (RetryStrategy) keeps its name, so it stays one trial.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol

from retune.errors import ConditionFailed, ConflictError, NotFound
from retune.incumbents import incumbents_ended
from retune.naming import is_evaluation_job, is_retune_job, tuning_job_of_incumbent, tuning_job_of_trial
from retune.ports import Clock, EventBusPort, MetricsPort, NoMetrics, SageMakerPort
from retune.records import RoundRecord, TrialRecord
from retune.sagemaker_facts import TERMINAL_JOB_STATUSES
from retune.store import Store
from retune.timeutil import parse_timestamp
from retune.trials import trial_from_description, trial_status
from retune.use_cases.finish import announce_drop

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 4


class MetricSeriesPort(Protocol):
    def series(
        self, training_job: str, metric_names: list[str], start: datetime, end: datetime, now: datetime
    ) -> dict[str, list[float]]: ...


@dataclass
class RecordTrialDeps:
    store: Store
    sagemaker: SageMakerPort
    metric_series: MetricSeriesPort
    clock: Clock
    metrics: MetricsPort = field(default_factory=NoMetrics)
    bus: EventBusPort | None = None  # tells StartRound that a round's last incumbent ended


class RecordResult(NamedTuple):
    status: Literal["recorded", "duplicate", "ignored"]
    training_job: str
    trial_status: str | None = None
    profile: str | None = None
    seq: int | None = None
    detail: str = ""


def record_trial(training_job: str, deps: RecordTrialDeps) -> RecordResult:
    """Record one training job's state, if it is one of retune's trials."""
    if not is_retune_job(training_job):
        deps.metrics.count("ForeignJobsIgnored")
        return RecordResult("ignored", training_job, detail="not launched by retune")
    if is_evaluation_job(training_job):
        return RecordResult("ignored", training_job, detail="an evaluation job: Promote records it")
    tuning_job = tuning_job_of_trial(training_job) or tuning_job_of_incumbent(training_job)
    lookup = deps.store.get_lookup(tuning_job) if tuning_job else None
    if lookup is None or lookup.kind != "tuning":
        deps.metrics.count("ForeignJobsIgnored")
        logger.info("training job of no retune round ignored", extra={"training_job": training_job})
        return RecordResult("ignored", training_job, detail="no retune round launched it")
    return record_trial_of_round(lookup.profile, lookup.seq, training_job, deps)


def record_trial_of_round(
    profile: str, seq: int, training_job: str, deps: RecordTrialDeps, described: dict[str, Any] | None = None
) -> RecordResult:
    """Describe the job and write its trial record; CloseRound's backfill calls this for lost events."""
    extra = {"profile": profile, "round": seq, "training_job": training_job}
    for _ in range(MAX_ATTEMPTS):
        existing = deps.store.get_trial(profile, seq, training_job)
        if existing is not None and existing.terminal:
            if existing.source == "incumbent":
                # A repeat may follow an attempt that died before it announced the last incumbent.
                _announce_if_incumbents_ended(profile, seq, deps)
            return RecordResult("duplicate", training_job, existing.status, profile, seq, "already terminal")
        rnd = deps.store.get_round(profile, seq)
        if rnd is None:
            raise ConflictError(
                f"round {seq} of {profile} is not recorded yet"
            )  # retried: its start is in flight
        try:
            description = described or deps.sagemaker.describe_training_job(training_job)
        except NotFound:
            return RecordResult(
                "ignored", training_job, profile=profile, seq=seq, detail="no such training job"
            )
        now = deps.clock()
        series: list[float] = []
        if trial_status(description) in TERMINAL_JOB_STATUSES:
            start = _start_of(description, now)
            found = deps.metric_series.series(
                training_job, [rnd.objective_metric], start, _end_of(description, now), now
            )
            series = found.get(rnd.objective_metric, [])
        trial = trial_from_description(rnd, description, series, now)
        if existing is not None and _same(existing, trial):
            return RecordResult("duplicate", training_job, trial.status, profile, seq, "no change")
        try:
            deps.store.put_trial(trial, replaces=existing)
        except ConditionFailed:
            described = None
            continue  # another event for the same job was recorded meanwhile: look again
        deps.metrics.count("TrialsRecorded")
        if trial.stopped_early:
            deps.metrics.count("TrialsStoppedEarly")
        if trial.billable_seconds:
            deps.metrics.count("ComputeSeconds", trial.billable_seconds, "Seconds")
        logger.info(
            "trial recorded", extra={**extra, "status": trial.status, "objective": trial.final_objective}
        )
        if trial.source == "incumbent" and trial.terminal:
            _announce_if_incumbents_ended(profile, seq, deps, rnd)
        return RecordResult("recorded", training_job, trial.status, profile, seq)
    raise ConflictError(f"trial {training_job}: state kept changing; retrying later")


def _announce_if_incumbents_ended(
    profile: str, seq: int, deps: RecordTrialDeps, rnd: RoundRecord | None = None
) -> None:
    """When every incumbent of a round still starting has ended, tell StartRound (retune's "Drop Ready" for the
    round's drop): it starts the tuning job, exactly once (its name is the round's). Repeats are harmless."""
    rnd = deps.store.get_round(profile, seq) if rnd is None else rnd
    if deps.bus is None or rnd is None or rnd.status != "starting" or not rnd.incumbents:
        return
    if not incumbents_ended(rnd, deps.store.trials(profile, seq)):
        return
    drop = deps.store.get_drop(profile, rnd.drop_id)
    if drop is not None:
        announce_drop(deps.bus, drop)
        logger.info("incumbents ended; the tuning job is due", extra={"profile": profile, "round": seq})


def _same(a: TrialRecord, b: TrialRecord) -> bool:
    return a.status == b.status and a.secondary_status == b.secondary_status


def _start_of(described: dict[str, Any], now: datetime) -> datetime:
    value = described.get("TrainingStartTime") or described.get("CreationTime")
    return parse_timestamp(value) if value is not None else now


def _end_of(described: dict[str, Any], now: datetime) -> datetime:
    value = described.get("TrainingEndTime") or described.get("LastModifiedTime")
    return parse_timestamp(value) if value is not None else now
