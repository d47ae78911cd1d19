"""Issue 17, items 10, 12, 13 and 14: a decision is made only on a complete evaluation, against the champion that
holds, with the profile read (or its absence outlasted), and on the registry's current word."""

from __future__ import annotations

import math

import pytest
from retune.errors import Throttled, TransientError
from retune.events import parse_drop_event
from retune.naming import evaluation_job_name
from retune.profile import parse_profile
from retune.promotion import judge
from retune.use_cases.by_hand import package_state_changed, promote_by_hand
from retune.use_cases.close_round import close_round
from retune.use_cases.decide import MAX_EVALUATIONS, PROFILE_MISSING_GRACE, evaluation_ended
from retune.use_cases.reconcile import reconcile
from retune.use_cases.start_round import start_round

from tests.conftest import BUCKET, World, profile_doc
from tests.unit.test_loop import close_and_evaluate, run_round, second_round, start

PERSON = "arn:aws:sts::123456789012:assumed-role/ml-lead/alice"
EVAL_1 = evaluation_job_name("market-xgb", 1)


def ended(world: World, challenger: float | None, champion: float | None = None) -> None:
    """Round 1 closed and its evaluation ended with these scores; its event not handled yet."""
    start(world)
    run_round(world)
    assert close_round("rt-market-xgb-0001", world.close_deps).status == "evaluating"
    world.sagemaker.end_evaluation(EVAL_1, challenger, champion)
    world.sagemaker.training_jobs[EVAL_1]["TrainingEndTime"] = world.clock()


# ---------------------------------------------------------------- item 10: the profile when the evaluation ends


def test_a_profile_briefly_missing_when_the_evaluation_ends_is_looked_for_again(world: World) -> None:
    ended(world, 0.47)
    profile = world.bucket.objects.pop((BUCKET, "profiles/market-xgb.json"))  # being replaced
    with pytest.raises(TransientError, match="profile market-xgb is missing"):
        evaluation_ended(EVAL_1, world.promote_deps)
    assert world.store.get_round("market-xgb", 1).status == "evaluating"
    assert world.alerts.outcomes() == []
    world.bucket.objects[(BUCKET, "profiles/market-xgb.json")] = profile
    assert evaluation_ended(EVAL_1, world.promote_deps).status == "approved"


def test_a_profile_deleted_for_good_ends_the_round_once_the_grace_is_over(world: World) -> None:
    ended(world, 0.47)
    world.bucket.delete(BUCKET, "profiles/market-xgb.json")
    world.clock.advance(PROFILE_MISSING_GRACE.total_seconds() - 60)
    with pytest.raises(TransientError):
        reconcile_decides(world)
    world.clock.advance(120)
    result = evaluation_ended(EVAL_1, world.promote_deps)
    assert result.status == "not_evaluated"
    assert result.detail.startswith(
        "the profile profiles/market-xgb.json has been missing since the evaluation"
    )
    assert world.alerts.outcomes() == ["round_failed"]
    assert world.alerts.published[0].subject == "[retune] market-xgb round 1: failed (not evaluated)"
    assert world.store.get_active("market-xgb") is None
    assert world.sagemaker.packages == {}


def reconcile_decides(world: World) -> None:
    report = reconcile(world.reconcile_deps)
    if report.errors:
        raise TransientError("; ".join(report.errors))


def test_an_invalid_profile_when_the_evaluation_ends_is_final_and_names_the_errors(world: World) -> None:
    ended(world, 0.47)
    doc = profile_doc()
    doc["promotion"]["margin"] = 2
    world.put_profile(doc)
    result = evaluation_ended(EVAL_1, world.promote_deps)
    assert result.status == "not_evaluated"
    assert result.detail.startswith("the profile profiles/market-xgb.json is invalid: promotion.margin:")
    assert world.alerts.outcomes() == ["round_failed"]


