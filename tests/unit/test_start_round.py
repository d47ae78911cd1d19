"""StartRound's branches on fakes: each test fails if its branch breaks."""

from __future__ import annotations

import hashlib
import json

import pytest
from retune.errors import LimitExceeded, PermanentError, Refused, Throttled, TransientError
from retune.events import NotADrop, parse_drop_event
from retune.profile import PROFILE_MAX_BYTES
from retune.records import TrialRecord
from retune.use_cases.close_round import close_round
from retune.use_cases.reconcile import reconcile
from retune.use_cases.start_round import LAUNCH_RETRY_SECONDS, start_round

from functions.start_round.handler import lambda_handler as start_round_handler
from tests.conftest import BUCKET, World, profile_doc, s3_event


def run(world: World, event: dict) -> object:
    return start_round(parse_drop_event(event), world.deps)


def finish_round(world: World, profile: str = "market-xgb") -> None:
    """What CloseRound and Promote do at the end of a round, as far as StartRound can see: ACTIVE goes."""
    active = world.store.get_active(profile)
    assert active is not None
    world.table.items.pop((f"PROFILE#{profile}", "ACTIVE"))
    rnd = world.store.get_round(profile, active.seq)
    assert rnd is not None
    world.store.save_round(
        rnd.model_copy(update={"status": "decided", "tuning_status": "Completed"}), expected_status=rnd.status
    )


def test_start_round_starts_a_tuning_job_for_a_valid_drop(world: World) -> None:
    world.put_profile()
    result = run(world, world.drop("2015-01-01"))
    assert result.status == "started"
    assert result.seq == 1
    assert result.tuning_job == "rt-market-xgb-0001"
    (request,) = world.sagemaker.created("CreateHyperParameterTuningJob")
    assert request["HyperParameterTuningJobName"] == "rt-market-xgb-0001"
    assert request["HyperParameterTuningJobConfig"]["Strategy"] == "Bayesian"
    assert request["HyperParameterTuningJobConfig"]["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 20
    assert {t["Key"]: t["Value"] for t in request["Tags"]} == {
        "retune:profile": "market-xgb",
        "retune:round": "1",
        "retune:drop": "2015-01-01",
    }
    channels = {c["ChannelName"]: c for c in request["TrainingJobDefinition"]["InputDataConfig"]}
    assert set(channels) == {"train", "validation"}  # the test channel is held out
    uri = channels["train"]["DataSource"]["S3DataSource"]["S3Uri"]
    assert uri == f"s3://{BUCKET}/manifests/market-xgb/2015-01-01/train.manifest"
    assert world.bucket.json(BUCKET, "manifests/market-xgb/2015-01-01/train.manifest") == [
        {"prefix": f"s3://{BUCKET}/datasets/market-xgb/2015-01-01/"},
        "train.csv",
    ]
    rnd = world.store.get_round("market-xgb", 1)
    assert rnd is not None and rnd.status == "running"
    assert rnd.profile_version.startswith("v")
    assert world.store.get_active("market-xgb").seq == 1
    assert world.store.get_drop("market-xgb", "2015-01-01").state == "started"
    assert world.store.get_lookup("rt-market-xgb-0001").seq == 1
    assert world.metrics.counts["RoundsStarted"] == 1


def test_start_round_repeated_delivery_is_a_duplicate(world: World) -> None:
    world.put_profile()
    event = world.drop("2015-01-01")
    assert run(world, event).status == "started"
    again = run(world, event)
    assert again.status == "already_started"
    assert len(world.sagemaker.created("CreateHyperParameterTuningJob")) == 1


def test_start_round_replay_after_crash_resumes_and_meets_resource_in_use(world: World) -> None:
    world.put_profile()
    event = world.drop("2015-01-01")
    world.sagemaker.fail_next.append(Throttled("sagemaker: ThrottlingException"))
    with pytest.raises(Throttled):
        run(world, event)
    assert world.store.get_round("market-xgb", 1).status == "starting"
    assert run(world, event).status == "started"
    # A crash after SageMaker created the job but before the round was marked running: the replay meets
    # ResourceInUse, which means already started.
    rnd = world.store.get_round("market-xgb", 1)
    world.store.save_round(rnd.model_copy(update={"status": "starting"}), expected_status="running")
    assert run(world, event).status == "started"
    assert len(world.sagemaker.tuning_jobs) == 1
    assert world.store.get_round("market-xgb", 1).status == "running"


def test_start_round_queues_a_drop_while_a_round_runs(world: World) -> None:
    world.put_profile()
    run(world, world.drop("2015-01-01"))
    result = run(world, world.drop("2015-07-01"))
    assert result.status == "queued"
    assert world.store.get_queued("market-xgb").drop_id == "2015-07-01"
    assert world.store.get_drop("market-xgb", "2015-07-01").state == "queued"
    assert len(world.sagemaker.tuning_jobs) == 1


def test_start_round_newer_drop_supersedes_the_queued_one(world: World) -> None:
    world.put_profile()
    run(world, world.drop("2015-01-01"))
    run(world, world.drop("2015-07-01"))
    result = run(world, world.drop("2016-01-01"))
    assert result.status == "queued"
    assert world.store.get_queued("market-xgb").drop_id == "2016-01-01"
    assert world.store.get_drop("market-xgb", "2015-07-01").state == "superseded"


def test_start_round_later_upload_displaces_the_queued_drop(world: World) -> None:
    world.put_profile()
    run(world, world.drop("2015-01-01"))
    first = world.drop("2016-01-01")
    second = world.drop("2015-07-01")
    # The queue's order is the manifests' upload time, not the drop ids: `second` was uploaded later and wins.
    run(world, first)
    result = run(world, second)
    assert result.status == "queued"
    assert world.store.get_drop("market-xgb", "2016-01-01").state == "superseded"
    # A late duplicate of the displaced drop's event does not bring it back.
    assert run(world, first).status == "duplicate"
    assert world.store.get_queued("market-xgb").drop_id == "2015-07-01"


def test_start_round_ties_in_upload_time_go_to_the_higher_drop_id(world: World) -> None:
    world.put_profile()
    run(world, world.drop("2015-01-01"))
    a = world.drop("2015-07-01")
    b = world.drop("2016-01-01")
    for key in (
        ("retune-data", "datasets/market-xgb/2015-07-01/manifest.json"),
        ("retune-data", "datasets/market-xgb/2016-01-01/manifest.json"),
    ):
        world.bucket.objects[key][-1].last_modified = world.clock.now
    run(world, b)
    assert run(world, a).status == "superseded"
    assert world.store.get_queued("market-xgb").drop_id == "2016-01-01"


def test_start_round_queued_drop_starts_on_drop_ready(world: World) -> None:
    world.put_profile()
    run(world, world.drop("2015-01-01"))
    run(world, world.drop("2015-07-01"))
    finish_round(world)
    drop = world.store.get_drop("market-xgb", "2015-07-01")
    ready = {
        "version": "0",
        "id": "e1",
        "detail-type": "Drop Ready",
        "source": "retune",
        "account": "123456789012",
        "time": "2026-01-01T01:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "profile": "market-xgb",
            "drop_id": "2015-07-01",
            "bucket": BUCKET,
            "key": drop.manifest_key,
            "version_id": drop.version_id,
        },
    }
    result = run(world, ready)
    assert result.status == "started"
    assert result.seq == 2
    assert world.store.get_queued("market-xgb") is None
    assert run(world, ready).status == "already_started"


