"""Reads the demo's report.html back: the data embedded in it and the charts' figures, checked against summary.json
(tests/local/test_demo_report.py and test_demo.py)."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from retune_local.report import shown


def page_data(report: str) -> dict[str, Any]:
    """The JSON the page embeds as `<script type="application/json" id="retune-report-data">`."""
    found = re.search(r'<script type="application/json" id="retune-report-data">(.*?)</script>', report, re.S)
    assert found, "report.html embeds no retune-report-data"
    data: dict[str, Any] = json.loads(found.group(1))
    return data


def figures(report: str) -> dict[str, dict[str, Any]]:
    """Each chart's plotly figure (data and layout) as the page draws it, by its element's id."""
    return {
        name: json.loads(spec)
        for name, spec in re.findall(
            r'<script type="application/json" data-figure="([\w-]+)">(.*?)</script>', report, re.S
        )
    }


def _text(hover: str) -> str:
    """A hover label as read: line breaks as spaces, entities decoded."""
    return html.unescape(re.sub(r"<br>|<b>|</b>", " ", hover))


def check_report(report: str, summary: dict[str, Any]) -> None:
    """The page's data and charts hold every round and every trial of summary.json, with the same values."""
    data = page_data(report)
    assert data["profile"] == summary["profile"]
    assert [r["seq"] for r in data["rounds"]] == [r["seq"] for r in summary["rounds"]]
    for want, got in zip(summary["rounds"], data["rounds"], strict=True):
        for key in (
            "drop",
            "status",
            "trials",
            "stopped_early",
            "compute",
            "billable_seconds",
            "best_objective",
        ):
            assert got[key] == want[key], (want["seq"], key)
        # The evaluation and the decision.
        for key in (
            "test_challenger",
            "test_champion",
            "promoted",
            "decision",
            "decided_by",
            "promotion_reason",
        ):
            assert got[key] == want[key], (want["seq"], key)
        assert got["plan"] == want["plan"] and got["plan_reasons"] == want["plan_reasons"], want["seq"]
        assert got["plan_changes"] == want["plan_changes"], want["seq"]
        trials = {t["name"]: t for t in got["trial_objectives"]}
        assert set(trials) == {t["name"] for t in want["trial_objectives"]}, want["seq"]
        for t in want["trial_objectives"]:
            assert trials[t["name"]] == t, (want["seq"], t["name"])

    figs = figures(report)
    assert set(figs) == {"fig-trials", "fig-curves", "fig-compute", "fig-plan", "fig-champion"}
    every = {(r["seq"], t["name"]): t for r in summary["rounds"] for t in r["trial_objectives"]}

    # Each trial's curve, epoch by epoch, in its round's panel; hovering it names its hyperparameters and status.
    curves = {
        (c["meta"]["round"], c["meta"]["trial"]): c for c in figs["fig-curves"]["data"] if c.get("meta")
    }
    assert set(curves) == set(every)
    for key, t in every.items():
        trace = curves[key]
        assert trace["y"] == t["curve"], key
        assert trace["x"] == list(range(1, len(t["curve"]) + 1)), key
        hover = _text(trace["text"][0]) if t["curve"] else ""
        for name, value in t["hyperparameters"].items():
            assert f"{name} = {shown(value)}" in hover, (key, name)
        if t["curve"]:
            assert t["status"] in hover, key

    # Each trial with a final objective is a point of the first chart, its hover label naming its hyperparameters.
    points = {}
    for trace in figs["fig-trials"]["data"]:
        for (seq, name), y, text in zip(trace["customdata"], trace["y"], trace["text"], strict=True):
            points[(seq, name)] = (y, _text(text))
    assert set(points) == {k for k, t in every.items() if t["objective"] is not None}
    for key, (y, hover) in points.items():
        t = every[key]
        assert y == t["objective"], key
        assert t["status"] in hover and all(
            f"{n} = {shown(v)}" in hover for n, v in t["hyperparameters"].items()
        ), key

    compute = {trace["name"]: trace for trace in figs["fig-compute"]["data"]}
    assert compute["the round's compute"]["y"] == [r["compute"] for r in summary["rounds"]]
    assert compute["billable seconds"]["y"] == [r["billable_seconds"] for r in summary["rounds"]]
    by_kind = [trace for name, trace in compute.items() if name.endswith(" trials")]
    for i, r in enumerate(summary["rounds"]):
        spent = sum(t["compute"] or 0 for t in r["trial_objectives"])
        assert abs(sum(trace["y"][i] for trace in by_kind) - spent) < 1e-6, r["seq"]

    plan = {trace["meta"]["setting"]: trace for trace in figs["fig-plan"]["data"]}
    for setting, trace in plan.items():
        values = [r["plan"][setting] for r in summary["rounds"]]
        if setting == "warm_start_parents":
            values = [len(v or []) for v in values]
        assert trace["y"] == values, setting
        for r, hover in zip(summary["rounds"], trace["text"], strict=True):
            assert " ".join(r["plan_reasons"][setting].split()) in " ".join(_text(hover).split()), (
                setting,
                r,
            )
    numeric = {
        s
        for r in summary["rounds"]
        for s, v in r["plan"].items()
        if isinstance(v, int | float) and not isinstance(v, bool)
    }
    assert numeric <= set(plan), numeric - set(plan)

    champion = figs["fig-champion"]["data"]
    assert [trace["y"] for trace in champion] == [
        [r["test_challenger"] for r in summary["rounds"]],
        [r["test_champion"] for r in summary["rounds"]],
        [r["best_objective"] for r in summary["rounds"]],
    ]
