"""The sequence trainer under the local SageMaker as `make demo PROFILE=market-seq` maps it (the torch venv's Python,
cold): a 4-trial round of the market-seq profile built by retune's own request builders, on a tiny real sequence
drop in moto's S3, then the round's evaluation job."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
from retune.policy import initial_plan
from retune.profile import parse_profile
from retune.requests import evaluation_job_request, tuning_job_request
from retune_local import LocalSageMaker, demo

from tests.trainers.conftest import PROFILES
from tests.trainers.test_local_tuning import ROLE, aws, upload_drop

pytestmark = pytest.mark.local_stack
__all__ = ["aws"]  # the moto server fixture, shared with the XGBoost trainer's round


def test_local_sagemaker_tunes_and_evaluates_the_sequence_trainer(
    aws: dict[str, Any], torch_python: Path, tiny_sequence_drop: Path, tmp_path: Path
) -> None:
    profile = parse_profile((PROFILES / "market-seq.json").read_text(), expected_name="market-seq")
    manifests, content_types = upload_drop(aws["s3"], aws["bucket"], profile.name, tiny_sequence_drop)
    request = tuning_job_request(
        profile=profile,
        plan=initial_plan(profile),
        seq=1,
        drop_id=tiny_sequence_drop.name,
        bucket=aws["bucket"],
        channel_manifests={c: manifests[c] for c in profile.training.channels},
        channel_content_types=content_types,
        role_arn=ROLE,
    )
    # Two trials at once: each is a cold torch process, and make test's time is bounded.
    trials = 2
    request["HyperParameterTuningJobConfig"]["ResourceLimits"].update(
        {"MaxNumberOfTrainingJobs": trials, "MaxParallelTrainingJobs": trials}
    )
    # Tiny trials: the drop is tiny, and so are the networks (the search still picks the architecture).
    request["TrainingJobDefinition"]["StaticHyperParameters"]["max_epochs"] = "3"
    ranges = request["HyperParameterTuningJobConfig"]["ParameterRanges"]
    for integer in ranges["IntegerParameterRanges"]:
        if integer["Name"] in ("hidden_size", "sequence_length"):
            integer.update({"MinValue": "5", "MaxValue": "8"})
    name = request["HyperParameterTuningJobName"]
    images = demo.sequence_images()
    spec = images[demo.SEQUENCE_IMAGE]
    assert spec.argv[0] == str(torch_python) and not spec.warm
    with LocalSageMaker(
        tmp_path / "state", images, s3=aws["s3"], cloudwatch=aws["cloudwatch"], deterministic=True
    ) as service:
        service.handle("CreateHyperParameterTuningJob", request)
        tuning = service.wait_tuning_job(name, timeout=240)
        assert tuning["HyperParameterTuningJobStatus"] == "Completed", tuning.get("FailureReason")
        summaries = service.handle(
            "ListTrainingJobsForHyperParameterTuningJob",
            {"HyperParameterTuningJobName": name, "MaxResults": 10},
        )["TrainingJobSummaries"]
        assert len(summaries) == trials
        assert {s["TrainingJobStatus"] for s in summaries} <= {"Completed", "Stopped"}
        finals = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries]
        best = tuning["BestTrainingJob"]
        assert best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == min(finals)
        described = service.handle("DescribeTrainingJob", {"TrainingJobName": best["TrainingJobName"]})
        metrics = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
        assert set(metrics) == {"validation:rmse", "train:epochs", "train:compute"}
        assert metrics["train:epochs"] >= 1 and metrics["train:compute"] > 0
        assert described["HyperParameters"]["architecture"] in ("lstm", "transformer")
        logs = sorted((tmp_path / "state").rglob("training.log"))
        assert len(logs) == trials
        for log in logs:
            text = log.read_text()
            assert "epoch=1 " in text and "Traceback" not in text, text

        evaluation = evaluation_job_request(
            profile=profile,
            seq=1,
            drop_id=tiny_sequence_drop.name,
            bucket=aws["bucket"],
            challenger_model=described["ModelArtifacts"]["S3ModelArtifacts"],
            champion_model=None,
            test_manifest=manifests["test"],
            test_content_type=content_types["test"],
            role_arn=ROLE,
        )
        service.handle("CreateTrainingJob", evaluation)
        job = service.wait_training_job(evaluation["TrainingJobName"], timeout=120)
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        scores = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
        assert set(scores) == {"challenger_score"} and 0.2 < scores["challenger_score"] < 1.5
        bucket, key = job["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
        archive = aws["s3"].get_object(Bucket=bucket, Key=key)["Body"].read()
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            member = tar.extractfile("evaluation.json")
            assert member is not None
            report = json.load(member)
        assert report["challenger_score"] == scores["challenger_score"]
        assert report["champion_score"] is None
