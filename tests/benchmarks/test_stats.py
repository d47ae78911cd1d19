"""The efficiency benchmark's paired two-way bootstrap (benchmarks/stats.py): cases with a known answer."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.stats import RESAMPLES, paired_ci


def _grid(seeds: int, windows: int, rng_seed: int = 1) -> dict[tuple[int, str], tuple[float, float]]:
    """Regrets (%) of two arms: a window effect both share, a seed-and-window noise each has, and a 0.2-point gap."""
    rng = np.random.default_rng(rng_seed)
    window_effect = rng.normal(1.0, 0.5, windows)
    return {
        (s, f"w{w}"): (
            window_effect[w] + 0.2 + rng.normal(0, 0.4),
            window_effect[w] + rng.normal(0, 0.4),
        )
        for s in range(seeds)
        for w in range(windows)
    }


def test_identical_arms_give_a_zero_width_interval_at_zero() -> None:
    cells = {(s, w): (v, v) for (s, w), (v, _) in _grid(5, 6).items()}
    diff = paired_ci(cells, "difference")
    ratio = paired_ci(cells, "ratio")
    assert diff is not None and ratio is not None
    assert (diff.point, diff.low, diff.high) == (0.0, 0.0, 0.0)
    assert ratio.point == pytest.approx(1.0) and ratio.width == pytest.approx(0.0, abs=1e-12)


def test_a_constant_shift_gives_that_shift_however_noisy_the_arms() -> None:
    cells = {(s, w): (v + 0.75, v) for (s, w), (v, _) in _grid(5, 6).items()}
    diff = paired_ci(cells, "difference")
    assert diff is not None
    assert diff.point == pytest.approx(0.75)
    assert diff.low == pytest.approx(0.75) and diff.high == pytest.approx(0.75)


def test_the_interval_shrinks_as_seeds_grow_and_covers_the_true_gap() -> None:
    widths = []
    for seeds in (3, 10, 40):
        diff = paired_ci(_grid(seeds, 8), "difference")
        assert diff is not None
        assert diff.low < 0.2 < diff.high
        widths.append(diff.width)
    assert widths[0] > widths[1] > widths[2]


def test_pairing_is_kept_a_shared_window_effect_does_not_widen_the_interval() -> None:
    # Both arms share a huge window effect; their difference is small and steady. Unpaired resampling would see
    # the window effect; paired cells cancel it.
    rng = np.random.default_rng(3)
    cells = {}
    for w in range(8):
        level = rng.normal(0, 50)
        for s in range(5):
            cells[(s, w)] = (level + 1.0 + rng.normal(0, 0.01), level)
    diff = paired_ci(cells, "difference")
    assert diff is not None and diff.width < 0.05 and diff.low > 0.9


def test_ratio_is_a_ratio_of_totals_and_the_run_is_reproducible() -> None:
    cells = {(1, "a"): (1.0, 10.0), (1, "b"): (3.0, 10.0), (2, "a"): (2.0, 20.0)}
    first = paired_ci(cells, "ratio")
    again = paired_ci(cells, "ratio")
    assert first is not None and first == again  # a fixed generator seed
    assert first.point == pytest.approx(6.0 / 40.0)
    assert first.low <= first.point <= first.high
    assert (first.cells, first.seeds, first.windows) == (3, 2, 2)
    assert paired_ci({}, "ratio") is None
    assert RESAMPLES >= 2000
