"""The router's rules are the template's own, matched with EventBridge's semantics: each pattern feature the
template uses, with events that should and should not match."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from retune_local.router import matches
from retune_local.template import Resolver, functions, load_template

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"


@pytest.fixture(scope="module")
def router_rules() -> dict[str, Any]:
    template = load_template()
    resolver = Resolver(template)
    resolver.physical["DataBucket"] = "retune-data-123456789012"
    resolver.name_everything()
    return functions(template, resolver)


def targets(rules: dict[str, Any], event: dict[str, Any]) -> list[str]:
    return sorted(lid for lid, spec in rules.items() if any(matches(p, event) for _, p in spec.patterns))


def load(path: str) -> dict[str, Any]:
    return dict(json.loads((EVENTS / path).read_text()))


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("start_round/manifest_uploaded.json", ["StartRoundFunction"]),
        ("start_round/manifest_uploaded_encoded_key.json", ["StartRoundFunction"]),
        ("start_round/drop_ready.json", ["StartRoundFunction"]),
        ("record_trial/training_in_progress.json", ["RecordTrialFunction"]),
        ("record_trial/training_completed.json", ["RecordTrialFunction"]),
        ("record_trial/training_not_retune.json", []),
        ("close_round/tuning_completed.json", ["CloseRoundFunction"]),
        ("close_round/tuning_failed.json", ["CloseRoundFunction"]),
        ("promote/evaluation_completed.json", ["PromoteFunction", "RecordTrialFunction"]),
        ("promote/model_package_approved.json", ["PromoteFunction"]),
        ("promote/endpoint_in_service.json", ["PromoteFunction"]),
        ("reconcile/schedule.json", []),  # schedules are fired by the router's timer, not matched
    ],
)
def test_router_routes_each_sample_event_to_its_function(
    router_rules: dict[str, Any], path: str, expected: list[str]
) -> None:
    assert targets(router_rules, load(path)) == expected


def test_router_wildcard_matches_only_manifests_and_the_handler_checks_the_depth(
    router_rules: dict[str, Any],
) -> None:
    event = load("start_round/manifest_uploaded.json")
    for key, hit in [
        ("datasets/market-xgb/2015-01-01/manifest.json", True),
        (
            "datasets/market-xgb/2015-01-01/deeper/manifest.json",
            True,
        ),  # `*` crosses `/`: StartRound ignores it
        ("datasets/market-xgb/2015-01-01/train.csv", False),
        ("datasets/market-xgb/manifest.json.bak", False),
        ("profiles/market-xgb.json", False),
        ("other/market-xgb/2015-01-01/manifest.json", False),
    ]:
        changed = copy.deepcopy(event)
        changed["detail"]["object"]["key"] = key
        assert (targets(router_rules, changed) == ["StartRoundFunction"]) is hit, key


def test_router_bucket_name_must_be_the_data_bucket(router_rules: dict[str, Any]) -> None:
    event = load("start_round/manifest_uploaded.json")
    event["detail"]["bucket"]["name"] = "another-bucket"
    assert targets(router_rules, event) == []


def test_router_prefix_matches_only_retunes_training_jobs(router_rules: dict[str, Any]) -> None:
    event = load("record_trial/training_completed.json")
    for name, expected in [
        ("rt-market-xgb-0001-001-0a1b2c3d", ["RecordTrialFunction"]),
        ("rt-market-xgb-0001-eval", ["PromoteFunction", "RecordTrialFunction"]),
        ("xrt-market-xgb-0001-001-0a1b2c3d", []),
        ("RT-market-xgb-0001-001-0a1b2c3d", []),  # prefix matching is case-sensitive
    ]:
        changed = copy.deepcopy(event)
        changed["detail"]["TrainingJobName"] = name
        assert targets(router_rules, changed) == expected, name


def test_router_status_lists_select_terminal_states_only(router_rules: dict[str, Any]) -> None:
    tuning = load("close_round/tuning_completed.json")
    tuning["detail"]["HyperParameterTuningJobStatus"] = "InProgress"
    assert targets(router_rules, tuning) == []
    evaluation = load("promote/evaluation_completed.json")
    evaluation["detail"]["TrainingJobStatus"] = "InProgress"
    assert targets(router_rules, evaluation) == ["RecordTrialFunction"]
    package = load("promote/model_package_approved.json")
    package["detail"]["ModelApprovalStatus"] = "PendingManualApproval"
    assert targets(router_rules, package) == []


def test_router_source_and_detail_type_must_both_match(router_rules: dict[str, Any]) -> None:
    event = load("start_round/drop_ready.json")
    event["source"] = "someone.else"
    assert targets(router_rules, event) == []
    event = load("start_round/drop_ready.json")
    event["detail-type"] = "Drop Gone"
    assert targets(router_rules, event) == []


@pytest.mark.parametrize(
    ("pattern", "hit", "miss"),
    [
        ({"detail": {"k": [{"suffix": ".json"}]}}, {"k": "a.json"}, {"k": "a.csv"}),
        ({"detail": {"k": [{"anything-but": ["x", "y"]}]}}, {"k": "z"}, {"k": "x"}),
        ({"detail": {"k": [{"exists": False}]}}, {"j": 1}, {"k": 1}),
        ({"detail": {"n": [{"numeric": [">", 0, "<=", 5]}]}}, {"n": 5}, {"n": 6}),
        ({"$or": [{"detail": {"a": [1]}}, {"detail": {"b": [2]}}]}, {"b": 2}, {"a": 2}),
    ],
)
def test_router_matcher_has_eventbridges_other_operators(
    pattern: dict[str, Any], hit: dict[str, Any], miss: dict[str, Any]
) -> None:
    assert matches(pattern, {"source": "s", "detail": hit})
    assert not matches(pattern, {"source": "s", "detail": miss})
