"""Issue 17, items 19 and 20 (the champion's part): the champion's model outlives the models/ lifecycle rule, and
the champion's item stays bounded however long it reigns."""

from __future__ import annotations

from datetime import timedelta

from retune.errors import AccessDenied
from retune.events import parse_drop_event
from retune.naming import evaluation_job_name
from retune.records import CHAMPION_HISTORY_MAX, ChampionChange
from retune.requests import TAG_EXPIRABLE
from retune.store import champion_item
from retune.table import Put
from retune.use_cases.by_hand import package_state_changed, promote_by_hand
from retune.use_cases.close_round import close_round
from retune.use_cases.start_round import start_round

from tests.conftest import BUCKET, World, profile_doc
from tests.unit.test_loop import close_and_evaluate, run_round, second_round, start

PERSON = "arn:aws:sts::123456789012:assumed-role/ml-lead/alice"
KEPT_1 = "registry/market-xgb/round-1/model.tar.gz"
KEPT_2 = "registry/market-xgb/round-2/model.tar.gz"


def model_of(world: World, arn: str) -> str:
    return str(world.sagemaker.packages[arn]["InferenceSpecification"]["Containers"][0]["ModelDataUrl"])


def champion_channel(world: World, job: str) -> str:
    request = world.sagemaker.training_jobs[job]["request"]
    (channel,) = [c for c in request["InputDataConfig"] if c["ChannelName"] == "champion"]
    return str(channel["DataSource"]["S3DataSource"]["S3Uri"])


def expire_models(world: World) -> None:
    """The models/ lifecycle rule ran: every trial's model is gone."""
    for bucket, key in list(world.bucket.objects):
        if key.startswith("models/"):
            world.bucket.delete(bucket, key)


# ---------------------------------------------------------------- item 19


def test_every_registered_package_is_a_kept_copy_and_only_a_rejected_ones_expires(world: World) -> None:
    rejected = second_round(world, challenger=0.48, champion=0.47)
    assert rejected.status == "rejected"
    champion = world.store.get_champion("market-xgb")
    assert model_of(world, champion.model_package_arn) == champion.model_artifact == f"s3://{BUCKET}/{KEPT_1}"
    assert model_of(world, rejected.model_package_arn) == f"s3://{BUCKET}/{KEPT_2}"
    assert world.bucket.tags[(BUCKET, KEPT_1)] == {}
    assert world.bucket.tags[(BUCKET, KEPT_2)] == {TAG_EXPIRABLE: "true"}
    expire_models(world)  # a long reign later
    start_round(parse_drop_event(world.drop("2016-01-01")), world.deps)
    run_round(world, tuning="rt-market-xgb-0003")
    assert close_round("rt-market-xgb-0003", world.close_deps).status == "evaluating"
    channel = champion_channel(world, evaluation_job_name("market-xgb", 3))
    assert channel == f"s3://{BUCKET}/{KEPT_1}" and world.bucket.exists(BUCKET, KEPT_1)


def test_a_person_approving_a_rejected_package_keeps_its_copy_for_good(world: World) -> None:
    rejected = second_round(world, challenger=0.48, champion=0.47).model_package_arn
    world.sagemaker.decide_by_hand(rejected, "Approved")
    assert package_state_changed(rejected, "Approved", PERSON, world.promote_deps).status == "champion_set"
    assert world.bucket.tags[(BUCKET, KEPT_2)] == {}
    assert world.store.get_champion("market-xgb").model_artifact == f"s3://{BUCKET}/{KEPT_2}"


def test_a_person_rejecting_a_pending_package_lets_its_copy_expire(world: World) -> None:
    doc = profile_doc()
    doc["promotion"]["approval"] = "manual"
    start(world, doc=doc)
    run_round(world)
    pending = close_and_evaluate(world, challenger=0.47).model_package_arn
    assert world.bucket.tags[(BUCKET, KEPT_1)] == {}  # it may become the champion
    world.sagemaker.decide_by_hand(pending, "Rejected")
    assert package_state_changed(pending, "Rejected", PERSON, world.promote_deps).status == "recorded"
    assert world.bucket.tags[(BUCKET, KEPT_1)] == {TAG_EXPIRABLE: "true"}


