"""StartRound: a complete drop starts a tuning round, or queues behind the profile's running round.

Every branch is idempotent on the drop's natural key (bucket + key + version id or ETag): a repeated delivery of the
same manifest upload does nothing new, a replay after a crash resumes where the first attempt stopped, and
concurrent drops of one profile cannot both start a round (the ACTIVE item is taken in a transaction).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal, NamedTuple

from retune import alerts
from retune.errors import (
    AlreadyExists,
    ConditionFailed,
    ConflictError,
    InvalidInput,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    PermanentError,
    TransientError,
)
from retune.events import BadDropKey, DropRef, sequencer_order, split_manifest_key
from retune.incumbents import incumbents_ended, launch_plan, unrun_trial
from retune.manifest import MANIFEST_MAX_BYTES, Manifest, parse_manifest
from retune.naming import round_job_names
from retune.plan import Plan
from retune.planning import content_types_of, incumbent_requests, next_plan, round_incumbents, tuning_request
from retune.policy import hyperparameter_names
from retune.ports import AlertPort, BucketPort, Clock, MetricsPort, NoMetrics, SageMakerPort
from retune.profile import EmptyProfile, Profile, profile_key, read_profile
from retune.records import DropRecord, Incumbent, JobLookup, QueuedRecord, RoundRecord, TrialRecord
from retune.requests import channel_manifest_key, sagemaker_manifest
from retune.store import RoundRunning, Store
from retune.use_cases.stop_round import stop_incumbents_in_progress, stop_tuning_job, stopped_by_operator
from retune.validation import validate_request

logger = logging.getLogger(__name__)

Status = Literal[
    "started",
    "queued",
    "superseded",
    "failed",
    "duplicate",
    "ignored",
    "waiting_for_capacity",
    "already_started",
]
MAX_ATTEMPTS = 8
# How long a round may stay `starting` while SageMaker throttles, times out or fails (5xx): Lambda's retries and
# then Reconcile's every few minutes try again; then the drop fails. An age, not a count of attempts: it also
# bounds attempts that died before they could count themselves (a Lambda timeout).
LAUNCH_RETRY_SECONDS = 3_600
# After the n-th refusal for lack of capacity in an episode, Reconcile starts the waiting drop no earlier than
# this many minutes later (at its next run, then less and less often; the last value repeats).
CAPACITY_RETRY_MINUTES = (0, 5, 10, 20, 40, 60)
MAX_ERRORS = 50  # a failed drop's errors kept (and alerted)
ERROR_MAX_CHARS = 1_000


@dataclass(frozen=True)
class StartResult:
    status: Status
    profile: str | None = None
    drop_id: str | None = None
    seq: int | None = None
    tuning_job: str | None = None
    detail: str = ""
    errors: list[str] = field(default_factory=list)


@dataclass
class StartRoundDeps:
    store: Store
    bucket: BucketPort
    sagemaker: SageMakerPort
    alerts: AlertPort
    clock: Clock
    data_bucket: str
    role_arn: str
    metrics: MetricsPort = field(default_factory=NoMetrics)
    service_model: Any = None  # SageMaker's botocore model, shared with the client (None: load it once)


class ValidDrop(NamedTuple):
    profile: Profile
    profile_version: str
    manifest: Manifest
    manifest_digest: str


def start_round(ref: DropRef, deps: StartRoundDeps) -> StartResult:
    """Handle one drop event: validate the drop, then start its round, queue it, or supersede it."""
    if ref.bucket != deps.data_bucket:
        logger.warning("event for another bucket ignored", extra={"bucket": ref.bucket})
        return StartResult("ignored", detail=f"bucket {ref.bucket} is not retune's data bucket")
    try:
        key, obj = _read_manifest(ref, deps)
    except NotFound:
        profile_name, drop_id = split_manifest_key(ref.keys[-1])
        return _fail_unrecorded(ref, deps, profile_name, drop_id)
    profile_name, drop_id = split_manifest_key(key)

    for _ in range(MAX_ATTEMPTS):
        drop = deps.store.get_drop(profile_name, drop_id)
        if drop is not None and drop.version == obj.version:
            if drop.state == "failed":
                # A repeat finishes what an interrupted attempt began: the alert (published once per key).
                deps.alerts.publish(_failed_alert(drop))
            if drop.state in ("superseded", "failed"):
                _leave_queue(drop, deps)
                return StartResult("duplicate", profile_name, drop_id, detail=f"drop already {drop.state}")
            if drop.state == "started":
                return _resume(drop, deps)
        elif drop is not None and drop.state == "started":
            return StartResult(
                "ignored",
                profile_name,
                drop_id,
                seq=drop.round_seq,
                detail=f"drop {drop_id} already started round {drop.round_seq}; upload new data under a new drop id",
            )
        elif drop is not None and _older_version(ref, obj, drop):
            # A late event (EventBridge's retries, a redrive, a delayed "Drop Ready"): the manifest was uploaded
            # again since, and that newer version is the drop now, whatever became of it.
            return StartResult(
                "ignored",
                profile_name,
                drop_id,
                detail=f"an older version ({obj.version}) of {key} than the drop's ({drop.version}, "
                f"{drop.state})",
            )
        else:
            fresh = DropRecord(
                profile=profile_name,
                drop_id=drop_id,
                state="received",
                bucket=ref.bucket,
                manifest_key=key,
                version=obj.version,
                version_id=ref.version_id if ref.version_id else None,
                uploaded_at=obj.last_modified,
                sequencer=ref.sequencer,
                arrived_at=drop.data_time if drop is not None else obj.last_modified,
                updated_at=deps.clock(),
            )
            try:
                if drop is None:
                    if not deps.store.create_drop(fresh):
                        continue  # another delivery recorded it first: look again
                else:
                    deps.store.replace_drop(fresh, expected=drop)  # a new upload of the manifest: a retry
            except ConditionFailed:
                continue
            drop = fresh

        valid = _validate(drop, obj.body, deps)
        if isinstance(valid, list):
            return _fail(drop, valid, deps)
        try:
            return _decide(drop, valid, deps)
        except (ConditionFailed, RoundRunning):
            logger.info("lost a race; deciding again", extra={"profile": profile_name, "drop": drop_id})
            continue
    raise ConflictError(f"drop {drop_id} of {profile_name}: state kept changing; retrying later")


def _older_version(ref: DropRef, obj: Any, drop: DropRecord) -> bool:
    """Whether the event's version of the manifest was uploaded before the drop's recorded version. S3's
    sequencers order the writes of one key; without both (retune's own "Drop Ready" events before they carried
    it, drops recorded before it was kept) the versions' LastModified does, at S3's one-second resolution: a
    tie counts as newer, so that a new upload (the documented retry) always goes ahead."""
    if ref.sequencer and drop.sequencer:
        return sequencer_order(ref.sequencer, drop.sequencer) < 0
    return bool(obj.last_modified < drop.uploaded_at)


def refuse_drop_key(refused: BadDropKey, deps: StartRoundDeps) -> None:
    """A manifest uploaded under a key retune cannot take as a drop: tell the person who uploaded it (once per
    key), if it is in retune's bucket."""
    if refused.bucket != deps.data_bucket:
        return
    deps.metrics.count("DropKeysRefused")
    deps.alerts.publish(alerts.drop_refused(refused.bucket, refused.key, refused.errors))


