"""In-memory fakes of the adapters' interfaces, with the semantics of the AWS calls behind them."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from retune.adapters.s3 import StoredObject
from retune.alerts import Alert
from retune.errors import AlreadyExists, NotFound


class FakeClock:
    def __init__(self, start: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class _Version:
    body: bytes
    version_id: str
    last_modified: datetime


class FakeBucket:
    """S3 with versioning: every put makes a new version; reads take the latest or a given version."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.objects: dict[tuple[str, str], list[_Version]] = {}
        self._ids = itertools.count(1)

    def put(self, bucket: str, key: str, body: bytes | str | dict[str, Any]) -> str:
        if isinstance(body, dict):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        version = _Version(body, f"v{next(self._ids)}", self.clock())
        self.objects.setdefault((bucket, key), []).append(version)
        self.clock.advance(1)
        return version.version_id

    def delete(self, bucket: str, key: str) -> None:
        self.objects.pop((bucket, key), None)

    def read(self, bucket: str, key: str, version_id: str | None = None, *, max_bytes: int | None = None) -> StoredObject:
        versions = self.objects.get((bucket, key))
        if not versions:
            raise NotFound(f"s3: NoSuchKey: {key}")
        chosen = versions[-1] if version_id is None else next((v for v in versions if v.version_id == version_id), None)
        if chosen is None:
            raise NotFound(f"s3: NoSuchVersion: {key} {version_id}")
        body = chosen.body if max_bytes is None else chosen.body[: max_bytes + 1]
        return StoredObject(body=body, version=chosen.version_id, last_modified=chosen.last_modified)

    def keys(self, bucket: str, prefix: str) -> set[str]:
        return {k for (b, k) in self.objects if b == bucket and k.startswith(prefix)}

    def write_json(self, bucket: str, key: str, document: Any) -> None:
        self.put(bucket, key, json.dumps(document).encode())

    def json(self, bucket: str, key: str) -> Any:
        return json.loads(self.read(bucket, key).body)


@dataclass
class FakeSageMaker:
    """Tuning and training jobs by name; a repeated name is ResourceInUse, as in AWS. `fail_next` raises once."""

    tuning_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    training_jobs: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    fail_next: list[Exception] = field(default_factory=list)
    trials: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def _maybe_fail(self) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)

    def create_tuning_job(self, request: dict[str, Any]) -> str:
        self._maybe_fail()
        self.requests.append(("CreateHyperParameterTuningJob", request))
        name = request["HyperParameterTuningJobName"]
        if name.lower() in {n.lower() for n in self.tuning_jobs}:
            raise AlreadyExists(f"sagemaker: {name} already exists")
        self.tuning_jobs[name] = {"request": request, "HyperParameterTuningJobStatus": "InProgress"}
        return f"arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/{name}"

    def create_training_job(self, request: dict[str, Any]) -> str:
        self._maybe_fail()
        self.requests.append(("CreateTrainingJob", request))
        name = request["TrainingJobName"]
        if name in self.training_jobs:
            raise AlreadyExists(f"sagemaker: {name} already exists")
        self.training_jobs[name] = {"request": request, "TrainingJobStatus": "InProgress"}
        return f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"

    def describe_training_job(self, name: str) -> dict[str, Any]:
        self._maybe_fail()
        if name not in self.training_jobs:
            raise NotFound(f"training job {name} not found")
        return self.training_jobs[name]

    def describe_tuning_job(self, name: str) -> dict[str, Any]:
        self._maybe_fail()
        if name not in self.tuning_jobs:
            raise NotFound(f"tuning job {name} not found")
        return self.tuning_jobs[name]

    def list_trials(self, tuning_job: str) -> list[dict[str, Any]]:
        self._maybe_fail()
        return list(self.trials.get(tuning_job, []))

    def created(self, operation: str) -> list[dict[str, Any]]:
        return [r for op, r in self.requests if op == operation]


@dataclass
class FakeAlerts:
    """The alerts topic, idempotent on the alert's key as the real adapter is."""

    published: list[Alert] = field(default_factory=list)
    fail_next: list[Exception] = field(default_factory=list)

    def publish(self, alert: Alert) -> None:
        if self.fail_next:
            raise self.fail_next.pop(0)
        if alert.key not in {a.key for a in self.published}:
            self.published.append(alert)

    def register_lambda_context(self, context: Any) -> None:
        return None

    def outcomes(self) -> list[str]:
        return [a.outcome for a in self.published]


@dataclass
class FakeMetrics:
    counts: dict[str, float] = field(default_factory=dict)

    def count(self, name: str, value: float = 1, unit: str = "Count") -> None:
        self.counts[name] = self.counts.get(name, 0) + value


@dataclass
class FakeEventBus:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def put(self, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> None:
        self.events.append((detail_type, detail))
