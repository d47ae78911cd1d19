"""Paired differences between two arms of the efficiency benchmark, with a two-way bootstrap confidence interval.

A cell is one (seed, window): the two arms ran the same seed on the same window, so their values are paired. The
bootstrap resamples the seeds and the windows independently, with replacement, and keeps every cell of a drawn
(seed, window) pair together (the pairing is never broken): a seed drawn twice and a window drawn three times
weigh that cell six times. Both sources of variation are in the interval: another draw of trainer and search seeds,
and another stretch of the market. The interval is the 2.5th and 97.5th percentiles of RESAMPLES resampled
statistics (a percentile interval), from a generator seeded with RNG_SEED, so a report is reproducible.

    paired_ci({(seed, window): (ours, theirs), ...}, "difference")  # mean of ours - theirs
    paired_ci({(seed, window): (ours, theirs), ...}, "ratio")       # sum of ours / sum of theirs
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

RESAMPLES = 10_000
RNG_SEED = 20  # issue 20; any fixed value: the same cells always give the same interval
LEVEL = 0.95

Kind = Literal["difference", "ratio"]


@dataclass(frozen=True)
class Interval:
    """The statistic on the cells as they are (`point`) and its bootstrap interval [low, high]."""

    point: float
    low: float
    high: float
    cells: int
    seeds: int
    windows: int

    def as_list(self, digits: int = 4) -> list[float]:
        return [round(self.low, digits), round(self.high, digits)]

    @property
    def width(self) -> float:
        return self.high - self.low


def paired_ci(
    cells: Mapping[tuple[Any, Any], tuple[float, float]],
    kind: Kind,
    *,
    resamples: int = RESAMPLES,
    rng_seed: int = RNG_SEED,
    level: float = LEVEL,
) -> Interval | None:
    """The paired statistic of `cells` ((seed, window) -> (ours, theirs)) and its two-way bootstrap interval.

    "difference": the mean over cells of ours - theirs (regret in points). "ratio": the sum of ours over the sum of
    theirs (compute, test RMSE, trials, bill: a ratio of totals, as the summary reports it). The seeds and windows
    need not form a full grid: a missing cell weighs nothing in any resample. None without cells."""
    if not cells:
        return None
    seeds = sorted({s for s, _ in cells}, key=str)
    windows = sorted({w for _, w in cells}, key=str)
    s_index = {s: i for i, s in enumerate(seeds)}
    w_index = {w: i for i, w in enumerate(windows)}
    ours = np.zeros((len(seeds), len(windows)))
    theirs = np.zeros_like(ours)
    present = np.zeros_like(ours)
    for (seed, window), (a, b) in cells.items():
        i, j = s_index[seed], w_index[window]
        ours[i, j], theirs[i, j], present[i, j] = a, b, 1.0
    rng = np.random.default_rng(rng_seed)
    seed_counts = _counts(rng, resamples, len(seeds))
    window_counts = _counts(rng, resamples, len(windows))
    # Each resample's weighted totals: sum over cells of (times its seed was drawn) x (times its window was drawn).
    weight = np.einsum("rs,sw,rw->r", seed_counts, present, window_counts)
    total_ours = np.einsum("rs,sw,rw->r", seed_counts, ours * present, window_counts)
    total_theirs = np.einsum("rs,sw,rw->r", seed_counts, theirs * present, window_counts)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "difference":
            stats = (total_ours - total_theirs) / weight
            point = float((ours - theirs)[present > 0].mean())
        else:
            stats = total_ours / total_theirs
            point = float(ours[present > 0].sum() / theirs[present > 0].sum())
    # A resample that drew only missing cells (a sparse grid) has no statistic: it is left out.
    stats = stats[np.isfinite(stats)]
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(stats, [tail, 100 - tail])
    return Interval(point, float(low), float(high), int(present.sum()), len(seeds), len(windows))


def _counts(rng: np.random.Generator, resamples: int, n: int) -> np.ndarray:
    """How often each of n units is drawn in each resample of n draws with replacement (resamples x n)."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=resamples).astype(float)