def today(world: World) -> str:
    """Round 1 promoted as today's code leaves it: the package and the champion point at the trial's model under
    models/, and nothing is under registry/. Returns the package."""
    start(world)
    run_round(world)
    arn = close_and_evaluate(world, challenger=0.47).model_package_arn
    trial = f"s3://{BUCKET}/models/rt-market-xgb-0001-002-00000002/output/model.tar.gz"
    world.sagemaker.packages[arn]["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] = trial
    champion = world.store.get_champion("market-xgb")
    world.store.table.write([Put(champion_item(champion.model_copy(update={"model_artifact": trial})))])
    world.bucket.delete(BUCKET, KEPT_1)
    world.bucket.copies.clear()
    return arn


def test_a_champion_registered_before_this_change_is_kept_at_its_profiles_next_decision(world: World) -> None:
    """Upgrade: the champion's model is under models/ when the new code runs its first decision."""
    today(world)
    start_round(parse_drop_event(world.drop("2015-07-01")), world.deps)
    run_round(world, tuning="rt-market-xgb-0002")
    result = close_and_evaluate(world, challenger=0.48, champion=0.47, tuning="rt-market-xgb-0002", seq=2)
    assert result.status == "rejected"
    champion = world.store.get_champion("market-xgb")
    assert champion.model_artifact == f"s3://{BUCKET}/{KEPT_1}" and champion.version == 1
    assert (
        "models/rt-market-xgb-0001-002-00000002/output/model.tar.gz",
        KEPT_1,
    ) in world.bucket.copies
    expire_models(world)
    start_round(parse_drop_event(world.drop("2016-01-01")), world.deps)
    run_round(world, tuning="rt-market-xgb-0003")
    assert close_round("rt-market-xgb-0003", world.close_deps).status == "evaluating"
    assert champion_channel(world, evaluation_job_name("market-xgb", 3)) == f"s3://{BUCKET}/{KEPT_1}"


def test_promoting_by_hand_a_package_registered_before_this_change_keeps_its_model(world: World) -> None:
    """Upgrade: a rollback to a package whose model is still under models/ copies it first."""
    older = today(world)
    start_round(parse_drop_event(world.drop("2015-07-01")), world.deps)
    run_round(world, tuning="rt-market-xgb-0002")
    assert close_and_evaluate(world, 0.45, 0.47, tuning="rt-market-xgb-0002", seq=2).status == "approved"
    result = promote_by_hand("market-xgb", older, PERSON, world.promote_deps)
    assert result.status == "champion_set" and result.detail == f"rolled back by {PERSON}"
    assert world.store.get_champion("market-xgb").model_artifact == f"s3://{BUCKET}/{KEPT_1}"
    assert world.bucket.exists(BUCKET, KEPT_1)


def test_approving_a_package_whose_model_expired_is_refused_with_an_alert(world: World) -> None:
    """Upgrade: a package registered before this change, rejected, approved by a person after models/ expired."""
    start(world)
    run_round(world)
    close_and_evaluate(world, challenger=0.47)
    start_round(parse_drop_event(world.drop("2015-07-01")), world.deps)
    run_round(world, tuning="rt-market-xgb-0002")
    rejected = close_and_evaluate(world, 0.48, 0.47, tuning="rt-market-xgb-0002", seq=2).model_package_arn
    trial = f"s3://{BUCKET}/models/rt-market-xgb-0002-002-00000002/output/model.tar.gz"
    world.sagemaker.packages[rejected]["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] = trial
    world.bucket.delete(BUCKET, KEPT_2)  # registered before retune kept its models
    expire_models(world)
    world.sagemaker.decide_by_hand(rejected, "Approved")
    result = package_state_changed(rejected, "Approved", PERSON, world.promote_deps)
    assert result.status == "ignored" and result.detail == f"its model {trial} no longer exists"
    assert world.store.get_champion("market-xgb").round_seq == 1
    assert (
        world.alerts.published[-1].subject
        == "[retune] market-xgb: approval by hand refused (retune-market-xgb/2)"
    )


# ---------------------------------------------------------------- item 20: the champion's history


def test_the_champion_keeps_its_last_changes_however_long_it_reigns(world: World) -> None:
    """Upgrade too: a champion item as today's code wrote it after 300 changes is cut at its next change."""
    start(world)
    run_round(world)
    close_and_evaluate(world, challenger=0.47)
    champion = world.store.get_champion("market-xgb")
    (first,) = champion.history
    long_reign = [
        first.model_copy(
            update={"changed_at": first.changed_at + timedelta(hours=n), "reason": f"change {n}"}
        )
        for n in range(300)
    ]
    world.store.table.write(
        [Put(champion_item(champion.model_copy(update={"history": long_reign, "version": 300})))]
    )
    start_round(parse_drop_event(world.drop("2015-07-01")), world.deps)
    run_round(world, tuning="rt-market-xgb-0002")
    assert close_and_evaluate(world, 0.45, 0.47, tuning="rt-market-xgb-0002", seq=2).status == "approved"
    champion = world.store.get_champion("market-xgb")
    assert champion.version == 301 and len(champion.history) == CHAMPION_HISTORY_MAX
    assert champion.history[-1].round_seq == 2
    assert champion.history[0].reason == f"change {300 - CHAMPION_HISTORY_MAX + 1}"
    assert champion.earlier_changes == 301 - CHAMPION_HISTORY_MAX
    assert isinstance(champion.history[0], ChampionChange)
    assert len(world.table.items[("PROFILE#market-xgb", "CHAMPION")]["doc"]) < 10_000


def test_a_model_promote_may_not_read_is_registered_where_it_is_rather_than_holding_the_round(
    world: World,
) -> None:
    """A model under a profile's KMS key that Promote's role may not use: the round is decided all the same, the
    package points at the trial's model (which expires with models/), and the metric says it was not kept."""

    def refused(bucket: str, source_key: str, key: str, *, tags: dict[str, str]) -> None:
        raise AccessDenied("s3: copying: User is not authorized to perform: kms:Decrypt")

    world.bucket.copy = refused  # type: ignore[method-assign]
    start(world)
    run_round(world)
    result = close_and_evaluate(world, challenger=0.47)
    assert result.status == "approved"
    trial = f"s3://{BUCKET}/models/rt-market-xgb-0001-002-00000002/output/model.tar.gz"
    assert model_of(world, result.model_package_arn) == trial
    assert world.store.get_champion("market-xgb").model_artifact == trial
    assert world.metrics.counts["ModelsNotKept"] >= 1
