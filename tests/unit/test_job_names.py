"""Issue 17 item 3: every job name belongs to one profile's round, and a name another profile holds is never taken.

A profile's names are today's (`rt-<stem>-<round>`, the stem cut to fit 32 characters with a hash of the whole
name), unless another profile's round already holds that name in the job-name lookup: then the round takes the
alternative name, `rt-<head>--<hash>-<round>`, which no profile's first-choice name can equal (profile names never
hold "--"). The lookup is written on the condition that nobody holds it.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from retune.events import parse_drop_event
from retune.naming import (
    alternative_tuning_job_name,
    tuning_job_name,
    tuning_job_of_trial,
)
from retune.policy import hyperparameter_names, initial_plan
from retune.profile import parse_profile
from retune.records import JobLookup, RoundRecord
from retune.store import lookup_item, round_item
from retune.table import Put
from retune.use_cases.close_round import close_round
from retune.use_cases.record_trial import record_trial
from retune.use_cases.start_round import start_round

from tests.conftest import World, profile_doc

LONG = "market-volatility-forecast-xgb"  # 30 characters: cut to a stem with a hash
SHORT = tuning_job_name(LONG, 1)[len("rt-") : -len("-0001")]  # a profile named exactly LONG's stem
TUNING_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")
TRAINING_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def add_profile(world: World, name: str) -> None:
    world.put_profile({**profile_doc(), "name": name}, name=name)


def start(world: World, profile: str, drop_id: str) -> Any:
    return start_round(parse_drop_event(world.drop(drop_id, profile=profile)), world.deps)


def finish(world: World, profile: str) -> None:
    """What the end of a round does, as far as the next start sees: ACTIVE goes, the round is decided."""
    active = world.store.get_active(profile)
    assert active is not None
    world.table.items.pop((f"PROFILE#{profile}", "ACTIVE"))
    rnd = world.store.get_round(profile, active.seq)
    assert rnd is not None
    world.store.save_round(
        rnd.model_copy(update={"status": "decided", "tuning_status": "Completed"}), expected_status=rnd.status
    )


def test_names_a_profile_named_as_another_profiles_stem_shares_no_name() -> None:
    assert SHORT != LONG and len(SHORT) <= 24
    assert tuning_job_name(SHORT, 1) == tuning_job_name(LONG, 1)  # today's rule alone: one name for both
    for profile in (SHORT, LONG):
        alternative = alternative_tuning_job_name(profile, 1)
        assert "--" in alternative and alternative != tuning_job_name(profile, 1)
    assert alternative_tuning_job_name(SHORT, 1) != alternative_tuning_job_name(LONG, 1)


@pytest.mark.parametrize("length", [1, 5, 17, 23, 24, 25, 30, 47, 48])
@pytest.mark.parametrize("seq", [1, 9999, 10_000, 123_456, 10**9])
def test_names_fit_sagemakers_limits_and_map_back(length: int, seq: int) -> None:
    profile = ("ab-c" * 12)[:length].strip("-") or "a"
    for name in (tuning_job_name(profile, seq), alternative_tuning_job_name(profile, seq)):
        assert len(name) <= 32 and TUNING_NAME.match(name), name
        assert name.startswith("rt-") and name.endswith(f"-{seq:04d}")
        trial = f"{name}-042-0a1b2c3d"  # AMT: <tuning job>-<3 digits>-<8 hex>
        assert len(trial) <= 63 and TRAINING_NAME.match(trial) and tuning_job_of_trial(trial) == name
        evaluation = f"{name}-eval"
        assert len(evaluation) <= 63 and TRAINING_NAME.match(evaluation)
        assert tuning_job_of_trial(evaluation) is None
    assert "--" not in tuning_job_name(profile, seq)  # so no first choice ever equals an alternative


def test_names_of_different_profiles_and_rounds_never_meet() -> None:
    """Tuning, trial and evaluation names of many profiles (short, cut, and named like others' stems)."""
    profiles = [LONG, SHORT, "a", "a-1", "a-10000", "market-xgb", "market-xgb-0001", "x" * 48, "x" * 47 + "y"]
    seen: dict[str, tuple[str, int, str]] = {}
    for profile in profiles:
        for seq in (1, 2, 10, 9999, 10_000, 10_001):
            tuning = alternative_tuning_job_name(profile, seq)
            for kind, name in (
                ("tuning", tuning),
                ("trial", f"{tuning}-001-00000001"),
                ("eval", f"{tuning}-eval"),
            ):
                assert seen.setdefault(name, (profile, seq, kind)) == (profile, seq, kind), name


def test_names_profiles_whose_names_shorten_alike_keep_their_own_rounds_and_trials(world: World) -> None:
    add_profile(world, LONG)
    add_profile(world, SHORT)
    assert start(world, LONG, "2015-01-01").status == "started"
    assert start(world, SHORT, "2015-01-01").status == "started"
    long_round, short_round = world.store.get_round(LONG, 1), world.store.get_round(SHORT, 1)
    assert long_round.tuning_job_name == tuning_job_name(LONG, 1)  # the first keeps today's name
    assert short_round.tuning_job_name == alternative_tuning_job_name(SHORT, 1)
    created = [
        r["HyperParameterTuningJobName"] for r in world.sagemaker.created("CreateHyperParameterTuningJob")
    ]
    assert created == [long_round.tuning_job_name, short_round.tuning_job_name]
    for rnd in (long_round, short_round):
        lookup = world.store.get_lookup(rnd.tuning_job_name)
        assert (lookup.profile, lookup.seq) == (rnd.profile, 1)
        (trial,) = world.sagemaker.run_trials(rnd.tuning_job_name, [{"objective": 0.5}])
        assert record_trial(trial, world.record_deps).status == "recorded"
        assert world.store.get_trial(rnd.profile, 1, trial) is not None
        # the evaluation, its model and its endpoint config are named after the round's own tuning job
        assert close_round(rnd.tuning_job_name, world.close_deps).status == "evaluating"
        assert world.store.get_round(rnd.profile, 1).evaluation.job_name == f"{rnd.tuning_job_name}-eval"
    evaluations = [r["TrainingJobName"] for r in world.sagemaker.created("CreateTrainingJob")]
    assert evaluations == [f"{long_round.tuning_job_name}-eval", f"{short_round.tuning_job_name}-eval"]


def seed_round_as_today(world: World, profile: str, seq: int, status: str = "decided") -> RoundRecord:
    """A round and its lookup as today's code writes them: today's name, the lookup written unconditionally."""
    prof = parse_profile(json_doc(profile))
    name = tuning_job_name(profile, seq)
    rnd = RoundRecord(
        profile=profile,
        seq=seq,
        drop_id=f"old-{seq}",
        tuning_job_name=name,
        status=status,  # type: ignore[arg-type]
        plan=initial_plan(prof, "v0"),
        profile_version="v0",
        objective_metric=prof.objective.metric_name,
        hyperparameter_names=sorted(hyperparameter_names(prof)),
        started_at=world.clock(),
    )
    world.store.table.write(
        [
            Put(round_item(rnd)),
            Put(lookup_item(JobLookup(job_name=name, kind="tuning", profile=profile, seq=seq))),
        ]
    )
    return rnd


def json_doc(profile: str) -> str:
    return json.dumps({**profile_doc(), "name": profile})


def test_names_upgrade_rounds_started_under_todays_names_keep_them(world: World) -> None:
    """LONG ran rounds 1 and 2 under today's names (round 2 still running); then a profile named as LONG's stem
    arrives. Its rounds take the alternative where LONG holds the name, today's where nobody does; LONG's round 2
    closes under its old names, and LONG's next round goes around the name the newcomer took."""
    add_profile(world, LONG)
    add_profile(world, SHORT)
    seed_round_as_today(world, LONG, 1)
    running = seed_round_as_today(world, LONG, 2, status="running")
    for seq, drop_id in ((1, "2015-01-01"), (2, "2015-02-01"), (3, "2015-03-01")):
        assert start(world, SHORT, drop_id).status == "started"
        finish(world, SHORT)
        taken = world.store.get_round(SHORT, seq).tuning_job_name
        expected = alternative_tuning_job_name(SHORT, seq) if seq <= 2 else tuning_job_name(SHORT, seq)
        assert taken == expected
        assert world.store.get_lookup(taken).profile == SHORT
    # LONG's round in flight keeps its name and its lookup
    assert world.store.get_lookup(running.tuning_job_name).profile == LONG
    objective = {"MetricName": running.objective_metric, "Type": "Minimize"}
    world.sagemaker.tuning_jobs[running.tuning_job_name] = {
        "request": {
            "HyperParameterTuningJobConfig": {"HyperParameterTuningJobObjective": objective},
            "TrainingJobDefinition": {},
        },
        "HyperParameterTuningJobStatus": "InProgress",
    }
    (trial,) = world.sagemaker.run_trials(running.tuning_job_name, [{"objective": 0.4}])
    assert record_trial(trial, world.record_deps).status == "recorded"
    assert world.store.get_trial(LONG, 2, trial) is not None
    close_round(running.tuning_job_name, world.close_deps)
    assert world.store.get_round(LONG, 2).evaluation.job_name == f"{running.tuning_job_name}-eval"
    assert world.store.get_lookup(f"{running.tuning_job_name}-eval").profile == LONG
    assert start(world, LONG, "2015-04-01").status == "started"
    assert world.store.get_round(LONG, 3).tuning_job_name == alternative_tuning_job_name(LONG, 3)


def test_names_a_round_whose_both_names_are_held_fails_its_drop_with_an_alert(world: World) -> None:
    add_profile(world, SHORT)
    for name, holder in (
        (tuning_job_name(SHORT, 1), LONG),
        (alternative_tuning_job_name(SHORT, 1), "intruder"),
    ):
        world.store.table.write(
            [Put(lookup_item(JobLookup(job_name=name, kind="tuning", profile=holder, seq=7)))]
        )
    result = start(world, SHORT, "2015-01-01")
    assert result.status == "failed"
    assert result.errors == [
        f"tuning job name: {tuning_job_name(SHORT, 1)} is round 7 of profile {LONG}'s and "
        f"{alternative_tuning_job_name(SHORT, 1)} is round 7 of profile intruder's; rename profile {SHORT}"
    ]
    assert world.alerts.outcomes() == ["drop_failed"]
    assert (
        world.store.get_active(SHORT) is None
        and world.sagemaker.created("CreateHyperParameterTuningJob") == []
    )
    assert world.store.get_lookup(tuning_job_name(SHORT, 1)).profile == LONG  # nothing taken over


def test_names_the_lookup_is_written_only_if_nobody_holds_it(world: World) -> None:
    """LONG's start writes its lookup between SHORT's read of the name and SHORT's write: SHORT's write fails on
    its condition instead of taking the name over, and SHORT's next attempt takes the alternative."""
    add_profile(world, LONG)
    add_profile(world, SHORT)
    get_lookup = world.store.get_lookup
    raced = []

    def stale_read(name: str) -> JobLookup | None:
        if name == tuning_job_name(SHORT, 1) and not raced:
            raced.append(name)
            assert (
                start(world, LONG, "2015-01-01").status == "started"
            )  # lands between the read and the write
            return None
        return get_lookup(name)

    world.store.get_lookup = stale_read  # type: ignore[method-assign]
    assert start(world, SHORT, "2015-01-01").status == "started"
    assert raced
    assert world.store.get_lookup(tuning_job_name(LONG, 1)).profile == LONG
    assert world.store.get_round(SHORT, 1).tuning_job_name == alternative_tuning_job_name(SHORT, 1)
