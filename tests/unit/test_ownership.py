"""Issue 17, items 1 and 2: retune promotes only packages it registered for the profile, in the profile's own model
package group, and updates only endpoints it created for the profile."""

from __future__ import annotations

from typing import Any

import pytest
from retune.errors import InvalidInput
from retune.events import parse_drop_event
from retune.profile import parse_profile
from retune.records import JobLookup
from retune.requests import TAG_PROFILE
from retune.store import lookup_item
from retune.table import Put
from retune.use_cases.by_hand import package_state_changed, promote_by_hand
from retune.use_cases.reconcile import reconcile
from retune.use_cases.start_round import start_round

from tests.conftest import World, profile_doc
from tests.fakes import ARN
from tests.unit.test_loop import close_and_evaluate, run_round, second_round, start

PERSON = "arn:aws:sts::123456789012:assumed-role/ml-lead/mallory"


def forged_package(world: World, group: str, *, seq: int = 1, approved: bool = True) -> str:
    """A package someone registered by hand, claiming retune's metadata for round `seq` of market-xgb."""
    if group not in world.sagemaker.groups:
        world.sagemaker.group_by_hand(group)
    arn = f"{ARN}:model-package/{group}/9"
    world.bucket.put("retune-data", f"forged/{group}/model.tar.gz", b"a model nobody evaluated")
    world.sagemaker.packages[arn] = {
        "ModelPackageArn": arn,
        "ModelPackageGroupName": group,
        "ModelApprovalStatus": "Approved" if approved else "PendingManualApproval",
        "InferenceSpecification": {
            "Containers": [{"Image": "x", "ModelDataUrl": f"s3://retune-data/forged/{group}/model.tar.gz"}]
        },
        "CustomerMetadataProperties": {"retune:profile": "market-xgb", "retune:round": str(seq)},
        "LastModifiedBy": {"IamIdentity": {"Arn": PERSON}},
    }
    world.sagemaker.tags[arn] = {}
    return arn


# ---------------------------------------------------------------- item 1: packages and groups


def test_a_package_retune_did_not_register_never_becomes_the_champion_by_an_approval(world: World) -> None:
    second_round(world, challenger=0.48, champion=0.47)  # round 2 rejected: round 1's package is the champion
    before = world.store.get_champion("market-xgb")
    forged = forged_package(world, "someone-elses-group", seq=2)
    result = package_state_changed(forged, "Approved", PERSON, world.promote_deps)
    assert result.status == "ignored"
    assert result.detail == "retune did not register it for market-xgb (no round of market-xgb records it)"
    assert world.store.get_champion("market-xgb") == before
    assert world.bucket.tags[("retune-data", "registry/market-xgb/round-2/model.tar.gz")] == {
        "retune:expirable": "true"
    }  # round 2's own rejected copy is left as it was, and the forged model is copied nowhere
    assert not any(source.startswith("forged/") for source, _ in world.bucket.copies)
    alert = world.alerts.published[-1]
    assert (alert.outcome, alert.key) == ("approved_by_hand", f"market-xgb/champion/{forged}/refused")
    assert alert.subject == "[retune] market-xgb: approval by hand refused (someone-elses-group/9)"


def test_a_package_retune_did_not_register_is_refused_by_retune_promote(world: World) -> None:
    start(world)
    run_round(world)
    close_and_evaluate(world, challenger=0.47)
    before = world.store.get_champion("market-xgb")
    for forged in (forged_package(world, "someone-elses-group"), forged_package(world, "retune-market-xgb")):
        result = promote_by_hand("market-xgb", forged, PERSON, world.promote_deps)
        assert result.status == "ignored", result
        assert "retune did not register it for market-xgb" in result.detail
    # and one with no retune metadata at all
    bare = forged_package(world, "bare")
    del world.sagemaker.packages[bare]["CustomerMetadataProperties"]
    assert promote_by_hand("market-xgb", bare, PERSON, world.promote_deps).status == "ignored"
    assert world.store.get_champion("market-xgb") == before


def test_a_profile_may_not_name_another_profiles_default_group() -> None:
    doc = profile_doc()
    doc["promotion"]["model_package_group"] = "retune-churn-xgb"
    with pytest.raises(InvalidInput) as caught:
        parse_profile(doc)
    (error,) = caught.value.errors
    assert "promotion.model_package_group 'retune-churn-xgb' is the group of profile 'churn-xgb'" in error
    assert "leave the field out for 'retune-market-xgb'" in error
    doc["promotion"]["model_package_group"] = "retune-market-xgb"  # its own, spelled out
    assert parse_profile(doc).model_package_group == "retune-market-xgb"


