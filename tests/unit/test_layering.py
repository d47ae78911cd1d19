"""The layering, read from the code: who builds the use cases' deps, and what each function imports."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from benchmarks.cold_start import HANDLERS
from tests.conftest import ROOT

RETUNE = ROOT / "layers" / "core" / "retune"
USE_CASES = RETUNE / "use_cases"
# Every folder of Python the repository holds, but the virtual environments and build output.
SOURCES = ("layers", "functions", "cli", "local", "tests", "benchmarks", "scripts", "tools", "trainers")
FUNCTIONS = ("start_round", "record_trial", "close_round", "promote", "reconcile", "track")


def python_files(*folders: str) -> Iterator[Path]:
    for folder in folders:
        yield from sorted((ROOT / folder).rglob("*.py"))


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def where(path: Path, node: ast.AST) -> str:
    return f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"


def deps_classes() -> set[str]:
    """The dataclasses a use case takes its dependencies in (`StartRoundDeps`, ...)."""
    return {
        node.name
        for path in USE_CASES.glob("*.py")
        for node in ast.walk(parse(path))
        if isinstance(node, ast.ClassDef) and node.name.endswith("Deps")
    }


def test_layering_only_the_composition_builds_a_use_cases_deps() -> None:
    """Production, the tests' worlds and the CLI all take their deps from `retune.composition`: a new dependency
    is added there once."""
    classes = deps_classes()
    assert {"StartRoundDeps", "RecordTrialDeps", "CloseRoundDeps", "PromoteDeps", "ReconcileDeps"} <= classes
    composition = RETUNE / "composition.py"
    built = []
    for path in python_files(*SOURCES):
        if path == composition:
            continue
        for node in ast.walk(parse(path)):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name in classes:
                    built.append(f"{where(path, node)} {name}(...)")
    assert built == []


def use_case_imports(path: Path) -> set[str]:
    """The `retune.use_cases` modules a module imports at its top (not those imported inside a function or for
    type checking only)."""
    found = set()
    for node in parse(path).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("retune.use_cases"):
            found.add(str(node.module))
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("retune.use_cases"))
    return found


def needed_by(modules: set[str]) -> set[str]:
    """Use case modules and every use case module they import, transitively."""
    seen: set[str] = set()
    todo = list(modules)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        todo.extend(use_case_imports(RETUNE.parent / (name.replace(".", "/") + ".py")))
    return seen


def loaded_after_import(module: str) -> list[str]:
    """The retune modules a fresh interpreter holds after importing `module` (as Lambda's cold start does)."""
    code = f"import json, sys, {module}; print(json.dumps(sorted(m for m in sys.modules if m.startswith('retune'))))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "layers" / "core")])}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return list(json.loads(out.stdout))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_layering_a_function_imports_only_the_use_cases_it_runs(function: str) -> None:
    """Its cold start: importing a handler loads the use cases it calls and what they import; the composition
    root adds none."""
    loaded = loaded_after_import(f"functions.{function}.handler")
    use_cases = {m for m in loaded if m.startswith("retune.use_cases.")}
    assert use_cases == needed_by(use_case_imports(ROOT / "functions" / function / "handler.py"))
    assert f"retune.use_cases.{function}" in use_cases


class _Client:
    """A boto3 client as the adapters hold it: only its service model is ever read while wiring."""

    def __init__(self, service: str) -> None:
        self.meta = type("Meta", (), {"service_model": f"{service} model"})()


@pytest.fixture
def wiring(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, list[str]]]:
    """Production's composition root on the functions' environment, its clients counted, not created."""
    from retune import settings, wiring  # noqa: PLC0415

    env = json.loads((ROOT / "events" / "env.json").read_text())["Parameters"]
    for name, value in {**env, "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    created: list[str] = []

    def client(service: str) -> _Client:
        created.append(service)
        return _Client(service)

    def forget() -> None:  # what an execution environment built once
        settings.get_settings.cache_clear()
        for value in vars(wiring).values():
            if hasattr(value, "cache_clear"):
                value.cache_clear()

    monkeypatch.setattr(wiring, "client", client)
    forget()
    yield wiring, created
    forget()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_layering_a_function_creates_only_the_clients_its_use_cases_talk_to(
    wiring: tuple[Any, list[str]], function: str
) -> None:
    """Each port is built at its first read: a function creates the clients benchmarks/cold_start.py measures it
    against, no other."""
    module, created = wiring
    deps = getattr(module, f"{function}_deps")()
    assert sorted(set(created)) == sorted(HANDLERS[function]["services"])
    assert deps is getattr(module, f"{function}_deps")()  # built once per execution environment


def imports(path: Path) -> Iterator[tuple[ast.AST, str, str | None]]:
    """Every import of a module, wherever it is (inside functions, for type checking): (node, module, name)."""
    for node in ast.walk(parse(path)):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            for alias in node.names:
                yield node, str(node.module), alias.name
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name, None


# The commands the CLI runs through a use case on purpose, so that a person and the functions act by the same
# conditional writes: `retune promote` (a champion by hand, or a rollback) and `retune resume` (the queued drop's
# "Drop Ready", as a round's end announces it); PromoteDeps is what the first takes; `retune track --resync`
# (Track's mirror over the whole table, so that the runs it rebuilds are the ones the stream would have made).
CLI_COMMAND_USE_CASES = {"promote_by_hand", "announce_queued_drop", "PromoteDeps", "resync", "stop_round"}


def test_layering_the_cli_imports_only_the_command_use_cases_it_runs() -> None:
    """A query the CLI shares with a function (the next plan, the round's request) is in a module both import,
    not in the function's use case."""
    reached = [
        f"{where(path, node)} {module}.{name}"
        for path in python_files("cli")
        for node, module, name in imports(path)
        if module.startswith("retune.use_cases") and name not in CLI_COMMAND_USE_CASES
    ]
    assert reached == []


def test_layering_retune_imports_neither_the_cli_nor_the_local_stack() -> None:
    """The deployed package stands alone: nothing in it imports what only the CLI, the local stack, the functions'
    folders or the tests hold."""
    outside = ("retune_cli", "retune_local", "functions", "tests", "benchmarks")
    reached = [
        f"{where(path, node)} {module}"
        for path in python_files("layers/core/retune")
        for node, module, _ in imports(path)
        if module.split(".")[0] in outside
    ]
    assert reached == []


def test_layering_only_the_composition_root_imports_a_use_case_from_outside_them() -> None:
    """The rest of retune (queries such as `retune.planning`, the domain, the adapters, the store) does not depend
    on the use cases: commands build on queries, not the other way round."""
    roots = {RETUNE / "composition.py", RETUNE / "wiring.py"}
    reached = [
        f"{where(path, node)} {module}"
        for path in python_files("layers/core/retune")
        if USE_CASES not in path.parents and path not in roots
        for node, module, _ in imports(path)
        if module.startswith("retune.use_cases")
    ]
    assert reached == []


def test_layering_use_cases_reach_aws_only_through_the_ports() -> None:
    """A use case imports neither an adapter nor an AWS SDK nor the table: it talks to AWS through `retune.ports`,
    so the unit tests' fakes stand in for every call it makes."""
    outside = ("retune.adapters", "retune.table", "retune.wiring", "boto3", "botocore")
    reached = [
        f"{where(path, node)} {module}"
        for path in python_files("layers/core/retune/use_cases")
        for node, module, _ in imports(path)
        if module.startswith(outside)
    ]
    assert reached == []


def test_layering_the_repository_cites_no_document_outside_it() -> None:
    """The repository stands alone: no code, doc or template points at a design note kept elsewhere."""
    outside = ("DESIGN.md", "STYLE.md", "AWS_FACTS.md", "../shared/")
    suffixes = {".py", ".md", ".yaml", ".toml", ".json", ".txt"}
    skip = {".venv", ".venv-tools", "out", ".git", ".aws-sam", "node_modules"}
    files = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [d for d in subfolders if d not in skip]  # never walks into the venvs' site-packages
        files += [Path(folder) / n for n in names if Path(n).suffix in suffixes]
    cited = [
        f"{path.relative_to(ROOT)}: {name}"
        for path in files
        for name in outside
        if name in path.read_text(encoding="utf-8", errors="replace") and path.name != "test_layering.py"
    ]
    assert cited == []