def test_a_throttled_profile_read_is_retried(world: World) -> None:
    ended(world, 0.47)
    real = world.bucket.read
    world.bucket.read = lambda *a, **k: (_ for _ in ()).throw(Throttled("s3: SlowDown"))  # type: ignore[method-assign]
    with pytest.raises(Throttled):
        evaluation_ended(EVAL_1, world.promote_deps)
    world.bucket.read = real  # type: ignore[method-assign]
    assert evaluation_ended(EVAL_1, world.promote_deps).status == "approved"


# ---------------------------------------------------------------- item 12: an incomplete evaluation


@pytest.mark.parametrize(
    "champion", [None, math.nan, math.inf, -math.inf], ids=["missing", "nan", "inf", "-inf"]
)
def test_no_finite_champion_score_with_a_champion_never_promotes(
    world: World, champion: float | None
) -> None:
    result = second_round(world, challenger=0.90, champion=champion)  # a far worse challenger
    assert result.status == "not_evaluated"
    assert "champion_score" in result.detail and "incomplete evaluation" in result.detail
    assert world.store.get_champion("market-xgb").round_seq == 1
    assert len(world.sagemaker.packages) == 1  # round 2's challenger is not registered
    assert world.alerts.outcomes() == ["promoted", "round_failed"]
    assert world.alerts.published[-1].subject == "[retune] market-xgb round 2: failed (not evaluated)"


@pytest.mark.parametrize("champion", [math.nan, math.inf])
def test_the_verdict_never_takes_a_champion_without_a_finite_score_for_no_champion(champion: float) -> None:
    verdict = judge(parse_profile(profile_doc()), 0.90, champion)
    assert (verdict.wins, verdict.outcome) == (False, "rejected")
    assert verdict.reason == "the evaluation reported no finite validation:rmse for the champion"
    assert (
        judge(parse_profile(profile_doc()), 0.90, None).outcome == "approved"
    )  # none at all: a first champion


@pytest.mark.parametrize("challenger", [None, math.nan, math.inf], ids=["missing", "nan", "inf"])
def test_no_finite_challenger_score_is_not_evaluated(world: World, challenger: float | None) -> None:
    ended(world, challenger)
    result = evaluation_ended(EVAL_1, world.promote_deps)
    assert result.status == "not_evaluated"
    assert "challenger_score" in result.detail
    assert world.sagemaker.packages == {}
    assert world.alerts.outcomes() == ["round_failed"]


# ---------------------------------------------------------------- item 13: the champion changes meanwhile


def third_round_evaluating(world: World) -> tuple[str, str]:
    """Round 1 promoted (package 1), round 2 rejected (package 2); round 3's evaluation scores against package 1.
    Returns the two packages."""
    second_round(world, challenger=0.48, champion=0.47)
    one, two = world.sagemaker.packages
    start_round(parse_drop_event(world.drop("2016-01-01")), world.deps)
    run_round(world, tuning="rt-market-xgb-0003")
    assert close_round("rt-market-xgb-0003", world.close_deps).status == "evaluating"
    return one, two


def test_the_champion_changed_by_hand_during_the_evaluation_is_evaluated_against(world: World) -> None:
    one, two = third_round_evaluating(world)
    assert world.store.get_round("market-xgb", 3).evaluation.champion_model_package == one
    assert promote_by_hand("market-xgb", two, PERSON, world.promote_deps).status == "champion_set"
    first = evaluation_job_name("market-xgb", 3)
    world.sagemaker.end_evaluation(first, 0.46, 0.47)  # better than package 1
    result = evaluation_ended(first, world.promote_deps)
    assert result.status == "evaluating_again"
    again = evaluation_job_name("market-xgb", 3, 2)
    assert again == "rt-market-xgb-0003-2-eval"
    champion_channel = next(
        c
        for c in world.sagemaker.training_jobs[again]["request"]["InputDataConfig"]
        if c["ChannelName"] == "champion"
    )
    assert (
        champion_channel["DataSource"]["S3DataSource"]["S3Uri"]
        == world.store.get_champion("market-xgb").model_artifact
    )
    assert world.store.get_champion("market-xgb").model_package_arn == two
    assert evaluation_ended(first, world.promote_deps).status == "ignored"  # the first job's event, again
    world.sagemaker.end_evaluation(again, 0.46, 0.44)  # package 2 scores better on this data
    decided = evaluation_ended(again, world.promote_deps)
    assert decided.status == "rejected"
    rnd = world.store.get_round("market-xgb", 3)
    assert (
        rnd.evaluation.champion_model_package == two
    )  # what was true: package 2 was the champion beaten by no one
    assert (rnd.evaluation.champion_score, rnd.evaluation.attempt) == (0.44, 2)
    assert world.store.get_champion("market-xgb").model_package_arn == two


