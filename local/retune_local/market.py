"""Drops from real market data: next-5-day realized volatility of 20 S&P 500 stocks, cut into windows.

The prices are skfolio's S&P 500 set (20 stocks and the index, daily, 1990 to 2022), shipped inside the package,
so nothing is downloaded. Every row is one stock on one trading day `t`; its features use prices up to the close
of `t` only, its target is the log realized volatility of the stock's next 5 daily log returns:

    target(t) = 0.5 * log(mean(r[t+1]^2, ..., r[t+5]^2) + EPS^2)

A window (a drop) has 3 years of training rows, a 7-day gap, 6 months of validation and the next 6 months as
test; windows slide by 6 months. Rows are also purged so that no target reaches into the next part: a training
row's 5-day target ends before validation starts, a validation row's before test starts, a test row's before the
test window ends. So training never sees a return of the validation or test period, not even through a label.

The features are built once per process (`panel()`, cached): about 2 s, most of it skfolio's import; after that
a drop is written in about 0.1 s. The CSV files have no header and the target in the first column, as SageMaker's
built-in algorithms read CSV (FEATURES names the other columns, in order). Rows are sorted by date, then ticker.

    from retune_local import market
    for spec in market.windows(count=4):
        market.write_drop(spec, Path("drops") / spec.drop_id)
    market.ridge_baseline(market.windows(count=1)[0])  # the untuned floor: validation and test RMSE
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

HORIZON = 5  # trading days the target looks ahead
EPS = 1e-4  # a floor on daily volatility (0.01%), so a day without a price change has a finite log
FEATURES = (
    # the stock's own returns and volatility, as of the close of day t
    "ret_1d",
    "ret_5d",
    "ret_22d",
    "logvol_1d",
    "logvol_5d",
    "logvol_22d",
    "logvol_66d",
    "logvol_252d",
    "downside_logvol_22d",
    # the index's
    "index_ret_1d",
    "index_ret_5d",
    "index_ret_22d",
    "index_logvol_1d",
    "index_logvol_5d",
    "index_logvol_22d",
    "index_logvol_66d",
)
TARGET = "logvol_next_5d"
CONTENT_TYPE = "text/csv"
CHANNELS = ("train", "validation", "test")
LOOKBACK = 252  # the longest feature window: the first rows of the data set have no features
FLOAT_FORMAT = "%.7g"


@dataclass(frozen=True)
class DropSpec:
    """One window of the data. Every range is [start, end), in calendar dates (ISO strings)."""

    drop_id: str  # sortable: the validation start date
    train_start: str
    train_end: str
    validation_start: str
    validation_end: str
    test_start: str
    test_end: str
    tickers: tuple[str, ...] | None = None  # None: all 20 stocks

    def ranges(self) -> dict[str, tuple[str, str]]:
        """Each channel's date range and the date its rows' targets must end before."""
        return {
            "train": (self.train_start, self.train_end),
            "validation": (self.validation_start, self.validation_end),
            "test": (self.test_start, self.test_end),
        }

    def target_limits(self) -> dict[str, str]:
        """A row of a channel is kept only if its 5-day target ends before this date (purging)."""
        return {"train": self.validation_start, "validation": self.test_start, "test": self.test_end}


@functools.cache
def _prices() -> tuple[pd.DataFrame, pd.Series]:
    # Imported here: skfolio takes about 1.8 s to import, and only drop building needs it.
    from skfolio.datasets import load_sp500_dataset, load_sp500_index  # noqa: PLC0415

    stocks = load_sp500_dataset().sort_index()
    index = load_sp500_index().sort_index().iloc[:, 0]
    return stocks, index


def _log_vol(squared: pd.DataFrame | pd.Series, days: int) -> Any:
    return 0.5 * np.log(squared.rolling(days, min_periods=days).mean() + EPS**2)


def _features_of(returns: pd.DataFrame | pd.Series, prefix: str, with_long: bool) -> dict[str, Any]:
    squared = returns**2
    out = {
        f"{prefix}ret_1d": returns,
        f"{prefix}ret_5d": returns.rolling(5).sum(),
        f"{prefix}ret_22d": returns.rolling(22).sum(),
        f"{prefix}logvol_1d": _log_vol(squared, 1),
        f"{prefix}logvol_5d": _log_vol(squared, 5),
        f"{prefix}logvol_22d": _log_vol(squared, 22),
        f"{prefix}logvol_66d": _log_vol(squared, 66),
    }
    if with_long:
        out[f"{prefix}logvol_252d"] = _log_vol(squared, 252)
        out[f"{prefix}downside_logvol_22d"] = _log_vol(returns.clip(upper=0.0) ** 2, 22)
    return out


@functools.cache
def panel() -> pd.DataFrame:
    """Every (date, ticker) row with its features, target and the date its target ends; built once per process.

    Columns: date, ticker, target_end, TARGET, *FEATURES. Rows without a full lookback or a full target are
    dropped. Takes well under a second after the data set's import.
    """
    stocks, index = _prices()
    dates = stocks.index
    returns = np.log(stocks).diff()
    index_returns = np.log(index.reindex(dates)).diff()
    stock_features = _features_of(returns, "", with_long=True)
    index_features = _features_of(index_returns, "index_", with_long=False)
    # The target: the next HORIZON returns, t+1 .. t+HORIZON.
    ahead = (returns**2).rolling(HORIZON, min_periods=HORIZON).mean().shift(-HORIZON)
    target = 0.5 * np.log(ahead + EPS**2)
    # The last trading day of each row's target (NaT where the data ends first).
    target_end = pd.Series(dates.astype("datetime64[ns]"), index=dates).shift(-HORIZON)

    tickers = list(stocks.columns)
    n_dates, n_tickers = len(dates), len(tickers)
    columns: dict[str, Any] = {
        "date": np.repeat(dates.values, n_tickers),
        "ticker": np.tile(np.array(tickers, dtype=object), n_dates),
        "target_end": np.repeat(target_end.values, n_tickers),
        TARGET: target.to_numpy().ravel(),
    }
    for name in FEATURES:
        if name.startswith("index_"):
            columns[name] = np.repeat(index_features[name].to_numpy(), n_tickers)
        else:
            columns[name] = stock_features[name].to_numpy().ravel()
    frame = pd.DataFrame(columns)
    frame["date"] = frame["date"].astype("datetime64[ns]")
    numeric = [TARGET, *FEATURES]
    finite = np.isfinite(frame[numeric].to_numpy(dtype=float)).all(axis=1) & frame["target_end"].notna()
    frame = frame[finite].reset_index(drop=True)
    frame.attrs["first_date"] = dates[0].date().isoformat()
    frame.attrs["last_date"] = dates[-1].date().isoformat()
    return frame


def _iso(stamp: pd.Timestamp) -> str:
    return str(stamp.date().isoformat())


def windows(
    first_validation_start: str = "2015-01-01",
    count: int = 4,
    *,
    train_months: int = 36,
    gap_days: int = 7,
    validation_months: int = 6,
    test_months: int = 6,
    step_months: int = 6,
    tickers: Sequence[str] | None = None,
) -> list[DropSpec]:
    """`count` consecutive windows, the first validating from `first_validation_start`, each sliding by
    `step_months`: training for `train_months` before validation, ending `gap_days` before it (so the 5-day
    target cannot reach validation), then validation, then test. Raises ValueError past the data's end (the last
    window's test period may end at most a week after the data does: the data set stops on 2022-12-28)."""
    if count < 1:
        raise ValueError("count must be at least 1")
    frame = panel()
    first_data, last_data = pd.Timestamp(frame.attrs["first_date"]), pd.Timestamp(frame.attrs["last_date"])
    start = pd.Timestamp(first_validation_start)
    specs = []
    for i in range(count):
        validation_start = start + pd.DateOffset(months=step_months * i)
        validation_end = validation_start + pd.DateOffset(months=validation_months)
        test_end = validation_end + pd.DateOffset(months=test_months)
        train_start = validation_start - pd.DateOffset(months=train_months)
        train_end = validation_start - pd.Timedelta(days=gap_days)
        if test_end - pd.Timedelta(days=7) > last_data:
            raise ValueError(
                f"window {i + 1} of {count} ({_iso(validation_start)}) tests until {_iso(test_end)}, "
                f"past the data's end ({_iso(last_data)})"
            )
        if train_start - pd.DateOffset(days=int(LOOKBACK * 1.5)) < first_data:
            raise ValueError(f"window {i + 1} trains from {_iso(train_start)}: too early for the features")
        specs.append(
            DropSpec(
                drop_id=_iso(validation_start),
                train_start=_iso(train_start),
                train_end=_iso(train_end),
                validation_start=_iso(validation_start),
                validation_end=_iso(validation_end),
                test_start=_iso(validation_end),
                test_end=_iso(test_end),
                tickers=tuple(tickers) if tickers is not None else None,
            )
        )
    return specs