def _read_manifest(ref: DropRef, deps: StartRoundDeps) -> tuple[str, Any]:
    for key in ref.keys:
        try:
            return key, deps.bucket.read(ref.bucket, key, ref.version_id, max_bytes=MANIFEST_MAX_BYTES)
        except NotFound:
            continue
    raise NotFound(f"s3://{ref.bucket}/{ref.keys[-1]} not found")


def _validate(drop: DropRecord, manifest_body: bytes, deps: StartRoundDeps) -> ValidDrop | list[str]:
    """Everything that must hold before a round starts. Returns the errors, each naming its field and fix."""
    errors: list[str] = []
    profile: Profile | None = None
    profile_version = ""
    key = profile_key(drop.profile)
    try:
        profile, profile_version = read_profile(deps.bucket, deps.data_bucket, drop.profile)
    except NotFound:
        errors.append(f"profile: {key} does not exist; upload the profile before its drops")
    except EmptyProfile:
        errors.append(f"profile: {key} is empty (0 bytes); upload the profile's JSON")
    except InvalidInput as exc:
        errors.extend(f"profile {e}" for e in exc.errors)
    manifest: Manifest | None = None
    if not manifest_body.strip():
        errors.append(
            f"manifest: {drop.manifest_key} is empty (0 bytes); "
            "upload the manifest's JSON (its channels and their files)"
        )
    else:
        try:
            manifest = parse_manifest(manifest_body)
        except InvalidInput as exc:
            errors.extend(f"manifest {e}" for e in exc.errors)
    if manifest is not None:
        prefix = f"datasets/{drop.profile}/{drop.drop_id}/"
        present = deps.bucket.keys(drop.bucket, prefix)
        missing = [f for f in manifest.files() if prefix + f not in present]
        if missing:
            shown = ", ".join(missing[:10]) + (f" and {len(missing) - 10} more" if len(missing) > 10 else "")
            errors.append(f"manifest channels: files not found under {prefix}: {shown}; upload them first")
        if profile is not None:
            needed = [*profile.training.channels, profile.evaluation.test_channel]
            absent = [c for c in needed if c not in manifest.channels]
            if absent:
                errors.append(
                    f"manifest channels: the profile needs channel(s) {absent}; "
                    f"the manifest has {sorted(manifest.channels)}"
                )
            else:
                errors.extend(_test_overlap(profile, manifest))
    if errors or profile is None or manifest is None:
        return errors
    digest = hashlib.sha256(manifest_body).hexdigest()
    return ValidDrop(profile, profile_version, manifest, digest)


