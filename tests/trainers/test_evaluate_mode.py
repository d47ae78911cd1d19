"""Evaluate mode, the same in both images: champion and challenger scored on every test row."""

from __future__ import annotations

import json
import re
import tarfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import xgboost
from retune.requests import EVALUATION_METRICS

from tests.trainers.conftest import MakeJob, parse_metrics, profile
from trainers.market_volatility import mlp, models, xgb

# One worker runs the module: its trained models (a module fixture) are trained once.
pytestmark = pytest.mark.xdist_group("evaluate-mode")

EVALUATE = {"retune_mode": "evaluate", "objective_metric": "validation:rmse", "objective_type": "Minimize"}
SCORES = {name: re.compile(regex) for name, regex in EVALUATION_METRICS}
Mains = Callable[[Path], int]


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory, tiny_drop: Path) -> dict[str, Path]:
    """A model.tar.gz of each family, trained on the tiny drop, in the folder layout SageMaker would give."""
    archives = {}
    for kind, main, hyperparameters in (
        ("xgb", xgb.main, {**profile("market-xgb")["training"]["static_hyperparameters"], "num_round": "30"}),
        ("mlp", mlp.main, {"max_epochs": "3", "hidden_units": "8", "hidden_layers": "1"}),
    ):
        root = tmp_path_factory.mktemp(f"train-{kind}")
        for channel in ("train", "validation"):
            (root / "input" / "data" / channel).mkdir(parents=True)
            (root / "input" / "data" / channel / f"{channel}.csv").write_bytes(
                (tiny_drop / f"{channel}.csv").read_bytes()
            )
        (root / "input" / "config").mkdir(parents=True)
        (root / "input" / "config" / "hyperparameters.json").write_text(json.dumps(hyperparameters))
        assert main(root) == 0
        archive = root / "model.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted((root / "model").iterdir()):
                tar.add(path, arcname=path.name)
        archives[kind] = archive
    return archives


def independent_rmse(archive: Path, test_csv: Path, workdir: Path) -> float:
    """Scores a model.tar.gz without the trainers' evaluate code: unpack, predict, RMSE in numpy."""
    folder = workdir / archive.parent.name
    folder.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    table = np.loadtxt(test_csv, delimiter=",", ndmin=2)
    meta = json.loads((folder / "retune-model.json").read_text())
    if meta["kind"] == "xgb":
        booster = xgboost.Booster(model_file=str(folder / "xgboost-model.ubj"))
        prediction = booster.predict(xgboost.DMatrix(table[:, 1:])).astype(np.float64)
    else:
        with np.load(folder / "mlp.npz") as a:
            hidden = (table[:, 1:] - a["x_mean"]) / a["x_scale"]
            layers = sum(1 for n in a.files if n.startswith("coef_"))
            for i in range(layers):
                hidden = hidden @ a[f"coef_{i}"] + a[f"intercept_{i}"]
                hidden = np.maximum(hidden, 0) if i < layers - 1 else hidden
            prediction = hidden[:, 0] * a["y"][1] + a["y"][0]
    return float(np.sqrt(np.mean((prediction - table[:, 0]) ** 2)))


@pytest.mark.parametrize(("image", "challenger", "champion"), [("xgb", "xgb", "xgb"), ("mlp", "mlp", "xgb")])
def test_evaluate_scores_both_models_on_the_test_rows(
    make_job: MakeJob,
    capsys: pytest.CaptureFixture[str],
    trained: dict[str, Path],
    tiny_drop: Path,
    tmp_path: Path,
    image: str,
    challenger: str,
    champion: str,
) -> None:
    job = make_job(
        EVALUATE,
        {
            "challenger": [trained[challenger]],
            "champion": [trained[champion]],
            "test": [tiny_drop / "test.csv"],
        },
    )
    main = xgb.main if image == "xgb" else mlp.main
    assert main(job.root) == 0
    series = parse_metrics(capsys.readouterr().out, SCORES)
    assert len(series["challenger_score"]) == 1 and len(series["champion_score"]) == 1
    expected_challenger = independent_rmse(trained[challenger], tiny_drop / "test.csv", tmp_path / "a")
    expected_champion = independent_rmse(trained[champion], tiny_drop / "test.csv", tmp_path / "b")
    assert series["challenger_score"][0] == pytest.approx(expected_challenger, rel=1e-12)
    assert series["champion_score"][0] == pytest.approx(expected_champion, rel=1e-12)
    report = json.loads((job.model / "evaluation.json").read_text())
    rows = len((tiny_drop / "test.csv").read_text().splitlines())
    assert report == {
        "objective_metric": "validation:rmse",
        "objective_type": "Minimize",
        "challenger_score": series["challenger_score"][0],
        "champion_score": series["champion_score"][0],
        "rows": rows,
        "kinds": {"challenger": challenger, "champion": champion},
    }


