"""What the tightening policy reads from a profile's history (docs/policy.md, "Comparable data").

Only comparable numbers are ever compared: the trials of one round with each other (they share one drop's
validation data), and a round's challenger with the champion in that round's evaluation (one drop's test data).
No score of one drop is compared with a score of another: on the market workload the level of the validation
score moves about 5% between windows, more than a whole round's spread.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from itertools import pairwise
from typing import NamedTuple

from retune.profile import Profile
from retune.records import RoundHistory, RoundRecord, TrialRecord
from retune.sagemaker_facts import TERMINAL_JOB_STATUSES

SCORED_STATUSES = frozenset({"Completed", "Stopped"})


class Knobs(NamedTuple):
    """The policy's constants, in one place so that the efficiency benchmark can tune them."""

    # AMT's "improves by 1% or more" (BestObjectiveNotImproving); the local reading takes 1% of the best's size.
    improvement: float = 0.01
    # Rounds (since the last drift) whose trial counts, gaps, running times and curves the next plan follows.
    recent_rounds: int = 3
    # The newest rounds (by number) the policy reads at all, and so the store reads to plan (a long-lived
    # profile's history stays bounded; older rounds' knowledge lives on in the previous plan's ranges).
    history_rounds: int = 20
    # Trials with an objective a round needs before its counts and gaps are evidence.
    min_trials: int = 3
    # Trials planned per trial a recent round needed to reach its best.
    trials_headroom: float = 2.0
    # Bayesian search learns between waves of parallel trials: at least this many waves per round.
    bayesian_waves: int = 4
    # Per-trial time limit over the longest completed trial.
    runtime_headroom: float = 2.0
    # A round's best trials: this share of its trials with an objective (at least one).
    top_fraction: float = 0.25
    # Room kept around the best trials' values when narrowing, as a share of the profile's (scaled) width.
    range_margin: float = 0.10
    # A best trial this close to a narrowed edge (share of the narrowed width) is on the edge.
    edge_fraction: float = 0.05
    # Trials with a categorical value, none in the top half of its round, before the value is dropped.
    categorical_min_trials: int = 4
    # A trainer's stall counts only when what the trial gained after it is at least this share.
    patience_min_gain: float = 0.002
    # Hyperband's MaxResource over the epoch at which the winner settled.
    resource_headroom: float = 1.25
    # Transfer (how the incumbents rank on the new drop, 0..1) below this is poor: what earlier drops taught does
    # not hold on the new one, so narrowed ranges widen, warm start stops and one incumbent keeps measuring it.
    transfer_poor: float = 0.5
    # Transfer at or above this is good: the incumbents did as well as the search's trials, within the noise.
    transfer_good: float = 0.9
    # Trials planned per trial a recent round needed to reach its best, when the incumbents carry the rounds.
    transfer_trials_headroom: float = 1.0
    # Incumbent configurations a round re-trains first unless transfer is poor (then one keeps measuring it).
    incumbents: int = 3


KNOBS = Knobs()


def better(a: float, b: float, minimize: bool) -> bool:
    """True when `a` is strictly better than `b`."""
    return a < b if minimize else a > b


def improves(value: float, best: float | None, minimize: bool, improvement: float) -> bool:
    """AMT's improvement: at least `improvement` (1%) better than the best so far, relative to the best's size."""
    if best is None:
        return True
    margin = improvement * abs(best)
    return value <= best - margin if minimize else value >= best + margin


def running_best(series: Sequence[float], minimize: bool) -> list[float]:
    """The best value so far at each epoch (trainers print it already; a raw series is made so here)."""
    out: list[float] = []
    for value in series:
        out.append(value if not out or better(value, out[-1], minimize) else out[-1])
    return out


def seconds(trial: TrialRecord) -> float | None:
    """How long the trial trained: SageMaker's TrainingTimeInSeconds, else its start and end times."""
    if trial.training_seconds is not None:
        return float(trial.training_seconds)
    if trial.started_at is not None and trial.ended_at is not None:
        return max(0.0, _timestamp(trial.ended_at) - _timestamp(trial.started_at))
    return None