def _test_overlap(profile: Profile, manifest: Manifest) -> list[str]:
    """The held-out test channel must share no file with a channel the trials train or validate on."""
    test = profile.evaluation.test_channel
    held_out = set(manifest.channels[test].files)
    shared = [
        f"{path} in {channel}"
        for channel in profile.training.channels  # the profile holds the test channel out of these
        for path in manifest.channels[channel].files
        if path in held_out
    ]
    if not shared:
        return []
    shown = ", ".join(shared[:10]) + (f" and {len(shared) - 10} more" if len(shared) > 10 else "")
    return [
        f"manifest channels.{test}: the test channel lists files the training channels also list ({shown}); "
        "the challenger would be scored on rows it trained on: list each file in one channel only"
    ]


def _decide(drop: DropRecord, valid: ValidDrop, deps: StartRoundDeps) -> StartResult:
    """One attempt at the queue's rule: a running round (or a paused profile) queues the drop (the newest queued
    drop wins); else the drop starts unless a newer drop already waits. Raises ConditionFailed/RoundRunning when
    it lost a race."""
    store = deps.store
    # With no round running, a drop older than the last round's is a late event (a parked one redriven,
    # EventBridge's retries): newer data already had its round. (While a round runs, the queue's rule applies.)
    latest = _latest_started_drop(drop, store) if store.get_active(drop.profile) is None else None
    if latest is not None and latest.newer_than(drop):
        # A late event (a parked one redriven, EventBridge's retries): newer data already had its round.
        store.replace_drop(
            drop.model_copy(update={"state": "superseded", "updated_at": deps.clock()}),
            expected=drop,
            leave_queue=_queue_names(drop, deps),
        )
        deps.metrics.count("DropsSuperseded")
        return StartResult(
            "superseded",
            drop.profile,
            drop.drop_id,
            detail=f"drop {latest.drop_id}, uploaded later, already started round {latest.round_seq}",
        )
    active = store.get_active(drop.profile)
    # A paused profile queues its drops as if a round were running; `retune resume` announces the queued one.
    paused = store.get_paused(drop.profile) if active is None else None
    queued = store.get_queued(drop.profile)
    other = (
        store.get_drop(drop.profile, queued.drop_id) if queued and queued.drop_id != drop.drop_id else None
    )
    if other is not None and other.state not in ("queued", "received"):
        # A queue entry left behind by a drop that failed or was superseded at its turn (as releases before
        # this one left them): no rival, and its record stays as it is.
        other = None
    if active is not None or paused is not None:
        why = f"round {active.seq} is running" if active is not None else "the profile is paused"
        if queued is None:
            store.enqueue(
                drop.model_copy(update={"state": "queued", "updated_at": deps.clock()}),
                expected_drop=drop,
                expected_queued=None,
            )
            return _queued(drop, deps, why)
        if queued.drop_id == drop.drop_id:
            if drop.state != "queued":
                store.replace_drop(
                    drop.model_copy(update={"state": "queued", "updated_at": deps.clock()}), expected=drop
                )
            return _queued(drop, deps, why)
        if other is None or drop.newer_than(other):
            store.enqueue(
                drop.model_copy(update={"state": "queued", "updated_at": deps.clock()}),
                expected_drop=drop,
                expected_queued=queued,
                displaced=other.model_copy(update={"state": "superseded", "updated_at": deps.clock()})
                if other
                else None,
                expected_displaced=other,
            )
            if other is not None:
                deps.metrics.count("DropsSuperseded")
            return _queued(drop, deps, f"{why}; supersedes drop {queued.drop_id}")
        return _supersede(drop, queued, deps)
    if queued is not None and queued.drop_id != drop.drop_id:
        if other is not None and other.newer_than(drop):
            return _supersede(drop, queued, deps)
        return _start(drop, valid, deps, superseded=other, dequeue=queued)
    return _start(drop, valid, deps, superseded=None, dequeue=queued)


def _latest_started_drop(drop: DropRecord, store: Store) -> DropRecord | None:
    """The drop of the profile's most recent round, if it is another drop than this one."""
    seq = store.last_round_seq(drop.profile)
    rnd = store.get_round(drop.profile, seq) if seq else None
    if rnd is None or rnd.drop_id == drop.drop_id:
        return None
    return store.get_drop(drop.profile, rnd.drop_id)


def _queued(drop: DropRecord, deps: StartRoundDeps, why: str) -> StartResult:
    deps.metrics.count("DropsQueued")
    logger.info("drop queued", extra={"profile": drop.profile, "drop": drop.drop_id, "reason": why})
    return StartResult("queued", drop.profile, drop.drop_id, detail=why)


def _supersede(drop: DropRecord, winner: QueuedRecord, deps: StartRoundDeps) -> StartResult:
    deps.store.supersede(
        drop.model_copy(update={"state": "superseded", "updated_at": deps.clock()}),
        expected_drop=drop,
        queued_winner=winner,
    )
    deps.metrics.count("DropsSuperseded")
    return StartResult(
        "superseded", drop.profile, drop.drop_id, detail=f"newer drop {winner.drop_id} is queued"
    )


