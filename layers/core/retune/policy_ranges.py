"""The search ranges of the next round: narrowed towards the best trials, widened back on evidence.

Every numeric range is handled in its own scaling, as AMT samples it: a position in [0, 1] of the profile's range,
after a logarithm for Logarithmic ranges and after x -> -log(1 - x) for ReverseLogarithmic ones (Auto and Linear
are linear). Narrowing, widths and "halfway back" are all measured there, so a Logarithmic range is narrowed by
orders of magnitude. A range keeps its name and type, so warm start still applies; a categorical range may lose
values, which TransferLearning allows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from retune.policy_evidence import Knobs, RoundStats, numeric
from retune.profile import CategoricalRange, ContinuousRange, IntegerRange, ParameterRange

NumericRange = IntegerRange | ContinuousRange
_SNAP = 1e-6  # an integer range's bound this close to a whole number is that number (float round trips)
_EPSILON = 1e-9  # positions closer than this are equal (float round trips through log and exp)


class Scale(NamedTuple):
    """Positions in the profile's range, in its scaling: 0 at its min_value, 1 at its max_value."""

    original: NumericRange

    def _forward(self, x: float) -> float | None:
        scaling = self.original.scaling
        if scaling == "Logarithmic":
            return math.log(x) if x > 0 else None
        if scaling == "ReverseLogarithmic":
            return -math.log(1.0 - x) if x < 1 else None
        return float(x)

    def _backward(self, y: float) -> float:
        scaling = self.original.scaling
        if scaling == "Logarithmic":
            return math.exp(y)
        if scaling == "ReverseLogarithmic":
            return 1.0 - math.exp(-y)
        return y

    @property
    def flat(self) -> bool:
        """Too narrow to narrow: no width, or one lost in float noise (a range of 5e-324, say)."""
        low, high = self._forward(self.original.min_value), self._forward(self.original.max_value)
        if low is None or high is None:
            return True
        return high - low <= max(1e-12, 1e-9 * max(abs(low), abs(high)))

    def position(self, x: float) -> float | None:
        """Where `x` lies, clipped to [0, 1]; None where the scaling has no place for it."""
        low, high, at = (
            self._forward(self.original.min_value),
            self._forward(self.original.max_value),
            self._forward(x),
        )
        if low is None or high is None or at is None or high <= low:
            return None
        return min(1.0, max(0.0, (at - low) / (high - low)))

    def value(self, position: float) -> float:
        low = self._forward(self.original.min_value)
        high = self._forward(self.original.max_value)
        assert low is not None and high is not None
        x = self._backward(low + position * (high - low))
        return min(float(self.original.max_value), max(float(self.original.min_value), x))


class RangeMove(NamedTuple):
    range: ParameterRange
    reason: str | None = None  # None when the range did not move


def plan_ranges(
    originals: Sequence[ParameterRange],
    previous: Sequence[ParameterRange],
    horizon: Sequence[RoundStats],
    latest: RoundStats | None,
    loosen: str | None,
    min_fraction: float,
    knobs: Knobs,
) -> list[RangeMove]:
    """Each of the profile's ranges for the next round, in the profile's order.

    With a reason to `loosen` (drift, or incumbents that did poorly on the new drops), every narrowed range
    moves halfway back towards the profile's (dropped values come back), and nothing narrows.
    Otherwise a range whose narrowed edge holds the latest round's best trial widens halfway back on that side,
    and the others narrow towards the best trials of the horizon's rounds, never wider than before, never
    narrower than `min_fraction` of the profile's width.
    """
    moves = []
    for original, prev in zip(originals, previous, strict=True):
        if isinstance(original, CategoricalRange):
            assert isinstance(prev, CategoricalRange)
            moves.append(_categorical(original, prev, horizon, loosen, knobs))
            continue
        assert isinstance(prev, IntegerRange | ContinuousRange)
        scale = Scale(original)
        if scale.flat:
            moves.append(RangeMove(prev))
        elif loosen is not None:
            moves.append(_widen(scale, prev, low=True, high=True, why=loosen))
        else:
            moves.append(
                _edge(scale, prev, latest, knobs) or _narrow(scale, prev, horizon, min_fraction, knobs)
            )
    return moves


