"""Promote's first story: a round's evaluation job ended. Decide on its scores, register the challenger in the
profile's model package group, and promote it only if it beat the champion on the same data; the decision and the
champion are one write (Store.decide). The champion changed by hand while the job ran: evaluate again.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime, timedelta
from typing import Any

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
from retune.naming import client_token, evaluation_job_of
from retune.policy import KNOBS, plan_next_round
from retune.profile import Profile, profile_key, read_profile
from retune.promotion import judge
from retune.records import ChampionRecord, Decision, Evaluation, RoundRecord
from retune.requests import endpoint_config_request, model_package_request, s3_uri
from retune.sagemaker_facts import TERMINAL_JOB_STATUSES
from retune.use_cases.deploy import deploy
from retune.use_cases.evaluation import evaluation_request
from retune.use_cases.finish import release_if_held
from retune.use_cases.promote import PromoteDeps, PromoteResult, new_champion, stored_profile
from retune.use_cases.registry import create_group, keep_champion, keep_model, own_group

logger = logging.getLogger(__name__)

# A profile missing when its round's evaluation ends is looked for again (it may be being replaced) for this long
# after the evaluation ended; then the round is decided "not evaluated".
PROFILE_MISSING_GRACE = timedelta(hours=1)

# The champion changed by hand during this many evaluations of one round: the round is not evaluated.
MAX_EVALUATIONS = 3


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
        stored = stored_profile(rnd.profile, deps)
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
    if status not in TERMINAL_JOB_STATUSES:
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
        profile, version = read_profile(deps.bucket, deps.data_bucket, rnd.profile)
    except InvalidInput as exc:
        reason = f"the profile {profile_key(rnd.profile)} is invalid: {'; '.join(exc.errors)}"
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
            f"the profile {profile_key(rnd.profile)} has been missing since the evaluation ended "
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
    refused = own_group(profile, champion, deps)
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
        crowned = new_champion(
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
    champion = keep_champion(rnd.profile, deps, champion)
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
    keep_champion(rnd.profile, deps)


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def _register(
    rnd: RoundRecord, profile: Profile, evaluation: Evaluation, verdict: Any, deps: PromoteDeps
) -> tuple[str, str] | None:
    """The challenger in the profile's model package group (its group made sure of by `own_group`), with the
    evaluation report and its model kept under registry/ (expirable when rejected). The package's ARN and its
    model's URI; None when the challenger's model no longer exists."""
    assert rnd.best_model_artifact is not None
    artifact = keep_model(
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
        create_group(profile, deps)  # deleted by hand since `own_group` looked
        return deps.sagemaker.create_model_package(request), artifact


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
        deploy(rnd, profile, decision.model_package_arn, deps)


def _replan(rnd: RoundRecord, deps: PromoteDeps, stored: tuple[Profile, str] | None) -> None:
    """Plan the next round again now that the evaluation is in: drift shows only there (the challenger behind the
    champion on the same data), and CloseRound planned before it ran. Skipped once a newer round has started."""
    history = deps.store.history(rnd.profile, KNOBS.history_rounds)
    if not history or history[-1].round.seq != rnd.seq:
        return
    stored = stored or stored_profile(rnd.profile, deps)
    if stored is None:
        return  # the next start validates the profile and plans then
    profile, version = stored
    deps.store.put_plan(rnd.profile, plan_next_round(profile, history, version))
