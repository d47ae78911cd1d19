"""The tightening policy on hand-made histories: each rule's move and the reason it gives (docs/policy.md).

The builders here (profile, trial, round_, ...) are shared with test_policy_properties.py.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from retune.naming import tuning_job_name
from retune.plan import Plan
from retune.policy import (
    NO_TARGET,
    hyperparameter_names,
    hyperparameter_types,
    initial_plan,
    plan_next_round,
    warm_start_candidates,
)
from retune.profile import CategoricalRange, ContinuousRange, IntegerRange, Profile
from retune.records import Evaluation, RoundHistory, RoundRecord, TrialRecord
from retune.requests import tuning_job_request
from retune.validation import ParentJob, validate_request

from tests.conftest import ROLE, profile_doc

T0 = datetime(2026, 1, 1, tzinfo=UTC)


# --- builders --------------------------------------------------------------------------------------------------


def profile(name: str = "market-xgb", **changes: Any) -> Profile:
    """A profile from profiles/<name>.json with top-level sections merged with `changes`."""
    doc = copy.deepcopy(profile_doc(name))
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(doc.get(key), dict):
            doc[key] = {**doc[key], **value}
        else:
            doc[key] = value
    return Profile.model_validate(doc)


def trial(
    prof: Profile,
    seq: int,
    index: int,
    objective: float | None,
    *,
    hp: dict[str, str] | None = None,
    status: str = "Completed",
    secondary: str | None = None,
    series: list[float] | None = None,
    seconds: int | None = 100,
) -> TrialRecord:
    """The `index`-th trial of round `seq` to finish (trials finish a minute apart, in index order)."""
    ended = T0 + timedelta(days=seq, minutes=index)
    return TrialRecord(
        profile=prof.name,
        seq=seq,
        training_job_name=f"{tuning_job_name(prof.name, seq)}-{index:03d}-{index:08x}",
        status=status,  # type: ignore[arg-type]
        secondary_status=secondary or status,
        hyperparameters=hp or {},
        objective_series=series if series is not None else ([objective] if objective is not None else []),
        final_objective=objective,
        stopped_early=status == "Stopped" and secondary in (None, "Stopped"),
        training_seconds=seconds,
        started_at=ended - timedelta(seconds=seconds or 0),
        ended_at=ended,
        updated_at=ended,
    )


def evaluation(seq: int, challenger: float, champion: float | None) -> Evaluation:
    return Evaluation(
        job_name=f"{tuning_job_name('x', seq)}-eval",
        status="Completed",
        challenger_score=challenger,
        champion_score=champion,
    )


def round_(
    prof: Profile,
    seq: int,
    plan: Plan,
    trials: list[TrialRecord],
    *,
    scores: tuple[float, float | None] | None = None,
    tuning_status: str = "Completed",
) -> RoundHistory:
    """A closed round of `prof` that ran with `plan`; `scores` (challenger, champion) once evaluated."""
    rnd = RoundRecord(
        profile=prof.name,
        seq=seq,
        drop_id=f"2015-{seq:02d}",
        tuning_job_name=tuning_job_name(prof.name, seq),
        status="decided" if scores else "evaluating",
        plan=plan,
        profile_version="v1",
        objective_metric=prof.objective.metric_name,
        objective_type=prof.objective.type,
        hyperparameter_names=sorted(hyperparameter_names(prof)),
        started_at=T0 + timedelta(days=seq),
        tuning_status=tuning_status,
        evaluation=evaluation(seq, *scores) if scores else None,
        trial_counts={"Completed": len(trials)},
    )
    return RoundHistory(round=rnd, trials=trials)


def parents(history: list[RoundHistory]) -> dict[str, ParentJob]:
    """The warm-start parents as DescribeHyperParameterTuningJob would describe the history's rounds."""
    return {
        h.round.tuning_job_name: ParentJob(
            h.round.tuning_job_name,
            h.round.tuning_status or "InProgress",
            h.round.objective_metric,
            hyperparameter_types(h.round.plan.ranges.value, h.round.hyperparameter_names),
        )
        for h in history
    }


