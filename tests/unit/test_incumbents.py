"""Incumbents first (issue 20, items 1 and 2): from round 2 on, a round retrains the champion's configuration and the
best configurations of recent rounds on its drop as plain training jobs; when they have ended, its tuning job
starts with a same-drop target; the incumbents are trials of the round (recorded, counted, candidates for the
challenger), and every step is exactly-once.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from typing import Any

import pytest
from retune.errors import Refused, Throttled
from retune.events import DROP_READY, parse_drop_event
from retune.naming import (
    INCUMBENT_GRANT,
    INCUMBENT_MAX,
    TRAINING_JOB_NAME_MAX,
    incumbent_index,
    incumbent_job_name,
    is_evaluation_job,
    tuning_job_of_incumbent,
    tuning_job_of_trial,
)
from retune.plan import Setting
from retune.policy import plan_next_round
from retune.policy_evidence import KNOBS
from retune.profile import Profile
from retune.use_cases.close_round import close_round
from retune.use_cases.decide import evaluation_ended
from retune.use_cases.reconcile import reconcile
from retune.use_cases.record_trial import record_trial
from retune.use_cases.start_round import start_round

from tests.conftest import World, profile_doc
from tests.replay.harness import bus_event

PROFILE = "market-xgb"
ROUND_1 = "rt-market-xgb-0001"
ROUND_2 = "rt-market-xgb-0002"
SEARCHED = ("eta", "max_depth", "min_child_weight", "subsample", "colsample_bytree", "lambda")


def config(eta: float, depth: int) -> dict[str, str]:
    """A full configuration of market-xgb's searched hyperparameters."""
    return {
        "eta": f"{eta:g}",
        "max_depth": str(depth),
        "min_child_weight": "3.5",
        "subsample": "0.8",
        "colsample_bytree": "0.6",
        "lambda": "1.2",
    }


BEST_1 = config(0.05, 4)
# Round 1's other trials set only some of the searched hyperparameters: no configuration to carry.
ROUND_1_TRIALS = [
    {"objective": 0.52, "compute": 100, "hyperparameters": {"eta": "0.2"}},
    {"objective": 0.48, "compute": 80, "hyperparameters": BEST_1},
    {"objective": 0.50, "compute": 90, "hyperparameters": {"eta": "0.1", "max_depth": "6"}},
]


def first_round(world: World) -> None:
    """Round 1 runs, its best trial (BEST_1, 0.48) is the challenger and becomes the champion."""
    world.put_profile()
    assert start_round(parse_drop_event(world.drop("2015-01-01")), world.deps).status == "started"
    for name in world.sagemaker.run_trials(ROUND_1, ROUND_1_TRIALS):
        world.series.values[(name, "validation:rmse")] = [0.7, 0.6, 0.5]
        assert record_trial(name, world.record_deps).status == "recorded"
    assert close_round(ROUND_1, world.close_deps).status == "evaluating"
    world.sagemaker.end_evaluation(f"{ROUND_1}-eval", 0.5, None)
    evaluation_ended(f"{ROUND_1}-eval", world.promote_deps)
    assert world.store.get_champion(PROFILE) is not None


def end_job(
    world: World, name: str, objective: float | None, status: str = "Completed", billable: int = 50
) -> None:
    """SageMaker ends a plain training job as the fake's trials end (final metrics, billing, a model)."""
    job = world.sagemaker.training_jobs[name]
    finals = [{"MetricName": "train:compute", "Value": 40.0}]
    if objective is not None:
        finals.append({"MetricName": "validation:rmse", "Value": objective})
    job.update(
        TrainingJobName=name,
        TrainingJobStatus=status,
        SecondaryStatus=status,
        HyperParameters=job["request"]["HyperParameters"],
        FinalMetricDataList=finals,
        ResourceConfig={"InstanceCount": 1, "InstanceType": "ml.m5.large"},
        BillableTimeInSeconds=billable,
        TrainingStartTime=datetime(2026, 1, 1, tzinfo=UTC),
        TrainingEndTime=datetime(2026, 1, 1, 0, 2, tzinfo=UTC),
        ModelArtifacts={"S3ModelArtifacts": f"s3://retune-data/models/{name}/output/model.tar.gz"}
        if status == "Completed"
        else {},
    )
    world.series.values[(name, "validation:rmse")] = [0.6, objective or 0.6]


