"""The figures docs/reliability.md quotes, printed as JSON: `.venv/bin/python -m tests.reliability.report`.

Counts what the suites enumerate (fault sites, kinds, cases, inputs). `--run` also runs the whole fault sweep (about
2,000 runs of a scenario on fakes; a minute or two) and tallies how each fault ended: finished by Lambda's retries,
or parked and finished by Reconcile and a redrive, and what was lost or duplicated against the fault-free run.
"""

from __future__ import annotations

import argparse
import json
import warnings
from collections import Counter
from typing import Any

from tests.reliability.harness import FaultPlan, Harness, champion_is_whole
from tests.reliability.scenarios import SCENARIOS, run
from tests.reliability.sweep import figures, known_gap, outage_cases, reference
from tests.reliability.test_concurrency import FAST_SEEDS, SLOW_SEEDS
from tests.reliability.test_faults import settled
from tests.reliability.test_hostile_input import (
    EVENTS_FAST,
    EVENTS_SLOW,
    MANIFESTS_FAST,
    MANIFESTS_SLOW,
    PROFILES_FAST,
    PROFILES_SLOW,
)


def _diff(got: Any, want: Any) -> tuple[int, int]:
    """(lost, duplicated): effects of the reference missing from the run, and effects the run has in excess."""
    lost = duplicated = 0
    if isinstance(got, dict) and isinstance(want, dict):
        for key in set(got) | set(want):
            if key not in got:
                lost += 1
            elif key not in want:
                duplicated += 1
            else:
                more = _diff(got[key], want[key])
                lost, duplicated = lost + more[0], duplicated + more[1]
    elif isinstance(got, list) and isinstance(want, list) and all(isinstance(x, str) for x in got + want):
        lost += len(set(want) - set(got))
        duplicated += len(got) - len(set(got)) + len(set(got) - set(want))
    elif got != want:
        lost += 1  # a value that differs: the effect as it should be is missing
    return lost, duplicated


def sweep() -> dict[str, Any]:
    """Every fault of the sweep, run, and how each ended."""
    plans: list[tuple[str, FaultPlan, bool]] = []
    for scenario in SCENARIOS:
        for call in reference(scenario).calls:
            for kind in call.kinds:
                gap = known_gap(scenario, [call], kind, outage=False) is not None
                plans.append((scenario, FaultPlan(kind, at=call.index), gap))
    for case in outage_cases():
        scenario, step, label, kind = case.values
        gap = any(getattr(mark, "name", "") == "xfail" for mark in case.marks)
        plans.append((scenario, FaultPlan(kind, outage=(step, label)), gap))
    outcomes: Counter[str] = Counter()
    effects_off: Counter[str] = Counter()
    for scenario, plan, gap in plans:
        h = run(scenario, Harness(plan))
        lost, duplicated = _diff(settled(h), reference(scenario).effects)
        whole = not h.parked and not h.unclassified_errors() and not champion_is_whole(h)
        if whole and not lost and not duplicated:
            parked = any(d.parked for d in h.deliveries)
            outcomes[
                "parked, then finished by Reconcile and a redrive" if parked else "finished by retries"
            ] += 1
            continue
        where = "in known open gaps" if gap else "ELSEWHERE (a failure)"
        outcomes[f"not finished: {where}"] += 1
        effects_off[f"lost {where}"] += lost
        effects_off[f"duplicated {where}"] += duplicated
    return {"faults_run": len(plans), "outcomes": dict(outcomes), "effects": dict(effects_off)}


def concurrency() -> dict[str, Any]:
    """Every concurrency scenario over every seed (fast and slow), with the races the invocations lost."""
    from tests.reliability import concurrent  # noqa: PLC0415
    from tests.reliability.test_concurrency import (  # noqa: PLC0415
        check_five_drops,
        check_two_closes_then_two_promotes,
    )

    races: Counter[str] = Counter()
    runs: Counter[str] = Counter()
    server = concurrent.server()
    endpoint = next(server)
    try:
        for seed in [*FAST_SEEDS, *SLOW_SEEDS]:
            for running in (False, True):
                name = "5 drops, round running" if running else "5 drops, idle profile"
                races[name] += len(check_five_drops(endpoint, seed, running).races)
                runs[name] += 1
            name = "2 CloseRound then 2 Promote"
            races[name] += len(check_two_closes_then_two_promotes(endpoint, seed).races)
            runs[name] += 1
    finally:
        server.close()
    return {"runs": dict(runs), "conditional_writes_that_lost_a_race": dict(races), "failed": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", action="store_true", help="also run the whole fault sweep and tally it")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    out: dict[str, Any] = {
        "faults": figures(),
        "concurrency": {
            "scenarios": ["5 drops, idle profile", "5 drops, round running", "2 CloseRound then 2 Promote"],
            "seeds_fast": len(FAST_SEEDS),
            "seeds_slow": len(SLOW_SEEDS),
        },
        "hostile_input": {
            "events": {"fast": EVENTS_FAST, "slow": EVENTS_SLOW},
            "profiles": {"fast": PROFILES_FAST, "slow": PROFILES_SLOW},
            "manifests": {"fast": MANIFESTS_FAST, "slow": MANIFESTS_SLOW},
        },
    }
    if args.run:
        out["faults"]["sweep"] = sweep()
        out["concurrency"]["run"] = concurrency()
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
