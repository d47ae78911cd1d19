"""The efficiency benchmark (issue 8): retune's rounds against AMT-default, Bayesian without early stopping, Random
with `Auto` and Hyperband, over consecutive drops of the demo's market data, on both workloads.

    make bench-efficiency     # .venv/bin/python -m benchmarks.efficiency  (8 drops x 5 seeds x 5 arms x 2 workloads)
    make bench-policy         # the fast loop for tuning the policy: one workload, 3 seeds, 4 rounds, 2 arms
    .venv/bin/python -m benchmarks.efficiency --quick          # harness smoke check, under a minute
    .venv/bin/python -m benchmarks.efficiency --report-only    # rebuild the JSON and docs from what ran

Every arm runs through the local SageMaker service's tuning engine in deterministic mode with the warm runner; the
handlers are bypassed, but every plan is the one the service would make (benchmarks/efficiency_harness.py). Runs
are cached per (workload, arm, seed, round) under `--work`, so an interrupted run resumes, and `--report-only`
reports whatever has run, with the scale actually run written next to the numbers.

Regret is measured against the frozen reference (benchmarks/results/reference.json, `make bench-reference`).
"""

from __future__ import annotations

import argparse
import html
import json
import math
import shlex
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retune_local import market

from benchmarks.efficiency_harness import ARMS, ROOT, WORKLOADS, Task, cached_rows, finite, make_task, run_all

RESULTS = ROOT / "benchmarks" / "results"
REFERENCE = RESULTS / "reference.json"
DOC = ROOT / "docs" / "benchmarks.md"
FIRST_WINDOW = "2015-01-01"
QUICK_TICKERS = ("AAPL", "JPM", "XOM")
ARM_LABELS = {
    "amt_default": "AMT-default (Bayesian, Auto, 20 trials)",
    "bayesian_no_es": "Bayesian, early stopping Off",
    "random_auto": "Random, Auto",
    "hyperband": "Hyperband",
    "retune": "retune (its policy)",
}
COLORS = {
    "amt_default": "#1f77b4",
    "bayesian_no_es": "#7f7f7f",
    "random_auto": "#2ca02c",
    "hyperband": "#9467bd",
    "retune": "#d62728",
}
GOAL = {"compute_ratio": 0.20, "xgb_mean_regret_pct": 1.0, "worst_regret_pct": 2.5}
FROM_ROUND = 3


def _mean(values: list[float]) -> float | None:
    values = [v for v in values if finite(v)]
    return statistics.fmean(values) if values else None


def _round(value: Any, digits: int = 6) -> Any:
    return round(value, digits) if finite(value) else value


def references(path: Path) -> dict[str, dict[str, float]]:
    if not path.is_file():
        return {}
    doc = json.loads(path.read_text())
    return {w: {d: v["best_validation_rmse"] for d, v in doc.get(w, {}).items()} for w in WORKLOADS}


def ridge_floor(specs: list[market.DropSpec]) -> dict[str, dict[str, float]]:
    return {s.drop_id: market.ridge_baseline(s) for s in specs}