def numeric(trial: TrialRecord, name: str) -> float | None:
    """A trial's value of a numeric hyperparameter (they are strings in SageMaker), or None."""
    text = trial.hyperparameters.get(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def shortfall(rnd: RoundRecord) -> float | None:
    """How far the round's challenger fell behind the champion in its evaluation (same test data), relative to
    the champion's score: positive when behind. None without both scores."""
    evaluation = rnd.evaluation
    if evaluation is None or evaluation.challenger_score is None or evaluation.champion_score is None:
        return None
    challenger, champion = evaluation.challenger_score, evaluation.champion_score
    if not (math.isfinite(challenger) and math.isfinite(champion)) or champion == 0:
        return None
    gap = challenger - champion if rnd.objective_type == "Minimize" else champion - challenger
    return gap / abs(champion)


def stall_and_tail(series: Sequence[float], minimize: bool, min_gain: float) -> tuple[int, int]:
    """In one trial's curve: the longest run of epochs without a new best that was followed by a new best worth
    at least `min_gain` of the final value (what a trainer's patience must outlast), and the epochs after the
    last new best (how long the trainer's patience kept it running)."""
    best = running_best(series, minimize)
    if len(best) < 2:
        return 0, 0
    final = best[-1]
    longest = run = 0
    last_new = 0
    for index in range(1, len(best)):
        if better(best[index], best[index - 1], minimize):
            gained = abs(best[index - 1] - final)
            if run and gained >= min_gain * abs(final):
                longest = max(longest, run)
            run, last_new = 0, index
        else:
            run += 1
    return longest, len(best) - 1 - last_new


def lead_epoch(winner: TrialRecord, others: Sequence[TrialRecord], minimize: bool) -> int:
    """The epoch (1-based) from which the round's winner leads every trial that got as far, to its last epoch."""
    mine = running_best(winner.objective_series, minimize)
    curves = [running_best(t.objective_series, minimize) for t in others]
    lead = len(mine)
    for epoch in range(len(mine), 0, -1):
        rivals = [c[epoch - 1] for c in curves if len(c) >= epoch]
        if any(better(r, mine[epoch - 1], minimize) for r in rivals):
            break
        lead = epoch
    return max(1, lead)


def settle_epoch(winner: TrialRecord, minimize: bool, improvement: float) -> int:
    """The first epoch at which the winner is within `improvement` of its final value."""
    mine = running_best(winner.objective_series, minimize)
    if not mine:
        return 1
    final = mine[-1]
    for epoch, value in enumerate(mine, start=1):
        if not improves(final, value, minimize, improvement):
            return epoch
    return len(mine)


class RoundStats(NamedTuple):
    """One closed round, read as AMT would count it: its tuning job's trials with an objective in the order they
    finished; and beside them its incumbents (earlier rounds' best configurations re-trained on the same drop as
    plain training jobs, which AMT does not count) and how they ranked among the trials: the transfer."""

    history: RoundHistory
    scored: list[
        TrialRecord
    ]  # the tuning job's trials: Completed or Stopped with a finite objective, finish order
    ranked: list[TrialRecord]  # the same, best first
    improvements: list[int]  # 1-based positions in `scored` that improved on the best by AMT's 1%
    shortfall: float | None
    top_fraction: float
    incumbents: list[TrialRecord]  # the round's incumbents with a finite objective, best first
    noise: float  # the trainer-seed noise, relative to the objective: differences within it are ties

    def tied(self, value: float, best: float) -> bool:
        """`value` is within the trainer-seed noise of `best` (relative to the best's size): a tie."""
        return abs(value - best) <= self.noise * abs(best)

    @property
    def transfer(self) -> float | None:
        """How well the last rounds' best configurations did on this drop: the share of the round's tuning
        trials that did not beat the best incumbent by more than the noise (1.0: the search found nothing
        better than the incumbents beyond noise; 0.0: every trial of the search did better). None without both
        incumbents and trials with an objective."""
        if not self.incumbents or not self.ranked:
            return None
        minimize = self.rnd.objective_type == "Minimize"
        mine = _objective(self.incumbents[0])
        beaten_by = sum(
            1 for t in self.ranked if better(v := _objective(t), mine, minimize) and not self.tied(v, mine)
        )
        return 1.0 - beaten_by / len(self.ranked)

    @property
    def undecided(self) -> bool:
        """No trial fell behind the round's best by more than the noise: the round tells no region from another."""
        if not self.ranked:
            return True
        best = _objective(self.ranked[0])
        return all(self.tied(_objective(t), best) for t in self.ranked)

    @property
    def rnd(self) -> RoundRecord:
        return self.history.round

    @property
    def seq(self) -> int:
        return self.history.round.seq

    @property
    def trials(self) -> list[TrialRecord]:
        """The tuning job's trials (the incumbents are plain training jobs, outside AMT's rules)."""
        return [t for t in self.history.trials if t.source == "tuning"]

    @property
    def best(self) -> TrialRecord | None:
        return self.ranked[0] if self.ranked else None

    @property
    def tops(self) -> list[TrialRecord]:
        """The round's best trials: the top `top_fraction` of those with an objective (at least one), and every
        trial tied with the best within the noise (a difference inside the noise tells no trial from another)."""
        if not self.ranked:
            return []
        best = _objective(self.ranked[0])
        count = max(1, math.ceil(self.top_fraction * len(self.ranked)))
        return [t for i, t in enumerate(self.ranked) if i < count or self.tied(_objective(t), best)]

    @property
    def last_improvement(self) -> int:
        """The trial (by finish order) that made the round's last 1% improvement: where it found its best."""
        return self.improvements[-1] if self.improvements else 0

    @property
    def longest_gap(self) -> int:
        """The longest run of trials without a 1% improvement that an improvement ended."""
        gaps = [b - a - 1 for a, b in pairwise(self.improvements)]
        return max(gaps, default=0)

    @property
    def trailing(self) -> int:
        """Trials after the last improvement."""
        return len(self.scored) - self.last_improvement

    @property
    def censored(self) -> bool:
        """The round may have ended on BestObjectiveNotImproving: longer gaps could not be seen in it."""
        limit = self.rnd.plan.max_jobs_not_improving.value
        return limit is not None and self.trailing >= limit

    def top_half(self, trial: TrialRecord) -> bool:
        """In the top half of its round, or tied with its best within the noise."""
        if not self.ranked:
            return False
        tied = self.tied(_objective(trial), _objective(self.ranked[0]))
        return tied or trial in self.ranked[: math.ceil(len(self.ranked) / 2)]


def round_stats(history: RoundHistory, knobs: Knobs, noise: float = 0.0) -> RoundStats:
    minimize = history.round.objective_type == "Minimize"
    with_objective = [
        t
        for t in history.trials
        if t.status in SCORED_STATUSES and t.final_objective is not None and math.isfinite(t.final_objective)
    ]
    scored = sorted((t for t in with_objective if t.source == "tuning"), key=_finish_order)
    improvements: list[int] = []
    best: float | None = None
    for position, trial in enumerate(scored, start=1):
        value = float(trial.final_objective or 0.0)
        if improves(value, best, minimize, knobs.improvement):
            improvements.append(position)
        if best is None or better(value, best, minimize):
            best = value
    sign = 1.0 if minimize else -1.0

    def order(t: TrialRecord) -> tuple[float, str]:
        return sign * _objective(t), t.training_job_name

    ranked = sorted(scored, key=order)
    incumbents = sorted((t for t in with_objective if t.source == "incumbent"), key=order)
    return RoundStats(
        history, scored, ranked, improvements, shortfall(history.round), knobs.top_fraction, incumbents, noise
    )


class Evidence(NamedTuple):
    """The closed rounds comparable with the profile, oldest first, and the drift the next plan must answer."""

    rounds: list[RoundStats]
    horizon: list[RoundStats]  # since the last round whose evaluation showed drift (that round included)
    recent: list[RoundStats]  # the newest `recent_rounds` of the horizon with enough trials
    drift: RoundStats | None  # the round whose drift this plan answers, if not answered before
    drift_seen: int | None  # the latest round that showed drift, answered now or before
    recent_rounds: int

    @property
    def latest(self) -> RoundStats | None:
        return self.rounds[-1] if self.rounds else None

    @property
    def transfer(self) -> tuple[float, list[RoundStats]] | None:
        """The mean transfer of the newest `recent_rounds` rounds of the horizon that measured it (incumbents
        and tuning trials with an objective), with those rounds; None when none did."""
        measured = [s for s in self.horizon if s.transfer is not None][-self.recent_rounds :]
        if not measured:
            return None
        return sum(s.transfer or 0.0 for s in measured) / len(measured), measured


def read_history(
    profile: Profile, history: Sequence[RoundHistory], answered: int | None, knobs: Knobs
) -> Evidence:
    """Sort the history by round, keep the newest `knobs.history_rounds` rounds' closed rounds with the profile's
    objective, and find the drift.

    Drift is a round whose challenger fell behind the champion by more than `bounds.drift_tolerance` on the same
    test data. It starts a new horizon: older rounds no longer shape the plan. It is answered once, by the first
    plan made after its evaluation, whichever use case makes it (`answered`: the previous plan's
    `drift_answered`).
    """
    ordered = sorted(history, key=lambda h: (h.round.seq, h.round.tuning_job_name))
    newest = ordered[-1].round.seq if ordered else 0
    ordered = [h for h in ordered if h.round.seq > newest - knobs.history_rounds]
    noise = profile.bounds.seed_noise
    comparable = [
        round_stats(h, knobs, noise)
        for h in ordered
        if h.round.tuning_status in TERMINAL_JOB_STATUSES
        and h.round.objective_metric == profile.objective.metric_name
        and h.round.objective_type == profile.objective.type
    ]
    tolerance = profile.bounds.drift_tolerance
    behind = [s for s in comparable if s.shortfall is not None and s.shortfall > tolerance]
    start = behind[-1].seq if behind else None
    horizon = [s for s in comparable if start is None or s.seq >= start]
    recent = [s for s in horizon if len(s.scored) >= knobs.min_trials][-knobs.recent_rounds :]
    drift = behind[-1] if behind and behind[-1].seq != answered else None
    return Evidence(comparable, horizon, recent, drift, start, knobs.recent_rounds)


def _objective(trial: TrialRecord) -> float:
    return float(trial.final_objective or 0.0)


def _timestamp(moment: datetime) -> float:
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _finish_order(trial: TrialRecord) -> tuple[float, float, str]:
    ended = _timestamp(trial.ended_at) if trial.ended_at is not None else math.inf
    started = _timestamp(trial.started_at) if trial.started_at is not None else math.inf
    return ended, started, trial.training_job_name
