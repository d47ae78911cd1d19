"""The demo's outputs: the round table, summary.json and a self-contained report.html with inline SVG plots."""

from __future__ import annotations

import html
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from retune.records import RoundRecord, TrialRecord

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
PLAN_SETTINGS = ("max_jobs", "max_parallel_jobs", "max_jobs_not_improving", "max_runtime_seconds", "patience")


def round_summary(rnd: RoundRecord, trials: Sequence[TrialRecord]) -> dict[str, Any]:
    """One round as summary.json holds it."""
    evaluation, decision = rnd.evaluation, rnd.decision
    return {
        "seq": rnd.seq,
        "drop": rnd.drop_id,
        "status": rnd.status,
        "tuning_status": rnd.tuning_status,
        "trials": len(trials),
        "stopped_early": rnd.stopped_early,
        "failed": sum(t.status == "Failed" for t in trials),
        "compute": rnd.compute,
        "billable_seconds": rnd.billable_seconds,
        "objective_metric": rnd.objective_metric,
        "objective_type": rnd.objective_type,
        "best_objective": rnd.best_objective,
        "test_challenger": evaluation.challenger_score if evaluation else None,
        "test_champion": evaluation.champion_score if evaluation else None,
        "promoted": bool(decision and decision.outcome == "approved"),
        "decision": decision.outcome if decision else None,
        "decided_by": decision.decided_by if decision else None,
        "promotion_reason": decision.reason if decision else None,
        "plan": {name: _plain(rnd.plan.setting(name).value) for name in rnd.plan.SETTINGS},
        "plan_changes": [c.model_dump(by_alias=True, mode="json") for c in rnd.plan.changes()],
        "trial_objectives": [
            {
                "name": t.training_job_name,
                "status": t.status,
                "stopped_early": t.stopped_early,
                "objective": t.final_objective,
                "epochs": t.epochs,
                "compute": t.compute,
            }
            for t in sorted(trials, key=lambda t: t.training_job_name)
        ],
    }


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json")
    return value


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if abs(value) >= 1000:
            return f"{value:,.0f}" if abs(value) < 1e7 else f"{value:.3g}"
        return f"{value:.{digits}f}"
    return str(value)


def objective_of(rounds: Sequence[dict[str, Any]]) -> str:
    """The profile's objective metric as the rounds recorded it (`validation:rmse`)."""
    return next((r["objective_metric"] for r in rounds if r.get("objective_metric")), "objective")


def _by_a_person(rounds: Sequence[dict[str, Any]]) -> bool:
    return any(r.get("decided_by") not in (None, "retune") for r in rounds)


def _who(decided_by: str | None) -> str:
    """An IAM identity's readable end (`arn:aws:sts::1:assumed-role/ops/bob` -> `assumed-role/ops/bob`)."""
    if not decided_by:
        return "-"
    return decided_by.rsplit(":", 1)[-1] if decided_by.startswith("arn:") else decided_by


