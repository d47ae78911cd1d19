"""The sequence trainer (LSTM, Transformer) as SageMaker runs it: in its own Python (3.11 with torch) on job
folders laid out as /opt/ml, on a tiny real sequence drop (3 stocks, 8 months of training).

torch's import costs seconds of CPU, so the module's jobs run in few processes: the training jobs in one
(`trained`), the evaluation jobs and a repeat of one training job in another. Each job's output is what the process
printed while running it."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.trainers.conftest import ROOT, JobDir, metric_regexes, parse_metrics, profile

# One worker runs the module: its jobs (the module's fixtures, each a torch process) are then trained once, not once
# per xdist worker.
pytestmark = pytest.mark.xdist_group("sequence-trainer")

PROFILE = profile("market-seq")
STATIC = PROFILE["training"]["static_hyperparameters"]
REGEXES = metric_regexes("market-seq")
SMALL = {"hidden_size": "8", "layers": "1", "heads": "2", "sequence_length": "5", "batch_size": "64"}
# Runs each job folder named on the command line in turn, as the image's entry point would, its output in files.
DRIVER = """
import contextlib, sys
from pathlib import Path
from trainers.market_sequence.trainer import main
for name in sys.argv[1:]:
    root = Path(name)
    with open(root / "stdout.log", "w") as out, open(root / "stderr.log", "w") as err:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(root)
    (root / "exit-code").write_text(str(code))
"""


@dataclass
class Run:
    job: JobDir

    @property
    def code(self) -> int:
        return int((self.job.root / "exit-code").read_text())

    @property
    def stdout(self) -> str:
        return (self.job.root / "stdout.log").read_text()

    @property
    def stderr(self) -> str:
        return (self.job.root / "stderr.log").read_text()

    @property
    def series(self) -> dict[str, list[float]]:
        return parse_metrics(self.stdout, REGEXES)

    def ok(self) -> Run:
        assert self.code == 0, self.stderr
        return self


def run_jobs(torch_python: Path, jobs: list[JobDir]) -> list[Run]:
    """Run the jobs, in order, in one process of the torch venv's Python (SAGEMAKER_BASE_DIR is per job: each
    job's root is passed to the trainer's main)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    subprocess.run(
        [str(torch_python), "-c", DRIVER, *(str(j.root) for j in jobs)], env=env, timeout=600, check=True
    )
    return [Run(job) for job in jobs]


