"""The outcomes retune alerts on (a profile's `alerts.on` picks among them)."""

from __future__ import annotations

from typing import Literal, get_args

Outcome = Literal[
    "promoted",
    "not_promoted",
    "pending_approval",
    "approved_by_hand",
    "drop_failed",
    "drop_refused",
    "launch_failed",
    "round_failed",
    "round_stalled",
    "limit_exceeded",
    "parked_events",
    "over_budget",
    "deployment_failed",
    "reconcile_failed",
]
ALL_OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
