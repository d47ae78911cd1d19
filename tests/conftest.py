"""Shared fixtures: a fake world for the use cases (fakes first: docs/architecture.md, "The layers")."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from retune.composition import Composition, compose
from retune.ports import AlertPort, Clock, EventBusPort, KeepingPort, MetricsPort, RegistryPort
from retune.settings import Settings, load_settings
from retune.store import Store
from retune.table import MemoryTable
from retune.use_cases.reconcile import QueuePort
from retune.use_cases.record_trial import MetricSeriesPort

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
REGION = "us-east-1"


@cache
def settings(data_bucket: str = BUCKET) -> Settings:
    """The functions' settings as they read them from the environment (events/env.json's), on the tests' bucket."""
    env = json.loads((ROOT / "events" / "env.json").read_text())["Parameters"]
    return load_settings(
        {**env, "DATA_BUCKET": data_bucket, "SAGEMAKER_ROLE_ARN": ROLE, "AWS_REGION": REGION}
    )


@dataclass
class WorldPorts:
    """The use cases' ports (`retune.composition.Ports`) as a test world holds them: fakes, or adapters on moto."""

    store: Store
    bucket: KeepingPort
    sagemaker: RegistryPort
    alerts: AlertPort
    bus: EventBusPort
    metric_series: MetricSeriesPort
    queues: QueuePort
    metrics: MetricsPort
    clock: Clock
    sagemaker_model: Any = None  # the validator loads SageMaker's model once


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


def world_ports(world: Any) -> WorldPorts:
    """A world's fakes (its store, bucket, sagemaker, alerts, bus, series, queues, metrics and clock) as ports."""
    return WorldPorts(
        store=world.store,
        bucket=world.bucket,
        sagemaker=world.sagemaker,
        alerts=world.alerts,
        bus=world.bus,
        metric_series=world.series,
        queues=world.queues,
        metrics=world.metrics,
        clock=world.clock,
    )


def compose_fakes(world: Any, data_bucket: str = BUCKET) -> Composition:
    """Every use case's deps over a world's fakes, composed as the functions' are."""
    return compose(world_ports(world), settings(data_bucket))


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
        self.bus = FakeEventBus()
        self.series = FakeMetricSeries()
        self.queues = FakeQueues()
        composed = compose_fakes(self)
        self.deps = composed.start_round
        self.record_deps = composed.record_trial
        self.close_deps = composed.close_round
        self.promote_deps = composed.promote
        self.reconcile_deps = composed.reconcile

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
