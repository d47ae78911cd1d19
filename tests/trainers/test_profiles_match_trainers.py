"""The market profiles and their trainers agree: every hyperparameter a profile sets or searches is one its trainer
reads, at both ends of every range, and the patience hyperparameter is the trainer's own."""

from __future__ import annotations

from typing import Any

import pytest

from tests.trainers.conftest import MakeJob, metric_regexes, parse_metrics, profile
from trainers.market_volatility import mlp, xgb

MAINS = {"market-xgb": xgb.main, "market-mlp": mlp.main}


def range_ends(document: dict[str, Any], end: int) -> dict[str, str]:
    values = {}
    for r in document["search"]["ranges"]:
        if r["type"] == "categorical":
            values[r["name"]] = r["values"][-end]
        else:
            values[r["name"]] = str(r["min_value"] if end == 0 else r["max_value"])
    return values


@pytest.mark.parametrize("name", sorted(MAINS))
@pytest.mark.parametrize("end", [0, 1], ids=["low", "high"])
def test_profile_hyperparameters_are_all_read_by_its_trainer(
    make_job: MakeJob, capsys: pytest.CaptureFixture[str], name: str, end: int
) -> None:
    document = profile(name)
    hyperparameters = {
        **document["training"]["static_hyperparameters"],
        **range_ends(document, end),
        "_tuning_objective_metric": document["objective"]["metric_name"],
    }
    assert document["metrics"]["patience_hyperparameter"] in hyperparameters
    job = make_job(hyperparameters)
    assert MAINS[name](job.root) == 0, job.failure.read_text() if job.failure.exists() else ""
    captured = capsys.readouterr()
    assert "ignored hyperparameters" not in captured.err
    series = parse_metrics(captured.out, metric_regexes(name))
    assert document["metrics"]["epochs"] in series and document["metrics"]["compute"] in series
    assert series[document["objective"]["metric_name"]], "no objective printed"
    assert len(series["validation:rmse"]) == len(series["train:epochs"]) == len(series["train:compute"])
