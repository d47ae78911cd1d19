"""The churn evaluator (image retune/churn-evaluate): evaluate mode for models of SageMaker's built-in XGBoost, by
AUC on the test rows, as docs/trainer-contract.md asks."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import numpy as np
import pytest
import xgboost
from retune.requests import EVALUATION_METRICS
from retune_local import churn

from tests.trainers.conftest import ROOT
from trainers.churn_evaluate import evaluate

EVALUATE = {"retune_mode": "evaluate", "objective_metric": "validation:auc", "objective_type": "Maximize"}
SCORES = {name: re.compile(regex) for name, regex in EVALUATION_METRICS}
DATA = Path(__file__).resolve().parent / "data"
BUILTIN_MODEL = DATA / "builtin-xgboost-1.7-model.tar.gz"  # made by data/make_builtin_xgboost_model.py
BUILTIN_FACTS = json.loads((DATA / "builtin-xgboost-1.7-model.json").read_text())
XGBOOST_17 = ROOT / ".venv-tools" / "xgboost-1.7.6" / "bin" / "python"  # make xgboost-venvs
SPEC = churn.drops(2, rows={"train": 800, "validation": 300, "test": 400})[1]


def write_csv(path: Path, features: np.ndarray, labels: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, np.column_stack([labels, features]), fmt="%.10g", delimiter=",")
    return path


def booster_archive(folder: Path, rounds: int, depth: int) -> tuple[Path, xgboost.Booster]:
    """A model.tar.gz holding `xgboost-model`, saved as the built-in algorithm saves it (Booster.save_model under
    that exact name, the best model kept by early stopping), here by the test venv's xgboost."""
    x, y = churn.customers(SPEC, "train")
    xv, yv = churn.customers(SPEC, "validation")
    stop = xgboost.callback.EarlyStopping(
        rounds=10, data_name="validation", metric_name="auc", save_best=True
    )
    booster = xgboost.train(
        {"objective": "binary:logistic", "eval_metric": "auc", "max_depth": depth, "eta": 0.2, "nthread": 1},
        xgboost.DMatrix(x, label=y),
        rounds,
        evals=[(xgboost.DMatrix(xv, label=yv), "validation")],
        callbacks=[stop],
        verbose_eval=False,
    )
    folder.mkdir(parents=True)
    booster.save_model(str(folder / "xgboost-model"))
    archive = folder / "model.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder / "xgboost-model", arcname="xgboost-model")
    (folder / "xgboost-model").unlink()
    return archive, booster


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, xgboost.Booster]]:
    tmp = tmp_path_factory.mktemp("churn-models")
    return {"challenger": booster_archive(tmp / "a", 60, 3), "champion": booster_archive(tmp / "b", 8, 1)}


def job(root: Path, hyperparameters: dict[str, str], channels: dict[str, list[Path]]) -> Path:
    """A job folder laid out as /opt/ml."""
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "inputdataconfig.json").write_text(
        json.dumps({c: {"TrainingInputMode": "File"} for c in channels})
    )
    for channel, files in channels.items():
        folder = root / "input" / "data" / channel
        folder.mkdir(parents=True)
        for path in files:
            shutil.copy(path, folder / path.name)
    return root


def failure(root: Path) -> str:
    return (root / "output" / "failure").read_text()


def test_churn_evaluator_scores_both_models_by_auc_on_every_test_row(
    tmp_path: Path, models: dict[str, tuple[Path, xgboost.Booster]], capsys: pytest.CaptureFixture[str]
) -> None:
    x, y = churn.customers(SPEC, "test")
    test = write_csv(tmp_path / "test.csv", x, y)
    root = job(
        tmp_path / "job",
        EVALUATE,
        {"challenger": [models["challenger"][0]], "champion": [models["champion"][0]], "test": [test]},
    )
    assert evaluate.main(root) == 0
    lines = capsys.readouterr().out.splitlines()
    printed = {
        name: [float(m.group(1)) for line in lines if (m := rx.search(line))] for name, rx in SCORES.items()
    }
    document = json.loads((root / "model" / "evaluation.json").read_text())
    assert document["objective_metric"] == "validation:auc" and document["objective_type"] == "Maximize"
    assert document["rows"] == len(y) == 400
    for channel in ("challenger", "champion"):
        booster = models[channel][1]
        # XGBoost's own AUC of the model on the same rows: the built-in algorithm's validation:auc computation.
        own = float(booster.eval(xgboost.DMatrix(x, label=y), name="test").split("test-auc:")[1])
        assert printed[f"{channel}_score"] == [document[f"{channel}_score"]]
        assert document[f"{channel}_score"] == pytest.approx(own, abs=1e-6)
    assert abs(document["challenger_score"] - document["champion_score"]) > 0.005  # two models, each scored


def test_churn_evaluator_without_a_champion_scores_the_challenger_alone(
    tmp_path: Path, models: dict[str, tuple[Path, xgboost.Booster]], capsys: pytest.CaptureFixture[str]
) -> None:
    test = write_csv(tmp_path / "test.csv", *churn.customers(SPEC, "test"))
    root = job(tmp_path / "job", EVALUATE, {"challenger": [models["challenger"][0]], "test": [test]})
    assert evaluate.main(root) == 0
    out = capsys.readouterr().out
    assert "challenger_score=" in out and "champion_score" not in out
    assert json.loads((root / "model" / "evaluation.json").read_text())["champion_score"] is None


