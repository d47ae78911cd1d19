"""State the release before issue 17 wrote (drops with their manifest inline, no sequencer, no arrival time; queue
entries without a retry time; queue entries naming a drop that failed at its turn) is finished by this code.

Each item is written as that release's store wrote it: its record as JSON in `doc`, with the attributes conditions
and the index read beside it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from retune.errors import LimitExceeded, Refused, Throttled
from retune.events import parse_drop_event
from retune.use_cases.reconcile import reconcile
from retune.use_cases.start_round import start_round

from tests.conftest import BUCKET, World

PROFILE = "market-xgb"
PK = f"PROFILE#{PROFILE}"
MANIFEST = {
    "channels": {
        "train": {"files": ["train.csv"], "content_type": "text/csv"},
        "validation": {"files": ["validation.csv"], "content_type": "text/csv"},
        "test": {"files": ["test.csv"], "content_type": "text/csv"},
    },
    "description": "",
}


def old_drop(world: World, drop_id: str, state: str, **fields: Any) -> dict[str, Any]:
    """A drop item as the release before wrote it, for a manifest already in the bucket."""
    key = f"datasets/{PROFILE}/{drop_id}/manifest.json"
    version = world.bucket.objects[(BUCKET, key)][-1]
    doc = {
        "profile": PROFILE,
        "drop_id": drop_id,
        "state": state,
        "bucket": BUCKET,
        "manifest_key": key,
        "version": version.version_id,
        "version_id": version.version_id,
        "uploaded_at": version.last_modified.isoformat(),
        "manifest": None,
        "errors": [],
        "round_seq": None,
        "waiting_for_capacity": False,
        "updated_at": version.last_modified.isoformat(),
        **fields,
    }
    world.table.items[(PK, f"DROP#{drop_id}")] = {
        "pk": PK,
        "sk": f"DROP#{drop_id}",
        "doc": json.dumps(doc),
        "state": state,
        "version": version.version_id,
    }
    return doc


def old_queued(world: World, drop_id: str, uploaded_at: str) -> None:
    doc = {"profile": PROFILE, "drop_id": drop_id, "uploaded_at": uploaded_at}
    world.table.items[(PK, "QUEUED")] = {
        "pk": PK,
        "sk": "QUEUED",
        "doc": json.dumps(doc),
        "drop_id": drop_id,
        "gsi1pk": "QUEUED",
        "gsi1sk": PROFILE,
    }


def test_upgrade_queue_entry_naming_a_drop_that_failed_at_its_turn_is_cleared(world: World) -> None:
    world.put_profile()
    world.drop("2015-07-01")
    failed = old_drop(world, "2015-07-01", "failed", errors=["profile objective.type: ..."])
    old_queued(world, "2015-07-01", failed["uploaded_at"])
    reconcile(world.reconcile_deps)
    assert world.store.get_queued(PROFILE) is None
    assert reconcile(world.reconcile_deps).actions == []
    # the next drop starts, and the failed one stays failed
    assert start_round(parse_drop_event(world.drop("2016-01-01")), world.deps).status == "started"
    assert world.store.get_drop(PROFILE, "2015-07-01").state == "failed"


def test_upgrade_queue_entry_naming_a_failed_drop_is_no_rival_for_the_next(world: World) -> None:
    world.put_profile()
    assert start_round(parse_drop_event(world.drop("2015-01-01")), world.deps).status == "started"
    world.drop("2016-07-01")  # uploaded later than the next drop, failed at its turn
    failed = old_drop(world, "2016-07-01", "failed", errors=["profile objective.type: ..."])
    old_queued(world, "2016-07-01", failed["uploaded_at"])
    world.clock.now = world.clock.now.replace(year=2025)
    event = world.drop("2016-01-01")  # older than the failed one: still queued, as the newest waiting drop
    assert start_round(parse_drop_event(event), world.deps).status == "queued"
    assert world.store.get_queued(PROFILE).drop_id == "2016-01-01"
    assert world.store.get_drop(PROFILE, "2016-07-01").state == "failed"


def test_upgrade_drop_recorded_without_a_sequencer_orders_its_versions_by_upload_time(world: World) -> None:
    world.put_profile()
    assert start_round(parse_drop_event(world.drop("2015-01-01")), world.deps).status == "started"
    late = world.drop("2015-07-01")
    world.drop("2015-07-01")
    queued = old_drop(world, "2015-07-01", "queued")  # the newer version, queued by the release before
    old_queued(world, "2015-07-01", queued["uploaded_at"])
    assert start_round(parse_drop_event(late), world.deps).status == "ignored"
    assert world.store.get_drop(PROFILE, "2015-07-01").version == queued["version"]
    # the documented retry still works: a new upload of the manifest takes the drop's place in the queue
    again = world.drop("2015-07-01")
    assert start_round(parse_drop_event(again), world.deps).status == "queued"
    drop = world.store.get_drop(PROFILE, "2015-07-01")
    assert drop.version == again["detail"]["object"]["version-id"]
    assert drop.data_time.isoformat() == queued["uploaded_at"]  # its data is as old as it was


def test_upgrade_queued_drops_without_an_arrival_time_keep_their_order(world: World) -> None:
    world.put_profile()
    assert start_round(parse_drop_event(world.drop("2015-01-01")), world.deps).status == "started"
    world.drop("2015-07-01")
    queued = old_drop(world, "2015-07-01", "queued")
    old_queued(world, "2015-07-01", queued["uploaded_at"])
    world.clock.now = world.clock.now.replace(year=2025)  # a drop whose manifest was uploaded earlier
    assert start_round(parse_drop_event(world.drop("2015-04-01")), world.deps).status == "superseded"
    world.clock.now = world.clock.now.replace(year=2027)  # and one uploaded later
    assert start_round(parse_drop_event(world.drop("2016-01-01")), world.deps).status == "queued"
    assert world.store.get_drop(PROFILE, "2015-07-01").state == "superseded"


def left_starting(world: World) -> None:
    """A round `starting` whose launch never went through, its drop started with the manifest inline, as the
    release before left a launch SageMaker refused (the profile held for good)."""
    world.put_profile()
    world.sagemaker.fail_next.append(Throttled("sagemaker: ThrottlingException"))
    with pytest.raises(Throttled):
        start_round(parse_drop_event(world.drop("2015-01-01")), world.deps)
    assert world.store.get_round(PROFILE, 1).status == "starting"
    key = (PK, "DROP#2015-01-01")
    doc = json.loads(world.table.items[key]["doc"])
    for new in ("manifest_digest", "content_types", "sequencer", "arrived_at", "failed_at"):
        doc.pop(new)
    doc["manifest"] = MANIFEST
    world.table.items[key]["doc"] = json.dumps(doc)
    world.clock.advance(2 * 86_400)  # days ago


def test_upgrade_round_left_starting_is_launched_from_the_inline_manifest(world: World) -> None:
    left_starting(world)
    reconcile(world.reconcile_deps)
    assert world.store.get_round(PROFILE, 1).status == "running"
    (request,) = world.sagemaker.created("CreateHyperParameterTuningJob")
    types = {
        c["ChannelName"]: c.get("ContentType") for c in request["TrainingJobDefinition"]["InputDataConfig"]
    }
    assert types == {"train": "text/csv", "validation": "text/csv"}


def test_upgrade_round_left_starting_by_a_refused_launch_frees_the_profile(world: World) -> None:
    left_starting(world)
    world.sagemaker.fail_next.append(
        Refused("sagemaker: AccessDeniedException: not authorized: iam:PassRole")
    )
    reconcile(world.reconcile_deps)
    assert world.store.get_drop(PROFILE, "2015-01-01").state == "failed"
    assert world.store.get_active(PROFILE) is None
    assert world.alerts.outcomes() == ["launch_failed"]


def test_upgrade_drop_waiting_for_capacity_without_a_retry_time_is_retried_then_backs_off(
    world: World,
) -> None:
    world.put_profile()
    world.drop("2015-01-01")
    waiting = old_drop(world, "2015-01-01", "queued", waiting_for_capacity=True)
    old_queued(world, "2015-01-01", waiting["uploaded_at"])
    world.sagemaker.fail_next.extend([LimitExceeded("sagemaker: limit"), LimitExceeded("sagemaker: limit")])
    reconcile(world.reconcile_deps)  # tried at once, as before; refused: the episode starts now
    assert world.store.get_queued(PROFILE).capacity_refusals == 1
    reconcile(world.reconcile_deps)  # the next run tries again (refusal 2), then it waits 5 minutes
    reconcile(world.reconcile_deps)
    assert world.sagemaker.fail_next == []
    assert world.store.get_round(PROFILE, 1) is None
    world.clock.advance(300)
    reconcile(world.reconcile_deps)
    assert world.store.get_round(PROFILE, 1).status == "running"
    assert world.alerts.outcomes() == ["limit_exceeded"]