def test_start_round_bad_manifest_fails_the_drop_and_alerts(world: World) -> None:
    world.put_profile()
    result = run(world, world.drop("2015-01-01", manifest={"channels": {"train": {"files": []}}, "extra": 1}))
    assert result.status == "failed"
    assert any("manifest channels.train.files" in e for e in result.errors)
    assert any("manifest extra: unknown field" in e for e in result.errors)
    assert world.store.get_drop("market-xgb", "2015-01-01").state == "failed"
    assert world.alerts.outcomes() == ["drop_failed"]
    assert "manifest channels.train.files" in world.alerts.published[0].body
    assert world.sagemaker.requests == []
    assert world.store.get_active("market-xgb") is None


def test_start_round_path_escape_is_rejected(world: World) -> None:
    world.put_profile()
    manifest = {
        "channels": {
            "train": {"files": ["../other-drop/train.csv"]},
            "validation": {"files": ["validation.csv"]},
            "test": {"files": ["test.csv"]},
        }
    }
    result = run(world, world.drop("2015-01-01", manifest=manifest))
    assert result.status == "failed"
    assert any("leaves the drop's prefix" in e for e in result.errors)
    assert world.sagemaker.requests == []


def test_start_round_missing_files_fail_the_drop(world: World) -> None:
    world.put_profile()
    result = run(world, world.drop("2015-01-01", files=("train.csv",)))
    assert result.status == "failed"
    assert any("files not found" in e and "validation.csv" in e for e in result.errors)


def test_start_round_bad_profile_fails_the_drop_naming_the_field(world: World) -> None:
    doc = profile_doc()
    doc["budget"]["max_parallel_jobs"] = 50
    doc["objective"]["type"] = "Smallest"
    world.put_profile(doc)
    result = run(world, world.drop("2015-01-01"))
    assert result.status == "failed"
    assert any(e.startswith("profile objective.type") for e in result.errors)
    assert world.alerts.outcomes() == ["drop_failed"]


def test_start_round_unknown_profile_fails_the_drop(world: World) -> None:
    result = run(world, world.drop("2015-01-01", profile="no-such-profile"))
    assert result.status == "failed"
    assert result.errors == [
        "profile: profiles/no-such-profile.json does not exist; upload the profile before its drops"
    ]


