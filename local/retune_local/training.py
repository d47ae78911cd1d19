"""Training jobs: the record DescribeTrainingJob renders, the run of one job's process under the container
contract, and the driver of a training job created on its own (CreateTrainingJob) rather than by a tuning job.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from retune_local import container
from retune_local.container import ContainerError, Layout, MetricParser
from retune_local.context import Context
from retune_local.events import TRAINING_JOB_STATE_CHANGE, envelope, training_job_detail
from retune_local.images import DEFAULT_SECONDS_PER_EPOCH, ImageSpec
from retune_local.job_logs import FUTURE_LIMIT_SECONDS, JobLog
from retune_local.runner import ExitInfo, ForkServerError, ProcessHandle
from retune_local.scheduler import Command, Epoch, Finished, Scheduler, StopDone, Timeout

log = logging.getLogger(__name__)

# A training job's terminal statuses, and a tuning job's (the local service deletes neither).
TERMINAL = ("Completed", "Failed", "Stopped")
_MESSAGES = {
    "Starting": "Launching requested ML instances",
    "Downloading": "Downloading input data",
    "Training": "Training image download completed. Training in progress.",
    "Uploading": "Uploading generated training model",
    "Completed": "Training job completed",
    "Failed": "Training job failed",
    "Stopping": "Stopping the training job",
    "Stopped": "The training job was stopped",
    "MaxRuntimeExceeded": "Training job runtime exceeded MaxRuntimeInSeconds provided",
}
# AMT's reserved hyperparameter: the objective metric's name, among a tuning job's static hyperparameters and every
# trial's (the SageMaker Python SDK's HyperparameterTuner.attach deletes it: a KeyError without it). It is added
# when a trial is described or run, not stored, so records written before it answer the same way.
TUNING_OBJECTIVE_HYPERPARAMETER = "_tuning_objective_metric"
# Keys of a CreateTrainingJob request that DescribeTrainingJob echoes back.
_ECHOED = (
    "HyperParameters",
    "AlgorithmSpecification",
    "RoleArn",
    "InputDataConfig",
    "OutputDataConfig",
    "ResourceConfig",
    "VpcConfig",
    "StoppingCondition",
    "EnableNetworkIsolation",
    "EnableInterContainerTrafficEncryption",
    "EnableManagedSpotTraining",
    "CheckpointConfig",
    "Environment",
    "RetryStrategy",
    "DebugHookConfig",
    "ExperimentConfig",
    "TensorBoardOutputConfig",
    "ProfilerConfig",
)


@dataclass
class TrainingJob:
    """A training job's state; its JSON form is what the store keeps."""

    name: str
    arn: str
    request: dict[str, Any]
    creation_time: float
    tags: list[dict[str, str]] = field(default_factory=list)
    status: str = "InProgress"
    secondary_status: str = "Starting"
    transitions: list[dict[str, Any]] = field(default_factory=list)
    last_modified_time: float = 0.0
    training_start_time: float | None = None
    training_end_time: float | None = None
    failure_reason: str | None = None
    model_artifacts: str | None = None
    billable_seconds: int | None = None
    training_seconds: int | None = None
    cpu_seconds: float | None = None
    final_metrics: dict[str, list[float]] = field(default_factory=dict)  # name -> [value, epoch seconds]
    objective_series: list[float] = field(default_factory=list)
    tuning_job_name: str | None = None
    tuning_job_arn: str | None = None
    tuned_hyperparameters: dict[str, str] | None = None
    objective_metric: str | None = None
    objective_type: str | None = None
    objective_status: str | None = None
    stop_cause: str | None = None
    retryable_failure: bool = False

    def __post_init__(self) -> None:
        if not self.transitions:
            self.transitions = [
                {
                    "Status": "Starting",
                    "StartTime": self.creation_time,
                    "StatusMessage": _MESSAGES["Starting"],
                }
            ]
        self.last_modified_time = self.last_modified_time or self.creation_time

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> TrainingJob:
        return cls(**record)

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def final_objective(self) -> float | None:
        return self.objective_series[-1] if self.objective_series else None

    @property
    def role_arn(self) -> str | None:
        """The execution role SageMaker assumes for the job."""
        role = self.request.get("RoleArn")
        return str(role) if role else None

    @property
    def hyperparameters(self) -> dict[str, str] | None:
        """What the job runs with: the request's, plus AMT's reserved one for a tuning job's trial."""
        given = self.request.get("HyperParameters")
        if self.tuning_job_name is None or self.objective_metric is None:
            return None if given is None else dict(given)
        return {**(given or {}), TUNING_OBJECTIVE_HYPERPARAMETER: self.objective_metric}

    def container_request(self) -> dict[str, Any]:
        """The request as the container sees it (hyperparameters.json, SM_HPS)."""
        hyperparameters = self.hyperparameters
        return (
            self.request if hyperparameters is None else {**self.request, "HyperParameters": hyperparameters}
        )

    def move(self, secondary: str, at: float, status: str | None = None, message: str | None = None) -> None:
        """Enter a new secondary status (and primary `status`, if given) at epoch seconds `at`."""
        if self.transitions and "EndTime" not in self.transitions[-1]:
            self.transitions[-1]["EndTime"] = at
        entry: dict[str, Any] = {
            "Status": secondary,
            "StartTime": at,
            "StatusMessage": message or _MESSAGES.get(secondary, secondary),
        }
        if secondary in ("Completed", "Failed", "Stopped", "MaxRuntimeExceeded"):
            entry["EndTime"] = at
        self.transitions.append(entry)
        self.secondary_status = secondary
        if status is not None:
            self.status = status
        self.last_modified_time = at

    def settle_objective(self) -> None:
        """Once a tuning job's trial is terminal: its objective counts (Succeeded) if it reported one and did not
        fail."""
        if self.objective_metric is not None:
            self.objective_status = (
                "Succeeded" if self.objective_series and self.status != "Failed" else "Failed"
            )

    def record_metrics(self, metrics: list[tuple[str, float]], at: float) -> None:
        for name, value in metrics:
            self.final_metrics[name] = [value, at]

    def finish_times(self, end: float, seconds: float, cpu_seconds: float) -> None:
        self.training_end_time = end
        self.training_seconds = max(1, round(seconds))
        # AWS bills whole seconds, at least one (multiply by InstanceCount for the cluster's total).
        self.billable_seconds = max(1, round(seconds))
        self.cpu_seconds = round(cpu_seconds, 3)

    def describe(self) -> dict[str, Any]:
        response: dict[str, Any] = {
            "TrainingJobName": self.name,
            "TrainingJobArn": self.arn,
            "TrainingJobStatus": self.status,
            "SecondaryStatus": self.secondary_status,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "SecondaryStatusTransitions": [dict(t) for t in self.transitions],
            "EnableNetworkIsolation": False,
            "EnableInterContainerTrafficEncryption": False,
            "EnableManagedSpotTraining": False,
        }
        for key in _ECHOED:
            if key in self.request:
                response[key] = self.request[key]
        if self.hyperparameters is not None:
            response["HyperParameters"] = self.hyperparameters
        if "OutputDataConfig" in response:
            # AWS answers KmsKeyId "" when none was given (the SageMaker Python SDK reads it unchecked).
            output = response["OutputDataConfig"]
            response["OutputDataConfig"] = {**output, "KmsKeyId": output.get("KmsKeyId", "")}
        if self.tuning_job_arn:
            response["TuningJobArn"] = self.tuning_job_arn
        if self.model_artifacts:
            response["ModelArtifacts"] = {"S3ModelArtifacts": self.model_artifacts}
        if self.failure_reason:
            response["FailureReason"] = self.failure_reason
        if self.training_start_time is not None:
            response["TrainingStartTime"] = self.training_start_time
        if self.training_end_time is not None:
            response["TrainingEndTime"] = self.training_end_time
        if self.training_seconds is not None:
            response["TrainingTimeInSeconds"] = self.training_seconds
        if self.billable_seconds is not None:
            response["BillableTimeInSeconds"] = self.billable_seconds
        if self.final_metrics:
            response["FinalMetricDataList"] = [
                {"MetricName": name, "Value": value, "Timestamp": at}
                for name, (value, at) in sorted(self.final_metrics.items())
            ][:40]
        if self.cpu_seconds is not None:
            # Not an AWS field (boto3 drops it): the process's own CPU time, for local benchmarks.
            response["LocalCpuTimeInSeconds"] = self.cpu_seconds
        return response

    def summary(self) -> dict[str, Any]:
        """This job as ListTrainingJobs shows it."""
        summary: dict[str, Any] = {
            "TrainingJobName": self.name,
            "TrainingJobArn": self.arn,
            "CreationTime": self.creation_time,
            "LastModifiedTime": self.last_modified_time,
            "TrainingJobStatus": self.status,
            "SecondaryStatus": self.secondary_status,
        }
        if self.training_end_time is not None:
            summary["TrainingEndTime"] = self.training_end_time
        return summary

    def tuning_summary(self) -> dict[str, Any]:
        """This job as ListTrainingJobsForHyperParameterTuningJob and BestTrainingJob show it."""
        summary: dict[str, Any] = {
            "TrainingJobName": self.name,
            "TrainingJobArn": self.arn,
            "TuningJobName": self.tuning_job_name,
            "CreationTime": self.creation_time,
            "TrainingJobStatus": self.status,
            "TunedHyperParameters": dict(self.tuned_hyperparameters or {}),
            "ObjectiveStatus": self.objective_status or "Pending",
        }
        if self.training_start_time is not None:
            summary["TrainingStartTime"] = self.training_start_time
        if self.training_end_time is not None:
            summary["TrainingEndTime"] = self.training_end_time
        if self.failure_reason:
            summary["FailureReason"] = self.failure_reason
        if self.objective_status == "Succeeded" and self.final_objective is not None:
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": self.objective_type,
                "MetricName": self.objective_metric,
                "Value": self.final_objective,
            }
        return summary


