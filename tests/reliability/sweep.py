"""The fault sweep's cases, enumerated from each scenario's fault-free run (cheap: a few hundred calls on fakes)."""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from tests.reliability.harness import USE_CASES, Call, Harness, champion_is_whole, effects
from tests.reliability.scenarios import SCENARIOS, run

OUTAGE_KINDS = {"read": ("throttled",), "write": ("throttled", "timeout")}


@dataclass(frozen=True)
class Reference:
    calls: tuple[Call, ...]
    effects: dict[str, Any]
    parked: int
    unclassified: list[str]
    champion_problems: list[str]


@cache
def reference(scenario: str) -> Reference:
    with warnings.catch_warnings():  # made at collection, outside the tests' warning filters
        warnings.filterwarnings("ignore", "No application metrics to publish", UserWarning)
        h = run(scenario, Harness())
    return Reference(
        calls=tuple(h.instrument.calls[: h.script_calls]),
        effects=effects(h),
        parked=len(h.parked),
        unclassified=h.unclassified_errors(),
        champion_problems=champion_is_whole(h),
    )


def known_gap(scenario: str, calls: list[Call], kind: str, outage: bool) -> str | None:
    """Faults that hit a gap found by this sweep and reported, not yet closed (docs/reliability.md, "Open").
    Marked xfail(strict): closing the gap turns them into failures until the mark is removed."""
    del scenario, calls, kind, outage  # no gap is open
    return None


def _param(values: tuple[Any, ...], case_id: str, gap: str | None) -> Any:
    import pytest  # noqa: PLC0415

    marks = [pytest.mark.xfail(reason=gap, strict=True)] if gap else []
    return pytest.param(*values, id=case_id, marks=marks)


def _id(scenario: str, call: Call, kind: str) -> str:
    return f"{scenario}-{call.index:03d}-{call.label}@{call.site}-{kind}"


def one_shot_cases() -> list[Any]:
    """Every call of every scenario, with every fault kind AWS can give at it."""
    return [
        _param(
            (scenario, call.index, kind),
            _id(scenario, call, kind),
            known_gap(scenario, [call], kind, outage=False),
        )
        for scenario in SCENARIOS
        for call in reference(scenario).calls
        for kind in call.kinds
    ]


# Scenarios whose fast cases are only the call sites no scenario before them reached (all their calls are faulted
# in the whole sweep, `make test-reliability`): `make test` keeps its time.
NEW_SITES_ONLY = ("incumbents", "lost_incumbents", "stop")


def fast_cases() -> list[Any]:
    """One kind at the first call of each (use-case line, port method) of each scenario, the kinds taken in
    turn: every call site is hit, in seconds."""
    cases, seen = [], set()
    for scenario in SCENARIOS:
        for call in reference(scenario).calls:
            if (scenario, call.site, call.label) in seen:
                continue
            if scenario in NEW_SITES_ONLY and any((s, call.site, call.label) in seen for s in SCENARIOS):
                continue
            seen.add((scenario, call.site, call.label))
            kind = call.kinds[len(seen) % len(call.kinds)]
            cases.append(
                _param(
                    (scenario, call.index, kind),
                    _id(scenario, call, kind),
                    known_gap(scenario, [call], kind, outage=False),
                )
            )
    return cases


def outage_cases() -> list[Any]:
    """Every port method each event's handling calls, failing on every attempt of that event."""
    cases = []
    for scenario in SCENARIOS:
        calls = reference(scenario).calls
        seen = set()
        for call in calls:
            if (call.step, call.label) in seen:
                continue
            seen.add((call.step, call.label))
            hit = [c for c in calls if (c.step, c.label) == (call.step, call.label)]
            for kind in OUTAGE_KINDS["write" if "timeout" in call.kinds else "read"]:
                cases.append(
                    _param(
                        (scenario, call.step, call.label, kind),
                        f"{scenario}-step{call.step:02d}-{call.label}-{kind}",
                        known_gap(scenario, hit[:1], kind, outage=True),  # where the outage first bites
                    )
                )
    return cases


PORTS = {"store", "bucket", "sagemaker", "alerts", "bus", "metric_series", "queues"}


def static_sites() -> set[str]:
    """Every line of the use cases that calls a port (`deps.sagemaker.x(...)`, `store.y(...)`, ...), read from
    their source: what a sweep should reach."""
    found = set()
    for path in sorted(Path(USE_CASES).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
                continue
            owner = node.func.value
            name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
            if name == "alerts" and not isinstance(owner, ast.Attribute):
                continue  # the retune.alerts module, which builds alerts; `deps.alerts` is the port
            if name in PORTS:
                found.add(f"{path.name}:{node.lineno}")
    return found


def figures() -> dict[str, Any]:
    """The counts docs/reliability.md quotes."""
    sites = {
        (c.site, c.label) for s in SCENARIOS for c in reference(s).calls if c.site != "outside a use case"
    }
    reached = {site for site, _ in sites}
    static = static_sites()
    return {
        "scenarios": len(SCENARIOS),
        "calls_in_reference_runs": sum(len(reference(s).calls) for s in SCENARIOS),
        "use_case_call_sites": len(sites),
        "use_case_lines_calling_a_port": len(static),
        "of_which_reached": len(static & reached),
        "not_reached": sorted(static - reached, key=lambda s: (s.split(":")[0], int(s.split(":")[1]))),
        "use_cases_reached": sorted({site.split(":")[0] for site, _ in sites}),
        "one_shot_faults": sum(len(c.kinds) for s in SCENARIOS for c in reference(s).calls),
        "outage_faults": len(outage_cases()),
        "fast_subset": len(fast_cases()),
    }
