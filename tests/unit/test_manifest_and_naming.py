"""Manifests and deterministic names."""

from __future__ import annotations

import json
import re

import pytest
from retune.errors import InvalidInput
from retune.events import NotADrop, split_manifest_key
from retune.manifest import MANIFEST_MAX_BYTES, parse_manifest, path_problem
from retune.naming import (
    client_token,
    evaluation_job_name,
    is_evaluation_job,
    tuning_job_name,
    tuning_job_of_trial,
)

TUNING_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}$")


@pytest.mark.parametrize(
    "path",
    ["../x.csv", "/etc/passwd", "a/../../b.csv", "a//b.csv", "./a.csv", "a\\b.csv", "", "manifest.json"],
)
def test_manifest_path_outside_the_drop_is_rejected(path: str) -> None:
    assert path_problem(path) is not None


@pytest.mark.parametrize("path", ["train.csv", "part/0001.csv", "a b+c=d.csv", "données.csv"])
def test_manifest_plain_relative_path_is_accepted(path: str) -> None:
    assert path_problem(path) is None


def test_manifest_huge_document_is_rejected() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_manifest(b" " * (MANIFEST_MAX_BYTES + 1))
    assert "over the 1048576 limit" in info.value.errors[0]


def test_manifest_channel_name_is_checked() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_manifest(json.dumps({"channels": {"train data": {"files": ["a.csv"]}}}).encode())
    assert "channel name 'train data'" in info.value.errors[0]


def test_naming_tuning_job_fits_the_limit_and_pattern() -> None:
    assert tuning_job_name("market-xgb", 7) == "rt-market-xgb-0007"
    long_a = tuning_job_name("a" * 48, 12345)
    long_b = tuning_job_name("a" * 47 + "b", 12345)
    for name in (long_a, long_b):
        assert len(name) <= 32 and TUNING_NAME.match(name), name
    assert long_a != long_b  # a cut name keeps a hash of the whole, so it stays unique


def test_naming_cut_name_never_ends_in_a_hyphen() -> None:
    for n in range(20, 48):
        name = tuning_job_name("ab-" * 16 + "c"[: n % 2], 3)
        assert TUNING_NAME.match(name), name


def test_naming_trial_and_evaluation_names_map_back() -> None:
    assert tuning_job_of_trial("rt-market-xgb-0007-012-0a1b2c3d") == "rt-market-xgb-0007"
    assert tuning_job_of_trial("someone-else") is None
    assert evaluation_job_name("market-xgb", 7) == "rt-market-xgb-0007-eval"
    assert is_evaluation_job("rt-market-xgb-0007-eval")
    assert not is_evaluation_job("rt-market-xgb-0007-012-0a1b2c3d")


def test_naming_client_token_fits_sagemaker() -> None:
    token = client_token("market-xgb", 7, "register")
    assert re.fullmatch(r"[a-zA-Z0-9-]{1,36}", token)
    assert token == client_token("market-xgb", 7, "register")
    assert token != client_token("market-xgb", 8, "register")


def test_split_manifest_key_checks_the_depth() -> None:
    assert split_manifest_key("datasets/market-xgb/2015-01-01/manifest.json") == ("market-xgb", "2015-01-01")
    with pytest.raises(NotADrop):
        split_manifest_key("datasets/market-xgb/2015-01-01/deeper/manifest.json")
    with pytest.raises(NotADrop):
        split_manifest_key("datasets/market-xgb/manifest.json")
    with pytest.raises(InvalidInput):
        split_manifest_key("datasets/Market_XGB/2015-01-01/manifest.json")
