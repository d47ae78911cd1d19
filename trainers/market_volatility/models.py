"""The trainers' model format, and evaluate mode (the same in both images).

model/ (packed by SageMaker as model.tar.gz) holds:
    retune-model.json   {"format": "retune-market-volatility/1", "kind": "xgb" | "mlp", "file": ..., "features":
                        <columns after the target>, "validation_rmse", ...}: the kind tag lets either image read
                        either family's model, and a later trainer read or refuse an older one clearly;
    xgboost-model.ubj   kind xgb: the booster truncated to its best round (XGBoost's own UBJSON format);
    mlp.npz             kind mlp: the network's weights and the scaling of its inputs and target, as plain arrays,
                        so that scoring needs numpy only (no pickle, no scikit-learn version to match).
"""

from __future__ import annotations

import json
import math
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .job import Hyperparameters, Job, JobError, note, scorer

FORMAT = "retune-market-volatility/1"
META = "retune-model.json"
XGB_FILE = "xgboost-model.ubj"
MLP_FILE = "mlp.npz"
ACTIVATIONS = ("relu", "tanh")


@dataclass
class Network:
    """A trained MLP as plain arrays: standardized inputs, hidden layers, a linear output in standardized units."""

    coefs: list[np.ndarray]
    intercepts: list[np.ndarray]
    activation: str
    x_mean: np.ndarray
    x_scale: np.ndarray
    y_mean: float
    y_scale: float

    def predict(self, features: np.ndarray) -> np.ndarray:
        """The same forward pass as scikit-learn's MLPRegressor, in float64."""
        hidden = (np.asarray(features, dtype=np.float64) - self.x_mean) / self.x_scale
        last = len(self.coefs) - 1
        for i, (coef, intercept) in enumerate(zip(self.coefs, self.intercepts, strict=True)):
            hidden = hidden @ coef + intercept
            if i < last:
                hidden = np.maximum(hidden, 0.0) if self.activation == "relu" else np.tanh(hidden)
        prediction: np.ndarray = hidden[:, 0] * self.y_scale + self.y_mean
        return prediction

    def save(self, path: Path) -> None:
        arrays = {"x_mean": self.x_mean, "x_scale": self.x_scale, "y": np.array([self.y_mean, self.y_scale])}
        for i, (coef, intercept) in enumerate(zip(self.coefs, self.intercepts, strict=True)):
            arrays[f"coef_{i}"] = coef
            arrays[f"intercept_{i}"] = intercept
        with path.open("wb") as file:
            np.savez(file, **arrays)  # type: ignore[arg-type]  # numpy's stub types **kwds as the allow_pickle flag

    @classmethod
    def load(cls, path: Path, activation: str) -> Network:
        with np.load(path, allow_pickle=False) as arrays:
            layers = sum(1 for name in arrays.files if name.startswith("coef_"))
            return cls(
                coefs=[arrays[f"coef_{i}"] for i in range(layers)],
                intercepts=[arrays[f"intercept_{i}"] for i in range(layers)],
                activation=activation,
                x_mean=arrays["x_mean"],
                x_scale=arrays["x_scale"],
                y_mean=float(arrays["y"][0]),
                y_scale=float(arrays["y"][1]),
            )


@dataclass
class LoadedModel:
    kind: str
    features: int
    meta: dict[str, Any]
    predictor: Any  # Network, or an xgboost Booster

    def predict(self, features: np.ndarray) -> np.ndarray:
        if features.shape[1] != self.features:
            raise JobError(f"the model takes {self.features} features, the data has {features.shape[1]}")
        if self.kind == "mlp":
            return np.asarray(self.predictor.predict(features), dtype=np.float64)
        import xgboost  # noqa: PLC0415 - the xgb image has it loaded already; the mlp image only for an xgb model

        return np.asarray(self.predictor.predict(xgboost.DMatrix(features, nthread=1)), dtype=np.float64)


def meta_document(kind: str, file: str, features: int, **details: Any) -> dict[str, Any]:
    return {"format": FORMAT, "kind": kind, "file": file, "features": features, **details}