def adapt(original: ParameterRange, previous: ParameterRange | None) -> ParameterRange:
    """The previous round's range as it fits the profile now: same name, type and scaling, inside the profile's
    range; else the profile's."""
    if previous is None or previous.type != original.type:
        return original
    if isinstance(original, CategoricalRange):
        assert isinstance(previous, CategoricalRange)
        kept = [v for v in original.values if v in set(previous.values)]
        return original.model_copy(update={"values": kept}) if kept else original
    assert isinstance(previous, IntegerRange | ContinuousRange)
    if previous.scaling != original.scaling:
        return original
    low = max(previous.min_value, original.min_value)
    high = min(previous.max_value, original.max_value)
    return original if low > high else original.model_copy(update={"min_value": low, "max_value": high})


def _narrow(
    scale: Scale, prev: NumericRange, horizon: Sequence[RoundStats], min_fraction: float, knobs: Knobs
) -> RangeMove:
    name = prev.name
    rounds = [s for s in horizon if len(s.scored) >= knobs.min_trials]
    if all(s.undecided for s in rounds):
        return RangeMove(prev)  # every trial tied with its round's best within the noise: no cut has evidence
    # A round's best trials include every trial tied with its best within the noise (RoundStats.tops), so what
    # is cut lost by more than the noise in its round.
    points = [
        p
        for s in rounds
        for t in s.tops
        if (x := numeric(t, name)) is not None and (p := scale.position(x)) is not None
    ]
    if not points:
        return RangeMove(prev)
    low_prev, high_prev = _positions(scale, prev)
    low = max(low_prev, min(points) - knobs.range_margin)
    high = min(high_prev, max(points) + knobs.range_margin)
    if low > high:  # the best trials lie outside the previous range: keep its nearest part
        low = high = min(high_prev, max(low_prev, sum(points) / len(points)))
    # Never narrower than the profile allows; inside the previous range when it is wide enough.
    inside = high_prev - low_prev >= min_fraction - _EPSILON  # a range narrowed to the minimum is wide enough
    box = (low_prev, high_prev) if inside else (0.0, 1.0)
    low, high = _at_least(low, high, min_fraction, box)
    original = scale.original
    limits = (prev.min_value, prev.max_value) if inside else (original.min_value, original.max_value)
    narrowed = _build(scale, prev, low, high, limits)
    if _same(narrowed, prev):
        return RangeMove(prev)
    first, last = rounds[0].seq, rounds[-1].seq
    where = f"round {first}" if first == last else f"rounds {first}-{last}"
    return RangeMove(
        narrowed,
        f"{name} narrowed to {_span(narrowed)} (was {_span(prev)}) around the best {len(points)} trial(s) of "
        f"{where}",
    )


def _edge(scale: Scale, prev: NumericRange, latest: RoundStats | None, knobs: Knobs) -> RangeMove | None:
    """Widen the side of a narrowed range that the latest round's best trial sits on."""
    best = latest.best if latest else None
    if latest is None or best is None:
        return None
    x = numeric(best, prev.name)
    at = scale.position(x) if x is not None else None
    if x is None or at is None:
        return None
    low, high = _positions(scale, prev)
    room = knobs.edge_fraction * (high - low)
    on_low = prev.min_value > scale.original.min_value and at <= low + room
    on_high = prev.max_value < scale.original.max_value and at >= high - room
    if not (on_low or on_high):
        return None
    side = "both edges" if on_low and on_high else ("lower edge" if on_low else "upper edge")
    why = (
        f"round {latest.seq}'s best trial ({prev.name}={_number(x)}) sits on the {side} of the narrowed range"
    )
    return _widen(scale, prev, low=on_low, high=on_high, why=why)