@pytest.mark.parametrize("over", [1, PROFILE_MAX_BYTES])
def test_start_round_profile_over_the_size_limit_fails_the_drop_naming_the_limit(
    world: World, over: int
) -> None:
    # Valid JSON padded past the limit: the read stops one byte over it, and the error says why, not "not JSON".
    body = json.dumps(profile_doc("market-xgb")).encode()
    world.bucket.put(
        BUCKET, "profiles/market-xgb.json", body[:-1] + b" " * (PROFILE_MAX_BYTES - len(body) + over) + b"}"
    )
    result = run(world, world.drop("2015-01-01"))
    assert result.status == "failed"
    assert result.errors == [
        f"profile (document): over the {PROFILE_MAX_BYTES}-byte limit of a profile; make it smaller"
    ]


def test_start_round_fixed_manifest_uploaded_again_retries_the_drop(world: World) -> None:
    world.put_profile()
    bad = run(world, world.drop("2015-01-01", manifest={"channels": {"train": {"files": ["nope.csv"]}}}))
    assert bad.status == "failed"
    key = "datasets/market-xgb/2015-01-01/manifest.json"
    again = run(world, s3_event(key, world.bucket.objects[(BUCKET, key)][-1].version_id))
    assert again.status == "duplicate"  # the same failed upload delivered twice
    fixed = run(world, world.drop("2015-01-01"))
    assert fixed.status == "started"
    assert world.store.get_drop("market-xgb", "2015-01-01").errors == []


def test_start_round_limit_exceeded_keeps_the_drop_queued_and_alerts(world: World) -> None:
    world.put_profile()
    event = world.drop("2015-01-01")
    world.sagemaker.fail_next.append(LimitExceeded("sagemaker: account limit of 100 tuning jobs"))
    result = run(world, event)
    assert result.status == "waiting_for_capacity"
    drop = world.store.get_drop("market-xgb", "2015-01-01")
    assert drop.state == "queued" and drop.waiting_for_capacity
    assert world.store.get_queued("market-xgb").drop_id == "2015-01-01"
    assert world.store.get_active("market-xgb") is None
    assert world.store.get_round("market-xgb", 1) is None
    assert world.alerts.outcomes() == ["limit_exceeded"]
    # Reconcile's retry is a Drop Ready for the queued drop: it starts round 1.
    assert run(world, event).status == "started"
    assert world.store.get_round("market-xgb", 1).status == "running"


def test_start_round_throttling_is_raised_for_lambda_to_retry(world: World) -> None:
    world.put_profile()
    world.sagemaker.fail_next.append(Throttled("sagemaker: ThrottlingException"))
    with pytest.raises(Throttled):
        run(world, world.drop("2015-01-01"))


def test_start_round_other_bucket_is_ignored(world: World) -> None:
    world.put_profile()
    event = world.drop("2015-01-01")
    event["detail"]["bucket"]["name"] = "someone-elses-bucket"
    assert run(world, event).status == "ignored"
    assert world.sagemaker.requests == []


def test_start_round_deeper_key_is_not_a_drop() -> None:
    with pytest.raises(NotADrop):
        parse_drop_event(s3_event("datasets/market-xgb/2015-01-01/sub/manifest.json", "v1"))


def test_start_round_url_encoded_key_finds_the_manifest(world: World) -> None:
    world.put_profile()
    event = world.drop("drop 2015=01")
    event["detail"]["object"]["key"] = "datasets/market-xgb/drop+2015%3D01/manifest.json"
    result = run(world, event)
    assert result.status == "started"
    assert result.drop_id == "drop 2015=01"
    request = world.sagemaker.created("CreateHyperParameterTuningJob")[0]
    assert {"Key": "retune:drop", "Value": "drop 2015=01"} in request["Tags"]


def test_start_round_new_manifest_for_a_started_drop_is_ignored(world: World) -> None:
    world.put_profile()
    run(world, world.drop("2015-01-01"))
    result = run(world, world.drop("2015-01-01"))
    assert result.status == "ignored"
    assert "new drop id" in result.detail


def test_start_round_second_round_warm_starts_from_the_first(world: World) -> None:
    world.put_profile()
    run(world, world.drop("2015-01-01"))
    rnd = world.store.get_round("market-xgb", 1)
    world.store.put_trial(
        TrialRecord(
            profile="market-xgb",
            seq=1,
            training_job_name="rt-market-xgb-0001-001-abcdef12",
            status="Completed",
            final_objective=0.5,
            updated_at=world.clock(),
        )
    )
    world.store.save_round(rnd.model_copy(update={"tuning_status": "Completed"}), expected_status="running")
    finish_round(world)
    result = run(world, world.drop("2015-07-01"))
    assert result.status == "started"
    request = world.sagemaker.created("CreateHyperParameterTuningJob")[1]
    assert request["WarmStartConfig"] == {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "rt-market-xgb-0001"}],
        "WarmStartType": "TransferLearning",
    }


