"""Properties of the tightening policy over generated profiles and histories (issue "Tightening policy").

Histories are simulated as the service makes them: each round runs with the plan `plan_next_round` made from the
rounds before it. Trials, evaluations and statuses are drawn: anything for the general properties, "good" rounds
(best found early, not on an edge, in time, not behind the champion) for the no-loosening one.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from retune.plan import Plan
from retune.policy import initial_plan, plan_next_round
from retune.policy_ranges import Scale
from retune.profile import (
    MAX_PARALLEL_JOBS,
    MAX_TRAINING_JOBS,
    CategoricalRange,
    ContinuousRange,
    IntegerRange,
    ParameterRange,
    Profile,
)
from retune.records import RoundHistory, TrialRecord
from test_policy import round_, trial, valid

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TIGHTER_IS_LOWER = (
    "max_jobs",
    "max_parallel_jobs",
    "max_runtime_seconds",
    "patience",
    "min_resource",
    "max_resource",
)


# --- profiles -------------------------------------------------------------------------------------------------


@st.composite
def numeric_range(draw: st.DrawFn, name: str, good: bool) -> dict[str, Any]:
    if draw(st.booleans()):
        # Good runs need an integer range with room inside its narrowest width for a best trial off the edges.
        scaling = "Linear" if good else draw(st.sampled_from(["Auto", "Linear", "Logarithmic"]))
        low = draw(st.integers(1 if scaling == "Logarithmic" else -50, 50))
        width = draw(st.integers(40 if good else 0, 400))
        return {
            "type": "integer",
            "name": name,
            "min_value": low,
            "max_value": low + width,
            "scaling": scaling,
        }
    scaling = draw(st.sampled_from(["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"]))
    if scaling == "Logarithmic":
        low = draw(st.floats(1e-6, 10))
        high = low * draw(st.floats(1.0, 1e4))
    elif scaling == "ReverseLogarithmic":
        low = draw(st.floats(0, 0.9))
        high = draw(st.floats(low, 0.999))
    else:
        low = draw(st.floats(-100, 100))
        # A range is a point or at least 1e-6 wide: narrower, halfway back to the profile is the same float.
        high = low + draw(st.just(0.0) | st.floats(1e-6, 200))
    return {"type": "continuous", "name": name, "min_value": low, "max_value": high, "scaling": scaling}


@st.composite
def profiles(draw: st.DrawFn, good: bool = False) -> Profile:
    strategy = draw(st.sampled_from(["Bayesian", "Random", "Hyperband", "Grid"]))
    ranges = []
    for index in range(draw(st.integers(1, 4))):
        if strategy == "Grid" or draw(st.integers(0, 3)) == 0:
            count = draw(st.integers(1, 5))
            ranges.append(
                {"type": "categorical", "name": f"p{index}", "values": [f"v{j}" for j in range(count)]}
            )
        else:
            ranges.append(draw(numeric_range(f"p{index}", good)))
    max_jobs = draw(st.integers(4 if good else 1, 30))
    parallel = draw(st.integers(1, max_jobs))
    runtime = draw(st.integers(60, 3600))
    static: dict[str, str] = {}
    metrics: dict[str, Any] = {}
    if draw(st.booleans()):
        static["patience"] = str(draw(st.integers(1, 50)))
        metrics["patience_hyperparameter"] = "patience"
    search: dict[str, Any] = {"strategy": strategy, "ranges": ranges}
    if strategy == "Hyperband":
        low = draw(st.integers(1, 5))
        search["hyperband"] = {"min_resource": low, "max_resource": draw(st.integers(low, 60))}
    bounds: dict[str, Any] = {
        "min_range_fraction": draw(st.floats(0.1 if good else 0.05, 1.0)),
        "drift_tolerance": draw(st.floats(0, 0.2)),
        "max_warm_start_parents": draw(st.integers(0, 5)),
    }
    if draw(st.booleans()):  # explicit bounds, around the profile's own values
        floor = draw(st.integers(2 if good else 1, max_jobs))
        bounds["max_jobs"] = {
            "floor": floor,
            "ceiling": draw(st.integers(max_jobs, min(MAX_TRAINING_JOBS, 2 * max_jobs))),
        }
        bounds["max_parallel_jobs"] = {
            "floor": draw(st.integers(1, min(parallel, floor))),
            "ceiling": draw(st.integers(parallel, 2 * parallel)),
        }
        bounds["max_runtime_seconds"] = {"floor": draw(st.integers(1, runtime)), "ceiling": runtime}
        not_improving = draw(st.integers(0, 10))
        bounds["max_jobs_not_improving"] = {
            "floor": not_improving,
            "ceiling": draw(st.integers(not_improving, 30)),
        }
        if static:
            patience = int(static["patience"])
            bounds["patience"] = {"floor": draw(st.integers(0, patience)), "ceiling": patience}
    return Profile.model_validate(
        {
            "name": "gen",
            "objective": {"metric_name": "obj", "type": draw(st.sampled_from(["Minimize", "Maximize"]))},
            "training": {
                "image": "retune/gen",
                "max_runtime_seconds": runtime,
                "metric_definitions": [{"name": "obj", "regex": "obj=([0-9.]+)"}],
                "static_hyperparameters": static,
            },
            "metrics": metrics,
            "search": search,
            "budget": {
                "max_jobs": max_jobs,
                "max_parallel_jobs": parallel,
                "max_round_seconds": draw(st.none() | st.integers(120, 20_000)),
            },
            "early_stopping": "Off" if strategy == "Hyperband" else draw(st.sampled_from(["Auto", "Off"])),
            "bounds": bounds,
            "promotion": {"inference_image": "retune/gen"},
        }
    )


# --- rounds ---------------------------------------------------------------------------------------------------


def value_in(draw: st.DrawFn, r: ParameterRange) -> str:
    match r:
        case CategoricalRange():
            return draw(st.sampled_from(r.values))
        case IntegerRange():
            return str(draw(st.integers(r.min_value, r.max_value)))
        case ContinuousRange():
            return repr(draw(st.floats(r.min_value, r.max_value)))


def center_of(prof: Profile, r: ParameterRange, draw: st.DrawFn) -> str:
    """The middle of a range in its scaling: nowhere near a narrowed edge."""
    if isinstance(r, CategoricalRange):
        return draw(st.sampled_from(r.values))
    original = next(o for o in prof.search.ranges if o.name == r.name)
    assert isinstance(original, IntegerRange | ContinuousRange)
    scale = Scale(original)
    low, high = scale.position(r.min_value), scale.position(r.max_value)
    middle = scale.value(((low or 0.0) + (high if high is not None else 1.0)) / 2)
    return (
        str(round(middle))
        if isinstance(r, IntegerRange)
        else repr(min(r.max_value, max(r.min_value, middle)))
    )


def any_round(draw: st.DrawFn, prof: Profile, seq: int, plan: Plan) -> RoundHistory:
    trials = []
    for index in range(1, draw(st.integers(0, min(plan.max_jobs.value, 10))) + 1):
        status = draw(st.sampled_from(["Completed", "Completed", "Stopped", "Failed"]))
        value = None if status == "Failed" else draw(st.floats(0.1, 2.0))
        series = draw(st.lists(st.floats(0.1, 2.0), max_size=12))
        trials.append(
            trial(
                prof,
                seq,
                index,
                value,
                hp={r.name: value_in(draw, r) for r in plan.ranges.value},
                status=status,
                secondary=draw(st.sampled_from(["Stopped", "MaxRuntimeExceeded"]))
                if status == "Stopped"
                else None,
                series=series,
                seconds=draw(st.none() | st.integers(1, 2 * plan.max_runtime_seconds.value)),
            )
        )
    for index in range(
        1, draw(st.integers(0, 3)) + 1
    ):  # incumbents: earlier bests re-trained, ranked anywhere
        status = draw(st.sampled_from(["Completed", "Failed"]))
        value = None if status == "Failed" else draw(st.floats(0.1, 2.0))
        hp = {r.name: value_in(draw, r) for r in prof.search.ranges}
        trials.append(incumbent(prof, seq, index, value, hp, status=status))
    champion = None if seq == 1 else draw(st.none() | st.floats(0.1, 2.0))
    scores = draw(st.none() | st.tuples(st.floats(0.1, 2.0), st.just(champion)))
    status = draw(st.sampled_from(["Completed", "Completed", "Stopped", "Failed"]))
    return round_(prof, seq, plan, trials, scores=scores, tuning_status=status)


def incumbent(
    prof: Profile, seq: int, index: int, value: float | None, hp: dict[str, str], status: str = "Completed"
) -> TrialRecord:
    """An earlier round's best configuration re-trained on round `seq`'s drop as a plain training job."""
    record = trial(prof, seq, 100 + index, value, hp=hp, status=status)
    return record.model_copy(update={"source": "incumbent", "training_job_name": f"inc-{seq}-{index}"})


def good_round(draw: st.DrawFn, prof: Profile, seq: int, plan: Plan) -> RoundHistory:
    """A round that gives no reason to loosen: its best came in the first half of the trials and of the plan's
    limit, it sits in the middle of every range, trials ran well within their limits, the curves settled at once
    (the winner leads from the first epoch), and the challenger did not fall behind the champion."""
    minimize = prof.objective.type == "Minimize"
    limit = plan.max_jobs_not_improving.value
    best_at = draw(st.integers(1, max(1, min(plan.max_jobs.value // 2, limit or plan.max_jobs.value))))
    after = draw(
        st.integers(best_at, max(best_at, min(plan.max_jobs.value - best_at, limit or plan.max_jobs.value)))
    )
    improving = {1, best_at}
    position = 1
    while position < best_at:  # improvements with gaps shorter than the criterion allows
        position += draw(st.integers(1, max(1, (limit or 4) - 1)))
        improving.add(min(position, best_at))
    slowest = max(
        1,
        min(
            plan.max_runtime_seconds.value // 4,
            (prof.budget.max_round_seconds or 10**6) // (2 * prof.budget.max_jobs),
        ),
    )
    epochs = draw(st.integers(1, plan.max_resource.value or 12))
    best = 1.0
    trials = []
    for index in range(1, best_at + after + 1):
        if index in improving:
            best = best * 0.95 if minimize else best * 1.05
            value = best
        else:
            worse = draw(st.floats(1.001, 1.5))
            value = best * worse if minimize else best / worse
        at_best = index == best_at
        hp = {r.name: center_of(prof, r, draw) if at_best else value_in(draw, r) for r in plan.ranges.value}
        trials.append(
            trial(
                prof,
                seq,
                index,
                value,
                hp=hp,
                status=draw(st.sampled_from(["Completed", "Stopped"])),
                series=[value] * epochs,
                seconds=draw(st.integers(1, slowest)),
            )
        )
    # Incumbents that did as well as the search (good transfer) or none at all: no reason to loosen either way.
    for index in range(1, draw(st.integers(0, 2)) + 1):
        hp = {r.name: center_of(prof, r, draw) for r in plan.ranges.value}
        trials.append(incumbent(prof, seq, index, best, hp))
    champion = None if seq == 1 else draw(st.none() | st.floats(0.5, 2.0))
    scores = (
        (champion * draw(st.floats(0.9, 1.0)) if minimize else champion / draw(st.floats(0.9, 1.0)), champion)
        if champion
        else None
    )
    return round_(prof, seq, plan, trials, scores=scores)


def simulate(draw: st.DrawFn, prof: Profile, rounds: int, *, good: bool = False) -> list[RoundHistory]:
    history: list[RoundHistory] = []
    for seq in range(1, rounds + 1):
        plan = plan_next_round(prof, history, "v1")
        history.append((good_round if good else any_round)(draw, prof, seq, plan))
    return history


# --- what "within bounds" and "tighter" mean --------------------------------------------------------------------


def positions(prof: Profile, r: IntegerRange | ContinuousRange) -> tuple[float, float]:
    original = next(o for o in prof.search.ranges if o.name == r.name)
    assert isinstance(original, IntegerRange | ContinuousRange)
    scale = Scale(original)
    low, high = scale.position(r.min_value), scale.position(r.max_value)
    return (0.0 if low is None else low), (1.0 if high is None else high)


def assert_within_bounds(prof: Profile, plan: Plan) -> None:
    b = prof.resolved_bounds()
    assert b.max_jobs.floor <= plan.max_jobs.value <= min(b.max_jobs.ceiling, MAX_TRAINING_JOBS)
    assert (
        b.max_parallel_jobs.floor
        <= plan.max_parallel_jobs.value
        <= min(b.max_parallel_jobs.ceiling, MAX_PARALLEL_JOBS)
    )
    assert b.max_runtime_seconds.floor <= plan.max_runtime_seconds.value <= b.max_runtime_seconds.ceiling
    not_improving = plan.max_jobs_not_improving.value
    if not_improving is not None:
        floor = max(3, b.max_jobs_not_improving.floor)
        assert floor <= not_improving <= max(floor, b.max_jobs_not_improving.ceiling)
    for name in ("patience", "min_resource", "max_resource"):
        bound, value = getattr(b, name), getattr(plan, name).value
        if bound is not None and value is not None:
            assert bound.floor <= value <= bound.ceiling, name
    assert plan.target_objective.value is None
    assert len(plan.warm_start_parents.value) <= b.max_warm_start_parents
    assert [r.name for r in plan.ranges.value] == [r.name for r in prof.search.ranges]
    for r, original in zip(plan.ranges.value, prof.search.ranges, strict=True):
        assert r.type == original.type
        if isinstance(r, CategoricalRange):
            assert isinstance(original, CategoricalRange)
            assert r.values and set(r.values) <= set(original.values)
            continue
        assert isinstance(original, IntegerRange | ContinuousRange) and isinstance(
            r, IntegerRange | ContinuousRange
        )
        assert r.scaling == original.scaling
        assert original.min_value <= r.min_value <= r.max_value <= original.max_value
        if not Scale(original).flat:
            low, high = positions(prof, r)
            assert high - low >= b.min_range_fraction - 1e-9, (r, b.min_range_fraction)


def loosened(prof: Profile, before: Plan, after: Plan) -> list[str]:
    """The settings that are looser in `after` than in `before`."""
    out = [name for name in TIGHTER_IS_LOWER if _gt(after.setting(name).value, before.setting(name).value)]
    a, b = after.max_jobs_not_improving.value, before.max_jobs_not_improving.value
    if b is not None and (a is None or a > b):
        out.append("max_jobs_not_improving")
    if before.complete_on_convergence.value and not after.complete_on_convergence.value:
        out.append("complete_on_convergence")
    for new, old in zip(after.ranges.value, before.ranges.value, strict=True):
        if isinstance(new, CategoricalRange):
            assert isinstance(old, CategoricalRange)
            if not set(new.values) <= set(old.values):
                out.append(f"ranges.{new.name}")
        else:
            assert isinstance(old, IntegerRange | ContinuousRange)
            if new.min_value < old.min_value or new.max_value > old.max_value:
                out.append(f"ranges.{new.name}")
    return out


def _gt(a: int | None, b: int | None) -> bool:
    return a is not None and b is not None and a > b


# --- properties -------------------------------------------------------------------------------------------------


@FAST
@given(st.data())
def test_policy_never_leaves_the_bounds_and_always_yields_a_valid_request(data: st.DataObject) -> None:
    prof = data.draw(profiles())
    history = simulate(data.draw, prof, data.draw(st.integers(1, 4)))
    for seq in range(len(history) + 1):
        plan = plan_next_round(prof, history[:seq], "v1")
        assert_within_bounds(prof, plan)
        valid(prof, plan, history[:seq])
        for change in plan.changes():
            assert change.reason


@FAST
@given(st.data())
def test_policy_is_deterministic_whatever_the_order_of_rounds_and_trials(data: st.DataObject) -> None:
    prof = data.draw(profiles())
    history = simulate(data.draw, prof, data.draw(st.integers(1, 4)))
    shuffled = [
        RoundHistory(round=h.round, trials=data.draw(st.permutations(h.trials)))
        for h in data.draw(st.permutations(history))
    ]
    plan = plan_next_round(prof, history, "v1")
    assert plan_next_round(prof, history, "v1") == plan
    assert plan_next_round(prof, shuffled, "v1") == plan


@FAST
@given(st.data())
def test_policy_run_of_good_rounds_never_loosens(data: st.DataObject) -> None:
    prof = data.draw(profiles(good=True))
    history = simulate(data.draw, prof, data.draw(st.integers(1, 4)), good=True)
    plans = [h.round.plan for h in history] + [plan_next_round(prof, history, "v1")]
    for before, after in pairwise(plans):
        assert loosened(prof, before, after) == [], [c.reason for c in after.changes()]
        assert all("drift" not in c.reason for c in after.changes())


@FAST
@given(st.data())
def test_policy_drift_never_tightens_and_moves_every_tightened_setting_towards_the_profile(
    data: st.DataObject,
) -> None:
    prof = data.draw(profiles())
    minimize = prof.objective.type == "Minimize"
    # Tighten first (good rounds), then a round whose challenger falls behind the champion on the same data.
    history = simulate(data.draw, prof, data.draw(st.integers(1, 3)), good=data.draw(st.booleans()))
    seq = len(history) + 1
    drifted = any_round(data.draw, prof, seq, plan_next_round(prof, history, "v1"))
    champion = data.draw(st.floats(0.5, 2.0))
    behind = 1 + prof.bounds.drift_tolerance + data.draw(st.floats(0.01, 0.3))
    challenger = champion * behind if minimize else champion * (2 - behind)
    drifted = round_(prof, seq, drifted.round.plan, drifted.trials, scores=(challenger, champion))
    history.append(drifted)
    if data.draw(st.booleans()):
        # CloseRound's flow: the next round was planned (and ran) before this evaluation ended.
        unevaluated = RoundHistory(
            round=drifted.round.model_copy(update={"evaluation": None}), trials=drifted.trials
        )
        closed = any_round(
            data.draw, prof, seq + 1, plan_next_round(prof, [*history[:-1], unevaluated], "v1")
        )
        history.append(
            RoundHistory(round=closed.round.model_copy(update={"evaluation": None}), trials=closed.trials)
        )
    before = history[-1].round.plan
    after = plan_next_round(prof, history, "v1")
    assert loosened(prof, after, before) == [], "drift tightened something"
    assert after.drift_answered == seq and all(int(p[-4:]) >= seq for p in after.warm_start_parents.value)
    original = initial_plan(prof)
    for name in TIGHTER_IS_LOWER:
        was, now, profile_value = (
            before.setting(name).value,
            after.setting(name).value,
            original.setting(name).value,
        )
        if was is not None and profile_value is not None and was < profile_value:
            assert was < now <= profile_value, (name, was, now, profile_value)
    assert after.max_jobs_not_improving.value is None and after.complete_on_convergence.value is False
    for new, old, first in zip(after.ranges.value, before.ranges.value, prof.search.ranges, strict=True):
        if isinstance(first, CategoricalRange):
            assert new == first
            continue
        assert isinstance(new, IntegerRange | ContinuousRange) and isinstance(
            old, IntegerRange | ContinuousRange
        )
        if old.min_value > first.min_value:
            assert new.min_value < old.min_value, (new, old)
        if old.max_value < first.max_value:
            assert new.max_value > old.max_value, (new, old)
    assert_within_bounds(prof, after)
    valid(prof, after, history)
    # Answered once: the round planned with this answer (closed, not yet evaluated) does not answer it again.
    ran = any_round(data.draw, prof, len(history) + 1, after)
    history.append(RoundHistory(round=ran.round.model_copy(update={"evaluation": None}), trials=ran.trials))
    again = plan_next_round(prof, history, "v1")
    assert again.drift_answered == seq
    assert all("drift:" not in again.setting(name).reason for name in Plan.SETTINGS)
