"""`retune profile validate`: no stack needed; errors name the field and the fix; exit 1 on errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from retune_cli.__main__ import main

from tests.conftest import ROOT, profile_doc


def validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["profile", "validate", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.parametrize("name", ["market-xgb", "market-mlp", "churn-xgb", "images-cnn"])
def test_profile_validate_passes_the_example_profiles(capsys: pytest.CaptureFixture[str], name: str) -> None:
    code, out, _ = validate(capsys, str(ROOT / "profiles" / f"{name}.json"))
    assert code == 0
    assert f"valid. Profile {name}:" in out


def test_profile_validate_names_the_field_and_the_fix(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doc = profile_doc("market-xgb")
    doc["search"]["strategy"] = "Genetic"
    doc["budget"]["max_jobz"] = 5
    path = tmp_path / "market-xgb.json"
    path.write_text(json.dumps(doc))
    code, out, _ = validate(capsys, str(path))
    assert code == 1
    assert out.splitlines() == [
        f"{path}: 2 error(s)",
        "  search.strategy: Input should be 'Bayesian', 'Random', 'Hyperband' or 'Grid' (got 'Genetic')",
        "  budget.max_jobz: unknown field: remove it or check its spelling against the schema",
    ]
    code, out, _ = validate(capsys, str(path), "--json")
    assert code == 1
    data = json.loads(out)
    assert data["valid"] is False and data["errors"][0].startswith("search.strategy: ")


def test_profile_validate_checks_the_name_against_the_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    path = tmp_path / "other.json"
    path.write_text(json.dumps(profile_doc("market-xgb")))
    code, out, _ = validate(capsys, str(path))
    assert code == 1
    assert "name: 'market-xgb' does not match its file profiles/other.json; make them the same" in out
    assert validate(capsys, str(path), "--name", "market-xgb")[0] == 0


def test_profile_validate_checks_the_tuning_request_sagemaker_would_get(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    doc = profile_doc("market-xgb")
    doc["training"]["instance_type"] = "ml.z9.huge"  # the profile's pattern allows it; SageMaker does not
    path = tmp_path / "market-xgb.json"
    path.write_text(json.dumps(doc))
    code, out, _ = validate(capsys, str(path))
    assert code == 1
    assert out.splitlines()[1].startswith(
        "  tuning job request: TrainingJobDefinition.ResourceConfig.InstanceType: 'ml.z9.huge' is not one of"
    )


def test_profile_validate_on_a_missing_or_broken_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = validate(capsys, str(tmp_path / "absent.json"))
    assert code == 1 and err == f"retune: error: {tmp_path / 'absent.json'}: No such file or directory\n"
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    code, out, _ = validate(capsys, str(broken))
    assert code == 1 and "(document): not valid JSON" in out