def _plan_for(valid: ValidDrop, deps: StartRoundDeps) -> Plan:
    return next_plan(deps.store, valid.profile, valid.profile_version)


def _request(
    drop: DropRecord,
    profile: Profile,
    content_types: Mapping[str, str | None],
    plan: Plan,
    seq: int,
    deps: StartRoundDeps,
    name: str,
) -> dict[str, Any]:
    return tuning_request(
        profile=profile,
        content_types=content_types,
        plan=plan,
        seq=seq,
        drop_id=drop.drop_id,
        data_bucket=deps.data_bucket,
        role_arn=deps.role_arn,
        name=name,
    )


def write_channel_manifests(
    drop: DropRecord, manifest: Manifest, deps_bucket: BucketPort, data_bucket: str
) -> None:
    """One SageMaker manifest file per channel, listing exactly the channel's files (deterministic content)."""
    prefix = f"datasets/{drop.profile}/{drop.drop_id}/"
    for name, channel in manifest.channels.items():
        deps_bucket.write_json(
            data_bucket,
            channel_manifest_key(drop.profile, drop.drop_id, name),
            sagemaker_manifest(drop.bucket, prefix, list(channel.files)),
        )


def _start(
    drop: DropRecord,
    valid: ValidDrop,
    deps: StartRoundDeps,
    *,
    superseded: DropRecord | None,
    dequeue: QueuedRecord | None,
) -> StartResult:
    profile = valid.profile
    seq = deps.store.last_round_seq(profile.name) + 1
    # A name another profile's round holds is never taken (issue 17): the lookup below is written only if free.
    chosen = deps.store.free_job_name(profile.name, seq, round_job_names(profile.name, seq))
    if isinstance(chosen, list):
        held = " and ".join(f"{h.job_name} is round {h.seq} of profile {h.profile}'s" for h in chosen)
        return _fail(drop, [f"tuning job name: {held}; rename profile {profile.name}"], deps)
    name, holds_name = chosen
    plan = _plan_for(valid, deps)
    content_types = content_types_of(valid.manifest)
    request = _request(drop, profile, content_types, plan, seq, deps, name)
    try:
        validate_request("CreateHyperParameterTuningJob", request, service_model=deps.service_model)
    except InvalidRequest as exc:
        return _fail(drop, [f"tuning job request {e}" for e in exc.errors], deps)
    incumbents = round_incumbents(deps.store, profile, plan, name)
    errors = [
        f"incumbent job request {e}"
        for r in _incumbent_requests(drop, profile, content_types, plan, seq, deps, name, incumbents)
        for e in _request_errors("CreateTrainingJob", r, deps)
    ]
    if errors:
        return _fail(drop, errors, deps)
    write_channel_manifests(drop, valid.manifest, deps.bucket, deps.data_bucket)
    now = deps.clock()
    rnd = RoundRecord(
        profile=profile.name,
        seq=seq,
        drop_id=drop.drop_id,
        tuning_job_name=name,
        status="starting",
        plan=plan,
        profile_version=valid.profile_version,
        objective_metric=profile.objective.metric_name,
        objective_type=profile.objective.type,
        epochs_metric=profile.metrics.epochs,
        compute_metric=profile.metrics.compute,
        hyperparameter_names=sorted(hyperparameter_names(profile)),
        budget_max_jobs=profile.budget.max_jobs,
        started_at=now,
        last_event_at=now,
        # an episode of short capacity goes on with this attempt, whichever drop it is for
        capacity_since=dequeue.capacity_since if dequeue else None,
        capacity_refusals=dequeue.capacity_refusals if dequeue else 0,
        incumbents=incumbents,
    )
    started = drop.model_copy(
        update={
            "state": "started",
            "round_seq": seq,
            # The manifest stays in S3 at its version (up to 1 MiB: over DynamoDB's item limit): the record keeps
            # its digest and what the round's requests need of it.
            "manifest_digest": valid.manifest_digest,
            "content_types": content_types,
            "errors": [],
            "waiting_for_capacity": False,
            "updated_at": now,
        }
    )
    deps.store.start_round(
        rnd,
        started,
        expected_drop=drop,
        lookup=None if holds_name else JobLookup(job_name=name, kind="tuning", profile=profile.name, seq=seq),
        superseded=superseded.model_copy(update={"state": "superseded", "updated_at": now})
        if superseded
        else None,
        expected_superseded=superseded,
        dequeue=dequeue,
    )
    if superseded is not None:
        deps.metrics.count("DropsSuperseded")
    return _launch(rnd, started, profile, deps)


def _request_errors(operation: str, request: dict[str, Any], deps: StartRoundDeps) -> list[str]:
    try:
        validate_request(operation, request, service_model=deps.service_model)
    except InvalidRequest as exc:
        return list(exc.errors)
    return []