def describe(ctx: Context, job: TrainingJob) -> dict[str, Any]:
    """DescribeTrainingJob, as the job's events show it too: a built-in algorithm's job whose request gave no
    MetricDefinitions shows the algorithm's own, the ones its metrics are read with, as SageMaker does."""
    response = job.describe()
    algorithm = response.get("AlgorithmSpecification")
    if algorithm and not algorithm.get("MetricDefinitions"):
        spec = ctx.images.resolve(str(algorithm.get("TrainingImage", "")))
        if spec is not None and spec.metric_definitions:
            definitions = [dict(d) for d in spec.metric_definitions]
            response["AlgorithmSpecification"] = {**algorithm, "MetricDefinitions": definitions}
    return response


def save(ctx: Context, job: TrainingJob, *, event: bool) -> None:
    """Persist the job, wake waiters and, on a status change, send its state change event."""
    with ctx.lock:
        ctx.store.put("training-jobs", job.name.lower(), job.to_record())
        if event:
            detail = training_job_detail(describe(ctx, job), job.tags)
            ctx.bus.publish(
                envelope(ctx.account, TRAINING_JOB_STATE_CHANGE, job.arn, job.last_modified_time, detail)
            )
        ctx.changed.notify_all()


class JobRun:
    """One training job's process, from an empty working directory to packed outputs.

    Runs on its own thread and posts what happens to the driver's scheduler: an `Epoch` per emission of the
    epoch metric, then one `Finished` (the process ended by itself) or `StopDone` (after `stop()`).
    """

    def __init__(
        self,
        ctx: Context,
        job: TrainingJob,
        index: int,
        scheduler: Scheduler,
        epoch_metric: str | None,
    ) -> None:
        self.ctx = ctx
        self.job = job
        self.index = index
        self.scheduler = scheduler
        self.epoch_metric = epoch_metric
        image_uri = job.request.get("AlgorithmSpecification", {}).get("TrainingImage", "")
        self.image_uri = image_uri
        self.image: ImageSpec | None = ctx.images.resolve(image_uri) if image_uri else None
        self.layout = Layout(ctx.jobs_dir / job.name)
        self._stop_requested = False
        self._terminal_posted = False
        self._lock = threading.Lock()
        self._process: ProcessHandle | None = None
        self._kill_timer: threading.Timer | None = None
        self._trailing: list[tuple[str, float]] = []
        self._parser = MetricParser([])
        self._wall_timeout = False
        self.start_at = job.creation_time
        self._log = JobLog(None, job.name, job.creation_time)
        self._thread = threading.Thread(target=self._guarded_run, name=f"job-{job.name}", daemon=True)

    @property
    def seconds_per_epoch(self) -> float:
        return self.image.seconds_per_epoch if self.image else DEFAULT_SECONDS_PER_EPOCH

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def stop(self) -> None:
        """Ask the process to end: SIGTERM now, SIGKILL after the grace period (SageMaker allows 120 s)."""
        with self._lock:
            self._stop_requested = True
            process = self._process
        if process is not None:
            process.signal(signal.SIGTERM)
            timer = threading.Timer(self.ctx.stop_grace_seconds, process.signal, args=(signal.SIGKILL,))
            timer.daemon = True
            with self._lock:
                self._kill_timer = timer
            timer.start()

    def _post_terminal(self, event: Finished | StopDone) -> None:
        with self._lock:
            if self._terminal_posted:
                return
            self._terminal_posted = True
            if self._kill_timer is not None:
                self._kill_timer.cancel()
        self.scheduler.post(self, event)

    def _update(self, change: Callable[[TrainingJob], None]) -> None:
        with self.ctx.lock:
            change(self.job)
            save(self.ctx, self.job, event=False)

    def _prepare(self, at: float) -> None:
        if self.image is None:
            raise ContainerError(self.ctx.images.missing_reason(self.image_uri))
        self._parser = MetricParser(
            self.job.request.get("AlgorithmSpecification", {}).get("MetricDefinitions")
            or [dict(d) for d in self.image.metric_definitions]
        )
        if self.layout.root.exists():
            shutil.rmtree(self.layout.root)
        container.prepare(self.layout, self.job.container_request())
        self._update(lambda job: job.move("Downloading", at))
        container.download_channels(self.ctx.s3_for(self.job.role_arn), self.layout, self.job.request)

    def _guarded_run(self) -> None:
        try:
            self._run()
        except Exception as exc:  # a bug here must fail the job, never leave its driver waiting
            log.exception("training job %s: the local runner failed", self.job.name)
            self._log.close()
            self._post_terminal(Finished("Failed", f"InternalServerError: {exc}", retryable=True))

    def _run(self) -> None:
        started = time.monotonic()
        # In the deterministic mode a job's own steps happen at its (virtual) start time.
        at = self.start_at if self.ctx.deterministic else self.ctx.wall()
        try:
            self._prepare(at)
        except ContainerError as exc:
            self._post_terminal(Finished("Failed", str(exc)))
            return
        with self._lock:
            stop_first = self._stop_requested
        if stop_first:
            self._post_terminal(StopDone())
            return
        assert self.image is not None
        env = container.environment(
            self.layout,
            self.job.container_request(),
            self.job.name,
            self.job.arn,
            {
                **self.ctx.base_env,
                **self.image.env,
                # The container calls AWS as the job's role, as SageMaker's containers do.
                **(
                    self.ctx.roles.environment(self.job.role_arn)
                    if self.ctx.roles and self.job.role_arn
                    else {}
                ),
            },
        )

        def training(job: TrainingJob) -> None:
            job.training_start_time = at
            job.move("Training", at)

        self._update(training)
        # The stream exists from the start of the container, so a tail sees the lines as they come.
        self._log = JobLog(self.ctx.logs_for(self.job.role_arn), self.job.name, self._log_time(at)).open()
        try:
            process = self.ctx.runners.for_image(self.image).start(self.image.argv, self.layout.root, env)
        except (OSError, ForkServerError) as exc:
            self._log.close()
            self._post_terminal(
                Finished(
                    "Failed",
                    f"InternalServerError: could not start the training process: {exc}",
                    retryable=True,
                )
            )
            return
        with self._lock:
            self._process = process
            stop_now = self._stop_requested
        if stop_now:
            self.stop()
        watchdog = self._watchdog(process)
        try:
            exit_info = self._consume(process)
        finally:
            self._log.close()  # every line is in CloudWatch Logs before the job can end
        if watchdog is not None:
            watchdog.cancel()
        wall = time.monotonic() - started
        with self._lock:
            stopped = self._stop_requested
        if stopped:
            self._post_terminal(StopDone(exit_info.cpu_seconds, wall, self._package_quietly()))
            return
        if self._wall_timeout:
            reason = (
                "InternalServerError: the process ran longer than MaxRuntimeInSeconds of wall-clock time "
                "(the deterministic mode's safety net for a trainer that hangs)"
            )
            self._post_terminal(Finished("Failed", reason, self._trailing, exit_info.cpu_seconds, wall))
            return
        if exit_info.code != 0:
            reason = container.failure_reason(
                self.layout, exit_info.code, categorized=self.image.reports_error_category
            )
            self._post_terminal(Finished("Failed", reason, self._trailing, exit_info.cpu_seconds, wall))
            return
        try:
            model_uri = container.package_outputs(
                self.layout, self.ctx.s3_for(self.job.role_arn), self.job.request, self.job.name
            )
        except ContainerError as exc:
            self._post_terminal(Finished("Failed", str(exc), self._trailing, exit_info.cpu_seconds, wall))
            return
        self._post_terminal(
            Finished("Completed", None, self._trailing, exit_info.cpu_seconds, wall, model_uri)
        )

    def _watchdog(self, process: ProcessHandle) -> threading.Timer | None:
        """In the deterministic mode limits run on the virtual clock, so a trainer that hangs without printing
        would hold its tuning job forever: past MaxRuntimeInSeconds of real time it is killed and the job
        fails."""
        limit = (self.job.request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        if not self.ctx.deterministic or limit is None:
            return None

        def expire() -> None:
            self._wall_timeout = True
            process.signal(signal.SIGKILL)

        timer = threading.Timer(float(limit), expire)
        timer.daemon = True
        timer.start()
        return timer

    def _package_quietly(self) -> str | None:
        try:
            return container.package_outputs(
                self.layout, self.ctx.s3_for(self.job.role_arn), self.job.request, self.job.name
            )
        except ContainerError as exc:
            log.warning("outputs of stopped job %s not saved: %s", self.job.name, exc)
            return None

    def _log_time(self, virtual: float) -> float:
        """A log event's time: the job's clock (virtual in the deterministic mode), held below CloudWatch Logs'
        limit on future events."""
        return min(virtual, self.ctx.wall() + FUTURE_LIMIT_SECONDS)

    def _line_time(self, epochs: int) -> float:
        """When a line was printed: in the deterministic mode, the virtual time of the epoch it belongs to (the
        line that reports epoch k is at start + k x seconds per epoch, as the epoch itself is); else now."""
        if not self.ctx.deterministic:
            return self.ctx.wall()
        return self._log_time(self.start_at + epochs * self.seconds_per_epoch)

    def _consume(self, process: ProcessHandle) -> ExitInfo:
        parser = self._parser
        log_path = self.layout.root / "output" / "training.log"
        pending: list[tuple[str, float]] = []
        epochs = 0
        with log_path.open("wb") as log_file:
            for raw in process.lines():
                log_file.write(raw)
                text = raw.decode(errors="replace")
                with self._lock:
                    stopped = self._stop_requested
                found = [] if stopped else parser.parse(text)  # nothing after a stop counts (the pipe drains)
                objective = next((value for name, value in found if name == self.epoch_metric), None)
                if objective is not None:
                    epochs += 1
                self._log.write(text, self._line_time(epochs))
                if not found:
                    continue
                pending.extend(found)
                if objective is not None:
                    self.scheduler.post(self, Epoch(epochs, pending, objective))
                    pending = []
        self._trailing = pending
        return process.wait()


def epoch_metric_of(request: dict[str, Any], objective_metric: str | None) -> str | None:
    """The metric whose emissions are epochs: the tuning objective, else the first MetricDefinition."""
    if objective_metric:
        return objective_metric
    definitions = request.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])
    return definitions[0]["Name"] if definitions else None


