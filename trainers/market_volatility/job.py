"""The SageMaker training container contract, as the market-volatility trainers use it.

A job's root is `$SAGEMAKER_BASE_DIR` (the local SageMaker sets it) or `/opt/ml` (AWS), read when the job starts,
not at import: the warm runner imports this module once and forks many jobs from it.
"""

from __future__ import annotations

import json
import math
import os
import signal
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

ROOT_ENV = "SAGEMAKER_BASE_DIR"
DEFAULT_ROOT = "/opt/ml"
FAILURE_MAX = 1024


class JobError(Exception):
    """What the operator reads in output/failure: one line naming the file, channel or setting at fault."""


class Job:
    """One run of the program: its folders, its channels and what it has been asked to stop."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "input" / "config"
        self.data = root / "input" / "data"
        self.model = root / "model"
        self.output = root / "output"
        self.stop_requested = False  # set on SIGTERM; training loops check it after every round or epoch

    @classmethod
    def from_environment(cls) -> Job:
        return cls(Path(os.environ.get(ROOT_ENV, DEFAULT_ROOT)))

    def hyperparameters(self) -> dict[str, str]:
        path = self.config / "hyperparameters.json"
        if not path.is_file():
            return {}  # SageMaker writes the file only when the job has hyperparameters
        document = _read_json(path)
        if not isinstance(document, dict):
            raise JobError(f"{path}: not a JSON object")
        return {str(k): str(v) for k, v in document.items()}

    def channels(self) -> list[str]:
        """The job's channels: inputdataconfig.json is the authority; without it, the folders under input/data."""
        path = self.config / "inputdataconfig.json"
        if path.is_file():
            document = _read_json(path)
            if not isinstance(document, dict):
                raise JobError(f"{path}: not a JSON object")
            return sorted(document)
        return sorted(p.name for p in self.data.iterdir() if p.is_dir()) if self.data.is_dir() else []

    def channel_files(self, channel: str) -> list[Path]:
        """Every file of the channel, in name order (of the path relative to the channel's folder)."""
        folder = self.data / channel
        if not folder.is_dir():
            raise JobError(f"channel {channel!r}: no folder {folder}")
        return sorted(
            (p for p in folder.rglob("*") if p.is_file() and not p.name.startswith(".")),
            key=lambda p: p.relative_to(folder).as_posix(),
        )

    def read_csv(self, channel: str) -> tuple[np.ndarray, np.ndarray]:
        """(features, target) of a CSV channel: no header, the target in the first column, every file in order."""
        tables: list[np.ndarray] = []
        for path in self.channel_files(channel):
            table = _read_csv_file(path, f"{channel}/{path.relative_to(self.data / channel).as_posix()}")
            if tables and table.shape[1] != tables[0].shape[1]:
                raise JobError(
                    f"{channel}/{path.name}: {table.shape[1]} columns, the channel's first file has "
                    f"{tables[0].shape[1]}"
                )
            if len(table):
                tables.append(table)
        if not tables:
            raise JobError(f"channel {channel!r} holds no rows")
        table = np.concatenate(tables) if len(tables) > 1 else tables[0]
        if table.shape[1] < 2:
            raise JobError(f"channel {channel!r}: a row needs the target and at least one feature")
        return table[:, 1:], table[:, 0]

    def save(self, name: str, write: Callable[[Path], None]) -> None:
        """Write model/<name> atomically: `write` fills a temporary file that then replaces it."""
        self.model.mkdir(parents=True, exist_ok=True)
        partial = self.model / f".partial.{name}"  # the same suffix: XGBoost picks its format from it
        write(partial)
        os.replace(partial, self.model / name)

    def save_json(self, name: str, document: dict[str, Any]) -> None:
        def write(path: Path) -> None:
            path.write_text(json.dumps(document, indent=2) + "\n")

        self.save(name, write)

    def fail(self, message: str) -> None:
        self.output.mkdir(parents=True, exist_ok=True)
        (self.output / "failure").write_text(message[:FAILURE_MAX])


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise JobError(f"{path}: not readable JSON ({exc})") from exc


def _read_csv_file(path: Path, label: str) -> np.ndarray:
    try:
        table = np.loadtxt(path, delimiter=",", dtype=np.float64, ndmin=2)
    except ValueError:
        raise JobError(
            f"{label} line {_first_bad_line(path)}: not a row of numbers (no header expected)"
        ) from None
    if table.size and not np.isfinite(table).all():
        row = int(np.flatnonzero(~np.isfinite(table).all(axis=1))[0])
        raise JobError(f"{label}: row {row + 1} holds a value that is not a finite number")
    return table


def _first_bad_line(path: Path) -> int:
    width = None
    with path.open() as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                values = [float(v) for v in line.split(",")]
            except ValueError:
                return number
            if width is not None and len(values) != width:
                return number
            width = len(values)
    return 0