def assemble(
    workload: str,
    arms: list[str],
    seeds: list[int],
    rounds: int,
    specs: list[market.DropSpec],
    work: Path,
    reference: dict[str, float],
    ridge: dict[str, dict[str, float]],
    max_jobs: int | None,
    tickers: tuple[str, ...] | None,
) -> dict[str, Any]:
    """The workload's part of efficiency.json: per arm, per round, the mean over the seeds that ran it."""
    rows: dict[str, dict[int, list[dict[str, Any]]]] = {}
    for arm in arms:
        for seed in seeds:
            task = make_task(workload, arm, seed, tuple(specs), max_jobs, tickers)
            for row in cached_rows(task, work, rounds):
                rows.setdefault(arm, {}).setdefault(seed, []).append(row)
    # Where the frozen reference lacks a window (quick mode), the best any arm found stands in, and says so.
    best_found = {
        s.drop_id: min(
            (
                r["best_validation_rmse"]
                for by_seed in rows.values()
                for seq in by_seed.values()
                for r in seq
                if r["drop"] == s.drop_id and finite(r["best_validation_rmse"])
            ),
            default=math.nan,
        )
        for s in specs
    }
    for drop, value in reference.items():
        if drop in best_found:
            best_found[drop] = min(best_found[drop], value) if finite(best_found[drop]) else value
    ref = {d: reference.get(d, best_found[d]) for d in best_found}
    out_arms: dict[str, Any] = {}
    for arm, by_seed in rows.items():
        arm_rounds = []
        for seq in range(1, rounds + 1):
            cells = [r[seq - 1] for r in by_seed.values() if len(r) >= seq]
            if not cells:
                break
            drop = cells[0]["drop"]
            for cell in cells:
                best = cell["best_validation_rmse"]
                cell["regret_pct"] = _round(100 * (best / ref[drop] - 1), 4) if finite(best) else None
                cell["regret_vs_best_found_pct"] = (
                    _round(100 * (best / best_found[drop] - 1), 4) if finite(best) else None
                )
            regrets = [c["regret_pct"] for c in cells if finite(c["regret_pct"])]
            arm_rounds.append(
                {
                    "round": seq,
                    "drop": drop,
                    "seeds": len(cells),
                    "compute": _round(_mean([c["compute"] for c in cells]), 1),
                    "cpu_seconds": _round(_mean([c["cpu_seconds"] for c in cells]), 2),
                    "trials": _round(_mean([c["trials"] for c in cells]), 2),
                    "stopped_early": _round(_mean([c["stopped_early"] for c in cells]), 2),
                    "best_validation_rmse": _round(_mean([c["best_validation_rmse"] for c in cells])),
                    "reference_validation_rmse": _round(ref[drop]),
                    "regret_pct": _round(_mean(regrets), 4),
                    "worst_regret_pct": _round(max(regrets), 4) if regrets else None,
                    "regret_vs_best_found_pct": _round(
                        _mean([c["regret_vs_best_found_pct"] for c in cells]), 4
                    ),
                    "test_rmse": _round(_mean([c["best_trial_test_rmse"] for c in cells])),
                    "served_test_rmse": _round(_mean([c["served_test_rmse"] for c in cells])),
                    "promoted": sum(bool(c["promoted"]) for c in cells),
                    "ridge_validation_rmse": _round(ridge[drop]["validation_rmse"]),
                    "ridge_test_rmse": _round(ridge[drop]["test_rmse"]),
                    "per_seed": [
                        {
                            k: c[k]
                            for k in (
                                "planned_trials",
                                "parallel",
                                "warm_start_parents",
                                "trials",
                                "stopped_early",
                                "tuning_status",
                                "compute",
                                "cpu_seconds",
                                "wall_seconds",
                                "best_validation_rmse",
                                "regret_pct",
                                "best_trial_test_rmse",
                                "served_test_rmse",
                                "promoted",
                                "plan_changes",
                            )
                        }
                        | {"seed": s}
                        for s, c in ((s, r[seq - 1]) for s, r in by_seed.items() if len(r) >= seq)
                    ],
                }
            )
        out_arms[arm] = {"rounds": arm_rounds}
    return {
        "arms": out_arms,
        **split_summary(summary(rows, ref)),
        "ridge_floor": ridge_vs_tuned(out_arms, ridge),
        "reference": {
            "kind": "frozen"
            if all(s.drop_id in reference for s in specs)
            else "best any arm found (no frozen value)",
            "validation_rmse": {d: _round(v) for d, v in ref.items()},
        },
        "scale": {
            "drops": len(specs),
            "rounds_run": {a: {str(s): len(r) for s, r in by.items()} for a, by in rows.items()},
            "seeds": seeds,
            "max_jobs": max_jobs or 20,
            "tickers": list(tickers) if tickers else "all 20",
        },
    }


