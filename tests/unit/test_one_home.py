"""One home each for what several modules need: reading a profile from the bucket (with its size limit), the
states in which a SageMaker job has ended, and Hyperband's resource ceiling. A second copy drifts from the first
when one is changed; these tests find a copy in retune's code, its handlers or the CLI."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
from retune.errors import InvalidInput, NotFound
from retune.profile import PROFILE_MAX_BYTES, EmptyProfile, profile_key, read_profile

from tests.conftest import BUCKET, World, profile_doc

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [
    *sorted((ROOT / "layers" / "core" / "retune").rglob("*.py")),
    *sorted((ROOT / "functions").rglob("*.py")),
    *sorted((ROOT / "cli" / "retune_cli").rglob("*.py")),
]
HOMES = {
    "profile size limit": "profile.py",
    "profile key": "profile.py",
    "profile read": "profile.py",
    "terminal job states": "sagemaker_facts.py",
    "Hyperband resource ceiling": "sagemaker_facts.py",
}


def test_read_profile_returns_the_profile_and_its_version(world: World) -> None:
    version = world.put_profile()
    profile, read_version = read_profile(world.bucket, BUCKET, "market-xgb")
    assert (profile.name, read_version) == ("market-xgb", version)


def test_read_profile_says_missing_empty_and_invalid_apart(world: World) -> None:
    with pytest.raises(NotFound):
        read_profile(world.bucket, BUCKET, "market-xgb")
    world.bucket.put(BUCKET, profile_key("market-xgb"), b"  \n")
    with pytest.raises(EmptyProfile) as empty:
        read_profile(world.bucket, BUCKET, "market-xgb")
    # An empty profile is an invalid one to every caller that does not name the emptiness (CloseRound, Promote).
    assert isinstance(empty.value, InvalidInput)
    assert empty.value.errors and "not valid JSON" in empty.value.errors[0]
    world.put_profile(profile_doc("market-xgb") | {"name": "another"})
    with pytest.raises(InvalidInput) as invalid:
        read_profile(world.bucket, BUCKET, "market-xgb")
    assert not isinstance(invalid.value, EmptyProfile)
    assert "does not match its file profiles/market-xgb.json" in invalid.value.errors[0]


def test_read_profile_reads_no_more_than_the_limit(world: World) -> None:
    body = json.dumps(profile_doc("market-xgb")).encode()
    at_limit = body[:-1] + b" " * (PROFILE_MAX_BYTES - len(body)) + b"}"
    world.bucket.put(BUCKET, profile_key("market-xgb"), at_limit)
    assert read_profile(world.bucket, BUCKET, "market-xgb").profile.name == "market-xgb"
    # Far over the limit: the read stops long before the closing brace.
    world.bucket.put(BUCKET, profile_key("market-xgb"), body[:-1] + b" " * PROFILE_MAX_BYTES + b"}")
    with pytest.raises(InvalidInput):
        read_profile(world.bucket, BUCKET, "market-xgb")


def _copies() -> dict[str, list[str]]:
    """Where each shared value is written, or its read done, in retune's own code."""
    found: dict[str, list[str]] = {what: [] for what in HOMES}
    terminal = {"Completed", "Stopped", "Failed"}
    for path in SOURCES:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Constant) and node.value == 262_144:
                found["profile size limit"].append(where)
            if isinstance(node, ast.Constant) and node.value == 20_000:
                found["Hyperband resource ceiling"].append(where)
            if isinstance(node, ast.Tuple | ast.Set | ast.List):
                values = {e.value for e in node.elts if isinstance(e, ast.Constant)}
                if len(node.elts) == 3 and values == terminal:
                    found["terminal job states"].append(where)
            if (
                isinstance(node, ast.JoinedStr)
                and node.values
                and isinstance(node.values[0], ast.Constant)
                and node.values[0].value == "profiles/"
            ):
                found["profile key"].append(where)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "read"
                and any(
                    k.arg == "max_bytes" and getattr(k.value, "id", "") == "PROFILE_MAX_BYTES"
                    for k in node.keywords
                )
            ):
                found["profile read"].append(where)
    return found


def test_each_shared_value_has_one_home() -> None:
    copies = _copies()
    for what, home in HOMES.items():
        places = copies[what]
        assert len(places) == 1 and Path(places[0].split(":")[0]).name == home, (
            f"the {what} is written in {places}; it belongs in retune's {home} alone: import it from there"
        )
