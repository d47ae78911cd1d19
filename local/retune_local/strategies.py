"""Search strategies on Optuna's samplers: which hyperparameters the next training job gets.

- Bayesian: Optuna's TPESampler (a model-based sampler), seeded; warm-start parents' trials are added to its
  history.
- Random: Optuna's RandomSampler, seeded: the n-th job gets the n-th draw, whatever the parallelism.
- Grid: Optuna's GridSampler over the categorical ranges, each combination once, in the seed's order.
- Hyperband: RandomSampler for the configurations; the brackets and rungs that stop jobs live in rules.py.

Scaling: Logarithmic samples log-uniformly; ReverseLogarithmic samples 1 - x log-uniformly (dense near 1);
Auto and Linear sample uniformly.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.samplers import BaseSampler, GridSampler, RandomSampler, TPESampler
from optuna.trial import FrozenTrial, TrialState


@dataclass(frozen=True)
class Range:
    name: str
    kind: str  # integer | continuous | categorical
    low: float = 0.0
    high: float = 0.0
    scaling: str = "Auto"
    values: tuple[str, ...] = ()


def parse_ranges(parameter_ranges: Mapping[str, Any] | None) -> list[Range]:
    """ParameterRanges of a tuning job config, as typed ranges (MinValue and MaxValue arrive as strings)."""
    ranges: list[Range] = []
    numeric: tuple[tuple[str, str, Callable[[str], float]], ...] = (
        ("IntegerParameterRanges", "integer", int),
        ("ContinuousParameterRanges", "continuous", float),
    )
    for key, kind, number in numeric:
        for item in (parameter_ranges or {}).get(key, []):
            ranges.append(
                Range(
                    item["Name"],
                    kind,
                    number(item["MinValue"]),
                    number(item["MaxValue"]),
                    item.get("ScalingType", "Auto"),
                )
            )
    for item in (parameter_ranges or {}).get("CategoricalParameterRanges", []):
        ranges.append(Range(item["Name"], "categorical", values=tuple(str(v) for v in item["Values"])))
    return ranges


def _format_float(value: float) -> str:
    return repr(float(value))


class SearchSpace:
    def __init__(self, ranges: Sequence[Range]) -> None:
        self.ranges = list(ranges)

    def distributions(self) -> dict[str, BaseDistribution]:
        result: dict[str, BaseDistribution] = {}
        for r in self.ranges:
            if r.kind == "categorical":
                result[r.name] = CategoricalDistribution(list(r.values))
            elif r.kind == "integer":
                result[r.name] = IntDistribution(int(r.low), int(r.high), log=r.scaling == "Logarithmic")
            elif r.scaling == "ReverseLogarithmic":
                # Sample y = 1 - x log-uniformly: values crowd towards the top of the range.
                result[r.name] = FloatDistribution(1.0 - r.high, 1.0 - r.low, log=True)
            else:
                result[r.name] = FloatDistribution(r.low, r.high, log=r.scaling == "Logarithmic")
        return result

    def to_hyperparameters(self, params: Mapping[str, Any]) -> dict[str, str]:
        values: dict[str, str] = {}
        for r in self.ranges:
            raw = params[r.name]
            if r.kind == "categorical":
                values[r.name] = str(raw)
            elif r.kind == "integer":
                values[r.name] = str(int(raw))
            elif r.scaling == "ReverseLogarithmic":
                values[r.name] = _format_float(min(r.high, max(r.low, 1.0 - float(raw))))
            else:
                values[r.name] = _format_float(float(raw))
        return values

    def from_hyperparameters(self, hyperparameters: Mapping[str, str]) -> dict[str, Any] | None:
        """A parent's hyperparameters as params of this space; None when one is missing or out of range."""
        params: dict[str, Any] = {}
        for r in self.ranges:
            if r.name not in hyperparameters:
                return None
            text = str(hyperparameters[r.name])
            try:
                if r.kind == "categorical":
                    if text not in r.values:
                        return None
                    params[r.name] = text
                    continue
                number = float(text)
            except ValueError:
                return None
            if not (r.low <= number <= r.high):
                return None
            if r.kind == "integer":
                if number != int(number):
                    return None
                params[r.name] = int(number)
            elif r.scaling == "ReverseLogarithmic":
                params[r.name] = 1.0 - number
            else:
                params[r.name] = number
        return params

    def grid(self) -> dict[str, list[str]]:
        return {r.name: list(r.values) for r in self.ranges}

    def grid_size(self) -> int:
        return math.prod(len(r.values) for r in self.ranges) if self.ranges else 0


class _GridSampler(GridSampler):
    """GridSampler that does not call Study.stop() (which only works inside Study.optimize): the tuning job
    counts its own jobs."""

    def after_trial(
        self, study: optuna.Study, trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        return None


@dataclass
class Suggestion:
    trial: optuna.trial.Trial
    hyperparameters: dict[str, str]


class Strategy:
    """Asks Optuna for the next configuration and tells it each job's final objective."""

    def __init__(self, name: str, space: SearchSpace, seed: int, minimize: bool) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.name = name
        self.space = space
        sampler: BaseSampler
        if name == "Bayesian":
            sampler = TPESampler(seed=seed)
        elif name == "Grid":
            sampler = _GridSampler(space.grid(), seed=seed)
        else:  # Random, and Hyperband's configurations
            sampler = RandomSampler(seed=seed)
        self._study = optuna.create_study(direction="minimize" if minimize else "maximize", sampler=sampler)
        self._distributions = space.distributions()
        self._asked = 0

    def seed_history(self, history: Sequence[tuple[Mapping[str, str], float]]) -> int:
        """Add earlier jobs (warm-start parents) to the sampler's history; returns how many fit this space."""
        if self.name != "Bayesian":
            return 0
        added = 0
        for hyperparameters, value in history:
            params = self.space.from_hyperparameters(hyperparameters)
            if params is None:
                continue
            self._study.add_trial(
                optuna.trial.create_trial(params=params, distributions=self._distributions, value=value)
            )
            added += 1
        return added

    def suggest(self) -> Suggestion | None:
        if self.name == "Grid" and self._asked >= self.space.grid_size():
            return None
        trial = self._study.ask(self._distributions)
        self._asked += 1
        return Suggestion(trial, self.space.to_hyperparameters(trial.params))

    def tell(self, suggestion: Suggestion, value: float | None) -> None:
        if value is None:
            self._study.tell(suggestion.trial, state=TrialState.FAIL)
        else:
            self._study.tell(suggestion.trial, value)
