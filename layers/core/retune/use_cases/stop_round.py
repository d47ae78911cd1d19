"""`retune stop`: a person stops a round.

A running round's tuning job is stopped (SageMaker stops its trials; CloseRound closes the round on the job's
Stopped event). A round still training its incumbents has no tuning job yet: it becomes `stopping` (one write,
conditional on `starting`, so that StartRound never starts its tuning job), then its incumbents' training jobs are
stopped. Their Stopped events are recorded by RecordTrial as ever; once every incumbent has ended, Reconcile closes
the round as a stopped round is closed (`close_round.close_stopped_round`). A repeat finishes an interrupted stop,
and so does Reconcile: it stops a `stopping` round's incumbents still InProgress (`stop_incumbent`).

A tuning job StartRound created as the stop was written (it had read the round `starting`, every incumbent ended)
is stopped too (`stop_tuning_job`): by StartRound itself, whose write of `running` then fails on the stop's write;
by the stop, when the job exists by the time it looks; and by Reconcile, when StartRound died between its create and
its write. Its Stopped event closes the round through CloseRound.

An incumbent StartRound created as the stop looked for it (recorded as never created) is stopped by StartRound
itself, which reads the round again after its creates and finds it stopped (`stopping`, or closed by Reconcile
since: nothing else would look again), or, when StartRound died before that read, by its retry or by Reconcile
while the round is `stopping` (`stop_incumbents_in_progress`).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, NamedTuple

from retune.errors import ConditionFailed, ConflictError, NotFound, Refused, TransientError
from retune.incumbents import unrun_trial
from retune.ports import Clock, SageMakerPort
from retune.records import Incumbent, RoundRecord
from retune.store import Store

MAX_ATTEMPTS = 4
NEVER_STARTED = "stopped by {who} (retune stop) before its training job was created"


@dataclass
class StopRoundDeps:
    store: Store
    sagemaker: SageMakerPort
    clock: Clock


class StopResult(NamedTuple):
    status: Literal["stopping", "not_running", "not_found"]
    profile: str
    seq: int
    tuning_job: str | None = None
    incumbents: tuple[str, ...] = ()  # the incumbents' jobs asked to stop
    detail: str = ""


def stop_round(profile: str, seq: int, who: str, deps: StopRoundDeps) -> StopResult:
    """Stop round `seq` of `profile`. Raises Refused when SageMaker will not stop a running round's tuning job."""
    for _ in range(MAX_ATTEMPTS):
        rnd = deps.store.get_round(profile, seq)
        if rnd is None:
            return StopResult("not_found", profile, seq, detail=f"no round {seq} of {profile}")
        if rnd.status == "starting" and rnd.incumbents:
            stopping = rnd.model_copy(
                update={"status": "stopping", "stop_requested_by": who, "stop_requested_at": deps.clock()}
            )
            try:
                deps.store.save_round(stopping, expected_status="starting")
            except ConditionFailed:
                continue  # StartRound moved it on meanwhile (its tuning job started): look again
            # A tuning job StartRound created before it died (or before its write of `running`, which now fails).
            stop_tuning_job(stopping, deps.sagemaker)
            return _stop_incumbents(stopping, deps)
        if rnd.status == "stopping":
            # A repeat: stop what an interrupted stop left running, and a tuning job StartRound created as the
            # stop was written (it had read the round `starting`); that one's end closes the round in CloseRound.
            stop_tuning_job(rnd, deps.sagemaker)
            return _stop_incumbents(rnd, deps)
        if rnd.status in ("starting", "running"):
            deps.sagemaker.stop_tuning_job(rnd.tuning_job_name)
            return StopResult("stopping", profile, seq, rnd.tuning_job_name)
        return StopResult("not_running", profile, seq, detail=f"round {seq} of {profile} is {rnd.status}")
    raise ConflictError(f"round {seq} of {profile}: its state kept changing; run the stop again")


def _stop_incumbents(rnd: RoundRecord, deps: StopRoundDeps) -> StopResult:
    """Ask SageMaker to stop every incumbent not recorded as ended. One it will not stop has ended (its event
    records it) or was never created: that one is recorded as stopped here, so that the round can close."""
    recorded = {t.training_job_name: t for t in deps.store.trials(rnd.profile, rnd.seq)}
    asked: list[str] = []
    for incumbent in rnd.incumbents:
        trial = recorded.get(incumbent.job_name)
        if trial is not None and trial.terminal:
            continue
        if stop_incumbent(rnd, incumbent, deps.sagemaker, deps.store, deps.clock):
            asked.append(incumbent.job_name)
    return StopResult("stopping", rnd.profile, rnd.seq, rnd.tuning_job_name, tuple(asked))