def table(rounds: Sequence[dict[str, Any]]) -> str:
    """The round table as the terminal shows it, then each round's plan changes with their reasons. When a person
    decided a round (a manual approval), a column says who decided each."""
    header = [
        "round",
        "drop",
        "trials",
        "stopped",
        "compute",
        f"best {objective_of(rounds)}",
        "test chal.",
        "test champ.",
        "decision",
    ]
    people = _by_a_person(rounds)
    if people:
        header.append("decided by")
    rows = [
        [
            str(r["seq"]),
            r["drop"],
            str(r["trials"]),
            str(r["stopped_early"]),
            _fmt(r["compute"], 0),
            _fmt(r["best_objective"]),
            _fmt(r["test_challenger"]),
            _fmt(r["test_champion"]),
            "promoted" if r["promoted"] else (r["decision"] or r["status"]),
            *([_who(r["decided_by"])] if people else []),
        ]
        for r in rounds
    ]
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header)]

    def line(cells: list[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(c.rjust(w) if 1 < i < 9 else c.ljust(w) for i, (c, w) in pairs).rstrip()

    out = [line(header), line(["-" * w for w in widths]), *(line(row) for row in rows), ""]
    for r in rounds:
        out.append(f"round {r['seq']}: {r['promotion_reason'] or r['status']}")
        for change in r["plan_changes"]:
            out.append(
                f"    plan: {change['setting']} {_short(change['from'])} -> {_short(change['to'])}: "
                f"{change['reason']}"
            )
    return "\n".join(out)


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


# -- SVG ---------------------------------------------------------------------------------------------------------

W, H, PAD = 640, 260, 48


def _scale(lo: float, hi: float, a: float, b: float) -> Any:
    span = (hi - lo) or 1.0
    return lambda v: a + (v - lo) / span * (b - a)


def _axes(title: str, y_lo: float, y_hi: float, x_labels: Sequence[str], y_label: str) -> list[str]:
    parts = [
        f'<text x="{W / 2}" y="18" text-anchor="middle" class="t">{html.escape(title)}</text>',
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 10}" y2="{H - PAD}" class="ax"/>',
        f'<line x1="{PAD}" y1="30" x2="{PAD}" y2="{H - PAD}" class="ax"/>',
        f'<text x="12" y="{H / 2}" transform="rotate(-90 12 {H / 2})" text-anchor="middle">{html.escape(y_label)}</text>',
    ]
    for i in range(5):
        v = y_lo + (y_hi - y_lo) * i / 4
        y = _scale(y_lo, y_hi, H - PAD, 30)(v)
        parts.append(f'<text x="{PAD - 4}" y="{y + 4}" text-anchor="end" class="s">{_fmt(v, 3)}</text>')
    step = (W - PAD - 20) / max(1, len(x_labels))
    for i, label in enumerate(x_labels):
        parts.append(
            f'<text x="{PAD + step * (i + 0.5)}" y="{H - PAD + 16}" text-anchor="middle" class="s">'
            f"{html.escape(label)}</text>"
        )
    return parts


def _svg(parts: list[str], name: str) -> str:
    body = "".join(parts)
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" data-plot="{name}">{body}</svg>'


def objective_plot(rounds: Sequence[dict[str, Any]]) -> str:
    """Each round's trials by their final objective; stopped-early trials hollow."""
    values = [t["objective"] for r in rounds for t in r["trial_objectives"] if t["objective"] is not None]
    if not values:
        return _svg(_axes("objective per trial (no data)", 0, 1, [], objective_of(rounds)), "objective")
    lo, hi = min(values), max(values)
    lo, hi = lo - 0.05 * (hi - lo or 1), hi + 0.05 * (hi - lo or 1)
    labels = [f"round {r['seq']}" for r in rounds]
    parts = _axes(
        "final objective of every trial, by round (hollow: stopped early)",
        lo,
        hi,
        labels,
        objective_of(rounds),
    )
    step = (W - PAD - 20) / max(1, len(rounds))
    y = _scale(lo, hi, H - PAD, 30)
    for i, r in enumerate(rounds):
        trials = [t for t in r["trial_objectives"] if t["objective"] is not None]
        for j, t in enumerate(trials):
            x = PAD + step * i + step * (j + 1) / (len(trials) + 1)
            color = PALETTE[i % len(PALETTE)]
            fill = "none" if t["stopped_early"] else color
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y(t["objective"]):.1f}" r="4" stroke="{color}" fill="{fill}">'
                f"<title>{html.escape(t['name'])}: {t['objective']:.4f} ({t['status']})</title></circle>"
            )
    return _svg(parts, "objective")


def bars_plot(rounds: Sequence[dict[str, Any]], key: str, title: str, y_label: str, name: str) -> str:
    values = [float(r[key] or 0) for r in rounds]
    hi = max(values) * 1.1 if values and max(values) > 0 else 1.0
    parts = _axes(title, 0, hi, [f"round {r['seq']}" for r in rounds], y_label)
    step = (W - PAD - 20) / max(1, len(rounds))
    y = _scale(0, hi, H - PAD, 30)
    for i, v in enumerate(values):
        x = PAD + step * i + step * 0.2
        parts.append(
            f'<rect x="{x:.1f}" y="{y(v):.1f}" width="{step * 0.6:.1f}" height="{H - PAD - y(v):.1f}" '
            f'fill="{PALETTE[0]}"><title>{v:g}</title></rect>'
        )
    return _svg(parts, name)