def ridge_vs_tuned(arms: dict[str, Any], ridge: dict[str, dict[str, float]]) -> dict[str, Any]:
    """What tuning buys over an untuned Ridge, per arm: mean RMSE of the arm's best trials over mean Ridge RMSE on
    the same windows (below 1: tuning wins), on validation and on test."""
    out: dict[str, Any] = {}
    for arm, a in arms.items():
        rounds = [r for r in a["rounds"] if finite(r["best_validation_rmse"]) and finite(r["test_rmse"])]
        if not rounds:
            continue
        val = statistics.fmean(r["best_validation_rmse"] for r in rounds)
        test = statistics.fmean(r["test_rmse"] for r in rounds)
        out[arm] = {
            "validation_ratio": round(
                val / statistics.fmean(ridge[r["drop"]]["validation_rmse"] for r in rounds), 4
            ),
            "test_ratio": round(test / statistics.fmean(ridge[r["drop"]]["test_rmse"] for r in rounds), 4),
            "rounds": len(rounds),
        }
    return out


def _paired(
    rows: dict[str, dict[int, list[dict[str, Any]]]], arm: str
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(arm's row, AMT-default's row) for every seed and round from FROM_ROUND that both ran."""
    pairs = []
    for seed, seq in rows.get(arm, {}).items():
        base = rows.get("amt_default", {}).get(seed, [])
        for i in range(FROM_ROUND - 1, min(len(seq), len(base))):
            pairs.append((seq[i], base[i]))
    return pairs


def summary(rows: dict[str, dict[int, list[dict[str, Any]]]], ref: dict[str, float]) -> dict[str, Any]:
    """The issue's summary, over rounds 3+ where retune and AMT-default both ran (same seeds, same rounds)."""
    pairs = _paired(rows, "retune")
    if not pairs:
        return {
            "retune_vs_amt_default_compute_ratio_rounds_3plus": None,
            "retune_mean_regret_pct_rounds_3plus": None,
            "retune_worst_regret_pct_rounds_3plus": None,
            "amt_default_mean_regret_pct_rounds_3plus": None,
            "retune_vs_amt_default_test_rmse_ratio": None,
            "pairs": 0,
        }
    ours = [p[0] for p in pairs]
    base = [p[1] for p in pairs]
    compute_ratio = sum(r["compute"] for r in ours) / sum(r["compute"] for r in base)
    cpu_ratio = sum(r["cpu_seconds"] for r in ours) / sum(r["cpu_seconds"] for r in base)
    regret = [100 * (r["best_validation_rmse"] / ref[r["drop"]] - 1) for r in ours]
    base_regret = [100 * (r["best_validation_rmse"] / ref[r["drop"]] - 1) for r in base]
    test_ratio = statistics.fmean(r["best_trial_test_rmse"] for r in ours) / statistics.fmean(
        r["best_trial_test_rmse"] for r in base
    )
    served_ratio = statistics.fmean(r["served_test_rmse"] for r in ours) / statistics.fmean(
        r["served_test_rmse"] for r in base
    )
    return {
        "retune_vs_amt_default_compute_ratio_rounds_3plus": round(compute_ratio, 4),
        "retune_mean_regret_pct_rounds_3plus": round(statistics.fmean(regret), 4),
        "retune_worst_regret_pct_rounds_3plus": round(max(regret), 4),
        "amt_default_mean_regret_pct_rounds_3plus": round(statistics.fmean(base_regret), 4),
        "retune_vs_amt_default_test_rmse_ratio": round(test_ratio, 5),
        "retune_vs_amt_default_cpu_seconds_ratio_rounds_3plus": round(cpu_ratio, 4),
        "retune_vs_amt_default_served_test_rmse_ratio": round(served_ratio, 5),
        "pairs": len(pairs),
    }


SUMMARY_KEYS = (
    "retune_vs_amt_default_compute_ratio_rounds_3plus",
    "retune_mean_regret_pct_rounds_3plus",
    "retune_worst_regret_pct_rounds_3plus",
    "amt_default_mean_regret_pct_rounds_3plus",
    "retune_vs_amt_default_test_rmse_ratio",
)


def split_summary(full: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The issue's five keys as `summary`, everything else (CPU and served-model ratios, pairs) beside it."""
    return {
        "summary": {k: full[k] for k in SUMMARY_KEYS},
        "summary_details": {k: v for k, v in full.items() if k not in SUMMARY_KEYS},
    }


def merged(part: dict[str, Any]) -> dict[str, Any]:
    return {**part["summary"], **part.get("summary_details", {})}


def verdict(workload: str, s: dict[str, Any]) -> dict[str, bool | None]:
    """Each clause of the goal, for one workload: True, False, or None when it was not measured."""
    if s.get("pairs", 0) == 0:
        return {k: None for k in ("compute", "regret_vs_amt", "regret_xgb_1pct", "worst", "test")}
    return {
        "compute": s["retune_vs_amt_default_compute_ratio_rounds_3plus"] <= GOAL["compute_ratio"],
        "regret_vs_amt": s["retune_mean_regret_pct_rounds_3plus"]
        <= s["amt_default_mean_regret_pct_rounds_3plus"],
        "regret_xgb_1pct": (
            s["retune_mean_regret_pct_rounds_3plus"] <= GOAL["xgb_mean_regret_pct"]
            if workload == "xgb"
            else None
        ),
        "worst": s["retune_worst_regret_pct_rounds_3plus"] <= GOAL["worst_regret_pct"],
        "test": s["retune_vs_amt_default_test_rmse_ratio"] <= 1.0,
    }


# -- the plot: compute against regret, a point per arm and round ---------------------------------------------------

W, H, PAD = 720, 380, 60


def plot(result: dict[str, Any], workload: str) -> str:
    """SVG: x = the round's compute relative to AMT-default's in the same round (mean over seeds), y = mean
    regret (%) against the frozen reference. One point per arm and round, labelled with the round."""
    arms = result[workload]["arms"]
    base = {r["round"]: r["compute"] for r in arms.get("amt_default", {}).get("rounds", [])}
    points = [
        (arm, r["round"], r["compute"] / base[r["round"]], r["regret_pct"])
        for arm, a in arms.items()
        for r in a["rounds"]
        if r["round"] in base and finite(r["compute"]) and base[r["round"]] and finite(r["regret_pct"])
    ]
    title = f"{workload}: compute per round (x AMT-default's) against regret (%)"
    if not points:
        return f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="80"><text x="10" y="40">{title}: no data</text></svg>'
    x_hi = max(1.1, max(p[2] for p in points) * 1.05)
    y_lo = min(0.0, *(p[3] for p in points))
    y_hi = max(p[3] for p in points)
    y_hi = y_hi + 0.08 * ((y_hi - y_lo) or 1)

    def sx(v: float) -> float:
        return float(PAD + v / x_hi * (W - PAD - 170))

    def sy(v: float) -> float:
        return float(H - PAD - (v - y_lo) / ((y_hi - y_lo) or 1) * (H - PAD - 30))

    parts = [
        "<style>text{font:11px sans-serif}.t{font-size:13px;font-weight:bold}.ax{stroke:#333}.g{stroke:#ddd}</style>",
        f'<text x="{(W - 110) / 2}" y="18" text-anchor="middle" class="t">{html.escape(title)}</text>',
        f'<line x1="{PAD}" y1="{H - PAD}" x2="{W - 160}" y2="{H - PAD}" class="ax"/>',
        f'<line x1="{PAD}" y1="30" x2="{PAD}" y2="{H - PAD}" class="ax"/>',
        f'<text x="{(W - 110) / 2}" y="{H - 18}" text-anchor="middle">compute / AMT-default compute, same round</text>',
        f'<text x="14" y="{H / 2}" transform="rotate(-90 14 {H / 2})" text-anchor="middle">regret vs reference (%)</text>',
    ]
    for i in range(6):
        xv = x_hi * i / 5
        parts.append(f'<line x1="{sx(xv):.1f}" y1="30" x2="{sx(xv):.1f}" y2="{H - PAD}" class="g"/>')
        parts.append(f'<text x="{sx(xv):.1f}" y="{H - PAD + 14}" text-anchor="middle">{xv:.2f}</text>')
        yv = y_lo + (y_hi - y_lo) * i / 5
        parts.append(f'<line x1="{PAD}" y1="{sy(yv):.1f}" x2="{W - 160}" y2="{sy(yv):.1f}" class="g"/>')
        parts.append(f'<text x="{PAD - 4}" y="{sy(yv) + 4:.1f}" text-anchor="end">{yv:.2f}</text>')
    goal_x = sx(GOAL["compute_ratio"])
    parts.append(
        f'<line x1="{goal_x:.1f}" y1="30" x2="{goal_x:.1f}" y2="{H - PAD}" stroke="#d62728" stroke-dasharray="4 3"/>'
    )
    if y_lo <= GOAL["worst_regret_pct"] <= y_hi:
        gy = sy(GOAL["worst_regret_pct"])
        parts.append(
            f'<line x1="{PAD}" y1="{gy:.1f}" x2="{W - 160}" y2="{gy:.1f}" stroke="#d62728" stroke-dasharray="4 3"/>'
        )
    for arm, seq, x, y in points:
        parts.append(
            f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="7" fill="{COLORS[arm]}" fill-opacity="0.75">'
            f"<title>{html.escape(ARM_LABELS[arm])}, round {seq}: {x:.3f}x compute, {y:.2f}% regret</title></circle>"
            f'<text x="{sx(x):.1f}" y="{sy(y) + 4:.1f}" text-anchor="middle" fill="#fff" font-size="9">{seq}</text>'
        )
    for i, arm in enumerate(a for a in ARMS if a in arms):
        y = 40 + 18 * i
        parts.append(f'<circle cx="{W - 150}" cy="{y}" r="6" fill="{COLORS[arm]}"/>')
        parts.append(f'<text x="{W - 140}" y="{y + 4}">{html.escape(arm)}</text>')
    parts.append(
        f'<text x="{W - 150}" y="{40 + 18 * 6}">dashed: goal</text>'
        f'<text x="{W - 150}" y="{40 + 18 * 7}">(0.20x compute, 2.5%)</text>'
        f'<text x="{W - 150}" y="{40 + 18 * 8}">number: round</text>'
    )
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}">{"".join(parts)}</svg>\n'


# -- docs/benchmarks.md -------------------------------------------------------------------------------------------


def _f(value: Any, fmt: str) -> str:
    return format(value, fmt) if finite(value) else "–"


def _tick(ok: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "not measured"}[ok]


def markdown(result: dict[str, Any], run: dict[str, Any], plots: dict[str, str]) -> str:
    lines = [
        "# Efficiency benchmark",
        "",
        "How much training retune saves across a stream of data drops, and what that costs in model quality",
        "(issue 8). Produced by `benchmarks/efficiency.py`; every number below is in",
        "[benchmarks/results/efficiency.json](../benchmarks/results/efficiency.json).",
        "",
        "## What ran",
        "",
        run["what_ran"],
        "",
        "## The goal, and where it stands",
        "",
        "From round 3 on, on both workloads, side by side in one run: retune spends at most 0.20x AMT-default's",
        "compute; its mean regret is no higher than AMT-default's, and at most 1.0% on XGBoost; no round is worse",
        "than 2.5%; the test-window RMSE of what it promotes is no worse than AMT-default's.",
        "",
        "| workload | seed-rounds compared | compute ratio (goal ≤ 0.20) | CPU-s ratio | retune mean regret | AMT-default mean regret | retune worst round | test RMSE ratio (≤ 1) | served-model test RMSE ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for workload in WORKLOADS:
        s = merged(result[workload])
        if not s.get("pairs"):
            lines.append(f"| {workload} | 0 (not run) | – | – | – | – | – | – | – |")
            continue
        lines.append(
            f"| {workload} | {s['pairs']} | {s['retune_vs_amt_default_compute_ratio_rounds_3plus']:.3f} "
            f"| {s['retune_vs_amt_default_cpu_seconds_ratio_rounds_3plus']:.3f} "
            f"| {s['retune_mean_regret_pct_rounds_3plus']:.2f}% | {s['amt_default_mean_regret_pct_rounds_3plus']:.2f}% "
            f"| {s['retune_worst_regret_pct_rounds_3plus']:.2f}% | {s['retune_vs_amt_default_test_rmse_ratio']:.4f} "
            f"| {s['retune_vs_amt_default_served_test_rmse_ratio']:.4f} |"
        )
    lines += ["", "Clause by clause:", ""]
    for workload in WORKLOADS:
        v = verdict(workload, merged(result[workload]))
        lines.append(
            f"- **{workload}**: compute ≤ 0.20x: {_tick(v['compute'])}; mean regret ≤ AMT-default's: "
            f"{_tick(v['regret_vs_amt'])}"
            + (f"; mean regret ≤ 1.0%: {_tick(v['regret_xgb_1pct'])}" if workload == "xgb" else "")
            + f"; no round above 2.5%: {_tick(v['worst'])}; test RMSE no worse: {_tick(v['test'])}."
        )
    lines += [
        "",
        "What tuning buys over an untuned Ridge (mean RMSE of each arm's best trial over Ridge's on the same"
        " windows, all rounds run; below 1 means the tuned model is better):",
        "",
        "| workload | arm | validation ratio | test ratio |",
        "|---|---|---|---|",
    ]
    for workload in WORKLOADS:
        for arm, v in result[workload].get("ridge_floor", {}).items():
            lines.append(f"| {workload} | {arm} | {v['validation_ratio']:.4f} | {v['test_ratio']:.4f} |")
    lines += ["", run["reading"], ""]
    for workload in WORKLOADS:
        arms = result[workload]["arms"]
        lines += [f"## {workload}: per arm and round (mean over the seeds that ran)", ""]
        if not arms:
            lines += ["Not run at this scale (see *What ran*).", ""]
            continue
        lines += [
            f"![compute against regret, {workload}]({plots[workload]})",
            "",
            "| arm | round | drop | seeds | trials | stopped early | compute | CPU-s | best val RMSE | regret % | worst % "
            "| test RMSE of best trial | served test RMSE | Ridge test RMSE |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for arm in ARMS:
            for r in arms.get(arm, {}).get("rounds", []):
                lines.append(
                    f"| {arm} | {r['round']} | {r['drop']} | {r['seeds']} | {_f(r['trials'], '.1f')} "
                    f"| {_f(r['stopped_early'], '.1f')} | {_f(r['compute'], '.3g')} | {_f(r['cpu_seconds'], '.1f')} "
                    f"| {_f(r['best_validation_rmse'], '.5f')} | {_f(r['regret_pct'], '.2f')} "
                    f"| {_f(r['worst_regret_pct'], '.2f')} | {_f(r['test_rmse'], '.5f')} "
                    f"| {_f(r['served_test_rmse'], '.5f')} | {_f(r['ridge_test_rmse'], '.5f')} |"
                )
        lines.append("")
    lines += [run["definitions"], ""]
    return "\n".join(lines)


DEFINITIONS = """## Definitions

- **compute**: the trainers' machine-independent count (`train:compute`: tree nodes built for XGBoost; the MLP's
  multiply-accumulate count, trainers/market_volatility/README.md), the last value each trial emitted, summed over
  all trials of the round, stopped ones included. **CPU-s**: the trials' processes' CPU time as the local service
  measured it (`LocalCpuTimeInSeconds`), on a shared 2-core machine: noisy, compute is the number to trust.
- **regret**: (round's best validation RMSE / the frozen reference's best validation RMSE on the same window - 1) in
  %. The reference (benchmarks/results/reference.json, `make bench-reference`) is a separate large search; an arm
  can beat it (negative regret). `regret_vs_best_found_pct` in the JSON uses the best any search found instead.
- **test RMSE of best trial**: the model of the round's best trial (what CloseRound hands to the evaluation as the
  challenger) scored on the window's held-out test rows. **served test RMSE**: what retune's champion/challenger
  evaluation leaves serving after the round (the challenger only if it beats the champion on the same test data
  by the profile's margin, `promotion.judge`), scored on the same rows; applied to every arm alike.
- **Ridge**: an untuned Ridge regression (standardized features, alpha 1) on the same window: the floor tuning
  must beat (`market.ridge_baseline`).
- **Arms**: AMT-default is the profile as shipped (Bayesian, `Auto`, 20 trials, 2 in parallel, full ranges), re-run
  unchanged on every drop; the next three change only strategy or early stopping (Hyperband: MinResource 1,
  MaxResource the trainer's whole budget: 30 emissions for XGBoost, 60 epochs for the MLP); retune starts from the
  same profile and then follows `plan_next_round` round after round, warm start included. Every arm's seed `s`
  sets the profile's `RandomSeed` to 7 + 1000 s for all its rounds.
- **Harness**: benchmarks/efficiency_harness.py runs each tuning job in the local SageMaker service (deterministic
  mode, warm runner, moto S3), builds the trial records with `trials.trial_from_description` (DescribeTrainingJob
  plus the objective series the service recorded from the job's emissions) and the round record with
  `close_round.summarize`, fills in the evaluation and decision as Promote does, and asks `plan_next_round` for
  the next plan, as Promote's re-plan does once the evaluation is in."""


def build_tasks(
    workloads: list[str],
    arms: list[str],
    seeds: list[int],
    specs: list[market.DropSpec],
    max_jobs: int | None,
    tickers: tuple[str, ...] | None,
) -> list[Task]:
    # The summary's pair (AMT-default and retune) of seed s first, the other arms of seed s after the pair of seed
    # s + 1, XGBoost before the MLP: a run cut short has paired seeds on both workloads and every arm of seed 1.
    tasks = [(seed, w, arm) for seed in seeds for w in workloads for arm in arms]
    order = sorted(
        tasks,
        key=lambda t: (
            t[0] + (0 if t[2] in ("amt_default", "retune") else 1.5),
            workloads.index(t[1]),
            arms.index(t[2]),
        ),
    )
    return [make_task(w, arm, seed, tuple(specs), max_jobs, tickers) for seed, w, arm in order]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.efficiency", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=list(WORKLOADS))
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=list(ARMS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--max-jobs", type=int, help="override the profiles' trials per round")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--work", type=Path)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--doc", type=Path)
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    parser.add_argument("--report-only", action="store_true", help="report what has run, run nothing")
    parser.add_argument(
        "--quick", action="store_true", help="harness smoke check: tiny drops, 3 rounds of 3 trials, < 60 s"
    )
    parser.add_argument("--policy-loop", action="store_true", help="one workload, 3 seeds, 4 rounds, 2 arms")
    args = parser.parse_args(argv)
    tickers: tuple[str, ...] | None = None
    specs_kwargs: dict[str, Any] = {}
    mode = "full"
    if args.quick:
        mode, tickers = "quick", QUICK_TICKERS
        args.workloads, args.seeds, args.rounds, args.processes = ["xgb"], 1, 3, 1
        args.max_jobs = args.max_jobs or 3
        specs_kwargs = {"train_months": 8, "tickers": QUICK_TICKERS}
    elif args.policy_loop:
        mode = "policy-loop"
        args.workloads = args.workloads[:1] if len(args.workloads) < len(WORKLOADS) else ["xgb"]
        args.seeds, args.rounds = 3, 4
        args.arms = [a for a in args.arms if a in ("amt_default", "retune")] or ["amt_default", "retune"]
    default_out = (
        RESULTS / "efficiency.json" if mode == "full" else ROOT / "out" / "bench" / f"efficiency-{mode}.json"
    )
    out = args.out or default_out
    doc = args.doc or (DOC if mode == "full" else out.with_suffix(".md"))
    # The policy loop shares the full run's cache: AMT-default's rounds are reused, retune's are keyed by the
    # policy's source (efficiency_harness.policy_tag).
    work = args.work or ROOT / "out" / "bench" / ("efficiency" if mode != "quick" else "quick")
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    started = time.monotonic()
    specs = market.windows(FIRST_WINDOW, args.rounds, **specs_kwargs)
    errors: list[str] = []
    if not args.report_only:
        tasks = build_tasks(args.workloads, args.arms, seeds, specs, args.max_jobs, tickers)
        errors = run_all(tasks, work, args.rounds, args.processes)
    seconds = time.monotonic() - started
    refs = references(args.reference) if mode != "quick" else {}
    ridge = ridge_floor(specs)
    result: dict[str, Any] = {}
    for workload in WORKLOADS:
        if workload in args.workloads:
            result[workload] = assemble(
                workload,
                args.arms,
                seeds,
                args.rounds,
                specs,
                work,
                refs.get(workload, {}),
                ridge,
                args.max_jobs,
                tickers,
            )
        else:
            result[workload] = {"arms": {}, **split_summary(summary({}, {})), "scale": {"not_run": True}}
        result[workload]["scale"].update(
            {
                "mode": mode,
                "command": ".venv/bin/python -m benchmarks.efficiency " + shlex.join(argv or sys.argv[1:]),
                "seconds_this_invocation": round(seconds, 1),
                "made": datetime.now(UTC).isoformat(timespec="seconds"),
                "errors": errors,
            }
        )
        result[workload]["goal"] = verdict(workload, merged(result[workload]))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    plots = {}
    for workload in WORKLOADS:
        svg = doc.parent / f"{doc.stem}-{workload}.svg"
        svg.write_text(plot(result, workload))
        plots[workload] = svg.name
    run = run_notes(result, mode, args, seconds)
    doc.write_text(markdown(result, run, plots) + "\n")
    for workload in WORKLOADS:
        print(workload, json.dumps(result[workload]["summary"]), file=sys.stderr)
    print(f"wrote {out} and {doc} ({seconds:.0f} s)", file=sys.stderr)
    return 1 if errors else 0


def run_notes(result: dict[str, Any], mode: str, args: argparse.Namespace, seconds: float) -> dict[str, str]:
    """The prose around the numbers: the generated list of what ran, plus the reading written by hand for exactly
    these results (benchmarks/results/efficiency_notes.json, used only while the rounds run are the same)."""
    notes_path = RESULTS / "efficiency_notes.json"
    notes = json.loads(notes_path.read_text()) if notes_path.is_file() and mode == "full" else {}
    # The prose was written for one set of results: a run that reaches further drops it rather than mislabel.
    ran_now = {w: result[w]["scale"].get("rounds_run") for w in WORKLOADS}
    if notes and notes.get("for_rounds_run") != ran_now:
        notes = {}
    ran = []
    for workload in WORKLOADS:
        scale = result[workload]["scale"]
        if scale.get("not_run") or not result[workload]["arms"]:
            ran.append(f"- {workload}: not run.")
            continue
        counts = scale["rounds_run"]
        per_arm = "; ".join(
            f"{arm}: " + ", ".join(f"seed {s} {n} rounds" for s, n in counts[arm].items()) for arm in counts
        )
        ran.append(f"- {workload}: {per_arm}.")
    what = notes.get("what_ran", "") + ("\n\n" if notes.get("what_ran") else "") + "\n".join(ran)
    return {
        "what_ran": what,
        "reading": notes.get("reading", ""),
        "definitions": DEFINITIONS,
    }


if __name__ == "__main__":
    raise SystemExit(main())