def rmse(target: np.ndarray, prediction: np.ndarray) -> float:
    """The objective `validation:rmse`: train mode reports it, evaluate mode scores with it, on float64."""
    error = np.asarray(prediction, dtype=np.float64) - np.asarray(target, dtype=np.float64)
    return math.sqrt(float(np.mean(error * error)))


SCORERS: dict[str, Callable[[np.ndarray, np.ndarray], float]] = {"rmse": rmse}


def scorer(objective_metric: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """'validation:rmse' -> rmse: the metric train mode reports under that name."""
    short = objective_metric.rsplit(":", 1)[-1]
    if short not in SCORERS:
        raise JobError(f"objective_metric {objective_metric!r}: these trainers score {sorted(SCORERS)}")
    return SCORERS[short]


def metric_line(epoch: int, best: float, compute: int) -> None:
    """One epoch: the objective as best so far, the running epoch count and compute. Flushed, so that early
    stopping sees it when it happens."""
    if not math.isfinite(best):
        raise JobError(f"epoch {epoch}: the validation rmse is {best}")
    print(f"epoch={epoch} validation_rmse={best!r} compute={compute}", flush=True)


def note(message: str) -> None:
    """A diagnostic on stderr; it must never match a metric regex (no `epoch=`, no `validation_rmse=`)."""
    print(f"market_volatility: {message}", file=sys.stderr, flush=True)


class Hyperparameters:
    """The job's hyperparameters (all strings), converted on use; remembers which names the program read."""

    def __init__(self, values: dict[str, str]) -> None:
        self.values = values
        self.used: set[str] = set()

    def text(self, name: str, default: str | None = None) -> str:
        self.used.add(name)
        value = self.values.get(name, default)
        if value is None:
            raise JobError(f"hyperparameter {name!r} is required")
        return value.strip()

    def integer(self, name: str, default: int, minimum: int = 1) -> int:
        raw = self.text(name, str(default))
        try:
            number = float(raw)
        except ValueError:
            raise JobError(f"hyperparameter {name}={raw!r}: not an integer") from None
        if not number.is_integer():
            raise JobError(f"hyperparameter {name}={raw!r}: not an integer")
        if number < minimum:
            raise JobError(f"hyperparameter {name}={raw!r}: must be at least {minimum}")
        return int(number)

    def number(self, name: str, default: float, low: float, high: float, *, open_low: bool = False) -> float:
        raw = self.text(name, repr(default))
        try:
            number = float(raw)
        except ValueError:
            raise JobError(f"hyperparameter {name}={raw!r}: not a number") from None
        if not math.isfinite(number) or number > high or number < low or (open_low and number == low):
            bracket = "(" if open_low else "["
            raise JobError(f"hyperparameter {name}={raw!r}: must be in {bracket}{low}, {high}]")
        return number

    def choice(self, name: str, default: str, choices: Iterable[str]) -> str:
        value = self.text(name, default)
        options = list(choices)
        if value not in options:
            raise JobError(f"hyperparameter {name}={value!r}: use one of {options}")
        return value

    def unknown(self) -> list[str]:
        """Names the program did not read, except SageMaker's and AMT's own (`_...`, `sagemaker_...`)."""
        return sorted(n for n in self.values if n not in self.used and not n.startswith(("_", "sagemaker_")))


@contextmanager
def _stop_on_sigterm(job: Job) -> Iterator[None]:
    # SageMaker stops a job with SIGTERM, then SIGKILL 120 s later (the local SageMaker after a few seconds). The
    # best model is already saved; the loops leave at their next round or epoch.
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may handle signals (tests may run a job in another thread)
        return

    def request_stop(signum: int, frame: object) -> None:
        job.stop_requested = True

    previous = signal.signal(signal.SIGTERM, request_stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


Mode = Callable[[Job, Hyperparameters], None]


def run(train: Mode, evaluate: Mode, root: Path | str | None = None) -> int:
    """Run one job in the mode `retune_mode` names (train by default); 0 on success, 1 after writing
    output/failure."""
    job = Job(Path(root)) if root is not None else Job.from_environment()
    with _stop_on_sigterm(job):
        try:
            hyperparameters = Hyperparameters(job.hyperparameters())
            mode = hyperparameters.choice("retune_mode", "train", ("train", "evaluate"))
            (train if mode == "train" else evaluate)(job, hyperparameters)
            ignored = hyperparameters.unknown()
            if ignored:
                note(f"ignored hyperparameters {ignored}")
        # The contract: whatever fails, say why in output/failure and exit non-zero.
        except Exception as exc:  # noqa: BLE001
            message = str(exc) if isinstance(exc, JobError) else f"{type(exc).__name__}: {exc}"
            job.fail(message)
            traceback.print_exc()
            return 1
    return 0
