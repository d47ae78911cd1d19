"""The drops cut from skfolio's S&P 500 data: their windows, their files, no leakage, the Ridge floor."""

from __future__ import annotations

import itertools
import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from retune.manifest import Manifest
from retune_local import market


def test_market_windows_follow_the_issue_calendar() -> None:
    specs = market.windows("2015-01-01", 4)
    assert [s.drop_id for s in specs] == ["2015-01-01", "2015-07-01", "2016-01-01", "2016-07-01"]
    first = specs[0]
    assert (first.train_start, first.train_end) == ("2012-01-01", "2014-12-25")
    assert (first.validation_start, first.validation_end) == ("2015-01-01", "2015-07-01")
    assert (first.test_start, first.test_end) == ("2015-07-01", "2016-01-01")
    for spec in specs:
        validation_start = date.fromisoformat(spec.validation_start)
        assert date.fromisoformat(spec.train_end) <= validation_start - timedelta(days=7)
        assert spec.test_start == spec.validation_end
    # Each window's test period is the next window's validation period.
    assert all(a.test_start == b.validation_start for a, b in itertools.pairwise(specs))
    assert sorted(s.drop_id for s in reversed(specs)) == [s.drop_id for s in specs]


def test_market_windows_stop_at_the_end_of_the_data() -> None:
    assert market.windows("2015-01-01", 15)[-1].drop_id == "2022-01-01"
    with pytest.raises(ValueError, match="past the data's end"):
        market.windows("2015-01-01", 16)


def test_market_drop_rows_never_leak_across_parts(tiny_spec: market.DropSpec) -> None:
    for spec in (market.windows("2015-01-01", 2)[1], tiny_spec):
        parts = {c: market.channel_frame(spec, c) for c in market.CHANNELS}
        train, validation, test = parts["train"], parts["validation"], parts["test"]
        validation_start = pd.Timestamp(spec.validation_start)
        # Training rows end at least 7 days before validation, and their 5-day targets end before it.
        assert train["date"].max() <= validation_start - pd.Timedelta(days=7)
        assert train["target_end"].max() < validation_start
        assert train["date"].min() >= pd.Timestamp(spec.train_start)
        assert validation["date"].min() >= validation_start
        assert validation["target_end"].max() < pd.Timestamp(spec.test_start)
        assert test["date"].min() >= pd.Timestamp(spec.test_start)
        assert test["date"].max() < pd.Timestamp(spec.test_end)
        assert train["date"].max() < validation["date"].min() < validation["date"].max() < test["date"].min()
        # No (date, stock) row is in two parts.
        keys = [set(zip(p["date"], p["ticker"], strict=True)) for p in parts.values()]
        assert not (keys[0] & keys[1] or keys[1] & keys[2] or keys[0] & keys[2])


def test_market_full_window_has_the_expected_size() -> None:
    spec = market.windows("2015-01-01", 1)[0]
    rows = {c: len(market.channel_frame(spec, c)) for c in market.CHANNELS}
    # 20 stocks: about 750 trading days of training, 125 of validation and of test.
    assert 14_000 < rows["train"] < 15_500
    assert 2_200 < rows["validation"] < 2_600
    assert 2_200 < rows["test"] < 2_600
    assert set(market.channel_frame(spec, "train")["ticker"]) == set(market.panel()["ticker"])


def test_market_features_use_only_the_past() -> None:
    frame = market.panel()
    stocks, _ = market._prices()
    row = frame[(frame["ticker"] == "MSFT") & (frame["date"] == pd.Timestamp("2016-03-15"))].iloc[0]
    prices = stocks["MSFT"]
    returns = np.log(prices).diff()
    position = prices.index.get_loc(pd.Timestamp("2016-03-15"))
    past = returns.iloc[position - 21 : position + 1]
    assert row["ret_22d"] == pytest.approx(past.sum())
    assert row["logvol_22d"] == pytest.approx(0.5 * np.log((past**2).mean() + market.EPS**2))
    ahead = returns.iloc[position + 1 : position + 6]
    assert row[market.TARGET] == pytest.approx(0.5 * np.log((ahead**2).mean() + market.EPS**2))
    assert row["target_end"] == prices.index[position + 5]


def test_market_write_drop_writes_csv_without_header_and_the_manifest_last(tiny_drop: Path) -> None:
    assert sorted(p.name for p in tiny_drop.iterdir()) == [
        "manifest.json",
        "test.csv",
        "train.csv",
        "validation.csv",
    ]
    manifest = Manifest.model_validate(json.loads((tiny_drop / "manifest.json").read_text()))
    assert {c: (ch.files, ch.content_type) for c, ch in manifest.channels.items()} == {
        "train": (["train.csv"], "text/csv"),
        "validation": (["validation.csv"], "text/csv"),
        "test": (["test.csv"], "text/csv"),
    }
    newest_csv = max((tiny_drop / f"{c}.csv").stat().st_mtime_ns for c in market.CHANNELS)
    assert (tiny_drop / "manifest.json").stat().st_mtime_ns >= newest_csv
    first_line = (tiny_drop / "train.csv").read_text().splitlines()[0]
    assert len(first_line.split(",")) == 1 + len(market.FEATURES)
    float(first_line.split(",")[0])  # numbers from the first line on: no header


def test_market_arrays_hold_what_the_csv_holds(tiny_spec: market.DropSpec, tiny_drop: Path) -> None:
    features, target = market.arrays(tiny_spec, "validation")
    table = np.loadtxt(tiny_drop / "validation.csv", delimiter=",", ndmin=2)
    np.testing.assert_array_equal(table[:, 0], target)
    np.testing.assert_array_equal(table[:, 1:], features)


def test_market_ridge_baseline_scores_validation_and_test(tiny_spec: market.DropSpec) -> None:
    scores = market.ridge_baseline(tiny_spec)
    assert set(scores) == {"validation_rmse", "test_rmse"}
    _, y_valid = market.arrays(tiny_spec, "validation")
    # Better than predicting the training mean, and in the range of this data (log volatility, std about 0.6).
    _, y_train = market.arrays(tiny_spec, "train")
    assert 0.2 < scores["validation_rmse"] < market.rmse(y_valid, np.full_like(y_valid, y_train.mean()))
    assert 0.2 < scores["test_rmse"] < 1.0