def request(prof: Profile, plan: Plan, seq: int) -> dict[str, Any]:
    return tuning_job_request(
        profile=prof,
        plan=plan,
        seq=seq,
        drop_id=f"2015-{seq:02d}",
        bucket="retune-data",
        channel_manifests={
            c: f"s3://retune-data/manifests/{prof.name}/{seq}/{c}.manifest" for c in prof.training.channels
        },
        channel_content_types={},
        role_arn=ROLE,
    )


def valid(prof: Profile, plan: Plan, history: list[RoundHistory]) -> None:
    seq = max((h.round.seq for h in history), default=0) + 1
    validate_request("CreateHyperParameterTuningJob", request(prof, plan, seq), parents=parents(history))


def curve(final: float, *, stall: int = 0, tail: int = 4) -> list[float]:
    """A trainer's best-so-far series: three improvements, an optional stall before the last, then a tail."""
    return [final + 0.1, final + 0.05, *([final + 0.05] * stall), final, *([final] * tail)]


# --- a first round of market-xgb ------------------------------------------------------------------------------

XGB = profile()
# Finish order: trial 1 sets the best, trial 3 improves it by 4%, nothing later improves by 1%.
OBJECTIVES = [0.50, 0.52, 0.48, 0.485, 0.49, 0.50, 0.51, 0.52, 0.53, 0.54, 0.55, 0.56, 0.57, 0.58, 0.59, 0.60]
OBJECTIVES += [0.61, 0.62, 0.63, 0.64]
ETA = ["0.05", "0.2", "0.03", "0.06", "0.04", "0.045", "0.29", "0.1", "0.15", "0.25"]
ETA += ["0.011", "0.2", "0.015", "0.12", "0.25", "0.02", "0.013", "0.3", "0.18", "0.01"]
DEPTH = [
    "5",
    "9",
    "4",
    "6",
    "5",
    "5",
    "10",
    "8",
    "3",
    "9",
    "2",
    "7",
    "3",
    "10",
    "8",
    "2",
    "9",
    "3",
    "10",
    "2",
]
OBJECTIVES[5] = 0.505


def first_round(prof: Profile = XGB, seq: int = 1, plan: Plan | None = None) -> RoundHistory:
    trials = [
        trial(
            prof,
            seq,
            i,
            value,
            hp={"eta": ETA[i - 1], "max_depth": DEPTH[i - 1]},
            series=curve(value, stall=2 if i == 3 else 0),
            seconds=150 if i == 4 else 100,
        )
        for i, value in enumerate(OBJECTIVES, start=1)
    ]
    return round_(prof, seq, plan or initial_plan(prof, "v1"), trials)


def test_policy_first_round_is_the_profile() -> None:
    plan = plan_next_round(XGB, [], "v1")
    assert plan == initial_plan(XGB, "v1")
    assert plan.changes() == []


def reasons(plan: Plan) -> dict[str, tuple[Any, Any, str]]:
    return {c.setting: (c.from_, c.to, c.reason) for c in plan.changes()}


