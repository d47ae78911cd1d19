"""Fixtures for the local SageMaker: services on temporary state directories, a scripted trainer, moto for S3
and CloudWatch, and request builders."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from retune_local import ImageSpec, LocalSageMaker
from retune_local.http import SageMakerHTTPServer

TRAINERS = Path(__file__).resolve().parent / "trainers"
CURVE = TRAINERS / "curve.py"
IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/retune-curve:latest"
SECONDS_PER_EPOCH = 10.0
ROLE = "arn:aws:iam::123456789012:role/retune-sagemaker"

pytestmark = pytest.mark.local_stack


def curve_image(**kwargs: Any) -> ImageSpec:
    return ImageSpec.python(str(CURVE), seconds_per_epoch=SECONDS_PER_EPOCH, **kwargs)


ServiceFactory = Callable[..., LocalSageMaker]
Serve = Callable[[LocalSageMaker], SageMakerHTTPServer]  # a service -> its HTTP server, started
Connect = Callable[[LocalSageMaker], Any]  # a service -> a boto3 SageMaker client over HTTP


@pytest.fixture
def events() -> list[dict[str, Any]]:
    return []


@pytest.fixture
def make_service(tmp_path: Path, events: list[dict[str, Any]]) -> Iterator[ServiceFactory]:
    services: list[LocalSageMaker] = []

    def make(
        state_dir: Path | None = None, images: dict[str, Any] | None = None, **kwargs: Any
    ) -> LocalSageMaker:
        kwargs.setdefault("sink", events.append)
        service = LocalSageMaker(
            state_dir or tmp_path / f"state-{len(services)}",
            images if images is not None else {"retune-curve": curve_image()},
            **kwargs,
        )
        services.append(service)
        return service

    yield make
    for service in services:
        service.close()


@pytest.fixture
def service(make_service: ServiceFactory) -> LocalSageMaker:
    return make_service()


@pytest.fixture
def serve() -> Iterator[Serve]:
    """Serve a service over HTTP (once per service), as the local stack and `python -m retune_local sagemaker`
    do; the servers stop at the end of the test."""
    servers: dict[int, SageMakerHTTPServer] = {}

    def start(service: LocalSageMaker) -> SageMakerHTTPServer:
        if id(service) not in servers:
            servers[id(service)] = SageMakerHTTPServer(service).start()
        return servers[id(service)]

    yield start
    for server in servers.values():
        server.stop()


@pytest.fixture
def connect(serve: Serve) -> Connect:
    """A boto3 SageMaker client talking to a service over HTTP."""
    return lambda service: serve(service).client(service.ctx.account.region)


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def aws(moto_endpoint: str) -> dict[str, Any]:
    """S3 and CloudWatch clients on moto's server, and a fresh bucket."""
    options = {
        "endpoint_url": moto_endpoint,
        "region_name": "us-east-1",
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    s3 = boto3.client("s3", **options)
    bucket = f"retune-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    return {"s3": s3, "cloudwatch": boto3.client("cloudwatch", **options), "bucket": bucket}


def definition(
    *,
    epochs: int = 5,
    static: dict[str, str] | None = None,
    image: str = IMAGE,
    job_max_runtime: int = 3600,
    output: str = "s3://retune-out/trials",
    channels: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "StaticHyperParameters": {"epochs": str(epochs), **(static or {})},
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([-+0-9.eE]+)"}],
        },
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": output},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": job_max_runtime},
    }
    if channels:
        body["InputDataConfig"] = channels
    return body


def tuning_request(
    name: str,
    *,
    strategy: str = "Random",
    max_jobs: int | None = 6,
    parallel: int = 2,
    early_stopping: str = "Off",
    seed: int | None = 7,
    ranges: dict[str, Any] | None = None,
    criteria: dict[str, Any] | None = None,
    max_runtime: int | None = None,
    warm_start: dict[str, Any] | None = None,
    hyperband: dict[str, int] | None = None,
    objective: str = "Minimize",
    **definition_options: Any,
) -> dict[str, Any]:
    limits: dict[str, Any] = {"MaxParallelTrainingJobs": parallel}
    if max_jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = max_jobs
    if max_runtime is not None:
        limits["MaxRuntimeInSeconds"] = max_runtime
    config: dict[str, Any] = {
        "Strategy": strategy,
        "HyperParameterTuningJobObjective": {"Type": objective, "MetricName": "loss"},
        "ResourceLimits": limits,
        "ParameterRanges": ranges
        or {
            "ContinuousParameterRanges": [
                {"Name": "x", "MinValue": "0", "MaxValue": "1", "ScalingType": "Linear"}
            ]
        },
        "TrainingJobEarlyStoppingType": early_stopping,
    }
    if seed is not None:
        config["RandomSeed"] = seed
    if criteria:
        config["TuningJobCompletionCriteria"] = criteria
    if hyperband:
        config["StrategyConfig"] = {"HyperbandStrategyConfig": hyperband}
    request: dict[str, Any] = {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": config,
        "TrainingJobDefinition": definition(**definition_options),
    }
    if warm_start:
        request["WarmStartConfig"] = warm_start
    return request


def trials(service: LocalSageMaker, name: str) -> list[dict[str, Any]]:
    """The tuning job's training jobs in launch order (their names carry the index)."""
    summaries: list[dict[str, Any]] = []
    params: dict[str, Any] = {"HyperParameterTuningJobName": name, "MaxResults": 100}
    while True:
        page = service.handle("ListTrainingJobsForHyperParameterTuningJob", params)
        summaries.extend(page["TrainingJobSummaries"])
        if "NextToken" not in page:
            return sorted(summaries, key=lambda s: s["TrainingJobName"])
        params["NextToken"] = page["NextToken"]


def final(summary: dict[str, Any]) -> float | None:
    metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric")
    return None if metric is None else metric["Value"]


def run_tuning(service: LocalSageMaker, request: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    service.handle("CreateHyperParameterTuningJob", request)
    return service.wait_tuning_job(request["HyperParameterTuningJobName"], timeout)