def apply_epoch(ctx: Context, run: JobRun, epoch: Epoch, at: float) -> None:
    """A consumed epoch: CloudWatch gets its metrics, the record its final values and objective series."""
    ctx.publish_metrics(run.job.name, epoch.metrics, at, run.job.role_arn)
    with ctx.lock:
        run.job.record_metrics(epoch.metrics, at)
        if epoch.objective is not None and run.job.objective_metric is not None:
            run.job.objective_series.append(epoch.objective)
        run.job.last_modified_time = at
    ctx.notify()


def finish(
    ctx: Context,
    run: JobRun,
    event: Finished | StopDone,
    *,
    at: float,
    start: float,
    stop_secondary: str | None,
) -> None:
    """Record the job's terminal state. `stop_secondary` is set when the driver stopped the job (Stopped or
    MaxRuntimeExceeded); a job that finished by itself is Completed or Failed."""
    job = run.job
    if isinstance(event, Finished) and stop_secondary is None:
        ctx.publish_metrics(job.name, event.metrics, at, job.role_arn)
    with ctx.lock:
        if isinstance(event, Finished) and stop_secondary is None:
            job.record_metrics(event.metrics, at)
            if event.outcome == "Completed":
                job.move("Uploading", at)
                job.model_artifacts = event.model_uri
                job.move("Completed", at, status="Completed")
            else:
                job.failure_reason = event.reason
                job.retryable_failure = event.retryable
                job.move("Failed", at, status="Failed", message=event.reason)
        else:
            job.model_artifacts = event.model_uri
            job.move(stop_secondary or "Stopped", at, status="Stopped")
        if job.training_start_time is None:
            job.training_start_time = ctx.wall() if not ctx.deterministic else start
        seconds = (at - start) if ctx.deterministic else event.wall_seconds
        job.finish_times(at, seconds, event.cpu_seconds)
        job.settle_objective()
        save(ctx, job, event=True)


