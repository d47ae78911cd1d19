"""`retune track --resync` against a local stack where a profile has run a round before any tracking server was
set: it backfills the runs into MLflow (a fake MLflow REST server here), and a second resync changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from retune_local.stack import LocalStack

from tests.cli.conftest import Cli, put_profile, run_round
from tests.mlflow_fake import FakeMlflow

# One worker runs the CLI's stack tests: the package's local stack (tests/cli/conftest.py) starts once.
pytestmark = [pytest.mark.local_stack, pytest.mark.xdist_group("cli-stack")]

PROFILE = "toy-track"


@pytest.fixture(scope="module", autouse=True)
def history(local: tuple[LocalStack, Path]) -> None:
    stack, tmp = local
    put_profile(stack, tmp, PROFILE, max_jobs=2)
    assert run_round(stack, tmp, PROFILE, "2015-01-01", 1).status == "decided"


@pytest.fixture
def mlflow() -> Iterator[FakeMlflow]:
    fake = FakeMlflow().start()
    yield fake
    fake.stop()


def test_track_resync_backfills_a_profiles_history_once(cli: Cli, mlflow: FakeMlflow) -> None:
    result = cli("track", "--resync", PROFILE, "--tracking-server", mlflow.url)
    assert result.code == 0, result.err
    assert f"{PROFILE}: round 1, 2 trial(s)" in result.out
    assert "resynced 1 profile(s), 1 round(s), 2 trial(s)" in result.out
    runs = mlflow.runs_by_key()
    assert set(runs) == {f"round/{PROFILE}/1"} | {
        f"trial/{PROFILE}/1/{run.name}" for key, (run,) in runs.items() if key.startswith("trial/")
    }
    assert len(runs) == 3
    (round_run,) = runs[f"round/{PROFILE}/1"]
    assert round_run.status == "FINISHED" and round_run.tags["decision.outcome"] == "approved"
    assert (
        round_run.tags["tuning_job.arn"]
        == "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/rt-toy-track-0001"
    )
    for key, (run,) in runs.items():
        if key.startswith("trial/"):
            assert run.tags["mlflow.parentRunId"] == round_run.run_id
            assert run.history("objective"), f"{key} has no per-epoch objective"
    experiment = mlflow.experiment(f"retune/{PROFILE}")
    assert experiment is not None
    before = {r.run_id: (r.params, dict(r.tags), set(r.points)) for r in mlflow.runs.values()}
    again = cli("track", "--resync", "--tracking-server", mlflow.url, "--json")  # every profile this time
    assert again.code == 0, again.err
    assert again.json()["rounds"] >= 1
    mine = [r for r in mlflow.runs.values() if r.experiment_id == experiment["experiment_id"]]
    assert {r.run_id: (r.params, r.tags, r.points) for r in mine} == {
        r.run_id: before[r.run_id] for r in mine
    }


def test_track_without_a_tracking_server_says_how_to_name_one(cli: Cli) -> None:
    result = cli("track", "--resync", PROFILE)
    assert result.code == 1
    assert "no tracking server" in result.err and "--tracking-server" in result.err