def _incumbent_requests(
    drop: DropRecord,
    profile: Profile,
    content_types: Mapping[str, str | None],
    plan: Plan,
    seq: int,
    deps: StartRoundDeps,
    tuning_job: str,
    incumbents: list[Incumbent],
) -> list[dict[str, Any]]:
    return incumbent_requests(
        profile=profile,
        content_types=content_types,
        plan=plan,
        seq=seq,
        drop_id=drop.drop_id,
        data_bucket=deps.data_bucket,
        role_arn=deps.role_arn,
        tuning_job=tuning_job,
        incumbents=incumbents,
    )


def _launch(rnd: RoundRecord, drop: DropRecord, profile: Profile, deps: StartRoundDeps) -> StartResult:
    """Launch a round in status `starting`: first its incumbents (plain training jobs), and once every one of
    them has ended (RecordTrial announces it, Reconcile catches a lost announcement), the tuning job, with the
    same-drop target their scores give; then the round is running. Every job has a deterministic name: a replay
    meets ResourceInUse and adopts it."""
    content_types = drop.channel_content_types() or {}
    since = rnd.started_at
    plan = rnd.plan
    if rnd.incumbents:
        trials = deps.store.trials(rnd.profile, rnd.seq)
        launched = _launch_incumbents(rnd, drop, profile, content_types, trials, deps)
        if isinstance(launched, StartResult):
            return launched
        # `retune stop` may have looked for these jobs before they existed or before SageMaker showed them, or
        # recorded one never created after this run read the round (which then skipped it as recorded), and
        # Reconcile closed the round since: nothing would look again. A consistent read after the creates returned,
        # before any tuning job: a stop written after it finds the jobs, and one written before it is seen here,
        # and the jobs are stopped.
        latest = deps.store.get_round(rnd.profile, rnd.seq)
        if latest is not None and stopped_by_operator(latest):
            return _stopped_meanwhile(latest, deps, launched)
        trials = deps.store.trials(rnd.profile, rnd.seq)
        if not incumbents_ended(rnd, trials):
            return StartResult(
                "started",
                rnd.profile,
                rnd.drop_id,
                seq=rnd.seq,
                tuning_job=rnd.tuning_job_name,
                detail=f"{len(rnd.incumbents)} incumbent(s) training; the tuning job starts when they have ended",
            )
        plan = launch_plan(rnd, trials)
        # The retries' clock starts when the last incumbent ended (the round waited for them meanwhile).
        ends = [t.ended_at or t.updated_at for t in trials if t.source == "incumbent"]
        since = max([since, *ends])
    request = _request(drop, profile, content_types, plan, rnd.seq, deps, rnd.tuning_job_name)
    errors = _request_errors("CreateHyperParameterTuningJob", request, deps)
    if errors:
        return _launch_failed(rnd, drop, [f"tuning job request {e}" for e in errors], deps)
    extra = {"profile": rnd.profile, "drop": rnd.drop_id, "round": rnd.seq, "tuning_job": rnd.tuning_job_name}
    what = f"the tuning job {rnd.tuning_job_name} of round {rnd.seq}"
    try:
        deps.sagemaker.create_tuning_job(request)
        deps.metrics.count("RoundsStarted")
        logger.info("tuning job created", extra=extra)
    except AlreadyExists:
        _check_same_drop(rnd, deps)
        logger.info("tuning job already exists: a replay", extra=extra)
    except LimitExceeded as exc:
        if rnd.incumbents:
            # The incumbents ran: the round keeps them and waits (Lambda's retries, then Reconcile's).
            raise
        return _wait_for_capacity(rnd, drop, exc, deps)
    except TransientError as exc:
        if deps.clock() - since <= timedelta(seconds=LAUNCH_RETRY_SECONDS):
            raise
        minutes = LAUNCH_RETRY_SECONDS // 60
        return _launch_failed(
            rnd,
            drop,
            [
                f"launch: SageMaker did not take {what} in {minutes} minutes of retries; the last answer: {exc}"
            ],
            deps,
        )
    except PermanentError as exc:
        # First a job that exists: the first create may have taken effect with its answer lost.
        if not _job_exists(rnd, deps):
            return _launch_failed(rnd, drop, [f"launch: SageMaker refused {what}: {exc}"], deps)
        _check_same_drop(rnd, deps)
        logger.info("tuning job exists though its create was refused: adopted", extra=extra)
    try:
        deps.store.save_round(
            rnd.model_copy(update={"status": "running", "plan": plan}), expected_status="starting"
        )
    except ConditionFailed:
        # CloseRound (or a concurrent replay) moved the round on: nothing to mark. Or `retune stop` wrote it
        # `stopping` after this run read it `starting` (and Reconcile may have closed it since): the job just
        # created is stopped here (the stop may have looked before it existed).
        latest = deps.store.get_round(rnd.profile, rnd.seq)
        if latest is not None and stopped_by_operator(latest):
            return _stopped_meanwhile(latest, deps)
    return StartResult("started", rnd.profile, rnd.drop_id, seq=rnd.seq, tuning_job=rnd.tuning_job_name)


