"""The CLI against the local stack: one stack for the package's tests, each working on its own profile (moto's
backends are per process, so two stacks must not overlap: the package scope ends before the next package's tests),
`retune` run in-process through its `main`, its output captured and parsed."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from retune_cli.__main__ import main
from retune_local.images import ImageSpec
from retune_local.stack import LocalStack

from tests.local.conftest import TOY, TOY_IMAGE, toy_profile, write_drop

SLOW = Path(__file__).resolve().parent / "slow_trainer.py"
SLOW_IMAGE = "retune/slow"


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


class Cli:
    """`retune ...` against one local stack, through its endpoints file."""

    def __init__(self, stack: LocalStack, endpoints: Path, capsys: pytest.CaptureFixture[str]) -> None:
        self.stack, self.endpoints, self._capsys = stack, endpoints, capsys

    def __call__(self, *args: str) -> Result:
        self._capsys.readouterr()
        code = main([*args, "--endpoints-file", str(self.endpoints)])
        captured = self._capsys.readouterr()
        return Result(code, captured.out, captured.err)


def put_profile(stack: LocalStack, tmp: Path, name: str, max_jobs: int = 2, **changes: Any) -> dict[str, Any]:
    """The toy profile under another name (`a__b=v` sets doc["a"]["b"]); two trials a round unless asked."""
    doc = toy_profile(max_jobs=max_jobs, parallel=2)
    doc["name"] = name
    for path, value in changes.items():
        node = doc
        *parents, leaf = path.split("__")
        for part in parents:
            node = node[part]
        node[leaf] = value
    file = tmp / f"{name}.json"
    file.write_text(json.dumps(doc))
    stack.put_profile(file)
    return doc


def run_round(stack: LocalStack, tmp: Path, profile: str, drop_id: str, seq: int, rows: int = 3) -> Any:
    stack.drop(write_drop(tmp / profile / drop_id, validation_rows=rows, test_rows=rows), profile)
    return stack.wait_for_round(profile, seq, timeout=120)


@pytest.fixture(scope="package")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalStack, Path]]:
    tmp = tmp_path_factory.mktemp("cli")
    images = {
        TOY_IMAGE: ImageSpec.python(str(TOY), seconds_per_epoch=10.0),
        SLOW_IMAGE: ImageSpec.python(str(SLOW), seconds_per_epoch=10.0),
    }
    with LocalStack(tmp / "state", images) as stack:
        endpoints = tmp / "endpoints.json"
        stack.write_endpoints(endpoints)
        yield stack, tmp


@pytest.fixture
def cli(local: tuple[LocalStack, Path], capsys: pytest.CaptureFixture[str]) -> Cli:
    stack, tmp = local
    return Cli(stack, tmp / "endpoints.json", capsys)
