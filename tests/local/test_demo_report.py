"""The demo's round table and report name the profile's own objective, and say who decided when a person did
(a manual approval with `retune promote`)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from retune_local.demo import Progress
from retune_local.report import table, write_report

ADMIN = "arn:aws:iam::123456789012:user/administrator"


def round_row(seq: int, metric: str, kind: str, decided_by: str | None, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "seq": seq,
        "drop": f"2025-0{seq}-01",
        "status": "decided",
        "trials": 3,
        "stopped_early": 0,
        "compute": 120.0,
        "objective_metric": metric,
        "objective_type": kind,
        "best_objective": 0.83,
        "test_challenger": 0.81,
        "test_champion": 0.79 if seq > 1 else None,
        "promoted": decided_by is not None,
        "decision": "approved" if decided_by else "rejected",
        "decided_by": decided_by or "retune",
        "promotion_reason": "why",
        "plan": {"max_jobs": 3},
        "plan_changes": [],
        "trial_objectives": [
            {"name": f"t{seq}", "status": "Completed", "stopped_early": False, "objective": 0.8, "epochs": 3}
        ],
    }
    row.update(changes)
    return row


def test_demo_table_names_the_objective_and_who_decided() -> None:
    rounds = [
        round_row(1, "validation:auc", "Maximize", ADMIN),
        round_row(2, "validation:auc", "Maximize", None),
    ]
    lines = table(rounds).splitlines()
    header = re.split(r"\s{2,}", lines[0])
    assert header == [
        "round",
        "drop",
        "trials",
        "stopped",
        "compute",
        "best validation:auc",
        "test chal.",
        "test champ.",
        "decision",
        "decided by",
    ]
    assert re.split(r"\s{2,}", lines[2])[-2:] == ["promoted", "user/administrator"]
    assert re.split(r"\s{2,}", lines[3])[-2:] == ["rejected", "retune"]
    assert "RMSE" not in table(rounds)


def test_demo_table_of_automatic_decisions_has_no_decided_by_column() -> None:
    rounds = [round_row(1, "validation:rmse", "Minimize", None, decision="approved", promoted=True)]
    header = table(rounds).splitlines()[0]
    assert "best validation:rmse" in header and "decided by" not in header


def test_demo_report_names_the_objective_and_who_decided(tmp_path: Path) -> None:
    rounds = [
        round_row(1, "validation:auc", "Maximize", ADMIN),
        round_row(2, "validation:auc", "Maximize", None),
    ]
    write_report(tmp_path / "report.html", "churn-xgb", rounds)
    report = (tmp_path / "report.html").read_text()
    assert "<th>best validation:auc</th>" in report and "<th>test auc challenger</th>" in report
    assert "<th>decided by</th>" in report and "<td>user/administrator</td>" in report
    assert "RMSE" not in report


class _RefusedDropStore:
    """A drop SageMaker refused at launch: the drop failed, its round was never kept."""

    def get_round(self, profile: str, seq: int) -> None:
        return None

    def trials(self, profile: str, seq: int) -> list[object]:
        return []

    def get_drop(self, profile: str, drop_id: str) -> object:
        return SimpleNamespace(state="failed", errors=["launch: SageMaker refused the tuning job"])


def test_demo_progress_ends_the_wait_for_a_drop_that_failed_before_its_round() -> None:
    """The demo waits for each round to decide; a drop refused before its round ran never decides, so the wait ends
    and the demo names the drop's errors instead of waiting out its timeout."""
    stack = SimpleNamespace(state=_RefusedDropStore)
    progress = Progress(stack, "churn-xgb", 1, "2025-01-01", io.StringIO())  # type: ignore[arg-type]
    assert progress() is True
    assert progress.refused() == ["launch: SageMaker refused the tuning job"]