def test_an_evaluation_that_ends_before_closeround_records_its_champion_is_decided(world: World) -> None:
    """A fast evaluation's end can be handled between CloseRound's creating the job and its recording which
    champion the job scored (the round's evaluation still Pending): the job's champion channel tells."""
    one, _ = third_round_evaluating(world)
    rnd = world.store.get_round("market-xgb", 3)
    pending = rnd.evaluation.model_copy(update={"status": "Pending", "champion_model_package": None})
    world.store.save_round(rnd.model_copy(update={"evaluation": pending}), expected_status="evaluating")
    name = evaluation_job_name("market-xgb", 3)
    world.sagemaker.end_evaluation(name, 0.45, 0.47)
    result = evaluation_ended(name, world.promote_deps)
    assert result.status == "approved"
    assert world.store.get_round("market-xgb", 3).evaluation.champion_model_package == one


def test_a_champion_that_keeps_changing_ends_the_round_not_evaluated(world: World) -> None:
    one, two = third_round_evaluating(world)
    for attempt in range(1, MAX_EVALUATIONS + 1):
        name = evaluation_job_name("market-xgb", 3, attempt)
        holding = world.store.get_champion("market-xgb").model_package_arn
        assert promote_by_hand(
            "market-xgb", two if holding == one else one, PERSON, world.promote_deps
        ).status == ("champion_set")
        world.sagemaker.end_evaluation(name, 0.46, 0.47)
        result = evaluation_ended(name, world.promote_deps)
    assert result.status == "not_evaluated"
    assert result.detail.startswith(
        f"the champion changed by hand during each of its {MAX_EVALUATIONS} evaluations"
    )
    assert len(world.sagemaker.packages) == 2


def test_a_first_champion_set_by_hand_during_the_evaluation_is_evaluated_against(world: World) -> None:
    doc = profile_doc()
    doc["promotion"]["approval"] = "manual"
    start(world, doc=doc)
    run_round(world)
    pending = close_and_evaluate(world, challenger=0.47).model_package_arn
    start_round(parse_drop_event(world.drop("2015-07-01")), world.deps)
    run_round(world, tuning="rt-market-xgb-0002")
    assert (
        close_round("rt-market-xgb-0002", world.close_deps).status == "evaluating"
    )  # no champion: scored alone
    assert promote_by_hand("market-xgb", pending, PERSON, world.promote_deps).status == "champion_set"
    name = evaluation_job_name("market-xgb", 2)
    world.sagemaker.end_evaluation(name, 0.90)
    assert evaluation_ended(name, world.promote_deps).status == "evaluating_again"  # not a "first champion"
    assert world.store.get_champion("market-xgb").model_package_arn == pending


# ---------------------------------------------------------------- item 14: the registry's current status


def test_a_late_approved_event_after_the_persons_rejection_is_a_rejection(world: World) -> None:
    doc = profile_doc()
    doc["promotion"]["approval"] = "manual"
    start(world, doc=doc)
    run_round(world)
    pending = close_and_evaluate(world, challenger=0.47).model_package_arn
    world.sagemaker.decide_by_hand(pending, "Approved")  # the person approves ...
    world.sagemaker.decide_by_hand(pending, "Rejected")  # ... and changes their mind
    assert package_state_changed(pending, "Rejected", PERSON, world.promote_deps).status == "recorded"
    late = package_state_changed(pending, "Approved", PERSON, world.promote_deps)
    assert late.status == "ignored"
    assert world.store.get_champion("market-xgb") is None
    assert world.store.get_round("market-xgb", 1).decision.outcome == "rejected"
    assert world.alerts.outcomes() == ["pending_approval"]
