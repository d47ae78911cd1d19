"""The commands that change state, against one local stack; each test works on its own profile."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from retune.table import Delete
from retune_local.stack import LocalStack

from tests.cli.conftest import SLOW_IMAGE, Cli, put_profile, run_round
from tests.local.conftest import park_close_round_event, write_drop

# One worker runs the CLI's stack tests: the package's local stack (tests/cli/conftest.py) starts once.
pytestmark = [pytest.mark.local_stack, pytest.mark.xdist_group("cli-stack")]


def test_pause_queues_drops_and_resume_starts_the_newest(cli: Cli, local: tuple[LocalStack, Path]) -> None:
    stack, tmp = local
    store = stack.state()
    put_profile(stack, tmp, "paused")
    result = cli("pause", "paused")
    assert result.code == 0
    assert result.out.startswith("paused paused: new drops queue")
    assert cli("pause", "paused").out.startswith("paused was already paused")
    for drop_id in ("2016-01-01", "2016-02-01"):
        stack.drop(write_drop(tmp / "paused" / drop_id), "paused")
    assert stack.wait_until(
        lambda: (d := store.get_drop("paused", "2016-01-01")) is not None and d.state == "superseded",
        timeout=60,
    )
    assert stack.wait_until(
        lambda: (d := store.get_drop("paused", "2016-02-01")) is not None and d.state == "queued", timeout=60
    )
    assert store.get_round("paused", 1) is None
    listed = cli("rounds", "paused", "--json").json()
    assert listed["paused"]["paused_by"] == "arn:aws:iam::123456789012:user/retune-operator"  # sts, as in AWS
    assert listed["queued"]["drop_id"] == "2016-02-01"
    assert "PAUSED since" in cli("rounds", "paused").out

    resumed = cli("resume", "paused", "--json").json()
    assert resumed == {"profile": "paused", "changed": True, "announced": "2016-02-01"}
    rnd = stack.wait_for_round("paused", 1, timeout=120)
    assert rnd.drop_id == "2016-02-01"
    assert store.get_paused("paused") is None
    assert cli("resume", "paused").out == "paused was not paused; no drop was waiting\n"


def test_stop_stops_a_running_round(cli: Cli, local: tuple[LocalStack, Path]) -> None:
    stack, tmp = local
    put_profile(stack, tmp, "slow", training__image=SLOW_IMAGE)
    stack.drop(write_drop(tmp / "slow" / "2016-01-01"), "slow")
    stack.wait_for_round("slow", 1, timeout=60, statuses=("running",))
    result = cli("stop", "slow", "1")
    assert result.code == 0, result.err
    assert result.out.startswith("stopping rt-slow-0001 (round 1 of slow)")
    rnd = stack.wait_for_round("slow", 1, timeout=60)
    assert rnd.tuning_status == "Stopped"
    again = cli("stop", "slow", "1")
    assert again.code == 1
    assert again.err == f"retune: error: round 1 of slow is {rnd.status}: nothing to stop\n"


def test_stop_stops_a_round_training_its_incumbents(cli: Cli, local: tuple[LocalStack, Path]) -> None:
    """Round 2 trains its incumbents (the slow trainer: until stopped) with a drop queued behind it: `retune stop`
    stops them through the CLI's own IAM policy; no tuning job starts; once their Stopped events are recorded,
    Reconcile ends the round as a stopped round ends (failed, alerted), and the queued drop starts."""
    stack, tmp = local
    store = stack.state()
    put_profile(stack, tmp, "stopinc")
    assert run_round(stack, tmp, "stopinc", "2016-01-01", 1).status == "decided"
    put_profile(stack, tmp, "stopinc", training__image=SLOW_IMAGE)
    stack.drop(write_drop(tmp / "stopinc" / "2016-02-01"), "stopinc")
    rnd = stack.wait_for_round("stopinc", 2, timeout=60, statuses=("starting",))
    names = [i.job_name for i in rnd.incumbents]
    assert names, "round 2 has incumbents"
    sagemaker = stack.client("sagemaker")

    def training() -> bool:
        listed = sagemaker.list_training_jobs(NameContains="rt-stopinc-0002-inc")["TrainingJobSummaries"]
        return sorted(j["TrainingJobName"] for j in listed if j["TrainingJobStatus"] == "InProgress") == names

    assert stack.wait_until(training, timeout=60)
    stack.drop(write_drop(tmp / "stopinc" / "2016-03-01"), "stopinc")
    assert stack.wait_until(
        lambda: (d := store.get_drop("stopinc", "2016-03-01")) is not None and d.state == "queued", timeout=60
    )

    result = cli("stop", "stopinc", "2")
    assert result.code == 0, result.err
    assert result.out.startswith("stopping round 2 of stopinc while it trains its incumbents")
    assert store.get_round("stopinc", 2).status == "stopping"
    assert stack.wait_until(
        lambda: all(
            (t := store.get_trial("stopinc", 2, n)) is not None and t.status == "Stopped" for n in names
        ),
        timeout=120,
    )
    stack.router.fire_schedule("ReconcileFunction")
    rnd = stack.wait_for_round("stopinc", 2, timeout=60)
    assert (rnd.status, rnd.tuning_status, rnd.decision.outcome) == ("failed", "Stopped", "not_evaluated")
    assert "rt-stopinc-0002" not in [
        j["HyperParameterTuningJobName"]
        for j in sagemaker.list_hyper_parameter_tuning_jobs(NameContains="rt-stopinc")[
            "HyperParameterTuningJobSummaries"
        ]
    ]
    assert any(
        a["Subject"] == "[retune] stopinc round 2: failed (tuning job Stopped)" for a in stack.alerts()
    )
    third = stack.wait_for_round("stopinc", 3, timeout=60, statuses=("starting", "running"))
    assert third.drop_id == "2016-03-01"
    again = cli("stop", "stopinc", "2")
    assert again.code == 1
    assert again.err == "retune: error: round 2 of stopinc is failed: nothing to stop\n"
    assert cli("stop", "stopinc", "3").code == 0  # its incumbents train the slow trainer too


def test_retry_reruns_a_failed_drop(cli: Cli, local: tuple[LocalStack, Path]) -> None:
    stack, tmp = local
    store = stack.state()
    stack.drop(write_drop(tmp / "late" / "2016-01-01"), "late")  # before its profile: the drop fails
    assert stack.wait_until(
        lambda: (d := store.get_drop("late", "2016-01-01")) is not None and d.state == "failed", timeout=60
    )
    refused = cli("retry", "late", "2016-01-02")
    assert refused.code == 1 and "no drop 2016-01-02 of late is recorded" in refused.err
    put_profile(stack, tmp, "late")
    result = cli("retry", "late", "2016-01-01", "--wait", "60")
    assert result.code == 0, result.err
    assert "manifest copied onto itself" in result.out
    assert "drop 2016-01-01 is started: round 1" in result.out
    assert stack.wait_for_round("late", 1, timeout=120).status == "decided"
    started = cli("retry", "late", "2016-01-01")
    assert started.code == 1
    assert started.err == (
        "retune: error: drop 2016-01-01 of late is started, not failed: it started round 1\n"
    )


def test_promote_by_hand_then_roll_back(cli: Cli, local: tuple[LocalStack, Path]) -> None:
    stack, tmp = local
    store = stack.state()
    put_profile(stack, tmp, "manual", promotion__approval="manual")
    first = run_round(stack, tmp, "manual", "2016-01-01", 1)
    assert first.decision.outcome == "pending_manual"
    one = first.decision.model_package_arn
    assert cli("champion", "manual").out == "manual has no champion yet\n"

    promoted = cli("promote", "manual", "--model-package", one)
    assert promoted.code == 0, promoted.err
    assert promoted.out.startswith("manual: champion is now retune-manual/1 (round 1), the first champion;")
    assert promoted.out.endswith("Approved in the model registry; alert sent.\n")
    registry = stack.client("sagemaker").describe_model_package(ModelPackageName=one)
    assert registry["ModelApprovalStatus"] == "Approved"
    assert store.get_round("manual", 1).decision.outcome == "approved"

    second = run_round(stack, tmp, "manual", "2016-02-01", 2, rows=4)
    two = second.decision.model_package_arn
    data = cli("promote", "manual", "--model-package", two, "--json").json()
    assert data["status"] == "champion_set" and data["previous"] == one
    back = cli("promote", "manual", "--model-package", one, "--json").json()
    assert back["status"] == "champion_set" and back["detail"].startswith("rolled back by")
    champion = store.get_champion("manual")
    assert champion.model_package_arn == one and champion.version == 3
    assert [c.model_package_arn for c in champion.history] == [one, two, one]
    assert cli("promote", "manual", "--model-package", one).out.startswith(
        "manual: retune-manual/1 is already the champion"
    )
    other = cli("promote", "manual", "--model-package", one.replace("retune-manual/1", "retune-manual/99"))
    assert other.code == 1 and "no such model package" in other.err
    assert stack.router is not None
    assert stack.wait_until(stack.router.idle, timeout=60)  # the registry's events, handled by Promote
    by_hand = [a["Subject"] for a in stack.alerts() if "champion set by hand" in a["Subject"]]
    # One alert per change: Promote, handling the registry's event for an approval the CLI made, publishes
    # the same alert key; the rollback's alert has a key of its own.
    assert by_hand == [
        "[retune] manual: champion set by hand (round 1)",
        "[retune] manual: champion set by hand (round 2)",
        "[retune] manual: champion set by hand (round 1)",
    ]


def test_redrive_replays_parked_events(cli: Cli, local: tuple[LocalStack, Path]) -> None:
    stack, _ = local
    assert stack.router is not None
    # CloseRound fails on a lookup item whose round does not exist: Lambda's retries, then the on-failure queue.
    parked = len(stack.on_failure_records)
    park_close_round_event(stack, "ghost", 9, event_id="parked-1")
    assert stack.wait_until(lambda: len(stack.on_failure_records) == parked + 1, timeout=60)
    # And an event EventBridge could not deliver: on the rule's dead-letter queue, the event itself.
    dlq = stack.resource("StartRoundRuleDLQ")
    ready = {
        "version": "0",
        "id": "parked-2",
        "detail-type": "Drop Ready",
        "source": "retune",
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "profile": "ghost",
            "drop_id": "d1",
            "bucket": stack.bucket,
            "key": "datasets/ghost/d1/manifest.json",
        },
    }
    stack.client("sqs").send_message(
        QueueUrl=dlq,
        MessageBody=json.dumps(ready),
        MessageAttributes={"ERROR_CODE": {"DataType": "String", "StringValue": "THROTTLING"}},
    )

    dry_run = cli("redrive", "--dry-run", "--json")
    assert dry_run.code == 0, dry_run.err
    dry = dry_run.json()
    assert dry["dry_run"] is True
    assert {(e["queue"], e["function"]) for e in dry["events"]} == {
        ("CloseRoundOnFailureQueue", "CloseRoundFunction"),
        ("StartRoundRuleDLQ", "StartRoundFunction"),
    }
    table = cli("redrive", "--dry-run").out
    assert "SageMaker HyperParameter Tuning Job State Change: rt-ghost-0009" in table
    assert "2 of 2 would replay" in table

    # The cause is not fixed: the replay fails again and is parked again.
    again = cli("redrive")
    assert again.code == 1
    assert "failed again after 3 attempts" in again.out and "parked again" in again.out
    assert "Drop Ready: ghost/d1" in again.out  # StartRound took the dead-lettered event (a missing drop)

    # Fixed (the stray lookup gone): the replay succeeds and the queues are empty.
    stack.state().table.write([Delete("JOB#rt-ghost-0009", "JOB")])
    fixed = cli("redrive", "--json")
    assert fixed.code == 0, fixed.out
    (event,) = fixed.json()["events"]
    assert event["ok"] and event["result"].startswith("ok")
    assert cli("redrive").out == "no parked events\n"


def test_drop_uploads_the_files_then_the_manifest(cli: Cli, local: tuple[LocalStack, Path]) -> None:
    stack, tmp = local
    put_profile(stack, tmp, "dropper")
    folder = write_drop(tmp / "upload" / "2016-03-01")
    (folder / "notes.txt").write_text("not listed in the manifest")
    result = cli("drop", "dropper", str(folder))
    assert result.code == 0, result.err
    assert result.out.startswith("drop 2016-03-01 of dropper: 3 file(s)")
    assert "not uploaded (not in the manifest): notes.txt" in result.out
    assert [line.split()[0] for line in result.err.splitlines()] == [
        "test.csv",
        "train.csv",
        "validation.csv",
        "manifest.json",
    ]
    assert stack.wait_for_round("dropper", 1, timeout=120).drop_id == "2016-03-01"
    objects = stack.client("s3").list_objects_v2(Bucket=stack.bucket, Prefix="datasets/dropper/")
    assert "datasets/dropper/2016-03-01/notes.txt" not in {o["Key"] for o in objects["Contents"]}

    (folder / "manifest.json").write_text('{"channels": {"train": {"files": ["missing.csv"]}}}')
    bad = cli("drop", "dropper", str(folder), "--drop-id", "2016-03-02")
    assert bad.code == 1
    assert bad.err.startswith("retune: error: ") and "missing.csv" in bad.err and bad.err.count("\n") == 1
