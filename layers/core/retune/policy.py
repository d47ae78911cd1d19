"""plan_next_round: what the next round of a profile will try, learned from its earlier rounds (docs/policy.md).

Pure and deterministic: no I/O, no clock, the history sorted here. Every setting carries its value, the previous
round's value and the reason it has that value; the plan never leaves the profile's bounds. Rules tighten only on
evidence that the tightening costs nothing measurable, and loosen on evidence that a tightened setting binds (a
best trial on a narrowed edge, trials hitting the time limit, a Hyperband winner cut short, a patience cut that
censored still-improving curves), that the search fell behind (drift), or that what earlier drops taught does not
transfer (the incumbents ranked poorly on the new drops). Drift never tightens anything; differences inside the
trainer-seed noise decide nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from retune.plan import FROM_PROFILE, Plan, Setting
from retune.policy_evidence import (
    KNOBS,
    Evidence,
    Knobs,
    RoundStats,
    lead_epoch,
    read_history,
    running_best,
    seconds,
    settle_epoch,
    stall_and_tail,
)
from retune.policy_ranges import adapt, plan_ranges
from retune.profile import (
    MAX_PARALLEL_JOBS,
    MAX_TRAINING_JOBS,
    MIN_JOBS_NOT_IMPROVING,
    IntBound,
    ParameterRange,
    Profile,
    ResolvedBounds,
)
from retune.records import RoundHistory
from retune.sagemaker_facts import MAX_HYPERBAND_RESOURCE, TERMINAL_JOB_STATUSES

__all__ = [
    "FROM_PROFILE",
    "KNOBS",
    "NO_TARGET",
    "Knobs",
    "hyperparameter_names",
    "hyperparameter_types",
    "initial_plan",
    "plan_next_round",
    "warm_start_candidates",
]

# AWS counts the parents' training jobs against the limit of training jobs of the new tuning job.
MAX_JOBS_WITH_PARENTS = MAX_TRAINING_JOBS
NO_TARGET = (
    "no target objective: a target is a validation score, and no score on the next drop's validation data is "
    "known before its round runs (scores of different windows differ by more than a round's spread)"
)


FIRST_ROUND_INCUMBENTS = "none: the profile's first round has no earlier configuration"


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
        incumbents=Setting(value=0, reason=FIRST_ROUND_INCUMBENTS),
        target_margin=Setting(value=None, reason=FIRST_ROUND_INCUMBENTS),
    )


def hyperparameter_names(profile: Profile) -> frozenset[str]:
    return frozenset(profile.training.static_hyperparameters) | {r.name for r in profile.search.ranges}


def hyperparameter_types(ranges: Sequence[ParameterRange], names: Sequence[str]) -> dict[str, str]:
    """Each hyperparameter's type as warm start compares them: a range's type, else "static"."""
    types = dict.fromkeys(names, "static")
    types.update({r.name: r.type for r in ranges})
    return types


def warm_start_candidates(profile: Profile, history: Sequence[RoundHistory]) -> list[RoundHistory]:
    """Earlier rounds a warm start may name: terminal tuning jobs with the same objective and the same
    hyperparameters with the same types, and at least one completed trial. Newest first."""
    names = hyperparameter_names(profile)
    ours = hyperparameter_types(profile.search.ranges, sorted(names))
    out = []
    for past in sorted(history, key=lambda h: h.round.seq, reverse=True):
        rnd = past.round
        if rnd.tuning_status not in TERMINAL_JOB_STATUSES:
            continue
        if (
            rnd.objective_metric != profile.objective.metric_name
            or frozenset(rnd.hyperparameter_names) != names
        ):
            continue
        if hyperparameter_types(rnd.plan.ranges.value, rnd.hyperparameter_names) != ours:
            continue
        if not any(
            t.status == "Completed" and t.final_objective is not None and t.source == "tuning"
            for t in past.trials
        ):
            continue
        out.append(past)
    return out


def plan_next_round(
    profile: Profile,
    history: Sequence[RoundHistory],
    profile_version: str | None = None,
    *,
    knobs: Knobs = KNOBS,
) -> Plan:
    """The next round's plan, learned from every earlier round of the profile (in any order).

    Without history it is the profile's own plan. With history each setting moves from the latest round's value
    by one rule (docs/policy.md): fewer or more trials as the recent rounds found their best early or late; the
    parallelism Bayesian search can learn with; BestObjectiveNotImproving and convergence detection from the gaps
    between improvements; the per-trial time limit from completed trials; ranges narrowed towards the best
    trials; Hyperband's resources from when the winner led and settled; the trainer's patience from its stalls;
    warm start from the most relevant rounds; the incumbents to re-train, and how far the others lean on earlier
    drops, from how the incumbents ranked on the new drops (transfer). A round that fell behind the champion on the
    same data (drift) moves every tightened setting halfway back towards the profile instead, and nothing tightens.
    """
    if not history:
        return initial_plan(profile, profile_version)
    last = max(history, key=lambda h: (h.round.seq, h.round.tuning_job_name)).round.plan
    evidence = read_history(profile, history, last.drift_answered, knobs)
    rules = _Rules(profile, profile.resolved_bounds(), last, evidence, knobs)
    max_jobs = rules.max_jobs()
    min_resource, max_resource = rules.resources()
    return Plan(
        profile_version=profile_version,
        based_on_rounds=[s.seq for s in evidence.horizon],
        drift_answered=evidence.drift_seen,
        strategy=Setting(value=profile.search.strategy, previous=last.strategy.value, reason=FROM_PROFILE),
        early_stopping=Setting(
            value=profile.early_stopping, previous=last.early_stopping.value, reason=FROM_PROFILE
        ),
        warm_start_type=Setting(
            value="TransferLearning",
            previous=last.warm_start_type.value,
            reason="TransferLearning: each round tunes on a new drop",
        ),
        max_jobs=max_jobs,
        max_parallel_jobs=rules.parallel(max_jobs.value),
        max_runtime_seconds=rules.runtime(),
        warm_start_parents=rules.warm_start(max_jobs.value),
        target_objective=Setting(value=None, previous=last.target_objective.value, reason=NO_TARGET),
        max_jobs_not_improving=rules.not_improving(),
        complete_on_convergence=rules.convergence(),
        ranges=rules.ranges(),
        min_resource=min_resource,
        max_resource=max_resource,
        patience=rules.patience(),
        incumbents=rules.incumbents(),
        target_margin=rules.target_margin(),
    )


def _back(prev: int, original: int) -> int:
    """Halfway from a value tightened below the profile's back up to it, rounded up so that it always moves."""
    return prev + math.ceil((original - prev) / 2) if prev < original else prev