def test_start_round_will_not_adopt_a_tuning_job_of_another_drop(world: World) -> None:
    world.put_profile()
    run(world, world.drop("2015-01-01"))
    # retune's records are lost while SageMaker keeps its jobs: the next drop gets round 1's name again.
    world.table.items.clear()
    world.put_profile()
    with pytest.raises(PermanentError, match=r"reads .*2015-01-01.*, not drop 2015-07-01"):
        run(world, world.drop("2015-07-01"))
    assert len(world.sagemaker.tuning_jobs) == 1


def test_start_round_late_event_for_an_older_drop_does_not_run_after_newer_data(world: World) -> None:
    world.put_profile()
    old_event = world.drop("2015-01-01")  # uploaded first, its event delayed (parked, then redriven)
    run(world, world.drop("2015-07-01"))
    finish_round(world)
    result = run(world, old_event)
    assert result.status == "superseded"
    assert "2015-07-01, uploaded later, already started round 1" in result.detail
    assert world.store.get_drop("market-xgb", "2015-01-01").state == "superseded"
    assert len(world.sagemaker.tuning_jobs) == 1


def big_manifest(count: int = 700) -> tuple[dict, tuple[str, ...]]:
    """A valid manifest of about 600 KB (files with long names): over DynamoDB's 400 KB item limit."""
    train = [f"part-{i:04d}-" + "x" * 840 + ".csv" for i in range(count)]
    manifest = {
        "channels": {
            "train": {"files": train, "content_type": "text/csv"},
            "validation": {"files": ["validation.csv"], "content_type": "text/csv"},
            "test": {"files": ["test.csv"], "content_type": "application/x-parquet"},
        }
    }
    return manifest, (*train, "validation.csv", "test.csv")


def test_start_round_manifest_over_the_item_limit_starts_its_round(world: World) -> None:
    world.put_profile()
    manifest, files = big_manifest()
    event = world.drop("2015-01-01", manifest=manifest, files=files)
    key = "datasets/market-xgb/2015-01-01/manifest.json"
    body = world.bucket.objects[(BUCKET, key)][-1].body
    assert 400 * 1024 < len(body) < 1024 * 1024
    result = run(world, event)
    assert result.status == "started"
    drop = world.store.get_drop("market-xgb", "2015-01-01")
    assert drop.state == "started" and drop.manifest is None  # the manifest stays in S3, at its version
    assert drop.manifest_digest == hashlib.sha256(body).hexdigest()
    assert drop.content_types == {
        "train": "text/csv",
        "validation": "text/csv",
        "test": "application/x-parquet",
    }
    assert len(world.bucket.json(BUCKET, "manifests/market-xgb/2015-01-01/train.manifest")) == 701
    # A replay after a crash before the launch rebuilds the request from the record.
    rnd = world.store.get_round("market-xgb", 1)
    world.store.save_round(rnd.model_copy(update={"status": "starting"}), expected_status="running")
    world.sagemaker.tuning_jobs.clear()
    assert run(world, event).status == "started"
    (first, second) = world.sagemaker.created("CreateHyperParameterTuningJob")
    assert first == second
    # The evaluation reads the test channel's content type from the record, not from an inline manifest.
    world.sagemaker.run_trials("rt-market-xgb-0001", [{"objective": 0.5}])
    assert close_round("rt-market-xgb-0001", world.close_deps).status == "evaluating"
    (evaluation,) = world.sagemaker.created("CreateTrainingJob")
    test = next(c for c in evaluation["InputDataConfig"] if c["ChannelName"] == "test")
    assert test["ContentType"] == "application/x-parquet"


def test_start_round_thousands_of_errors_fail_the_drop_with_the_first_ones_listed(world: World) -> None:
    # Every error in the record would pass DynamoDB's item limit (and SNS's 256 KB message): the first are kept.
    world.put_profile()
    manifest = {f"unknown_field_number_{i:05d}": "x" * 40 for i in range(6000)}
    result = run(world, world.drop("2015-01-01", manifest=manifest))
    assert result.status == "failed"
    drop = world.store.get_drop("market-xgb", "2015-01-01")
    assert drop.state == "failed"
    assert drop.errors[0] == "manifest channels: required: add it"
    assert len(drop.errors) == 51
    assert (
        drop.errors[-1] == "... and 5951 more errors: fix these and upload the manifest again to see the rest"
    )
    (alert,) = world.alerts.published
    assert len(alert.body.encode()) < 256 * 1024


