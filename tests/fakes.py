"""In-memory fakes of the adapters' interfaces, with the semantics of the AWS calls behind them."""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from retune.adapters.s3 import StoredObject
from retune.alerts import Alert
from retune.errors import AlreadyExists, NotFound, Refused
from retune.validation import validate_request


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
        self.tags: dict[tuple[str, str], dict[str, str]] = {}  # the current version's tags
        self.copies: list[tuple[str, str]] = []
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
        self.tags.pop((bucket, key), None)

    def exists(self, bucket: str, key: str) -> bool:
        return bool(self.objects.get((bucket, key)))

    def copy(self, bucket: str, source_key: str, key: str, *, tags: dict[str, str]) -> None:
        """CopyObject within the bucket: a new version of `key` with the source's bytes and these tags."""
        body = self.read(bucket, source_key).body
        self.put(bucket, key, body)
        self.tags[(bucket, key)] = dict(tags)
        self.copies.append((source_key, key))

    def put_tags(self, bucket: str, key: str, tags: dict[str, str]) -> None:
        if not self.exists(bucket, key):
            raise NotFound(f"s3: NoSuchKey: {key}")
        self.tags[(bucket, key)] = dict(tags)

    def read(
        self, bucket: str, key: str, version_id: str | None = None, *, max_bytes: int | None = None
    ) -> StoredObject:
        versions = self.objects.get((bucket, key))
        if not versions:
            raise NotFound(f"s3: NoSuchKey: {key}")
        chosen = (
            versions[-1]
            if version_id is None
            else next((v for v in versions if v.version_id == version_id), None)
        )
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
        validate_request("CreateHyperParameterTuningJob", request)  # as the real adapter does
        self._maybe_fail()
        self.requests.append(("CreateHyperParameterTuningJob", request))
        name = request["HyperParameterTuningJobName"]
        if name.lower() in {n.lower() for n in self.tuning_jobs}:
            raise AlreadyExists(f"sagemaker: {name} already exists")
        self.tuning_jobs[name] = {"request": request, "HyperParameterTuningJobStatus": "InProgress"}
        return f"arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/{name}"

    def create_training_job(self, request: dict[str, Any]) -> str:
        validate_request("CreateTrainingJob", request)
        self._maybe_fail()
        self.requests.append(("CreateTrainingJob", request))
        name = request["TrainingJobName"]
        if name in self.training_jobs:
            raise AlreadyExists(f"sagemaker: {name} already exists")
        self.training_jobs[name] = {
            "request": request,
            "TrainingJobName": name,
            "TrainingJobStatus": "InProgress",
        }
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

    def stop_training_job(self, name: str) -> None:
        """As SageMaker: only an InProgress job stops (Stopping, then Stopped when the test ends it)."""
        self._maybe_fail()
        self.requests.append(("StopTrainingJob", {"TrainingJobName": name}))
        job = self.training_jobs.get(name)
        if job is None or job.get("TrainingJobStatus") != "InProgress":
            raise Refused(f"sagemaker: ValidationException: {name} is not InProgress")
        job["TrainingJobStatus"] = "Stopping"

    def stop_tuning_job(self, name: str) -> None:
        self._maybe_fail()
        self.requests.append(("StopHyperParameterTuningJob", {"HyperParameterTuningJobName": name}))
        job = self.tuning_jobs.get(name)
        if job is None or job.get("HyperParameterTuningJobStatus") != "InProgress":
            raise Refused(f"sagemaker: ValidationException: {name} is not InProgress")
        job["HyperParameterTuningJobStatus"] = "Stopping"

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


ARN = "arn:aws:sagemaker:us-east-1:123456789012"
MODELS_BUCKET = "retune-data"  # tests/conftest.py's BUCKET: the trials write their models to the data bucket


