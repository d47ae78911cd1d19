"""The XGBoost trainer under the local SageMaker: a 4-trial round of the market-xgb profile, built by retune's own
request builders, on a tiny real drop in moto's S3, then the round's evaluation job."""

from __future__ import annotations

import io
import json
import sys
import tarfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer
from retune.policy import initial_plan
from retune.profile import parse_profile
from retune.requests import (
    channel_manifest_key,
    evaluation_job_request,
    s3_uri,
    sagemaker_manifest,
    tuning_job_request,
)
from retune_local import ImageSpec, LocalSageMaker

from tests.trainers.conftest import PROFILES, ROOT

# One worker runs the module: its moto server (a module fixture) starts once.
pytestmark = [pytest.mark.local_stack, pytest.mark.xdist_group("xgb-local-tuning")]

ROLE = "arn:aws:iam::123456789012:role/retune-sagemaker"
# What make demo registers for the image (see trainers/market_volatility/README.md).
XGB_IMAGE = ImageSpec(
    argv=(sys.executable, "-m", "trainers.market_volatility", "xgb", "train"),
    preload=("trainers.market_volatility.xgb",),
    env={"PYTHONPATH": str(ROOT)},
    seconds_per_epoch=5.0,
)


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, Any]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {
        "endpoint_url": f"http://{host}:{port}",
        "region_name": "us-east-1",
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    bucket = f"retune-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", **options)
    s3.create_bucket(Bucket=bucket)
    yield {"s3": s3, "cloudwatch": boto3.client("cloudwatch", **options), "bucket": bucket}
    server.stop()


def upload_drop(
    s3: Any, bucket: str, profile: str, drop: Path
) -> tuple[dict[str, str], dict[str, str | None]]:
    """The drop's files under datasets/, and a SageMaker manifest per channel, as StartRound writes them."""
    prefix = f"datasets/{profile}/{drop.name}/"
    manifest = json.loads((drop / "manifest.json").read_text())
    for channel in manifest["channels"].values():
        for name in channel["files"]:
            s3.upload_file(str(drop / name), bucket, prefix + name)
    manifests, content_types = {}, {}
    for channel, entry in manifest["channels"].items():
        key = channel_manifest_key(profile, drop.name, channel)
        body = json.dumps(sagemaker_manifest(bucket, prefix, entry["files"]))
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
        manifests[channel] = s3_uri(bucket, key)
        content_types[channel] = entry.get("content_type")
    return manifests, content_types


def test_local_sagemaker_tunes_and_evaluates_the_xgb_trainer(
    aws: dict[str, Any], tiny_drop: Path, tmp_path: Path
) -> None:
    profile = parse_profile((PROFILES / "market-xgb.json").read_text(), expected_name="market-xgb")
    manifests, content_types = upload_drop(aws["s3"], aws["bucket"], profile.name, tiny_drop)
    request = tuning_job_request(
        profile=profile,
        plan=initial_plan(profile),
        seq=1,
        drop_id=tiny_drop.name,
        bucket=aws["bucket"],
        channel_manifests={c: manifests[c] for c in profile.training.channels},
        channel_content_types=content_types,
        role_arn=ROLE,
    )
    request["HyperParameterTuningJobConfig"]["ResourceLimits"].update(
        {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2}
    )
    name = request["HyperParameterTuningJobName"]
    with LocalSageMaker(
        tmp_path / "state",
        {"retune/market-volatility-xgb": XGB_IMAGE},
        s3=aws["s3"],
        cloudwatch=aws["cloudwatch"],
        deterministic=True,
    ) as service:
        service.handle("CreateHyperParameterTuningJob", request)
        tuning = service.wait_tuning_job(name, timeout=120)
        assert tuning["HyperParameterTuningJobStatus"] == "Completed", tuning.get("FailureReason")
        summaries = service.handle(
            "ListTrainingJobsForHyperParameterTuningJob",
            {"HyperParameterTuningJobName": name, "MaxResults": 10},
        )["TrainingJobSummaries"]
        assert len(summaries) == 4
        assert {s["TrainingJobStatus"] for s in summaries} <= {"Completed", "Stopped"}
        finals = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
        best = tuning["BestTrainingJob"]
        assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == min(finals)
        described = service.handle("DescribeTrainingJob", {"TrainingJobName": best["TrainingJobName"]})
        metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
        assert set(metrics) == {"validation:rmse", "train:epochs", "train:compute"}
        assert metrics["train:epochs"] >= 1 and metrics["train:compute"] > 0
        assert described["HyperParameters"]["early_stopping_rounds"] == "40"
        # The warm runner started every trial cleanly: no warning, no traceback in any trial's log.
        logs = sorted((tmp_path / "state" / "jobs").rglob("training.log"))
        assert len(logs) == 4
        for log in logs:
            text = log.read_text()
            assert "epoch=1 " in text and "Warning" not in text and "Traceback" not in text, text

        # The round's evaluation: the best trial's model.tar.gz as the challenger, no champion yet.
        evaluation = evaluation_job_request(
            profile=profile,
            seq=1,
            drop_id=tiny_drop.name,
            bucket=aws["bucket"],
            challenger_model=described["ModelArtifacts"]["S3ModelArtifacts"],
            champion_model=None,
            test_manifest=manifests["test"],
            test_content_type=content_types["test"],
            role_arn=ROLE,
        )
        service.handle("CreateTrainingJob", evaluation)
        job = service.wait_training_job(evaluation["TrainingJobName"], timeout=60)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        scores = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
        assert set(scores) == {"challenger_score"} and 0.2 < scores["challenger_score"] < 1.0
        bucket, key = job["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
        archive = aws["s3"].get_object(Bucket=bucket, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            member = tar.extractfile("evaluation.json")
            assert member is not None
            report = json.load(member)
        assert report["challenger_score"] == scores["challenger_score"]
        assert report["champion_score"] is None
