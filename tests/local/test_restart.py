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
        [sys.executable, "-m", "retune_cli", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_restarted_stack_reads_the_same_rounds_champion_plan_alerts_and_parked_events(tmp_path: Path) -> None:
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
        assert json.loads(bodies[0])["requestPayload"]["detail"]["HyperParameterTuningJobName"] == "rt-toy-0009"
        subjects = [a["Subject"] for a in again.alerts()]
        assert len(subjects) == 1 and subjects[0].startswith("[retune] toy round 1: "), subjects

        # The next drop goes on from the restored state: the stored plan (same profile version), warm-started
        # from round 1's tuning job, the challenger scored against the restored champion.
        again.drop(write_drop(tmp_path / "2015-07-01", validation_rows=4, test_rows=4), "toy")
        second = again.wait_for_round("toy", 2, timeout=300)
        assert second.status == "decided", second
        assert second.plan == plan
        assert second.plan.warm_start_parents.value == ["rt-toy-0001"]
        assert second.evaluation is not None and second.evaluation.champion_score is not None

