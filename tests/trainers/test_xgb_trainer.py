"""The XGBoost trainer's train mode, run in-process on a job folder laid out as /opt/ml, and once as the
command the local SageMaker runs."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import xgboost

from tests.trainers.conftest import ROOT, JobDir, MakeJob, metric_regexes, parse_metrics, profile
from trainers.market_volatility import xgb

STATIC = profile("market-xgb")["training"]["static_hyperparameters"]
REGEXES = metric_regexes("market-xgb")


def run_train(
    make_job: MakeJob, capsys: pytest.CaptureFixture[str], **hyperparameters: str
) -> tuple[JobDir, dict[str, list[float]], int]:
    job = make_job({**STATIC, "eta": "0.1", "max_depth": "3", **hyperparameters})
    code = xgb.main(job.root)
    series = parse_metrics(capsys.readouterr().out, REGEXES)
    return job, series, code


def validation_rmse_of_saved_model(job: JobDir, drop: Path) -> float:
    table = np.loadtxt(drop / "validation.csv", delimiter=",", ndmin=2)
    booster = xgboost.Booster(model_file=str(job.model / "xgboost-model.ubj"))
    prediction = booster.predict(xgboost.DMatrix(table[:, 1:])).astype(np.float64)
    return float(np.sqrt(np.mean((prediction - table[:, 0]) ** 2)))


def test_xgb_prints_one_parseable_line_per_epoch_as_best_so_far(
    make_job: MakeJob, capsys: pytest.CaptureFixture[str], tiny_drop: Path
) -> None:
    job, series, code = run_train(
        make_job,
        capsys,
        num_round="60",
        eval_every="10",
        early_stopping_rounds="1000",
        _tuning_objective_metric="x",
    )
    assert code == 0
    assert series["train:epochs"] == [1, 2, 3, 4, 5, 6]
    objective = series["validation:rmse"]
    assert len(objective) == 6
    assert all(b <= a for a, b in itertools.pairwise(objective))
    compute = series["train:compute"]
    assert len(compute) == 6 and compute[0] > 0
    assert all(b > a for a, b in itertools.pairwise(compute))
    # model/ holds the best round's booster, which scores exactly the last value printed.
    meta = job.meta()
    assert meta["kind"] == "xgb" and meta["format"] == "retune-market-volatility/1" and meta["features"] == 16
    assert validation_rmse_of_saved_model(job, tiny_drop) == pytest.approx(objective[-1], rel=1e-9)
    assert (
        xgboost.Booster(model_file=str(job.model / "xgboost-model.ubj")).num_boosted_rounds()
        == meta["rounds"]
    )
    assert not job.failure.exists()
    assert [p.name for p in job.model.iterdir() if p.name.startswith(".")] == []


def test_xgb_reports_a_last_partial_epoch(make_job: MakeJob, capsys: pytest.CaptureFixture[str]) -> None:
    _, series, code = run_train(
        make_job, capsys, num_round="25", eval_every="10", early_stopping_rounds="1000"
    )
    assert code == 0
    assert series["train:epochs"] == [1, 2, 3]


def test_xgb_patience_stops_training_early(make_job: MakeJob, capsys: pytest.CaptureFixture[str]) -> None:
    job, series, code = run_train(
        make_job,
        capsys,
        num_round="300",
        eval_every="5",
        early_stopping_rounds="15",
        eta="0.3",
        max_depth="6",
    )
    assert code == 0
    epochs = int(series["train:epochs"][-1])
    assert epochs < 60
    # It stopped at the first epoch end with no improvement in the last 15 rounds, not before.
    best_rounds = job.meta()["rounds"]
    assert 5 * epochs - best_rounds >= 15
    assert 5 * (epochs - 1) - best_rounds < 15


def test_xgb_compute_counts_tree_nodes_and_grows_with_depth(
    make_job: MakeJob, capsys: pytest.CaptureFixture[str]
) -> None:
    common = {"num_round": "40", "eval_every": "10", "early_stopping_rounds": "1000", "min_child_weight": "1"}
    _, shallow, _ = run_train(make_job, capsys, max_depth="2", **common)
    _, deep, _ = run_train(make_job, capsys, max_depth="8", **common)
    # A tree of depth 2 has at most 7 nodes; 40 rounds at least one node each.
    assert 40 <= shallow["train:compute"][-1] <= 40 * 7
    assert deep["train:compute"][-1] > 3 * shallow["train:compute"][-1]


def test_xgb_nodes_are_those_of_every_tree_built(
    make_job: MakeJob, capsys: pytest.CaptureFixture[str]
) -> None:
    # eta 0 is refused, so take a slow learner: every round improves and the saved model is every tree built.
    job, series, _ = run_train(
        make_job, capsys, num_round="20", eval_every="10", early_stopping_rounds="1000", eta="0.01"
    )
    booster = xgboost.Booster(model_file=str(job.model / "xgboost-model.ubj"))
    assert booster.num_boosted_rounds() == 20
    assert series["train:compute"][-1] == sum(tree.count("\n") for tree in booster.get_dump())


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"eta": "fast"}, "hyperparameter eta='fast': not a number"),
        ({"max_depth": "2.5"}, "hyperparameter max_depth='2.5': not an integer"),
        ({"subsample": "0"}, "hyperparameter subsample='0': must be in (0.0, 1.0]"),
        ({"retune_mode": "serve"}, "hyperparameter retune_mode='serve': use one of ['train', 'evaluate']"),
    ],
)
def test_xgb_bad_hyperparameters_fail_with_a_reason(
    make_job: MakeJob, capsys: pytest.CaptureFixture[str], hyperparameters: dict[str, str], message: str
) -> None:
    job, series, code = run_train(make_job, capsys, **hyperparameters)
    assert code == 1
    assert job.failure.read_text() == message
    assert series["validation:rmse"] == []


def test_xgb_csv_with_a_header_fails_naming_the_file_and_line(
    make_job: MakeJob, capsys: pytest.CaptureFixture[str], tiny_drop: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad" / "train.csv"
    bad.parent.mkdir()
    bad.write_text("target,a,b\n" + (tiny_drop / "train.csv").read_text())
    job = make_job({**STATIC}, {"train": [bad], "validation": [tiny_drop / "validation.csv"]})
    assert xgb.main(job.root) == 1
    assert job.failure.read_text() == "train/train.csv line 1: not a row of numbers (no header expected)"


def test_xgb_reads_every_file_of_a_channel(
    make_job: MakeJob, capsys: pytest.CaptureFixture[str], tiny_drop: Path, tmp_path: Path
) -> None:
    lines = (tiny_drop / "train.csv").read_text().splitlines(keepends=True)
    parts = tmp_path / "parts"
    parts.mkdir()
    (parts / "a.csv").write_text("".join(lines[: len(lines) // 2]))
    (parts / "b.csv").write_text("".join(lines[len(lines) // 2 :]))
    whole = make_job({**STATIC, "num_round": "20"})
    split = make_job(
        {**STATIC, "num_round": "20"},
        {"train": [parts / "a.csv", parts / "b.csv"], "validation": [tiny_drop / "validation.csv"]},
    )
    assert xgb.main(whole.root) == 0
    first = capsys.readouterr().out
    assert xgb.main(split.root) == 0
    assert capsys.readouterr().out == first


def test_xgb_runs_as_the_image_command_and_leaves_on_sigterm(make_job: MakeJob) -> None:
    job = make_job({**STATIC, "num_round": "100000", "eval_every": "1", "early_stopping_rounds": "100000"})
    env = {
        **os.environ,
        "SAGEMAKER_BASE_DIR": str(job.root),
        "PYTHONPATH": str(ROOT),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "trainers.market_volatility", "xgb", "train"],
        cwd=job.root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("epoch=1 validation_rmse=")
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=20)
    assert process.returncode == 0, err
    epochs = parse_metrics(first + out, REGEXES)["train:epochs"]
    assert epochs == list(range(1, len(epochs) + 1)) and len(epochs) < 100000
    assert json.loads((job.model / "retune-model.json").read_text())["kind"] == "xgb"
