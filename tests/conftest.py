"""Shared fixtures: a fake world for the use cases (fakes first, STYLE.md rule 6)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from retune.store import Store
from retune.table import MemoryTable
from retune.use_cases.close_round import CloseRoundDeps
from retune.use_cases.promote import PromoteDeps
from retune.use_cases.reconcile import ReconcileDeps
from retune.use_cases.record_trial import RecordTrialDeps
from retune.use_cases.start_round import StartRoundDeps

from tests.fakes import (
    FakeAlerts,
    FakeBucket,
    FakeClock,
    FakeEventBus,
    FakeMetrics,
    FakeMetricSeries,
    FakeQueues,
    SimulatedSageMaker,
)

ROOT = Path(__file__).resolve().parent.parent
BUCKET = "retune-data"
ROLE = "arn:aws:iam::123456789012:role/retune-sagemaker"


def profile_doc(name: str = "market-xgb") -> dict[str, Any]:
    return json.loads((ROOT / "profiles" / f"{name}.json").read_text())


def s3_event(
    key: str,
    version_id: str | None,
    bucket: str = BUCKET,
    time: str = "2026-01-01T00:00:00Z",
    sequencer: str = "00",
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "key": key,
        "size": 100,
        "etag": "d41d8cd98f00b204e9800998ecf8427e",
        "sequencer": sequencer,
    }
    if version_id is not None:
        obj["version-id"] = version_id
    return {
        "version": "0",
        "id": "17793124-05d4-b198-2fde-7ededc63b103",
        "detail-type": "Object Created",
        "source": "aws.s3",
        "account": "123456789012",
        "time": time,
        "region": "us-east-1",
        "resources": [f"arn:aws:s3:::{bucket}"],
        "detail": {
            "version": "0",
            "bucket": {"name": bucket},
            "object": obj,
            "request-id": "N4N7GDK58NMKJ12R",
            "requester": "123456789012",
            "source-ip-address": "1.2.3.4",
            "reason": "PutObject",
        },
    }


class World:
    """The fakes behind one StartRound, plus helpers that act as a user would (upload a profile, drop data)."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        self.table = MemoryTable()
        self.store = Store(self.table)
        self.bucket = FakeBucket(self.clock)
        self.sagemaker = SimulatedSageMaker()
        self.sagemaker.outputs = self.bucket
        self.alerts = FakeAlerts()
        self.metrics = FakeMetrics()
        self.deps = StartRoundDeps(
            store=self.store,
            bucket=self.bucket,
            sagemaker=self.sagemaker,
            alerts=self.alerts,
            clock=self.clock,
            data_bucket=BUCKET,
            role_arn=ROLE,
            metrics=self.metrics,
        )
        self.bus = FakeEventBus()
        self.series = FakeMetricSeries()
        self.queues = FakeQueues()
        self.record_deps = RecordTrialDeps(
            store=self.store,
            sagemaker=self.sagemaker,
            metric_series=self.series,
            clock=self.clock,
            metrics=self.metrics,
        )
        self.close_deps = CloseRoundDeps(
            store=self.store,
            sagemaker=self.sagemaker,
            bucket=self.bucket,
            alerts=self.alerts,
            bus=self.bus,
            record=self.record_deps,
            clock=self.clock,
            data_bucket=BUCKET,
            role_arn=ROLE,
            metrics=self.metrics,
        )
        self.promote_deps = PromoteDeps(
            store=self.store,
            sagemaker=self.sagemaker,
            bucket=self.bucket,
            alerts=self.alerts,
            bus=self.bus,
            clock=self.clock,
            data_bucket=BUCKET,
            role_arn=ROLE,
            region="us-east-1",
            metrics=self.metrics,
        )
        self.reconcile_deps = ReconcileDeps(
            store=self.store,
            start=self.deps,
            close=self.close_deps,
            promote=self.promote_deps,
            queues=self.queues,
            alerts=self.alerts,
            clock=self.clock,
            metrics=self.metrics,
        )

    def put_profile(self, doc: dict[str, Any] | None = None, name: str = "market-xgb") -> str:
        return self.bucket.put(BUCKET, f"profiles/{name}.json", doc if doc is not None else profile_doc(name))

    def drop(
        self,
        drop_id: str,
        profile: str = "market-xgb",
        manifest: dict[str, Any] | None = None,
        files: tuple[str, ...] = ("train.csv", "validation.csv", "test.csv"),
    ) -> dict[str, Any]:
        """Upload a drop's files, then its manifest last; return the S3 event for the manifest."""
        prefix = f"datasets/{profile}/{drop_id}/"
        for name in files:
            self.bucket.put(BUCKET, prefix + name, b"x,y\n1,2\n")
        if manifest is None:
            manifest = {
                "channels": {
                    "train": {"files": ["train.csv"], "content_type": "text/csv"},
                    "validation": {"files": ["validation.csv"], "content_type": "text/csv"},
                    "test": {"files": ["test.csv"], "content_type": "text/csv"},
                }
            }
        version = self.bucket.put(BUCKET, prefix + "manifest.json", manifest)
        # S3's sequencers grow with each write of a key (and are the same width here, as S3's usually are).
        return s3_event(prefix + "manifest.json", version, sequencer=f"{int(version[1:]):018X}")


@pytest.fixture
def world() -> World:
    return World()
