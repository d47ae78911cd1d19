"""The sequence trainer (image retune/market-sequence): train and evaluate modes, `python -m trainers.market_sequence`.

Train mode standardizes the features and target with the training rows' mean and deviation, trains the network
named by `architecture` with AdamW on shuffled mini-batches of sequences (each scored row's stock's last
`sequence_length` days), one pass over the training rows per epoch; after every epoch it scores the validation
channel and prints the best validation RMSE so far, the epoch and the compute spent (README.md: multiply-
accumulates). It stops after `patience` epochs without improvement, at `max_epochs`, on SIGTERM, or when
`max_seconds` of wall time have passed (the trainer's own cap, checked between batches: an unfinished epoch is
dropped); `model/` always holds the best epoch's network.

Deterministic for a seed: torch's and the shuffle's generators are seeded, torch runs deterministic algorithms on
`nthread` threads (1 by default), and nothing depends on the clock except the `max_seconds` cap.
"""

from __future__ import annotations

import json
import math
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..market_volatility.job import Hyperparameters, Job, JobError, rmse, run, scorer
from . import data, nets

FORMAT = "retune-market-sequence/1"
META = "retune-model.json"
WEIGHTS = "model.pt"
TRAIN_PASSES = (
    3  # a training step's multiply-accumulates: the forward pass and a backward pass of about twice it
)
# The compute count's other terms, in multiply-accumulates, timed on this machine's CPU (README.md, "Compute"): per
# element unit and attention score of a training step, and per mini-batch (the optimizer step and the framework's
# fixed cost).
ELEMENT_COST = 900
SCORE_COST = 1000
BATCH_COST = 80_000_000
MAX_SEQUENCE = 64  # the longest sequence the drops' context covers (local/retune_local/market.py)
EVAL_BATCH = 1024
GRADIENT_CLIP = 1.0


def note(message: str) -> None:
    """A diagnostic on stderr; it must never match a metric regex (no `epoch=`, no `validation_rmse=`)."""
    print(f"market_sequence: {message}", file=sys.stderr, flush=True)


def _scale(values: np.ndarray) -> np.ndarray:
    scale = np.asarray(values.std(axis=0), dtype=np.float64)
    return np.where(scale > 0, scale, 1.0)


class Scaling:
    """The training rows' mean and deviation, applied to every channel's features and to the target."""

    def __init__(self, x_mean: np.ndarray, x_scale: np.ndarray, y_mean: float, y_scale: float) -> None:
        self.x_mean, self.x_scale, self.y_mean, self.y_scale = x_mean, x_scale, y_mean, y_scale

    @classmethod
    def fit(cls, train: data.Channel) -> Scaling:
        scored = train.features[train.ends]
        return cls(
            scored.mean(axis=0), _scale(scored), float(train.target.mean()), float(_scale(train.target))
        )

    def features(self, channel: data.Channel) -> torch.Tensor:
        return torch.from_numpy(((channel.features - self.x_mean) / self.x_scale).astype(np.float32))

    def as_dict(self) -> dict[str, Any]:
        return {
            "x_mean": self.x_mean.tolist(),
            "x_scale": self.x_scale.tolist(),
            "y_mean": self.y_mean,
            "y_scale": self.y_scale,
        }

    @classmethod
    def from_dict(cls, document: dict[str, Any]) -> Scaling:
        return cls(
            np.asarray(document["x_mean"], dtype=np.float64),
            np.asarray(document["x_scale"], dtype=np.float64),
            float(document["y_mean"]),
            float(document["y_scale"]),
        )


def predict(net: nn.Module, config: nets.NetConfig, scaling: Scaling, channel: data.Channel) -> np.ndarray:
    """The network's predictions for every scored row of the channel, in the target's units (float64)."""
    features = scaling.features(channel)
    index = torch.from_numpy(data.window_index(channel, config.sequence_length))
    net.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(index), EVAL_BATCH):
            out.append(net(features[index[start : start + EVAL_BATCH]]).numpy().astype(np.float64))
    return np.concatenate(out) * scaling.y_scale + scaling.y_mean


def configure_torch(seed: int, nthread: int) -> None:
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(nthread)


