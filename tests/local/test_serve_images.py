"""`make local` (`python -m retune_local serve`) maps the sequence trainer's image as the demo does, so that the state
of `make demo PROFILE=market-seq` can run market-seq's jobs again; without the torch venv such a job fails saying
how to make it, and the stack runs on."""

from __future__ import annotations

from pathlib import Path

import pytest
from retune_local import LocalSageMaker, cli, demo
from retune_local.images import ImageSpec

pytestmark = pytest.mark.local_stack

IMAGE_URI = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{demo.SEQUENCE_IMAGE}:latest"


def test_serve_maps_the_sequence_image_as_the_demo_does() -> None:
    images = cli.stack_images({})
    assert images[demo.SEQUENCE_IMAGE] == demo.sequence_images()[demo.SEQUENCE_IMAGE]
    # An --image option of the same name wins over the default.
    mine = ImageSpec(argv=("true",))
    assert cli.stack_images({demo.SEQUENCE_IMAGE: mine})[demo.SEQUENCE_IMAGE] is mine


def test_without_the_torch_venv_a_sequence_job_fails_naming_make_torch_venv(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(demo, "TORCH_PYTHON", tmp_path / "no-torch" / "bin" / "python")
    request = {
        "TrainingJobName": "seq-without-torch",
        "HyperParameters": {"max_epochs": "1"},
        "AlgorithmSpecification": {"TrainingImage": IMAGE_URI, "TrainingInputMode": "File"},
        "RoleArn": "arn:aws:iam::123456789012:role/retune-sagemaker",
        "OutputDataConfig": {"S3OutputPath": "s3://retune-out/seq"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }
    with LocalSageMaker(tmp_path / "state", cli.stack_images({})) as service:
        service.handle("CreateTrainingJob", request)
        job = service.wait_training_job("seq-without-torch", timeout=60)
        # The service is still there for the next job.
        assert service.handle("ListTrainingJobs", {})["TrainingJobSummaries"]
    assert job["TrainingJobStatus"] == "Failed"
    reason = job["FailureReason"]
    assert "make torch-venv" in reason and "no-torch/bin/python" in reason, reason