def _stopped_meanwhile(rnd: RoundRecord, deps: StartRoundDeps, created: Collection[str] = ()) -> StartResult:
    """A round `retune stop` stopped (`stopping`, or closed since) while this run launched its jobs: stop its
    tuning job and every incumbent job still InProgress (a repeat, or a job already Stopping or ended, stops
    nothing; a job this run `created` that SageMaker does not show yet, and throttling, are raised for Lambda's
    retry, which comes back here through `_resume`). A `stopping` round is closed by the tuning job's Stopped
    event (CloseRound) or by Reconcile once its incumbents have ended; a closed one stays as it was closed."""
    extra = {"profile": rnd.profile, "round": rnd.seq, "tuning_job": rnd.tuning_job_name}
    asked = stop_tuning_job(rnd, deps.sagemaker)
    if asked:
        logger.info("tuning job stopped: the round was stopped as it started", extra=extra)
    incumbents = [
        job.incumbent.job_name
        for job in stop_incumbents_in_progress(rnd, deps.sagemaker, deps.store, deps.clock, created)
        if job.asked
    ]
    if incumbents:
        logger.info(
            "incumbent jobs stopped: the round was stopped as they were created",
            extra={**extra, "training_jobs": incumbents},
        )
    state = "is stopping" if rnd.status == "stopping" else f"was stopped and closed ({rnd.status})"
    detail = f"round {rnd.seq} {state} (retune stop); its tuning job " + (
        "was asked to stop" if asked else "is not running"
    )
    if incumbents:
        detail += f"; incumbent job(s) {', '.join(incumbents)} asked to stop"
    return StartResult(
        "already_started",
        rnd.profile,
        rnd.drop_id,
        seq=rnd.seq,
        tuning_job=rnd.tuning_job_name,
        detail=detail,
    )


def _launch_incumbents(
    rnd: RoundRecord,
    drop: DropRecord,
    profile: Profile,
    content_types: Mapping[str, str | None],
    trials: list[TrialRecord],
    deps: StartRoundDeps,
) -> StartResult | list[str]:
    """Create each incumbent's training job that has no trial record yet (a recorded one exists); returns the
    jobs this run created or adopted (an earlier attempt's create took effect, its answer lost). A refused one is
    recorded as a failed trial and the round goes on without it; no capacity before any was created waits as a
    round's start does; after some were, the error is raised for Lambda and then Reconcile to retry."""
    recorded = {t.training_job_name for t in trials}
    launched: list[str] = []
    requests = _incumbent_requests(
        drop, profile, content_types, rnd.plan, rnd.seq, deps, rnd.tuning_job_name, rnd.incumbents
    )
    for index, (incumbent, request) in enumerate(zip(rnd.incumbents, requests, strict=True)):
        if incumbent.job_name in recorded:
            continue
        extra = {"profile": rnd.profile, "round": rnd.seq, "training_job": incumbent.job_name}
        try:
            deps.sagemaker.create_training_job(request)
            launched.append(incumbent.job_name)
            deps.metrics.count("IncumbentsStarted")
            logger.info("incumbent job created", extra=extra)
        except AlreadyExists:
            _check_same_drop_job(rnd, incumbent.job_name, deps)
            launched.append(incumbent.job_name)
        except LimitExceeded as exc:
            if index == 0 and not recorded:
                return _wait_for_capacity(rnd, drop, exc, deps)
            raise
        except TransientError as exc:
            if deps.clock() - rnd.started_at <= timedelta(seconds=LAUNCH_RETRY_SECONDS):
                raise
            _incumbent_refused(rnd, incumbent, f"SageMaker did not take it in retries: {exc}", deps)
        except PermanentError as exc:
            if not _training_job_exists(incumbent.job_name, deps):
                _incumbent_refused(rnd, incumbent, f"SageMaker refused it: {exc}", deps)
            else:
                _check_same_drop_job(rnd, incumbent.job_name, deps)
                launched.append(incumbent.job_name)
    return launched


def _incumbent_refused(rnd: RoundRecord, incumbent: Incumbent, why: str, deps: StartRoundDeps) -> None:
    """An incumbent SageMaker will not run: a failed trial of the round (shown with the round's trials), which
    goes on without it."""
    trial = unrun_trial(rnd, incumbent, "Failed", why[:ERROR_MAX_CHARS], deps.clock())
    try:
        deps.store.put_trial(trial)
    except ConditionFailed:
        return  # recorded meanwhile (its job exists after all, or a concurrent attempt)
    deps.metrics.count("IncumbentsFailed")
    logger.warning(
        "incumbent refused; the round goes on without it",
        extra={"profile": rnd.profile, "round": rnd.seq, "training_job": incumbent.job_name, "error": why},
    )


def _training_job_exists(name: str, deps: StartRoundDeps) -> bool:
    try:
        deps.sagemaker.describe_training_job(name)
    except PermanentError:
        return False
    return True


