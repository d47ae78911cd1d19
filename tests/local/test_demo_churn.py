"""`make demo PROFILE=churn-xgb`'s pieces on tiny data: the built-in XGBoost trains on the synthetic churn drop, the
churn evaluator scores the challenger by AUC, the demo approves the pending package with `retune promote`, and the
table and the report name validation:auc and who decided."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from retune_local.demo import run

pytestmark = pytest.mark.local_stack

TINY = {"train": 400, "validation": 200, "test": 200}


# About 35 s (a whole stack, the built-in algorithm's venv, an approval by hand): in make test-reliability, so that
# make test keeps within its 10 minutes; tests/local_sagemaker/test_builtin_xgboost.py covers the algorithm there.
@pytest.mark.slow
def test_churn_demo_one_tiny_drop_approved_by_hand(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    stream = io.StringIO()
    summary = run(1, "churn-xgb", out, max_jobs=2, parallel=2, churn_rows=TINY, stream=stream)
    assert summary["objective"] == {"metric_name": "validation:auc", "type": "Maximize"}
    (r,) = json.loads((out / "summary.json").read_text())["rounds"]
    assert r["status"] == "decided" and r["trials"] == 2
    assert r["objective_metric"] == "validation:auc" and r["objective_type"] == "Maximize"
    assert 0.5 < r["best_objective"] <= 1.0 and 0.5 < r["test_challenger"] <= 1.0  # AUCs, not RMSEs
    assert r["test_champion"] is None  # the first champion
    # Pending a person's approval, then approved with `retune promote`, by the CLI's identity.
    assert r["decision"] == "approved" and r["promoted"]
    assert r["decided_by"].startswith("arn:aws:") and r["promotion_reason"].startswith(
        "promoted by hand (arn:aws:"
    )
    text = stream.getvalue()
    assert "$ retune promote churn-xgb --model-package arn:aws:sagemaker:" in text
    assert "churn-xgb: champion is now" in text  # the CLI's own answer, printed as it came
    header = next(line for line in text.splitlines() if line.startswith("round  drop"))
    assert "best validation:auc" in header and header.endswith("decided by")
    assert "RMSE" not in text
    report = (out / "report.html").read_text()
    assert "<th>best validation:auc</th>" in report and "<th>decided by</th>" in report