def lines_plot(
    rounds: Sequence[dict[str, Any]],
    series: dict[str, list[float | None]],
    title: str,
    y_label: str,
    name: str,
) -> str:
    values = [v for vs in series.values() for v in vs if v is not None and math.isfinite(v)]
    lo, hi = (min(values), max(values)) if values else (0.0, 1.0)
    lo, hi = lo - 0.05 * (hi - lo or 1), hi + 0.05 * (hi - lo or 1)
    parts = _axes(title, lo, hi, [f"round {r['seq']}" for r in rounds], y_label)
    step = (W - PAD - 20) / max(1, len(rounds))
    y = _scale(lo, hi, H - PAD, 30)
    for k, (label, vs) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        points = [
            (PAD + step * (i + 0.5), y(v)) for i, v in enumerate(vs) if v is not None and math.isfinite(v)
        ]
        if len(points) > 1:
            parts.append(
                '<polyline fill="none" stroke="{}" stroke-width="2" points="{}"/>'.format(
                    color, " ".join(f"{px:.1f},{py:.1f}" for px, py in points)
                )
            )
        for px, py in points:
            parts.append(f'<circle cx="{px:.1f}" cy="{py:.1f}" r="3" fill="{color}"/>')
        parts.append(
            f'<text x="{W - 150}" y="{40 + 14 * k}" fill="{color}" class="s">{html.escape(label)}</text>'
        )
    return _svg(parts, name)


def plan_plot(rounds: Sequence[dict[str, Any]]) -> str:
    """The plan's numeric settings across rounds, each as a share of its first round's value."""
    series: dict[str, list[float | None]] = {}
    for setting in PLAN_SETTINGS:
        raw = [r["plan"].get(setting) for r in rounds]
        base = next((v for v in raw if isinstance(v, int | float) and v), None)
        if base is None:
            continue
        series[setting] = [float(v) / base if isinstance(v, int | float) else None for v in raw]
    return lines_plot(
        rounds, series, "the plan's settings across rounds (share of round 1's value)", "x round 1", "plan"
    )


def write_report(path: Path, profile: str, rounds: Sequence[dict[str, Any]], notes: str = "") -> None:
    objective = objective_of(rounds)
    metric = objective.rsplit(":", 1)[-1]  # validation:rmse -> rmse: the same metric on test data
    people = _by_a_person(rounds)
    champion = {
        "challenger (test)": [r["test_challenger"] for r in rounds],
        "champion before the round (test)": [r["test_champion"] for r in rounds],
        "best validation": [r["best_objective"] for r in rounds],
    }
    plots = [
        objective_plot(rounds),
        bars_plot(
            rounds,
            "compute",
            "compute per round (the trainer's machine-independent count)",
            "compute",
            "compute",
        ),
        plan_plot(rounds),
        lines_plot(
            rounds, champion, "challenger and champion on each drop's held-out test data", metric, "champion"
        ),
    ]
    rows = "".join(
        "<tr>"
        + "".join(
            f"<td>{html.escape(_fmt(v))}</td>"
            for v in (
                r["seq"],
                r["drop"],
                r["trials"],
                r["stopped_early"],
                r["compute"],
                r["best_objective"],
                r["test_challenger"],
                r["test_champion"],
                "promoted" if r["promoted"] else r["decision"],
                *([_who(r["decided_by"])] if people else []),
            )
        )
        + f"<td>{html.escape(r['promotion_reason'] or '')}</td></tr>"
        for r in rounds
    )
    changes = (
        "".join(
            f"<li>round {r['seq']}: <b>{html.escape(c['setting'])}</b> {html.escape(_short(c['from']))} → "
            f"{html.escape(_short(c['to']))}: {html.escape(c['reason'])}</li>"
            for r in rounds
            for c in r["plan_changes"]
        )
        or "<li>none</li>"
    )
    path.write_text(
        f"""<!doctype html>
<html><head><meta charset="utf-8"><title>retune demo: {html.escape(profile)}</title>
<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 6px;font-size:13px}}
svg{{border:1px solid #eee;margin:8px 0}} .t{{font-weight:bold;font-size:13px}} .s{{font-size:11px}}
.ax{{stroke:#444}}</style></head><body>
<h1>retune demo: {html.escape(profile)}</h1>
<p>{html.escape(notes)}</p>
<table><tr><th>round</th><th>drop</th><th>trials</th><th>stopped early</th><th>compute</th><th>best {html.escape(objective)}</th>
<th>test {html.escape(metric)} challenger</th><th>test {html.escape(metric)} champion</th><th>decision</th>{"<th>decided by</th>" if people else ""}<th>why</th></tr>{rows}</table>
{"".join(plots)}
<h2>The plan's changes</h2><ul>{changes}</ul>
</body></html>
""",
        encoding="utf-8",
    )
