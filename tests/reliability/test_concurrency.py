"""Concurrent invocations on DynamoDB (moto's server, real HTTP, retune's DynamoTable): five drops of one profile
within a second start one round, queue the newest of the others and supersede the rest, losing none; two CloseRound
or two Promote invocations for one round make one evaluation, one package, one champion change and one alert.

Each scenario runs over several seeds: the drops' upload times and names, and the pauses before each table call,
change the interleaving. A few seeds run in `make test`; `make test-reliability` runs many.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator
from datetime import timedelta
from functools import partial
from typing import Any

import pytest
from retune.events import parse_drop_event
from retune.naming import evaluation_job_name
from retune.use_cases.close_round import close_round
from retune.use_cases.decide import evaluation_ended
from retune.use_cases.record_trial import record_trial
from retune.use_cases.start_round import start_round

from tests.reliability import concurrent
from tests.reliability.concurrent import ConcurrentWorld, concurrently

PROFILE = "market-xgb"
TUNING = "rt-market-xgb-0001"
FAST_SEEDS = range(3)
SLOW_SEEDS = range(3, 40)
_tables = itertools.count()


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    yield from concurrent.server()


def new_world(endpoint: str, seed: int) -> ConcurrentWorld:
    return ConcurrentWorld(endpoint, f"retune-state-{next(_tables)}", seed)


def five_drops(cw: ConcurrentWorld, rng: random.Random) -> dict[str, dict[str, Any]]:
    """Five drops whose manifests land within one second (some at the same instant: ties go by drop id)."""
    w = cw.world
    base = w.clock.now + timedelta(days=1)
    events = {}
    for drop_id in rng.sample([f"2015-{m:02d}-{d:02d}" for m in range(1, 13) for d in (1, 15)], 5):
        w.clock.now = base + timedelta(milliseconds=rng.choice((0, 250, 500, 750, 999)))
        events[drop_id] = w.drop(drop_id)
    w.clock.now = base + timedelta(seconds=2)
    return events


def newest(cw: ConcurrentWorld, drop_ids: list[str]) -> str:
    drops = [cw.store.get_drop(PROFILE, d) for d in drop_ids]
    return max(drops, key=lambda d: (d.uploaded_at, d.drop_id)).drop_id  # type: ignore[union-attr]


def start_five(cw: ConcurrentWorld, events: dict[str, dict[str, Any]]) -> list[concurrent.Outcome]:
    deps = [cw.invocation_deps("start", i) for i in range(len(events))]
    calls = [
        partial(lambda e, d: start_round(parse_drop_event(e), d), event, deps[i])
        for i, event in enumerate(events.values())
    ]
    outcomes = concurrently(calls)
    for outcome in outcomes:
        assert outcome.result is not None, f"an invocation failed every attempt: {outcome.errors}"
        assert all(isinstance(e, concurrent.ConflictError) for e in outcome.errors), outcome.errors
    return outcomes


def check_five_drops(endpoint: str, seed: int, running: bool) -> ConcurrentWorld:
    rng = random.Random(seed)
    cw = new_world(endpoint, seed)
    cw.world.put_profile()
    if running:
        first = cw.world.drop("2014-06-01")
        assert start_round(parse_drop_event(first), cw.world.deps).status == "started"
    events = five_drops(cw, rng)
    start_five(cw, events)

    states = {d: cw.store.get_drop(PROFILE, d).state for d in events}  # type: ignore[union-attr]
    assert set(states.values()) <= {"started", "queued", "superseded"}, states  # none lost, none failed
    started = [d for d, s in states.items() if s == "started"]
    assert len(started) == (0 if running else 1), states
    waiting = [d for d in events if d not in started]
    winner = newest(cw, waiting)
    assert states[winner] == "queued", (winner, states)
    assert [d for d, s in states.items() if s == "superseded"] == [d for d in waiting if d != winner]
    queued = cw.store.get_queued(PROFILE)
    assert queued is not None and queued.drop_id == winner
    active = cw.store.get_active(PROFILE)
    assert active is not None and active.seq == 1
    assert len(cw.world.sagemaker.tuning_jobs) == 1  # one round runs
    assert cw.world.alerts.published == []
    return cw


@pytest.mark.parametrize("running", [False, True], ids=["idle", "round-running"])
@pytest.mark.parametrize("seed", FAST_SEEDS)
def test_concurrency_five_drops_start_one_queue_the_newest_supersede_the_rest(
    endpoint: str, seed: int, running: bool
) -> None:
    check_five_drops(endpoint, seed, running)


@pytest.mark.slow
@pytest.mark.parametrize("running", [False, True], ids=["idle", "round-running"])
@pytest.mark.parametrize("seed", SLOW_SEEDS)
def test_concurrency_five_drops_over_many_seeds(endpoint: str, seed: int, running: bool) -> None:
    check_five_drops(endpoint, seed, running)


def round_ended(endpoint: str, seed: int) -> ConcurrentWorld:
    """One round started and its trials run and recorded, sequentially: ready to close."""
    cw = new_world(endpoint, seed)
    w = cw.world
    w.put_profile()
    assert start_round(parse_drop_event(w.drop("2015-01-01")), w.deps).status == "started"
    names = w.sagemaker.run_trials(TUNING, [{"objective": 0.52}, {"objective": 0.48}, {"objective": 0.6}])
    for name in names[:2]:  # the third's event is lost: both closes backfill it
        w.series.values[(name, "validation:rmse")] = [0.7, 0.6]
        assert record_trial(name, w.record_deps).status == "recorded"
    return cw


def check_two_closes_then_two_promotes(endpoint: str, seed: int) -> ConcurrentWorld:
    cw = round_ended(endpoint, seed)
    w = cw.world
    closes = concurrently([partial(close_round, TUNING, cw.invocation_deps("close", i)) for i in range(2)])
    assert all(o.result is not None for o in closes), [o.errors for o in closes]
    assert sorted(o.result.status for o in closes) == ["duplicate", "evaluating"]
    evaluation = evaluation_job_name(PROFILE, 1)
    assert [n for n in w.sagemaker.training_jobs if n.endswith("-eval")] == [evaluation]
    assert len(cw.store.trials(PROFILE, 1)) == 3  # one record per training job
    rnd = cw.store.get_round(PROFILE, 1)
    assert rnd is not None and rnd.status == "evaluating" and rnd.trial_counts == {"Completed": 3}

    w.sagemaker.end_evaluation(evaluation, 0.47)
    promotes = concurrently(
        [partial(evaluation_ended, evaluation, cw.invocation_deps("promote", i)) for i in range(2)]
    )
    assert all(o.result is not None for o in promotes), [o.errors for o in promotes]
    assert sorted(o.result.status for o in promotes) == ["approved", "duplicate"]
    assert len(w.sagemaker.packages) == 1
    champion = cw.store.get_champion(PROFILE)
    assert champion is not None and champion.version == 1 and len(champion.history) == 1
    assert [a.key for a in w.alerts.published] == [f"{PROFILE}/round/1/decision"]
    assert cw.store.get_active(PROFILE) is None
    return cw


@pytest.mark.parametrize("seed", FAST_SEEDS)
def test_concurrency_two_closes_and_two_promotes_make_one_evaluation_and_one_promotion(
    endpoint: str, seed: int
) -> None:
    check_two_closes_then_two_promotes(endpoint, seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", SLOW_SEEDS)
def test_concurrency_closes_and_promotes_over_many_seeds(endpoint: str, seed: int) -> None:
    check_two_closes_then_two_promotes(endpoint, seed)
