"""State that outlives the process: a stack that persists saves moto's state when it ends (closed, Ctrl-C,
SIGTERM) and the next stack on the same directory restores it, beside the local SageMaker's, so the CLI reads the
same rounds, trials, champion, plan, alerts and parked events, and the next drop goes on from them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from retune_local import snapshot
from retune_local.images import ImageSpec
from retune_local.snapshot import StateError
from retune_local.stack import LocalStack

from tests.local.conftest import ROOT_DIR, TOY, TOY_IMAGE, park_close_round_event, toy_profile, write_drop

IMAGES = {TOY_IMAGE: ImageSpec.python(str(TOY), seconds_per_epoch=10.0)}


def _cli(endpoints: Path, *args: str) -> str:
    env = {**os.environ, "RETUNE_ENDPOINTS_FILE": str(endpoints)}
    done = subprocess.run(
        [sys.executable, "-m", "retune_cli", *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_restarted_stack_reads_the_same_rounds_champion_plan_alerts_and_parked_events(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    profile = tmp_path / "toy.json"
    profile.write_text(json.dumps(toy_profile(max_jobs=2, parallel=2)))
    with LocalStack(state, IMAGES, persist=True) as stack:
        stack.put_profile(profile)
        stack.drop(write_drop(tmp_path / "2015-01-01"), "toy")
        first = stack.wait_for_round("toy", 1, timeout=300)
        assert first.status == "decided" and first.decision is not None
        store = stack.state()
        trials = store.trials("toy", 1)
        champion, plan = store.get_champion("toy"), store.get_plan("toy")
        assert champion is not None and plan is not None
        park_close_round_event(stack, "toy", 9)
        assert stack.wait_until(lambda: len(stack.on_failure_records) == 1, timeout=60)
    assert (state / "moto" / "snapshot.json").is_file()
    assert not (state / snapshot.OPEN_MARKER).exists()

    with LocalStack(state, IMAGES, persist=True) as again:
        endpoints = tmp_path / "endpoints.json"
        again.write_endpoints(endpoints)
        shown = _cli(endpoints, "rounds", "toy")
        assert shown.startswith("toy: 1 round(s); champion "), shown
        assert "2015-01-01  decided" in shown, shown
        store = again.state()
        assert store.get_round("toy", 1) == first
        assert store.trials("toy", 1) == trials
        assert store.get_champion("toy") == champion
        assert store.get_plan("toy") == plan
        queue = again.resource("CloseRoundOnFailureQueue")
        bodies = [m["Body"] for m in again.client("sqs").receive_message(QueueUrl=queue)["Messages"]]
        assert (
            json.loads(bodies[0])["requestPayload"]["detail"]["HyperParameterTuningJobName"] == "rt-toy-0009"
        )
        subjects = [a["Subject"] for a in again.alerts()]
        assert len(subjects) == 1 and subjects[0].startswith("[retune] toy round 1: "), subjects

        # The next drop goes on from the restored state: the stored plan (same profile version), warm-started
        # from round 1's tuning job, the challenger scored against the restored champion.
        again.drop(write_drop(tmp_path / "2015-07-01", validation_rows=4, test_rows=4), "toy")
        second = again.wait_for_round("toy", 2, timeout=300)
        assert second.status == "decided", second
        # The stored plan, with the target its incumbents set when the tuning job started (a same-drop target).
        assert second.plan.model_copy(update={"target_objective": plan.target_objective}) == plan
        assert second.plan.warm_start_parents.value == ["rt-toy-0001"]
        assert second.evaluation is not None and second.evaluation.champion_score is not None


def _serve(state: Path, endpoints: Path) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT_DIR / p) for p in (".", "layers/core", "local")),
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "retune_local",
            "serve",
            "--state-dir",
            str(state),
            "--endpoints-file",
            str(endpoints),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _ready(process: subprocess.Popen[str]) -> None:
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line and json.loads(line)["ready"], process.stderr.read() if process.stderr else line


# About 55 s (two `serve` processes, each a whole stack): in make test-reliability, so that make test keeps within its
# 10 minutes; the restore itself is checked in make test by the in-process restart above.
@pytest.mark.slow
def test_serve_saves_on_sigterm_and_restores_on_the_next_start(tmp_path: Path) -> None:
    """`serve --state-dir` ended by SIGTERM (Ctrl-C's SIGINT has the same handler) saves moto's state; started
    again on the directory, it has the profile (the same S3 version, which plans are keyed on) and the table's
    items."""
    from retune_local.stack import Endpoints, client  # noqa: PLC0415

    state, endpoints = tmp_path / "state", tmp_path / "endpoints.json"
    process = _serve(state, endpoints)
    try:
        _ready(process)
        local = Endpoints.read(endpoints)
        bucket, table = local.resources["DataBucket"], local.resources["StateTable"]
        version = client("s3", local).put_object(Bucket=bucket, Key="profiles/toy.json", Body=b"{}")[
            "VersionId"
        ]
        item = {"pk": {"S": "PROFILE#toy"}, "sk": {"S": "PLAN"}, "note": {"B": b"\x00kept"}}
        client("dynamodb", local).put_item(TableName=table, Item=item)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0, process.stderr.read() if process.stderr else ""
    assert (state / "moto" / "snapshot.json").is_file() and not (state / snapshot.OPEN_MARKER).exists()

    process = _serve(state, endpoints)
    try:
        _ready(process)
        local = Endpoints.read(endpoints)
        got = client("s3", local).get_object(Bucket=bucket, Key="profiles/toy.json")
        assert (got["VersionId"], got["Body"].read()) == (version, b"{}")
        key = {"pk": item["pk"], "sk": item["sk"]}
        assert client("dynamodb", local).get_item(TableName=table, Key=key)["Item"] == item
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=60) == 0


def test_a_state_dir_that_cannot_be_restored_fails_naming_the_file_and_the_fix(tmp_path: Path) -> None:
    """A directory with the local SageMaker's state but no snapshot of moto's (an older stack's), one whose last
    stack did not save (killed), or a corrupt snapshot: the stack does not start, and says which file and what to
    do."""
    older = tmp_path / "older"
    (older / "sagemaker" / "state" / "tuning-jobs").mkdir(parents=True)
    (older / "sagemaker" / "state" / "tuning-jobs" / "rt-toy-0001.json").write_text("{}")
    with pytest.raises(StateError, match=r"snapshot\.json is missing.*older retune_local.*delete .*older"):
        LocalStack(older, persist=True).start()

    killed = tmp_path / "killed"
    killed.mkdir()
    snapshot.mark_open(killed)
    with pytest.raises(StateError, match=r"moto\.open exists.*did not save.*delete .*killed"):
        LocalStack(killed, persist=True).start()

    corrupt = tmp_path / "corrupt"
    (corrupt / "moto").mkdir(parents=True)
    (corrupt / "moto" / "snapshot.json").write_text('{"format": 1, "tables": {')
    with pytest.raises(StateError, match=r"corrupt/moto/snapshot\.json cannot be read.*delete .*corrupt"):
        LocalStack(corrupt, persist=True).start()

    (corrupt / "moto" / "snapshot.json").write_text('{"format": 0}')
    with pytest.raises(StateError, match=r"snapshot\.json has format 0.*reads format 1"):
        LocalStack(corrupt, persist=True).start()

    process = _serve(older, tmp_path / "endpoints.json")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "retune_local serve:" in stderr and str(older / "moto" / "snapshot.json") in stderr