def test_policy_after_one_round_tightens_each_setting_with_its_reason() -> None:
    history = [first_round()]
    plan = plan_next_round(XGB, history, "v1")
    valid(XGB, plan, history)
    moved = reasons(plan)
    assert moved["max_jobs"] == (
        20,
        6,
        "fewer trials: the last 1% improvement came by trial 3 at the latest in round 1 (round 1, of 20); "
        "2x that is 6",
    )
    assert moved["max_parallel_jobs"] == (
        2,
        1,
        "Bayesian search learns from finished trials: at most 1 of 6 at once (4 waves or more)",
    )
    assert moved["max_runtime_seconds"] == (900, 300, "2x the longest completed trial of round 1 (150s)")
    assert moved["max_jobs_not_improving"] == (
        None,
        3,
        "stop after 3 trials without a 1% improvement: in round 1 an improvement came after at most 1 trials "
        "without one (round 1)",
    )
    assert moved["complete_on_convergence"] == (
        False,
        True,
        "on: round 1 made the last 1% improvement in the first half of the trials",
    )
    assert moved["patience"] == (
        40,
        30,
        "early_stopping_rounds 30 outlasts 3 epoch(s) without a new best: the best trials of round 1 never "
        "gained 0.2% or more after a longer stall than 2, and an epoch is 10 early_stopping_rounds (round 1's "
        "trials ran 4 epoch(s) past their best on 40)",
    )
    assert moved["warm_start_parents"] == (
        [],
        ["rt-market-xgb-0001"],
        "warm start from round 1: the 1 most recent completed round(s) with the same objective and "
        "hyperparameters",
    )
    assert moved["ranges"][2] == (
        "eta narrowed to 0.02135..0.08431 (was 0.01..0.3) around the best 5 trial(s) of round 1; "
        "max_depth narrowed to 3..7 (was 2..10) around the best 5 trial(s) of round 1"
    )
    eta, depth, *others = plan.ranges.value
    assert isinstance(eta, ContinuousRange) and eta.scaling == "Logarithmic"
    assert isinstance(depth, IntegerRange) and (depth.min_value, depth.max_value) == (3, 7)
    assert others == list(XGB.search.ranges)[2:]  # no trial values for them: nothing to narrow towards
    assert plan.target_objective.value is None and plan.target_objective.reason == NO_TARGET
    assert plan.based_on_rounds == [1]
    assert moved["incumbents"] == (
        0,
        3,
        "3, the champion's and the recent rounds' best configurations re-trained on the new drop first: no round "
        "has measured how they rank on a new drop yet",
    )
    assert set(moved) == {
        "incumbents",
        "max_jobs",
        "max_parallel_jobs",
        "max_runtime_seconds",
        "max_jobs_not_improving",
        "complete_on_convergence",
        "patience",
        "warm_start_parents",
        "ranges",
        "target_margin",
    }
    assert moved["incumbents"][:2] == (0, 3)  # round 2 retrains round 1's best first


def second_round(plan: Plan, scores: tuple[float, float] | None = None) -> RoundHistory:
    """Round 2 ran with `plan`: its best trial sits on the upper edge of eta, one trial ran out of time."""
    top = plan.ranges.value[0]
    assert isinstance(top, ContinuousRange)
    trials = [
        trial(XGB, 2, 1, 0.40, hp={"eta": repr(top.max_value), "max_depth": "5"}, series=curve(0.40)),
        trial(XGB, 2, 2, 0.41, hp={"eta": "0.03", "max_depth": "4"}, series=curve(0.41)),
        trial(XGB, 2, 3, 0.42, hp={"eta": "0.04", "max_depth": "6"}, series=curve(0.42)),
        trial(
            XGB, 2, 4, 0.45, hp={"eta": "0.05"}, status="Stopped", secondary="MaxRuntimeExceeded", seconds=300
        ),
    ]
    return round_(XGB, 2, plan, trials, scores=scores)


def test_policy_best_trial_on_a_narrowed_edge_widens_that_side() -> None:
    one = first_round()
    history = [one, second_round(plan_next_round(XGB, [one], "v1"))]
    plan = plan_next_round(XGB, history, "v1")
    valid(XGB, plan, history)
    assert reasons(plan)["ranges"][2] == (
        "eta widened to 0.02135..0.159 (was 0.02135..0.08431), halfway back towards the profile's 0.01..0.3: "
        "round 2's best trial (eta=0.08431) sits on the upper edge of the narrowed range"
    )


