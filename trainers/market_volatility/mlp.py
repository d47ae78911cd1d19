"""The MLP trainer (image retune/market-volatility-mlp): `python -m trainers.market_volatility mlp train`.

Train mode fits scikit-learn's MLPRegressor (Adam) one epoch (one shuffled pass over the training rows) at a time
with `partial_fit`, on inputs and target standardized with the training rows' mean and deviation; after every epoch
it scores the validation channel and prints the best validation RMSE so far, the epoch and the compute spent.

Compute, in row-parameter operations, per epoch:

    rows * (parameters + UNIT_COST * hidden units) + batches * (BATCH_PARAMETER_COST * parameters + BATCH_COST)

rows * parameters alone misses what does not scale with it: per hidden unit and row, the activation and its
derivative; per mini-batch, the Adam step over every parameter and scikit-learn's fixed overhead. Timed on this
machine (one thread, 15k training rows) over hidden_units 8-256, hidden_layers 1-3 and batch_size 64-512, an
epoch's CPU time is 0.81-1.34x of proportional to this count (correlation 0.999), against 0.18-13.4x for
rows * parameters alone: without the per-batch term the smallest networks look 10 times cheaper than they are.

Hyperparameters (strings): max_epochs (60), patience (8: epochs without improvement before stopping, the
trainer's own early stopping), hidden_units (64), hidden_layers (2), alpha (1e-4), learning_rate_init (1e-3),
batch_size (256), activation (relu or tanh), seed (0) and nthread (1: BLAS threads).
"""

from __future__ import annotations

import itertools
import math
import sys
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPRegressor
from threadpoolctl import threadpool_limits

from . import models
from .job import Hyperparameters, Job, JobError, metric_line, note, rmse, run

KIND = "mlp"
UNIT_COST = 50
BATCH_PARAMETER_COST = 40
BATCH_COST = 1_000_000


def epoch_compute(rows: int, batch_size: int, layer_sizes: list[int]) -> int:
    """The machine-independent cost of one epoch (see the module's docstring). `layer_sizes`: inputs, hidden
    layers, output."""
    parameters = sum((a + 1) * b for a, b in itertools.pairwise(layer_sizes))
    units = sum(layer_sizes[1:-1])
    batches = math.ceil(rows / min(batch_size, rows))
    return rows * (parameters + UNIT_COST * units) + batches * (
        BATCH_PARAMETER_COST * parameters + BATCH_COST
    )


def _scale(values: np.ndarray) -> np.ndarray:
    scale = np.asarray(values.std(axis=0), dtype=np.float64)
    return np.where(scale > 0, scale, 1.0)  # a constant column stays as it is


def train(job: Job, hp: Hyperparameters) -> None:
    max_epochs = hp.integer("max_epochs", 60)
    patience = hp.integer("patience", 8)
    hidden_units = hp.integer("hidden_units", 64)
    hidden_layers = hp.integer("hidden_layers", 2)
    alpha = hp.number("alpha", 1e-4, 0.0, math.inf)
    learning_rate_init = hp.number("learning_rate_init", 1e-3, 0.0, math.inf, open_low=True)
    batch_size = hp.integer("batch_size", 256)
    activation = hp.choice("activation", "relu", models.ACTIVATIONS)
    seed = hp.integer("seed", 0, minimum=0)
    nthread = hp.integer("nthread", 1)
    x_train, y_train = job.read_csv("train")
    x_valid, y_valid = job.read_csv("validation")
    if x_valid.shape[1] != x_train.shape[1]:
        raise JobError(f"validation has {x_valid.shape[1]} features, train has {x_train.shape[1]}")
    x_mean, x_scale = x_train.mean(axis=0), _scale(x_train)
    y_mean, y_scale = float(y_train.mean()), float(_scale(y_train))
    x_fit, y_fit = (x_train - x_mean) / x_scale, (y_train - y_mean) / y_scale
    net = MLPRegressor(
        hidden_layer_sizes=(hidden_units,) * hidden_layers,
        activation=activation,
        solver="adam",
        alpha=alpha,
        batch_size=min(
            batch_size, len(x_train)
        ),  # as scikit-learn would clip it, without its warning per epoch
        learning_rate_init=learning_rate_init,
        shuffle=True,
        random_state=seed,
    )
    layer_sizes = [x_train.shape[1], *(hidden_units,) * hidden_layers, 1]
    per_epoch = epoch_compute(len(x_train), batch_size, layer_sizes)
    best, best_epoch, compute = math.inf, 0, 0
    with threadpool_limits(limits=nthread), warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        warnings.simplefilter(
            "ignore", RuntimeWarning
        )  # numpy's overflows: a diverging run is told from its score
        for epoch in range(1, max_epochs + 1):
            try:
                net.partial_fit(x_fit, y_fit)
            except ValueError as exc:  # scikit-learn refuses non-finite weights: the run diverged
                score = math.nan
                note(f"epoch {epoch}: {exc}")
            else:
                network = _network(net, activation, x_mean, x_scale, y_mean, y_scale)
                score = rmse(y_valid, network.predict(x_valid))
            compute += per_epoch
            if not math.isfinite(score):
                if best_epoch == 0:
                    raise JobError(f"epoch {epoch}: the run diverged; lower learning_rate_init")
                # Diverged after a good epoch: the saved model is the best one, and it will not come back.
                note(f"epoch {epoch}: the run diverged; keeping epoch {best_epoch}")
                metric_line(epoch, best, compute)
                return
            if score < best:
                best, best_epoch = score, epoch
                save(job, network, best, epoch, x_train.shape[1], hp)
            metric_line(epoch, best, compute)
            if job.stop_requested or epoch - best_epoch >= patience:
                return


def _network(
    net: MLPRegressor, activation: str, x_mean: np.ndarray, x_scale: np.ndarray, y_mean: float, y_scale: float
) -> models.Network:
    return models.Network(
        coefs=[c.copy() for c in net.coefs_],
        intercepts=[i.copy() for i in net.intercepts_],
        activation=activation,
        x_mean=x_mean,
        x_scale=x_scale,
        y_mean=y_mean,
        y_scale=y_scale,
    )


def save(
    job: Job, network: models.Network, best: float, epoch: int, features: int, hp: Hyperparameters
) -> None:
    job.save(models.MLP_FILE, network.save)
    job.save_json(
        models.META,
        models.meta_document(
            KIND,
            models.MLP_FILE,
            features,
            activation=network.activation,
            epoch=epoch,
            validation_rmse=best,
            hyperparameters=hp.values,
        ),
    )


def main(root: Path | str | None = None) -> int:
    """Run one job (train or evaluate mode) in `root` (default: $SAGEMAKER_BASE_DIR, else /opt/ml)."""
    return run(train, models.evaluate, root)


if __name__ == "__main__":  # SageMaker runs the image as `<entrypoint> train`; the argument is not needed
    sys.exit(main())