def start_second(world: World) -> None:
    result = start_round(parse_drop_event(world.drop("2015-07-01")), world.deps)
    assert (result.status, result.seq) == ("started", 2)


def announced(world: World) -> list[dict[str, Any]]:
    return [detail for kind, detail in world.bus.events if kind == DROP_READY]


def incumbent_requests(world: World) -> list[dict[str, Any]]:
    return [
        r
        for r in world.sagemaker.created("CreateTrainingJob")
        if tuning_job_of_incumbent(r["TrainingJobName"])
    ]


def test_round_2_trains_its_incumbents_first_then_tunes_with_a_same_drop_target(world: World) -> None:
    first_round(world)
    start_second(world)
    rnd = world.store.get_round(PROFILE, 2)
    # Round 1's best is the champion's configuration: one incumbent (round 1's other trials are no full
    # configuration), not the champion's and round 1's best as two.
    assert [(i.job_name, i.why, i.from_round, i.hyperparameters) for i in rnd.incumbents] == [
        (f"{ROUND_2}-inc1", "champion", 1, BEST_1)
    ]
    assert rnd.status == "starting" and rnd.plan.incumbents.value == 3
    assert world.sagemaker.created("CreateHyperParameterTuningJob")[1:] == []  # the tuning job waits
    (request,) = incumbent_requests(world)
    profile = Profile.model_validate(profile_doc())
    static = dict(profile.training.static_hyperparameters)
    static["early_stopping_rounds"] = str(rnd.plan.patience.value)
    assert request["HyperParameters"] == {**static, **BEST_1}  # no _tuning_objective_metric
    assert request["AlgorithmSpecification"]["MetricDefinitions"] == [
        {"Name": d.name, "Regex": d.regex} for d in profile.training.metric_definitions
    ]
    assert request["Tags"] == [
        {"Key": "retune:profile", "Value": PROFILE},
        {"Key": "retune:round", "Value": "2"},
        {"Key": "retune:drop", "Value": "2015-07-01"},
    ]
    assert all(
        "/manifests/market-xgb/2015-07-01/" in c["DataSource"]["S3DataSource"]["S3Uri"]
        for c in request["InputDataConfig"]
    )

    end_job(world, f"{ROUND_2}-inc1", 0.40)
    assert record_trial(f"{ROUND_2}-inc1", world.record_deps).status == "recorded"
    trial = world.store.get_trial(PROFILE, 2, f"{ROUND_2}-inc1")
    assert trial.source == "incumbent" and trial.final_objective == 0.40 and not trial.stopped_early
    (detail,) = announced(world)
    assert detail["drop_id"] == "2015-07-01"

    assert start_round(parse_drop_event(bus_event(detail)), world.deps).status == "started"
    tuning = world.sagemaker.created("CreateHyperParameterTuningJob")[-1]
    assert tuning["HyperParameterTuningJobName"] == ROUND_2
    target = tuning["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"][
        "TargetObjectiveMetricValue"
    ]
    rnd = world.store.get_round(PROFILE, 2)
    # Twice market-xgb's trainer-seed noise (bounds.seed_noise 0.01): both scores carry it.
    assert rnd.plan.target_margin.value == pytest.approx(0.02)
    assert target == pytest.approx(0.40 * (1 - 0.02))
    assert rnd.status == "running" and rnd.plan.target_objective.value == target
    assert "beat the best incumbent on this drop" in rnd.plan.target_objective.reason

    # The tuning job's trials are worse than the incumbent: the incumbent is the challenger; it counts.
    for name in world.sagemaker.run_trials(
        ROUND_2, [{"objective": 0.45, "compute": 10, "hyperparameters": config(0.07, 5)}]
    ):
        record_trial(name, world.record_deps)
    assert close_round(ROUND_2, world.close_deps).status == "evaluating"
    closed = world.store.get_round(PROFILE, 2)
    assert closed.best_training_job == f"{ROUND_2}-inc1" and closed.best_objective == 0.40
    assert closed.compute == 50.0 and closed.billable_seconds == 110
    assert closed.trial_counts == {"Completed": 2}