def test_policy_trials_running_into_the_time_limit_loosen_it() -> None:
    one = first_round()
    history = [one, second_round(plan_next_round(XGB, [one], "v1"))]
    plan = plan_next_round(XGB, history, "v1")
    assert reasons(plan)["max_runtime_seconds"] == (
        300,
        600,
        "back halfway towards 900s: 1 trial(s) of round 2 ran into the 300s limit",
    )
    # Nothing else loosens: the round found its best at once, and stopped on BestObjectiveNotImproving.
    assert plan.max_jobs.value == 6 and plan.max_jobs_not_improving.value == 3
    assert plan.max_jobs_not_improving.reason.endswith("and round 2 ended on its limit of 3")


DRIFT = (
    "drift: round 2's challenger scored 0.55 against the champion's 0.5 on the same test data, 10.0% behind "
    "(tolerance 5.0%)"
)


def test_policy_drift_moves_every_tightened_setting_halfway_back_with_its_reason() -> None:
    one = first_round()
    two = second_round(plan_next_round(XGB, [one], "v1"), scores=(0.55, 0.50))
    history = [one, two]
    plan = plan_next_round(XGB, history, "v1")
    valid(XGB, plan, history)
    moved = reasons(plan)
    assert moved["max_jobs"] == (6, 13, f"back halfway towards 20: {DRIFT}")
    assert moved["max_parallel_jobs"] == (1, 2, f"back halfway towards 2: {DRIFT}")
    assert moved["max_runtime_seconds"] == (300, 600, f"back halfway towards 900s: {DRIFT}")
    assert moved["patience"] == (30, 35, f"back halfway towards 40: {DRIFT}")
    assert moved["max_jobs_not_improving"] == (
        3,
        None,
        f"removed, so the next round runs to its trial limit and shows the gaps again: {DRIFT}",
    )
    assert moved["complete_on_convergence"] == (True, False, f"off: {DRIFT}")
    assert moved["ranges"][2] == (
        f"eta widened to 0.01461..0.159 (was 0.02135..0.08431), halfway back towards the profile's 0.01..0.3: "
        f"{DRIFT}; max_depth widened to 2..9 (was 3..7), halfway back towards the profile's 2..10: {DRIFT}"
    )
    # Older rounds stop shaping the plan: the horizon and the parents start at the round that drifted.
    assert plan.based_on_rounds == [2]
    assert moved["warm_start_parents"] == (
        ["rt-market-xgb-0001"],
        ["rt-market-xgb-0002"],
        "warm start from round 2: the 1 most recent completed round(s) since the drift of round 2 with the same "
        "objective and hyperparameters",
    )


def test_policy_drift_is_answered_once_whenever_the_evaluation_arrives() -> None:
    one = first_round()
    at_close = plan_next_round(XGB, [one], "v1")
    # CloseRound plans round 3 before round 2's evaluation: no drift yet.
    two_closed = second_round(at_close)
    before = plan_next_round(XGB, [one, two_closed], "v1")
    assert "drift" not in before.max_jobs.reason
    # Round 3 ran with that plan; its close sees round 2's evaluation and answers the drift.
    two = second_round(at_close, scores=(0.55, 0.50))
    three = round_(XGB, 3, before, [trial(XGB, 3, i, 0.3 + i / 100, hp={"eta": "0.05"}) for i in (1, 2, 3)])
    answer = plan_next_round(XGB, [three, one, two], "v1")
    assert answer.max_jobs.reason.endswith(DRIFT) and answer.based_on_rounds == [2, 3]
    # Round 4 ran with the answer: the same drift is not answered again.
    four = round_(XGB, 4, answer, [trial(XGB, 4, i, 0.3 + i / 100, hp={"eta": "0.05"}) for i in (1, 2, 3)])
    after = plan_next_round(XGB, [one, two, three, four], "v1")
    assert all("drift:" not in c.reason for c in after.changes())
    assert after.based_on_rounds == [2, 3, 4]


