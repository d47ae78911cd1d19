"""A round's incumbents (docs/policy.md, "Incumbents"): the champion's configuration and the best configurations of
recent rounds, retrained on the round's drop as plain training jobs before its tuning job starts; and the
tuning job's same-drop target, from their scores. Pure: no I/O (StartRound reads the history and the champion).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

from retune.naming import incumbent_job_name
from retune.plan import Plan, Setting
from retune.profile import Profile
from retune.records import Incumbent, RoundHistory, RoundRecord, TrialRecord
from retune.sagemaker_facts import TERMINAL_JOB_STATUSES


def choose_incumbents(
    profile: Profile,
    plan: Plan,
    tuning_job: str,
    history: Sequence[RoundHistory],
    champion: tuple[int, TrialRecord] | None,
) -> list[Incumbent]:
    """Up to `plan.incumbents` configurations, deduplicated: the champion's (its round and trial), then each recent
    round's best completed trial, newest round first. Only configurations that set every searched hyperparameter
    of the profile as it is now, from rounds with the same objective, qualify."""
    wanted = plan.incumbents.value
    if wanted <= 0:
        return []
    searched = sorted(r.name for r in profile.search.ranges)
    chosen: list[Incumbent] = []
    seen: set[tuple[tuple[str, str], ...]] = set()

    def configuration(trial: TrialRecord) -> tuple[tuple[str, str], ...] | None:
        if not all(name in trial.hyperparameters for name in searched):
            return None
        return tuple((name, trial.hyperparameters[name]) for name in searched)

    def take(seq: int, trial: TrialRecord, why: Literal["champion", "best"]) -> None:
        found = configuration(trial)
        if found is None or found in seen or len(chosen) == wanted:
            return
        seen.add(found)
        chosen.append(
            Incumbent(
                job_name=incumbent_job_name(tuning_job, len(chosen) + 1),
                hyperparameters=dict(found),
                from_round=seq,
                from_job=trial.training_job_name,
                why=why,
            )
        )

    if champion is not None:
        take(champion[0], champion[1], "champion")
    for past in sorted(history, key=lambda h: h.round.seq, reverse=True):
        if past.round.objective_metric != profile.objective.metric_name:
            continue
        # The round's best configuration not taken yet: when a round's winner was an earlier configuration (an
        # incumbent), its best new one is carried instead.
        ranked = ranked_trials(past.round, past.trials)
        fresh = next(
            (t for t in ranked if configuration(t) is not None and configuration(t) not in seen), None
        )
        if fresh is not None:
            take(past.round.seq, fresh, "best")
    return chosen


def ranked_trials(rnd: RoundRecord, trials: Sequence[TrialRecord]) -> list[TrialRecord]:
    """The round's completed trials with a finite objective, best first (its recorded best leads a tie)."""
    done = [t for t in trials if _scored(t)]
    sign = 1.0 if rnd.objective_type == "Minimize" else -1.0
    return sorted(
        done,
        key=lambda t: (sign * (t.final_objective or 0.0), t.training_job_name != rnd.best_training_job),
    )


def _scored(trial: TrialRecord) -> bool:
    return (
        trial.status == "Completed"
        and trial.final_objective is not None
        and math.isfinite(trial.final_objective)
    )


def incumbents_ended(rnd: RoundRecord, trials: Sequence[TrialRecord]) -> bool:
    """Whether every incumbent of the round has a terminal trial record."""
    by_name = {t.training_job_name: t for t in trials}
    return all(
        (t := by_name.get(i.job_name)) is not None and t.status in TERMINAL_JOB_STATUSES
        for i in rnd.incumbents
    )


def same_drop_target(rnd: RoundRecord, trials: Sequence[TrialRecord]) -> Setting[float | None]:
    """The tuning job's TargetObjectiveMetricValue: the best incumbent's score on this drop, beaten by the plan's
    margin (a fraction of the score) in the objective's direction. None without a margin or a scored incumbent."""
    previous = rnd.plan.target_objective.value
    margin = rnd.plan.target_margin.value
    names = {i.job_name for i in rnd.incumbents}
    scored = [t for t in trials if t.training_job_name in names and _scored(t)]
    if margin is None or not scored:
        why = "no target margin in the plan" if margin is None else "no incumbent completed on this drop"
        return Setting(value=None, previous=previous, reason=f"no target: {why}")
    minimize = rnd.objective_type == "Minimize"
    best = (min if minimize else max)(scored, key=lambda t: t.final_objective or 0.0)
    score = float(best.final_objective or 0.0)
    step = margin * abs(score)
    target = score - step if minimize else score + step
    return Setting(
        value=target,
        previous=previous,
        reason=f"beat the best incumbent on this drop ({best.training_job_name}: {score:.6g}) by "
        f"{100 * margin:g}% (the plan's target margin, above the trainer-seed noise): the tuning job stops "
        f"when a trial reaches {target:.6g}",
    )


def launch_plan(rnd: RoundRecord, trials: Sequence[TrialRecord]) -> Plan:
    """The plan a round's tuning job starts with: its plan, with the same-drop target once it has incumbents."""
    if not rnd.incumbents:
        return rnd.plan
    return rnd.plan.model_copy(update={"target_objective": same_drop_target(rnd, trials)})


def unrun_trial(
    rnd: RoundRecord, incumbent: Incumbent, status: Literal["Failed", "Stopped"], reason: str, now: datetime
) -> TrialRecord:
    """The trial record of an incumbent whose training job never ran (SageMaker refused it, or the round was
    stopped before it was created): shown with the round's trials, so the round can end without it."""
    return TrialRecord(
        profile=rnd.profile,
        seq=rnd.seq,
        training_job_name=incumbent.job_name,
        status=status,
        source="incumbent",
        hyperparameters=incumbent.hyperparameters,
        failure_reason=reason,
        ended_at=now,
        updated_at=now,
    )