def channel_frame(spec: DropSpec, channel: str) -> pd.DataFrame:
    """The rows of one channel of the drop (date, ticker, target_end, target and features)."""
    frame = panel()
    start, end = spec.ranges()[channel]
    limit = pd.Timestamp(spec.target_limits()[channel])
    keep = (
        (frame["date"] >= pd.Timestamp(start))
        & (frame["date"] < pd.Timestamp(end))
        & (frame["target_end"] < limit)
    )
    if spec.tickers is not None:
        unknown = set(spec.tickers) - set(frame["ticker"].unique())
        if unknown:
            raise ValueError(f"unknown tickers: {sorted(unknown)}")
        keep &= frame["ticker"].isin(spec.tickers)
    rows = frame[keep]
    if rows.empty:
        raise ValueError(f"drop {spec.drop_id}: channel {channel!r} has no rows")
    return rows


def arrays(spec: DropSpec, channel: str) -> tuple[np.ndarray, np.ndarray]:
    """(features, target) of one channel as float64 arrays, exactly as the CSV file holds them."""
    rows = channel_frame(spec, channel)
    table = _rounded(rows[[TARGET, *FEATURES]].to_numpy(dtype=float))
    return table[:, 1:], table[:, 0]


def _rounded(table: np.ndarray) -> np.ndarray:
    # What the CSV holds: 7 significant digits, read back as float64.
    return np.array(np.char.mod(FLOAT_FORMAT, table), dtype=float) if table.size else table