def net_config(hp: Hyperparameters, features: int) -> nets.NetConfig:
    architecture = hp.choice("architecture", "lstm", nets.ARCHITECTURES)
    heads = hp.integer("heads", 2)  # read for either architecture: the LSTM has no heads
    length = hp.integer("sequence_length", 20)
    if length > MAX_SEQUENCE:
        raise JobError(
            f"hyperparameter sequence_length={length}: at most {MAX_SEQUENCE} (the drops' context)"
        )
    return nets.NetConfig(
        architecture=architecture,
        features=features,
        hidden_size=hp.integer("hidden_size", 32),
        layers=hp.integer("layers", 1),
        heads=heads,
        dropout=hp.number("dropout", 0.1, 0.0, 0.9),
        sequence_length=length,
    )


def sample_compute(config: nets.NetConfig) -> int:
    """One training step of one sequence: its multiply-accumulates, forward and backward, and its element-wise
    work in multiply-accumulate equivalents."""
    units, scores = nets.elementwise_units(config)
    return TRAIN_PASSES * nets.forward_macs(config) + ELEMENT_COST * units + SCORE_COST * scores


def epoch_compute(config: nets.NetConfig, train_rows: int, validation_rows: int, batch_size: int) -> int:
    """One epoch: a training step over every training row, the per-batch cost, then scoring validation (a forward
    pass: a third of a training step)."""
    batches = math.ceil(train_rows / batch_size)
    per_sample = sample_compute(config)
    return train_rows * per_sample + batches * BATCH_COST + validation_rows * per_sample // TRAIN_PASSES


def train(job: Job, hp: Hyperparameters) -> None:
    started = time.monotonic()
    max_epochs = hp.integer("max_epochs", 30)
    patience = hp.integer("patience", 3)
    max_seconds = hp.number("max_seconds", 3600.0, 0.0, math.inf, open_low=True)
    learning_rate = hp.number("learning_rate", 1e-3, 0.0, 1.0, open_low=True)
    weight_decay = hp.number("weight_decay", 1e-4, 0.0, math.inf)
    batch_size = hp.integer("batch_size", 256)
    seed = hp.integer("seed", 0, minimum=0)
    nthread = hp.integer("nthread", 1)
    train_rows, validation_rows = data.read_channel(job, "train"), data.read_channel(job, "validation")
    features = train_rows.features.shape[1]
    if validation_rows.features.shape[1] != features:
        raise JobError(f"validation has {validation_rows.features.shape[1]} features, train has {features}")
    config = net_config(hp, features)
    configure_torch(seed, nthread)
    padded = data.padded_rows(train_rows, config.sequence_length)
    if padded:
        note(f"{padded} training rows have less than {config.sequence_length} days of history: padded")
    scaling = Scaling.fit(train_rows)
    x = scaling.features(train_rows)
    y = torch.from_numpy(((train_rows.target - scaling.y_mean) / scaling.y_scale).astype(np.float32))
    index = torch.from_numpy(data.window_index(train_rows, config.sequence_length))
    net = nets.build(config)
    optimizer = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=weight_decay)
    shuffle = torch.Generator().manual_seed(seed)
    per_epoch = epoch_compute(config, len(train_rows), len(validation_rows), batch_size)
    best, best_epoch, compute = math.inf, 0, 0
    for epoch in range(1, max_epochs + 1):
        net.train()
        finite = True
        for batch in torch.randperm(len(index), generator=shuffle).split(batch_size):
            if time.monotonic() - started > max_seconds:
                if best_epoch == 0:
                    raise JobError(
                        f"max_seconds={max_seconds:g} passed before the first epoch ended: raise max_seconds or "
                        "narrow the ranges (sequence_length, hidden_size, layers)"
                    )
                note(f"max_seconds={max_seconds:g} reached in epoch {epoch}: keeping epoch {best_epoch}")
                return
            optimizer.zero_grad(set_to_none=True)
            loss = nn.functional.mse_loss(net(x[index[batch]]), y[batch])
            if not torch.isfinite(loss):
                finite = False
                break
            loss.backward()  # type: ignore[no-untyped-call]
            nn.utils.clip_grad_norm_(net.parameters(), GRADIENT_CLIP)
            optimizer.step()
        score = (
            rmse(validation_rows.target, predict(net, config, scaling, validation_rows))
            if finite
            else math.nan
        )
        compute += per_epoch
        if not math.isfinite(score):
            if best_epoch == 0:
                raise JobError(f"epoch {epoch}: the run diverged; lower learning_rate")
            note(f"epoch {epoch}: the run diverged; keeping epoch {best_epoch}")
            _metric_line(epoch, best, compute)
            return
        if score < best:
            best, best_epoch = score, epoch
            save(job, net, config, scaling, epoch, best, hp)
        _metric_line(epoch, best, compute)
        if job.stop_requested or epoch - best_epoch >= patience:
            return


