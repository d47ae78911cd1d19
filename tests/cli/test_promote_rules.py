"""`retune promote`'s use case (promote_by_hand) on the in-memory fakes: a manual promotion, a rollback, and
what it refuses."""

from __future__ import annotations

from typing import Any

import pytest
from retune.errors import Throttled
from retune.records import ChampionRecord
from retune.store import champion_item
from retune.table import ConditionFailed, Put
from retune.use_cases.by_hand import package_state_changed, promote_by_hand

from tests.conftest import World, profile_doc
from tests.unit.test_loop import close_and_evaluate, run_round, second_round, start

WHO = "arn:aws:sts::123456789012:assumed-role/ops/bob"


def test_promote_by_hand_makes_a_pending_package_the_champion(world: World) -> None:
    doc = profile_doc()
    doc["promotion"]["approval"] = "manual"
    start(world, doc=doc)
    run_round(world)
    pending = close_and_evaluate(world, challenger=0.47).model_package_arn
    result = promote_by_hand("market-xgb", pending, WHO, world.promote_deps)
    assert result.status == "champion_set" and result.detail == f"promoted by {WHO}"
    champion = world.store.get_champion("market-xgb")
    assert champion.model_package_arn == pending and champion.version == 1
    assert champion.history[-1].decided_by == WHO
    assert world.sagemaker.packages[pending]["ModelApprovalStatus"] == "Approved"
    decision = world.store.get_round("market-xgb", 1).decision
    assert decision.outcome == "approved" and decision.reason.startswith(f"promoted by hand ({WHO})")
    assert world.alerts.outcomes() == ["pending_approval", "approved_by_hand"]
    key = world.alerts.published[-1].key
    # The registry's own event for the approval finds it done: the same alert key, nothing new.
    assert package_state_changed(pending, "Approved", WHO, world.promote_deps).status == "duplicate"
    assert world.alerts.published[-1].key == key
    assert promote_by_hand("market-xgb", pending, WHO, world.promote_deps).status == "duplicate"
    assert world.alerts.outcomes() == ["pending_approval", "approved_by_hand"]  # a repeat alerts no more


def test_promote_by_hand_repeated_after_a_failure_finishes_the_registry_update(world: World) -> None:
    doc = profile_doc()
    doc["promotion"]["approval"] = "manual"
    start(world, doc=doc)
    run_round(world)
    pending = close_and_evaluate(world, challenger=0.47).model_package_arn
    world.sagemaker.update_model_package = lambda request: (_ for _ in ()).throw(Throttled("sagemaker"))  # type: ignore[method-assign]
    with pytest.raises(Throttled):
        promote_by_hand("market-xgb", pending, WHO, world.promote_deps)
    assert (
        world.store.get_champion("market-xgb").model_package_arn == pending
    )  # the champion is written first
    del world.sagemaker.update_model_package
    assert promote_by_hand("market-xgb", pending, WHO, world.promote_deps).status == "duplicate"
    assert world.sagemaker.packages[pending]["ModelApprovalStatus"] == "Approved"
    assert world.alerts.outcomes() == ["pending_approval", "approved_by_hand"]


def test_promote_by_hand_rolls_back_to_an_earlier_champion(world: World) -> None:
    newer = second_round(world, challenger=0.45, champion=0.47)
    assert newer.status == "approved"
    older = world.store.get_champion("market-xgb").history[0].model_package_arn
    calls = len(world.sagemaker.calls)
    result = promote_by_hand("market-xgb", older, WHO, world.promote_deps)
    assert result.status == "champion_set" and result.detail == f"rolled back by {WHO}"
    champion = world.store.get_champion("market-xgb")
    assert champion.model_package_arn == older and champion.round_seq == 1 and champion.version == 3
    assert champion.history[-1].reason == "rolled back by hand with retune promote"
    assert "UpdateModelPackage" not in world.sagemaker.calls[calls:]  # already Approved: left as it is
    alert = world.alerts.published[-1]
    assert alert.outcome == "approved_by_hand" and alert.key == f"market-xgb/champion/v3/{older}/approved"


def test_promote_by_hand_refuses_what_it_cannot_promote(world: World) -> None:
    start(world)
    run_round(world)
    arn = close_and_evaluate(world, challenger=0.47).model_package_arn
    other = promote_by_hand("churn-xgb", arn, WHO, world.promote_deps)
    assert other.status == "ignored" and other.detail == "the package belongs to profile market-xgb"
    missing = promote_by_hand("market-xgb", arn + "0", WHO, world.promote_deps)
    assert missing.status == "ignored" and missing.detail == "no such model package"


def test_promote_by_hand_is_conditional_on_the_champion_it_read(world: World) -> None:
    newer = second_round(world, challenger=0.45, champion=0.47)
    older = world.store.get_champion("market-xgb").history[0].model_package_arn
    real = world.store.get_champion

    def moved_meanwhile(profile: str) -> ChampionRecord | None:
        current = real(profile)
        assert current is not None
        world.store.table.write(
            [Put(champion_item(current.model_copy(update={"version": current.version + 1})))]
        )
        return current

    world.store.get_champion = moved_meanwhile  # type: ignore[method-assign]
    with pytest.raises(ConditionFailed):
        promote_by_hand("market-xgb", older, WHO, world.promote_deps)
    world.store.get_champion = real  # type: ignore[method-assign]
    assert world.store.get_champion("market-xgb").model_package_arn == newer.model_package_arn


def test_promote_by_hand_approves_in_the_registry_before_deploying_the_package(world: World) -> None:
    """SageMaker deploys a model package only once it is Approved (the local stack's CreateModel refuses a pending
    one): a manual profile with an endpoint deploys the package `retune promote` approved."""
    doc = profile_doc()
    doc["promotion"]["approval"] = "manual"
    doc["promotion"]["endpoint"] = {"name": "market-xgb", "instance_type": "ml.m5.large"}
    start(world, doc=doc)
    run_round(world)
    pending = close_and_evaluate(world, challenger=0.47).model_package_arn
    create_model = world.sagemaker.create_model
    statuses = []

    def approved_only(request: dict[str, Any]) -> None:
        package = request["PrimaryContainer"]["ModelPackageName"]
        statuses.append(world.sagemaker.packages[package]["ModelApprovalStatus"])
        if statuses[-1] != "Approved":
            raise Throttled("sagemaker")  # as a deployment that fails: the person repeats the command
        create_model(request)

    update_model_package = world.sagemaker.update_model_package
    alerted_before_approval = []

    def approve(request: dict[str, Any]) -> None:
        # The registry's event runs the same steps in Promote: the alert must be published, not in flight.
        alerted_before_approval.append(world.alerts.outcomes()[-1])
        update_model_package(request)

    world.sagemaker.create_model = approved_only  # type: ignore[method-assign]
    world.sagemaker.update_model_package = approve  # type: ignore[method-assign]
    result = promote_by_hand("market-xgb", pending, WHO, world.promote_deps)
    assert result.status == "champion_set"
    assert statuses == ["Approved"]
    assert alerted_before_approval == ["approved_by_hand"]
    assert world.sagemaker.calls.count("CreateEndpoint") == 1
    assert world.store.get_round("market-xgb", 1).deployment["model_package_arn"] == pending