@pytest.mark.parametrize(
    ("tags", "why"),
    [
        ({TAG_PROFILE: "churn-xgb"}, "model package group shared-models belongs to profile churn-xgb"),
        ({}, "model package group shared-models was not created by retune for market-xgb"),
    ],
    ids=["another-profiles", "made-by-hand"],
)
def test_registration_into_a_group_that_is_not_the_profiles_is_refused(
    world: World, tags: dict[str, str], why: str
) -> None:
    world.sagemaker.group_by_hand("shared-models", tags)
    doc = profile_doc()
    doc["promotion"]["model_package_group"] = "shared-models"
    start(world, doc=doc)
    run_round(world)
    result = close_and_evaluate(world, challenger=0.47)
    assert result.status == "not_evaluated"
    assert result.detail.startswith(f"promotion.model_package_group: {why}")
    assert world.sagemaker.packages == {}
    assert world.store.get_champion("market-xgb") is None
    assert world.alerts.outcomes() == ["round_failed"]
    assert world.store.get_active("market-xgb") is None


def test_a_group_shared_before_this_change_stops_taking_the_other_profiles_packages(world: World) -> None:
    """Upgrade: churn-xgb created shared-models; market-xgb named it too, and today's code registered its champion
    there. The next registration finds the group is churn-xgb's."""
    doc = profile_doc()
    doc["promotion"]["model_package_group"] = "shared-models"
    start(world, doc=doc)
    run_round(world)
    assert close_and_evaluate(world, challenger=0.47).status == "approved"  # market-xgb created it, as today
    group = world.sagemaker.groups["shared-models"]["ModelPackageGroupArn"]
    world.sagemaker.tags[group] = {TAG_PROFILE: "churn-xgb"}  # ... in this story churn-xgb had
    start_round(parse_drop_event(world.drop("2015-07-01")), world.deps)
    run_round(world, tuning="rt-market-xgb-0002")
    result = close_and_evaluate(world, challenger=0.45, champion=0.47, tuning="rt-market-xgb-0002", seq=2)
    assert result.status == "not_evaluated"
    assert "belongs to profile churn-xgb" in result.detail
    assert len(world.sagemaker.packages) == 1


def test_a_group_retune_created_before_this_change_keeps_its_profiles_packages(world: World) -> None:
    """Upgrade: today's code tags the group it creates with the profile; the champion's package lies in it."""
    result = second_round(world, challenger=0.45, champion=0.47)
    assert result.status == "approved"
    assert world.sagemaker.calls.count("CreateModelPackageGroup") == 1
    assert world.sagemaker.calls.count("ListTags") == 1  # round 2: the group is the profile's


# ---------------------------------------------------------------- item 2: endpoints


def endpoint_doc(name: str = "market-xgb") -> dict[str, Any]:
    doc = profile_doc()
    doc["promotion"]["endpoint"] = {"name": name, "instance_type": "ml.m5.large"}
    return doc


@pytest.mark.parametrize(
    ("tags", "why"),
    [
        ({}, "was not created by retune for market-xgb (it has no retune:profile tag, and no round"),
        ({TAG_PROFILE: "churn-xgb"}, "belongs to profile churn-xgb"),
    ],
    ids=["someone-elses", "another-profiles"],
)
def test_promote_never_updates_an_endpoint_retune_did_not_create_for_the_profile(
    world: World, tags: dict[str, str], why: str
) -> None:
    world.sagemaker.endpoint_by_hand("fraud-live", "fraud-config-7", tags=tags)
    start(world, doc=endpoint_doc("fraud-live"))
    run_round(world)
    result = close_and_evaluate(world, challenger=0.47)
    assert result.status == "approved"  # the champion is the champion; only its deployment is refused
    assert world.sagemaker.endpoints["fraud-live"]["EndpointConfigName"] == "fraud-config-7"
    assert "UpdateEndpoint" not in world.sagemaker.calls and "CreateModel" not in world.sagemaker.calls
    deployment = world.store.get_round("market-xgb", 1).deployment
    assert deployment["status"] == "Failed"
    assert deployment["reason"].startswith(f"promotion.endpoint.name: endpoint fraud-live {why}")
    alert = world.alerts.published[-1]
    assert alert.outcome == "deployment_failed"
    assert (
        alert.subject == "[retune] market-xgb round 1: not deployed, fraud-live is not the profile's endpoint"
    )
    assert world.store.get_lookup("endpoint/fraud-live") is None  # nothing says retune deployed there
    assert world.store.deploying_rounds() == []
    reconcile(world.reconcile_deps)
    assert "UpdateEndpoint" not in world.sagemaker.calls


