"""`make demo`'s runner on real market data with tiny budgets: two drops end to end, summary.json and a report whose
charts hold the rounds' data."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from retune_local.demo import run
from retune_local.stack import tracking_available

from tests.local.report_check import check_report

pytestmark = pytest.mark.local_stack


def test_demo_two_drops_write_the_summary_and_a_report_with_data(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    stream = io.StringIO()
    summary = run(2, "market-xgb", out, max_jobs=3, parallel=1, stream=stream)
    written = json.loads((out / "summary.json").read_text())
    assert written["profile"] == "market-xgb" == summary["profile"]
    rounds = written["rounds"]
    assert [r["seq"] for r in rounds] == [1, 2]
    assert [r["drop"] for r in rounds] == ["2015-01-01", "2015-07-01"]
    for r in rounds:
        assert r["status"] == "decided"
        # Up to 3 tuning trials, and from round 2 on the incumbents retrained first (at most the plan's count).
        incumbents = r["plan"]["incumbents"]
        assert 1 <= r["trials"] <= 3 + incumbents, r
        assert r["compute"] > 0 and r["billable_seconds"] > 0
        assert 0.2 < r["best_objective"] < 2.0  # log-volatility RMSE on this data is about 0.5
        assert r["test_challenger"] is not None
        assert set(r) >= {
            "seq",
            "drop",
            "status",
            "trials",
            "stopped_early",
            "compute",
            "billable_seconds",
            "best_objective",
            "test_challenger",
            "test_champion",
            "promoted",
            "promotion_reason",
            "plan_changes",
        }
    assert rounds[0]["promoted"] and rounds[0]["test_champion"] is None  # the first champion
    assert rounds[1]["test_champion"] is not None  # scored beside the challenger on the same test data
    assert all({"setting", "from", "to", "reason"} == set(c) for c in rounds[1]["plan_changes"])
    text = stream.getvalue()
    assert "round  drop" in text and "2015-07-01" in text and "promoted" in text
    assert "trials 3/3" in text  # live progress was shown
    # Once template.yaml has the Track function, the demo mirrors into MLflow and says how to look at it.
    assert ("make mlflow-ui" in text) == tracking_available()

    # The report's charts and embedded data hold every round and trial of summary.json, value for value.
    check_report((out / "report.html").read_text(), written)
    assert all(t["curve"] for r in rounds for t in r["trial_objectives"])  # every trial's objective per epoch
    assert all(t["hyperparameters"] for r in rounds for t in r["trial_objectives"])