def test_start_round_test_channel_listing_training_files_is_refused_naming_them(world: World) -> None:
    # Scored on rows it trained on, any challenger would look better than it is.
    world.put_profile()
    manifest = {
        "channels": {
            "train": {"files": ["train.csv", "extra.csv"]},
            "validation": {"files": ["validation.csv"]},
            "test": {"files": ["test.csv", "extra.csv", "validation.csv"]},
        }
    }
    event = world.drop(
        "2015-01-01", manifest=manifest, files=("train.csv", "extra.csv", "validation.csv", "test.csv")
    )
    result = run(world, event)
    assert result.status == "failed"
    assert result.errors == [
        "manifest channels.test: the test channel lists files the training channels also list "
        "(extra.csv in train, validation.csv in validation); the challenger would be scored on rows it "
        "trained on: list each file in one channel only"
    ]
    assert world.alerts.outcomes() == ["drop_failed"]
    assert world.sagemaker.requests == []
    assert world.store.get_active("market-xgb") is None


def drop_ready(world: World, drop_id: str) -> dict:
    drop = world.store.get_drop("market-xgb", drop_id)
    return {
        "version": "0",
        "id": f"ready-{drop_id}",
        "detail-type": "Drop Ready",
        "source": "retune",
        "account": "123456789012",
        "time": "2026-01-01T01:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "profile": "market-xgb",
            "drop_id": drop_id,
            "bucket": BUCKET,
            "key": drop.manifest_key,
            "version_id": drop.version_id,
        },
    }


def test_start_round_queued_drop_failing_at_its_turn_leaves_the_queue(world: World) -> None:
    world.put_profile()
    run(world, world.drop("2015-01-01"))
    assert run(world, world.drop("2015-07-01")).status == "queued"
    bad = profile_doc()
    bad["objective"]["type"] = "Smallest"
    world.put_profile(bad)  # the profile broke while the drop waited
    finish_round(world)
    assert run(world, drop_ready(world, "2015-07-01")).status == "failed"
    assert world.store.get_queued("market-xgb") is None  # `retune rounds` no longer shows it queued
    report = reconcile(world.reconcile_deps)
    assert report.actions == []  # and Reconcile does not announce it again
    world.put_profile()
    assert run(world, world.drop("2016-01-01")).status == "started"
    assert world.store.get_drop("market-xgb", "2015-07-01").state == "failed"  # not rewritten to superseded


def test_start_round_queued_drop_superseded_at_its_turn_leaves_the_queue(world: World) -> None:
    world.put_profile()
    old_event = world.drop("2015-01-01")  # its event is late: a newer drop's round runs first
    run(world, world.drop("2015-07-01"))
    assert run(world, old_event).status == "queued"
    finish_round(world)
    assert run(world, drop_ready(world, "2015-01-01")).status == "superseded"
    assert world.store.get_queued("market-xgb") is None
    assert reconcile(world.reconcile_deps).actions == []


# Versions of one manifest: S3's sequencer orders them (issue 17, item 15); drops: their first upload (item 16).


def test_start_round_late_event_for_an_older_version_does_not_revert_a_queued_drop(world: World) -> None:
    world.put_profile()
    run(world, world.drop("2015-01-01"))
    late = world.drop("2015-07-01")  # its event is delayed...
    newer = world.drop("2015-07-01")  # ...past the fixed upload's
    assert run(world, newer).status == "queued"
    result = run(world, late)
    assert result.status == "ignored"
    assert "older version" in result.detail
    drop = world.store.get_drop("market-xgb", "2015-07-01")
    assert drop.version == newer["detail"]["object"]["version-id"] and drop.state == "queued"
    assert drop.sequencer == newer["detail"]["object"]["sequencer"]


def test_start_round_late_event_for_an_older_version_does_not_start_after_the_newer_failed(
    world: World,
) -> None:
    world.put_profile()
    late = world.drop("2015-01-01")
    newer = world.drop("2015-01-01", manifest={"channels": {"train": {"files": ["nope.csv"]}}})
    assert run(world, newer).status == "failed"
    assert run(world, late).status == "ignored"
    assert world.store.get_drop("market-xgb", "2015-01-01").state == "failed"
    assert world.sagemaker.requests == []


def test_start_round_sequencers_of_different_lengths_compare_as_aws_says(world: World) -> None:
    # AWS's S3 guide: pad the shorter with zeros on the right, then compare (sequencers begin with the time).
    world.put_profile()
    run(world, world.drop("2015-01-01"))
    late = world.drop("2015-07-01")
    late["detail"]["object"]["sequencer"] = "0055AED6DCD90281E5FF"  # longer, and older
    newer = world.drop("2015-07-01")
    newer["detail"]["object"]["sequencer"] = "0055AED6DCD9028200"  # left-padded, it would sort first
    assert run(world, newer).status == "queued"
    assert run(world, late).status == "ignored"