class SimulatedSageMaker(FakeSageMaker):
    """FakeSageMaker plus what the tests make SageMaker do: run a tuning job's trials to given results, end an
    evaluation with given scores, and keep a model registry and endpoints with AWS's idempotency rules."""

    def __init__(self) -> None:
        super().__init__()
        self.groups: dict[str, dict[str, Any]] = {}
        self.packages: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, str] = {}
        self.models: dict[str, dict[str, Any]] = {}
        self.endpoint_configs: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.tags: dict[str, dict[str, str]] = {}  # by resource ARN, as ListTags answers
        self.calls: list[str] = []
        # Where a completed trial's model is written, as SageMaker does.
        self.outputs: FakeBucket | None = None

    # tuning

    def run_trials(
        self,
        tuning_job: str,
        results: list[dict[str, Any]],
        status: str = "Completed",
        failure: str | None = None,
    ) -> list[str]:
        """Each result: objective (float|None), status (Completed), secondary, hyperparameters, compute, epochs."""
        request = self.tuning_jobs[tuning_job]["request"]
        objective = request["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
        names = []
        for index, result in enumerate(results, start=1):
            name = f"{tuning_job}-{index:03d}-{index:08x}"
            names.append(name)
            trial_status = result.get("status", "Completed")
            finals = []
            if result.get("objective") is not None:
                finals.append({"MetricName": objective["MetricName"], "Value": result["objective"]})
            for metric in ("train:compute", "train:epochs"):
                key = metric.split(":")[1]
                if key in result:
                    finals.append({"MetricName": metric, "Value": result[key]})
            self.training_jobs[name] = {
                "TrainingJobName": name,
                "TrainingJobStatus": trial_status,
                "SecondaryStatus": result.get("secondary", trial_status),
                # AMT adds its reserved hyperparameter, the objective's name, to every trial's.
                "HyperParameters": {
                    **result.get("hyperparameters", {"eta": f"{0.01 * index:.2f}"}),
                    "_tuning_objective_metric": objective["MetricName"],
                },
                "FinalMetricDataList": finals,
                "ResourceConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large"},
                "BillableTimeInSeconds": result.get("billable", 60),
                "TrainingTimeInSeconds": result.get("billable", 60),
                "TrainingStartTime": datetime(2026, 1, 1, tzinfo=UTC),
                "TrainingEndTime": datetime(2026, 1, 1, 0, 5, tzinfo=UTC),
                "ModelArtifacts": {
                    "S3ModelArtifacts": f"s3://{MODELS_BUCKET}/models/{name}/output/model.tar.gz"
                }
                if trial_status == "Completed"
                else {},
                **({"FailureReason": result["failure"]} if "failure" in result else {}),
            }
        self.trials[tuning_job] = [
            {"TrainingJobName": n, "TrainingJobStatus": self.training_jobs[n]["TrainingJobStatus"]}
            for n in names
        ]
        for n in names:
            if self.outputs is not None and self.training_jobs[n]["TrainingJobStatus"] == "Completed":
                self.outputs.put(MODELS_BUCKET, f"models/{n}/output/model.tar.gz", f"model of {n}")
        scored = [
            (self.training_jobs[n], r["objective"])
            for n, r in zip(names, results, strict=True)
            if r.get("objective") is not None and r.get("status", "Completed") == "Completed"
        ]
        pick = min if objective["Type"] == "Minimize" else max
        described: dict[str, Any] = {
            "HyperParameterTuningJobName": tuning_job,
            "HyperParameterTuningJobStatus": status,
            "HyperParameterTuningEndTime": datetime(2026, 1, 1, 1, tzinfo=UTC),
        }
        if scored:
            best, value = pick(scored, key=lambda pair: pair[1])
            described["BestTrainingJob"] = {
                "TrainingJobName": best["TrainingJobName"],
                "FinalHyperParameterTuningJobObjectiveMetric": {"Value": value},
            }
        if failure:
            described["FailureReason"] = failure
        self.tuning_jobs[tuning_job].update(described)
        return names

    def describe_tuning_job(self, name: str) -> dict[str, Any]:
        self._maybe_fail()
        if name not in self.tuning_jobs:
            raise NotFound(f"tuning job {name} not found")
        job = self.tuning_jobs[name]
        described = {k: v for k, v in job.items() if k != "request"}
        if "request" in job:
            described["TrainingJobDefinition"] = job["request"]["TrainingJobDefinition"]
        return described

    def describe_training_job(self, name: str) -> dict[str, Any]:
        self._maybe_fail()
        if name not in self.training_jobs:
            raise NotFound(f"training job {name} not found")
        job = self.training_jobs[name]
        described = {k: v for k, v in job.items() if k != "request"}
        if "request" in job:  # DescribeTrainingJob echoes the job's channels
            described.setdefault("InputDataConfig", job["request"]["InputDataConfig"])
        return described

    def end_evaluation(
        self,
        name: str,
        challenger: float | None,
        champion: float | None = None,
        status: str = "Completed",
        failure: str | None = None,
    ) -> None:
        job = self.training_jobs[name]
        finals = []
        if challenger is not None:
            finals.append({"MetricName": "challenger_score", "Value": challenger})
        if champion is not None:
            finals.append({"MetricName": "champion_score", "Value": champion})
        job.update(
            {
                "TrainingJobName": name,
                "TrainingJobStatus": status,
                "SecondaryStatus": status,
                "FinalMetricDataList": finals,
            }
        )
        if failure:
            job["FailureReason"] = failure

    # registry and endpoints

    def describe_model_package_group(self, name: str) -> dict[str, Any]:
        self.calls.append("DescribeModelPackageGroup")
        if name not in self.groups:
            raise NotFound(f"model package group {name} does not exist")
        return {k: v for k, v in self.groups[name].items() if k != "Tags"}

    def create_model_package_group(self, request: dict[str, Any]) -> str:
        validate_request("CreateModelPackageGroup", request)
        self.calls.append("CreateModelPackageGroup")
        name = request["ModelPackageGroupName"]
        if name in self.groups:
            raise AlreadyExists("group exists")
        arn = f"{ARN}:model-package-group/{name.lower()}"
        self.groups[name] = {**request, "ModelPackageGroupArn": arn}
        self.tags[arn] = {t["Key"]: t["Value"] for t in request.get("Tags", [])}
        return arn

    def group_by_hand(self, name: str, tags: dict[str, str] | None = None) -> str:
        """A group someone made outside retune, with these tags (none by default)."""
        arn = f"{ARN}:model-package-group/{name.lower()}"
        self.groups[name] = {"ModelPackageGroupName": name, "ModelPackageGroupArn": arn}
        self.tags[arn] = dict(tags or {})
        return arn

    def list_tags(self, arn: str) -> dict[str, str]:
        self.calls.append("ListTags")
        if arn not in self.tags:
            raise NotFound(f"Resource {arn} not found")
        return dict(self.tags[arn])

    def add_tags(self, arn: str, tags: dict[str, str]) -> None:
        self.calls.append("AddTags")
        if arn not in self.tags:
            raise NotFound(f"Resource {arn} not found")
        self.tags[arn].update(tags)

    def create_model_package(self, request: dict[str, Any]) -> str:
        validate_request("CreateModelPackage", request)
        self._maybe_fail()
        self.calls.append("CreateModelPackage")
        token = request.get("ClientToken")
        if token in self.tokens:
            return self.tokens[token]
        group = request["ModelPackageGroupName"]
        if group not in self.groups:
            raise NotFound(f"model package group {group} does not exist")
        version = 1 + sum(1 for p in self.packages.values() if p["ModelPackageGroupName"] == group)
        arn = f"{ARN}:model-package/{group}/{version}"
        # DescribeModelPackage does not answer the request's ClientToken.
        described = {k: v for k, v in request.items() if k != "ClientToken"}
        self.packages[arn] = {**described, "ModelPackageArn": arn, "ModelPackageVersion": version}
        self.tags[arn] = {}
        if token:
            self.tokens[token] = arn
        return arn

    def describe_model_package(self, arn: str) -> dict[str, Any]:
        if arn not in self.packages:
            raise NotFound(f"{arn} does not exist")
        return self.packages[arn]

    def decide_by_hand(self, arn: str, status: str) -> None:
        """A person approves or rejects the package in the registry (its event is the test's to deliver)."""
        self.packages[arn]["ModelApprovalStatus"] = status

    def update_model_package(self, request: dict[str, Any]) -> None:
        self.calls.append("UpdateModelPackage")
        self.packages[request["ModelPackageArn"]]["ModelApprovalStatus"] = request["ModelApprovalStatus"]

    def create_model(self, request: dict[str, Any]) -> None:
        validate_request("CreateModel", request)
        self.calls.append("CreateModel")
        if request["ModelName"] in self.models:
            raise AlreadyExists("Cannot create already existing model")
        self.models[request["ModelName"]] = request

    def create_endpoint_config(self, request: dict[str, Any]) -> None:
        validate_request("CreateEndpointConfig", request)
        self.calls.append("CreateEndpointConfig")
        if request["EndpointConfigName"] in self.endpoint_configs:
            raise AlreadyExists("Cannot create already existing endpoint configuration")
        self.endpoint_configs[request["EndpointConfigName"]] = request

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        if name not in self.endpoints:
            raise NotFound(f"Could not find endpoint {name}")
        return self.endpoints[name]

    def create_endpoint(self, request: dict[str, Any]) -> None:
        validate_request("CreateEndpoint", request)
        self.calls.append("CreateEndpoint")
        if request["EndpointName"] in self.endpoints:
            raise AlreadyExists("Cannot create already existing endpoint")
        self.endpoint_by_hand(
            request["EndpointName"],
            request["EndpointConfigName"],
            "Creating",
            {t["Key"]: t["Value"] for t in request.get("Tags", [])},
        )

    def endpoint_by_hand(
        self, name: str, config: str, status: str = "InService", tags: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """An endpoint as DescribeEndpoint shows it, with these tags (someone else's, by default none)."""
        arn = f"{ARN}:endpoint/{name.lower()}"
        self.endpoints[name] = {
            "EndpointName": name,
            "EndpointArn": arn,
            "EndpointConfigName": config,
            "EndpointStatus": status,
        }
        self.tags[arn] = dict(tags or {})
        return self.endpoints[name]

    def update_endpoint(self, request: dict[str, Any]) -> None:
        validate_request("UpdateEndpoint", request)
        self.calls.append("UpdateEndpoint")
        self.endpoints[request["EndpointName"]].update(
            EndpointConfigName=request["EndpointConfigName"], EndpointStatus="Updating"
        )


@dataclass
class FakeMetricSeries:
    """CloudWatch's per-epoch series: (training job, metric) → values."""

    values: dict[tuple[str, str], list[float]] = field(default_factory=dict)
    calls: int = 0

    def series(
        self, training_job: str, metric_names: list[str], start: datetime, end: datetime, now: datetime
    ) -> dict[str, list[float]]:
        self.calls += 1
        return {m: list(self.values.get((training_job, m), [])) for m in metric_names}


@dataclass
class FakeQueues:
    depths: dict[str, int] = field(default_factory=dict)

    def depth(self, queue_url: str) -> int:
        return self.depths.get(queue_url, 0)
