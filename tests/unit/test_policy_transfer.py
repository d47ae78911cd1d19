"""Transfer and noise (docs/policy.md, rules 7, 9 and 13): how the incumbents rank on the new drop decides what
the next round narrows, warm-starts and spends; differences inside the trainer-seed noise decide nothing."""

from __future__ import annotations

from retune.plan import Plan
from retune.policy import initial_plan, plan_next_round
from retune.policy_evidence import KNOBS, round_stats
from retune.profile import CategoricalRange, ContinuousRange, IntegerRange, ParameterRange, Profile
from retune.records import RoundHistory, TrialRecord

from tests.unit.test_policy import XGB, curve, first_round, profile, round_, trial, valid

# Round 2's tuning trials, all inside round 1's narrowed ranges (eta 0.02135..0.08431, max_depth 3..7), each
# clearly apart from the next (2% and more, beyond the 1% noise): left alone, they narrow eta and max_depth.
ROUND_2 = [
    (0.40, "0.04", "5"),
    (0.41, "0.045", "5"),
    (0.42, "0.05", "6"),
    (0.44, "0.07", "7"),
    (0.46, "0.025", "3"),
]


def incumbent(prof: Profile, seq: int, index: int, objective: float, hp: dict[str, str]) -> TrialRecord:
    """An earlier round's best configuration re-trained on round `seq`'s drop, as a plain training job."""
    record = trial(prof, seq, index, objective, hp=hp, series=curve(objective))
    return record.model_copy(
        update={"source": "incumbent", "training_job_name": f"rt-{prof.name}-{seq:04d}-inc-{index}"}
    )


def round_two(plan: Plan, incumbents: list[float]) -> RoundHistory:
    trials = [
        trial(XGB, 2, i, v, hp={"eta": eta, "max_depth": depth}, series=curve(v))
        for i, (v, eta, depth) in enumerate(ROUND_2, 1)
    ]
    trials += [
        incumbent(XGB, 2, 10 + i, v, {"eta": "0.03", "max_depth": "4"}) for i, v in enumerate(incumbents)
    ]
    return round_(XGB, 2, plan, trials)


def contains(outer: ParameterRange, inner: ParameterRange) -> bool:
    if isinstance(outer, CategoricalRange):
        assert isinstance(inner, CategoricalRange)
        return set(inner.values) <= set(outer.values)
    assert isinstance(outer, IntegerRange | ContinuousRange) and isinstance(
        inner, IntegerRange | ContinuousRange
    )
    return outer.min_value <= inner.min_value and inner.max_value <= outer.max_value


def test_transfer_is_the_share_of_tuning_trials_that_did_not_beat_the_best_incumbent_beyond_noise() -> None:
    one = first_round()
    plan = plan_next_round(XGB, [one], "v1")
    # The best incumbent 0.403: 0.40 beats it by 0.7%, inside the 1% noise, so no trial beat it.
    assert round_stats(round_two(plan, [0.403, 0.50]), KNOBS, 0.01).transfer == 1.0
    # 0.43: beaten beyond noise by 0.40, 0.41 and 0.42 (3 of 5); 0.44 and 0.46 did not beat it.
    assert round_stats(round_two(plan, [0.43]), KNOBS, 0.01).transfer == 0.4
    assert round_stats(round_two(plan, [0.55, 0.60]), KNOBS, 0.01).transfer == 0.0
    # Without incumbents nothing is measured; the incumbents never count as AMT's trials.
    stats = round_stats(round_two(plan, []), KNOBS, 0.01)
    assert stats.transfer is None
    assert len(round_stats(round_two(plan, [0.30]), KNOBS, 0.01).scored) == len(stats.scored) == 5


