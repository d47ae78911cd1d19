"""What every replay must end with, whatever the order and number of deliveries (issue 9, section 1)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from retune.alerts import Alert
from retune.records import ChampionRecord, DropRecord, RoundRecord, TrialRecord
from retune.store import profile_pk

from tests.replay.recording import Recording, round_outcome_alerts


@dataclass
class Effects:
    """A replay's end state, read from retune's store and the alerts it published."""

    rounds: list[RoundRecord]
    trials: dict[int, list[TrialRecord]]
    champion: ChampionRecord | None
    alerts: list[Alert]  # as published (the topic is idempotent on the key)
    drops: dict[str, str]  # drop id → state
    new_jobs: list[str]  # jobs the replay created in SageMaker (every one existed already)


def check(effects: Effects, recording: Recording, baseline: Effects | None = None) -> None:
    """Raise AssertionError naming the first invariant the replay broke."""
    expected_rounds = {r.seq: r for r in recording.rounds}
    assert not effects.new_jobs, f"the replay created SageMaker jobs: {effects.new_jobs}"
    # one round (and so one tuning job) per drop, each started from its own drop
    assert [r.seq for r in effects.rounds] == sorted(expected_rounds), [r.seq for r in effects.rounds]
    assert {r.tuning_job_name: r.drop_id for r in effects.rounds} == {
        r.tuning_job_name: r.drop_id for r in recording.rounds
    }
    assert set(effects.drops.values()) == {"started"}, effects.drops
    for rnd in effects.rounds:
        want = expected_rounds[rnd.seq]
        # one trial record per training job, with its terminal values
        # (the tuning job's, and the round's incumbents, chosen as in the recorded run)
        assert rnd.incumbents == want.incumbents, (rnd.seq, rnd.incumbents, want.incumbents)
        listed = {t["TrainingJobName"] for t in recording.trials[rnd.tuning_job_name]}
        listed |= {i.job_name for i in want.incumbents}
        got = {t.training_job_name: t for t in effects.trials[rnd.seq]}
        assert set(got) == listed, f"round {rnd.seq}: trials {sorted(got)} != jobs {sorted(listed)}"
        for trial in recording.trial_records[rnd.seq]:
            mine = got[trial.training_job_name]
            assert mine.terminal, f"{trial.training_job_name} left {mine.status}"
            assert (mine.status, mine.final_objective, mine.objective_series, mine.stopped_early) == (
                trial.status,
                trial.final_objective,
                trial.objective_series,
                trial.stopped_early,
            ), trial.training_job_name
        # one round summary, one evaluation, one decision, as in the recorded run
        assert rnd.status == want.status == "decided", (rnd.seq, rnd.status)
        assert (rnd.trial_counts, rnd.best_training_job, rnd.best_objective) == (
            want.trial_counts,
            want.best_training_job,
            want.best_objective,
        ), (rnd.seq, rnd.trial_counts, rnd.best_training_job, want.trial_counts, want.best_training_job)
        assert rnd.evaluation is not None and want.evaluation is not None
        assert rnd.evaluation.job_name == want.evaluation.job_name
        assert (rnd.evaluation.challenger_score, rnd.evaluation.champion_score) == (
            want.evaluation.challenger_score,
            want.evaluation.champion_score,
        ), rnd.seq
        assert rnd.decision is not None and want.decision is not None
        assert rnd.decision.outcome == want.decision.outcome, (rnd.seq, rnd.decision, want.decision)
    # one alert per round outcome
    outcome_alerts = round_outcome_alerts(effects.alerts)
    per_round = Counter(a.key.rsplit("/", 1)[0] for a in outcome_alerts)
    assert all(n == 1 for n in per_round.values()), per_round
    assert len(outcome_alerts) == len(recording.rounds), [a.key for a in outcome_alerts]
    # the same champion as the in-order run
    assert effects.champion is not None and recording.champion is not None
    assert (effects.champion.round_seq, effects.champion.score) == (
        recording.champion.round_seq,
        recording.champion.score,
    )
    if baseline is not None:
        assert baseline.champion is not None
        assert effects.champion.model_package_arn == baseline.champion.model_package_arn
        assert sorted(
            a.key for a in effects.alerts if a.key.startswith(recording.rounds[0].profile)
        ) == sorted(a.key for a in baseline.alerts if a.key.startswith(recording.rounds[0].profile))


def read_effects(store: Any, profile: str, alerts: list[Alert], new_jobs: list[str]) -> Effects:
    rounds = []
    seq = 1
    while (rnd := store.get_round(profile, seq)) is not None:
        rounds.append(rnd)
        seq += 1
    drops = {
        d.drop_id: d.state
        for d in (
            DropRecord.model_validate_json(i["doc"]) for i in store.table.query(profile_pk(profile), "DROP#")
        )
    }
    return Effects(
        rounds=rounds,
        trials={r.seq: store.trials(profile, r.seq) for r in rounds},
        champion=store.get_champion(profile),
        alerts=alerts,
        drops=drops,
        new_jobs=new_jobs,
    )
