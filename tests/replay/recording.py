"""Record a multi-round run on the local stack: every event the router delivered, and what a replay needs to find
where the handlers look (the bucket's objects and versions, SageMaker's jobs as the adapters describe them), plus
the in-order run's outcome to compare replays with.

Three drops of the toy profile: the first runs alone; the second and third land back to back, so the third is
queued while the second round runs and starts from retune's own "Drop Ready".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retune.adapters.sagemaker import SageMaker
from retune.alerts import Alert
from retune.records import ChampionRecord, RoundRecord, TrialRecord
from retune_local.images import ImageSpec
from retune_local.stack import LocalStack

from tests.local.conftest import TOY, TOY_IMAGE, toy_profile, write_drop

PROFILE = "toy"
DROPS = ("2015-01-01", "2015-07-01", "2016-01-01")


@dataclass
class Recording:
    events: list[dict[str, Any]]  # {"event", "functions"} in the order the router delivered them
    bucket: str
    objects: dict[
        str, list[tuple[str, bytes, Any]]
    ]  # key → [(version id, body, last modified)], oldest first
    tuning_jobs: dict[str, dict[str, Any]]  # name → the adapter's description
    trials: dict[str, list[dict[str, Any]]]  # tuning job → the adapter's trial listing
    training_jobs: dict[str, dict[str, Any]]  # trials and evaluation jobs → the adapter's description
    rounds: list[RoundRecord]
    trial_records: dict[int, list[TrialRecord]]
    champion: ChampionRecord | None
    alerts: list[dict[str, Any]] = field(default_factory=list)  # as SNS delivered them to the inbox

    @property
    def drops(self) -> int:
        return len(self.tuning_jobs)


def run_and_record(stack: LocalStack, work: Path, drops: tuple[str, ...] = DROPS) -> Recording:
    """Run the drops on a fresh stack (started with an event log) and read everything back."""
    assert stack.event_log is not None
    profile = work / "toy.json"
    profile.write_text(json.dumps(toy_profile()))
    stack.put_profile(profile)
    store = stack.state()
    stack.drop(write_drop(work / drops[0]), PROFILE)
    stack.wait_for_round(PROFILE, 1, timeout=180)
    for i, drop in enumerate(drops[1:], start=2):
        stack.drop(write_drop(work / drop, validation_rows=2 + i, test_rows=2 + i), PROFILE)
    stack.wait_for_round(PROFILE, len(drops), timeout=300)
    assert stack.router is not None
    stack.wait_until(stack.router.idle, timeout=60)
    lines = [json.loads(line) for line in stack.event_log.read_text().splitlines()]
    events = [
        {"event": line["event"], "functions": line["functions"]}
        for line in lines
        if line["event"].get("detail-type") != "Scheduled Event"
    ]
    sagemaker = SageMaker(stack.client("sagemaker"))
    rounds = [store.get_round(PROFILE, seq) for seq in range(1, len(drops) + 1)]
    tuning_jobs = {r.tuning_job_name: sagemaker.describe_tuning_job(r.tuning_job_name) for r in rounds}
    trials = {name: sagemaker.list_trials(name) for name in tuning_jobs}
    names = {t["TrainingJobName"] for listing in trials.values() for t in listing}
    names |= {r.evaluation.job_name for r in rounds if r.evaluation is not None}
    names |= {
        e["event"]["detail"]["TrainingJobName"]
        for e in events
        if e["event"].get("detail-type") == "SageMaker Training Job State Change"
    }
    return Recording(
        events=events,
        bucket=stack.bucket,
        objects=_objects(stack),
        tuning_jobs=tuning_jobs,
        trials=trials,
        training_jobs={name: sagemaker.describe_training_job(name) for name in sorted(names)},
        rounds=rounds,
        trial_records={r.seq: store.trials(PROFILE, r.seq) for r in rounds},
        champion=store.get_champion(PROFILE),
        alerts=stack.alerts(),
    )


def _objects(stack: LocalStack) -> dict[str, list[tuple[str, bytes, Any]]]:
    s3 = stack.client("s3")
    out: dict[str, list[tuple[str, bytes, Any]]] = {}
    pages = s3.get_paginator("list_object_versions").paginate(Bucket=stack.bucket)
    versions = [v for page in pages for v in page.get("Versions", [])]
    for v in sorted(versions, key=lambda v: v["LastModified"]):
        body = s3.get_object(Bucket=stack.bucket, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
        out.setdefault(v["Key"], []).append((v["VersionId"], body, v["LastModified"]))
    return out


def toy_stack(state_dir: Path, event_log: Path | None) -> LocalStack:
    images = {TOY_IMAGE: ImageSpec.python(str(TOY), seconds_per_epoch=10.0)}
    return LocalStack(state_dir, images, event_log=event_log)


def round_outcome_alerts(alerts: list[Alert]) -> list[Alert]:
    """The alerts about a round's outcome (not a stall or a parked event, which a shuffle may cause)."""
    return [a for a in alerts if "/round/" in a.key and not a.key.endswith("/stalled")]
