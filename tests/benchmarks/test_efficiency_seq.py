"""The efficiency benchmark's market-seq workload runs the sequence trainer as `make demo PROFILE=market-seq` does:
the same image mapping (the torch venv's Python, its clock, its environment, cold), the same sequence drops, and
test scores from the trainer's own evaluate mode (the evaluation job the demo runs)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from retune_local import demo, market
from retune_local.template import ROOT

from benchmarks.efficiency_harness import (
    arm_profile,
    drop_folder,
    sequence_test_rmse,
    sequences,
    workload_images,
)
from tests.trainers.conftest import tiny_sequence_drop, tiny_spec, torch_python  # noqa: F401 - fixtures

SMALL = {"hidden_size": "8", "layers": "1", "sequence_length": "5", "batch_size": "64", "max_epochs": "1"}


def test_the_seq_workload_maps_the_demos_trainer_and_drops(tmp_path: Path) -> None:
    profile_doc = json.loads((ROOT / "profiles" / "market-seq.json").read_text())
    shown = demo.workload(profile_doc, 1, "2015-01-01")
    for arm in ("amt_default", "retune", "random_matched"):
        assert arm_profile("seq", arm, 1, None, None).training.image == demo.SEQUENCE_IMAGE
    images = workload_images(["seq"])
    assert images[demo.SEQUENCE_IMAGE] == shown.images[demo.SEQUENCE_IMAGE]
    assert images[demo.SEQUENCE_IMAGE].argv[0] == str(demo.TORCH_PYTHON)
    # The other workloads keep the market trainers' warm images, and only those.
    assert workload_images(["xgb", "mlp"]) == demo.market_images()
    assert sequences("seq") and not sequences("xgb") and not sequences("mlp")

    # The harness's drop of a window is the demo's, byte for byte (the context days included).
    spec = market.windows("2015-01-01", 1)[0]
    (tmp_path / "work").mkdir()
    ours = drop_folder(tmp_path / "work", spec, sequences("seq"))
    shown.drops[0].write(tmp_path / "demo")
    for name in ("train.csv", "validation.csv", "test.csv", "manifest.json"):
        assert (ours / name).read_bytes() == (tmp_path / "demo" / name).read_bytes(), name
    assert drop_folder(tmp_path / "work", spec) != ours  # the plain drop of the same window lives apart


def test_sequence_models_are_scored_by_the_trainers_evaluate_mode(
    tmp_path: Path,
    torch_python: Path,  # noqa: F811 - the fixture
    tiny_sequence_drop: Path,  # noqa: F811
) -> None:
    # One tiny model, trained as a trial is (the image's command and environment).
    spec = demo.sequence_images()[demo.SEQUENCE_IMAGE]
    job = tmp_path / "job"
    (job / "input" / "config").mkdir(parents=True)
    (job / "input" / "config" / "hyperparameters.json").write_text(json.dumps(SMALL))
    for channel in ("train", "validation"):
        (job / "input" / "data" / channel).mkdir(parents=True)
        shutil.copy(tiny_sequence_drop / f"{channel}.csv", job / "input" / "data" / channel)
    env = {**os.environ, **spec.env, "SAGEMAKER_BASE_DIR": str(job)}
    subprocess.run(list(spec.argv), cwd=job, env=env, check=True, capture_output=True)
    validation = json.loads((job / "model" / "retune-model.json").read_text())["validation_rmse"]

    # Scored on a drop whose test channel is the validation channel: what train mode printed for validation.
    drop = tmp_path / "drop"
    drop.mkdir()
    shutil.copy(tiny_sequence_drop / "validation.csv", drop / "test.csv")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    scores = sequence_test_rmse([job / "model", job / "model"], drop, scratch)
    assert scores == [validation, validation]
    assert not list(scratch.iterdir())  # each evaluation's folder is removed once read
