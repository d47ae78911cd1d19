"""AMT's stopping rules, as pure functions of the objective values a tuning job has seen
(docs/local-sagemaker.md).

Values are "better" in the objective's direction; `minimize` says which.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

IMPROVEMENT = 0.01  # "by 1% or more"
CONVERGENCE_MIN_JOBS = 10
HYPERBAND_ETA = 3
HYPERBAND_EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")


def worse(a: float, b: float, minimize: bool) -> bool:
    return a > b if minimize else a < b


def median_rule_stops(
    value: float, epoch: int, previous: Sequence[Sequence[float]], minimize: bool, min_jobs: int
) -> bool:
    """The Auto early-stopping rule at `epoch` (1-based) of a job whose objective there is `value`.

    `previous` holds the objective series of the tuning job's earlier jobs (lower index), as far as each has
    got. Each one that has emitted at least once contributes the mean of its first min(epoch, len) values; the
    job stops when its value is strictly worse than the median of those running averages, once there are
    `min_jobs` of them.
    """
    averages = [statistics.fmean(series[:epoch]) for series in previous if series]
    if len(averages) < min_jobs:
        return False
    return worse(value, statistics.median(averages), minimize)


@dataclass(frozen=True)
class Hyperband:
    """Hyperband as asynchronous successive halving (ASHA) in brackets.

    Brackets s = 0..s_max, s_max = floor(log_eta(MaxResource / MinResource)); job n (1-based) goes to bracket
    (n - 1) mod (s_max + 1). In bracket s the rungs are MinResource * eta^(s + k) epochs below MaxResource. At
    a rung, a job continues only if it ranks in the top max(1, floor(m / eta)) of the m values recorded at
    that rung in its bracket (its own and those of earlier jobs); a job that reaches MaxResource epochs is
    stopped.
    """

    min_resource: int
    max_resource: int
    eta: int = HYPERBAND_ETA

    @property
    def brackets(self) -> int:
        if self.max_resource <= self.min_resource:
            return 1
        return math.floor(math.log(self.max_resource / self.min_resource, self.eta) + 1e-9) + 1

    def bracket(self, index: int) -> int:
        return (index - 1) % self.brackets

    def rungs(self, bracket: int) -> list[int]:
        rungs: list[int] = []
        k = 0
        while True:
            resource = round(self.min_resource * self.eta ** (bracket + k))
            if resource >= self.max_resource:
                return rungs
            rungs.append(resource)
            k += 1

    def promoted(self, value: float, competing: Sequence[float], minimize: bool) -> bool:
        """`competing` excludes the job's own value."""
        values = sorted([*competing, value], reverse=not minimize)
        keep = max(1, len(values) // self.eta)
        cutoff = values[keep - 1]
        return not worse(value, cutoff, minimize)


def hyperband_config(config: Mapping[str, Any], static: Mapping[str, str]) -> Hyperband | None:
    """The Hyperband settings of a tuning job config; MaxResource inferred from an epochs-like static
    hyperparameter when missing. None when it cannot be inferred."""
    settings = (config.get("StrategyConfig") or {}).get("HyperbandStrategyConfig") or {}
    max_resource = settings.get("MaxResource")
    if max_resource is None:
        for key in HYPERBAND_EPOCH_KEYS:
            if key in static and str(static[key]).isdigit():
                max_resource = int(static[key])
                break
    if max_resource is None:
        return None
    return Hyperband(int(settings.get("MinResource", 1)), int(max_resource))


def improves(value: float, best: float | None, minimize: bool) -> bool:
    """A job improves when it beats the best so far by 1% or more (of the best's magnitude)."""
    if best is None:
        return True
    margin = IMPROVEMENT * abs(best)
    return value <= best - margin if minimize else value >= best + margin


def reaches(value: float, target: float, minimize: bool) -> bool:
    return value <= target if minimize else value >= target


@dataclass
class CompletionTracker:
    """TuningJobCompletionCriteria over the finished jobs' final objectives, in the order the jobs finish."""

    minimize: bool
    target: float | None = None
    max_not_improving: int | None = None
    complete_on_convergence: bool = False
    best: float | None = None
    not_improving: int = 0
    bests: list[float] = field(default_factory=list)
    converged: bool = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any], minimize: bool) -> CompletionTracker:
        criteria = config.get("TuningJobCompletionCriteria") or {}
        not_improving = (criteria.get("BestObjectiveNotImproving") or {}).get(
            "MaxNumberOfTrainingJobsNotImproving"
        )
        convergence = (criteria.get("ConvergenceDetected") or {}).get("CompleteOnConvergence") == "Enabled"
        target = criteria.get("TargetObjectiveMetricValue")
        return cls(minimize, None if target is None else float(target), not_improving, convergence)

    def observe(self, value: float) -> str | None:
        """Take one finished job's objective; the name of the criterion it meets, if any."""
        if improves(value, self.best, self.minimize):
            self.not_improving = 0
        else:
            self.not_improving += 1
        if self.best is None or worse(self.best, value, self.minimize):
            self.best = value
        self.bests.append(self.best)
        if not self.converged and len(self.bests) >= CONVERGENCE_MIN_JOBS:
            # retune's own rule (AWS does not publish its own): the best of all jobs so far is within 1% of
            # the best of the first half of them.
            earlier = self.bests[len(self.bests) // 2 - 1]
            self.converged = not improves(self.best, earlier, self.minimize)
        if self.target is not None and reaches(value, self.target, self.minimize):
            return "TargetObjectiveMetricValue"
        if self.max_not_improving is not None and self.not_improving >= self.max_not_improving:
            return "BestObjectiveNotImproving"
        if self.complete_on_convergence and self.converged:
            return "ConvergenceDetected"
        return None
