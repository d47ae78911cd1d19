"""The README's benchmark numbers are the committed report's: every decimal in its efficiency bullet equals a value
of benchmarks/results/efficiency.json at the precision the README prints (issue 20: "every number in the README
and the docs equals the JSON's"). Fast: reads two files."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DECIMAL = re.compile(r"(?<![\w.])([+-]?\d+\.\d+)x?(?![\w.])")


def values(node: Any) -> Iterator[float]:
    if isinstance(node, dict):
        for v in node.values():
            yield from values(v)
    elif isinstance(node, list):
        for v in node:
            yield from values(v)
    elif isinstance(node, int | float) and not isinstance(node, bool):
        yield float(node)


def efficiency_bullet(readme: str) -> str:
    start = readme.index("- [docs/policy.md](docs/policy.md)")
    end = readme.index("\n- ", start + 1)
    return readme[start:end]


def test_every_decimal_of_the_readmes_efficiency_bullet_is_in_the_committed_report() -> None:
    bullet = efficiency_bullet((ROOT / "README.md").read_text())
    report = json.loads((ROOT / "benchmarks" / "results" / "efficiency.json").read_text())
    shown = DECIMAL.findall(bullet)
    assert len(shown) >= 10, bullet  # the bullet still carries its numbers
    # The summaries only (not the per-round tables, whose thousands of values would match anything).
    known = [
        v
        for workload in report.values()
        if isinstance(workload, dict)
        for key in ("summary", "summary_details", "goal_thresholds", "incumbent_counts")
        for v in values(workload.get(key, {}))
    ]
    missing = []
    for text in shown:
        digits = len(text.split(".")[1])
        number = float(text)
        if not any(round(v, digits) == round(number, digits) for v in known):
            missing.append(text)
    assert not missing, f"README numbers not in benchmarks/results/efficiency.json: {missing}"


def test_the_hand_written_notes_are_for_the_committed_results() -> None:
    # The report shows efficiency_notes.json's prose only while its for_rounds_run is the results' rounds run: new
    # per-seed files without the notes brought up to date would silently drop it from docs/benchmarks.md.
    report = json.loads((ROOT / "benchmarks" / "results" / "efficiency.json").read_text())
    notes = json.loads((ROOT / "benchmarks" / "results" / "efficiency_notes.json").read_text())
    ran = {w: report[w]["scale"]["rounds_run"] for w in notes["for_rounds_run"]}
    assert notes["for_rounds_run"] == ran
    assert notes["what_ran"] in (ROOT / "docs" / "benchmarks.md").read_text()
