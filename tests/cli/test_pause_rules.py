"""StartRound honours a paused profile (the change `retune pause` needs), on the in-memory fakes."""

from __future__ import annotations

from retune.events import parse_drop_event
from retune.records import PausedRecord
from retune.use_cases.finish import announce_queued_drop
from retune.use_cases.start_round import start_round

from tests.conftest import World


def pause(world: World, profile: str = "market-xgb") -> None:
    assert world.store.pause(PausedRecord(profile=profile, paused_at=world.clock(), paused_by="ops"))


def test_start_round_queues_a_drop_of_a_paused_profile(world: World) -> None:
    world.put_profile()
    pause(world)
    result = start_round(parse_drop_event(world.drop("2015-01-01")), world.deps)
    assert result.status == "queued"
    assert result.detail == "the profile is paused"
    assert world.store.get_drop("market-xgb", "2015-01-01").state == "queued"
    assert world.store.get_queued("market-xgb").drop_id == "2015-01-01"
    assert not world.sagemaker.created("CreateHyperParameterTuningJob")


def test_start_round_supersedes_older_queued_drops_while_paused(world: World) -> None:
    world.put_profile()
    pause(world)
    start_round(parse_drop_event(world.drop("2015-01-01")), world.deps)
    newer = start_round(parse_drop_event(world.drop("2015-07-01")), world.deps)
    assert newer.status == "queued"
    assert newer.detail == "the profile is paused; supersedes drop 2015-01-01"
    assert world.store.get_drop("market-xgb", "2015-01-01").state == "superseded"


def test_resume_announces_the_queued_drop_which_then_starts(world: World) -> None:
    world.put_profile()
    pause(world)
    start_round(parse_drop_event(world.drop("2015-01-01")), world.deps)
    assert world.store.resume("market-xgb")
    assert not world.store.resume("market-xgb")  # not paused any more
    assert announce_queued_drop(world.store, world.bus, "market-xgb")
    ((detail_type, detail),) = world.bus.events
    assert detail_type == "Drop Ready" and detail["drop_id"] == "2015-01-01"
    ready = {
        "version": "0",
        "id": "x",
        "detail-type": "Drop Ready",
        "source": "retune",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": detail,
    }
    assert start_round(parse_drop_event(ready), world.deps).status == "started"
    assert world.store.get_queued("market-xgb") is None


def test_a_pause_written_during_a_start_fails_the_start_transaction(world: World) -> None:
    """StartRound looked before the pause was written: the round's transaction checks PAUSED is absent, so the
    start fails and StartRound, looking again, queues the drop."""
    world.put_profile()
    event = world.drop("2015-01-01")
    real = world.store.get_paused
    calls = {"n": 0}

    def paused_after_the_first_look(profile: str) -> PausedRecord | None:
        calls["n"] += 1
        if calls["n"] == 1:
            pause(world)  # lands between the look and the write
            return None
        return real(profile)

    world.store.get_paused = paused_after_the_first_look  # type: ignore[method-assign]
    result = start_round(parse_drop_event(event), world.deps)
    assert result.status == "queued"
    assert not world.sagemaker.created("CreateHyperParameterTuningJob")
    assert world.store.get_round("market-xgb", 1) is None


def test_pause_is_idempotent(world: World) -> None:
    pause(world)
    assert not world.store.pause(PausedRecord(profile="market-xgb", paused_at=world.clock(), paused_by="b"))
    assert world.store.get_paused("market-xgb").paused_by == "ops"
