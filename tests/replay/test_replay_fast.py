"""Replay the recorded run's events through the handlers in process, shuffled and repeated (issue 9, section 1).

`make test` runs 20 schedules; the slow suite (`make test-reliability`) runs 250.
"""

from __future__ import annotations

import pytest

from tests.replay.harness import ReplayWorld, in_order_phases, replay, schedule
from tests.replay.invariants import Effects, check, read_effects
from tests.replay.recording import PROFILE, Recording

# One worker runs the module: the session's recorded run (three drops on the local stack) is made once.
pytestmark = [
    pytest.mark.xdist_group("replay-recording"),
    pytest.mark.local_stack,
    pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning"),
]

FAST_SCHEDULES = 20
SLOW_SCHEDULES = 250


def effects_of(world: ReplayWorld) -> Effects:
    return read_effects(world.store, PROFILE, world.alerts.published, world.sagemaker.new_jobs)


def in_order(recording: Recording) -> Effects:
    world = ReplayWorld(recording)
    outcome = replay(world, in_order_phases(recording), seed=0)
    assert not outcome.parked, outcome.parked
    return effects_of(world)


def run_schedules(recording: Recording, seeds: range) -> dict[str, int]:
    baseline = in_order(recording)
    check(baseline, recording)
    totals = {"schedules": 0, "deliveries": 0, "attempts": 0, "retried": 0, "parked": 0, "reconciles": 0}
    for seed in seeds:
        world = ReplayWorld(recording)
        outcome = replay(world, schedule(recording, seed), seed)
        try:
            check(effects_of(world), recording, baseline)
        except AssertionError as exc:
            raise AssertionError(f"schedule {seed}: {exc}; parked: {outcome.parked}") from exc
        totals["schedules"] += 1
        totals["deliveries"] += outcome.deliveries
        totals["attempts"] += outcome.attempts
        totals["retried"] += outcome.retried
        totals["parked"] += len(outcome.parked)
        totals["reconciles"] += outcome.reconciles
    print(f"replay: {totals}")
    return totals


def test_replay_in_order_matches_the_recorded_run(recording: Recording) -> None:
    check(in_order(recording), recording)


def test_replay_shuffled_and_repeated_ends_as_the_in_order_run(recording: Recording) -> None:
    assert run_schedules(recording, range(1, FAST_SCHEDULES + 1))["schedules"] == FAST_SCHEDULES


@pytest.mark.slow
def test_replay_shuffled_and_repeated_ends_as_the_in_order_run_over_many_schedules(
    recording: Recording,
) -> None:
    totals = run_schedules(recording, range(1, SLOW_SCHEDULES + 1))
    assert totals["schedules"] >= 200
