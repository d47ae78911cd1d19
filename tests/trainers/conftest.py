"""Fixtures for the market-volatility trainers and drops: a tiny real drop, job folders laid out as /opt/ml, and the
market profiles' metric regexes."""

from __future__ import annotations

import json
import re
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from retune_local import market

ROOT = Path(__file__).resolve().parents[2]
PROFILES = ROOT / "profiles"
TINY_TICKERS = ("AAPL", "JPM", "XOM")


def profile(name: str) -> dict[str, Any]:
    return json.loads((PROFILES / f"{name}.json").read_text())


def metric_regexes(profile_name: str) -> dict[str, re.Pattern[str]]:
    return {
        d["name"]: re.compile(d["regex"]) for d in profile(profile_name)["training"]["metric_definitions"]
    }


def parse_metrics(output: str, regexes: dict[str, re.Pattern[str]]) -> dict[str, list[float]]:
    """Each metric's values, line by line, as SageMaker applies MetricDefinitions (a search per line)."""
    series: dict[str, list[float]] = {name: [] for name in regexes}
    for line in output.splitlines():
        for name, pattern in regexes.items():
            match = pattern.search(line)
            if match:
                series[name].append(float(match.group(1)))
    return series


@pytest.fixture(scope="session")
def tiny_spec() -> market.DropSpec:
    """One real window, cut small: 3 stocks, 8 months of training (about 500 training rows)."""
    return market.windows("2015-01-01", 1, train_months=8, tickers=TINY_TICKERS)[0]


@pytest.fixture(scope="session")
def tiny_drop(tmp_path_factory: pytest.TempPathFactory, tiny_spec: market.DropSpec) -> Path:
    folder = tmp_path_factory.mktemp("drop") / tiny_spec.drop_id
    market.write_drop(tiny_spec, folder)
    return folder


@dataclass
class JobDir:
    root: Path

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def failure(self) -> Path:
        return self.root / "output" / "failure"

    def meta(self) -> dict[str, Any]:
        return json.loads((self.model / "retune-model.json").read_text())

    def pack_model(self, target: Path) -> Path:
        """model/ as SageMaker packs it: model.tar.gz with the files at the archive's top level."""
        target.mkdir(parents=True, exist_ok=True)
        archive = target / "model.tar.gz"
        with tarfile.open(archive, "w:gz") as tar:
            for path in sorted(self.model.iterdir()):
                tar.add(path, arcname=path.name)
        return archive


MakeJob = Callable[..., JobDir]


@pytest.fixture
def make_job(tmp_path: Path, tiny_drop: Path) -> MakeJob:
    """A job folder laid out as /opt/ml: hyperparameters (as strings), the channels' config and files."""
    count = 0

    def make(hyperparameters: dict[str, str], channels: dict[str, list[Path]] | None = None) -> JobDir:
        nonlocal count
        count += 1
        root = tmp_path / f"job-{count}"
        if channels is None:
            channels = {c: [tiny_drop / f"{c}.csv"] for c in ("train", "validation")}
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
        (root / "model").mkdir()
        (root / "output").mkdir()
        return JobDir(root)

    return make


# The sequence trainer (trainers/market_sequence) runs in its own Python, 3.11 with torch (`make torch-venv`):
# retune's .venv never imports torch, so its tests run the trainer as a process, as the local stack does.
TORCH_PYTHON = ROOT / ".venv-tools" / "torch" / "bin" / "python"


@pytest.fixture(scope="session")
def torch_python() -> Path:
    if not TORCH_PYTHON.is_file():
        pytest.fail(f"{TORCH_PYTHON} is missing: `make torch-venv` builds it (make test does)")
    return TORCH_PYTHON


@pytest.fixture(scope="session")
def tiny_sequence_drop(tmp_path_factory: pytest.TempPathFactory, tiny_spec: market.DropSpec) -> Path:
    """The tiny window as a sequence drop: each channel after its 63 context days."""
    folder = tmp_path_factory.mktemp("sequence-drop") / tiny_spec.drop_id
    market.write_sequence_drop(tiny_spec, folder)
    return folder
