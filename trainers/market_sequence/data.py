"""A sequence drop's channel as the models read it: every stock's rows in date order, and for each scored row the
index of its last day, so that a batch of sequences is one gather (`windows`).

The CSV (local/retune_local/market.py, `write_sequence_drop`): no header; target, scored (1 or 0), stock (an
integer id), then the features; rows in date order. Rows with scored=0 are context: the trading days before the
channel's first day, whose features the first scored rows' sequences need; they are never trained on or scored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..market_volatility.job import Job, JobError

LEADING = 2  # the columns between the target and the features: scored, stock


@dataclass(frozen=True)
class Channel:
    """features: (rows, F) float64, every row of the channel ordered by stock, then date (file order);
    target: (scored rows,) float64; ends: each scored row's index in `features`; starts: the index of the first
    row of that row's stock (a sequence never reaches into another stock)."""

    features: np.ndarray
    target: np.ndarray
    ends: np.ndarray
    starts: np.ndarray

    def __len__(self) -> int:
        return len(self.ends)


def read_channel(job: Job, channel: str) -> Channel:
    columns, target = job.read_csv(channel)
    if columns.shape[1] <= LEADING:
        raise JobError(
            f"channel {channel!r}: {columns.shape[1] + 1} columns; a sequence drop has the target, scored, stock "
            "and at least one feature (local/retune_local/market.py write_sequence_drop)"
        )
    scored, stock = columns[:, 0], columns[:, 1]
    if not np.isin(scored, (0.0, 1.0)).all():
        row = int(np.flatnonzero(~np.isin(scored, (0.0, 1.0)))[0]) + 1
        raise JobError(
            f"channel {channel!r} row {row}: column 2 (scored) must be 0 or 1; not a sequence drop?"
        )
    if not (stock == np.round(stock)).all() or (stock < 0).any():
        row = int(np.flatnonzero((stock != np.round(stock)) | (stock < 0))[0]) + 1
        raise JobError(f"channel {channel!r} row {row}: column 3 (stock) must be a stock id (0, 1, ...)")
    if not scored.any():
        raise JobError(f"channel {channel!r} holds no scored rows (only context)")
    order = np.lexsort((np.arange(len(stock)), stock))  # by stock, then file order (the date)
    stock_sorted = stock[order]
    ends = np.flatnonzero(scored[order] == 1.0)
    starts = np.searchsorted(stock_sorted, stock_sorted[ends], side="left")
    return Channel(
        features=np.ascontiguousarray(columns[order, LEADING:]),
        target=target[order][ends],
        ends=ends.astype(np.int64),
        starts=starts.astype(np.int64),
    )


def window_index(channel: Channel, length: int) -> np.ndarray:
    """(scored rows, length) row indices: each scored row's stock's last `length` days, oldest first. A row with a
    shorter history repeats its stock's first day (a drop's context makes that rare)."""
    offsets = np.arange(length - 1, -1, -1, dtype=np.int64)
    index: np.ndarray = np.maximum(channel.ends[:, None] - offsets[None, :], channel.starts[:, None])
    return index


def padded_rows(channel: Channel, length: int) -> int:
    """How many scored rows have fewer than `length` days of history in the channel."""
    return int(np.count_nonzero(channel.ends - channel.starts < length - 1))
