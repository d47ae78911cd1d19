"""Hostile input through every handler's parse and use case, on fakes: each ends in success or a classified error
whose message names the problem, never in an unclassified exception, and nothing starts from invalid input.

`make test` runs a derandomized sample (EVENTS_FAST events, PROFILES_FAST profiles, MANIFESTS_FAST manifests);
`make test-reliability` runs at least 10,000 events and 1,000 each of profiles and manifests, randomized.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from retune.errors import InvalidInput
from retune.events import parse_drop_event
from retune.manifest import parse_manifest
from retune.profile import parse_profile
from retune.use_cases.start_round import start_round

from tests.conftest import BUCKET
from tests.reliability.hostile import (
    MANIFEST,
    PROFILES,
    base_world,
    check_outcome,
    clone,
    deliver,
    hostile_events,
    junk,
    mutated,
    profile_bytes,
)

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

EVENTS_FAST, EVENTS_SLOW = 600, 10_000
PROFILES_FAST, PROFILES_SLOW = 150, 1_000
MANIFESTS_FAST, MANIFESTS_SLOW = 150, 1_000
COMMON = {"deadline": None, "suppress_health_check": list(HealthCheck), "database": None}


def refusal(parse: Any) -> list[str] | None:
    """None when the document parses; else its errors, each of which must name its field."""
    try:
        parse()
    except InvalidInput as exc:
        errors = exc.errors
    else:
        return None
    assert errors and all(":" in e for e in errors), errors
    return errors


def run_events(count: int, derandomize: bool) -> Counter[str]:
    base = base_world()
    outcomes: Counter[str] = Counter()

    @settings(max_examples=count, derandomize=derandomize, **COMMON)
    @given(case=hostile_events())
    def one(case: tuple[str, str, Any]) -> None:
        _, function, event = case
        world = clone(base)
        jobs = len(world.sagemaker.tuning_jobs)
        result, error = deliver(world, function, event)
        outcome = check_outcome(result, error)
        if outcome not in ("started", "waiting_for_capacity"):
            assert len(world.sagemaker.tuning_jobs) == jobs, f"{outcome}, yet a tuning job started"
        outcomes[f"{function}: {outcome}"] += 1

    one()
    assert sum(outcomes.values()) >= count, outcomes
    return outcomes


def test_hostile_events_sample() -> None:
    run_events(EVENTS_FAST, derandomize=True)


@pytest.mark.slow
def test_hostile_events_ten_thousand() -> None:
    run_events(EVENTS_SLOW, derandomize=False)


# ---------------------------------------------------------------- profiles


profile_documents = st.one_of(
    st.sampled_from(sorted(PROFILES)).flatmap(lambda name: mutated(PROFILES[name], most=5)),
    st.binary(max_size=200),
    st.just(b"{" * 5000),
    junk,
)


def run_profiles(count: int, derandomize: bool) -> Counter[str]:
    base = base_world()
    outcomes: Counter[str] = Counter()

    @settings(max_examples=count, derandomize=derandomize, **COMMON)
    @given(document=profile_documents)
    def one(document: Any) -> None:
        raw = profile_bytes(document)
        valid = refusal(lambda: parse_profile(raw, expected_name="market-xgb")) is None
        world = clone(base)
        world.bucket.put(BUCKET, "profiles/market-xgb.json", raw)
        jobs = len(world.sagemaker.tuning_jobs)
        world.sagemaker.tuning_jobs.clear()  # round 1 is done: this drop may start round 2
        world.store.table.items.pop(("PROFILE#market-xgb", "ACTIVE"), None)
        result = start_round(parse_drop_event(world.drop("2015-07-01")), world.deps)
        assert result.status in ("started", "failed"), result
        if result.status == "failed":
            assert result.errors and all(
                e.startswith(("profile", "tuning job request")) for e in result.errors
            )
            assert world.sagemaker.tuning_jobs == {}, "a round started from an invalid profile"
            assert world.alerts.published[-1].outcome == "drop_failed"
        else:
            assert valid, "a profile parse_profile refuses started a round"
        outcomes["valid" if valid else "invalid"] += 1
        outcomes[f"start: {result.status}"] += 1
        del jobs

    one()
    assert outcomes["valid"] + outcomes["invalid"] >= count, outcomes
    return outcomes


def test_hostile_profiles_sample() -> None:
    run_profiles(PROFILES_FAST, derandomize=True)


@pytest.mark.slow
def test_hostile_profiles_thousand() -> None:
    run_profiles(PROFILES_SLOW, derandomize=False)


# ---------------------------------------------------------------- manifests

paths_in_manifests = st.one_of(
    st.sampled_from(
        [
            "../other/train.csv",
            "/etc/passwd",
            "a/../../b.csv",
            "./train.csv",
            "train.csv/",
            "a//b.csv",
            "manifest.json",
            "C:\\train.csv",
            "train.csv\x00",
            "caf\u00e9 data.csv",
            "x" * 901,
            "",
        ]
    ),
    st.text(max_size=40),
)
manifest_documents = st.one_of(
    mutated(MANIFEST, most=5),
    st.lists(paths_in_manifests, min_size=1, max_size=4).map(
        lambda files: {"channels": {**MANIFEST["channels"], "train": {"files": files}}}
    ),
    st.integers(1, 3).map(
        lambda n: {"channels": {"train": {"files": [f"part/{i:05d}.csv" for i in range(n * 5000)]}}}
    ),
    st.binary(max_size=100),
    junk,
)


def run_manifests(count: int, derandomize: bool) -> Counter[str]:
    base = base_world()
    outcomes: Counter[str] = Counter()

    @settings(max_examples=count, derandomize=derandomize, **COMMON)
    @given(document=manifest_documents)
    def one(document: Any) -> None:
        raw = profile_bytes(document)
        valid = refusal(lambda: parse_manifest(raw)) is None
        world = clone(base)
        world.sagemaker.tuning_jobs.clear()
        world.store.table.items.pop(("PROFILE#market-xgb", "ACTIVE"), None)
        prefix = "datasets/market-xgb/2015-07-01/"
        for name in ("train.csv", "validation.csv", "test.csv"):
            world.bucket.put(BUCKET, prefix + name, b"y,x\n1,2\n")
        version = world.bucket.put(BUCKET, prefix + "manifest.json", raw)
        event = json.loads(json.dumps(_s3_event(prefix + "manifest.json", version)))
        result = start_round(parse_drop_event(event), world.deps)
        assert result.status in ("started", "failed"), result
        if result.status == "failed":
            assert result.errors and all(
                e.startswith(("manifest", "tuning job request")) for e in result.errors
            )
            assert world.sagemaker.tuning_jobs == {}, "a round started from an invalid manifest"
        else:
            assert valid, "a manifest parse_manifest refuses started a round"
        outcomes["valid" if valid else "invalid"] += 1
        outcomes[f"start: {result.status}"] += 1

    one()
    assert outcomes["valid"] + outcomes["invalid"] >= count, outcomes
    return outcomes


def _s3_event(key: str, version: str) -> dict[str, Any]:
    from tests.conftest import s3_event  # noqa: PLC0415

    return s3_event(key, version)


def test_hostile_manifests_sample() -> None:
    run_manifests(MANIFESTS_FAST, derandomize=True)


@pytest.mark.slow
def test_hostile_manifests_thousand() -> None:
    run_manifests(MANIFESTS_SLOW, derandomize=False)