def _write_csv(path: Path, table: np.ndarray) -> None:
    partial = path.with_name(path.name + ".partial")
    np.savetxt(partial, table, fmt=FLOAT_FORMAT, delimiter=",")
    os.replace(partial, path)


def manifest(spec: DropSpec, rows: dict[str, int] | None = None) -> dict[str, Any]:
    """The drop's manifest.json: its three channels (one CSV file each) and a description of the window."""
    counts = f" ({', '.join(f'{c} {n} rows' for c, n in rows.items())})" if rows else ""
    description = (
        f"next-5-day log realized volatility, {len(spec.tickers) if spec.tickers else 20} S&P 500 stocks: "
        f"train {spec.train_start}..{spec.train_end}, validation {spec.validation_start}..{spec.validation_end}, "
        f"test {spec.test_start}..{spec.test_end} (end dates exclusive){counts}. CSV without a header, "
        f"target first, then {', '.join(FEATURES)}"
    )
    return {
        "channels": {c: {"files": [f"{c}.csv"], "content_type": CONTENT_TYPE} for c in CHANNELS},
        "description": description[:1024],
    }


def write_drop(spec: DropSpec, directory: Path | str) -> dict[str, Any]:
    """Write train.csv, validation.csv, test.csv and, last, manifest.json into `directory`; return the
    manifest."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    rows = {}
    for channel in CHANNELS:
        table = channel_frame(spec, channel)[[TARGET, *FEATURES]].to_numpy(dtype=float)
        _write_csv(folder / f"{channel}.csv", table)
        rows[channel] = len(table)
    document = manifest(spec, rows)
    partial = folder / "manifest.json.partial"
    partial.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(partial, folder / "manifest.json")
    return document


def rmse(target: np.ndarray, prediction: np.ndarray) -> float:
    return math.sqrt(float(np.mean((np.asarray(prediction, dtype=float) - target) ** 2)))


def ridge_baseline(spec: DropSpec, alpha: float = 1.0) -> dict[str, float]:
    """The untuned floor: a Ridge regression (standardized features, sklearn's default alpha) fitted on the
    drop's training rows, scored on its validation and test rows as the trainers score (RMSE)."""
    from sklearn.linear_model import Ridge  # noqa: PLC0415
    from sklearn.pipeline import make_pipeline  # noqa: PLC0415
    from sklearn.preprocessing import StandardScaler  # noqa: PLC0415

    x_train, y_train = arrays(spec, "train")
    model = make_pipeline(StandardScaler(), Ridge(alpha=alpha)).fit(x_train, y_train)
    scores = {}
    for channel in ("validation", "test"):
        x, y = arrays(spec, channel)
        scores[f"{channel}_rmse"] = rmse(y, model.predict(x))
    return scores


# The sequence models' drops (trainers/market_sequence): the same windows and the same scored rows, each channel
# preceded by the features of the SEQUENCE_CONTEXT trading days before its first day, so that every scored row has
# a full history (its stock's last sequence_length days) without reading another channel. Columns: target, scored
# (1: a row of the channel, scored and trained on; 0: context, features only, target written as 0), stock (its
# index in TICKERS), then FEATURES. Rows sorted by date, then stock.
SEQUENCE_CONTEXT = 63  # the longest sequence market-seq searches (64 days) less the scored day itself
SEQUENCE_COLUMNS = (TARGET, "scored", "stock", *FEATURES)


def tickers() -> tuple[str, ...]:
    """The data set's 20 stocks, sorted: a sequence drop's `stock` column indexes this tuple."""
    return tuple(sorted(panel()["ticker"].unique()))


def sequence_table(spec: DropSpec, channel: str, context_days: int = SEQUENCE_CONTEXT) -> np.ndarray:
    """One channel of a sequence drop (SEQUENCE_COLUMNS): the channel's rows, exactly those of `channel_frame`,
    after the panel's rows of the `context_days` trading days before its first day (features known by then; the
    context rows' targets are not written)."""
    frame = panel()
    rows = channel_frame(spec, channel)
    first = rows["date"].min()
    dates = np.sort(frame["date"].unique())
    position = int(np.searchsorted(dates, first.to_datetime64()))
    context_start = dates[max(position - context_days, 0)]
    names = spec.tickers if spec.tickers is not None else tickers()
    context = frame[(frame["date"] >= context_start) & (frame["date"] < first) & frame["ticker"].isin(names)]
    both = pd.concat([context.assign(scored=0.0), rows.assign(scored=1.0)])
    both.loc[both["scored"] == 0.0, TARGET] = 0.0
    both["stock"] = both["ticker"].map({t: float(i) for i, t in enumerate(tickers())})
    both = both.sort_values(["date", "stock"], kind="stable")
    return _rounded(both[list(SEQUENCE_COLUMNS)].to_numpy(dtype=float))


def write_sequence_drop(
    spec: DropSpec, directory: Path | str, context_days: int = SEQUENCE_CONTEXT
) -> dict[str, Any]:
    """A drop for the sequence models: as `write_drop`, each channel's CSV laid out as `sequence_table`."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    rows = {}
    for channel in CHANNELS:
        table = sequence_table(spec, channel, context_days)
        _write_csv(folder / f"{channel}.csv", table)
        rows[channel] = int(table[:, 1].sum())
    document = manifest(spec, rows)
    document["description"] = document["description"].replace(
        "target first, then",
        f"target first, then scored (0: one of the {context_days} context days), stock, then",
    )[:1024]
    partial = folder / "manifest.json.partial"
    partial.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(partial, folder / "manifest.json")
    return document
