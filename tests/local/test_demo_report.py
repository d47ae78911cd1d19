"""The demo's round table and report name the profile's own objective, and say who decided when a person did
(a manual approval with `retune promote`)."""

from __future__ import annotations

import copy
import io
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from plotly.offline import get_plotlyjs
from retune_local.demo import Progress
from retune_local.report import range_changes, table, write_report

from tests.local.report_check import check_report, figures, page_data

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


# -- the plotly report: its data and charts against summary.json ---------------------------------------------------

RANGES_1 = [
    {"type": "continuous", "name": "eta", "min_value": 0.01, "max_value": 0.3, "scaling": "Logarithmic"},
    {"type": "integer", "name": "max_depth", "min_value": 2, "max_value": 10, "scaling": "Auto"},
]
RANGES_2 = [
    {"type": "continuous", "name": "eta", "min_value": 0.05, "max_value": 0.2, "scaling": "Logarithmic"},
    {"type": "integer", "name": "max_depth", "min_value": 2, "max_value": 10, "scaling": "Auto"},
]


def plan(max_jobs: int, ranges: list[dict[str, Any]], parents: list[str]) -> dict[str, Any]:
    return {
        "strategy": "Bayesian",
        "max_jobs": max_jobs,
        "max_parallel_jobs": 2,
        "early_stopping": "Auto",
        "max_runtime_seconds": 3600,
        "warm_start_parents": parents,
        "warm_start_type": "IdenticalDataAndAlgorithm",
        "target_objective": None,
        "max_jobs_not_improving": None,
        "complete_on_convergence": False,
        "ranges": ranges,
        "min_resource": None,
        "max_resource": None,
        "patience": 3,
    }


def trial(
    name: str, status: str, curve: list[float], *, stopped: bool = False, **more: Any
) -> dict[str, Any]:
    return {
        "name": name,
        "status": status,
        "stopped_early": stopped,
        "objective": curve[-1] if curve and status != "Failed" else None,
        "epochs": len(curve),
        "compute": 100.0 * len(curve),
        "billable_seconds": 2 * len(curve),
        "hyperparameters": {"eta": f"0.0{len(name)}", "max_depth": str(len(curve))},
        "curve": curve,
        **more,
    }


def summary_of_two_rounds() -> dict[str, Any]:
    """Two rounds as summary.json holds them: a completed, a stopped-early and a failed trial, then an incumbent
    (issue 20) and a narrowed range."""
    first = round_row(
        1,
        "validation:rmse",
        "Minimize",
        None,
        trials=3,
        stopped_early=1,
        failed=1,
        compute=900.0,
        billable_seconds=18,
        best_objective=0.5,
        plan=plan(3, RANGES_1, []),
        plan_reasons={s: "from the profile" for s in plan(3, RANGES_1, [])},
        trial_objectives=[
            trial("r1-001", "Completed", [0.7, 0.6, 0.55, 0.52, 0.5]),
            trial("r1-002", "Stopped", [0.9, 0.85], stopped=True),
            trial("r1-003", "Failed", [0.8, 0.79]),
        ],
    )
    reasons = {s: "unchanged" for s in plan(2, RANGES_2, ["r1"])}
    reasons |= {
        "max_jobs": "round 1 converged after 1 trial: spend less",
        "ranges": "the best trials sat inside",
    }
    second = round_row(
        2,
        "validation:rmse",
        "Minimize",
        None,
        trials=2,
        compute=700.0,
        billable_seconds=14,
        best_objective=0.48,
        test_champion=0.52,
        plan=plan(2, RANGES_2, ["r1"]),
        plan_reasons=reasons,
        plan_changes=[
            {"setting": "max_jobs", "from": 3, "to": 2, "reason": reasons["max_jobs"]},
            {"setting": "ranges", "from": RANGES_1, "to": RANGES_2, "reason": reasons["ranges"]},
        ],
        trial_objectives=[
            trial("r2-001", "Completed", [0.6, 0.5, 0.48], source="incumbent"),
            trial("r2-002", "Completed", [0.62, 0.55, 0.5, 0.49], source="tuning"),
        ],
    )
    return {"profile": "market-xgb", "rounds": [first, second]}


def test_report_holds_every_trial_and_value_of_the_summary(tmp_path: Path) -> None:
    summary = summary_of_two_rounds()
    write_report(tmp_path / "report.html", "market-xgb", summary["rounds"], "two rounds")
    report = (tmp_path / "report.html").read_text()
    check_report(report, summary)
    # One offline page: plotly.js inlined, nothing loaded from elsewhere.
    assert get_plotlyjs() in report
    assert not re.search(r"<(script|link|img|iframe)[^>]+(src|href)=", report)