def test_start_round_without_sequencers_orders_versions_by_their_upload_time(world: World) -> None:
    # A "Drop Ready" of an older version carries no sequencer (it was put before they were kept): S3's
    # LastModified of each version tells.
    world.put_profile()
    run(world, world.drop("2015-01-01"))
    run(world, world.drop("2015-07-01"))
    ready = drop_ready(world, "2015-07-01")  # announced, then delayed
    newer = world.drop("2015-07-01")
    assert run(world, newer).status == "queued"
    assert run(world, ready).status == "ignored"
    assert world.store.get_drop("market-xgb", "2015-07-01").version == newer["detail"]["object"]["version-id"]


def test_start_round_drop_ready_carries_the_sequencer_or_not() -> None:
    event = {
        "version": "0",
        "id": "e1",
        "detail-type": "Drop Ready",
        "source": "retune",
        "account": "123456789012",
        "time": "2026-01-01T01:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {
            "profile": "market-xgb",
            "drop_id": "2015-07-01",
            "bucket": BUCKET,
            "key": "datasets/market-xgb/2015-07-01/manifest.json",
            "version_id": "v3",
        },
    }
    assert parse_drop_event(event).sequencer is None
    event["detail"]["sequencer"] = "0055AED6DCD90281E5"
    assert parse_drop_event(event).sequencer == "0055AED6DCD90281E5"


def test_start_round_retried_older_drop_does_not_displace_newer_queued_data(world: World) -> None:
    world.put_profile()
    run(world, world.drop("2015-01-01"))
    old = run(world, world.drop("2015-04-01", manifest={"channels": {"train": {"files": ["nope.csv"]}}}))
    assert old.status == "failed"
    assert run(world, world.drop("2015-07-01")).status == "queued"
    # The person fixes the older drop and uploads its manifest again (`retune retry` copies it onto itself).
    result = run(world, world.drop("2015-04-01"))
    assert result.status == "superseded"
    assert "2015-07-01" in result.detail
    assert world.store.get_queued("market-xgb").drop_id == "2015-07-01"
    assert world.store.get_drop("market-xgb", "2015-07-01").state == "queued"


def test_start_round_retried_older_drop_does_not_run_after_newer_data_ran(world: World) -> None:
    world.put_profile()
    assert (
        run(world, world.drop("2015-04-01", manifest={"channels": {"x": {"files": ["a"]}}})).status
        == "failed"
    )
    assert run(world, world.drop("2015-07-01")).status == "started"
    finish_round(world)
    result = run(world, world.drop("2015-04-01"))
    assert result.status == "superseded"
    assert len(world.sagemaker.tuning_jobs) == 1


# The round's launch (issue 17, item 5): adopt a job that exists; a refusal fails the drop and frees the profile;
# throttling, 5xx and timeouts are retried until LAUNCH_RETRY_SECONDS, then fail the drop.

PASS_ROLE = (
    "sagemaker: AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/retune-StartRound/x is not "
    "authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/retune-sagemaker"
)


@pytest.mark.parametrize(
    "refusal",
    [PASS_ROLE, "sagemaker: ValidationException: Could not assume role arn:aws:iam::123456789012:role/x"],
)
def test_start_round_refused_launch_fails_the_drop_frees_the_profile_and_alerts(
    world: World, refusal: str
) -> None:
    world.put_profile()
    event = world.drop("2015-01-01")
    world.sagemaker.fail_next.append(Refused(refusal))
    result = run(world, event)
    assert result.status == "failed"
    assert result.errors == [
        f"launch: SageMaker refused the tuning job rt-market-xgb-0001 of round 1: {refusal}"
    ]
    drop = world.store.get_drop("market-xgb", "2015-01-01")
    assert drop.state == "failed" and drop.round_seq is None
    assert world.store.get_active("market-xgb") is None  # the profile is free
    assert world.store.get_round("market-xgb", 1) is None
    assert world.store.get_lookup("rt-market-xgb-0001") is None
    (alert,) = world.alerts.published
    assert alert.outcome == "launch_failed" and refusal in alert.body
    # the same event again: nothing new, the alert once
    assert run(world, event).status == "duplicate"
    assert len(world.alerts.published) == 1
    # the next drop starts the profile's round 1
    assert run(world, world.drop("2015-07-01")).status == "started"
    assert world.store.get_round("market-xgb", 1).drop_id == "2015-07-01"