def test_policy_more_trials_when_the_best_came_late() -> None:
    prof = profile(bounds={"max_jobs": {"floor": 4, "ceiling": 40}})
    values = [0.60 - 0.02 * i if i in (1, 9, 18) else 0.70 for i in range(1, 21)]
    history = [round_(prof, 1, initial_plan(prof), [trial(prof, 1, i, v) for i, v in enumerate(values, 1)])]
    plan = plan_next_round(prof, history)
    valid(prof, plan, history)
    moved = reasons(plan)
    assert moved["max_jobs"] == (
        20,
        36,
        "more trials: the last 1% improvement came by trial 18 at the latest in round 1 (round 1, of 20); "
        "2x that is 36",
    )
    assert moved["max_jobs_not_improving"][1:] == (
        9,
        "stop after 9 trials without a 1% improvement: in round 1 an improvement came after at most 8 trials "
        "without one (round 1)",
    )
    assert plan.complete_on_convergence.value is False
    assert (
        plan.complete_on_convergence.reason == "off: round 1 made its last 1% improvement at trial 18 of 20"
    )


def test_policy_drops_a_categorical_value_that_never_does_well() -> None:
    mlp = profile("market-mlp")
    activation = ["relu", "tanh"] * 4
    values = [0.40, 0.60, 0.41, 0.61, 0.42, 0.62, 0.43, 0.63]  # every tanh trial in the bottom half
    trials = [
        trial(mlp, 1, i, v, hp={"activation": a, "batch_size": "128"}, series=[v + 0.1, v, v])
        for i, (v, a) in enumerate(zip(values, activation, strict=True), 1)
    ]
    history = [round_(mlp, 1, initial_plan(mlp), trials)]
    plan = plan_next_round(mlp, history)
    valid(mlp, plan, history)
    ranges = {r.name: r for r in plan.ranges.value}
    assert ranges["activation"] == CategoricalRange(name="activation", values=["relu"])
    # batch_size 128 did well, but the others were never tried: no evidence against them.
    assert ranges["batch_size"] == next(r for r in mlp.search.ranges if r.name == "batch_size")
    assert "activation drops tanh (4 trials): never in the top half of its round" in plan.ranges.reason


HYPERBAND = profile("images-cnn")


def hyperband_round(seq: int, plan: Plan, winner: list[float]) -> RoundHistory:
    """The winner's curve (val_acc, Maximize) and three weaker trials cut at the first rungs."""
    trials = [trial(HYPERBAND, seq, 1, winner[-1], series=winner, status="Stopped", secondary="Stopped")]
    for index, level in ((2, 0.30), (3, 0.40), (4, 0.35)):
        trials.append(trial(HYPERBAND, seq, index, level, series=[level - 0.05, level], status="Stopped"))
    return round_(HYPERBAND, seq, plan, trials)


def test_policy_hyperband_resources_follow_when_the_winner_led_and_settled() -> None:
    # Leads from epoch 1; within 1% of its final 0.82 from epoch 8 on; stopped at MaxResource 30.
    winner = [0.5, 0.6, 0.7, 0.75, 0.78, 0.80, 0.81, 0.815] + [0.82] * 22
    history = [hyperband_round(1, initial_plan(HYPERBAND), winner)]
    plan = plan_next_round(HYPERBAND, history)
    valid(HYPERBAND, plan, history)
    moved = reasons(plan)
    assert moved["min_resource"] == (2, 1, "the recent winners led from epoch 1 on")
    assert moved["max_resource"] == (
        30,
        10,
        "the recent winners were within 1% of their final objective by epoch 8; 1.25x that is 10",
    )
    assert plan.warm_start_parents.value == []
    assert plan.warm_start_parents.reason == (
        "no warm start: only Bayesian search learns from the parents' trials (AWS documents warm start for "
        "Bayesian and random search), not Hyperband"
    )