def test_evaluate_without_a_champion_scores_the_challenger_only(
    make_job: MakeJob, capsys: pytest.CaptureFixture[str], trained: dict[str, Path], tiny_drop: Path
) -> None:
    job = make_job(EVALUATE, {"challenger": [trained["xgb"]], "test": [tiny_drop / "test.csv"]})
    assert xgb.main(job.root) == 0
    series = parse_metrics(capsys.readouterr().out, SCORES)
    assert len(series["challenger_score"]) == 1 and series["champion_score"] == []
    assert json.loads((job.model / "evaluation.json").read_text())["champion_score"] is None


def test_evaluate_scores_the_evaluated_model_as_train_mode_did(
    make_job: MakeJob, capsys: pytest.CaptureFixture[str], trained: dict[str, Path], tiny_drop: Path
) -> None:
    # Scored on the validation rows, the challenger gets exactly the objective its training run reported last.
    job = make_job(EVALUATE, {"challenger": [trained["mlp"]], "test": [tiny_drop / "validation.csv"]})
    assert mlp.main(job.root) == 0
    score = parse_metrics(capsys.readouterr().out, SCORES)["challenger_score"][0]
    with tarfile.open(trained["mlp"]) as tar:
        member = tar.extractfile("retune-model.json")
        assert member is not None
        assert score == json.load(member)["validation_rmse"]


def _broken_archive(folder: Path, files: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True)
    archive = folder / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, content in files.items():
            path = folder / name
            path.write_bytes(content)
            tar.add(path, arcname=name)
            path.unlink()
    return archive


def test_evaluate_failures_name_the_channel_at_fault(
    make_job: MakeJob,
    capsys: pytest.CaptureFixture[str],
    trained: dict[str, Path],
    tiny_drop: Path,
    tmp_path: Path,
) -> None:
    test = [tiny_drop / "test.csv"]
    foreign = _broken_archive(tmp_path / "foreign", {"model.pkl": b"\x80\x04N."})
    newer = _broken_archive(
        tmp_path / "newer",
        {"retune-model.json": json.dumps({"format": "retune-market-volatility/2", "kind": "xgb"}).encode()},
    )
    narrow = tmp_path / "narrow.csv"
    narrow.write_text("\n".join(",".join(line.split(",")[:5]) for line in test[0].read_text().splitlines()))
    cases = [
        ({"test": test}, "evaluate mode needs the 'challenger' channel; the job has ['test']"),
        (
            {"challenger": [trained["xgb"]], "champion": [], "test": test},
            "channel 'champion': no model.tar.gz in",
        ),
        (
            {"challenger": [foreign], "test": test},
            "channel 'challenger': model.tar.gz holds no retune-model.json: not a model of these trainers",
        ),
        (
            {"challenger": [newer], "test": test},
            "channel 'challenger': model format 'retune-market-volatility/2'; this trainer reads "
            "'retune-market-volatility/1'",
        ),
        (
            {"challenger": [trained["xgb"]], "test": [narrow]},
            "channel 'challenger': the model takes 16 features, the data has 4",
        ),
        ({"challenger": [trained["xgb"]], "test": []}, "channel 'test' holds no rows"),
    ]
    for channels, message in cases:
        job = make_job(EVALUATE, channels)
        assert xgb.main(job.root) == 1
        assert job.failure.read_text().startswith(message)
        assert parse_metrics(capsys.readouterr().out, SCORES) == {
            "challenger_score": [],
            "champion_score": [],
        }
        assert not (job.model / "evaluation.json").exists()


def test_evaluate_refuses_an_objective_it_cannot_compute(
    make_job: MakeJob, trained: dict[str, Path], tiny_drop: Path
) -> None:
    job = make_job(
        {**EVALUATE, "objective_metric": "validation:auc"},
        {"challenger": [trained["xgb"]], "test": [tiny_drop / "test.csv"]},
    )
    assert xgb.main(job.root) == 1
    assert job.failure.read_text() == "objective_metric 'validation:auc': these trainers score ['rmse']"


def test_models_module_reads_both_kinds(trained: dict[str, Path], tmp_path: Path) -> None:
    for kind, archive in trained.items():
        folder = tmp_path / kind
        folder.mkdir()
        with tarfile.open(archive) as tar:
            tar.extractall(folder, filter="data")
        assert models.load_model_dir(folder, kind).kind == kind
