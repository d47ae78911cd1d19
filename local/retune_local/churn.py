"""Drops of synthetic customer-churn data for the churn-xgb demo: seeded, deterministic, drifting drop by drop.

**The data is synthetic.** No public churn data set ships inside a package here, so this module makes one: each
drop is a quarterly snapshot of a telecom's customers (fresh customers every drop), one row each, labelled 1 if the
customer leaves within the next quarter. A row's chance to churn is a logistic function of its features, with
effects of the kind churn studies report (month-to-month contracts, short tenure, high charges, support calls and
late payments raise it; autopay, more products and long contracts lower it), and two interactions so that trees
have something a linear model misses.

**Drift.** Every drop draws fresh customers from its own seeded generator (`[seed, drop index, channel]`), and
drop `i` (0-based) has drift `s = i / 3` (1 at the fourth drop), which moves the world under them:

- concept drift (how features act on churn, on the logit): the support calls' effect turns around as support is
  fixed (`0.35 -> 0.35 - s` per call), a competitor launches fiber in regions 3 and 4 (`+1.2 s` for fiber
  customers there), price sensitivity grows (`0.025 -> 0.025 + 0.02 s` per unit of monthly charge above 70),
  tenure protects less (`-0.045 -> -0.045 + 0.04 s` per month, up to 48), a drop in usage says less
  (`-1.5 -> -1.5 + 1.5 s`), and a new app makes low engagement a sign of leaving (`-0.4 s` per standard deviation
  of app sessions);
- covariate shift (what the customers look like): monthly charges rise 12% per unit of drift, autopay spreads
  (40% -> 65%), the competitor's regions grow (each from 20% to 29% of customers).

The held-out measure (tests/trainers/test_churn_drops.py, docs/churn.md): a model trained on drop 1 loses at least 0.03 AUC
on drop 4's test rows against its AUC on drop 1's test rows, and a model trained on drop 4 beats it there.

The CSV files have no header and the label (0 or 1) in the first column, as SageMaker's built-in XGBoost reads
CSV (FEATURES names the other columns, in order).

    from retune_local import churn
    for spec in churn.drops(count=4):
        churn.write_drop(spec, Path("drops") / spec.drop_id)
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import roc_auc_score

SEED = 19
DRIFT_PER_DROP = 1 / 3
FIRST_QUARTER = (2025, 1)
ROWS = {"train": 4000, "validation": 1500, "test": 2000}
CHANNELS = ("train", "validation", "test")
CONTENT_TYPE = "text/csv"
FEATURES = (
    "tenure_months",
    "monthly_charges",
    "contract",  # 0 month-to-month, 1 one year, 2 two years
    "products",
    "support_calls_90d",
    "late_payments_12m",
    "autopay",
    "fiber",
    "region",  # 0..4; the competitor enters regions 3 and 4
    "data_gb_30d",
    "usage_change_3m",  # relative change of usage over the last 3 months
    "app_sessions_30d",
    "age",
    "discount_pct",
)
LABEL = "churned_next_quarter"


@dataclass(frozen=True)
class DropSpec:
    """One drop: its id (the quarter's first day), its place in the sequence and its drift."""

    drop_id: str
    index: int
    drift: float
    seed: int = SEED
    rows: tuple[tuple[str, int], ...] = tuple(ROWS.items())

    def describe(self) -> str:
        counts = ", ".join(f"{c} {n}" for c, n in self.rows)
        return f"quarter {self.drop_id}, drift {self.drift:.2f} ({counts} customers)"


def drops(
    count: int = 4,
    *,
    seed: int = SEED,
    drift_per_drop: float = DRIFT_PER_DROP,
    rows: dict[str, int] | None = None,
) -> list[DropSpec]:
    """`count` consecutive quarterly drops, the first with no drift."""
    if count < 1:
        raise ValueError("count must be at least 1")
    sizes = tuple((rows or ROWS).items())
    if {c for c, _ in sizes} != set(CHANNELS) or any(n < 10 for _, n in sizes):
        raise ValueError(f"rows: give each of {list(CHANNELS)} at least 10 rows")
    year, quarter = FIRST_QUARTER
    specs = []
    for i in range(count):
        q = quarter - 1 + i
        drop_id = f"{year + q // 4}-{(q % 4) * 3 + 1:02d}-01"
        specs.append(DropSpec(drop_id, i, i * drift_per_drop, seed, sizes))
    return specs


def customers(spec: DropSpec, channel: str) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of one channel of the drop: float64 features in FEATURES' order, labels 0.0 or 1.0.
    The same spec and channel always give the same rows."""
    n = dict(spec.rows)[channel]
    rng = np.random.default_rng([spec.seed, spec.index, CHANNELS.index(channel)])
    s = spec.drift
    contract = rng.choice(3, size=n, p=[0.55, 0.25, 0.20])
    tenure = np.minimum(72, rng.gamma(1.2 + contract, 10.0, size=n)).round()
    products = 1 + rng.binomial(4, 0.3, size=n)
    fiber = (rng.random(n) < 0.45).astype(float)
    # The competitor's regions grow with the drift (covariate shift): region 3 and 4 take more customers.
    region_weights = np.array([1.0, 1.0, 1.0, 1.0 + s, 1.0 + s])
    region = rng.choice(5, size=n, p=region_weights / region_weights.sum())
    charges = (25 + 10 * products + 30 * fiber + rng.normal(0, 8, size=n)) * 1.12**s
    autopay = (rng.random(n) < min(0.9, 0.4 + 0.25 * s)).astype(float)
    support = rng.poisson(0.8 + 0.4 * fiber, size=n)
    late = rng.poisson(np.where(autopay > 0, 0.2, 0.9), size=n)
    data_gb = rng.gamma(2.0, 20 + 40 * fiber, size=n)
    usage_change = rng.normal(0, 0.25, size=n)
    app = rng.poisson(6 + 3 * (contract > 0), size=n).astype(float)
    age = rng.integers(18, 85, size=n)
    discount = np.where(rng.random(n) < 0.25, rng.choice([5, 10, 15, 20], size=n), 0)

    app_z = (app - 7.0) / 3.0
    logit = (
        -1.7
        + 1.1 * (contract == 0)
        - 0.9 * (contract == 2)
        - (0.045 - 0.04 * s) * np.minimum(tenure, 48)
        + (0.025 + 0.02 * s) * (charges - 70)
        + (0.35 - 1.0 * s) * support
        + 0.4 * late
        - 0.5 * autopay
        - 0.15 * products
        - (1.5 - 1.5 * s) * usage_change
        - 0.02 * discount
        + 0.8 * fiber * (charges > 85)  # an interaction: expensive fiber plans
        + 0.7 * (contract == 0) * (tenure < 6)  # new month-to-month customers
        + 1.2 * s * fiber * (region >= 3)  # the competitor's fiber
        - 0.4 * s * app_z  # low engagement with the new app
    )
    churned = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(float)
    features = np.column_stack(
        [
            tenure,
            charges.round(2),
            contract,
            products,
            support,
            late,
            autopay,
            fiber,
            region,
            data_gb.round(1),
            usage_change.round(3),
            app,
            age,
            discount,
        ]
    ).astype(float)
    return features, churned


def _write_csv(path: Path, features: np.ndarray, labels: np.ndarray) -> None:
    partial = path.with_name(path.name + ".partial")
    np.savetxt(partial, np.column_stack([labels, features]), fmt="%.10g", delimiter=",")
    os.replace(partial, path)


def manifest(spec: DropSpec) -> dict[str, Any]:
    description = (
        f"SYNTHETIC customer churn (retune_local.churn, seed {spec.seed}), {spec.describe()}. CSV without a "
        f"header, {LABEL} (0/1) first, then {', '.join(FEATURES)}"
    )
    return {
        "channels": {c: {"files": [f"{c}.csv"], "content_type": CONTENT_TYPE} for c in CHANNELS},
        "description": description[:1024],
    }


def write_drop(spec: DropSpec, directory: Path | str) -> dict[str, Any]:
    """Write train.csv, validation.csv, test.csv and, last, manifest.json into `directory`; return the
    manifest."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    for channel in CHANNELS:
        _write_csv(folder / f"{channel}.csv", *customers(spec, channel))
    document = manifest(spec)
    partial = folder / "manifest.json.partial"
    partial.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(partial, folder / "manifest.json")
    return document


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC, scikit-learn's (ties counted half): the reference the churn evaluator's own AUC is checked against
    (the evaluator's image carries no scikit-learn)."""
    positive = np.asarray(labels) == 1
    if positive.all() or not positive.any():
        raise ValueError("AUC needs both churners and stayers")
    return float(roc_auc_score(positive, scores))


def drift_measure(
    count: int = 4, *, seed: int = SEED, rows: dict[str, int] | None = None
) -> dict[str, float]:
    """What the drift costs: one XGBoost model fitted on the first drop and one on the last (fixed settings,
    early stopping on validation), scored by AUC on test rows. Needs xgboost (the project's venv has it)."""
    import xgboost  # noqa: PLC0415  (only this measure needs it)

    specs = drops(count, seed=seed, rows=rows)

    def fit(spec: DropSpec) -> Any:
        x, y = customers(spec, "train")
        xv, yv = customers(spec, "validation")
        params = {
            "objective": "binary:logistic",
            "eval_metric": "auc",
            "max_depth": 4,
            "eta": 0.1,
            "nthread": 1,
        }
        return xgboost.train(
            params,
            xgboost.DMatrix(x, label=y),
            300,
            evals=[(xgboost.DMatrix(xv, label=yv), "validation")],
            early_stopping_rounds=30,
            verbose_eval=False,
        )

    def score(model: Any, spec: DropSpec) -> float:
        x, y = customers(spec, "test")
        return auc(y, model.predict(xgboost.DMatrix(x), iteration_range=(0, model.best_iteration + 1)))

    first, last = fit(specs[0]), fit(specs[-1])
    return {
        "first_on_first": score(first, specs[0]),
        "first_on_last": score(first, specs[-1]),
        "last_on_last": score(last, specs[-1]),
    }


def main() -> int:
    measure = drift_measure()
    print(
        f"drop 1's model: AUC {measure['first_on_first']:.4f} on drop 1's test rows, "
        f"{measure['first_on_last']:.4f} on drop 4's (loses {measure['first_on_first'] - measure['first_on_last']:.4f}); "
        f"drop 4's own model: {measure['last_on_last']:.4f} there"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