def _widen(scale: Scale, prev: NumericRange, *, low: bool, high: bool, why: str) -> RangeMove:
    """Move the chosen narrowed sides halfway back towards the profile's range."""
    original = scale.original
    low_at, high_at = _positions(scale, prev)
    widen_low = low and prev.min_value > original.min_value
    widen_high = high and prev.max_value < original.max_value
    if not (widen_low or widen_high):
        return RangeMove(prev)
    new_low = low_at / 2 if widen_low else low_at
    new_high = high_at + (1.0 - high_at) / 2 if widen_high else high_at
    wide = _build(scale, prev, new_low, new_high, (original.min_value, original.max_value))
    # Never narrower than before on either side, whatever the float round trip does.
    widened = prev.model_copy(
        update={
            "min_value": min(wide.min_value, prev.min_value) if widen_low else prev.min_value,
            "max_value": max(wide.max_value, prev.max_value) if widen_high else prev.max_value,
        }
    )
    return RangeMove(
        widened,
        f"{prev.name} widened to {_span(widened)} (was {_span(prev)}), halfway back towards the profile's "
        f"{_span(original)}: {why}",
    )


def _categorical(
    original: CategoricalRange,
    prev: CategoricalRange,
    horizon: Sequence[RoundStats],
    drift: str | None,
    knobs: Knobs,
) -> RangeMove:
    if drift is not None:
        restored = [v for v in original.values if v not in prev.values]
        if not restored:
            return RangeMove(prev)
        return RangeMove(original, f"{original.name} gets back {', '.join(restored)}: {drift}")
    tried: dict[str, int] = dict.fromkeys(prev.values, 0)
    good: dict[str, int] = dict.fromkeys(prev.values, 0)
    for s in horizon:
        for trial in s.scored:
            value = trial.hyperparameters.get(original.name)
            if value in tried:
                tried[value] += 1
                good[value] += s.top_half(trial)
    dropped = [v for v in prev.values if tried[v] >= knobs.categorical_min_trials and good[v] == 0]
    kept = [v for v in prev.values if v not in dropped]
    if not kept:  # keep the value that did best, however badly
        dropped.remove(max(prev.values, key=lambda v: (good[v], tried[v], -prev.values.index(v))))
        kept = [v for v in prev.values if v not in dropped]
    if not dropped:
        return RangeMove(prev)
    counts = ", ".join(f"{v} ({tried[v]} trials)" for v in dropped)
    return RangeMove(
        prev.model_copy(update={"values": kept}),
        f"{original.name} drops {counts}: never in the top half of its round",
    )


def _positions(scale: Scale, r: NumericRange) -> tuple[float, float]:
    low = scale.position(r.min_value)
    high = scale.position(r.max_value)
    return (0.0 if low is None else low), (1.0 if high is None else high)


def _at_least(low: float, high: float, width: float, box: tuple[float, float]) -> tuple[float, float]:
    """Widen [low, high] around its middle to `width`, shifted to stay inside `box`."""
    if high - low >= width - _EPSILON:
        return low, high
    middle = (low + high) / 2
    low, high = middle - width / 2, middle + width / 2
    if low < box[0]:
        low, high = box[0], box[0] + width
    if high > box[1]:
        low, high = max(box[0], box[1] - width), box[1]
    return low, high


def _build(
    scale: Scale, prev: NumericRange, low: float, high: float, limits: tuple[float, float]
) -> NumericRange:
    """The range from position `low` to `high`, rounded outwards for integers, inside the values `limits`."""
    lo, hi = scale.value(low), scale.value(high)
    if isinstance(prev, IntegerRange):
        lo_int = max(math.floor(lo + _SNAP), math.ceil(limits[0] - _SNAP))
        hi_int = min(math.ceil(hi - _SNAP), math.floor(limits[1] + _SNAP))
        return prev.model_copy(update={"min_value": min(lo_int, hi_int), "max_value": max(lo_int, hi_int)})
    lo, hi = _snap(max(lo, limits[0]), limits), _snap(min(hi, limits[1]), limits)
    return prev.model_copy(update={"min_value": min(lo, hi), "max_value": max(lo, hi)})


def _snap(x: float, limits: tuple[float, float]) -> float:
    """A value within float noise of a limit is the limit (0.010000000000000004 is 0.01)."""
    for limit in limits:
        if abs(x - limit) <= 1e-9 * max(abs(limit), abs(limits[1] - limits[0]), 1e-300):
            return float(limit)
    return x


def _same(a: NumericRange, b: NumericRange) -> bool:
    return a.min_value == b.min_value and a.max_value == b.max_value


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:.4g}"


def _span(r: NumericRange) -> str:
    return f"{_number(r.min_value)}..{_number(r.max_value)}"