def test_the_maximize_target_is_above_the_best_incumbent(world: World) -> None:
    from retune.incumbents import same_drop_target  # noqa: PLC0415
    from retune.records import Incumbent, TrialRecord  # noqa: PLC0415

    first_round(world)
    start_second(world)
    rnd = world.store.get_round(PROFILE, 2).model_copy(update={"objective_type": "Maximize"})
    now = datetime(2026, 1, 1, tzinfo=UTC)
    trials = [
        TrialRecord(
            profile=PROFILE,
            seq=2,
            training_job_name=n,
            status="Completed",
            source="incumbent",
            final_objective=v,
            updated_at=now,
        )
        for n, v in ((f"{ROUND_2}-inc1", 0.8), (f"{ROUND_2}-inc2", 0.9))
    ]
    rnd = rnd.model_copy(
        update={
            "incumbents": [
                *rnd.incumbents,
                Incumbent(
                    job_name=f"{ROUND_2}-inc2", hyperparameters={}, from_round=1, from_job="x", why="best"
                ),
            ]
        }
    )
    assert same_drop_target(rnd, trials).value == pytest.approx(0.9 * (1 + rnd.plan.target_margin.value))


def test_incumbents_that_all_fail_leave_the_round_to_its_tuning_job_without_a_target(world: World) -> None:
    first_round(world)
    start_second(world)
    end_job(world, f"{ROUND_2}-inc1", None, status="Failed")
    record_trial(f"{ROUND_2}-inc1", world.record_deps)
    (detail,) = announced(world)
    start_round(parse_drop_event(bus_event(detail)), world.deps)
    tuning = world.sagemaker.created("CreateHyperParameterTuningJob")[-1]
    assert "TuningJobCompletionCriteria" not in tuning["HyperParameterTuningJobConfig"] or (
        "TargetObjectiveMetricValue"
        not in tuning["HyperParameterTuningJobConfig"]["TuningJobCompletionCriteria"]
    )
    rnd = world.store.get_round(PROFILE, 2)
    assert rnd.status == "running" and rnd.plan.target_objective.value is None
    assert rnd.plan.target_objective.reason == "no target: no incumbent completed on this drop"


def test_an_incumbent_sagemaker_refuses_is_a_failed_trial_and_the_round_goes_on(world: World) -> None:
    first_round(world)
    world.sagemaker.fail_next.append(Refused("sagemaker: ValidationException: bad hyperparameter"))
    start_second(world)
    trial = world.store.get_trial(PROFILE, 2, f"{ROUND_2}-inc1")
    assert trial.status == "Failed" and trial.source == "incumbent" and "refused" in trial.failure_reason
    # its only incumbent ended (refused): the tuning job started in the same invocation
    assert world.store.get_round(PROFILE, 2).status == "running"
    assert (
        world.sagemaker.created("CreateHyperParameterTuningJob")[-1]["HyperParameterTuningJobName"] == ROUND_2
    )