def test_churn_evaluator_fails_naming_the_setting_or_channel_at_fault(
    tmp_path: Path, models: dict[str, tuple[Path, xgboost.Booster]]
) -> None:
    x, y = churn.customers(SPEC, "test")
    test = write_csv(tmp_path / "data" / "test.csv", x, y)
    challenger = models["challenger"][0]
    market_like = tmp_path / "market" / "model.tar.gz"
    market_like.parent.mkdir()
    (tmp_path / "retune-model.json").write_text("{}")
    with tarfile.open(market_like, "w:gz") as tar:
        tar.add(tmp_path / "retune-model.json", arcname="retune-model.json")
    header = tmp_path / "header" / "test.csv"
    header.parent.mkdir()
    header.write_text("churned,tenure\n" + test.read_text())
    labels = write_csv(tmp_path / "labels" / "test.csv", x, y * 2)
    narrow = write_csv(tmp_path / "narrow" / "test.csv", x[:, :5], y)
    cases = [
        (
            {**EVALUATE, "retune_mode": "train"},
            {"challenger": [challenger], "test": [test]},
            "this image only evaluates",
        ),
        (
            {**EVALUATE, "objective_metric": "validation:rmse"},
            {"challenger": [challenger], "test": [test]},
            "scores AUC",
        ),
        (
            {**EVALUATE, "objective_type": "Minimize"},
            {"challenger": [challenger], "test": [test]},
            "use Maximize",
        ),
        (EVALUATE, {"test": [test]}, "channel 'challenger' is missing"),
        (EVALUATE, {"challenger": [market_like], "test": [test]}, "holds no xgboost-model"),
        (
            EVALUATE,
            {"challenger": [challenger], "champion": [market_like], "test": [test]},
            "channel 'champion'",
        ),
        (EVALUATE, {"challenger": [challenger], "test": [header]}, "test/test.csv: not rows of numbers"),
        (EVALUATE, {"challenger": [challenger], "test": [labels]}, "the label, 0 or 1"),
        (EVALUATE, {"challenger": [challenger], "test": [narrow]}, "the model takes 14 features"),
    ]
    for i, (hyperparameters, channels, expected) in enumerate(cases):
        root = job(tmp_path / f"job-{i}", hyperparameters, channels)
        assert evaluate.main(root) == 1, expected
        assert expected in failure(root)
        assert not (root / "model" / "evaluation.json").exists()


def test_churn_evaluator_refuses_the_builtin_binary_model_under_a_newer_xgboost(tmp_path: Path) -> None:
    """The built-in 1.7-1 writes XGBoost's old binary format, which XGBoost 3.1 and later cannot read: the image
    pins 1.7 (requirements.txt); run elsewhere, the job says which xgboost it has."""
    root = job(
        tmp_path / "job",
        EVALUATE,
        {"challenger": [BUILTIN_MODEL], "test": [DATA / "builtin-xgboost-test.csv"]},
    )
    assert evaluate.main(root) == 1
    assert failure(root).startswith(
        f"channel 'challenger': xgboost-model cannot be loaded by xgboost {xgboost.__version__}"
    )


def test_churn_evaluator_scores_a_model_made_by_the_builtin_algorithms_xgboost(tmp_path: Path) -> None:
    """A model.tar.gz as the built-in 1.7-1 writes it (XGBoost 1.7's binary `xgboost-model`), scored by the
    evaluator under the image's XGBoost 1.7 (the venv of `make xgboost-venvs`): the AUC XGBoost 1.7 itself
    computed for that model on those rows."""
    assert XGBOOST_17.exists(), f"{XGBOOST_17}: run `make xgboost-venvs`"
    with tarfile.open(BUILTIN_MODEL) as tar:
        assert tar.getnames() == ["xgboost-model"]
        member = tar.extractfile("xgboost-model")
        assert member is not None and member.read(4) == b"binf"  # XGBoost's old binary format
    test = DATA / "builtin-xgboost-test.csv"
    root = job(
        tmp_path / "job",
        EVALUATE,
        {"challenger": [BUILTIN_MODEL], "champion": [BUILTIN_MODEL], "test": [test]},
    )
    result = subprocess.run(
        [str(XGBOOST_17), "-m", "trainers.churn_evaluate", "train"],
        env={"SAGEMAKER_BASE_DIR": str(root), "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    document = json.loads((root / "model" / "evaluation.json").read_text())
    assert document["xgboost_version"] == BUILTIN_FACTS["xgboost_version"] == "1.7.6"
    assert document["rows"] == BUILTIN_FACTS["test_rows"]
    assert document["challenger_score"] == pytest.approx(BUILTIN_FACTS["test_auc_by_xgboost"], abs=1e-6)
    assert document["champion_score"] == document["challenger_score"]
    assert f"challenger_score={document['challenger_score']!r}" in result.stdout.splitlines()


def test_churn_evaluator_auc_is_the_generators() -> None:
    rng = np.random.default_rng(3)
    labels = (rng.random(300) < 0.3).astype(float)
    scores = np.round(rng.random(300), 2)  # with ties
    assert evaluate.auc(labels, scores) == pytest.approx(churn.auc(labels, scores), abs=1e-12)