def test_start_round_refused_retry_of_a_job_that_exists_adopts_it(world: World) -> None:
    # The first create took effect but its answer was lost (a timeout); the retry is refused (say the role's
    # permission was taken away meanwhile): the job of this drop exists, and is the round's.
    world.put_profile()
    event = world.drop("2015-01-01")
    world.sagemaker.fail_next.append(Throttled("sagemaker: read timeout"))
    with pytest.raises(Throttled):
        run(world, event)
    request = world.store.get_round("market-xgb", 1)
    assert request is not None and request.status == "starting"
    world.sagemaker.fail_next.append(Refused(PASS_ROLE))
    real_create = world.sagemaker.create_tuning_job

    def create_took_effect_then_refused(request: dict) -> str:
        world.sagemaker.tuning_jobs[request["HyperParameterTuningJobName"]] = {
            "request": request,
            "HyperParameterTuningJobStatus": "InProgress",
        }
        return real_create(request)

    world.sagemaker.create_tuning_job = create_took_effect_then_refused  # type: ignore[method-assign]
    assert run(world, event).status == "started"
    assert world.store.get_round("market-xgb", 1).status == "running"
    assert world.alerts.published == []


def test_start_round_throttled_launch_is_retried_then_fails_once_retries_are_spent(world: World) -> None:
    world.put_profile()
    event = world.drop("2015-01-01")
    world.sagemaker.fail_next.append(Throttled("sagemaker: ThrottlingException"))
    with pytest.raises(Throttled):
        run(world, event)  # Lambda retries it
    assert world.store.get_round("market-xgb", 1).status == "starting"
    world.clock.advance(LAUNCH_RETRY_SECONDS - 60)
    world.sagemaker.fail_next.append(TransientError("sagemaker: InternalFailure (HTTP 500)"))
    reconcile(world.reconcile_deps)  # Reconcile retries the starting round; still within the bound
    assert world.store.get_round("market-xgb", 1).status == "starting"
    assert world.alerts.published == []
    world.clock.advance(120)
    world.sagemaker.fail_next.append(TransientError("sagemaker: read timeout"))
    reconcile(world.reconcile_deps)
    drop = world.store.get_drop("market-xgb", "2015-01-01")
    assert drop.state == "failed"
    assert drop.errors == [
        "launch: SageMaker did not take the tuning job rt-market-xgb-0001 of round 1 in 60 minutes of "
        "retries; the last answer: sagemaker: read timeout"
    ]
    assert world.store.get_active("market-xgb") is None
    assert world.alerts.outcomes() == ["launch_failed"]


def test_start_round_resumed_launch_with_a_broken_profile_fails_the_drop(world: World) -> None:
    # A round left `starting` (its launch throttled) whose profile became invalid meanwhile: not stuck.
    world.put_profile()
    event = world.drop("2015-01-01")
    world.sagemaker.fail_next.append(Throttled("sagemaker: ThrottlingException"))
    with pytest.raises(Throttled):
        run(world, event)
    world.bucket.put(BUCKET, "profiles/market-xgb.json", b"")
    reconcile(world.reconcile_deps)
    drop = world.store.get_drop("market-xgb", "2015-01-01")
    assert drop.state == "failed"
    assert drop.errors == ["profile: profiles/market-xgb.json is empty (0 bytes); upload the profile's JSON"]
    assert world.store.get_active("market-xgb") is None
    assert world.alerts.outcomes() == ["launch_failed"]


# SageMaker's capacity (issue 17, item 11): the newest drop waits, retried less and less often; one alert per
# episode.


def refused_for_capacity(world: World, times: int = 1) -> None:
    world.sagemaker.fail_next.extend(
        LimitExceeded("sagemaker: The account-level service limit 'Number of concurrent tuning jobs' is 100")
        for _ in range(times)
    )


def test_start_round_limit_met_while_a_newer_drop_is_queued_keeps_the_newer_waiting(world: World) -> None:
    world.put_profile()
    first = world.drop("2015-01-01")
    world.sagemaker.fail_next.append(Throttled("sagemaker: ThrottlingException"))
    with pytest.raises(Throttled):
        run(world, first)  # round 1 stays starting, holding the profile...
    assert run(world, world.drop("2015-07-01")).status == "queued"  # ...while a newer drop queues behind it
    refused_for_capacity(world)
    result = run(world, first)  # Lambda's retry of the first drop meets the limit
    assert result.status == "superseded"
    assert "2015-07-01" in result.detail
    assert world.store.get_drop("market-xgb", "2015-01-01").state == "superseded"
    assert world.store.get_queued("market-xgb").drop_id == "2015-07-01"
    assert world.store.get_drop("market-xgb", "2015-07-01").state == "queued"
    assert world.store.get_active("market-xgb") is None and world.store.get_round("market-xgb", 1) is None
    assert world.alerts.outcomes() == ["limit_exceeded"]
    reconcile(world.reconcile_deps)  # capacity is back: the newer drop starts
    assert world.store.get_round("market-xgb", 1).drop_id == "2015-07-01"


