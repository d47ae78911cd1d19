"""The local stack with a toy trainer: the deployed handlers, triggered by the template's rules, against moto and
the local SageMaker, all on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from retune_local.images import ImageSpec
from retune_local.stack import LocalStack

from tests.conftest import profile_doc

ROOT_DIR = Path(__file__).resolve().parents[2]
TOY = Path(__file__).resolve().parent / "toy_trainer.py"
TOY_IMAGE = "retune/toy"

pytestmark = pytest.mark.local_stack


def toy_profile(max_jobs: int = 4, parallel: int = 2) -> dict[str, Any]:
    doc = profile_doc("market-xgb")
    doc["name"] = "toy"
    doc["training"]["image"] = TOY_IMAGE
    doc["training"]["static_hyperparameters"] = {"epochs": "4", "patience": "4"}
    doc["metrics"]["patience_hyperparameter"] = "patience"
    doc["search"]["ranges"] = [{"type": "continuous", "name": "x", "min_value": 0.0, "max_value": 1.0}]
    doc["budget"] = {"max_jobs": max_jobs, "max_parallel_jobs": parallel}
    doc["promotion"]["inference_image"] = TOY_IMAGE
    return doc


def write_drop(directory: Path, validation_rows: int = 3, test_rows: int = 3) -> Path:
    directory.mkdir(parents=True)
    (directory / "train.csv").write_text("".join(f"{i},{i}\n" for i in range(5)))
    (directory / "validation.csv").write_text("".join(f"{i},{i}\n" for i in range(validation_rows)))
    (directory / "test.csv").write_text("".join(f"{i},{i}\n" for i in range(test_rows)))
    (directory / "manifest.json").write_text(
        json.dumps(
            {
                "channels": {
                    "train": {"files": ["train.csv"], "content_type": "text/csv"},
                    "validation": {"files": ["validation.csv"], "content_type": "text/csv"},
                    "test": {"files": ["test.csv"], "content_type": "text/csv"},
                }
            }
        )
    )
    return directory


def park_close_round_event(stack: LocalStack, profile: str, seq: int, event_id: str = "parked") -> str:
    """Make CloseRound fail on every attempt, so that Lambda parks the event on its on-failure queue: a job-name
    lookup for a round that does not exist (a transient error for CloseRound), then that tuning job's terminal
    event. Returns the tuning job's name."""
    from retune.records import JobLookup  # noqa: PLC0415
    from retune.store import lookup_item  # noqa: PLC0415
    from retune.table import Put  # noqa: PLC0415

    name = f"rt-{profile}-{seq:04d}"
    stack.state().table.write(
        [Put(lookup_item(JobLookup(job_name=name, kind="tuning", profile=profile, seq=seq)))]
    )
    assert stack.router is not None
    stack.router.route(
        {
            "version": "0",
            "id": event_id,
            "detail-type": "SageMaker HyperParameter Tuning Job State Change",
            "source": "aws.sagemaker",
            "account": "123456789012",
            "time": "2026-01-01T00:00:00Z",
            "region": "us-east-1",
            "resources": [],
            "detail": {"HyperParameterTuningJobName": name, "HyperParameterTuningJobStatus": "Completed"},
        }
    )
    return name


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    images = {TOY_IMAGE: ImageSpec.python(str(TOY), seconds_per_epoch=10.0)}
    with LocalStack(tmp_path / "state", images, event_log=tmp_path / "events.jsonl") as local:
        profile = tmp_path / "toy.json"
        profile.write_text(json.dumps(toy_profile()))
        local.put_profile(profile)
        yield local