def _check_same_drop_job(rnd: RoundRecord, name: str, deps: StartRoundDeps) -> None:
    """An incumbent's training job of this name exists: it is this round's only if it reads this drop's data (as
    `_check_same_drop` says for the tuning job)."""
    described = deps.sagemaker.describe_training_job(name)
    uris = [
        c.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri", "")
        for c in described.get("InputDataConfig") or []
    ]
    expected = f"/manifests/{rnd.profile}/{rnd.drop_id}/"
    if uris and not all(expected in uri for uri in uris):
        raise PermanentError(
            f"training job {name} exists but reads {uris[0]}, not drop {rnd.drop_id}: "
            "retune's store lost its records of earlier rounds; restore the state table or start the profile afresh"
        )


def _wait_for_capacity(
    rnd: RoundRecord, drop: DropRecord, exc: LimitExceeded, deps: StartRoundDeps
) -> StartResult:
    """SageMaker has no capacity for the round: undo its start and let the profile's newest drop wait in the
    queue, retried by Reconcile less and less often; one alert for the episode, however many drops and refusals
    it lasts (the episode's start goes from the round to the queue entry and back)."""
    store, now = deps.store, deps.clock()
    since = rnd.capacity_since or now
    refusals = rnd.capacity_refusals + 1
    wait = timedelta(minutes=CAPACITY_RETRY_MINUTES[min(refusals, len(CAPACITY_RETRY_MINUTES)) - 1])

    def waiting(waiter: DropRecord) -> QueuedRecord:
        return QueuedRecord(
            profile=waiter.profile,
            drop_id=waiter.drop_id,
            uploaded_at=waiter.uploaded_at,
            capacity_since=since,
            capacity_refusals=refusals,
            not_before=now + wait,
        )

    queued = store.get_queued(rnd.profile)
    other = store.get_drop(rnd.profile, queued.drop_id) if queued and queued.drop_id != drop.drop_id else None
    if other is not None and other.state not in ("queued", "received"):
        other = None  # a stale entry: no rival
    extra = {"profile": rnd.profile, "drop": rnd.drop_id, "round": rnd.seq}
    if other is not None and other.newer_than(drop):
        # A newer drop queued while this one was starting: it waits for the capacity instead.
        store.release_for_capacity(
            rnd,
            drop.model_copy(update={"state": "superseded", "round_seq": None, "updated_at": now}),
            expected_drop=drop,
            queued=waiting(other),
            expected_queued=queued,
        )
        result = StartResult(
            "superseded",
            rnd.profile,
            rnd.drop_id,
            detail=f"SageMaker has no capacity; newer drop {other.drop_id} waits for it: {exc}",
        )
        deps.metrics.count("DropsSuperseded")
    else:
        store.release_for_capacity(
            rnd,
            drop.model_copy(
                update={"state": "queued", "round_seq": None, "waiting_for_capacity": True, "updated_at": now}
            ),
            expected_drop=drop,
            queued=waiting(drop),
            expected_queued=queued,
            displaced=other.model_copy(update={"state": "superseded", "updated_at": now}) if other else None,
            expected_displaced=other,
        )
        result = StartResult("waiting_for_capacity", rnd.profile, rnd.drop_id, seq=rnd.seq, detail=str(exc))
        if other is not None:
            deps.metrics.count("DropsSuperseded")
    deps.metrics.count("RoundsWaitingForCapacity")
    logger.warning("sagemaker limit reached; the newest drop waits", extra={**extra, "refusals": refusals})
    deps.alerts.publish(alerts.limit_exceeded(rnd.profile, rnd.drop_id, rnd.seq, str(exc), since))
    return result


def _job_exists(rnd: RoundRecord, deps: StartRoundDeps) -> bool:
    try:
        deps.sagemaker.describe_tuning_job(rnd.tuning_job_name)
    except PermanentError:  # NotFound; or refused too, when no job can be told to exist
        return False
    return True


def _launch_failed(
    rnd: RoundRecord, drop: DropRecord, errors: list[str], deps: StartRoundDeps
) -> StartResult:
    """The round will not start: its records go, the drop fails (named in an alert), and the profile is free for
    its next drop (a queued one is started by Reconcile's next run)."""
    failed = drop.model_copy(
        update={
            "state": "failed",
            "failed_at": "launch",
            "round_seq": None,
            "errors": _bounded(errors),
            "updated_at": deps.clock(),
        }
    )
    deps.store.abandon_start(rnd, failed, expected_drop=drop)
    deps.metrics.count("DropsFailed")
    logger.warning(
        "round launch failed",
        extra={"profile": rnd.profile, "drop": rnd.drop_id, "round": rnd.seq, "errors": errors},
    )
    deps.alerts.publish(_failed_alert(failed))
    return StartResult(
        "failed", rnd.profile, rnd.drop_id, seq=rnd.seq, errors=failed.errors, detail=errors[0]
    )