def stop_incumbent(
    rnd: RoundRecord,
    incumbent: Incumbent,
    sagemaker: SageMakerPort,
    store: Store,
    clock: Clock,
    *,
    created: bool = False,
) -> bool:
    """Ask SageMaker to stop one incumbent of a stopped round; True when it was asked. One SageMaker will not
    stop (not InProgress) has ended or is being stopped (done: its event records it), or was never created (then
    recorded as stopped here), unless the caller has just `created` it: see `stop_incumbents_in_progress`. The
    stop's, Reconcile's (which finishes a stop that died after its write) and StartRound's."""
    try:
        sagemaker.stop_training_job(incumbent.job_name)
    except (Refused, NotFound):  # not InProgress: ended, being stopped, or never created
        if not _exists(incumbent.job_name, sagemaker):
            if created:
                raise _not_visible_yet(incumbent) from None
            record_never_started(rnd, incumbent, store, clock())
        return False
    return True


class IncumbentJob(NamedTuple):
    incumbent: Incumbent
    described: dict[str, Any] | None  # None: SageMaker has no such job
    asked: bool  # asked to stop here


def stop_incumbents_in_progress(
    rnd: RoundRecord,
    sagemaker: SageMakerPort,
    store: Store,
    clock: Clock,
    created: Collection[str] = (),
) -> list[IncumbentJob]:
    """Describe every incumbent of a stopped round, the recorded ones too (one the stop recorded as never created
    may have been created since: StartRound had read the round `starting`), and stop each InProgress one
    (`stop_incumbent`; a job Stopping was asked already, and SageMaker refuses to stop it again). Reconcile's,
    for a `stopping` round, and StartRound's, for one stopped (or closed after its stop) as it created incumbents.
    SageMaker does not document that a job is visible to DescribeTrainingJob and StopTrainingJob as soon as its
    CreateTrainingJob returns: a job the caller has just `created` that it cannot find yet is raised as
    transient, for Lambda's retry, never taken for one never created. Throttling is raised too."""
    found: list[IncumbentJob] = []
    for incumbent in rnd.incumbents:
        just_created = incumbent.job_name in created
        try:
            described = sagemaker.describe_training_job(incumbent.job_name)
        except NotFound:
            if just_created:
                raise _not_visible_yet(incumbent) from None
            found.append(IncumbentJob(incumbent, None, False))
            continue
        asked = described.get("TrainingJobStatus") == "InProgress" and stop_incumbent(
            rnd, incumbent, sagemaker, store, clock, created=just_created
        )
        found.append(IncumbentJob(incumbent, described, asked))
    return found


def stopped_by_operator(rnd: RoundRecord) -> bool:
    """Whether `retune stop` stopped the round while it trained its incumbents: `stopping`, or closed since (its
    close keeps who stopped it)."""
    return rnd.status == "stopping" or rnd.stop_requested_at is not None


def _not_visible_yet(incumbent: Incumbent) -> TransientError:
    return TransientError(
        f"sagemaker: training job {incumbent.job_name}, created just now, is not found yet; retrying its stop"
    )


def stop_tuning_job(rnd: RoundRecord, sagemaker: SageMakerPort) -> bool:
    """Ask SageMaker to stop the tuning job of a `stopping` round if it says the job is InProgress; True when it
    was asked. No job (none was created), or one Stopping or ended, is done: SageMaker refuses to stop a job that
    is not InProgress, which is also how a duplicated caller's stop ends. The stop's, StartRound's (its write of
    `running` met the stop's) and Reconcile's (StartRound died between its create and its write). Throttling and
    other transient errors are raised, for the caller's retry."""
    try:
        described = sagemaker.describe_tuning_job(rnd.tuning_job_name)
    except NotFound:
        return False
    if described.get("HyperParameterTuningJobStatus") != "InProgress":
        return False
    try:
        sagemaker.stop_tuning_job(rnd.tuning_job_name)
    except (Refused, NotFound):  # another caller's stop landed first, or it ended meanwhile
        return False
    return True


def _exists(name: str, sagemaker: SageMakerPort) -> bool:
    try:
        sagemaker.describe_training_job(name)
    except NotFound:
        return False
    return True


def record_never_started(rnd: RoundRecord, incumbent: Incumbent, store: Store, now: datetime) -> None:
    """An incumbent of a stopped round whose job was never created (StartRound stopped before it): a stopped
    trial of the round, as if SageMaker had stopped it at once. Written only if no record exists."""
    reason = NEVER_STARTED.format(who=rnd.stop_requested_by or "an operator")
    trial = unrun_trial(rnd, incumbent, "Stopped", reason, now)
    try:
        store.put_trial(trial)
    except ConditionFailed:
        pass  # recorded meanwhile: its job exists after all
