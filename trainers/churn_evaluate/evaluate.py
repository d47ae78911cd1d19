"""Evaluate mode for the churn-xgb profile: scores the challenger and the champion, two models of SageMaker's
built-in XGBoost algorithm (1.7-1), by AUC on the drop's held-out test rows.

The built-in algorithm has no evaluate mode, so this image supplies it (docs/trainer-contract.md, "Evaluate mode").
Each model channel holds the training job's `model.tar.gz`, in which the built-in algorithm saved its booster as
`xgboost-model` with `Booster.save_model`: under XGBoost 1.7 that is XGBoost's old binary format, which XGBoost 3.1
and later cannot read, so the image pins XGBoost 1.7 (requirements.txt). The booster is the best iteration's: the
algorithm's early stopping keeps the best model (`save_best`); where the file still names a `best_iteration`, only
the trees up to it are used, as the algorithm's own inference does.

The test channel is CSV as the built-in algorithm reads it: no header, the label (0 or 1) first. The score is AUC,
the algorithm's `validation:auc` computed on the test rows: the chance that a churner scores above a stayer,
ties counted half. Hyperparameters: retune_mode=evaluate, objective_metric (`validation:auc`, or any `<channel>:auc`),
objective_type (Maximize). Any failure is written to output/failure (one line naming the channel or setting at
fault) and the exit code is 1.
"""

from __future__ import annotations

import json
import math
import os
import sys
import tarfile
import tempfile
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import xgboost

ROOT_ENV = "SAGEMAKER_BASE_DIR"
DEFAULT_ROOT = "/opt/ml"
MODEL_FILE = "xgboost-model"  # the built-in algorithm's name for its booster
MODEL_CHANNELS = ("challenger", "champion")
TEST_CHANNEL = "test"
FAILURE_MAX = 1024


class EvaluationError(Exception):
    """What the operator reads in output/failure: one line naming the channel, file or setting at fault."""


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise EvaluationError(f"{path}: not readable JSON ({exc})") from None


def hyperparameters(root: Path) -> dict[str, str]:
    path = root / "input" / "config" / "hyperparameters.json"
    document = _read_json(path) if path.is_file() else {}
    if not isinstance(document, dict):
        raise EvaluationError(f"{path}: not a JSON object")
    return {str(k): str(v) for k, v in document.items()}


def channels(root: Path) -> list[str]:
    """inputdataconfig.json is the authority on the job's channels; without it, the folders under input/data."""
    path = root / "input" / "config" / "inputdataconfig.json"
    if path.is_file():
        document = _read_json(path)
        if not isinstance(document, dict):
            raise EvaluationError(f"{path}: not a JSON object")
        return sorted(document)
    data = root / "input" / "data"
    return sorted(p.name for p in data.iterdir() if p.is_dir()) if data.is_dir() else []


