"""plan_next_round: what the next round of a profile will try, learned from its earlier rounds.

Pure and deterministic: no I/O, no clock. Every setting carries its value, the previous round's value and the reason
it has that value; the plan never leaves the profile's bounds.
"""

from __future__ import annotations

from collections.abc import Sequence

from retune.plan import FROM_PROFILE, Plan, Setting
from retune.profile import Profile
from retune.records import RoundHistory

WARM_START_TERMINAL = frozenset({"Completed", "Stopped", "Failed"})


def initial_plan(profile: Profile, profile_version: str | None = None) -> Plan:
    """The profile's own settings, untouched: the plan of a profile's first round."""
    hyperband = profile.search.hyperband
    return Plan(
        profile_version=profile_version,
        strategy=Setting(value=profile.search.strategy),
        max_jobs=Setting(value=profile.budget.max_jobs),
        max_parallel_jobs=Setting(value=profile.budget.max_parallel_jobs),
        early_stopping=Setting(value=profile.early_stopping),
        max_runtime_seconds=Setting(value=profile.training.max_runtime_seconds),
        warm_start_parents=Setting(value=[]),
        warm_start_type=Setting(value="TransferLearning"),
        target_objective=Setting(value=None),
        max_jobs_not_improving=Setting(value=None),
        complete_on_convergence=Setting(value=False),
        ranges=Setting(value=list(profile.search.ranges)),
        min_resource=Setting(value=hyperband.min_resource if hyperband else None),
        max_resource=Setting(value=hyperband.max_resource if hyperband else None),
        patience=Setting(value=profile.patience),
    )


def hyperparameter_names(profile: Profile) -> frozenset[str]:
    return frozenset(profile.training.static_hyperparameters) | {r.name for r in profile.search.ranges}


def warm_start_candidates(profile: Profile, history: Sequence[RoundHistory]) -> list[RoundHistory]:
    """Earlier rounds a warm start may name: terminal tuning jobs with the same objective and hyperparameter names,
    and at least one completed trial. Newest first."""
    names = hyperparameter_names(profile)
    out = []
    for past in sorted(history, key=lambda h: h.round.seq, reverse=True):
        rnd = past.round
        if rnd.tuning_status not in WARM_START_TERMINAL:
            continue
        if (
            rnd.objective_metric != profile.objective.metric_name
            or frozenset(rnd.hyperparameter_names) != names
        ):
            continue
        if not any(t.status == "Completed" and t.final_objective is not None for t in past.trials):
            continue
        out.append(past)
    return out


def plan_next_round(
    profile: Profile, history: Sequence[RoundHistory], profile_version: str | None = None
) -> Plan:
    """The next round's plan. For now: the profile's settings, warm-started from the most recent eligible rounds
    (at most the profile's bound, at most 5), TransferLearning because every round sees a new drop."""
    base = initial_plan(profile, profile_version)
    bounds = profile.resolved_bounds()
    parents = warm_start_candidates(profile, history)[: bounds.max_warm_start_parents]
    if not parents:
        return base
    names = [p.round.tuning_job_name for p in parents]
    previous = _previous_parents(history)
    reason = (
        f"warm start from the {len(names)} most recent completed round(s) with the same objective and "
        "hyperparameters; TransferLearning because each round tunes on a new drop"
    )
    return base.model_copy(
        update={
            "based_on_rounds": sorted(p.round.seq for p in parents),
            "warm_start_parents": Setting(value=names, previous=previous, reason=reason),
        }
    )


def _previous_parents(history: Sequence[RoundHistory]) -> list[str] | None:
    if not history:
        return None
    last = max(history, key=lambda h: h.round.seq)
    return list(last.round.plan.warm_start_parents.value)


__all__ = ["FROM_PROFILE", "initial_plan", "plan_next_round", "warm_start_candidates"]