@pytest.mark.parametrize(
    "spoil",
    [
        pytest.param(lambda s: s["rounds"][0]["trial_objectives"].pop(1), id="a trial dropped"),
        pytest.param(
            lambda s: s["rounds"][1]["trial_objectives"][1]["curve"].__setitem__(2, 0.51), id="a curve"
        ),
        pytest.param(
            lambda s: s["rounds"][0]["trial_objectives"][0]["hyperparameters"].update(eta="0.2"), id="hp"
        ),
        pytest.param(
            lambda s: s["rounds"][0]["trial_objectives"][1].update(status="Completed"), id="a status"
        ),
        pytest.param(lambda s: s["rounds"][1]["trial_objectives"][0].update(compute=1.0), id="a compute"),
        pytest.param(lambda s: s["rounds"][1]["plan"].update(max_jobs=5), id="a plan setting"),
        pytest.param(lambda s: s["rounds"][1].update(test_champion=0.6), id="an evaluation"),
        pytest.param(lambda s: s["rounds"].pop(), id="a round dropped"),
    ],
)
def test_report_check_fails_on_a_page_that_lost_or_altered_a_value(tmp_path: Path, spoil: Any) -> None:
    """The check above is only worth having if it fails when the page and summary.json differ."""
    summary = summary_of_two_rounds()
    spoilt = copy.deepcopy(summary)
    spoil(spoilt)
    write_report(tmp_path / "report.html", "market-xgb", spoilt["rounds"])
    with pytest.raises(AssertionError):
        check_report((tmp_path / "report.html").read_text(), summary)


def test_report_draws_stopped_trials_cut_short_and_incumbents_apart(tmp_path: Path) -> None:
    summary = summary_of_two_rounds()
    write_report(tmp_path / "report.html", "market-xgb", summary["rounds"])
    curves = {
        t["meta"]["trial"]: t
        for t in figures((tmp_path / "report.html").read_text())["fig-curves"]["data"]
        if t.get("meta")
    }
    stopped = curves["r1-002"]
    assert stopped["line"]["dash"] == "dash" and stopped["marker"]["symbol"] == "x"
    assert stopped["marker"]["size"][-1] > 0  # the cross where it was cut short
    assert curves["r1-001"]["line"]["dash"] == "solid" and curves["r1-003"]["line"]["dash"] == "dot"
    assert curves["r2-001"]["marker"]["symbol"] == "diamond" != curves["r2-002"]["marker"]["symbol"]
    points = {t["name"] for t in figures((tmp_path / "report.html").read_text())["fig-trials"]["data"]}
    assert points == {"completed", "stopped early", "incumbent"}  # the failed trial has no final objective


def test_report_shows_the_plans_range_changes_as_intervals(tmp_path: Path) -> None:
    summary = summary_of_two_rounds()
    write_report(tmp_path / "report.html", "market-xgb", summary["rounds"])
    report = (tmp_path / "report.html").read_text()
    changes = page_data(report)["rounds"][1]["plan_changes_readable"]
    assert changes == ["max_jobs: 3 -> 2", "eta: [0.01, 0.3] -> [0.05, 0.2] (log)"]
    listed = report.split("<h2>The plan's changes</h2>", 1)[1]
    assert "eta: [0.01, 0.3] -&gt; [0.05, 0.2] (log)" in listed and "min_value" not in listed
    lines = table(summary["rounds"]).splitlines()
    assert "    plan: eta: [0.01, 0.3] -> [0.05, 0.2] (log): the best trials sat inside" in lines


def test_range_changes_name_added_removed_and_rescaled_ranges() -> None:
    before = [*RANGES_1, {"type": "categorical", "name": "booster", "values": ["gbtree", "dart"]}]
    after = [
        {**RANGES_1[0], "scaling": "Linear"},
        {"type": "integer", "name": "max_bin", "min_value": 16, "max_value": 256, "scaling": "Logarithmic"},
    ]
    assert range_changes(before, after) == [
        "eta: [0.01, 0.3] -> [0.01, 0.3] (log -> linear)",
        "max_bin: added [16, 256] (log)",
        "max_depth: removed (was [2, 10])",
        "booster: removed (was {gbtree, dart})",
    ]
