"""The efficiency benchmark runs retune's own round logic for its retune arm: for the same round (the same history,
champion, plan and drop) its harness chooses the same incumbents as StartRound and sends the same CreateTrainingJob
requests, and starts the tuning job from the same same-drop plan."""

from __future__ import annotations

from retune.incumbents import launch_plan
from retune.naming import tuning_job_of_incumbent
from retune.profile import Profile
from retune.use_cases.record_trial import record_trial

from benchmarks.efficiency_harness import ROLE, Task, incumbent_job_requests, round_incumbents
from tests.conftest import BUCKET, World, profile_doc
from tests.unit.test_incumbents import PROFILE, ROUND_2, announced, end_job, first_round, start_second


def test_start_round_and_the_harness_send_identical_incumbent_requests(world: World) -> None:
    assert world.deps.role_arn == ROLE
    first_round(world)
    start_second(world)
    sent = [
        r
        for r in world.sagemaker.created("CreateTrainingJob")
        if tuning_job_of_incumbent(r["TrainingJobName"])
    ]
    assert sent  # round 2 has incumbents

    rnd = world.store.get_round(PROFILE, 2)
    profile = Profile.model_validate(profile_doc())
    history = [h for h in world.store.history(PROFILE, 20) if h.round.seq < 2]
    task = Task("xgb", "retune", 0, drops=())
    chosen = round_incumbents(task, profile, rnd.plan, ROUND_2, history, {"round": 1})
    assert chosen == rnd.incumbents
    drop = world.store.get_drop(PROFILE, "2015-07-01")
    content_types = drop.channel_content_types()
    assert incumbent_job_requests(rnd, profile, content_types, BUCKET) == sent

    # The tuning job's plan (its same-drop target) is the harness's too.
    end_job(world, f"{ROUND_2}-inc1", 0.4)
    record_trial(f"{ROUND_2}-inc1", world.record_deps)
    assert announced(world)
    trials = world.store.trials(PROFILE, 2)
    assert launch_plan(rnd, trials).target_objective.value is not None


def test_the_other_arms_run_no_incumbents(world: World) -> None:
    first_round(world)
    start_second(world)
    rnd = world.store.get_round(PROFILE, 2)
    profile = Profile.model_validate(profile_doc())
    history = world.store.history(PROFILE, 20)
    assert (
        round_incumbents(Task("xgb", "amt_default", 0, drops=()), profile, rnd.plan, ROUND_2, history, None)
        == []
    )