class TrainingJobDriver:
    """Drives a training job created with CreateTrainingJob: consumes its reports, enforces its time limit."""

    def __init__(self, ctx: Context, job: TrainingJob) -> None:
        self.ctx = ctx
        self.job = job
        self.scheduler = ctx.scheduler()
        self.scheduler.origin = job.creation_time
        self.run_ = JobRun(ctx, job, 1, self.scheduler, epoch_metric_of(job.request, None))
        self._thread = threading.Thread(target=self._drive, name=f"driver-{job.name}", daemon=True)
        self.done = threading.Event()

    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        self.scheduler.command(Command("stop-training-job", self.job.name))

    def _stop(self, secondary: str, at: float) -> str:
        with self.ctx.lock:
            self.job.stop_cause = "MaxRuntime" if secondary == "MaxRuntimeExceeded" else "User"
            self.job.move("Stopping", at, status="Stopping")
            save(self.ctx, self.job, event=True)
        self.scheduler.stopped(self.run_)
        self.run_.stop()
        return secondary

    def _drive(self) -> None:
        run = self.run_
        max_runtime = self.job.request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
        start = self.scheduler.at(
            self.scheduler.add(run, None if max_runtime is None else float(max_runtime))
        )
        run.start_at = start
        run.start()
        stop_secondary: str | None = None
        try:
            while True:
                item = self.scheduler.next()
                at = self.scheduler.clock()
                if isinstance(item.event, Command):
                    if stop_secondary is None and not self.job.terminal:
                        stop_secondary = self._stop("Stopped", at)
                elif isinstance(item.event, Timeout):
                    if stop_secondary is None:
                        stop_secondary = self._stop("MaxRuntimeExceeded", at)
                elif isinstance(item.event, Epoch):
                    apply_epoch(self.ctx, run, item.event, at)
                else:
                    finish(self.ctx, run, item.event, at=at, start=start, stop_secondary=stop_secondary)
                    break
        except Exception as exc:  # a bug here must end the job, not leave it InProgress
            log.exception("training job %s: the local driver failed", self.job.name)
            run.stop()
            with self.ctx.lock:
                reason = f"InternalServerError: {exc}"
                self.job.failure_reason, self.job.retryable_failure = reason, True
                self.job.move("Failed", self.ctx.wall(), status="Failed", message=reason)
                save(self.ctx, self.job, event=True)
        finally:
            self.scheduler.remove(run)
            with contextlib.suppress(RuntimeError):
                run.join(timeout=30)
            self.done.set()
            self.ctx.notify()


def summary_status_counts(jobs: list[TrainingJob]) -> tuple[dict[str, int], dict[str, int]]:
    """TrainingJobStatusCounters and ObjectiveStatusCounters over a tuning job's training jobs."""
    training = {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}
    objective = {"Succeeded": 0, "Pending": 0, "Failed": 0}
    for job in jobs:
        if job.status == "Completed":
            training["Completed"] += 1
        elif job.status in ("InProgress", "Stopping"):
            training["InProgress"] += 1
        elif job.status == "Stopped":
            training["Stopped"] += 1
        elif job.retryable_failure:
            training["RetryableError"] += 1
        else:
            training["NonRetryableError"] += 1
        objective[job.objective_status or "Pending"] += 1
    return training, objective