def channel_files(root: Path, channel: str) -> list[Path]:
    folder = root / "input" / "data" / channel
    if not folder.is_dir():
        raise EvaluationError(f"channel {channel!r}: no folder {folder}")
    return sorted(
        (p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")),
        key=lambda p: p.relative_to(folder).as_posix(),
    )


def check_settings(hp: dict[str, str]) -> tuple[str, str]:
    mode = hp.get("retune_mode", "train").strip()
    if mode != "evaluate":
        raise EvaluationError(
            f"hyperparameter retune_mode={mode!r}: this image only evaluates (retune_mode=evaluate); "
            "SageMaker's built-in XGBoost trains"
        )
    metric = hp.get("objective_metric", "validation:auc").strip()
    if metric.rsplit(":", 1)[-1] != "auc":
        raise EvaluationError(
            f"hyperparameter objective_metric={metric!r}: this image scores AUC ('validation:auc')"
        )
    kind = hp.get("objective_type", "Maximize").strip()
    if kind != "Maximize":
        raise EvaluationError(f"hyperparameter objective_type={kind!r}: AUC is maximized (use Maximize)")
    return metric, kind


def read_test(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """(features, labels) of the test channel: every file in name order, CSV without a header, label first."""
    tables: list[np.ndarray] = []
    folder = root / "input" / "data" / TEST_CHANNEL
    for path in channel_files(root, TEST_CHANNEL):
        name = f"{TEST_CHANNEL}/{path.relative_to(folder).as_posix()}"
        try:
            table = np.loadtxt(path, delimiter=",", ndmin=2, dtype=float)
        except ValueError as exc:
            raise EvaluationError(f"{name}: not rows of numbers, label first, no header ({exc})") from None
        if table.size == 0:
            continue
        if tables and table.shape[1] != tables[0].shape[1]:
            raise EvaluationError(
                f"{name}: {table.shape[1]} columns, the files before it have {tables[0].shape[1]}"
            )
        if not np.isfinite(table[:, 0]).all() or not np.isin(table[:, 0], (0.0, 1.0)).all():
            raise EvaluationError(f"{name}: the first column must be the label, 0 or 1")
        tables.append(table)
    if not tables:
        raise EvaluationError(f"channel {TEST_CHANNEL!r} holds no rows")
    table = np.vstack(tables)
    if table.shape[1] < 2:
        raise EvaluationError(f"channel {TEST_CHANNEL!r}: a label but no features")
    return table[:, 1:], table[:, 0]


def load_model(root: Path, channel: str) -> xgboost.Booster:
    """The booster inside the channel's model.tar.gz, as the built-in algorithm saved it."""
    files = channel_files(root, channel)
    archives = [p for p in files if p.name.endswith(".tar.gz")]
    if len(archives) != 1:
        raise EvaluationError(
            f"channel {channel!r}: expected one model.tar.gz, found {[p.name for p in files] or 'no file'}"
        )
    try:
        with tarfile.open(archives[0], "r:gz") as archive, tempfile.TemporaryDirectory() as scratch:
            members = {m.name.removeprefix("./"): m for m in archive.getmembers() if m.isfile()}
            if MODEL_FILE not in members:
                raise EvaluationError(
                    f"channel {channel!r}: {archives[0].name} holds no {MODEL_FILE} (it holds {sorted(members)}): "
                    "not a model of SageMaker's built-in XGBoost"
                )
            archive.extract(members[MODEL_FILE], scratch, filter="data")
            booster = xgboost.Booster()
            try:
                booster.load_model(str(Path(scratch) / members[MODEL_FILE].name))
            except xgboost.core.XGBoostError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise EvaluationError(
                    f"channel {channel!r}: {MODEL_FILE} cannot be loaded by xgboost {xgboost.__version__} ({first})"
                ) from None
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise EvaluationError(
            f"channel {channel!r}: {archives[0].name} is not a readable tar.gz ({exc})"
        ) from None
    return booster


def predict(booster: xgboost.Booster, features: np.ndarray, channel: str) -> np.ndarray:
    expected = booster.num_features()
    if features.shape[1] != expected:
        raise EvaluationError(
            f"channel {channel!r}: the model takes {expected} features, the test rows have {features.shape[1]}"
        )
    best = booster.attr("best_iteration")
    # As the algorithm's inference: the trees up to the best iteration when the file names one.
    end = min(int(best) + 1, booster.num_boosted_rounds()) if best is not None and best.isdigit() else 0
    scores = booster.predict(xgboost.DMatrix(features), iteration_range=(0, end))
    if scores.ndim != 1:
        raise EvaluationError(
            f"channel {channel!r}: the model predicts {scores.shape[1]} values a row, not one"
        )
    return scores


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC as the chance that a positive row scores above a negative one, ties counted half."""
    order = np.argsort(scores, kind="mergesort")
    ranked = np.asarray(scores, dtype=float)[order]
    ranks = np.empty(len(ranked))
    # Average ranks over ties: each run of equal scores shares the mean of its positions (1-based).
    starts = np.flatnonzero(np.r_[True, ranked[1:] != ranked[:-1]])
    ends = np.r_[starts[1:], len(ranked)]
    ranks[order] = np.repeat((starts + ends + 1) / 2.0, ends - starts)
    positive = np.asarray(labels) == 1
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if not n_pos or not n_neg:
        raise EvaluationError(
            f"channel {TEST_CHANNEL!r}: AUC needs rows of both labels ({n_pos} 1s, {n_neg} 0s)"
        )
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(root: Path) -> dict[str, Any]:
    metric, kind = check_settings(hyperparameters(root))
    present = channels(root)
    for required in ("challenger", TEST_CHANNEL):
        if required not in present:
            raise EvaluationError(f"channel {required!r} is missing (the job has {present})")
    features, labels = read_test(root)
    scores: dict[str, float | None] = {"challenger": None, "champion": None}
    for channel in MODEL_CHANNELS:
        if channel not in present:
            continue
        score = auc(labels, predict(load_model(root, channel), features, channel))
        if not math.isfinite(score):
            raise EvaluationError(f"channel {channel!r}: the AUC is {score}")
        scores[channel] = score
    for channel in MODEL_CHANNELS:
        if scores[channel] is not None:
            print(f"{channel}_score={scores[channel]!r}", flush=True)
    document = {
        "objective_metric": metric,
        "objective_type": kind,
        "challenger_score": scores["challenger"],
        "champion_score": scores["champion"],
        "rows": len(labels),
        "xgboost_version": xgboost.__version__,
    }
    model = root / "model"
    model.mkdir(parents=True, exist_ok=True)
    partial = model / "evaluation.json.partial"
    partial.write_text(json.dumps(document, indent=2) + "\n")
    os.replace(partial, model / "evaluation.json")
    return document


def main(root: Path | str | None = None) -> int:
    """One evaluation job in `root` (default: $SAGEMAKER_BASE_DIR, else /opt/ml); 0, or 1 after output/failure."""
    base = Path(root) if root is not None else Path(os.environ.get(ROOT_ENV, DEFAULT_ROOT))
    try:
        evaluate(base)
    # The contract: whatever fails, say why in output/failure and exit non-zero.
    except Exception as exc:  # noqa: BLE001
        message = str(exc) if isinstance(exc, EvaluationError) else f"{type(exc).__name__}: {exc}"
        output = base / "output"
        output.mkdir(parents=True, exist_ok=True)
        (output / "failure").write_text(message[:FAILURE_MAX])
        print(f"churn_evaluate: {message}", file=sys.stderr, flush=True)
        traceback.print_exc()
        return 1
    return 0
