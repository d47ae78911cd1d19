"""Promote: the evaluation ended; register the challenger and promote it only if it beat the champion on the same
data. Also: a person approved a package by hand, and an endpoint finished (or failed) taking a new champion.

Exactly once: the package is created with a ClientToken derived from the round (a repeat gets the same package);
the round's decision, the champion and the release of ACTIVE are one transaction, conditional on the round still
evaluating and the champion unchanged, so the champion is never half-promoted. Deployment, the alert and the
queued drop's announcement follow, each idempotent, and are redone by a repeat of the event.

Ownership: a package becomes a profile's champion only if a round of that profile records it (retune registered
it for the profile) and its group is the profile's (tagged retune:profile=<profile> when retune created it); an
endpoint is updated only if it carries that tag too (or the profile's rounds show retune deployed to it before it
tagged endpoints: it is tagged then).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from retune import alerts
from retune.errors import (
    AccessDenied,
    AlreadyExists,
    ConditionFailed,
    InvalidInput,
    InvalidRequest,
    LimitExceeded,
    NotFound,
    TransientError,
)
from retune.naming import client_token, evaluation_job_of, package_group
from retune.policy import KNOBS, plan_next_round
from retune.ports import AlertPort, Clock, EventBusPort, KeepingPort, MetricsPort, NoMetrics, RegistryPort
from retune.profile import Profile, parse_profile
from retune.promotion import judge
from retune.records import (
    CHAMPION_HISTORY_MAX,
    ChampionChange,
    ChampionRecord,
    Decision,
    Evaluation,
    RoundRecord,
)
from retune.requests import (
    REGISTRY_PREFIX,
    TAG_EXPIRABLE,
    TAG_PROFILE,
    TAG_ROUND,
    endpoint_config_request,
    model_package_group_request,
    model_package_request,
    model_request,
    registry_key,
    s3_uri,
)
from retune.store import SETTLED_DEPLOYMENTS, Store
from retune.use_cases.evaluation import evaluation_request
from retune.use_cases.finish import announce_queued_drop, release_if_held

logger = logging.getLogger(__name__)

PROFILE_MAX_BYTES = 262_144
TERMINAL_JOB = frozenset({"Completed", "Failed", "Stopped"})
# A profile missing when its round's evaluation ends is looked for again (it may be being replaced) for this long
# after the evaluation ended; then the round is decided "not evaluated".
PROFILE_MISSING_GRACE = timedelta(hours=1)
# The champion changed by hand during this many evaluations of one round: the round is not evaluated.
MAX_EVALUATIONS = 3


@dataclass
class PromoteDeps:
    store: Store
    sagemaker: RegistryPort
    bucket: KeepingPort
    alerts: AlertPort
    bus: EventBusPort
    clock: Clock
    data_bucket: str
    role_arn: str
    region: str | None = None
    metrics: MetricsPort = field(default_factory=NoMetrics)


class PromoteResult(NamedTuple):
    status: Literal[
        "approved",
        "rejected",
        "pending_manual",
        "not_evaluated",
        "duplicate",
        "ignored",
        "running",
        "champion_set",
        "recorded",
        "evaluating_again",
    ]
    profile: str | None = None
    seq: int | None = None
    model_package_arn: str | None = None
    detail: str = ""


def evaluation_ended(job_name: str, deps: PromoteDeps) -> PromoteResult:
    """The evaluation job of a round ended: decide, register, promote or not, deploy, alert, release."""
    lookup = deps.store.get_lookup(job_name)
    if lookup is None or lookup.kind != "evaluation":
        deps.metrics.count("ForeignJobsIgnored")
        return PromoteResult("ignored", detail=f"{job_name} is not a retune evaluation")
    rnd = deps.store.get_round(lookup.profile, lookup.seq)
    if rnd is None:
        raise TransientError(f"round {lookup.seq} of {lookup.profile} is not recorded yet")
    if rnd.status == "decided":
        stored = _stored_profile(rnd.profile, deps)
        profile, version = stored if stored else (None, None)
        finish_decision(rnd, profile, deps, version)  # a repeat redoes every step after the decision's write
        return PromoteResult("duplicate", rnd.profile, rnd.seq, detail="already decided")
    if rnd.status != "evaluating" or rnd.evaluation is None:
        return PromoteResult("ignored", rnd.profile, rnd.seq, detail=f"round is {rnd.status}")
    if rnd.evaluation.job_name != job_name:
        return PromoteResult(
            "ignored", rnd.profile, rnd.seq, detail=f"{job_name} was superseded by {rnd.evaluation.job_name}"
        )

    described = deps.sagemaker.describe_training_job(job_name)
    status = str(described.get("TrainingJobStatus"))
    if status not in TERMINAL_JOB:
        return PromoteResult("running", rnd.profile, rnd.seq, detail=f"evaluation is {status}")
    scores = {m["MetricName"]: float(m["Value"]) for m in described.get("FinalMetricDataList", []) or []}
    evaluation = rnd.evaluation.model_copy(
        update={
            "status": status,
            "challenger_score": _finite(scores.get("challenger_score")),
            "champion_score": _finite(scores.get("champion_score")),
            "failure_reason": described.get("FailureReason"),
        }
    )
    if status != "Completed":
        reason = f"evaluation {status}: {described.get('FailureReason') or 'no reason given'}"
        return _not_evaluated(rnd, evaluation, reason, None, None, deps)
    try:
        profile, version = _read_profile(rnd.profile, deps)
    except InvalidInput as exc:
        reason = f"the profile profiles/{rnd.profile}.json is invalid: {'; '.join(exc.errors)}"
        return _not_evaluated(rnd, evaluation, reason, None, None, deps)
    except NotFound:
        ended = _evaluation_end(described, rnd)
        if deps.clock() - ended < PROFILE_MISSING_GRACE:
            # Being replaced, perhaps: Lambda's retries and Reconcile look again.
            raise TransientError(
                f"profile {rnd.profile} is missing; round {rnd.seq} waits for it until "
                f"{ended + PROFILE_MISSING_GRACE:%Y-%m-%dT%H:%M:%SZ}"
            ) from None
        reason = (
            f"the profile profiles/{rnd.profile}.json has been missing since the evaluation ended "
            f"({ended:%Y-%m-%dT%H:%M:%SZ}); upload it and drop again"
        )
        return _not_evaluated(rnd, evaluation, reason, None, None, deps)

    champion = deps.store.get_champion(rnd.profile)
    evaluated = _evaluated_champion(rnd.evaluation, described, champion)
    if evaluated != (champion.model_package_arn if champion else None):
        # The champion changed by hand while the job ran: its scores say nothing about the champion that holds.
        return _evaluate_again(rnd, evaluation, profile, version, champion, deps)
    evaluation = evaluation.model_copy(update={"champion_model_package": evaluated})
    incomplete = _incomplete(scores, evaluated)
    if incomplete:
        return _not_evaluated(rnd, evaluation, incomplete, profile, version, deps)
    refused = _own_group(profile, champion, deps)
    if refused:
        return _not_evaluated(
            rnd, evaluation, f"promotion.model_package_group: {refused}", profile, version, deps
        )

    verdict = judge(profile, evaluation.challenger_score, evaluation.champion_score)
    registered = _register(rnd, profile, evaluation, verdict, deps)
    if registered is None:
        reason = f"the challenger's model {rnd.best_model_artifact} no longer exists: nothing to register"
        return _not_evaluated(rnd, evaluation, reason, profile, version, deps)
    package_arn, artifact = registered
    now = deps.clock()
    deployment = None
    if verdict.outcome == "approved" and profile.promotion.endpoint is not None:
        # Wanted from the decision on, in its write: Reconcile deploys it if every attempt after this one fails.
        deployment = {
            "endpoint": profile.promotion.endpoint.name,
            "config": endpoint_config_request(profile=profile, seq=rnd.seq, tuning_job=rnd.tuning_job_name)[
                "EndpointConfigName"
            ],
            "status": "Pending",
            "model_package_arn": package_arn,
        }
    decided = rnd.model_copy(
        update={
            "status": "decided",
            "evaluation": evaluation,
            "decision": Decision(
                outcome=verdict.outcome, reason=verdict.reason, model_package_arn=package_arn, decided_at=now
            ),
            "deployment": deployment,
        }
    )
    crowned = None
    if verdict.outcome == "approved":
        crowned = _crowned(
            champion,
            rnd.profile,
            package_arn,
            artifact,
            rnd.seq,
            evaluation.challenger_score,
            "retune",
            verdict.reason,
            now,
        )
    return _decide(decided, profile, version, deps, crowned, champion) or PromoteResult(
        verdict.outcome, rnd.profile, rnd.seq, package_arn, verdict.reason
    )


def _not_evaluated(
    rnd: RoundRecord,
    evaluation: Evaluation,
    reason: str,
    profile: Profile | None,
    version: str | None,
    deps: PromoteDeps,
) -> PromoteResult:
    """Decide the round "not evaluated": nothing registered or promoted, the round_failed alert, ACTIVE released."""
    decided = rnd.model_copy(
        update={
            "status": "decided",
            "evaluation": evaluation,
            "decision": Decision(outcome="not_evaluated", reason=reason, decided_at=deps.clock()),
        }
    )
    return _decide(decided, profile, version, deps) or PromoteResult(
        "not_evaluated", rnd.profile, rnd.seq, detail=reason
    )


def _evaluation_end(described: dict[str, Any], rnd: RoundRecord) -> datetime:
    ended = described.get("TrainingEndTime") or described.get("LastModifiedTime")
    return ended if isinstance(ended, datetime) else (rnd.ended_at or rnd.started_at)


def _evaluated_champion(
    evaluation: Evaluation, described: dict[str, Any], champion: ChampionRecord | None
) -> str | None:
    """The champion package the evaluation job scored: none when the job (as SageMaker describes it) has no
    champion channel; else the one its round recorded with the job. A job that ended before CloseRound recorded
    it (the round's evaluation still Pending) scored the current champion if its channel reads the champion's
    model; otherwise an earlier one."""
    channels = described.get("InputDataConfig")
    scored = next((c for c in channels or [] if c.get("ChannelName") == "champion"), None)
    if channels is not None and scored is None:
        return None
    if evaluation.status != "Pending" or scored is None:
        return evaluation.champion_model_package
    uri = str(scored.get("DataSource", {}).get("S3DataSource", {}).get("S3Uri"))
    if champion is not None and champion.model_artifact == uri:
        return champion.model_package_arn
    return f"the champion whose model is {uri}"


def _incomplete(scores: dict[str, float], champion: str | None) -> str | None:
    """Why the scores allow no decision: a score missing or not a finite number. None when they do."""
    wanted = ["challenger_score", *(["champion_score"] if champion else [])]
    for name in wanted:
        value = scores.get(name)
        if value is None or not math.isfinite(value):
            got = f"no {name}" if value is None else f"{name} {value}"
            whose = f" (champion {champion})" if name == "champion_score" else ""
            return (
                f"the evaluation reported {got}{whose}: no decision on an incomplete evaluation; the evaluation "
                "image prints a finite challenger_score and, with a champion channel, champion_score "
                "(docs/trainer-contract.md)"
            )
    return None


def _evaluate_again(
    rnd: RoundRecord,
    evaluation: Evaluation,
    profile: Profile,
    version: str | None,
    champion: ChampionRecord | None,
    deps: PromoteDeps,
) -> PromoteResult:
    """The champion changed by hand during the evaluation: score the challenger again, against the champion that
    holds now, in a new job (a repeat meets "already exists"); at most MAX_EVALUATIONS times."""
    assert rnd.evaluation is not None
    now_holding = champion.model_package_arn if champion else None
    attempt = rnd.evaluation.attempt + 1
    drop = deps.store.get_drop(rnd.profile, rnd.drop_id)
    if attempt > MAX_EVALUATIONS or drop is None or drop.channel_content_types() is None:
        reason = (
            f"the champion changed by hand during each of its {MAX_EVALUATIONS} evaluations (now {now_holding}); "
            "drop again once it holds"
            if attempt > MAX_EVALUATIONS
            else "the champion changed by hand during the evaluation, and the drop could not be read to evaluate again"
        )
        return _not_evaluated(rnd, evaluation, reason, profile, version, deps)
    champion = _keep_champion(rnd.profile, deps, champion)
    again = rnd.model_copy(
        update={
            "evaluation": Evaluation(
                job_name=evaluation_job_of(rnd.tuning_job_name, attempt),
                status="InProgress",
                champion_model_package=now_holding,
                attempt=attempt,
            )
        }
    )
    request = evaluation_request(
        again, profile, drop, champion, data_bucket=deps.data_bucket, role_arn=deps.role_arn
    )
    try:
        deps.sagemaker.create_training_job(request)
    except AlreadyExists:
        pass  # a repeat: the job was created before its record was written
    except InvalidRequest as exc:
        reason = f"the champion changed by hand; evaluating again is refused: {'; '.join(exc.errors)}"
        return _not_evaluated(rnd, evaluation, reason, profile, version, deps)
    except LimitExceeded as exc:
        raise TransientError(f"evaluating round {rnd.seq} again waits for SageMaker capacity: {exc}") from exc
    assert again.evaluation is not None
    name = again.evaluation.job_name
    try:
        deps.store.start_evaluation_again(again)
    except ConditionFailed:
        return PromoteResult("duplicate", rnd.profile, rnd.seq, detail="decided by another invocation")
    deps.metrics.count("EvaluationsRepeated")
    detail = (
        f"the champion changed from {rnd.evaluation.champion_model_package or 'none'} to {now_holding or 'none'} "
        f"during the evaluation: evaluating again ({name})"
    )
    logger.info("evaluating again", extra={"profile": rnd.profile, "round": rnd.seq, "detail": detail})
    return PromoteResult("evaluating_again", rnd.profile, rnd.seq, detail=detail)


def _decide(
    decided: RoundRecord,
    profile: Profile | None,
    version: str | None,
    deps: PromoteDeps,
    crowned: ChampionRecord | None = None,
    replaces: ChampionRecord | None = None,
) -> PromoteResult | None:
    """Write the decision (and the champion `crowned` in place of `replaces`, if it changes) in one transaction,
    conditional on the round still evaluating, then finish. The round keeps ACTIVE until finish_decision
    releases it: a run that dies in between leaves a decided round holding ACTIVE, which a repeat of the event
    or Reconcile finishes. None when this invocation made the decision; the duplicate's result when another
    invocation did."""
    try:
        deps.store.decide(decided, champion=crowned, replaces=replaces)
    except ConditionFailed:
        # Another invocation decided first (or the champion moved by hand meanwhile): look again next time.
        current = deps.store.get_round(decided.profile, decided.seq)
        if current is not None and current.status == "decided":
            finish_decision(current, profile, deps, version)
            arn = current.decision.model_package_arn if current.decision else None
            return PromoteResult(
                "duplicate", decided.profile, decided.seq, arn, "decided by another invocation"
            )
        raise TransientError(
            f"round {decided.seq} of {decided.profile}: the champion changed meanwhile"
        ) from None
    assert decided.decision is not None
    outcome = decided.decision.outcome
    if outcome != "not_evaluated":
        deps.metrics.count("ModelsPromoted" if outcome == "approved" else "ModelsNotPromoted")
    logger.info(
        "round decided",
        extra={
            "profile": decided.profile,
            "round": decided.seq,
            "outcome": outcome,
            "reason": decided.decision.reason,
            "model_package": decided.decision.model_package_arn,
        },
    )
    finish_decision(decided, profile, deps, version)
    return None


def finish_decision(
    rnd: RoundRecord, profile: Profile | None, deps: PromoteDeps, version: str | None = None
) -> None:
    """Everything after a decision's write, each step idempotent: the replan, the alert, the release of ACTIVE
    and the queued drop's announcement, the deployment. Run by the decision, by a repeat of its event and by
    Reconcile for a decided round that still holds ACTIVE. `version`: the stored profile's, when the caller read
    it (else the replan reads the profile again)."""
    if rnd.decision is not None and rnd.decision.outcome != "not_evaluated":
        _replan(rnd, deps, (profile, version) if profile is not None and version is not None else None)
    _after_decision(rnd, profile, deps)
    _keep_champion(rnd.profile, deps)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _register(
    rnd: RoundRecord, profile: Profile, evaluation: Evaluation, verdict: Any, deps: PromoteDeps
) -> tuple[str, str] | None:
    """The challenger in the profile's model package group (its group made sure of by `_own_group`), with the
    evaluation report and its model kept under registry/ (expirable when rejected). The package's ARN and its
    model's URI; None when the challenger's model no longer exists."""
    assert rnd.best_model_artifact is not None
    artifact = _keep(
        rnd.profile,
        f"round-{rnd.seq}",
        rnd.best_model_artifact,
        expirable=verdict.approval == "Rejected",
        deps=deps,
    )
    if artifact is None:
        return None
    challenger, champion = evaluation.challenger_score, evaluation.champion_score
    report_key = f"evaluations/{rnd.profile}/{evaluation.job_name}/report.json"
    deps.bucket.write_json(
        deps.data_bucket,
        report_key,
        {
            "profile": rnd.profile,
            "round": rnd.seq,
            "drop": rnd.drop_id,
            "objective": rnd.objective_metric,
            "objective_type": rnd.objective_type,
            "challenger_score": challenger,
            "champion_score": champion,
            "champion_model_package": evaluation.champion_model_package,
            "challenger_training_job": rnd.best_training_job,
            "validation_objective": rnd.best_objective,
            "decision": verdict.outcome,
            "reason": verdict.reason,
        },
    )
    # The first evaluation's token is the one retune always used: a registration begun before an upgrade is
    # finished, not repeated. An evaluation made again registers anew.
    purpose = "register" if evaluation.attempt == 1 else f"register-{evaluation.attempt}"
    request = model_package_request(
        profile=profile,
        seq=rnd.seq,
        model_data=artifact,
        approval=verdict.approval,
        client_token=client_token(rnd.profile, rnd.seq, purpose),
        report_uri=s3_uri(deps.data_bucket, report_key),
        scores={"challenger_score": challenger, "champion_score": champion},
        description=f"round {rnd.seq} of {rnd.profile} (drop {rnd.drop_id}): {verdict.reason}",
    )
    try:
        return deps.sagemaker.create_model_package(request), artifact
    except NotFound:
        _create_group(profile, deps)  # deleted by hand since `_own_group` looked
        return deps.sagemaker.create_model_package(request), artifact


def _own_group(profile: Profile, champion: ChampionRecord | None, deps: PromoteDeps) -> str | None:
    """Make sure the profile's model package group exists and is the profile's: None, or why it is not.

    retune creates the group tagged retune:profile=<profile> at the profile's first registration (an existing one
    answers "already exists"); a group that exists must carry that tag. Once the champion's package lies in the
    group, one ListTags says so; describing the group first cost every round an error response (botocore then
    builds exception classes from all of SageMaker's model, benchmarks/cold_start.py)."""
    group = profile.model_package_group
    held = package_group(champion.model_package_arn) if champion else None
    if champion is not None and held is not None and held.lower() == group.lower():
        try:
            return _group_refusal(
                profile.name, group, deps.sagemaker.list_tags(_group_arn(champion.model_package_arn))
            )
        except NotFound:
            pass  # deleted by hand since: made again below
    if _create_group(profile, deps):
        return None
    arn = str(deps.sagemaker.describe_model_package_group(group)["ModelPackageGroupArn"])
    return _group_refusal(profile.name, group, deps.sagemaker.list_tags(arn))


def _group_refusal(profile: str, group: str, tags: dict[str, str]) -> str | None:
    owner = tags.get(TAG_PROFILE)
    if owner == profile:
        return None
    if owner:
        return (
            f"model package group {group} belongs to profile {owner} (its {TAG_PROFILE} tag); name a group of "
            "this profile's own, or leave the field out"
        )
    return (
        f"model package group {group} was not created by retune for {profile} (it has no {TAG_PROFILE} tag); "
        f"name another, or leave the field out; a group that is this profile's takes the tag {TAG_PROFILE}={profile}"
    )


def _group_arn(package_arn: str) -> str:
    """A versioned package's group: arn:...:model-package/<group>/<version> -> arn:...:model-package-group/<group>."""
    head, _, path = package_arn.partition(":model-package/")
    return f"{head}:model-package-group/{path.split('/')[0]}"


def _create_group(profile: Profile, deps: PromoteDeps) -> bool:
    """True when this call created the group (tagged with the profile), False when it existed."""
    try:
        deps.sagemaker.create_model_package_group(model_package_group_request(profile))
    except AlreadyExists:
        return False  # made by an earlier round, by hand, or by a concurrent invocation
    return True


def _refusal(profile: str, package_arn: str, rnd: RoundRecord | None, deps: PromoteDeps) -> str | None:
    """Why a package may not become the profile's champion, or None: a round of the profile must record it
    (retune registered it for the profile) and its group must be the profile's."""
    recorded = rnd.decision.model_package_arn if rnd is not None and rnd.decision is not None else None
    if recorded is None or recorded.lower() != package_arn.lower():
        return f"retune did not register it for {profile} (no round of {profile} records it)"
    group = package_group(package_arn) or package_arn
    try:
        tags = deps.sagemaker.list_tags(_group_arn(package_arn))
    except NotFound:
        tags = {}
    return _group_refusal(profile, group, tags)


def _s3_parts(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def _keep(profile: str, package: str, model: str, *, expirable: bool, deps: PromoteDeps) -> str | None:
    """A registered package's model, kept where the bucket's lifecycle never expires it unless it is tagged
    expirable (a rejected challenger's): copied from models/ to registry/ once, or its copy's tag set. The kept
    model's URI; None when it no longer exists. A model outside the data bucket is left where it is."""
    bucket, key = _s3_parts(model)
    if bucket != deps.data_bucket:
        return model
    tags = {TAG_EXPIRABLE: "true"} if expirable else {}
    kept = key if key.startswith(REGISTRY_PREFIX) else registry_key(profile, package, key)
    try:
        if deps.bucket.exists(bucket, kept):
            deps.bucket.put_tags(bucket, kept, tags)
        elif kept == key:
            return None  # a rejected challenger's copy, expired
        else:
            deps.bucket.copy(bucket, key, kept, tags=tags)
    except NotFound:
        return None
    except AccessDenied as exc:
        # A model encrypted with a key Promote may not use: left where it is (it expires with models/) rather
        # than holding the profile up; the metric and the log say so.
        deps.metrics.count("ModelsNotKept")
        logger.warning("model not kept", extra={"profile": profile, "model": model, "error": str(exc)})
        return model
    return s3_uri(bucket, kept)


def _package_folder(package_arn: str, seq: int | None) -> str:
    """The package's folder under registry/<profile>/: its round's, else its group's and version's."""
    if seq is not None:
        return f"round-{seq}"
    return "package-" + package_arn.partition(":model-package/")[2].replace("/", "-")


def _keep_champion(
    profile: str, deps: PromoteDeps, champion: ChampionRecord | None = None
) -> ChampionRecord | None:
    """A champion registered before retune kept its models has its model under models/, which the lifecycle
    expires: copy it to registry/ and point the champion at the copy (the evaluations read it there). Idempotent;
    run at every decision, so a champion of an earlier release is kept at its profile's next one. The champion
    as it is now."""
    champion = champion or deps.store.get_champion(profile)
    if champion is None:
        return None
    bucket, key = _s3_parts(champion.model_artifact)
    if bucket != deps.data_bucket or key.startswith(REGISTRY_PREFIX):
        return champion
    folder = _package_folder(champion.model_package_arn, champion.round_seq)
    kept = _keep(profile, folder, champion.model_artifact, expirable=False, deps=deps)
    if kept is None:
        logger.error(
            "the champion's model no longer exists",
            extra={"profile": profile, "model": champion.model_artifact},
        )
        return champion
    if kept == champion.model_artifact:
        return champion  # not kept (Promote may not read it): logged by _keep
    moved = champion.model_copy(update={"model_artifact": kept})
    try:
        deps.store.move_champion_model(moved, expected=champion)
    except ConditionFailed:
        return deps.store.get_champion(profile)  # changed meanwhile: a new champion's model is kept already
    logger.info("champion's model kept", extra={"profile": profile, "model": kept})
    return moved


def _crowned(
    old: ChampionRecord | None,
    profile: str,
    package_arn: str,
    artifact: str,
    seq: int | None,
    score: float | None,
    who: str,
    reason: str,
    now: Any,
) -> ChampionRecord:
    """The champion after `old` (None: the profile had none): the package, and the change added to the
    history."""
    change = ChampionChange(
        model_package_arn=package_arn,
        round_seq=seq,
        score=score,
        decided_by=who,
        changed_at=now,
        reason=reason,
    )
    return ChampionRecord(
        profile=profile,
        model_package_arn=package_arn,
        model_artifact=artifact,
        round_seq=seq,
        score=score,
        history=[*(old.history if old else []), change][-CHAMPION_HISTORY_MAX:],
        version=(old.version + 1) if old else 1,
    )


def _after_decision(rnd: RoundRecord, profile: Profile | None, deps: PromoteDeps) -> None:
    """Alert, release ACTIVE and announce the queued drop, deploy (if approved and the profile names an
    endpoint). Idempotent.

    The alert and the release come first: an endpoint still busy with an earlier deployment leaves this one
    pending for Reconcile, and must not hold back the decision's alert or the next round."""
    decision = rnd.decision
    if decision is None:
        return
    if decision.outcome == "not_evaluated":
        deps.alerts.publish(alerts.round_failed(rnd, decision.reason, deps.region))
    else:
        alert = alerts.decision(rnd, deps.region)
        if profile is None or profile.alerts_on(alert.outcome):
            deps.alerts.publish(alert)
    release_if_held(deps.store, deps.bus, rnd)
    if (
        decision.outcome == "approved"
        and profile is not None
        and profile.promotion.endpoint
        and (rnd.deployment is None or rnd.deployment.get("status") == "Pending")
        and decision.model_package_arn
    ):
        _deploy(rnd, profile, decision.model_package_arn, deps)


# DescribeEndpoint's EndpointStatus: busy ones take no UpdateEndpoint until they settle; a Failed endpoint takes
# only DeleteEndpoint, and one whose update and rollback both failed needs a person (SageMaker's API reference).
BUSY_ENDPOINT = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
BROKEN_ENDPOINT = frozenset({"Failed", "UpdateRollbackFailed"})


def _deploy(rnd: RoundRecord, profile: Profile, package_arn: str, deps: PromoteDeps) -> RoundRecord:
    """Model from the package, a new endpoint config, then CreateEndpoint or UpdateEndpoint. The update is
    asynchronous: the deployment is recorded as Creating/Updating until the endpoint's state change (or
    Reconcile, which describes the endpoint) settles it. An endpoint busy with another deployment leaves this
    one Pending, for Reconcile to deploy once it is free; one whose package is no longer the champion is
    Superseded (a newer champion deploys instead)."""
    assert profile.promotion.endpoint is not None
    endpoint = profile.promotion.endpoint.name
    config_request = endpoint_config_request(profile=profile, seq=rnd.seq, tuning_job=rnd.tuning_job_name)
    config = config_request["EndpointConfigName"]
    wanted = {"endpoint": endpoint, "config": config, "model_package_arn": package_arn}
    champion = deps.store.get_champion(rnd.profile)
    if champion is None or champion.model_package_arn != package_arn:
        return _record_deployment(rnd, {**wanted, "status": "Superseded"}, deps)
    try:
        current = deps.sagemaker.describe_endpoint(endpoint)
    except NotFound:
        current = None
    refused = _endpoint_refusal(rnd.profile, endpoint, current, deps) if current is not None else None
    if refused:
        failed = {**wanted, "status": "Failed", "reason": refused}
        # The alert first, then the record: a run that dies between them alerts again under the same key.
        deps.alerts.publish(
            alerts.endpoint_not_owned(
                rnd.model_copy(update={"deployment": failed}), endpoint, refused, deps.region
            )
        )
        return _record_deployment(rnd, failed, deps, acted=False)
    for create, request in (
        (
            deps.sagemaker.create_model,
            model_request(
                profile=profile,
                seq=rnd.seq,
                tuning_job=rnd.tuning_job_name,
                package_arn=package_arn,
                role_arn=deps.role_arn,
            ),
        ),
        (deps.sagemaker.create_endpoint_config, config_request),
    ):
        try:
            create(request)
        except AlreadyExists:
            pass  # a repeat
    if current is None:
        try:
            deps.sagemaker.create_endpoint(
                {
                    "EndpointName": endpoint,
                    "EndpointConfigName": config,
                    "Tags": [{"Key": TAG_PROFILE, "Value": profile.name}],
                }
            )
        except AlreadyExists:
            pass
        state = "Creating"
    elif current.get("EndpointConfigName") == config:
        state = str(current.get("EndpointStatus", "Updating"))
    elif current.get("EndpointStatus") in BUSY_ENDPOINT:
        logger.info(
            "deployment waits for the endpoint",
            extra={"endpoint": endpoint, "endpoint_status": current.get("EndpointStatus"), "round": rnd.seq},
        )
        state = "Pending"
    elif current.get("EndpointStatus") in BROKEN_ENDPOINT:
        reason = (
            f"endpoint {endpoint} is {current.get('EndpointStatus')} "
            f"({current.get('FailureReason') or 'no reason given'}): it takes no update until a person repairs "
            "or deletes it"
        )
        # The alert first, then the record: a run that dies between them alerts again under the same key.
        deps.alerts.publish(alerts.deployment_failed(rnd, endpoint, reason, deps.region))
        return _record_deployment(rnd, {**wanted, "status": "Failed", "reason": reason}, deps, acted=False)
    else:
        deps.sagemaker.update_endpoint({"EndpointName": endpoint, "EndpointConfigName": config})
        state = "Updating"
    deployed = _record_deployment(rnd, {**wanted, "status": state}, deps, acted=state != "Pending")
    if state != "Pending":
        deps.metrics.count("Deployments")
    return deployed


# A round whose deployment is in one of these states created or updated its endpoint.
DEPLOYED = frozenset({"Creating", "Updating", "InService"})


def _endpoint_refusal(
    profile: str, endpoint: str, described: dict[str, Any], deps: PromoteDeps
) -> str | None:
    """Why the profile's endpoint is not retune's to update, or None: retune tags the endpoints it creates
    retune:profile=<profile>. An untagged endpoint that a round of the profile deployed to (its records say so)
    was created before retune tagged its endpoints: it is tagged now (for the IAM statement that allows
    UpdateEndpoint only on tagged endpoints) and updated."""
    arn = str(described.get("EndpointArn") or "")
    owner = deps.sagemaker.list_tags(arn).get(TAG_PROFILE) if arn else None
    if owner == profile:
        return None
    if owner:
        return (
            f"promotion.endpoint.name: endpoint {endpoint} belongs to profile {owner} (its {TAG_PROFILE} tag)"
        )
    lookup = deps.store.get_lookup(f"endpoint/{endpoint}")
    earlier = deps.store.get_round(profile, lookup.seq) if lookup and lookup.profile == profile else None
    deployed = earlier.deployment if earlier is not None and earlier.deployment else {}
    if arn and deployed.get("endpoint") == endpoint and deployed.get("status") in DEPLOYED:
        deps.sagemaker.add_tags(arn, {TAG_PROFILE: profile})
        logger.info(
            "endpoint tagged",
            extra={"profile": profile, "endpoint": endpoint, "round": lookup and lookup.seq},
        )
        return None
    return (
        f"promotion.endpoint.name: endpoint {endpoint} was not created by retune for {profile} (it has no "
        f"{TAG_PROFILE} tag, and no round of {profile} deployed to it)"
    )


def _record_deployment(
    rnd: RoundRecord, deployment: dict[str, Any], deps: PromoteDeps, *, acted: bool = True
) -> RoundRecord:
    """The round's deployment, and, when it created or updated the endpoint (`acted`), the lookups that map the
    endpoint's events (by endpoint and by config) to the round."""
    deployed = rnd.model_copy(update={"deployment": deployment})
    if rnd.deployment == deployment:
        return deployed
    deps.store.record_deployment(
        deployed, map_endpoint=acted and deployment["status"] not in ("Pending", "Superseded")
    )
    return deployed


def package_state_changed(package_arn: str, approval: str, who: str, deps: PromoteDeps) -> PromoteResult:
    """A person approved (or rejected) a package in the registry: the same rules as an automatic decision."""
    try:
        described = deps.sagemaker.describe_model_package(package_arn)
    except NotFound:
        return PromoteResult("ignored", detail=f"{package_arn} not found")
    metadata = described.get("CustomerMetadataProperties") or {}
    identity = (described.get("LastModifiedBy") or {}).get("IamIdentity") or {}
    who = str(identity.get("Arn") or who)  # the description is authoritative; AWS's event sample omits it
    # The registry's status now, not the event's: a late "Approved" handled after the person's "Rejected" is a
    # rejection (EventBridge may deliver, and Lambda retry, events out of order).
    current = str(described.get("ModelApprovalStatus") or approval)
    if current != approval:
        logger.info(
            "the package's status changed since its event",
            extra={"model_package": package_arn, "event": approval, "now": current},
        )
    approval = current
    profile_name, seq_text = metadata.get(TAG_PROFILE), metadata.get(TAG_ROUND)
    if not profile_name or not seq_text or not seq_text.isdigit():
        return PromoteResult("ignored", detail="not a retune package")
    seq = int(seq_text)
    rnd = deps.store.get_round(profile_name, seq)
    if rnd is not None and rnd.status == "evaluating":
        profile = profile_or_none(profile_name, deps)
        if profile is not None and profile.promotion.approval == "manual":
            # retune registered the package for a person, who acted before retune's decision was written (its
            # invocation is being retried): decide on the person's word once retune's decision is in.
            raise TransientError(
                f"{package_arn} was {approval} by hand while round {seq} is still evaluating"
            )
        # retune's own registration is in flight: its transaction sets the champion.
        return PromoteResult("ignored", profile_name, seq, package_arn, "retune's own decision is in flight")
    if rnd is None or rnd.status != "decided":
        # A package of a round the store does not hold as decided (an event from before retune's own records,
        # or a replay after they were lost): nothing a person decided about a round retune knows.
        return PromoteResult(
            "ignored", profile_name, seq, package_arn, "its round is not decided in the store"
        )
    champion = deps.store.get_champion(profile_name)
    if approval == "Approved":
        if champion is not None and champion.model_package_arn == package_arn:
            _finish_repeated_approval(champion, rnd, profile_name, package_arn, deps)
            return PromoteResult("duplicate", profile_name, seq, package_arn, "already the champion")
        if (
            rnd is not None
            and rnd.decision is not None
            and rnd.decision.model_package_arn == package_arn
            and (rnd.decision.outcome == "approved")
        ):
            # Approved when it was decided: this event is a late or repeated one (SageMaker sends one when the
            # package is created, and may again), not a person's new decision; it must not roll the champion back.
            return PromoteResult(
                "duplicate", profile_name, seq, package_arn, "approved when decided; a late event"
            )
        refused = _refusal(profile_name, package_arn, rnd, deps)
        model = _model_data(described)
        artifact = None
        if not refused:
            artifact = (
                _keep(profile_name, f"round-{seq}", model, expirable=False, deps=deps) if model else None
            )
            refused = None if artifact else f"its model {model or '(none)'} no longer exists"
        if refused:
            deps.alerts.publish(alerts.approval_refused(profile_name, package_arn, who, refused, deps.region))
            return PromoteResult("ignored", profile_name, seq, package_arn, refused)
        assert artifact is not None
        updated = _set_champion_by_hand(
            rnd,
            champion,
            profile_name,
            seq,
            package_arn,
            artifact,
            who,
            "approved by hand in the model registry",
            f"approved by hand ({who})",
            deps,
        )
        _after_approval(updated, profile_name, package_arn, who, deps)
        return PromoteResult("champion_set", profile_name, seq, package_arn, f"approved by {who}")
    if (
        approval == "Rejected"
        and rnd.decision is not None
        and rnd.decision.model_package_arn == package_arn
        and rnd.decision.outcome == "pending_manual"
    ):
        rejected = rnd.model_copy(
            update={
                "decision": rnd.decision.model_copy(
                    update={
                        "outcome": "rejected",
                        "decided_by": who,
                        "decided_at": deps.clock(),
                        "reason": f"rejected by hand ({who})",
                    }
                )
            }
        )
        deps.store.save_round(rejected, expected_status=rnd.status)
        model = _model_data(described)
        if model and _s3_parts(model)[1].startswith(REGISTRY_PREFIX):
            # Its copy expires now, as a rejected challenger's.
            _keep(profile_name, f"round-{seq}", model, expirable=True, deps=deps)
        return PromoteResult("recorded", profile_name, seq, package_arn, f"rejected by {who}")
    return PromoteResult("ignored", profile_name, seq, package_arn, f"{approval}: nothing to do")


def _model_data(described: dict[str, Any]) -> str | None:
    containers = (described.get("InferenceSpecification") or {}).get("Containers") or [{}]
    url = containers[0].get("ModelDataUrl")
    return str(url) if url else None


def _set_champion_by_hand(
    rnd: RoundRecord | None,
    champion: ChampionRecord | None,
    profile_name: str,
    seq: int | None,
    package_arn: str,
    artifact: str,
    who: str,
    champion_reason: str,
    decision_reason: str,
    deps: PromoteDeps,
) -> RoundRecord | None:
    """A person's decision: the champion (conditional on the version read) and, when the package is its round's
    decision, that decision, in one write. Raises ConditionFailed when the champion changed since it was read.
    Returns the round as written."""
    now = deps.clock()
    score = rnd.evaluation.challenger_score if rnd and rnd.evaluation else None
    crowned = _crowned(champion, profile_name, package_arn, artifact, seq, score, who, champion_reason, now)
    decided = None
    if rnd is not None and rnd.decision is not None and rnd.decision.model_package_arn == package_arn:
        decided = rnd.model_copy(
            update={
                "decision": rnd.decision.model_copy(
                    update={
                        "outcome": "approved",
                        "decided_by": who,
                        "decided_at": now,
                        "reason": f"{decision_reason}; {rnd.decision.reason}",
                    }
                ),
                "deployment": None,
            }
        )
    deps.store.set_champion_by_hand(
        crowned, replaces=champion, decided=decided, expected_status=rnd.status if rnd is not None else None
    )
    deps.metrics.count("ModelsPromoted")
    return decided or rnd


def promote_by_hand(profile_name: str, package_arn: str, who: str, deps: PromoteDeps) -> PromoteResult:
    """A person makes a package the profile's champion (`retune promote`): a manual promotion, or a rollback to
    an earlier champion. The same rules as an approval in the registry, with two differences: the package may
    already be Approved (a rollback: no registry event would follow), and the registry is updated here.

    Order: the champion first (conditional on its version); then the alert, the queued drop's announcement and
    the deployment; then the registry (Approved), whose state-change event finds the package already the
    champion and its alert published under the same key. A repeat finishes an interrupted attempt's registry
    update."""
    try:
        described = deps.sagemaker.describe_model_package(package_arn)
    except NotFound:
        return PromoteResult("ignored", profile_name, None, package_arn, "no such model package")
    metadata = described.get("CustomerMetadataProperties") or {}
    owner, seq_text = metadata.get(TAG_PROFILE), metadata.get(TAG_ROUND)
    if owner and owner != profile_name:
        return PromoteResult(
            "ignored", profile_name, None, package_arn, f"the package belongs to profile {owner}"
        )
    seq = int(seq_text) if seq_text and str(seq_text).isdigit() else None
    rnd = deps.store.get_round(profile_name, seq) if seq is not None else None
    if rnd is not None and rnd.status == "evaluating":
        return PromoteResult(
            "ignored",
            profile_name,
            seq,
            package_arn,
            f"round {seq} is still being decided; wait for its decision",
        )
    model = _model_data(described)
    if not model:
        return PromoteResult("ignored", profile_name, seq, package_arn, "the package has no model data")
    champion = deps.store.get_champion(profile_name)
    if champion is not None and champion.model_package_arn == package_arn:
        # A repeat finishes what an interrupted attempt began after its write (each step is idempotent).
        _finish_repeated_approval(champion, rnd, profile_name, package_arn, deps)
        _approve_in_registry(described, package_arn, f"promoted by hand by {who} with retune promote", deps)
        return PromoteResult("duplicate", profile_name, seq, package_arn, "already the champion")
    refused = _refusal(profile_name, package_arn, rnd, deps)
    if refused:
        return PromoteResult("ignored", profile_name, seq, package_arn, refused)
    artifact = _keep(profile_name, f"round-{seq}", model, expirable=False, deps=deps)
    if artifact is None:
        return PromoteResult("ignored", profile_name, seq, package_arn, f"its model {model} no longer exists")
    # A package that was the champion before: its round's decision says approved (the history keeps the last
    # changes only).
    earlier = (rnd is not None and rnd.decision is not None and rnd.decision.outcome == "approved") or (
        champion is not None and any(c.model_package_arn == package_arn for c in champion.history)
    )
    verb = "rolled back" if earlier else "promoted"
    updated = _set_champion_by_hand(
        rnd,
        champion,
        profile_name,
        seq,
        package_arn,
        artifact,
        who,
        f"{verb} by hand with retune promote",
        f"{verb} by hand ({who})",
        deps,
    )
    _after_approval(updated, profile_name, package_arn, who, deps)
    _approve_in_registry(described, package_arn, f"{verb} by hand by {who} with retune promote", deps)
    return PromoteResult("champion_set", profile_name, seq, package_arn, f"{verb} by {who}")


def _finish_repeated_approval(
    champion: ChampionRecord, rnd: RoundRecord | None, profile_name: str, package_arn: str, deps: PromoteDeps
) -> None:
    """A person's approval repeated: finish what an interrupted attempt began after its write (each step is
    idempotent). retune's own decisions finish through evaluation_ended instead."""
    decided_by = champion.history[-1].decided_by if champion.history else "retune"
    if decided_by != "retune":
        _after_approval(rnd, profile_name, package_arn, decided_by, deps)


def _approve_in_registry(described: dict[str, Any], package_arn: str, why: str, deps: PromoteDeps) -> None:
    if described.get("ModelApprovalStatus") != "Approved":
        deps.sagemaker.update_model_package(
            {
                "ModelPackageArn": package_arn,
                "ModelApprovalStatus": "Approved",
                "ApprovalDescription": why[:1024],
            }
        )


def _after_approval(
    rnd: RoundRecord | None, profile_name: str, package_arn: str, who: str, deps: PromoteDeps
) -> None:
    """After a person's approval made the package the champion: alert, announce the queued drop, deploy the
    package if it is its round's decision and the profile names an endpoint. Idempotent."""
    alert = alerts.approved_by_hand(rnd, profile_name, package_arn, who, deps.region)
    champion = deps.store.get_champion(profile_name)
    if champion is not None and champion.model_package_arn == package_arn:
        # The champion's version in the key: every change by hand alerts once (a rollback to a package that was
        # champion before too), and the registry's event for an approval `retune promote` made finds it sent.
        alert = alert.model_copy(
            update={"key": f"{profile_name}/champion/v{champion.version}/{package_arn}/approved"}
        )
    deps.alerts.publish(alert)
    announce_queued_drop(deps.store, deps.bus, profile_name)
    profile = profile_or_none(profile_name, deps)
    if (
        rnd is not None
        and profile is not None
        and profile.promotion.endpoint
        and rnd.status == "decided"
        and rnd.deployment is None
        and rnd.decision is not None
        and rnd.decision.outcome == "approved"
        and rnd.decision.model_package_arn == package_arn
    ):
        _deploy(rnd, profile, package_arn, deps)


def endpoint_state_changed(
    endpoint: str, status: str, reason: str | None, deps: PromoteDeps, config: str | None = None
) -> PromoteResult:
    """Settle a deployment: InService, or Failed with an alert. The event names the endpoint config it is
    about; an event for an older deployment, redriven after a newer one took the endpoint, settles the older."""
    lookup = deps.store.get_lookup(f"endpoint-config/{config}") if config else None
    lookup = lookup or deps.store.get_lookup(f"endpoint/{endpoint}")
    if lookup is None:
        return PromoteResult("ignored", detail=f"endpoint {endpoint} is not retune's")
    rnd = deps.store.get_round(lookup.profile, lookup.seq)
    if rnd is None or rnd.deployment is None or (config and rnd.deployment.get("config") != config):
        return PromoteResult(
            "ignored", lookup.profile, lookup.seq, detail=f"{config} is not a retune deployment"
        )
    return _settle(rnd, status, reason, deps)


def _settle(rnd: RoundRecord, status: str, reason: str | None, deps: PromoteDeps) -> PromoteResult:
    assert rnd.deployment is not None
    endpoint = str(rnd.deployment.get("endpoint"))
    current = rnd.deployment.get("status")
    # A settled deployment does not move again, but for one Reconcile found superseded whose own event comes late
    # (it knows now how the deployment ended); an endpoint's passing states (Updating...) settle nothing.
    final = current in SETTLED_DEPLOYMENTS and not (current == "Superseded" and status != "Superseded")
    if final or status not in SETTLED_DEPLOYMENTS:
        if current == "Failed" and status == "Failed":
            # A repeat finishes what an interrupted attempt began after its write: the alert, once per key.
            reason = rnd.deployment.get("reason") or reason or "no reason given"
            deps.alerts.publish(alerts.deployment_failed(rnd, endpoint, reason, deps.region))
        return PromoteResult("duplicate", rnd.profile, rnd.seq, detail=f"nothing to settle ({status})")
    settled = rnd.model_copy(update={"deployment": {**rnd.deployment, "status": status, "reason": reason}})
    try:
        deps.store.save_round(settled, expected_status=rnd.status)
    except ConditionFailed:
        raise TransientError("round changed while settling its deployment") from None
    if status == "Failed":
        deps.alerts.publish(
            alerts.deployment_failed(settled, endpoint, reason or "no reason given", deps.region)
        )
    return PromoteResult("recorded", rnd.profile, rnd.seq, detail=f"endpoint {endpoint} {status}")


def settle_deployment(rnd: RoundRecord, deps: PromoteDeps) -> str | None:
    """Reconcile's step for a round whose deployment is unsettled: deploy a pending one whose endpoint is free,
    and settle a requested one from the endpoint's description when its event never came. What it did, if
    anything."""
    deployment = rnd.deployment or {}
    status, endpoint = deployment.get("status"), str(deployment.get("endpoint"))
    if status == "Pending":
        profile = profile_or_none(rnd.profile, deps)
        if (
            profile is None
            or profile.promotion.endpoint is None
            or profile.promotion.endpoint.name != endpoint
        ):
            return None  # the profile changed or cannot be read: the next run looks again
        done = _deploy(rnd, profile, str(deployment.get("model_package_arn")), deps)
        return f"deployment {done.deployment.get('status') if done.deployment else None}"
    try:
        described = deps.sagemaker.describe_endpoint(endpoint)
    except NotFound:
        return _settle(rnd, "Failed", f"endpoint {endpoint} no longer exists", deps).detail
    state = str(described.get("EndpointStatus"))
    if state in BUSY_ENDPOINT:
        return None
    if described.get("EndpointConfigName") == deployment.get("config"):
        if state in BROKEN_ENDPOINT:
            return _settle(rnd, "Failed", described.get("FailureReason"), deps).detail
        return _settle(rnd, state, None, deps).detail if state == "InService" else None
    owner = deps.store.get_lookup(f"endpoint/{endpoint}")
    if owner is not None and owner.seq > rnd.seq:
        return _settle(rnd, "Superseded", f"round {owner.seq} deployed to {endpoint} since", deps).detail
    reason = described.get("FailureReason") or f"the endpoint runs {described.get('EndpointConfigName')}"
    return _settle(rnd, "Failed", str(reason), deps).detail


def _replan(rnd: RoundRecord, deps: PromoteDeps, stored: tuple[Profile, str] | None) -> None:
    """Plan the next round again now that the evaluation is in: drift shows only there (the challenger behind the
    champion on the same data), and CloseRound planned before it ran. Skipped once a newer round has started."""
    history = deps.store.history(rnd.profile, KNOBS.history_rounds)
    if not history or history[-1].round.seq != rnd.seq:
        return
    stored = stored or _stored_profile(rnd.profile, deps)
    if stored is None:
        return  # the next start validates the profile and plans then
    profile, version = stored
    deps.store.put_plan(rnd.profile, plan_next_round(profile, history, version))


def _read_profile(name: str, deps: PromoteDeps) -> tuple[Profile, str]:
    """The profile as stored, with its version: NotFound when it is missing, InvalidInput when it is invalid;
    a transient failure (throttling) is raised for Lambda to retry."""
    stored = deps.bucket.read(deps.data_bucket, f"profiles/{name}.json", max_bytes=PROFILE_MAX_BYTES)
    return parse_profile(stored.body, expected_name=name), stored.version


def _stored_profile(name: str, deps: PromoteDeps) -> tuple[Profile, str] | None:
    """The profile as stored, with its version, or None (logged) when it is missing or invalid."""
    try:
        return _read_profile(name, deps)
    except (NotFound, InvalidInput):
        logger.warning("profile unreadable in promote", extra={"profile": name})
        return None


def profile_or_none(name: str, deps: PromoteDeps) -> Profile | None:
    """The profile as stored, or None (logged) when it is missing or invalid."""
    stored = _stored_profile(name, deps)
    return stored[0] if stored else None
