"""Promote's second story: deploy a new champion to the profile's endpoint (a model, an endpoint config, then
CreateEndpoint or UpdateEndpoint), and settle the deployment when the endpoint's state change comes (or Reconcile
describes the endpoint). retune updates only an endpoint that is the profile's (tagged retune:profile=<profile>).
"""

from __future__ import annotations

import logging
from typing import Any

from retune import alerts
from retune.errors import AlreadyExists, ConditionFailed, NotFound, TransientError
from retune.profile import Profile
from retune.records import RoundRecord
from retune.requests import TAG_PROFILE, endpoint_config_request, model_request
from retune.store import SETTLED_DEPLOYMENTS
from retune.use_cases.promote import PromoteDeps, PromoteResult, profile_or_none

logger = logging.getLogger(__name__)

# DescribeEndpoint's EndpointStatus: busy ones take no UpdateEndpoint until they settle; a Failed endpoint takes
# only DeleteEndpoint, and one whose update and rollback both failed needs a person (SageMaker's API reference).
BUSY_ENDPOINT = frozenset({"Creating", "Updating", "SystemUpdating", "RollingBack", "Deleting"})
BROKEN_ENDPOINT = frozenset({"Failed", "UpdateRollbackFailed"})


def deploy(rnd: RoundRecord, profile: Profile, package_arn: str, deps: PromoteDeps) -> RoundRecord:
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
        done = deploy(rnd, profile, str(deployment.get("model_package_arn")), deps)
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
