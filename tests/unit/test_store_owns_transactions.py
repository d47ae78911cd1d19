"""The store owns every write: the use cases call Store's named transactions and never assemble their own from the
table's operations or the store's item builders (the transactions are the exactly-once guarantee; store.py lists
them all)."""

from __future__ import annotations

import ast
from pathlib import Path

from retune.store import Store

USE_CASES = Path(__file__).resolve().parents[2] / "layers" / "core" / "retune" / "use_cases"
ITEM_BUILDERS = {
    "drop_item",
    "round_item",
    "active_item",
    "queued_item",
    "lookup_item",
    "plan_item",
    "champion_item",
}


def _offences(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        where = f"{path.name}:{getattr(node, 'lineno', 0)}"
        imported = [node.module] if isinstance(node, ast.ImportFrom) else []
        imported += [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if "retune.table" in imported:
            found.append(f"{where} imports retune.table")
        elif isinstance(node, ast.ImportFrom) and node.module == "retune.store":
            builders = sorted(
                a.name for a in node.names if a.name in ITEM_BUILDERS or a.name.endswith("_item")
            )
            if builders:
                found.append(f"{where} imports the store's item builders {builders}")
        elif isinstance(node, ast.Attribute) and node.attr == "table":
            found.append(f"{where} reaches the store's table")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "write"
            and _name(node.func.value) == "store"
        ):
            found.append(f"{where} calls store.write")
    return found


def _name(node: ast.expr) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def test_no_use_case_assembles_a_transaction() -> None:
    files = sorted(USE_CASES.glob("*.py"))
    assert len(files) >= 7, f"the use cases are not at {USE_CASES}"
    offences = [o for path in files for o in _offences(path)]
    assert offences == [], (
        "a use case writes past the store; add a named transaction to Store:\n" + "\n".join(offences)
    )


def test_the_store_has_no_escape_hatch() -> None:
    # Every write is a named method with its conditions; a generic one would let a use case compose its own again.
    assert not hasattr(Store, "write")