def test_incumbent_events_duplicated_and_reordered_record_one_trial_and_one_tuning_job(world: World) -> None:
    first_round(world)
    start_second(world)
    name = f"{ROUND_2}-inc1"
    assert record_trial(name, world.record_deps).status == "recorded"  # InProgress
    end_job(world, name, 0.41)
    assert record_trial(name, world.record_deps).status == "recorded"
    assert record_trial(name, world.record_deps).status == "duplicate"
    world.sagemaker.training_jobs[name]["TrainingJobStatus"] = "InProgress"  # a late InProgress event
    assert record_trial(name, world.record_deps).status == "duplicate"
    assert world.store.get_trial(PROFILE, 2, name).status == "Completed"
    # every terminal (and repeated) event announces; StartRound creates the tuning job once
    for detail in announced(world):
        start_round(parse_drop_event(bus_event(detail)), world.deps)
    assert len(announced(world)) >= 2
    assert [
        r["HyperParameterTuningJobName"] for r in world.sagemaker.created("CreateHyperParameterTuningJob")
    ] == [ROUND_1, ROUND_2]  # the repeats found the round running: no second create
    assert list(world.sagemaker.tuning_jobs) == [ROUND_1, ROUND_2]
    assert (
        len(incumbent_requests(world)) == 1
    )  # the replays created no incumbent again (its trial is recorded)


def seed_history_with_three_bests(world: World) -> None:
    """Round 1 as first_round, then two more rounds whose bests differ, so that round 4 has three incumbents."""
    first_round(world)
    for seq, drop, best in ((2, "2015-07-01", config(0.03, 3)), (3, "2016-01-01", config(0.09, 7))):
        start_round(parse_drop_event(world.drop(drop)), world.deps)
        for incumbent in world.store.get_round(PROFILE, seq).incumbents:
            end_job(world, incumbent.job_name, 0.6)
            record_trial(incumbent.job_name, world.record_deps)
        (detail,) = announced(world)[-1:]
        start_round(parse_drop_event(bus_event(detail)), world.deps)
        tuning = f"rt-market-xgb-{seq:04d}"
        for name in world.sagemaker.run_trials(tuning, [{"objective": 0.3, "hyperparameters": best}]):
            record_trial(name, world.record_deps)
        close_round(tuning, world.close_deps)
        world.sagemaker.end_evaluation(f"{tuning}-eval", 0.6, 0.5)
        evaluation_ended(f"{tuning}-eval", world.promote_deps)


def test_a_round_won_by_an_incumbent_carries_its_best_new_configuration(world: World) -> None:
    """Round 2's challenger was its incumbent (the champion's configuration): round 3 carries round 2's best
    tuning trial as well, not the same configuration twice."""
    first_round(world)
    start_second(world)
    end_job(world, f"{ROUND_2}-inc1", 0.40)
    record_trial(f"{ROUND_2}-inc1", world.record_deps)
    (detail,) = announced(world)
    start_round(parse_drop_event(bus_event(detail)), world.deps)
    results = [
        {"objective": 0.47, "hyperparameters": config(0.08, 5)},
        {"objective": 0.45, "hyperparameters": config(0.06, 4)},
    ]
    for name in world.sagemaker.run_trials(ROUND_2, results):
        record_trial(name, world.record_deps)
    close_round(ROUND_2, world.close_deps)
    assert world.store.get_round(PROFILE, 2).best_training_job == f"{ROUND_2}-inc1"
    world.sagemaker.end_evaluation(f"{ROUND_2}-eval", 0.6, 0.5)
    evaluation_ended(f"{ROUND_2}-eval", world.promote_deps)
    start_round(parse_drop_event(world.drop("2016-01-01")), world.deps)
    rnd = world.store.get_round(PROFILE, 3)
    assert [(i.why, i.from_round, i.hyperparameters) for i in rnd.incumbents] == [
        ("champion", 1, BEST_1),
        ("best", 2, config(0.06, 4)),
    ]


