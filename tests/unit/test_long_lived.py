"""Issue 17 item 20: a long-lived profile. Rounds keep their order past 10,000 (hourly retraining gets there in 14
months), the rounds already started keep their keys and names, and planning reads a bounded history."""

from __future__ import annotations

import json
from typing import Any

import pytest
from retune.events import parse_drop_event
from retune.naming import seq_key, seq_of_key
from retune.policy import KNOBS, hyperparameter_names, initial_plan, plan_next_round
from retune.profile import parse_profile
from retune.records import RoundRecord, TrialRecord
from retune.table import Item, MemoryTable
from retune.use_cases.close_round import close_round
from retune.use_cases.record_trial import record_trial
from retune.use_cases.start_round import start_round

from tests.conftest import World, profile_doc

PROFILE = "market-xgb"
PK = f"PROFILE#{PROFILE}"


def seed_rounds_as_today(world: World, last: int, trials_each: int = 1) -> None:
    """Rounds 1..`last`, decided, each with `trials_each` trials, keyed as the code before issue 17 keyed them:
    `ROUND#` and the number zero-padded to 4 digits (so round 10,000 is `ROUND#10000`), trials under their
    round. Written straight into the table: ten thousand rounds through the use cases would take minutes."""
    prof = parse_profile(json.dumps(profile_doc()))
    template = RoundRecord(
        profile=PROFILE,
        seq=1,
        drop_id="d1",
        tuning_job_name=f"rt-{PROFILE}-0001",
        status="decided",
        tuning_status="Completed",
        plan=initial_plan(prof, "v0"),
        profile_version="v0",
        objective_metric=prof.objective.metric_name,
        hyperparameter_names=sorted(hyperparameter_names(prof)),
        started_at=world.clock(),
    )
    round_doc = json.loads(template.model_dump_json(by_alias=True))
    for seq in range(1, last + 1):
        key = f"ROUND#{seq:04d}"  # today's seq_key
        name = f"rt-{PROFILE}-{seq:04d}"
        doc = {**round_doc, "seq": seq, "drop_id": f"d{seq}", "tuning_job_name": name}
        world.table.items[(PK, key)] = {"pk": PK, "sk": key, "doc": json.dumps(doc), "status": "decided"}
        for index in range(1, trials_each + 1):
            trial = TrialRecord(
                profile=PROFILE,
                seq=seq,
                training_job_name=f"{name}-{index:03d}-{index:08x}",
                status="Completed",
                final_objective=0.5,
                updated_at=world.clock(),
            )
            sk = f"{key}#TRIAL#{trial.training_job_name}"
            world.table.items[(PK, sk)] = {
                "pk": PK,
                "sk": sk,
                "doc": trial.model_dump_json(),
                "status": "Completed",
            }


class CountingTable(MemoryTable):
    """The in-memory table, counting the items its queries return (what DynamoDB would bill and send)."""

    def __init__(self) -> None:
        super().__init__()
        self.returned = 0

    def query(self, pk: str, sk_prefix: str, **kwargs: Any) -> list[Item]:
        found = super().query(pk, sk_prefix, **kwargs)
        self.returned += len(found)
        return found


@pytest.fixture
def counted(world: World) -> World:
    """The world, its store on a table that counts what its queries return."""
    world.table = CountingTable()
    world.store.table = world.table
    return world


def test_long_lived_sort_keys_order_rounds_as_numbers_past_ten_thousand() -> None:
    seqs = [*range(1, 10_000), 10_001, 99_999, 100_000, 10**9, 10**30, 10**31, 10**60]
    assert sorted(seqs, key=seq_key) == seqs  # 10,000 itself is the one key out of order: see seq_key
    assert all(seq_of_key(seq_key(s)) == s for s in [*seqs, 10_000])
    assert [seq_key(s) for s in (1, 9999, 10_000)] == [
        "0001",
        "9999",
        "10000",
    ]  # as the code before wrote them


def test_long_lived_profile_starts_round_10001_after_rounds_keyed_as_today(counted: World) -> None:
    """A profile with 10,000 rounds keyed as today's code keys them: today the next start computes round 10,000
    again (its key sorts between 1000's and 1001's) and fails forever; now it starts 10,001, and then 10,002."""
    world = counted
    world.put_profile()
    seed_rounds_as_today(world, 10_000)
    world.table.returned = 0  # type: ignore[attr-defined]
    first = start_round(parse_drop_event(world.drop("2030-01-01")), world.deps)
    assert (first.status, first.seq, first.tuning_job) == ("started", 10_001, "rt-market-xgb-10001")
    # planning read the newest rounds only, not the ten thousand
    returned = world.table.returned  # type: ignore[attr-defined]
    assert returned <= 2 * KNOBS.history_rounds + 10, (
        returned
    )  # 20 rounds and their trials, and a few single reads
    assert world.store.get_round(PROFILE, 10_000).tuning_job_name == "rt-market-xgb-10000"
    assert world.store.get_lookup("rt-market-xgb-10001").seq == 10_001

    (trial,) = world.sagemaker.run_trials("rt-market-xgb-10001", [{"objective": 0.4}])
    world.series.values[(trial, "validation:rmse")] = [0.5, 0.4]
    assert record_trial(trial, world.record_deps).status == "recorded"
    assert close_round("rt-market-xgb-10001", world.close_deps).status == "evaluating"
    world.table.items.pop((PK, "ACTIVE"))
    second = start_round(parse_drop_event(world.drop("2030-01-02")), world.deps)
    assert (second.status, second.seq) == ("started", 10_002)
    assert world.store.last_round_seq(PROFILE) == 10_002

    history = world.store.history(PROFILE, KNOBS.history_rounds)
    assert [h.round.seq for h in history] == list(range(10_002 - KNOBS.history_rounds + 1, 10_003))
    assert {h.round.seq: len(h.trials) for h in history}[
        10_000
    ] == 1  # round 10,000's trials, from its old key
    assert [t.training_job_name for t in {h.round.seq: h for h in history}[10_001].trials] == [trial]


def test_long_lived_last_round_is_10000_when_only_todays_keys_exist(world: World) -> None:
    seed_rounds_as_today(world, 10_000, trials_each=0)
    assert world.store.last_round_seq(PROFILE) == 10_000
    world.table.items.pop((PK, "ROUND#10000"))
    assert world.store.last_round_seq(PROFILE) == 9_999


def test_long_lived_planning_reads_the_newest_rounds_only(world: World) -> None:
    world.put_profile()
    seed_rounds_as_today(world, 60, trials_each=3)
    history = world.store.history(PROFILE, KNOBS.history_rounds)
    assert [h.round.seq for h in history] == list(range(61 - KNOBS.history_rounds, 61))
    assert all(len(h.trials) == 3 for h in history)


def test_long_lived_policy_plans_from_the_newest_rounds_whatever_it_is_given(world: World) -> None:
    """The bound is the policy's: given the whole history or the newest `history_rounds` rounds, the plan is the
    same, so the store's bounded read changes no plan."""
    world.put_profile()
    seed_rounds_as_today(world, 40, trials_each=4)
    prof = parse_profile(json.dumps(profile_doc()))
    everything = world.store.history(PROFILE, 10_000)
    assert len(everything) == 40
    newest = world.store.history(PROFILE, KNOBS.history_rounds)
    whole, bounded = plan_next_round(prof, everything, "v1"), plan_next_round(prof, newest, "v1")
    assert whole == bounded
    assert whole.based_on_rounds == list(range(41 - KNOBS.history_rounds, 41))