def test_incumbents_that_rank_last_mean_nothing_narrows() -> None:
    # Round 1 alone narrows eta and max_depth (test_policy.py); with incumbents (say the champion's
    # configuration) that every trial beat by more than the noise, nothing narrows.
    one = first_round()
    assert plan_next_round(XGB, [one], "v1").ranges.value != list(XGB.search.ranges)
    last = [incumbent(XGB, 1, 30 + i, v, {"eta": "0.05", "max_depth": "5"}) for i, v in enumerate((0.7, 0.8))]
    beaten = one.model_copy(update={"trials": [*one.trials, *last]})
    plan = plan_next_round(XGB, [beaten], "v1")
    valid(XGB, plan, [beaten])
    assert plan.ranges.value == list(XGB.search.ranges)
    assert plan.ranges.reason == (
        "kept: 0 of 6 narrowed, none narrows: poor transfer 0.00 in round 1: the best incumbent (an earlier "
        "round's best configuration re-trained on the new drop) was beaten by more than the noise (1%) by 100% of "
        "the round's tuning trials: what earlier drops taught does not hold on the new ones"
    )


def test_incumbents_that_rank_last_widen_what_earlier_rounds_narrowed() -> None:
    one = first_round()
    plan_2 = plan_next_round(XGB, [one], "v1")
    history = [one, round_two(plan_2, [0.55, 0.60, 0.58])]  # every tuning trial beat them beyond noise
    plan = plan_next_round(XGB, history, "v1")
    valid(XGB, plan, history)
    for new, old in zip(plan.ranges.value, plan_2.ranges.value, strict=True):
        assert contains(new, old), (new, old)  # no range is narrower than the round's
    assert plan.ranges.value != plan_2.ranges.value  # the narrowed ones widen back
    assert "poor transfer 0.00 in round 2" in plan.ranges.reason
    assert plan.warm_start_parents.value == []
    assert plan.warm_start_parents.reason.startswith("no warm start: poor transfer 0.00 in round 2")
    assert plan.max_jobs.value >= plan_2.max_jobs.value  # spends no less
    assert plan.incumbents.value == 1  # one keeps measuring transfer
    assert plan.incumbents.reason.startswith("1, to keep measuring it: poor transfer")


def test_incumbents_that_win_mean_fewer_trials_and_ranges_still_narrow() -> None:
    one = first_round()
    plan_2 = plan_next_round(XGB, [one], "v1")
    alone = plan_next_round(XGB, [one, round_two(plan_2, [])], "v1")
    history = [one, round_two(plan_2, [0.399, 0.45])]  # the best incumbent beat every tuning trial
    plan = plan_next_round(XGB, history, "v1")
    valid(XGB, plan, history)
    bound = XGB.resolved_bounds().max_jobs
    assert bound.floor <= plan.max_jobs.value < alone.max_jobs.value
    assert "the incumbents carrying the round: good transfer 1.00 in round 2" in plan.max_jobs.reason
    assert plan.ranges.value == alone.ranges.value  # narrowing goes on as without incumbents
    assert plan.warm_start_parents.value == alone.warm_start_parents.value != []
    assert plan.incumbents.value == KNOBS.incumbents
    assert "good transfer 1.00 in round 2" in plan.incumbents.reason


def test_policy_narrows_no_range_on_differences_inside_the_noise() -> None:
    # 8 trials: the top quarter (0.500 at eta 0.012, 0.501 at 0.015) would cut eta's upper part, where a trial
    # (eta 0.15) scored 0.503, 0.6% behind the best: inside the 1% noise, so a tie, and it stays in the range.
    rows = [(0.500, "0.012"), (0.501, "0.015"), (0.503, "0.15"), (0.60, "0.05")]
    rows += [(0.61, "0.06"), (0.62, "0.07"), (0.63, "0.08"), (0.64, "0.09")]
    trials = [trial(XGB, 1, i, v, hp={"eta": eta}, series=curve(v)) for i, (v, eta) in enumerate(rows, 1)]
    history = [round_(XGB, 1, initial_plan(XGB, "v1"), trials)]
    plan = plan_next_round(XGB, history, "v1")
    eta = plan.ranges.value[0]
    assert isinstance(eta, ContinuousRange)
    assert 0.15 <= eta.max_value < 0.3
    assert "eta narrowed" in plan.ranges.reason and "best 3 trial(s)" in plan.ranges.reason


