"""The training job operations: CreateTrainingJob, DescribeTrainingJob, StopTrainingJob, ListTrainingJobs, and every
training job the service knows (a tuning job's too) by name. The job itself and how it runs are in training.py."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from retune_local import errors
from retune_local.context import Context
from retune_local.shapes import paginate, sort_by, within_times
from retune_local.tags import Tagged, tagged_among
from retune_local.training import TrainingJob, TrainingJobDriver, describe, save

if TYPE_CHECKING:
    from retune_local.engine import TuningRun

# ListTrainingJobs' SortBy (default CreationTime, Ascending); ties in name order.
_ORDERS: dict[str, Callable[[TrainingJob], Any]] = {
    "Name": lambda job: job.name,
    "CreationTime": lambda job: (job.creation_time, job.name),
    "Status": lambda job: (job.status, job.name),
}

RESTART_REASON = "InternalServerError: the local SageMaker service restarted while the job was running"


class TrainingJobs:
    """tuning_run: the run of the tuning job with this name, if it runs here: a trial is stopped through it."""

    def __init__(self, ctx: Context, tuning_run: Callable[[str], TuningRun | None]) -> None:
        self.ctx = ctx
        self._tuning_run = tuning_run
        self.jobs: dict[str, TrainingJob] = {}  # by lowercased name
        self.drivers: dict[str, TrainingJobDriver] = {}  # the jobs created with CreateTrainingJob

    def get(self, name: str) -> TrainingJob | None:
        return self.jobs.get(name.lower())

    def add(self, job: TrainingJob) -> None:
        self.jobs[job.name.lower()] = job

    def names(self) -> list[str]:
        with self.ctx.lock:
            return [job.name for job in self.jobs.values()]

    # -- operations ------------------------------------------------------------------------------------------

    def list_jobs(self, params: dict[str, Any]) -> dict[str, Any]:
        """ListTrainingJobs: every training job, a tuning job's trials too, filtered, sorted and paged. No local job
        has a warm pool or a training plan, so filtering on either keeps none."""
        with self.ctx.lock:
            jobs = list(self.jobs.values())
            if params.get("WarmPoolStatusEquals") or params.get("TrainingPlanArnEquals"):
                jobs = []
            if params.get("NameContains"):
                jobs = [job for job in jobs if params["NameContains"].lower() in job.name.lower()]
            if params.get("StatusEquals"):
                jobs = [job for job in jobs if job.status == params["StatusEquals"]]
            jobs = sort_by(within_times(jobs, params), params, _ORDERS, "CreationTime")
            return copy.deepcopy(
                paginate(
                    jobs, params, default_max=10, key="TrainingJobSummaries", render=lambda j: j.summary()
                )
            )

    def create(self, params: dict[str, Any]) -> dict[str, Any]:
        name = params["TrainingJobName"]
        with self.ctx.lock:
            existing = self.get(name)
            if existing is not None:
                raise errors.in_use(
                    "Training job names must be unique within an AWS account and region, and a training "
                    f"job with this name already exists ({existing.arn})"
                )
            if "TrainingImage" not in params.get("AlgorithmSpecification", {}):
                raise errors.validation(
                    "The local SageMaker does not support AlgorithmName: give a TrainingImage"
                )
            tags = params.pop("Tags", [])
            job = TrainingJob(
                name=name,
                arn=self.ctx.account.arn("training-job", name),
                request={k: v for k, v in params.items() if k != "TrainingJobName"},
                creation_time=self.ctx.wall(),
                tags=tags,
            )
            self.add(job)
            save(self.ctx, job, event=True)
            driver = TrainingJobDriver(self.ctx, job)
            self.drivers[name.lower()] = driver
        driver.start()
        return {"TrainingJobArn": job.arn}

    def _job(self, name: str) -> TrainingJob:
        job = self.get(name)
        if job is None:
            # What SageMaker really answers, although its model lists ResourceNotFound.
            raise errors.validation("Requested resource not found.")
        return job

    def describe(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            return copy.deepcopy(describe(self.ctx, self._job(params["TrainingJobName"])))

    def stop(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            job = self._job(params["TrainingJobName"])
            if job.status == "Stopping":
                return {}
            if job.status != "InProgress":
                raise errors.validation(
                    f"The request was rejected because the training job is in status {job.status}."
                )
            run = self._tuning_run(job.tuning_job_name or "")
            driver = self.drivers.get(job.name.lower())
        if run is not None:
            run.request_stop_training_job(job.name)
        elif driver is not None:
            driver.request_stop()
        return {}

    def tagged(self, arn: str) -> Tagged | None:
        return tagged_among(self.jobs.values(), arn, lambda job: save(self.ctx, job, event=False))

    # -- waiting and stopping --------------------------------------------------------------------------------

    def ended(self, name: str) -> bool:
        """The job is terminal and its driver (if it has one) has finished."""
        job = self.get(name)
        driver = self.drivers.get(name.lower())
        return job is not None and job.terminal and (driver is None or driver.done.is_set())

    def idle(self) -> bool:
        return all(driver.done.is_set() for driver in self.drivers.values())

    def stop_all(self) -> list[threading.Event]:
        return self.ctx.stop_drivers(self.drivers)

    # -- restart ---------------------------------------------------------------------------------------------

    def load(self) -> None:
        for record in self.ctx.store.load("training-jobs").values():
            self.add(TrainingJob.from_record(record))

    def recover(self, now: float) -> None:
        """Jobs that were running when the service went down cannot resume: InProgress ones become Failed (a
        retryable InternalServerError), Stopping ones Stopped; each sends its event."""
        for job in self.jobs.values():
            if job.status == "InProgress":
                job.failure_reason = RESTART_REASON
                job.retryable_failure = True
                job.move("Failed", now, status="Failed", message=RESTART_REASON)
            elif job.status == "Stopping":
                job.move("Stopped", now, status="Stopped")
            else:
                continue
            job.settle_objective()
            save(self.ctx, job, event=True)
