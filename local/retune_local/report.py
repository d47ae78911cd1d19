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
        "plan_reasons": {name: rnd.plan.setting(name).reason for name in rnd.plan.SETTINGS},
        "plan_changes": [c.model_dump(by_alias=True, mode="json") for c in rnd.plan.changes()],
        "trial_objectives": [
            {
                "name": t.training_job_name,
                "status": t.status,
                "source": t.source,
                "stopped_early": t.stopped_early,
                "objective": t.final_objective,
                "epochs": t.epochs,
                "compute": t.compute,
                "billable_seconds": t.billable_seconds,
                "hyperparameters": t.hyperparameters,
                "curve": t.objective_series,
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
            lines = readable_change(change)
            if len(lines) == 1:
                out.append(f"    plan: {lines[0]}: {change['reason']}")
            else:  # the ranges, moved for one reason
                out.append(f"    plan: {change['setting']}: {change['reason']}")
                out.extend(f"        {line_}" for line_ in lines)
    return "\n".join(out)


def _short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, str) else value
    return text if len(text) <= 60 else text[:57] + "..."


# -- the plan's changes, readable ----------------------------------------------------------------------------------

SCALING = {"Logarithmic": "log", "ReverseLogarithmic": "reverse log", "Linear": "linear"}


def _number(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def interval(rng: dict[str, Any]) -> str:
    """A range as people write it: `[0.01, 0.3]`, `{gbtree, dart}`."""
    if rng.get("type") == "categorical":
        return "{" + ", ".join(str(v) for v in rng.get("values", [])) + "}"
    return f"[{_number(rng.get('min_value'))}, {_number(rng.get('max_value'))}]"


def _scaling(rng: dict[str, Any]) -> str:
    return SCALING.get(rng.get("scaling") or "Auto", "")


def range_changes(before: list[dict[str, Any]] | None, after: list[dict[str, Any]] | None) -> list[str]:
    """What moved between two plans' ranges, one line a hyperparameter: `eta: [0.01, 0.3] -> [0.05, 0.2] (log)`."""
    old = {r["name"]: r for r in before or []}
    new = {r["name"]: r for r in after or []}
    out = []
    for name in [*new, *(n for n in old if n not in new)]:
        a, b = old.get(name), new.get(name)
        if a == b:
            continue
        if a is None:
            assert b is not None
            scale = f" ({_scaling(b)})" if _scaling(b) else ""
            out.append(f"{name}: added {interval(b)}{scale}")
        elif b is None:
            out.append(f"{name}: removed (was {interval(a)})")
        else:
            scales = (_scaling(a), _scaling(b))
            scale = scales[1] if scales[0] == scales[1] else f"{scales[0] or 'auto'} -> {scales[1] or 'auto'}"
            out.append(f"{name}: {interval(a)} -> {interval(b)}{f' ({scale})' if scale else ''}")
    return out


def _setting_value(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return "none" if not value else f"{len(value)}: {', '.join(str(v) for v in value)}"
    return _short(_number(value) if isinstance(value, float) else value)


def readable_change(change: dict[str, Any]) -> list[str]:
    """A plan change as lines people read: ranges as intervals, one line a hyperparameter; others `from -> to`."""
    if change["setting"] == "ranges":
        return range_changes(change["from"], change["to"]) or ["ranges: unchanged"]
    return [f"{change['setting']}: {_setting_value(change['from'])} -> {_setting_value(change['to'])}"]


# -- the page ------------------------------------------------------------------------------------------------------

COMPLETED, STOPPED, FAILED, INCUMBENT = "#1f77b4", "#ff7f0e", "#7f7f7f", "#111111"
NUMERIC_SETTINGS = (
    "max_jobs",
    "max_parallel_jobs",
    "max_jobs_not_improving",
    "max_runtime_seconds",
    "target_objective",
    "min_resource",
    "max_resource",
    "patience",
    "incumbents",
    "target_margin",
)
OTHER_SETTINGS = (
    "strategy",
    "early_stopping",
    "warm_start_type",
    "warm_start_parents",
    "complete_on_convergence",
)
SPARK = "▁▂▃▄▅▆▇█"


def _kind(trial: dict[str, Any]) -> str:
    """completed, stopped early, failed, or incumbent (issue 20's trials that retrain an earlier best on the drop)."""
    if trial.get("source") == "incumbent":
        return "incumbent"
    if trial.get("stopped_early"):
        return "stopped early"
    return "failed" if trial.get("status") == "Failed" else "completed"


def _wrap(text: str, width: int = 80) -> str:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return "<br>".join(html.escape(x) for x in [*lines, line])


def sparkline(curve: Sequence[float]) -> str:
    values = [v for v in curve if v is not None and math.isfinite(v)]
    if not values:
        return ""
    lo, hi = min(values), max(values)
    return "".join(SPARK[round((v - lo) / ((hi - lo) or 1) * (len(SPARK) - 1))] for v in values)


def shown(value: str) -> str:
    """A hyperparameter's value as a label shows it: numbers to 4 significant digits (0.01088376555705847 -> 0.01088)."""
    try:
        number = float(value)
    except ValueError:
        return value
    return value if number.is_integer() or not math.isfinite(number) else f"{number:.4g}"


def trial_hover(trial: dict[str, Any]) -> str:
    """What hovering a trial shows: its name, status, objective, compute, hyperparameters and curve."""
    curve = trial.get("curve") or []
    status = trial["status"] + (" (stopped early)" if trial.get("stopped_early") else "")
    if trial.get("source") == "incumbent":
        status += ", incumbent"
    lines = [
        f"<b>{html.escape(trial['name'])}</b>",
        f"status: {html.escape(status)}",
        f"objective: {_fmt(trial.get('objective'))} after {_fmt(trial.get('epochs'))} epochs",
        f"compute: {_fmt(trial.get('compute'), 0)}, billable {_fmt(trial.get('billable_seconds'))} s",
        *(
            f"{html.escape(k)} = {html.escape(shown(v))}"
            for k, v in sorted(trial.get("hyperparameters", {}).items())
        ),
    ]
    if curve:
        lines.append(f"curve: {sparkline(curve)} {_fmt(curve[0])} → {_fmt(curve[-1])} ({len(curve)} epochs)")
    return "<br>".join(lines)


def _round_label(r: dict[str, Any]) -> str:
    return f"round {r['seq']}<br>{r['drop']}"


def _layout(title: str, **more: Any) -> dict[str, Any]:
    return {
        "title": {"text": title, "x": 0.01, "font": {"size": 15}},
        "template": "plotly_white",
        "hoverlabel": {"align": "left", "font": {"size": 11}},
        "margin": {"l": 60, "r": 20, "t": 60, "b": 50},
        **more,
    }


def trials_figure(rounds: Sequence[dict[str, Any]]) -> Any:
    """Every trial's final objective, by round; hover for its hyperparameters, status and curve."""
    import plotly.graph_objects as go  # noqa: PLC0415 (the report only: not on any function's import path)

    points: dict[str, dict[str, list[Any]]] = {}
    for i, r in enumerate(rounds):
        trials = [t for t in r["trial_objectives"] if t.get("objective") is not None]
        for j, t in enumerate(trials):
            p = points.setdefault(_kind(t), {"x": [], "y": [], "text": [], "customdata": []})
            p["x"].append(i + (j + 1) / (len(trials) + 1) * 0.7 - 0.35)
            p["y"].append(t["objective"])
            p["text"].append(trial_hover(t))
            p["customdata"].append([r["seq"], t["name"]])
    styles: dict[str, dict[str, Any]] = {
        "completed": {"color": COMPLETED, "symbol": "circle"},
        "stopped early": {"color": STOPPED, "symbol": "circle-open", "line": {"width": 2}},
        "incumbent": {"color": INCUMBENT, "symbol": "diamond"},
    }
    fig = go.Figure(
        layout=_layout(
            "final objective of every trial, by round (hover a trial: its hyperparameters, status and curve)",
            xaxis={
                "tickvals": list(range(len(rounds))),
                "ticktext": [_round_label(r) for r in rounds],
                "range": [-0.5, len(rounds) - 0.5],
            },
            yaxis={"title": {"text": objective_of(rounds)}},
            height=380,
            legend={"orientation": "h", "y": 1.1, "x": 1, "xanchor": "right"},
        )
    )
    for kind, p in points.items():
        fig.add_trace(
            go.Scatter(
                name=kind,
                mode="markers",
                marker={"size": 9, **styles[kind]},
                hovertemplate="%{text}<extra></extra>",
                **p,
            )
        )
    return fig


def curves_figure(rounds: Sequence[dict[str, Any]]) -> Any:
    """Every trial's objective per epoch, one panel a round; stopped trials dashed and ending in a cross."""
    import plotly.graph_objects as go  # noqa: PLC0415
    from plotly.subplots import make_subplots  # noqa: PLC0415

    cols = 2 if len(rounds) > 1 else 1
    rows = max(1, math.ceil(len(rounds) / cols))
    titles = [
        f"round {r['seq']} · drop {r['drop']} · {r['trials']} trials, {r['stopped_early']} stopped early"
        + (f", {r['failed']} failed" if r.get("failed") else "")
        for r in rounds
    ]
    fig = make_subplots(
        rows=rows, cols=cols, subplot_titles=titles, horizontal_spacing=0.08, vertical_spacing=0.4 / rows
    )
    best_of = min
    palette = ["#1f77b4", "#2ca02c", "#9467bd", "#17becf", "#8c564b", "#e377c2", "#bcbd22", "#d62728"]
    for i, r in enumerate(rounds):
        if r.get("objective_type") == "Maximize":
            best_of = max
        finals = [t["objective"] for t in r["trial_objectives"] if t.get("objective") is not None]
        best = best_of(finals) if finals else None
        for j, t in enumerate(r["trial_objectives"]):
            curve = t.get("curve") or []
            kind = _kind(t)
            is_best = best is not None and t.get("objective") == best
            color = {"stopped early": STOPPED, "failed": FAILED, "incumbent": INCUMBENT}.get(
                kind, palette[j % len(palette)]
            )
            end = "x" if kind == "stopped early" else "diamond" if kind == "incumbent" else "circle"
            fig.add_trace(
                go.Scatter(
                    x=list(range(1, len(curve) + 1)),
                    y=curve,
                    mode="lines+markers",
                    name=t["name"],
                    meta={"trial": t["name"], "round": r["seq"], "best": is_best},
                    line={
                        "color": color,
                        "width": 3 if is_best else 1.5,
                        "dash": {"stopped early": "dash", "failed": "dot"}.get(kind, "solid"),
                    },
                    marker={
                        "symbol": end,
                        "size": [0] * (len(curve) - 1) + [10 if kind == "stopped early" else 6]
                        if curve
                        else [],
                        "color": color,
                    },
                    text=[trial_hover(t)] * len(curve),
                    hovertemplate="epoch %{x}: %{y:.4f}<br>%{text}<extra></extra>",
                    showlegend=False,
                ),
                row=i // cols + 1,
                col=i % cols + 1,
            )
        fig.update_xaxes(title_text="epoch", row=i // cols + 1, col=i % cols + 1)
        fig.update_yaxes(title_text=objective_of(rounds), row=i // cols + 1, col=i % cols + 1)
    for name, style in (
        ("completed", {"color": COMPLETED}),
        ("stopped early (dashed, ends in ✕)", {"color": STOPPED, "dash": "dash"}),
        ("failed", {"color": FAILED, "dash": "dot"}),
        ("best of its round (thick)", {"color": "#444", "width": 3}),
    ):
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=name, line=style, hoverinfo="skip"))
    if any(_kind(t) == "incumbent" for r in rounds for t in r["trial_objectives"]):
        fig.add_trace(
            go.Scatter(
                x=[None],
                y=[None],
                mode="lines",
                name="incumbent",
                line={"color": INCUMBENT},
                hoverinfo="skip",
            )
        )
    fig.update_layout(
        _layout(
            "the objective per epoch of every trial, one panel a round",
            height=330 * rows + 90,
            legend={"orientation": "h", "yref": "container", "y": 0, "yanchor": "bottom", "x": 0},
            margin={"l": 60, "r": 20, "t": 60, "b": 80},
            showlegend=True,
            hovermode="closest",
        )
    )
    return fig


def compute_figure(rounds: Sequence[dict[str, Any]]) -> Any:
    """Compute per round, split by what the trials became, and the billable seconds."""
    import plotly.graph_objects as go  # noqa: PLC0415
    from plotly.subplots import make_subplots  # noqa: PLC0415

    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=["compute (the trainer's machine-independent count)", "billable seconds"],
        horizontal_spacing=0.1,
    )
    labels = [_round_label(r) for r in rounds]
    first = rounds[0]["compute"] if rounds else None
    colors = {"completed": COMPLETED, "stopped early": STOPPED, "failed": FAILED, "incumbent": INCUMBENT}
    for kind, color in colors.items():
        values = [
            sum(t.get("compute") or 0 for t in r["trial_objectives"] if _kind(t) == kind) for r in rounds
        ]
        if not any(values):
            continue
        fig.add_trace(
            go.Bar(
                x=labels,
                y=values,
                name=f"{kind} trials",
                marker_color=color,
                hovertemplate=f"%{{x}}<br>{kind} trials: %{{y:,.0f}}<extra></extra>",
            ),
            row=1,
            col=1,
        )
    fig.add_trace(
        go.Scatter(
            x=labels,
            y=[r["compute"] for r in rounds],
            name="the round's compute",
            mode="markers+text",
            marker={"symbol": "line-ew-open", "size": 30, "color": "#222"},
            text=[
                _fmt(r["compute"], 0) + (f" ({r['compute'] / first:.1%} of round 1)" if i and first else "")
                for i, r in enumerate(rounds)
            ],
            textposition="top center",
            hovertemplate="%{x}<br>round compute: %{y:,.0f}<extra></extra>",
        ),
        row=1,
        col=1,
    )
    fig.add_trace(
        go.Bar(
            x=labels,
            y=[r.get("billable_seconds") for r in rounds],
            name="billable seconds",
            marker_color="#9467bd",
            text=[_fmt(r.get("billable_seconds")) for r in rounds],
            textposition="outside",
            hovertemplate="%{x}<br>billable: %{y:,} s<extra></extra>",
        ),
        row=1,
        col=2,
    )
    fig.update_yaxes(range=[0, max((r["compute"] or 0 for r in rounds), default=0) * 1.15 or 1], row=1, col=1)
    fig.update_yaxes(
        range=[0, max((r.get("billable_seconds") or 0 for r in rounds), default=0) * 1.15 or 1], row=1, col=2
    )
    fig.update_layout(
        _layout(
            "compute per round",
            barmode="stack",
            height=380,
            legend={"orientation": "h", "y": -0.2, "x": 0},
        )
    )
    return fig


def plan_figure(rounds: Sequence[dict[str, Any]]) -> Any:
    """The plan's numeric settings across rounds, one small panel each, with the reason on hover."""
    import plotly.graph_objects as go  # noqa: PLC0415
    from plotly.subplots import make_subplots  # noqa: PLC0415

    settings = [s for s in NUMERIC_SETTINGS if any(isinstance(r["plan"].get(s), int | float) for r in rounds)]
    settings.append("warm_start_parents")
    cols = 3
    rows = math.ceil(len(settings) / cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[s.replace("warm_start_parents", "warm-start parents (count)") for s in settings],
        vertical_spacing=0.5 / rows,
        horizontal_spacing=0.07,
    )
    for k, setting in enumerate(settings):
        values = [r["plan"].get(setting) for r in rounds]
        if setting == "warm_start_parents":
            values = [len(v or []) for v in values]
        hover = [
            f"round {r['seq']}: {setting} = {_setting_value(r['plan'].get(setting))}<br>"
            + _wrap(r.get("plan_reasons", {}).get(setting, ""))
            for r in rounds
        ]
        fig.add_trace(
            go.Scatter(
                x=[r["seq"] for r in rounds],
                y=values,
                mode="lines+markers",
                line={"shape": "hv", "color": COMPLETED},
                marker={"size": 8},
                text=hover,
                hovertemplate="%{text}<extra></extra>",
                showlegend=False,
                meta={"setting": setting},
            ),
            row=k // cols + 1,
            col=k % cols + 1,
        )
        fig.update_xaxes(
            tickvals=[r["seq"] for r in rounds], title_text="round", row=k // cols + 1, col=k % cols + 1
        )
    fig.update_yaxes(rangemode="tozero")
    fig.update_layout(
        _layout("the plan's settings across rounds (hover a point: the reason)", height=250 * rows + 70)
    )
    return fig


def champion_figure(rounds: Sequence[dict[str, Any]]) -> Any:
    """Challenger and champion on each drop's test window, the round's best validation score beside them."""
    import plotly.graph_objects as go  # noqa: PLC0415

    objective = objective_of(rounds)
    metric = objective.rsplit(":", 1)[-1]
    labels = [_round_label(r) for r in rounds]
    why = [
        f"{html.escape(r['decision'] or r['status'])}"
        + (f" by {html.escape(_who(r.get('decided_by')))}" if r.get("decided_by") else "")
        + f"<br>{_wrap(r.get('promotion_reason') or '')}"
        for r in rounds
    ]
    fig = go.Figure(
        layout=_layout(
            f"challenger and champion on each drop's held-out test data ({metric}); ★ the challenger was promoted",
            yaxis={"title": {"text": metric}},
            height=380,
            legend={"orientation": "h", "y": -0.25, "x": 0},
            hovermode="x unified",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=labels,
            y=[r["test_challenger"] for r in rounds],
            name=f"challenger (test {metric})",
            mode="lines+markers",
            line={"color": STOPPED, "width": 2},
            marker={
                "size": [16 if r["promoted"] else 9 for r in rounds],
                "symbol": ["star" if r["promoted"] else "circle" for r in rounds],
            },
            text=why,
            hovertemplate="%{y:.4f}<br>%{text}",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=labels,
            y=[r["test_champion"] for r in rounds],
            name=f"champion before the round (test {metric})",
            mode="lines+markers",
            line={"color": COMPLETED, "width": 2},
            marker={"size": 9},
            hovertemplate="%{y:.4f}",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=labels,
            y=[r["best_objective"] for r in rounds],
            name=f"best {objective} of the round",
            mode="lines+markers",
            line={"color": FAILED, "dash": "dot"},
            marker={"size": 7},
            hovertemplate="%{y:.4f}",
        )
    )
    return fig


def _json_for_script(value: Any) -> str:
    """JSON inside a <script> element: `</` escaped so that no value ends the element."""
    return json.dumps(value, default=str).replace("</", "<\\/")


OUTCOME = (("champion", champion_figure),)
FIGURES = (
    ("trials", trials_figure),
    ("curves", curves_figure),
    ("compute", compute_figure),
    ("plan", plan_figure),
)

SCRIPT = """
for (const spec of document.querySelectorAll('script[data-figure]')) {
  const fig = JSON.parse(spec.textContent);
  Plotly.newPlot(spec.dataset.figure, fig.data, fig.layout, {displaylogo: false, responsive: true});
}
// Hovering a trial in the first chart brings its curve forward in the curves' chart.
const trials = document.getElementById('fig-trials'), curves = document.getElementById('fig-curves');
function highlight(name) {
  const meta = curves.data.map(t => t.meta || {});
  Plotly.restyle(curves, {
    'line.width': meta.map(m => m.trial === name ? 5 : m.best ? 3 : 1.5),
    opacity: meta.map(m => name === null || !m.trial || m.trial === name ? 1 : 0.2),
  });
}
trials.on('plotly_hover', ev => highlight(ev.points[0].customdata[1]));
trials.on('plotly_unhover', () => highlight(null));
"""


def _plan_tables(rounds: Sequence[dict[str, Any]]) -> str:
    """The plan's other settings and its ranges per round, changed cells marked, the reason as a tooltip."""

    def cell(r: dict[str, Any], setting: str, text: str, changed: bool) -> str:
        reason = html.escape(r.get("plan_reasons", {}).get(setting, ""), quote=True)
        return f'<td title="{reason}"{" class=changed" if changed else ""}>{html.escape(text)}</td>'

    head = "".join(f"<th>round {r['seq']}</th>" for r in rounds)
    rows = []
    for setting in OTHER_SETTINGS:
        cells, last = [], None
        for i, r in enumerate(rounds):
            value = r["plan"].get(setting)
            cells.append(cell(r, setting, _setting_value(value), i > 0 and value != last))
            last = value
        rows.append(f"<tr><th>{setting}</th>{''.join(cells)}</tr>")
    names = list(dict.fromkeys(g["name"] for r in rounds for g in r["plan"].get("ranges") or []))
    for name in names:
        cells, last = [], None
        for i, r in enumerate(rounds):
            rng = next((g for g in r["plan"].get("ranges") or [] if g["name"] == name), None)
            text = "-" if rng is None else interval(rng) + (f" ({_scaling(rng)})" if _scaling(rng) else "")
            cells.append(cell(r, "ranges", text, i > 0 and rng != last))
            last = rng
        rows.append(f"<tr><th>range {html.escape(name)}</th>{''.join(cells)}</tr>")
    return f"<table class=plan><tr><th>setting</th>{head}</tr>{''.join(rows)}</table>"


def report_data(profile: str, rounds: Sequence[dict[str, Any]], notes: str) -> dict[str, Any]:
    """What the page's charts are drawn from, embedded in it as JSON: the rounds as summary.json holds them, each
    with its plan's changes as readable lines."""
    return {
        "profile": profile,
        "notes": notes,
        "objective_metric": objective_of(rounds),
        "rounds": [
            {**r, "plan_changes_readable": [line for c in r["plan_changes"] for line in readable_change(c)]}
            for r in rounds
        ],
    }


def write_report(path: Path, profile: str, rounds: Sequence[dict[str, Any]], notes: str = "") -> None:
    """One self-contained page (plotly.js inlined: no network) of plotly charts drawn from the rounds."""
    from plotly.offline import get_plotlyjs  # noqa: PLC0415

    objective = objective_of(rounds)
    metric = objective.rsplit(":", 1)[-1]  # validation:rmse -> rmse: the same metric on test data
    people = _by_a_person(rounds)
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
        + f"<td class=why>{html.escape(r['promotion_reason'] or '')}</td></tr>"
        for r in rounds
    )
    changes = (
        "".join(
            f"<li>round {r['seq']}: "
            + (
                f"<b>{html.escape(lines[0])}</b>"
                if len(lines := readable_change(c)) == 1
                else f"<b>{html.escape(c['setting'])}</b><ul>"
                + "".join(f"<li><b>{html.escape(line)}</b></li>" for line in lines)
                + "</ul>"
            )
            + f"<span class=reason>{html.escape(c['reason'])}</span></li>"
            for r in rounds
            for c in r["plan_changes"]
        )
        or "<li>none</li>"
    )

    def figures(which: Sequence[tuple[str, Any]]) -> str:
        return "".join(
            f'<div id="fig-{name}" class=fig></div><script type="application/json" data-figure="fig-{name}">'
            f"{_json_for_script(build(rounds).to_plotly_json())}</script>"
            for name, build in which
        )

    data = _json_for_script(report_data(profile, rounds, notes))
    path.write_text(
        f"""<!doctype html>
<html><head><meta charset="utf-8"><title>retune demo: {html.escape(profile)}</title>
<style>body{{font-family:sans-serif;max-width:1300px;margin:1.5em auto;color:#222}}
table{{border-collapse:collapse;margin:8px 0}}td,th{{border:1px solid #ccc;padding:3px 6px;font-size:13px}}
th{{background:#f4f4f4;text-align:left}} td.why{{font-size:12px;color:#444;max-width:420px}}
td.changed{{background:#fff3cd;font-weight:bold}} .fig{{margin:14px 0;border:1px solid #eee}}
ul.changes li{{font-size:13px;margin:6px 0}} .reason{{color:#555;display:block}} h2{{margin-top:1.6em}}</style></head><body>
<h1>retune demo: {html.escape(profile)}</h1>
<p>{html.escape(notes)}</p>
<script type="application/json" id="retune-report-data">{data}</script>
<table><tr><th>round</th><th>drop</th><th>trials</th><th>stopped early</th><th>compute</th><th>best {html.escape(objective)}</th>
<th>test {html.escape(metric)} challenger</th><th>test {html.escape(metric)} champion</th><th>decision</th>{"<th>decided by</th>" if people else ""}<th>why</th></tr>{rows}</table>
{figures(OUTCOME)}
<h2>Trials, compute and the plan</h2>
{figures(FIGURES)}
<h2>The plan per round</h2>
<p>Changed settings are marked; hover a cell for the reason.</p>
{_plan_tables(rounds)}
<h2>The plan's changes</h2><ul class=changes>{changes}</ul>
<script>{get_plotlyjs()}</script>
<script>{SCRIPT}</script>
</body></html>
""",
        encoding="utf-8",
    )
