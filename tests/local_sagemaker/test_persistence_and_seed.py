"""State that survives a restart, and seed mode."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from retune_local import LocalSageMaker, SeedTrial
from retune_local.store import Store
from retune_local.training import TrainingJob

from tests.local_sagemaker.conftest import Serve, ServiceFactory, run_tuning, trials, tuning_request

pytestmark = pytest.mark.local_stack


def test_restart_keeps_finished_jobs_and_registry(make_service: ServiceFactory, tmp_path: Path) -> None:
    state = tmp_path / "kept"
    first = make_service(state_dir=state)
    before = run_tuning(first, tuning_request("kept", max_jobs=3, parallel=2))
    first.handle("CreateModelPackageGroup", {"ModelPackageGroupName": "group"})
    first.handle("CreateModelPackage", {"ModelPackageGroupName": "group", "ClientToken": "token-1"})
    first.close()

    second = make_service(state_dir=state)

    assert second.handle("DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": "kept"}) == before
    assert len(trials(second, "kept")) == 3
    again = second.handle("CreateModelPackage", {"ModelPackageGroupName": "group", "ClientToken": "token-1"})
    assert again["ModelPackageArn"].endswith("/group/1")
    assert second.handle("CreateModelPackage", {"ModelPackageGroupName": "group"})[
        "ModelPackageArn"
    ].endswith("/group/2")


def test_restart_fails_jobs_that_were_running(
    make_service: ServiceFactory, tmp_path: Path, events: list[dict[str, Any]]
) -> None:
    state = tmp_path / "crashed"
    store = Store(state)
    running = TrainingJob(
        name="was-running",
        arn="arn:aws:sagemaker:us-east-1:123456789012:training-job/was-running",
        request={},
        creation_time=1.0e9,
    )
    stopping = TrainingJob(
        name="was-stopping",
        arn="arn:aws:sagemaker:us-east-1:123456789012:training-job/was-stopping",
        request={},
        creation_time=1.0e9,
    )
    stopping.move("Stopping", 1.0e9 + 1, status="Stopping")
    store.put("training-jobs", running.name, running.to_record())
    store.put("training-jobs", stopping.name, stopping.to_record())

    service = make_service(state_dir=state)
    service.wait_idle()

    failed = service.handle("DescribeTrainingJob", {"TrainingJobName": "was-running"})
    stopped = service.handle("DescribeTrainingJob", {"TrainingJobName": "was-stopping"})
    assert failed["TrainingJobStatus"] == "Failed"
    assert "restarted" in failed["FailureReason"]
    assert stopped["TrainingJobStatus"] == "Stopped"
    assert sorted(e["detail"]["TrainingJobStatus"] for e in events) == ["Failed", "Stopped"]


def test_restart_fails_a_tuning_job_that_was_running(make_service: ServiceFactory, tmp_path: Path) -> None:
    state = tmp_path / "tuning"
    first = make_service(state_dir=state, sink=None)
    first.handle(
        "CreateHyperParameterTuningJob",
        tuning_request("interrupted", max_jobs=2, parallel=2, static={"hang": "1"}),
    )
    first.wait_for(lambda: len(trials(first, "interrupted")) == 2)
    # A second service on the same directory sees what a restart after a crash would see.
    second = make_service(state_dir=state, sink=None)

    described = second.handle(
        "DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": "interrupted"}
    )

    assert described["HyperParameterTuningJobStatus"] == "Failed"
    assert described["TrainingJobStatusCounters"]["RetryableError"] == 2


def test_seed_mode_creates_a_finished_tuning_job_without_running_anything(
    service: LocalSageMaker, events: list[dict[str, Any]]
) -> None:
    request = tuning_request("seeded", max_jobs=3, parallel=1)
    seeds = [
        SeedTrial({"x": "0.1"}, [0.9, 0.5, 0.4]),
        SeedTrial({"x": "0.3"}, [0.8, 0.3], status="Stopped"),
        {
            "hyperparameters": {"x": "0.9"},
            "objective": [],
            "status": "Failed",
            "failure_reason": "AlgorithmError: boom",
        },
    ]

    described = service.seed_tuning_job(request, seeds)

    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["BestTrainingJob"]["TunedHyperParameters"] == {"x": "0.3"}
    assert described["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == 0.3
    assert described["TrainingJobStatusCounters"] == {
        "Completed": 1,
        "InProgress": 0,
        "RetryableError": 0,
        "NonRetryableError": 1,
        "Stopped": 1,
    }
    assert [s["TrainingJobStatus"] for s in trials(service, "seeded")] == ["Completed", "Stopped", "Failed"]
    assert service.training_job_names()
    assert not list(Path(service.ctx.jobs_dir).iterdir())
    service.wait_idle()
    assert events == []


def test_seed_mode_jobs_can_be_warm_start_parents(service: LocalSageMaker) -> None:
    # Losses below what the curve can give (0.2 at best): the overall best has to be a parent's job.
    service.seed_tuning_job(
        tuning_request("seed-parent", max_jobs=2),
        [SeedTrial({"x": "0.2"}, [0.05]), SeedTrial({"x": "0.4"}, [0.01])],
    )
    warm = {
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "seed-parent"}],
        "WarmStartType": "IdenticalDataAndAlgorithm",
    }

    child = run_tuning(
        service, tuning_request("child", strategy="Bayesian", max_jobs=1, parallel=1, warm_start=warm)
    )

    assert child["OverallBestTrainingJob"]["TrainingJobName"].startswith("seed-parent-002-")


def test_seed_mode_over_http(service: LocalSageMaker, serve: Serve) -> None:
    import json  # noqa: PLC0415
    import urllib.request  # noqa: PLC0415

    body = json.dumps(
        {
            "Request": tuning_request("remote", max_jobs=1, parallel=1),
            "Trials": [{"hyperparameters": {"x": "0.5"}, "objective": [0.25]}],
        }
    )
    request = urllib.request.Request(
        serve(service).url,
        data=body.encode(),
        method="POST",
        headers={"X-Amz-Target": "RetuneLocal.SeedTuningJob"},
    )
    with urllib.request.urlopen(request) as response:
        assert json.loads(response.read())["HyperParameterTuningJobStatus"] == "Completed"
