"""AMT's rules as pure functions (rules.py), on hand-computed cases."""

from __future__ import annotations

import pytest
from retune_local.images import candidates
from retune_local.rules import CompletionTracker, Hyperband, improves, median_rule_stops
from retune_local.strategies import Range, SearchSpace


def test_median_rule_needs_enough_previous_jobs() -> None:
    assert not median_rule_stops(9.0, 1, [[1.0], [1.0]], minimize=True, min_jobs=3)
    assert median_rule_stops(9.0, 1, [[1.0], [1.0], [1.0]], minimize=True, min_jobs=3)


def test_median_rule_compares_with_the_median_of_running_averages_up_to_the_epoch() -> None:
    previous = [[4.0, 2.0, 0.0], [6.0, 4.0], [10.0, 8.0, 6.0, 4.0]]
    # Running averages at epoch 2: 3, 5, 9 -> median 5; at epoch 3: 2, 5 (all it has), 8 -> median 5.
    assert not median_rule_stops(5.0, 2, previous, minimize=True, min_jobs=3)
    assert median_rule_stops(5.1, 2, previous, minimize=True, min_jobs=3)
    assert median_rule_stops(4.9, 3, previous, minimize=False, min_jobs=3)


def test_median_rule_ignores_jobs_without_values() -> None:
    assert not median_rule_stops(9.0, 1, [[], [1.0], [1.0]], minimize=True, min_jobs=3)


def test_improvement_is_one_percent_of_the_best() -> None:
    assert improves(0.99, 1.0, minimize=True)
    assert not improves(0.991, 1.0, minimize=True)
    assert improves(101.0, 100.0, minimize=False)
    assert not improves(100.9, 100.0, minimize=False)
    assert improves(5.0, None, minimize=True)


def test_completion_tracker_counts_jobs_not_improving_since_the_last_improvement() -> None:
    tracker = CompletionTracker(minimize=True, max_not_improving=2)

    assert [tracker.observe(v) for v in (1.0, 0.5, 0.499, 0.4, 0.45, 0.41)] == [
        None,
        None,
        None,
        None,
        None,
        "BestObjectiveNotImproving",
    ]


def test_completion_tracker_target() -> None:
    tracker = CompletionTracker(minimize=False, target=0.9)

    assert tracker.observe(0.8) is None
    assert tracker.observe(0.9) == "TargetObjectiveMetricValue"


def test_hyperband_brackets_and_rungs() -> None:
    schedule = Hyperband(min_resource=1, max_resource=27)

    assert schedule.brackets == 4
    assert [schedule.rungs(b) for b in range(4)] == [[1, 3, 9], [3, 9], [9], []]
    assert [schedule.bracket(i) for i in range(1, 6)] == [0, 1, 2, 3, 0]


def test_hyperband_promotes_the_top_third() -> None:
    schedule = Hyperband(1, 9)

    assert schedule.promoted(1.0, [], minimize=True)
    assert not schedule.promoted(2.0, [1.0], minimize=True)
    assert schedule.promoted(2.0, [1.0, 3.0, 4.0, 5.0, 6.0], minimize=True)
    assert not schedule.promoted(3.0, [1.0, 2.0, 4.0, 5.0, 6.0], minimize=True)


def test_search_space_reverse_logarithmic_round_trips() -> None:
    space = SearchSpace([Range("m", "continuous", 0.5, 0.99, "ReverseLogarithmic")])
    params = space.from_hyperparameters({"m": "0.9"})

    assert params is not None
    assert float(space.to_hyperparameters(params)["m"]) == pytest.approx(0.9)
    assert space.from_hyperparameters({"m": "0.995"}) is None


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        (
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/retune-xgb:1.2",
            ["123456789012.dkr.ecr.us-east-1.amazonaws.com/retune-xgb:1.2", "retune-xgb:1.2", "retune-xgb"],
        ),
        ("retune-xgb", ["retune-xgb"]),
        (
            "localhost:5000/team/img@sha256:abc",
            ["localhost:5000/team/img@sha256:abc", "team/img@sha256:abc", "team/img"],
        ),
    ],
)
def test_image_lookup_names(uri: str, expected: list[str]) -> None:
    assert candidates(uri) == expected
