"""The MLP trainer's train mode, in-process on a job folder laid out as /opt/ml."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
from sklearn.neural_network import MLPRegressor

from tests.trainers.conftest import JobDir, MakeJob, metric_regexes, parse_metrics, profile
from trainers.market_volatility import mlp, models

STATIC = profile("market-mlp")["training"]["static_hyperparameters"]
REGEXES = metric_regexes("market-mlp")


def run_train(
    make_job: MakeJob, capsys: pytest.CaptureFixture[str], **hyperparameters: str
) -> tuple[JobDir, dict[str, list[float]], int]:
    job = make_job(
        {**STATIC, "hidden_units": "16", "hidden_layers": "1", "batch_size": "64", **hyperparameters}
    )
    code = mlp.main(job.root)
    series = parse_metrics(capsys.readouterr().out, REGEXES)
    return job, series, code


def test_mlp_prints_one_parseable_line_per_epoch_as_best_so_far(
    make_job: MakeJob, capsys: pytest.CaptureFixture[str], tiny_drop: Path
) -> None:
    job, series, code = run_train(
        make_job, capsys, max_epochs="6", patience="100", learning_rate_init="0.001"
    )
    assert code == 0
    assert series["train:epochs"] == [1, 2, 3, 4, 5, 6]
    objective = series["validation:rmse"]
    assert all(b <= a for a, b in itertools.pairwise(objective))
    rows = len((tiny_drop / "train.csv").read_text().splitlines())
    per_epoch = mlp.epoch_compute(rows, 64, [16, 16, 1])
    assert series["train:compute"] == [per_epoch * e for e in range(1, 7)]
    meta = job.meta()
    assert (meta["kind"], meta["activation"], meta["features"]) == ("mlp", "relu", 16)
    network = models.load_model_dir(job.model, "model").predictor
    table = np.loadtxt(tiny_drop / "validation.csv", delimiter=",", ndmin=2)
    independent = float(np.sqrt(np.mean((network.predict(table[:, 1:]) - table[:, 0]) ** 2)))
    assert independent == pytest.approx(objective[-1], rel=1e-12)


def test_mlp_patience_stops_training_early(make_job: MakeJob, capsys: pytest.CaptureFixture[str]) -> None:
    job, series, code = run_train(
        make_job, capsys, max_epochs="60", patience="2", learning_rate_init="0.02", hidden_units="64"
    )
    assert code == 0
    epochs = int(series["train:epochs"][-1])
    assert epochs < 60
    assert epochs - job.meta()["epoch"] == 2


def test_mlp_compute_grows_with_the_network(make_job: MakeJob, capsys: pytest.CaptureFixture[str]) -> None:
    common = {"max_epochs": "2", "patience": "100"}
    _, small, _ = run_train(make_job, capsys, hidden_units="8", hidden_layers="1", **common)
    _, large, _ = run_train(make_job, capsys, hidden_units="64", hidden_layers="3", **common)
    assert 0 < small["train:compute"][-1] < large["train:compute"][-1]


def test_mlp_epoch_compute_has_a_per_batch_term() -> None:
    rows, layers = 15_000, [16, 8, 1]
    parameters = (16 + 1) * 8 + (8 + 1) * 1
    # Smaller batches mean more Adam steps: the same rows cost more, as measured.
    assert mlp.epoch_compute(rows, 64, layers) > mlp.epoch_compute(rows, 512, layers) > rows * parameters
    assert mlp.epoch_compute(rows, 10**6, layers) == rows * (parameters + mlp.UNIT_COST * 8) + (
        mlp.BATCH_PARAMETER_COST * parameters + mlp.BATCH_COST
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_mlp_saved_network_predicts_as_scikit_learn(activation: str) -> None:
    rng = np.random.default_rng(0)
    features, target = rng.normal(size=(200, 5)), rng.normal(size=200)
    net = MLPRegressor(hidden_layer_sizes=(7, 4), activation=activation, max_iter=5, random_state=0)
    net.fit(features, target)
    network = models.Network(
        coefs=list(net.coefs_),
        intercepts=list(net.intercepts_),
        activation=activation,
        x_mean=np.zeros(5),
        x_scale=np.ones(5),
        y_mean=0.0,
        y_scale=1.0,
    )
    np.testing.assert_allclose(network.predict(features), net.predict(features), rtol=1e-12, atol=1e-12)


def test_mlp_diverging_from_the_first_epoch_fails(
    make_job: MakeJob, capsys: pytest.CaptureFixture[str]
) -> None:
    job, series, code = run_train(make_job, capsys, learning_rate_init="1e200", hidden_units="64")
    assert code == 1
    assert job.failure.read_text() == "epoch 1: the run diverged; lower learning_rate_init"
    assert series["validation:rmse"] == []