def _metric_line(epoch: int, best: float, compute: int) -> None:
    print(f"epoch={epoch} validation_rmse={best!r} compute={compute}", flush=True)


def save(
    job: Job,
    net: nn.Module,
    config: nets.NetConfig,
    scaling: Scaling,
    epoch: int,
    best: float,
    hp: Hyperparameters,
) -> None:
    job.save(WEIGHTS, lambda path: torch.save(net.state_dict(), path))
    job.save_json(
        META,
        {
            "format": FORMAT,
            "kind": "sequence",
            "file": WEIGHTS,
            "net": config.as_dict(),
            "scaling": scaling.as_dict(),
            "epoch": epoch,
            "validation_rmse": best,
            "torch": torch.__version__,
            "hyperparameters": hp.values,
        },
    )


def load_model_dir(folder: Path, label: str) -> tuple[nn.Module, nets.NetConfig, Scaling]:
    """A model/ folder as train mode wrote it; `label` names it in errors (the channel)."""
    meta_path = folder / META
    if not meta_path.is_file():
        raise JobError(f"{label}: model.tar.gz holds no {META}: not a model of this trainer")
    try:
        meta = json.loads(meta_path.read_text())
    except ValueError as exc:
        raise JobError(f"{label}: {META} is not JSON ({exc})") from exc
    if meta.get("format") != FORMAT:
        raise JobError(f"{label}: model format {meta.get('format')!r}; this trainer reads {FORMAT!r}")
    if not (folder / WEIGHTS).is_file():
        raise JobError(f"{label}: model.tar.gz holds no {WEIGHTS}")
    try:
        config = nets.NetConfig(**meta["net"])
        scaling = Scaling.from_dict(meta["scaling"])
        net = nets.build(config)
        net.load_state_dict(torch.load(folder / WEIGHTS, weights_only=True))
    except (KeyError, TypeError, ValueError, RuntimeError, OSError) as exc:
        raise JobError(f"{label}: the model is not readable ({type(exc).__name__}: {exc})") from exc
    return net, config, scaling


def load_model_channel(job: Job, channel: str, workdir: Path) -> tuple[nn.Module, nets.NetConfig, Scaling]:
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


def evaluate(job: Job, hp: Hyperparameters) -> None:
    """Evaluate mode: score the challenger and, when the job has one, the champion on every scored row of `test`
    with the objective's metric (the code train mode scores validation with); print both, write
    model/evaluation.json."""
    objective_metric = hp.text("objective_metric")
    objective_type = hp.choice("objective_type", "Minimize", ("Minimize", "Maximize"))
    score = scorer(objective_metric)
    configure_torch(hp.integer("seed", 0, minimum=0), hp.integer("nthread", 1))
    channels = job.channels()
    for required in ("challenger", "test"):
        if required not in channels:
            raise JobError(f"evaluate mode needs the {required!r} channel; the job has {channels}")
    roles = ["challenger", "champion"] if "champion" in channels else ["challenger"]
    test = data.read_channel(job, "test")
    scores: dict[str, float] = {}
    architectures: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="retune-models-") as workdir:
        for role in roles:
            net, config, scaling = load_model_channel(job, role, Path(workdir))
            if config.features != test.features.shape[1]:
                raise JobError(
                    f"channel {role!r}: the model reads {config.features} features, test has "
                    f"{test.features.shape[1]}"
                )
            value = score(test.target, predict(net, config, scaling, test))
            if not math.isfinite(value):
                raise JobError(f"channel {role!r}: the model scores {value} on the test data")
            scores[role], architectures[role] = value, config.architecture
    job.save_json(
        "evaluation.json",
        {
            "objective_metric": objective_metric,
            "objective_type": objective_type,
            "challenger_score": scores["challenger"],
            "champion_score": scores.get("champion"),
            "rows": len(test),
            "architectures": architectures,
        },
    )
    for role in roles:
        print(f"{role}_score={scores[role]!r}", flush=True)


def main(root: Path | str | None = None) -> int:
    """Run one job (train or evaluate mode) in `root` (default: $SAGEMAKER_BASE_DIR, else /opt/ml)."""
    return run(train, evaluate, root)
