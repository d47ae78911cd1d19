"""An independent implementation of the rules as docs/local-sagemaker.md states them, to check the engine
against.

Everything here works from the scripted trainer's known curve (trainers/curve.py) and the hyperparameters each
job actually got.
"""

from __future__ import annotations

import statistics

from tests.local_sagemaker.trainers.curve import loss


def median_rule(xs: list[float], epochs: int, min_jobs: int = 3) -> list[int | None]:
    """The epoch at which each job (in index order) stops under the Auto rule, or None if it runs to the end.

    A job stops after epoch e when its loss there is above the median, over the earlier jobs that emitted at
    least once, of the mean of their first e losses (all of them if they ran fewer than e epochs).
    """
    histories: list[list[float]] = []
    stops: list[int | None] = []
    for x in xs:
        history: list[float] = []
        stop = None
        for epoch in range(1, epochs + 1):
            value = loss(x, epoch)
            history.append(value)
            averages = [sum(h[:epoch]) / len(h[:epoch]) for h in histories if h]
            if len(averages) >= min_jobs and value > statistics.median(averages):
                stop = epoch
                break
        histories.append(history)
        stops.append(stop)
    return stops


def first_reaching(finals: list[float], target: float) -> int | None:
    """1-based position of the first job whose final loss is at or below the target."""
    return next((i for i, value in enumerate(finals, start=1) if value <= target), None)


def not_improving_end(finals: list[float], limit: int) -> int | None:
    """1-based position of the job after which `limit` jobs in a row failed to beat the best by 1% or more."""
    best = None
    count = 0
    for position, value in enumerate(finals, start=1):
        if best is None or value <= best - 0.01 * abs(best):
            count = 0
        else:
            count += 1
        best = value if best is None else min(best, value)
        if count >= limit:
            return position
    return None


def convergence_end(finals: list[float]) -> int | None:
    """retune's convergence rule: from 10 jobs on, the best so far is within 1% of the best of the first
    half."""
    bests: list[float] = []
    for position, value in enumerate(finals, start=1):
        bests.append(value if not bests else min(bests[-1], value))
        if position >= 10:
            earlier = bests[position // 2 - 1]
            if not bests[-1] <= earlier - 0.01 * abs(earlier):
                return position
    return None


def hyperband(
    xs: list[float], epochs: int, min_resource: int, max_resource: int, eta: int = 3
) -> list[int | None]:
    """The epoch at which each job stops under the documented Hyperband (ASHA brackets), or None."""
    brackets = 1
    while min_resource * eta**brackets <= max_resource:
        brackets += 1
    recorded: dict[tuple[int, int], list[float]] = {}
    stops: list[int | None] = []
    for index, x in enumerate(xs, start=1):
        bracket = (index - 1) % brackets
        rungs = []
        k = 0
        while min_resource * eta ** (bracket + k) < max_resource:
            rungs.append(min_resource * eta ** (bracket + k))
            k += 1
        stop = None
        for epoch in range(1, epochs + 1):
            value = loss(x, epoch)
            if epoch >= max_resource:
                stop = epoch
                break
            if epoch in rungs:
                others = recorded.setdefault((bracket, epoch), [])
                ranked = sorted([*others, value])
                keep = max(1, len(ranked) // eta)
                others.append(value)
                if value > ranked[keep - 1]:
                    stop = epoch
                    break
        stops.append(stop)
    return stops