def test_promote_tags_the_endpoint_it_creates_and_updates_it_later(world: World) -> None:
    start(world, doc=endpoint_doc())
    run_round(world)
    close_and_evaluate(world, challenger=0.47)
    endpoint = world.sagemaker.endpoints["market-xgb"]
    assert world.sagemaker.tags[endpoint["EndpointArn"]] == {TAG_PROFILE: "market-xgb"}
    endpoint["EndpointStatus"] = "InService"
    start_round(parse_drop_event(world.drop("2015-07-01")), world.deps)
    run_round(world, tuning="rt-market-xgb-0002")
    close_and_evaluate(world, challenger=0.45, champion=0.47, tuning="rt-market-xgb-0002", seq=2)
    assert endpoint["EndpointConfigName"] == "rt-market-xgb-0002-config"


def test_an_endpoint_retune_created_before_it_tagged_endpoints_is_tagged_then_updated(world: World) -> None:
    """Upgrade: round 1 created the endpoint untagged (its records say so: the round's deployment and the
    endpoint's lookup); round 2's promotion tags it and updates it."""
    start(world, doc=endpoint_doc())
    run_round(world)
    close_and_evaluate(world, challenger=0.47)
    endpoint = world.sagemaker.endpoints["market-xgb"]
    world.sagemaker.tags[endpoint["EndpointArn"]] = {}  # as an endpoint created before retune tagged them
    endpoint["EndpointStatus"] = "InService"
    rnd = world.store.get_round("market-xgb", 1)
    assert rnd.deployment["status"] == "Creating"
    assert world.store.get_lookup("endpoint/market-xgb") == JobLookup(
        job_name="endpoint/market-xgb", kind="endpoint", profile="market-xgb", seq=1
    )
    start_round(parse_drop_event(world.drop("2015-07-01")), world.deps)
    run_round(world, tuning="rt-market-xgb-0002")
    close_and_evaluate(world, challenger=0.45, champion=0.47, tuning="rt-market-xgb-0002", seq=2)
    assert world.sagemaker.tags[endpoint["EndpointArn"]] == {TAG_PROFILE: "market-xgb"}
    assert endpoint["EndpointConfigName"] == "rt-market-xgb-0002-config"
    assert world.store.get_round("market-xgb", 2).deployment["status"] == "Updating"


def test_an_untagged_endpoint_another_profile_deployed_to_is_not_taken(world: World) -> None:
    """The records must be the profile's own: churn-xgb's lookup for the endpoint does not let market-xgb in."""
    world.sagemaker.endpoint_by_hand("shared-live", "rt-churn-xgb-0003-config")
    world.store.table.write(
        [
            Put(
                lookup_item(
                    JobLookup(job_name="endpoint/shared-live", kind="endpoint", profile="churn-xgb", seq=3)
                )
            )
        ]
    )
    start(world, doc=endpoint_doc("shared-live"))
    run_round(world)
    close_and_evaluate(world, challenger=0.47)
    assert world.store.get_round("market-xgb", 1).deployment["status"] == "Failed"
    assert "AddTags" not in world.sagemaker.calls and "UpdateEndpoint" not in world.sagemaker.calls


def test_reconcile_deploying_a_pending_deployment_checks_the_endpoint_again(world: World) -> None:
    """A deployment left Pending (the endpoint was busy) is deployed by Reconcile, which looks at the tag again."""
    busy = world.sagemaker.endpoint_by_hand(
        "market-xgb", "an-earlier-config", "Updating", {TAG_PROFILE: "market-xgb"}
    )
    start(world, doc=endpoint_doc())
    run_round(world)
    close_and_evaluate(world, challenger=0.47)
    assert world.store.get_round("market-xgb", 1).deployment["status"] == "Pending"
    busy["EndpointStatus"] = "InService"
    world.sagemaker.tags[busy["EndpointArn"]] = {TAG_PROFILE: "churn-xgb"}  # taken over meanwhile
    report = reconcile(world.reconcile_deps)
    assert "market-xgb round 1 deployment: deployment Failed" in " ".join(report.actions) or report.actions
    assert world.store.get_round("market-xgb", 1).deployment["status"] == "Failed"
    assert busy["EndpointConfigName"] == "an-earlier-config"
    assert world.alerts.published[-1].subject.endswith(
        "not deployed, market-xgb is not the profile's endpoint"
    )
