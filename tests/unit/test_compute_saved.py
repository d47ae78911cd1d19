"""ComputeSecondsSaved: what a round's plan saved against its profile's full budget (issue 10, CloudWatch)."""

from __future__ import annotations

from datetime import UTC, datetime

from retune.events import parse_drop_event
from retune.records import TrialRecord
from retune.use_cases.close_round import close_round, compute_seconds_saved
from retune.use_cases.record_trial import record_trial
from retune.use_cases.start_round import start_round

from tests.conftest import World

TUNING = "rt-market-xgb-0001"


def trial(name: str, billable: int | None) -> TrialRecord:
    return TrialRecord(
        profile="market-xgb",
        seq=1,
        training_job_name=name,
        status="Completed" if billable is not None else "Failed",
        billable_seconds=billable,
        updated_at=datetime(2026, 1, 5, tzinfo=UTC),
    )


def test_compute_saved_is_the_full_budget_at_the_mean_trial_minus_what_was_billed() -> None:
    trials = [trial("a", 100), trial("b", 300), trial("c", None)]
    # 10 trials at the mean of 200 s would have billed 2000 s; the round billed 400 s.
    assert compute_seconds_saved(10, trials) == 1600


def test_compute_saved_is_negative_when_the_round_ran_more_trials_than_the_budget() -> None:
    assert compute_seconds_saved(1, [trial("a", 60), trial("b", 60)]) == -60


def test_compute_saved_is_unknown_without_billable_time() -> None:
    assert compute_seconds_saved(10, [trial("a", None)]) is None
    assert compute_seconds_saved(10, []) is None


def test_close_round_counts_compute_seconds_saved_once(world: World) -> None:
    world.put_profile()
    assert start_round(parse_drop_event(world.drop("2015-01-01")), world.deps).status == "started"
    names = world.sagemaker.run_trials(TUNING, [{"objective": 0.5}, {"objective": 0.4}, {"objective": 0.6}])
    for name in names:
        world.series.values[(name, "validation:rmse")] = [0.7, 0.6, 0.55]
        assert record_trial(name, world.record_deps).status == "recorded"
    assert close_round(TUNING, world.close_deps).status == "evaluating"
    assert close_round(TUNING, world.close_deps).status == "duplicate"
    # market-xgb's budget is 20 trials; the fakes bill 60 s a trial: 20 × 60 − 3 × 60.
    assert world.metrics.counts["ComputeSecondsSaved"] == 1020