def test_start_round_limit_met_while_an_older_drop_is_queued_takes_its_place(world: World) -> None:
    world.put_profile()
    first = world.drop("2015-07-01")
    world.sagemaker.fail_next.append(Throttled("sagemaker: ThrottlingException"))
    with pytest.raises(Throttled):
        run(world, first)
    world.clock.now = world.clock.now.replace(year=2025)  # a drop whose manifest was uploaded earlier
    assert run(world, world.drop("2015-01-01")).status == "queued"
    world.clock.now = world.clock.now.replace(year=2026)
    refused_for_capacity(world)
    assert run(world, first).status == "waiting_for_capacity"
    assert world.store.get_queued("market-xgb").drop_id == "2015-07-01"
    assert world.store.get_drop("market-xgb", "2015-01-01").state == "superseded"
    drop = world.store.get_drop("market-xgb", "2015-07-01")
    assert drop.state == "queued" and drop.waiting_for_capacity


def test_start_round_drop_waiting_for_capacity_is_retried_less_often_with_one_alert(world: World) -> None:
    world.put_profile()
    refused_for_capacity(world, times=5)
    assert run(world, world.drop("2015-01-01")).status == "waiting_for_capacity"  # refusal 1
    tried_at = []

    def tries() -> int:  # the refusals so far and the job created, if any
        return (
            5 - len(world.sagemaker.fail_next) + len(world.sagemaker.created("CreateHyperParameterTuningJob"))
        )

    for minute in range(0, 90):
        before = tries()
        reconcile(world.reconcile_deps)
        if tries() > before:
            tried_at.append(minute)
        world.clock.advance(60)
    # retried at Reconcile's next run, then after 5, 10, 20 and 40 minutes; the 6th try has capacity
    assert tried_at == [0, 5, 15, 35, 75]
    assert world.store.get_round("market-xgb", 1).status == "running"
    assert world.alerts.outcomes() == ["limit_exceeded"]  # one alert for the episode


def test_start_round_one_limit_alert_per_episode_whichever_drop_meets_it(world: World) -> None:
    world.put_profile()
    refused_for_capacity(world)
    assert run(world, world.drop("2015-01-01")).status == "waiting_for_capacity"
    refused_for_capacity(world)
    # a newer drop tries at once, meets the limit too, and waits in the older one's place: the same episode
    assert run(world, world.drop("2015-07-01")).status == "waiting_for_capacity"
    assert world.store.get_drop("market-xgb", "2015-01-01").state == "superseded"
    assert world.alerts.outcomes() == ["limit_exceeded"]
    world.clock.advance(300)  # the episode's second refusal: Reconcile tries again after 5 minutes
    reconcile(world.reconcile_deps)  # capacity is back
    assert world.store.get_round("market-xgb", 1).status == "running"
    finish_round(world)
    refused_for_capacity(world)
    assert run(world, world.drop("2016-01-01")).status == "waiting_for_capacity"
    assert world.alerts.outcomes() == ["limit_exceeded", "limit_exceeded"]  # a new episode


# Keys retune cannot take as a drop (issue 17, item 18): refused with an alert naming the key and the rule.


class Context:
    function_name = "retune-StartRoundFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:retune-StartRoundFunction"
    aws_request_id = "00000000-0000-4000-8000-000000000000"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


@pytest.mark.parametrize(
    ("key", "rule"),
    [
        (
            "datasets/market-xgb/2015\x0701/manifest.json",
            "drop id '2015\\x0701': use 1 to 128 printable characters",
        ),
        (
            f"datasets/market-xgb/{'d' * 129}/manifest.json",
            f"drop id '{'d' * 129}': use 1 to 128 printable characters",
        ),
        (
            "datasets/market-xgb/../manifest.json",
            "drop id '..': '.' and '..' would leave the profile's folder: use another id",
        ),
        (
            "datasets/market-xgb/./manifest.json",
            "drop id '.': '.' and '..' would leave the profile's folder: use another id",
        ),
        (
            "datasets/Market_XGB/2015-01-01/manifest.json",
            "profile 'Market_XGB': use lowercase letters, digits and '-' (at most 48)",
        ),
    ],
)
def test_start_round_key_that_is_no_drop_is_refused_with_one_alert(world: World, key: str, rule: str) -> None:
    world.put_profile()
    event = s3_event(key, "v1")
    result = start_round_handler(event, Context(), world.deps)
    assert result == {"status": "rejected", "errors": [rule]}
    (alert,) = world.alerts.published
    assert alert.outcome == "drop_refused"
    assert rule in alert.lines
    assert start_round_handler(event, Context(), world.deps)["status"] == "rejected"
    assert len(world.alerts.published) == 1  # at most one alert per key
    assert world.sagemaker.requests == [] and world.table.items.keys() == set()


def test_start_round_refused_key_of_another_bucket_alerts_nothing(world: World) -> None:
    event = s3_event("datasets/market-xgb/2015\x0701/manifest.json", "v1", bucket="someone-elses-bucket")
    assert start_round_handler(event, Context(), world.deps)["status"] == "rejected"
    assert world.alerts.published == []
