"""`python -m retune_local invoke`, the no-Docker stand-in for `sam local invoke`: every events/ file goes to its
function against a running local stack (its endpoints file), with events/env.json's overrides, and succeeds or
fails as intended."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from retune_local import cli
from retune_local.stack import LocalStack

from tests.local.conftest import ROOT_DIR

# One worker runs the module: its `serve` stack (a module fixture) starts once.
pytestmark = pytest.mark.xdist_group("invoke-serve")

EVENTS = ROOT_DIR / "events"
ENV_JSON = EVENTS / "env.json"
# The names events/env.json and the event files use, as a deployed stack would have them.
NAMES = {
    "DataBucket": "retune-data-123456789012",
    "StateTable": "retune-state",
    "IdempotencyTable": "retune-idempotency",
    "AlertsTopic": "retune-alerts",
}

# What each sample event does to a stack that holds no drop, round or package yet: the intended outcome.
EXPECTED = {
    "start_round/manifest_uploaded.json": (
        "StartRoundFunction",
        "failed",
    ),  # that manifest version is not there
    "start_round/manifest_uploaded_encoded_key.json": ("StartRoundFunction", "failed"),
    "start_round/drop_ready.json": ("StartRoundFunction", "failed"),
    "record_trial/training_in_progress.json": (
        "RecordTrialFunction",
        "ignored",
    ),  # no retune round launched it
    "record_trial/training_completed.json": ("RecordTrialFunction", "ignored"),
    "record_trial/training_stopped_early.json": ("RecordTrialFunction", "ignored"),
    "record_trial/training_stopped_time_limit.json": ("RecordTrialFunction", "ignored"),
    "record_trial/training_failed.json": ("RecordTrialFunction", "ignored"),
    "record_trial/training_not_retune.json": ("RecordTrialFunction", "ignored"),
    "close_round/tuning_completed.json": ("CloseRoundFunction", "ignored"),
    "close_round/tuning_stopped.json": ("CloseRoundFunction", "ignored"),
    "close_round/tuning_failed.json": ("CloseRoundFunction", "ignored"),
    "promote/evaluation_completed.json": ("PromoteFunction", "ignored"),
    "promote/evaluation_failed.json": ("PromoteFunction", "ignored"),
    "promote/model_package_approved.json": ("PromoteFunction", "ignored"),  # no such package
    "promote/endpoint_in_service.json": ("PromoteFunction", "ignored"),
    "reconcile/schedule.json": ("ReconcileFunction", None),  # a report, no status
}


@pytest.fixture(scope="module")
def endpoints_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("invoke")
    with LocalStack(root / "state", physical_names=NAMES) as stack:
        path = root / "endpoints.json"
        stack.write_endpoints(path)
        yield path


def invoke(
    logical_id: str, event: Path, endpoints_file: Path, capsys: pytest.CaptureFixture[str]
) -> tuple[int, str]:
    args = argparse.Namespace(
        logical_id=logical_id, event=str(event), env_vars=str(ENV_JSON), endpoints_file=str(endpoints_file)
    )
    code = cli.invoke(args, {})
    return code, capsys.readouterr().out


def test_invoke_covers_every_event_file() -> None:
    files = {p.relative_to(EVENTS).as_posix() for p in EVENTS.rglob("*.json") if p.name != "env.json"}
    # Track's stream batches: a stack has Track only with a tracking server, and its stream's poller delivers them
    # (tests/unit/test_track.py and test_event_files.py check the sample).
    assert files - {f for f in files if f.startswith("track/")} == set(EXPECTED)


@pytest.mark.parametrize("path", sorted(EXPECTED))
def test_invoke_event_file_ends_as_intended(
    path: str, endpoints_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    function, status = EXPECTED[path]
    code, out = invoke(function, EVENTS / path, endpoints_file, capsys)
    assert code == 0, out
    result = json.loads(out)
    if status is None:
        assert result["errors"] == []
    else:
        assert result["status"] == status, result


def test_invoke_exits_non_zero_when_the_handler_raises(endpoints_file: Path, tmp_path: Path) -> None:
    # A lookup for a round that does not exist: CloseRound raises a transient error for Lambda to retry.
    endpoints = json.loads(endpoints_file.read_text())
    import boto3  # noqa: PLC0415

    administrator = endpoints["credentials"]["administrator"]  # the test's set-up, not retune's code
    dynamodb = boto3.client(
        "dynamodb",
        endpoint_url=endpoints["endpoints"]["dynamodb"],
        region_name="us-east-1",
        aws_access_key_id=administrator["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=administrator["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=administrator["AWS_SESSION_TOKEN"],
    )
    dynamodb.put_item(
        TableName="retune-state",
        Item={
            "pk": {"S": "JOB#rt-market-xgb-0001"},
            "sk": {"S": "JOB"},
            "doc": {
                "S": json.dumps(
                    {"job_name": "rt-market-xgb-0001", "kind": "tuning", "profile": "market-xgb", "seq": 1}
                )
            },
        },
    )
    run = subprocess.run(  # the real command line, as a user types it
        [
            sys.executable,
            "-m",
            "retune_local",
            "invoke",
            "CloseRoundFunction",
            "--event",
            str(EVENTS / "close_round/tuning_completed.json"),
            "--env-vars",
            str(ENV_JSON),
            "--endpoints-file",
            str(endpoints_file),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT_DIR,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1, run.stdout + run.stderr
    assert json.loads(run.stdout)["errorType"] == "TransientError"
    assert "round 1 of market-xgb is not recorded yet" in run.stdout