def test_policy_narrows_nothing_when_every_trial_is_a_tie() -> None:
    rows = [(0.500, "0.012", "2"), (0.501, "0.02", "3"), (0.502, "0.03", "4"), (0.503, "0.04", "5")]
    trials = [
        trial(XGB, 1, i, v, hp={"eta": eta, "max_depth": d}, series=curve(v))
        for i, (v, eta, d) in enumerate(rows, 1)
    ]
    history = [round_(XGB, 1, initial_plan(XGB, "v1"), trials)]
    plan = plan_next_round(XGB, history, "v1")
    assert plan.ranges.value == list(XGB.search.ranges)
    assert plan.ranges.reason == (
        "kept: 0 of 6 narrowed, none narrows: no trial of round 1 fell behind its round's best by more than the "
        "noise (1%)"
    )


def test_policy_keeps_a_categorical_value_tied_with_the_best() -> None:
    mlp = profile("market-mlp", bounds={"seed_noise": 0.03})
    activation = ["relu", "tanh"] * 4
    # tanh's best trial (0.40) is in the bottom half but 2.6% behind the best (0.39): inside the 3% noise.
    values = [0.398, 0.40, 0.395, 0.61, 0.39, 0.62, 0.392, 0.63]
    trials = [
        trial(mlp, 1, i, v, hp={"activation": a, "batch_size": "128"}, series=[v + 0.1, v, v])
        for i, (v, a) in enumerate(zip(values, activation, strict=True), 1)
    ]
    plan = plan_next_round(mlp, [round_(mlp, 1, initial_plan(mlp), trials)])
    ranges = {r.name: r for r in plan.ranges.value}
    assert ranges["activation"] == next(r for r in mlp.search.ranges if r.name == "activation")


def patience_round(plan: Plan, before_best: list[float]) -> RoundHistory:
    """Round 1 ran early_stopping_rounds 20 (2 epochs of 10 rounds): every trial stopped 2 epochs after its best,
    reached by the curve `before_best` (scaled per trial)."""
    trials = []
    for i in range(1, 9):
        level = 0.40 + 0.01 * i
        series = [level * v for v in before_best] + [level * before_best[-1]] * 2
        trials.append(trial(XGB, 1, i, series[-1], hp={"eta": "0.05"}, series=series))
    return round_(XGB, 1, plan, trials)


def tightened_patience() -> Plan:
    plan = initial_plan(XGB, "v1")
    return plan.model_copy(update={"patience": plan.patience.model_copy(update={"value": 20})})


def test_policy_patience_loosens_when_its_cut_censors_still_improving_curves() -> None:
    # Each trial gained 10% in the 2 epochs before its best, then was cut after 2 flat epochs: it may have been
    # on a plateau. The rule cannot tell, so the patience moves halfway back towards the profile's 40.
    history = [patience_round(tightened_patience(), [1.2, 1.1, 1.05, 1.0])]
    plan = plan_next_round(XGB, history, "v1")
    assert plan.patience.value == 30
    assert plan.patience.reason.startswith(
        "back halfway towards 40: 8 trial(s) of round 1 stopped by early_stopping_rounds 20 had gained up to "
        "10.0% in the 2 epoch(s) before their best, more than the noise (1%)"
    )


def test_policy_patience_does_not_loosen_when_the_cut_curves_had_flattened() -> None:
    # The same cut, but the curves gained 0.5% in the 2 epochs before their best: inside the noise.
    history = [patience_round(tightened_patience(), [1.2, 1.1, 1.005, 1.0025, 1.0])]
    plan = plan_next_round(XGB, history, "v1")
    assert plan.patience.value is not None and plan.patience.value <= 20


def test_plans_and_trials_stored_before_incumbents_read_as_none_run() -> None:
    # A plan and a trial as the code before incumbents stored them: no `incumbents`, no `source`.
    one = first_round()
    stored_plan = one.round.plan.model_dump(mode="json")
    stored_trials = [t.model_dump(mode="json") for t in one.trials]
    del stored_plan["incumbents"]
    for stored in stored_trials:
        del stored["source"]
    plan = Plan.model_validate(stored_plan)
    trials = [TrialRecord.model_validate(t) for t in stored_trials]
    assert plan.incumbents.value == 0 and {t.source for t in trials} == {"tuning"}
    old = one.model_copy(update={"round": one.round.model_copy(update={"plan": plan}), "trials": trials})
    assert plan_next_round(XGB, [old], "v1") == plan_next_round(XGB, [one], "v1")