def _check_same_drop(rnd: RoundRecord, deps: StartRoundDeps) -> None:
    """A tuning job of this name exists: it is this round's only if it reads this drop's data. Otherwise retune's
    records were lost while SageMaker kept its jobs, and adopting it would pass another drop's round off as this
    one's: stop, for a person to look (the event is retried, then parked with an alert)."""
    described = deps.sagemaker.describe_tuning_job(rnd.tuning_job_name)
    channels = (described.get("TrainingJobDefinition") or {}).get("InputDataConfig") or []
    uris = [c.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri", "") for c in channels]
    expected = f"/manifests/{rnd.profile}/{rnd.drop_id}/"
    if uris and not all(expected in uri for uri in uris):
        raise PermanentError(
            f"tuning job {rnd.tuning_job_name} exists but reads {uris[0]}, not drop {rnd.drop_id}: "
            "retune's store lost its records of earlier rounds; restore the state table or start the profile afresh"
        )


def _resume(drop: DropRecord, deps: StartRoundDeps) -> StartResult:
    """A repeated event for a started drop: finish the launch if the first attempt stopped before it."""
    assert drop.round_seq is not None
    rnd = deps.store.get_round(drop.profile, drop.round_seq)
    if rnd is not None and stopped_by_operator(rnd):
        # Lambda's retry of a run whose stops of the jobs it created failed (the round may be closed since).
        return _stopped_meanwhile(rnd, deps)
    if rnd is None or rnd.status != "starting":
        return StartResult(
            "already_started",
            drop.profile,
            drop.drop_id,
            seq=drop.round_seq,
            tuning_job=rnd.tuning_job_name if rnd else None,
        )
    key = profile_key(drop.profile)
    try:
        profile, _ = read_profile(deps.bucket, deps.data_bucket, drop.profile)
    except NotFound:
        return _launch_failed(rnd, drop, [f"profile: {key} does not exist; upload it again"], deps)
    except EmptyProfile:
        return _launch_failed(
            rnd, drop, [f"profile: {key} is empty (0 bytes); upload the profile's JSON"], deps
        )
    except InvalidInput as exc:
        return _launch_failed(rnd, drop, [f"profile {e}" for e in exc.errors], deps)
    return _launch(rnd, drop, profile, deps)


def _bounded(errors: list[str]) -> list[str]:
    """The first errors, each cut to a readable length: all of them could pass DynamoDB's item limit and SNS's
    message limit (a manifest of 1 MiB can hold tens of thousands of unknown fields)."""
    kept = [e if len(e) <= ERROR_MAX_CHARS else e[: ERROR_MAX_CHARS - 3] + "..." for e in errors[:MAX_ERRORS]]
    if len(errors) > MAX_ERRORS:
        kept.append(
            f"... and {len(errors) - MAX_ERRORS} more errors: fix these and upload the manifest again to see the rest"
        )
    return kept


def _queue_names(drop: DropRecord, deps: StartRoundDeps) -> bool:
    queued = deps.store.get_queued(drop.profile)
    return queued is not None and queued.drop_id == drop.drop_id


def _leave_queue(drop: DropRecord, deps: StartRoundDeps) -> None:
    """A drop that failed or was superseded leaves the queue in the same write; one the queue still names (left
    so by a release before this one) leaves it now, or Reconcile would announce it on every run."""
    if _queue_names(drop, deps):
        deps.store.leave_queue(drop.profile, drop.drop_id)


def _fail(drop: DropRecord, errors: list[str], deps: StartRoundDeps) -> StartResult:
    errors = _bounded(errors)
    failed = drop.model_copy(
        update={"state": "failed", "failed_at": "validation", "errors": errors, "updated_at": deps.clock()}
    )
    deps.store.replace_drop(failed, expected=drop, leave_queue=_queue_names(drop, deps))
    deps.metrics.count("DropsFailed")
    logger.warning(
        "drop failed validation", extra={"profile": drop.profile, "drop": drop.drop_id, "errors": errors}
    )
    deps.alerts.publish(_failed_alert(failed))
    return StartResult("failed", drop.profile, drop.drop_id, errors=errors, detail="; ".join(errors))


def _failed_alert(drop: DropRecord) -> alerts.Alert:
    build = alerts.launch_failed if drop.failed_at == "launch" else alerts.drop_failed
    return build(drop.profile, drop.drop_id, drop.version, drop.manifest_key, drop.errors)


def _fail_unrecorded(ref: DropRef, deps: StartRoundDeps, profile: str, drop_id: str) -> StartResult:
    """The manifest named by the event no longer exists (deleted, or a version that is gone)."""
    errors = [
        f"manifest: s3://{ref.bucket}/{ref.keys[-1]} (version {ref.version_id or 'latest'}) does not exist"
    ]
    deps.metrics.count("DropsFailed")
    version = ref.version_id or ref.etag or "unknown"
    deps.alerts.publish(alerts.drop_failed(profile, drop_id, version, ref.keys[-1], errors))
    return StartResult("failed", profile, drop_id, errors=errors, detail=errors[0])