def test_a_crash_between_creating_incumbents_is_finished_by_the_replay_without_duplicates(
    world: World,
) -> None:
    seed_history_with_three_bests(world)
    event = parse_drop_event(world.drop("2016-07-01"))
    before = len(incumbent_requests(world))
    # the second create times out: the invocation fails after creating the first
    calls = {"n": 0}
    create = world.sagemaker.create_training_job

    def flaky(request: dict[str, Any]) -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            raise Throttled("sagemaker: ThrottlingException")
        return create(request)

    world.sagemaker.create_training_job = flaky  # type: ignore[method-assign]
    with pytest.raises(Throttled):
        start_round(event, world.deps)
    world.sagemaker.create_training_job = create  # type: ignore[method-assign]
    rnd = world.store.get_round(PROFILE, 4)
    assert rnd.status == "starting" and len(rnd.incumbents) == 3
    # the champion's (round 1's best), then round 3's and round 2's best configurations not taken yet
    assert [(i.why, i.from_round, i.hyperparameters) for i in rnd.incumbents] == [
        ("champion", 1, BEST_1),
        ("best", 3, config(0.09, 7)),
        ("best", 2, config(0.03, 3)),
    ]
    reconcile(world.reconcile_deps)  # Lambda's retry, or Reconcile: the same resume
    created = [r["TrainingJobName"] for r in incumbent_requests(world)[before:]]
    assert sorted(set(created)) == [f"rt-market-xgb-0004-inc{i}" for i in (1, 2, 3)]
    assert set(world.sagemaker.training_jobs) >= set(created)
    assert "rt-market-xgb-0004" not in world.sagemaker.tuning_jobs  # they have not ended


def test_a_lost_last_incumbent_event_is_caught_by_reconcile_which_starts_the_tuning_job_once(
    world: World,
) -> None:
    first_round(world)
    start_second(world)
    end_job(world, f"{ROUND_2}-inc1", 0.42)  # its event never arrives
    reconcile(world.reconcile_deps)
    assert world.store.get_trial(PROFILE, 2, f"{ROUND_2}-inc1").status == "Completed"
    (detail,) = announced(world)  # Reconcile recorded it; RecordTrial's announcement followed
    # Reconcile's own start (after recording) already created the tuning job: the announcement is a repeat
    assert world.store.get_round(PROFILE, 2).status == "running"
    start_round(parse_drop_event(bus_event(detail)), world.deps)
    reconcile(world.reconcile_deps)
    assert list(world.sagemaker.tuning_jobs) == [ROUND_1, ROUND_2]


def test_a_crash_between_the_last_incumbent_and_the_tuning_job_is_finished_by_a_repeated_event(
    world: World,
) -> None:
    first_round(world)
    start_second(world)
    end_job(world, f"{ROUND_2}-inc1", 0.42)
    world.bus.events.clear()
    # the put of the announcement fails after the trial was written: Lambda retries the event
    put = world.record_deps.bus

    class Down:
        def put(self, *args: Any, **kwargs: Any) -> None:
            raise Throttled("events: ThrottlingException")

    world.record_deps.bus = Down()
    with pytest.raises(Throttled):
        record_trial(f"{ROUND_2}-inc1", world.record_deps)
    world.record_deps.bus = put
    assert record_trial(f"{ROUND_2}-inc1", world.record_deps).status == "duplicate"
    (detail,) = announced(world)
    # and StartRound's create of the tuning job is answered by a timeout once: its retry adopts nothing twice
    world.sagemaker.fail_next.append(Throttled("sagemaker: ThrottlingException"))
    with pytest.raises(Throttled):
        start_round(parse_drop_event(bus_event(detail)), world.deps)
    start_round(parse_drop_event(bus_event(detail)), world.deps)
    assert world.store.get_round(PROFILE, 2).status == "running"
    assert list(world.sagemaker.tuning_jobs) == [ROUND_1, ROUND_2]