def load_model_dir(folder: Path, label: str) -> LoadedModel:
    """A model/ folder as train mode wrote it; `label` names it in errors (the channel)."""
    meta_path = folder / META
    if not meta_path.is_file():
        raise JobError(f"{label}: model.tar.gz holds no {META}: not a model of these trainers")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as exc:
        raise JobError(f"{label}: {META} is not JSON ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise JobError(f"{label}: model format {meta.get('format')!r}; this trainer reads {FORMAT!r}")
    kind, file, features = meta.get("kind"), meta.get("file"), meta.get("features")
    if not isinstance(file, str) or "/" in file or not (folder / file).is_file():
        raise JobError(f"{label}: {META} names file {file!r}, which model.tar.gz does not hold")
    if not isinstance(features, int) or features < 1:
        raise JobError(f"{label}: {META} has no feature count")
    if kind == "mlp":
        activation = meta.get("activation")
        if activation not in ACTIVATIONS:
            raise JobError(f"{label}: unknown activation {activation!r}")
        try:
            predictor: Any = Network.load(folder / file, activation)
        except (OSError, ValueError, KeyError) as exc:
            raise JobError(f"{label}: {file} is not readable ({exc})") from exc
    elif kind == "xgb":
        try:
            import xgboost  # noqa: PLC0415
        except ImportError as exc:
            raise JobError(f"{label}: an xgb model, and this image has no xgboost") from exc
        try:
            predictor = xgboost.Booster(model_file=str(folder / file))
        except xgboost.core.XGBoostError as exc:
            raise JobError(f"{label}: {file} is not readable ({exc})") from exc
    else:
        raise JobError(f"{label}: unknown model kind {kind!r}")
    return LoadedModel(kind, features, meta, predictor)


def load_model_channel(job: Job, channel: str, workdir: Path) -> LoadedModel:
    """The model.tar.gz of an evaluation job's model channel (`challenger`, `champion`)."""
    archives = [p for p in job.channel_files(channel) if p.name.endswith(".tar.gz")]
    if not archives:
        raise JobError(f"channel {channel!r}: no model.tar.gz in {job.data / channel}")
    named = [p for p in archives if p.name == "model.tar.gz"]
    if len(named) != 1 and len(archives) != 1:
        raise JobError(f"channel {channel!r}: several archives and none alone is model.tar.gz")
    archive = named[0] if len(named) == 1 else archives[0]
    target = workdir / channel
    target.mkdir(parents=True)
    try:
        with tarfile.open(archive) as tar:
            tar.extractall(target, filter="data")  # "data": no absolute paths, no links out, no devices
    except (OSError, tarfile.TarError) as exc:
        raise JobError(f"channel {channel!r}: {archive.name} is not a readable tar.gz ({exc})") from exc
    return load_model_dir(target, f"channel {channel!r}")


def evaluate(job: Job, hyperparameters: Hyperparameters) -> None:
    """Evaluate mode: score the challenger and, when the job has one, the champion on every row of `test`, with
    the objective's metric; print both scores and write model/evaluation.json."""
    objective_metric = hyperparameters.text("objective_metric")
    objective_type = hyperparameters.choice("objective_type", "Minimize", ("Minimize", "Maximize"))
    score = scorer(objective_metric)
    channels = job.channels()
    for required in ("challenger", "test"):
        if required not in channels:
            raise JobError(f"evaluate mode needs the {required!r} channel; the job has {channels}")
    roles = ["challenger", "champion"] if "champion" in channels else ["challenger"]
    features, target = job.read_csv("test")
    scores: dict[str, float] = {}
    kinds: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="retune-models-") as workdir:
        for role in roles:
            model = load_model_channel(job, role, Path(workdir))
            try:
                value = score(target, model.predict(features))
            except JobError as exc:
                raise JobError(f"channel {role!r}: {exc}") from None
            if not math.isfinite(value):
                raise JobError(f"channel {role!r}: the model scores {value} on the test data")
            scores[role], kinds[role] = value, model.kind
    if len(set(kinds.values())) > 1:
        note(f"champion and challenger are of different kinds: {kinds}")
    job.save_json(
        "evaluation.json",
        {
            "objective_metric": objective_metric,
            "objective_type": objective_type,
            "challenger_score": scores["challenger"],
            "champion_score": scores.get("champion"),
            "rows": len(target),
            "kinds": kinds,
        },
    )
    for role in roles:
        print(f"{role}_score={scores[role]!r}", flush=True)