def test_policy_hyperband_winner_cut_short_loosens_its_resources() -> None:
    first = hyperband_round(
        1, initial_plan(HYPERBAND), [0.5, 0.6, 0.7, 0.75, 0.78, 0.80, 0.81, 0.815] + [0.82] * 22
    )
    tight = plan_next_round(HYPERBAND, [first])
    # Round 2's winner trails until epoch 3 and still gains 1% in its last epochs when MaxResource 10 stops it.
    winner = [0.2, 0.25, 0.5, 0.6, 0.7, 0.75, 0.78, 0.80, 0.84, 0.88]
    history = [first, hyperband_round(2, tight, winner)]
    plan = plan_next_round(HYPERBAND, history)
    valid(HYPERBAND, plan, history)
    moved = reasons(plan)
    assert moved["min_resource"] == (
        1,
        2,
        "back halfway towards 2: round 2's winner led only from epoch 3, after the first rung at 1",
    )
    assert moved["max_resource"] == (
        10,
        20,
        "back halfway towards 30: round 2's winner still gained 1% or more in its last 2 epoch(s) when it "
        "reached 10",
    )


def test_policy_random_search_keeps_its_parallelism_and_skips_warm_start() -> None:
    prof = profile(search={"strategy": "Random"})
    history = [first_round(prof)]
    plan = plan_next_round(prof, history)
    valid(prof, plan, history)
    assert plan.warm_start_parents.value == []
    assert plan.max_parallel_jobs.value == 2
    assert plan.max_parallel_jobs.reason == (
        "the profile's: Random search does not learn between trials, so parallel costs nothing"
    )


def test_policy_parallelism_rises_when_the_round_would_not_fit_its_time_limit() -> None:
    prof = profile(budget={"max_jobs": 20, "max_parallel_jobs": 4, "max_round_seconds": 600})
    history = [first_round(prof)]
    plan = plan_next_round(prof, history)
    # 6 trials of up to 150 s in 600 s need 2 at once, though Bayesian search would rather run 1.
    assert (plan.max_jobs.value, plan.max_parallel_jobs.value) == (6, 2)
    assert plan.max_parallel_jobs.reason == "2 at once so that 6 trials of up to 150s fit the round's 600s"


def test_policy_warm_start_prefers_recent_good_rounds_and_respects_the_bound() -> None:
    prof = profile(bounds={"max_warm_start_parents": 2})
    history = [first_round(prof, seq) for seq in (1, 2, 3)]
    history[2] = round_(prof, 3, history[2].round.plan, history[2].trials, tuning_status="Stopped")
    plan = plan_next_round(prof, history)
    valid(prof, plan, history)
    # Round 3 was stopped (not a completed search): the two newest completed rounds come first.
    assert plan.warm_start_parents.value == ["rt-market-xgb-0002", "rt-market-xgb-0001"]


def test_policy_warm_start_skips_rounds_whose_hyperparameter_types_differ() -> None:
    old = profile(
        search={
            "ranges": [
                {"type": "categorical", "name": "eta", "values": ["0.1", "0.2"]},
                *[r for r in profile_doc()["search"]["ranges"] if r["name"] != "eta"],
            ]
        }
    )
    history = [first_round(old)]
    assert warm_start_candidates(XGB, history) == []
    plan = plan_next_round(XGB, history)
    valid(XGB, plan, history)
    assert plan.warm_start_parents.value == []


def test_policy_is_the_same_for_any_order_of_the_history() -> None:
    one = first_round()
    history = [one, second_round(plan_next_round(XGB, [one], "v1"))]
    shuffled = [RoundHistory(round=h.round, trials=list(reversed(h.trials))) for h in reversed(history)]
    assert plan_next_round(XGB, shuffled, "v1") == plan_next_round(XGB, history, "v1")


@pytest.mark.parametrize("status", ["InProgress", None])
def test_policy_ignores_rounds_that_have_not_closed(status: str | None) -> None:
    one = first_round()
    running = round_(XGB, 2, plan_next_round(XGB, [one]), [], tuning_status="Completed")
    running = RoundHistory(round=running.round.model_copy(update={"tuning_status": status}))
    plan = plan_next_round(XGB, [one, running])
    assert plan.based_on_rounds == [1]
    assert plan.warm_start_parents.value == ["rt-market-xgb-0001"]