def test_incumbent_names_are_the_rounds_own_and_match_no_other_rule() -> None:
    for tuning in (
        "rt-market-xgb-0002",
        "rt-a-very-long-profile-n-1a2b3c-10001",
        "rt-head--0123456789abc-99999",
        "rt-acme-inc-0001",
        "rt-acme-inc1-0001",
    ):
        for index in range(1, INCUMBENT_MAX + 1):
            name = incumbent_job_name(tuning, index)
            assert name.startswith("rt-") and len(name) <= TRAINING_JOB_NAME_MAX
            assert tuning_job_of_incumbent(name) == tuning and incumbent_index(name) == index
            assert tuning_job_of_trial(name) is None and not is_evaluation_job(name)
            assert fnmatchcase(name, INCUMBENT_GRANT), name
        # the IAM grants admit no other job of the round, even of a profile whose name holds "-inc"
        for other in (f"{tuning}-001-0a1b2c3d", f"{tuning}-eval", f"{tuning}-2-eval"):
            assert tuning_job_of_incumbent(other) is None and incumbent_index(other) is None
            assert not fnmatchcase(other, INCUMBENT_GRANT), other
    assert not fnmatchcase("someone-elses-job-inc1", INCUMBENT_GRANT)
    assert tuning_job_of_incumbent("xx-market-xgb-0002-inc1") is None
    # a tenth incumbent would need two digits, which the grants do not admit: it is refused, and the policy's
    # constant stays within the limit
    with pytest.raises(ValueError, match="at most 9 incumbents"):
        incumbent_job_name("rt-market-xgb-0002", INCUMBENT_MAX + 1)
    assert 1 <= KNOBS.incumbents <= INCUMBENT_MAX


def test_an_incumbent_is_never_a_warm_start_parent(world: World) -> None:
    first_round(world)
    start_second(world)
    end_job(world, f"{ROUND_2}-inc1", 0.40)
    record_trial(f"{ROUND_2}-inc1", world.record_deps)
    (detail,) = announced(world)
    start_round(parse_drop_event(bus_event(detail)), world.deps)
    for name in world.sagemaker.run_trials(
        ROUND_2, [{"objective": 0.45, "hyperparameters": config(0.07, 5)}]
    ):
        record_trial(name, world.record_deps)
    close_round(ROUND_2, world.close_deps)
    plan = world.store.get_plan(PROFILE)
    assert plan.warm_start_parents.value and all(
        tuning_job_of_incumbent(p) is None for p in plan.warm_start_parents.value
    )
    history = world.store.history(PROFILE, 20)
    again = plan_next_round(Profile.model_validate(profile_doc()), history)
    assert all(tuning_job_of_incumbent(p) is None for p in again.warm_start_parents.value)


def test_upgrade_a_round_started_by_todays_code_finishes_unchanged(world: World) -> None:
    """Round 2 as the code before incumbents wrote it (running with its tuning job; its record, plan and trials
    without the new fields) is closed and evaluated as before."""
    first_round(world)
    plan = world.store.get_plan(PROFILE)
    world.store.put_plan(PROFILE, plan.model_copy(update={"incumbents": Setting(value=0)}))
    start_second(world)
    assert world.store.get_round(PROFILE, 2).status == "running"
    key = ("PROFILE#market-xgb", "ROUND#0002")
    doc = json.loads(world.table.items[key]["doc"])
    doc.pop("incumbents")
    for new in ("incumbents", "target_margin"):
        doc["plan"].pop(new)
    world.table.items[key]["doc"] = json.dumps(doc)
    rnd = world.store.get_round(PROFILE, 2)
    assert rnd.incumbents == [] and rnd.plan.incumbents.value == 0
    names = world.sagemaker.run_trials(ROUND_2, [{"objective": 0.45, "hyperparameters": config(0.07, 5)}])
    for name in names:
        record_trial(name, world.record_deps)
    trial_key = ("PROFILE#market-xgb", f"ROUND#0002#TRIAL#{names[0]}")
    trial_doc = json.loads(world.table.items[trial_key]["doc"])
    trial_doc.pop("source")
    world.table.items[trial_key]["doc"] = json.dumps(trial_doc)
    assert world.store.get_trial(PROFILE, 2, names[0]).source == "tuning"
    assert close_round(ROUND_2, world.close_deps).status == "evaluating"
    closed = world.store.get_round(PROFILE, 2)
    assert closed.best_training_job == names[0] and closed.trial_counts == {"Completed": 1}