def _rounds(stats: Sequence[RoundStats]) -> str:
    seqs = [s.seq for s in stats]
    if len(seqs) == 1:
        return f"round {seqs[0]}"
    return f"rounds {seqs[0]}-{seqs[-1]}" if seqs == list(range(seqs[0], seqs[-1] + 1)) else f"rounds {seqs}"


class _Rules(NamedTuple):
    profile: Profile
    bounds: ResolvedBounds
    last: Plan
    evidence: Evidence
    knobs: Knobs

    # -- shared ------------------------------------------------------------------------------------------------

    @property
    def drift(self) -> str | None:
        """The reason every setting loosens, when the latest evaluations show drift."""
        d = self.evidence.drift
        if d is None or d.rnd.evaluation is None or d.shortfall is None:
            return None
        evaluation = d.rnd.evaluation
        return (
            f"drift: round {d.seq}'s challenger scored {evaluation.challenger_score:.4g} against the champion's "
            f"{evaluation.champion_score:.4g} on the same test data, {100 * d.shortfall:.1f}% behind "
            f"(tolerance {100 * self.bounds.drift_tolerance:.1f}%)"
        )

    @property
    def strategy(self) -> str:
        return self.profile.search.strategy

    @property
    def transfer(self) -> str | None:
        """How the incumbents ranked on their drops, in words; None when no recent round measured it."""
        measured = self.evidence.transfer
        if measured is None:
            return None
        value, rounds = measured
        return (
            f"transfer {value:.2f} in {_rounds(rounds)}: the best incumbent (an earlier round's best configuration "
            f"re-trained on the new drop) was beaten by more than the noise ({100 * self.bounds.seed_noise:g}%) "
            f"by {100 * (1 - value):.0f}% of the round's tuning trials"
            + (" (mean)" if len(rounds) > 1 else "")
        )

    @property
    def poor_transfer(self) -> str | None:
        """The reason to stop relying on earlier drops, when the incumbents did poorly on the new ones."""
        measured = self.evidence.transfer
        if measured is None or measured[0] >= self.knobs.transfer_poor:
            return None
        return f"poor {self.transfer}: what earlier drops taught does not hold on the new ones"

    @property
    def good_transfer(self) -> str | None:
        """The reason to lean on the incumbents, when they did as well as the search on the new drops."""
        measured = self.evidence.transfer
        if measured is None or measured[0] < self.knobs.transfer_good:
            return None
        return f"good {self.transfer}"

    def _prev(self, previous: int | None, original: int, bound: IntBound) -> int:
        return bound.clamp(original if previous is None else previous)

    def _longest_completed(self) -> float | None:
        durations = [
            d
            for s in self.evidence.recent
            for t in s.trials
            if t.status == "Completed" and (d := seconds(t)) is not None
        ]
        return max(durations, default=None)

    @staticmethod
    def _bounded(value: int, want: int, bound: IntBound) -> str:
        return f" (within the bounds {bound.floor}..{bound.ceiling})" if value != want else ""

    # -- the number of trials and the parallelism --------------------------------------------------------------

    def max_jobs(self) -> Setting[int]:
        bound = self.bounds.max_jobs
        original = self.profile.budget.max_jobs
        prev = self._prev(self.last.max_jobs.value, original, bound)
        previous = self.last.max_jobs.value
        if self.strategy == "Grid":
            return Setting(value=prev, previous=previous, reason="Grid runs every combination of its values")
        if self.drift:
            value = min(MAX_TRAINING_JOBS, bound.clamp(_back(prev, original)))
            return Setting(
                value=value, previous=previous, reason=f"back halfway towards {original}: {self.drift}"
            )
        recent = self.evidence.recent
        if not recent:
            return Setting(value=prev, previous=previous, reason=self._too_few())
        slowest = max(recent, key=lambda s: (s.last_improvement, s.seq))
        needed = slowest.last_improvement
        good, poor = self.good_transfer, self.poor_transfer
        # When the incumbents carry the rounds, the search needs less room after its last improvement.
        headroom = self.knobs.transfer_trials_headroom if good else self.knobs.trials_headroom
        want = math.ceil(headroom * needed)
        value = max(1, min(MAX_TRAINING_JOBS, bound.clamp(want)))
        found = (
            f"the last 1% improvement came by trial {needed} at the latest in {_rounds(recent)} "
            f"(round {slowest.seq}, of {len(slowest.scored)}); {headroom:g}x that is {want}"
        )
        if good:
            found += f", the incumbents carrying the round: {good}"
        if poor and value < prev:
            # The rounds found their best early from a head start (narrowed ranges, warm start) that does not
            # carry over: their trial counts are no evidence that fewer trials cost nothing.
            return Setting(value=prev, previous=previous, reason=f"kept, not fewer trials: {poor}")
        verb = "fewer trials" if value < prev else ("more trials" if value > prev else "kept")
        return Setting(
            value=value, previous=previous, reason=f"{verb}: {found}{self._bounded(value, want, bound)}"
        )

    def parallel(self, max_jobs: int) -> Setting[int]:
        bound = self.bounds.max_parallel_jobs
        original = self.profile.budget.max_parallel_jobs
        prev = self._prev(self.last.max_parallel_jobs.value, original, bound)
        previous = self.last.max_parallel_jobs.value
        if self.drift:
            value, reason = (
                bound.clamp(_back(prev, original)),
                f"back halfway towards {original}: {self.drift}",
            )
        elif self.strategy == "Bayesian":
            cap = max(1, max_jobs // self.knobs.bayesian_waves)
            value = bound.clamp(min(prev, cap))
            reason = (
                f"Bayesian search learns from finished trials: at most {cap} of {max_jobs} at once "
                f"({self.knobs.bayesian_waves} waves or more)"
            )
        else:
            value = bound.clamp(original)
            reason = f"the profile's: {self.strategy} search does not learn between trials, so parallel costs nothing"
        seconds_per_round, longest = self.profile.budget.max_round_seconds, self._longest_completed()
        if not self.drift and seconds_per_round and longest:
            # Wall time: the round's trials, at the longest completed trial's time, must fit its time limit.
            need = bound.clamp(math.ceil(max_jobs * longest / seconds_per_round))
            if need > value:
                value = need
                reason = (
                    f"{need} at once so that {max_jobs} trials of up to {longest:.0f}s fit the round's "
                    f"{seconds_per_round}s"
                )
        if self.strategy != "Grid":
            value = min(value, max_jobs)  # AMT: never more in parallel than in all
        return Setting(value=max(1, min(MAX_PARALLEL_JOBS, value)), previous=previous, reason=reason)

    # -- completion criteria -----------------------------------------------------------------------------------

    def not_improving(self) -> Setting[int | None]:
        bound = self.bounds.max_jobs_not_improving
        floor = max(MIN_JOBS_NOT_IMPROVING, bound.floor)
        ceiling = max(floor, bound.ceiling)
        previous = self.last.max_jobs_not_improving.value
        prev = None if previous is None else max(floor, min(ceiling, previous))
        if self.drift:
            return Setting(
                value=None,
                previous=previous,
                reason=f"removed, so the next round runs to its trial limit and shows the gaps again: {self.drift}",
            )
        recent = self.evidence.recent
        if not recent:
            return Setting(value=prev, previous=previous, reason=self._too_few())
        contributions = []
        for s in recent:
            needed = s.longest_gap + 1
            limit = s.rnd.plan.max_jobs_not_improving.value
            if s.censored and limit is not None:
                needed = max(needed, limit)  # it ended on the criterion: longer gaps could not show
            contributions.append((needed, s))
        want, which = max(contributions, key=lambda pair: (pair[0], pair[1].seq))
        value = max(floor, min(ceiling, want))
        reason = (
            f"stop after {value} trials without a 1% improvement: in {_rounds(recent)} an improvement came after "
            f"at most {which.longest_gap} trials without one (round {which.seq})"
        )
        if which.censored:
            reason += f", and round {which.seq} ended on its limit of {want}"
        return Setting(value=value, previous=previous, reason=reason)

    def convergence(self) -> Setting[bool]:
        previous = self.last.complete_on_convergence.value
        if self.drift:
            return Setting(value=False, previous=previous, reason=f"off: {self.drift}")
        recent = self.evidence.recent
        if not recent:
            return Setting(value=previous, previous=previous, reason=self._too_few())
        late = [s for s in recent if 2 * s.last_improvement > len(s.scored)]
        if late:
            s = late[-1]
            return Setting(
                value=False,
                previous=previous,
                reason=f"off: round {s.seq} made its last 1% improvement at trial {s.last_improvement} of "
                f"{len(s.scored)}",
            )
        return Setting(
            value=True,
            previous=previous,
            reason=f"on: {_rounds(recent)} made the last 1% improvement in the first half of the trials",
        )

    # -- per trial ---------------------------------------------------------------------------------------------

    def runtime(self) -> Setting[int]:
        bound = self.bounds.max_runtime_seconds
        original = self.profile.training.max_runtime_seconds
        prev = self._prev(self.last.max_runtime_seconds.value, original, bound)
        previous = self.last.max_runtime_seconds.value
        latest = self.evidence.latest
        hit = [t for t in latest.trials if t.secondary_status == "MaxRuntimeExceeded"] if latest else []
        if self.drift:
            value, reason = _back(prev, original), f"back halfway towards {original}s: {self.drift}"
        elif hit and latest is not None and prev < original:
            value = _back(prev, original)
            reason = (
                f"back halfway towards {original}s: {len(hit)} trial(s) of round {latest.seq} ran into the "
                f"{prev}s limit"
            )
        else:
            longest = self._longest_completed()
            if longest is None:
                return Setting(
                    value=prev, previous=previous, reason="kept: no completed trial with a running time"
                )
            want = math.ceil(self.knobs.runtime_headroom * longest)
            value = min(prev, bound.clamp(want))
            reason = (
                f"{self.knobs.runtime_headroom:g}x the longest completed trial of {_rounds(self.evidence.recent)} "
                f"({longest:.0f}s)"
            )
            reason = reason if value < prev else f"kept: {reason} is not below {prev}s"
        return Setting(value=max(1, bound.clamp(value)), previous=previous, reason=reason)

    def patience(self) -> Setting[int | None]:
        original, bound = self.profile.patience, self.bounds.patience
        previous = self.last.patience.value
        name = self.profile.metrics.patience_hyperparameter
        if original is None or bound is None:
            return Setting(value=original, previous=previous, reason=FROM_PROFILE)
        prev = self._prev(previous, original, bound)
        if self.drift:
            return Setting(
                value=bound.clamp(_back(prev, original)),
                previous=previous,
                reason=f"back halfway towards {original}: {self.drift}",
            )
        censored = self._patience_censored(original)
        if censored is not None and prev < original:
            return Setting(
                value=bound.clamp(_back(prev, original)),
                previous=previous,
                reason=f"back halfway towards {original}: {censored}",
            )
        needed: tuple[int, int, float, int, RoundStats] | None = (
            None  # patience, stall, per epoch, tail, round
        )
        for s in self.evidence.recent:
            minimize = s.rnd.objective_type == "Minimize"
            ran_with = s.rnd.plan.patience.value or original
            completed = [t for t in s.trials if t.status == "Completed" and len(t.objective_series) >= 2]
            tail = max((stall_and_tail(t.objective_series, minimize, 0.0)[1] for t in completed), default=0)
            tops = [t for t in s.tops if t in completed]
            if tail == 0 or not tops:
                continue  # no trial stopped on its patience: nothing says what an epoch is in its units
            per_epoch = ran_with / tail
            stall = max(
                stall_and_tail(t.objective_series, minimize, self.knobs.patience_min_gain)[0] for t in tops
            )
            want = math.ceil((stall + 1) * per_epoch)
            if needed is None or want > needed[0]:
                needed = (want, stall, per_epoch, tail, s)
        if needed is None:
            return Setting(
                value=prev, previous=previous, reason="kept: no completed trial stopped on its patience"
            )
        want, stall, per_epoch, tail, s = needed
        value = min(prev, bound.clamp(want))
        reason = (
            f"{name} {want} outlasts {stall + 1} epoch(s) without a new best: the best trials of "
            f"{_rounds(self.evidence.recent)} never gained {100 * self.knobs.patience_min_gain:g}% or more after a "
            f"longer stall than {stall}, and an epoch is {per_epoch:g} {name} (round {s.seq}'s trials ran {tail} "
            f"epoch(s) past their best on {s.rnd.plan.patience.value or original})"
        )
        return Setting(value=value, previous=previous, reason=reason if value < prev else f"kept: {reason}")

    def _patience_censored(self, original: int) -> str | None:
        """Whether the latest round's patience cut hid what rule 9 reads: trials it stopped (those that ran the
        most epochs past their best) had gained more than the trainer-seed noise in as many epochs before their
        best. A curve still falling that fast may have been on a plateau, not at its end; the cut cannot tell."""
        latest = self.evidence.latest
        if latest is None:
            return None
        ran_with = latest.rnd.plan.patience.value or original
        if ran_with >= original:
            return None
        minimize = latest.rnd.objective_type == "Minimize"
        completed = [t for t in latest.trials if t.status == "Completed" and len(t.objective_series) >= 2]
        tails = {t.training_job_name: stall_and_tail(t.objective_series, minimize, 0.0)[1] for t in completed}
        tail = max(tails.values(), default=0)
        if tail == 0:
            return None  # no trial stopped on its patience
        cut = []
        for t in completed:
            if tails[t.training_job_name] != tail:
                continue
            curve = running_best(t.objective_series, minimize)
            best_at = len(curve) - 1 - tail
            gain = abs(curve[max(0, best_at - tail)] - curve[best_at])
            if gain > latest.noise * abs(curve[-1]):
                cut.append(gain / abs(curve[-1]) if curve[-1] else math.inf)
        if not cut:
            return None
        name = self.profile.metrics.patience_hyperparameter
        return (
            f"{len(cut)} trial(s) of round {latest.seq} stopped by {name} {ran_with} had gained up to "
            f"{100 * max(cut):.1f}% in the {tail} epoch(s) before their best, more than the noise "
            f"({100 * latest.noise:g}%): the cut censors the stalls rule 9 reads"
        )

    def resources(self) -> tuple[Setting[int | None], Setting[int | None]]:
        """Hyperband's MinResource from the epoch the winners led from, MaxResource from when they settled."""
        hyperband = self.profile.search.hyperband
        low_bound, high_bound = self.bounds.min_resource, self.bounds.max_resource
        prev_low, prev_high = self.last.min_resource.value, self.last.max_resource.value
        if self.strategy != "Hyperband" or hyperband is None or low_bound is None or high_bound is None:
            return (
                Setting(
                    value=hyperband.min_resource if hyperband else None,
                    previous=prev_low,
                    reason=FROM_PROFILE,
                ),
                Setting(
                    value=hyperband.max_resource if hyperband else None,
                    previous=prev_high,
                    reason=FROM_PROFILE,
                ),
            )
        first, last = hyperband.min_resource, hyperband.max_resource
        low = self._prev(prev_low, first, low_bound)
        high = self._prev(prev_high, last, high_bound)
        if self.drift:
            low, high = _back(low, first), _back(high, last)
            low_reason = high_reason = f"back halfway towards the profile's {first}..{last}: {self.drift}"
        else:
            low, low_reason, high, high_reason = self._tighter_resources(low, high, low_bound, high_bound)
            cut = self._winner_cut()
            if cut is not None and cut[0] and low < first:
                low, low_reason = _back(low, first), f"back halfway towards {first}: {cut[0]}"
            if cut is not None and cut[1] and high < last:
                high, high_reason = _back(high, last), f"back halfway towards {last}: {cut[1]}"
        high = min(MAX_HYPERBAND_RESOURCE, max(1, high_bound.clamp(high)))
        low = max(1, min(low_bound.clamp(low), high))
        return (
            Setting(value=low, previous=prev_low, reason=low_reason),
            Setting(value=high, previous=prev_high, reason=high_reason),
        )

    def _tighter_resources(
        self, low: int, high: int, low_bound: IntBound, high_bound: IntBound
    ) -> tuple[int, str, int, str]:
        """Lower MinResource to the latest epoch a recent winner took the lead from, and MaxResource to a margin
        over the latest epoch a recent winner came within 1% of its final objective."""
        leads: list[tuple[int, int]] = []
        for s in self.evidence.recent:
            if s.best is None or not s.best.objective_series:
                continue
            minimize = s.rnd.objective_type == "Minimize"
            led = lead_epoch(s.best, [t for t in s.trials if t is not s.best], minimize)
            leads.append((led, max(led, settle_epoch(s.best, minimize, self.knobs.improvement))))
        if not leads:
            reason = "kept: no recent round with trial curves"
            return low, reason, high, reason
        led_from, settled_at = max(led for led, _ in leads), max(settled for _, settled in leads)
        low_reason = f"the recent winners led from epoch {led_from} on"
        if led_from < low:
            low = low_bound.clamp(led_from)
        else:
            low_reason = f"kept: {low_reason}"
        want = math.ceil(self.knobs.resource_headroom * settled_at)
        high_reason = (
            f"the recent winners were within 1% of their final objective by epoch {settled_at}; "
            f"{self.knobs.resource_headroom:g}x that is {want}"
        )
        if high_bound.clamp(want) < high:
            high = high_bound.clamp(want)
        else:
            high_reason = f"kept: {high_reason}"
        return low, low_reason, high, high_reason

    def _winner_cut(self) -> tuple[str | None, str | None] | None:
        """Whether Hyperband's resources bind on the latest round's winner: it took the lead only after its first
        rung (an earlier cut could have stopped it), or it was still gaining 1% when MaxResource stopped it."""
        latest = self.evidence.latest
        if latest is None or latest.best is None or not latest.best.objective_series:
            return None
        best, plan = latest.best, latest.rnd.plan
        minimize = latest.rnd.objective_type == "Minimize"
        early = late = None
        led = lead_epoch(best, [t for t in latest.trials if t is not best], minimize)
        if plan.min_resource.value is not None and led > plan.min_resource.value:
            early = (
                f"round {latest.seq}'s winner led only from epoch {led}, after the first rung at "
                f"{plan.min_resource.value}"
            )
        curve = running_best(best.objective_series, minimize)
        quarter = max(1, len(curve) // 4)
        ran_to = plan.max_resource.value
        if ran_to is not None and len(curve) >= ran_to and len(curve) > quarter:
            gain = (curve[-quarter - 1] - curve[-1]) * (1 if minimize else -1)
            if gain >= self.knobs.improvement * abs(curve[-1]):
                late = (
                    f"round {latest.seq}'s winner still gained 1% or more in its last {quarter} epoch(s) "
                    f"when it reached {ran_to}"
                )
        return early, late

    # -- the search space --------------------------------------------------------------------------------------

    def ranges(self) -> Setting[list[ParameterRange]]:
        originals = list(self.profile.search.ranges)
        by_name = {r.name: r for r in self.last.ranges.value}
        previous = [adapt(r, by_name.get(r.name)) for r in originals]
        moves = plan_ranges(
            originals,
            previous,
            self.evidence.horizon,
            self.evidence.latest,
            self.drift or self.poor_transfer,
            self.bounds.min_range_fraction,
            self.knobs,
        )
        reasons = [m.reason for m in moves if m.reason]
        narrowed = sum(1 for m, r in zip(moves, originals, strict=True) if m.range != r)
        reason = "; ".join(reasons) if reasons else f"kept: {narrowed} of {len(originals)} narrowed"
        horizon = [s for s in self.evidence.horizon if len(s.scored) >= self.knobs.min_trials]
        if not reasons and self.poor_transfer:
            reason += f", none narrows: {self.poor_transfer}"
        elif not reasons and horizon and all(s.undecided for s in horizon):
            reason += (
                f", none narrows: no trial of {_rounds(horizon)} fell behind its round's best by more than the "
                f"noise ({100 * self.bounds.seed_noise:g}%)"
            )
        return Setting(value=[m.range for m in moves], previous=self.last.ranges.value, reason=reason)

    # -- the incumbents ----------------------------------------------------------------------------------------

    def incumbents(self) -> Setting[int]:
        """How many of the champion's and recent rounds' best configurations the round re-trains first."""
        previous = self.last.incumbents.value
        most = max(1, self.knobs.incumbents)
        what = "the champion's and the recent rounds' best configurations re-trained on the new drop first"
        if self.drift:
            return Setting(value=most, previous=previous, reason=f"{most}, {what}: {self.drift}")
        if self.evidence.transfer is None:
            return Setting(
                value=most,
                previous=previous,
                reason=f"{most}, {what}: no round has measured how they rank on a new drop yet",
            )
        if self.poor_transfer:
            # One keeps transfer measured (the rule cannot recover without it); more cost compute for little.
            return Setting(
                value=1, previous=previous, reason=f"1, to keep measuring it: {self.poor_transfer}"
            )
        if self.good_transfer:
            return Setting(value=most, previous=previous, reason=f"{most}, {what}: {self.good_transfer}")
        value = max(1, min(most, previous or most))
        return Setting(value=value, previous=previous, reason=f"kept: {self.transfer}")

    def target_margin(self) -> Setting[float | None]:
        """How far a trial must beat the best incumbent for the tuning job to stop on its target (rule 5)."""
        # A same-drop difference compares two retrained models, each carrying the trainer-seed noise.
        margin = 2 * self.bounds.seed_noise
        return Setting(
            value=margin,
            previous=self.last.target_margin.value,
            reason=f"a trial must beat the best incumbent by {100 * margin:g}% for the tuning job to stop on its "
            f"target: twice the profile's trainer-seed noise ({100 * self.bounds.seed_noise:g}%, bounds.seed_noise), "
            "as both scores carry it",
        )

    def warm_start(self, max_jobs: int) -> Setting[list[str]]:
        previous = self.last.warm_start_parents.value
        bound = self.bounds.max_warm_start_parents
        if self.strategy != "Bayesian":
            return Setting(
                value=[],
                previous=previous,
                reason=f"no warm start: only Bayesian search learns from the parents' trials "
                f"(AWS documents warm start for Bayesian and random search), not {self.strategy}",
            )
        if self.poor_transfer:
            # TransferLearning's priors are the parents' rankings, which the incumbents showed do not carry over.
            return Setting(value=[], previous=previous, reason=f"no warm start: {self.poor_transfer}")
        horizon = {s.seq: s for s in self.evidence.horizon}
        candidates = warm_start_candidates(self.profile, [s.history for s in horizon.values()])
        tolerance = self.bounds.drift_tolerance

        def good(h: RoundHistory) -> bool:
            fell = horizon[h.round.seq].shortfall
            return h.round.tuning_status == "Completed" and (fell is None or fell <= tolerance)

        chosen: list[RoundHistory] = []
        jobs = max_jobs
        for h in sorted(candidates, key=lambda h: (not good(h), -h.round.seq)):
            size = max(len(h.trials), sum(h.round.trial_counts.values()))
            if len(chosen) < bound and jobs + size <= MAX_JOBS_WITH_PARENTS:
                chosen.append(h)
                jobs += size
        chosen.sort(key=lambda h: -h.round.seq)
        if not chosen:
            return Setting(value=[], previous=previous, reason="no warm start: no earlier round qualifies")
        since = f" since the drift of round {self.evidence.horizon[0].seq}" if self._drifted_before() else ""
        reason = (
            f"warm start from {_rounds(sorted((horizon[h.round.seq] for h in chosen), key=lambda s: s.seq))}: "
            f"the {len(chosen)} most recent completed round(s){since} with the same objective and hyperparameters"
        )
        return Setting(value=[h.round.tuning_job_name for h in chosen], previous=previous, reason=reason)

    def _drifted_before(self) -> bool:
        rounds, horizon = self.evidence.rounds, self.evidence.horizon
        return bool(horizon) and horizon[0].seq != rounds[0].seq

    def _too_few(self) -> str:
        return f"kept: no round since the last drift has {self.knobs.min_trials} trials with an objective yet"
