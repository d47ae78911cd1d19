"""Promote's third story: a person's decisions. A package approved (or rejected) by hand in the model registry,
and `retune promote`, which makes a package the champion (a promotion by hand, or a rollback to an earlier
champion). Both go through the same rules as retune's own decision: the package must be the profile's, its model
is kept, and the champion and its round's decision are one write (Store.set_champion_by_hand).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any, NamedTuple

from retune import alerts
from retune.errors import NotFound, TransientError
from retune.records import ChampionRecord, RoundRecord
from retune.requests import REGISTRY_PREFIX, TAG_PROFILE, TAG_ROUND
from retune.use_cases.deploy import deploy
from retune.use_cases.finish import announce_queued_drop
from retune.use_cases.promote import PromoteDeps, PromoteResult, new_champion, profile_or_none
from retune.use_cases.registry import champion_refusal, keep_model, s3_parts

logger = logging.getLogger(__name__)


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
        package = _Package(profile_name, seq, package_arn, _model_data(described))
        refused = _set_champion_by_hand(
            package, rnd, champion, who, "approved", "in the model registry", deps
        )
        if refused:
            deps.alerts.publish(alerts.approval_refused(profile_name, package_arn, who, refused, deps.region))
            return PromoteResult("ignored", profile_name, seq, package_arn, refused)
        return PromoteResult("champion_set", profile_name, seq, package_arn, f"approved by {who}")
    if (
        approval == "Rejected"
        and rnd.decision is not None
        and rnd.decision.model_package_arn == package_arn
        and rnd.decision.outcome == "pending_manual"
    ):
        rejected = _decided_by_hand(rnd, "rejected", who, deps.clock(), f"rejected by hand ({who})")
        deps.store.save_round(rejected, expected_status=rnd.status)
        model = _model_data(described)
        if model and s3_parts(model)[1].startswith(REGISTRY_PREFIX):
            # Its copy expires now, as a rejected challenger's.
            keep_model(profile_name, f"round-{seq}", model, expirable=True, deps=deps)
        return PromoteResult("recorded", profile_name, seq, package_arn, f"rejected by {who}")
    return PromoteResult("ignored", profile_name, seq, package_arn, f"{approval}: nothing to do")


def _model_data(described: dict[str, Any]) -> str | None:
    containers = (described.get("InferenceSpecification") or {}).get("Containers") or [{}]
    url = containers[0].get("ModelDataUrl")
    return str(url) if url else None


class _Package(NamedTuple):
    """A model package a person decided about, as the registry describes it."""

    profile: str
    seq: int | None  # its round's, from the package's metadata
    arn: str
    model: str | None  # its model's URI


def _set_champion_by_hand(
    package: _Package,
    rnd: RoundRecord | None,
    champion: ChampionRecord | None,
    who: str,
    verb: str,
    where: str,
    deps: PromoteDeps,
    approve: Callable[[], None] | None = None,
) -> str | None:
    """A person's decision, on the rules of retune's own (the package's round must record it, its group must be
    the profile's, its model is kept under registry/): the champion in place of `champion` (as read) and, when
    the package is its round's decision (`rnd`), that decision, in one write; then the alert, the queued drop's
    announcement and the deployment; `approve`, when given, updates the registry before the deployment
    (SageMaker deploys only an Approved package). Why the package may not be the champion; None when it is now.
    Raises
    ConditionFailed when the champion or the round changed since it was read. `verb` and `where` say how
    ("rolled back", "with retune promote")."""
    refused = champion_refusal(package.profile, package.arn, rnd, deps)
    artifact = None
    if not refused:
        artifact = (
            keep_model(package.profile, f"round-{package.seq}", package.model, expirable=False, deps=deps)
            if package.model
            else None
        )
        refused = None if artifact else f"its model {package.model or '(none)'} no longer exists"
    if refused:
        return refused
    assert artifact is not None
    now = deps.clock()
    score = rnd.evaluation.challenger_score if rnd and rnd.evaluation else None
    how = f"{verb} by hand {where}"
    crowned = new_champion(
        champion, package.profile, package.arn, artifact, package.seq, score, who, how, now
    )
    decided = None
    if rnd is not None and rnd.decision is not None and rnd.decision.model_package_arn == package.arn:
        why = f"{verb} by hand ({who}); {rnd.decision.reason}"
        decided = _decided_by_hand(rnd, "approved", who, now, why).model_copy(update={"deployment": None})
    deps.store.set_champion_by_hand(
        crowned, replaces=champion, decided=decided, expected_status=rnd.status if rnd is not None else None
    )
    deps.metrics.count("ModelsPromoted")
    _after_approval(decided or rnd, package.profile, package.arn, who, deps, approve)
    return None


def _decided_by_hand(rnd: RoundRecord, outcome: str, who: str, now: datetime, reason: str) -> RoundRecord:
    """The round with a person's decision about its package in place of retune's."""
    assert rnd.decision is not None
    changes = {"outcome": outcome, "decided_by": who, "decided_at": now, "reason": reason}
    return rnd.model_copy(update={"decision": rnd.decision.model_copy(update=changes)})


def promote_by_hand(profile_name: str, package_arn: str, who: str, deps: PromoteDeps) -> PromoteResult:
    """A person makes a package the profile's champion (`retune promote`): a manual promotion, or a rollback to
    an earlier champion. The same rules as an approval in the registry, with two differences: the package may
    already be Approved (a rollback: no registry event would follow), and the registry is updated here.

    Order: the champion first (conditional on its version); then the alert and the queued drop's announcement;
    then the registry (Approved: SageMaker deploys only an Approved package); then the deployment. The registry's
    state-change event finds the package already the champion and its alert published under the same key, and
    finishes the deployment if this run could not. A repeat finishes an interrupted attempt."""
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
        _finish_repeated_approval(
            champion,
            rnd,
            profile_name,
            package_arn,
            deps,
            approve=lambda: _approve_in_registry(
                described, package_arn, f"promoted by hand by {who} with retune promote", deps
            ),
        )
        return PromoteResult("duplicate", profile_name, seq, package_arn, "already the champion")
    # A package that was the champion before: its round's decision says approved (the history keeps the last
    # changes only).
    earlier = (rnd is not None and rnd.decision is not None and rnd.decision.outcome == "approved") or (
        champion is not None and any(c.model_package_arn == package_arn for c in champion.history)
    )
    verb = "rolled back" if earlier else "promoted"
    package = _Package(profile_name, seq, package_arn, model)
    refused = _set_champion_by_hand(
        package,
        rnd,
        champion,
        who,
        verb,
        "with retune promote",
        deps,
        approve=lambda: _approve_in_registry(
            described, package_arn, f"{verb} by hand by {who} with retune promote", deps
        ),
    )
    if refused:
        return PromoteResult("ignored", profile_name, seq, package_arn, refused)
    return PromoteResult("champion_set", profile_name, seq, package_arn, f"{verb} by {who}")


def _finish_repeated_approval(
    champion: ChampionRecord,
    rnd: RoundRecord | None,
    profile_name: str,
    package_arn: str,
    deps: PromoteDeps,
    approve: Callable[[], None] | None = None,
) -> None:
    """A person's approval repeated: finish what an interrupted attempt began after its write (each step is
    idempotent; `approve`, the registry's update, before the deployment). retune's own decisions finish through
    evaluation_ended instead."""
    decided_by = champion.history[-1].decided_by if champion.history else "retune"
    if decided_by != "retune":
        _after_approval(rnd, profile_name, package_arn, decided_by, deps, approve)
    elif approve is not None:
        approve()


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
    rnd: RoundRecord | None,
    profile_name: str,
    package_arn: str,
    who: str,
    deps: PromoteDeps,
    approve: Callable[[], None] | None = None,
) -> None:
    """After a person's approval made the package the champion: alert, announce the queued drop, `approve` (the
    registry's update, for `retune promote`), then deploy the package if it is its round's decision and the
    profile names an endpoint. Idempotent. The alert comes before the registry's update: that update's event
    runs these steps again in Promote, and must find the alert published, not in flight."""
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
    if approve is not None:
        approve()
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
        deploy(rnd, profile, package_arn, deps)
