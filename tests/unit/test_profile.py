"""Profiles: the examples validate; bad ones get errors that name the field and what would be valid."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from retune.errors import InvalidInput
from retune.profile import parse_profile

from tests.conftest import ROOT, profile_doc

EXAMPLES = sorted((ROOT / "profiles").glob("*.json"))


def test_profile_examples_cover_the_documented_set() -> None:
    assert {p.stem for p in EXAMPLES} >= {"market-xgb", "market-mlp", "churn-xgb", "images-cnn"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_profile_example_is_valid(path: Path) -> None:
    profile = parse_profile(path.read_text(), expected_name=path.stem)
    bounds = profile.resolved_bounds()
    assert bounds.max_jobs.floor <= profile.budget.max_jobs <= bounds.max_jobs.ceiling
    assert bounds.max_jobs_not_improving.floor >= 3


def errors_of(doc: dict) -> list[str]:
    with pytest.raises(InvalidInput) as info:
        parse_profile(json.dumps(doc))
    return info.value.errors


def test_profile_unknown_field_is_named() -> None:
    doc = profile_doc()
    doc["budget"]["max_job"] = 10
    assert errors_of(doc) == [
        "budget.max_job: unknown field: remove it or check its spelling against the schema"
    ]


def test_profile_bad_strategy_lists_the_valid_ones() -> None:
    doc = profile_doc()
    doc["search"]["strategy"] = "Genetic"
    (error,) = errors_of(doc)
    assert error.startswith("search.strategy: Input should be 'Bayesian', 'Random', 'Hyperband' or 'Grid'")


def test_profile_hyperband_needs_early_stopping_off() -> None:
    doc = profile_doc()
    doc["search"]["strategy"] = "Hyperband"
    assert any("needs early_stopping Off" in e for e in errors_of(doc))


def test_profile_grid_takes_categorical_ranges_only() -> None:
    doc = profile_doc()
    doc["search"]["strategy"] = "Grid"
    assert any("Grid strategy takes categorical ranges only" in e for e in errors_of(doc))


def test_profile_objective_needs_a_metric_definition() -> None:
    doc = profile_doc()
    doc["objective"]["metric_name"] = "validation:mae"
    assert any("'validation:mae' needs a training.metric_definitions entry" in e for e in errors_of(doc))


def test_profile_regex_without_capture_group_is_rejected() -> None:
    doc = profile_doc()
    doc["training"]["metric_definitions"][0]["regex"] = "rmse=[0-9.]+"
    assert any("needs one capture group" in e for e in errors_of(doc))


def test_profile_parallelism_above_max_jobs_is_rejected() -> None:
    doc = profile_doc()
    doc["budget"]["max_parallel_jobs"] = 30
    assert any("max_parallel_jobs 30 is above max_jobs 20" in e for e in errors_of(doc))


def test_profile_name_must_match_its_file() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_profile(json.dumps(profile_doc()), expected_name="market-mlp")
    assert "does not match its file profiles/market-mlp.json" in info.value.errors[0]


def test_profile_name_pattern_is_explained() -> None:
    doc = profile_doc()
    doc["name"] = "Market_XGB"
    (error,) = errors_of(doc)
    assert error.startswith("name: String should match pattern") and "'Market_XGB'" in error


def test_profile_test_channel_must_be_held_out() -> None:
    doc = profile_doc()
    doc["training"]["channels"] = ["train", "validation", "test"]
    assert any("must be held out" in e for e in errors_of(doc))


def test_profile_invalid_json_is_reported() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_profile(b"{not json")
    assert info.value.errors[0].startswith("(document): not valid JSON")