class Jobs:
    """Job folders laid out as /opt/ml (tests/trainers/conftest.py make_job, for a module's many jobs)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.count = 0

    def make(self, hyperparameters: dict[str, str], channels: dict[str, list[Path]]) -> JobDir:
        self.count += 1
        root = self.folder / f"job-{self.count}"
        config = root / "input" / "config"
        config.mkdir(parents=True)
        (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
        (config / "inputdataconfig.json").write_text(
            json.dumps({c: {"TrainingInputMode": "File"} for c in channels})
        )
        for channel, files in channels.items():
            (root / "input" / "data" / channel).mkdir(parents=True)
            for path in files:
                (root / "input" / "data" / channel / path.name).write_bytes(path.read_bytes())
        (root / "model").mkdir()
        (root / "output").mkdir()
        return JobDir(root)


def range_ends(end: int) -> dict[str, str]:
    values = {}
    for r in PROFILE["search"]["ranges"]:
        if r["type"] == "categorical":
            values[r["name"]] = r["values"][-end]
        else:
            values[r["name"]] = str(r["min_value"] if end == 0 else r["max_value"])
    return values


# The module's training jobs: name -> hyperparameters (over the profile's static ones and SMALL).
TRAINING = {
    "low-ends": {**range_ends(0), "max_epochs": "2", "_tuning_objective_metric": "validation:rmse"},
    "high-ends": {**range_ends(1), "max_epochs": "2", "_tuning_objective_metric": "validation:rmse"},
    "lstm": {"architecture": "lstm", "max_epochs": "4", "patience": "100", "learning_rate": "0.003"},
    "transformer": {
        "architecture": "transformer",
        "max_epochs": "4",
        "patience": "100",
        "learning_rate": "0.003",
    },
    "patience": {"max_epochs": "40", "patience": "1", "learning_rate": "0.01"},
    "seed-3": {
        "architecture": "transformer",
        "max_epochs": "3",
        "patience": "100",
        "dropout": "0.2",
        "seed": "3",
    },
    "seed-4": {
        "architecture": "transformer",
        "max_epochs": "3",
        "patience": "100",
        "dropout": "0.2",
        "seed": "4",
    },
    "longer": {"max_epochs": "1", "sequence_length": "20"},
    "wider": {"max_epochs": "1", "hidden_size": "32", "layers": "2"},
    "plain-drop": {},
    "too-long": {"sequence_length": "65"},
}


@dataclass
class Module:
    torch_python: Path
    jobs: Jobs
    drop: Path
    runs: dict[str, Run]


@pytest.fixture(scope="module")
def trained(
    torch_python: Path,
    tmp_path_factory: pytest.TempPathFactory,
    tiny_sequence_drop: Path,
    tiny_drop: Path,
) -> Module:
    jobs = Jobs(tmp_path_factory.mktemp("sequence-jobs"))
    folders = {}
    for name, hyperparameters in TRAINING.items():
        drop = tiny_drop if name == "plain-drop" else tiny_sequence_drop
        channels = {c: [drop / f"{c}.csv"] for c in ("train", "validation")}
        folders[name] = jobs.make({**STATIC, **SMALL, **hyperparameters}, channels)
    runs = dict(zip(folders, run_jobs(torch_python, list(folders.values())), strict=True))
    return Module(torch_python, jobs, tiny_sequence_drop, runs)


@pytest.mark.parametrize("end", ["low-ends", "high-ends"])
def test_profile_hyperparameters_are_all_read_at_both_ends_of_every_range(trained: Module, end: str) -> None:
    run = trained.runs[end].ok()
    assert "ignored hyperparameters" not in run.stderr
    series = run.series
    assert series["train:epochs"] == [1, 2]
    assert len(series["validation:rmse"]) == len(series["train:compute"]) == 2
    hyperparameters = json.loads((run.job.root / "input" / "config" / "hyperparameters.json").read_text())
    assert PROFILE["metrics"]["patience_hyperparameter"] in hyperparameters
    assert run.job.meta()["net"]["architecture"] == hyperparameters["architecture"]


@pytest.mark.parametrize("architecture", ["lstm", "transformer"])
def test_one_metric_line_per_epoch_as_best_so_far_and_the_best_model_saved(
    trained: Module, architecture: str
) -> None:
    run = trained.runs[architecture].ok()
    series = run.series
    assert series["train:epochs"] == [1, 2, 3, 4]
    objective = series["validation:rmse"]
    assert all(b <= a for a, b in itertools.pairwise(objective))
    # Compute is a running total of a fixed count per epoch.
    per_epoch = series["train:compute"][0]
    assert per_epoch > 0 and series["train:compute"] == [per_epoch * e for e in range(1, 5)]
    meta = run.job.meta()
    assert meta["format"] == "retune-market-sequence/1"
    assert meta["net"]["architecture"] == architecture
    assert meta["validation_rmse"] == objective[-1]
    assert meta["net"]["sequence_length"] == 5 and meta["net"]["features"] == 16
    assert (run.job.model / "model.pt").is_file()
    assert not [p for p in run.job.model.iterdir() if p.name.startswith(".partial")]


def test_patience_stops_training_and_keeps_the_best_epoch(trained: Module) -> None:
    run = trained.runs["patience"].ok()
    epochs = int(run.series["train:epochs"][-1])
    assert epochs < 40
    assert epochs - run.job.meta()["epoch"] == 1


def test_compute_grows_with_the_network_and_the_sequence(trained: Module) -> None:
    def first(name: str) -> float:
        return trained.runs[name].ok().series["train:compute"][0]

    assert first("patience") < first("longer")
    assert first("patience") < first("wider")
    # The profile's ranges span more than 5x in compute (an epoch at one end against the other).
    assert first("high-ends") > 5 * first("low-ends")


def test_a_plain_market_drop_is_refused_naming_the_column(trained: Module) -> None:
    run = trained.runs["plain-drop"]
    assert run.code == 1
    failure = run.job.failure.read_text()
    assert failure.startswith("channel 'train' row 1: column 2 (scored) must be 0 or 1"), failure


def test_a_sequence_longer_than_the_drops_context_is_refused(trained: Module) -> None:
    run = trained.runs["too-long"]
    assert run.code == 1
    assert run.job.failure.read_text() == (
        "hyperparameter sequence_length=65: at most 64 (the drops' context)"
    )


@dataclass
class Evaluations:
    repeat: Run
    both: Run
    alone: Run
    foreign: Run


@pytest.fixture(scope="module")
def evaluated(trained: Module, tmp_path_factory: pytest.TempPathFactory) -> Evaluations:
    """In a second process: the seed-3 job again, and evaluation jobs of the trained models."""
    packs = tmp_path_factory.mktemp("packs")
    runs = trained.runs
    repeat = trained.jobs.make(
        {**STATIC, **SMALL, **TRAINING["seed-3"]},
        {c: [trained.drop / f"{c}.csv"] for c in ("train", "validation")},
    )

    def evaluation(test_file: Path, **models: JobDir) -> JobDir:
        channels = {role: [job.pack_model(packs / f"{job.root.name}-{role}")] for role, job in models.items()}
        hyperparameters = {
            "retune_mode": "evaluate",
            "objective_metric": "validation:rmse",
            "objective_type": "Minimize",
        }
        return trained.jobs.make(hyperparameters, {**channels, "test": [test_file]})

    foreign = trained.jobs.make({}, {})
    (foreign.model / "retune-model.json").write_text(json.dumps({"format": "retune-market-volatility/1"}))
    jobs = [
        repeat,
        # Scored on the validation rows, each model's score must be the validation RMSE its train mode printed.
        evaluation(
            trained.drop / "validation.csv",
            challenger=runs["lstm"].ok().job,
            champion=runs["transformer"].ok().job,
        ),
        evaluation(trained.drop / "test.csv", challenger=runs["lstm"].job),
        evaluation(trained.drop / "test.csv", challenger=runs["lstm"].job, champion=foreign),
    ]
    return Evaluations(*run_jobs(trained.torch_python, jobs))


def test_same_seed_same_run_in_another_process_other_seed_other_run(
    trained: Module, evaluated: Evaluations
) -> None:
    first, again, other = trained.runs["seed-3"].ok(), evaluated.repeat.ok(), trained.runs["seed-4"].ok()
    assert first.stdout == again.stdout
    assert (first.job.model / "model.pt").read_bytes() == (again.job.model / "model.pt").read_bytes()
    assert first.series["validation:rmse"] != other.series["validation:rmse"]


def evaluation_report(run: Run) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((run.job.model / "evaluation.json").read_text())
    return document


def test_evaluate_scores_as_train_mode_does_on_the_same_rows(trained: Module, evaluated: Evaluations) -> None:
    run = evaluated.both.ok()
    scores = dict(line.split("=", 1) for line in run.stdout.split())
    assert float(scores["challenger_score"]) == trained.runs["lstm"].job.meta()["validation_rmse"]
    assert float(scores["champion_score"]) == trained.runs["transformer"].job.meta()["validation_rmse"]
    report = evaluation_report(run)
    assert report["challenger_score"] == float(scores["challenger_score"])
    rows = np.loadtxt(trained.drop / "validation.csv", delimiter=",", ndmin=2)
    assert report["rows"] == int(rows[:, 1].sum())  # the scored rows, not the context
    assert report["architectures"] == {"challenger": "lstm", "champion": "transformer"}


def test_evaluate_without_a_champion(evaluated: Evaluations) -> None:
    run = evaluated.alone.ok()
    report = evaluation_report(run)
    assert report["champion_score"] is None and 0.2 < report["challenger_score"] < 1.5
    assert report["objective_metric"] == "validation:rmse" and report["objective_type"] == "Minimize"
    assert "champion_score" not in run.stdout


def test_evaluate_refuses_a_champion_of_another_format_by_name(evaluated: Evaluations) -> None:
    run = evaluated.foreign
    assert run.code == 1
    assert run.job.failure.read_text() == (
        "channel 'champion': model format 'retune-market-volatility/1'; this trainer reads "
        "'retune-market-sequence/1'"
    )
    assert not (run.job.model / "evaluation.json").exists()
