"""A trial record from SageMaker's description of a training job: pure, so every rule here is unit-tested.

Stopped early: SageMaker has no such field. retune's rule: a trial is stopped early when its status is Stopped,
its secondary status is Stopped (not MaxRuntimeExceeded or MaxWaitTimeExceeded, which are time limits), and its
tuning job ran with early stopping (`Auto`, or the Hyperband strategy, which stops trials itself). A trial stopped
because an operator stopped the whole round is not stopped early: CloseRound clears the flag on such rounds.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from retune.naming import tuning_job_of_incumbent
from retune.records import RoundRecord, TrialRecord, TrialStatus
from retune.sagemaker_facts import TERMINAL_JOB_STATUSES
from retune.timeutil import parse_timestamp

_STATUSES: dict[str, TrialStatus] = {
    "InProgress": "InProgress",
    "Stopping": "InProgress",
    "Completed": "Completed",
    "Stopped": "Stopped",
    "Failed": "Failed",
}


def _final_metrics(described: dict[str, Any]) -> dict[str, float]:
    out = {}
    for entry in described.get("FinalMetricDataList", []) or []:
        value = entry.get("Value")
        if isinstance(value, int | float) and math.isfinite(value):
            out[str(entry.get("MetricName"))] = float(value)
    return out


def _time(described: dict[str, Any], *names: str) -> datetime | None:
    for name in names:
        value = described.get(name)
        if value is not None:
            return parse_timestamp(value)
    return None


def trial_status(described: dict[str, Any]) -> TrialStatus:
    return _STATUSES.get(str(described.get("TrainingJobStatus")), "InProgress")


def is_stopped_early(rnd: RoundRecord, status: str, secondary: str | None) -> bool:
    early_stopping = rnd.plan.early_stopping.value == "Auto" or rnd.plan.strategy.value == "Hyperband"
    return (
        status == "Stopped" and secondary == "Stopped" and early_stopping and rnd.tuning_status != "Stopped"
    )


def trial_from_description(
    rnd: RoundRecord, described: dict[str, Any], series: list[float], now: datetime
) -> TrialRecord:
    """The trial record for one DescribeTrainingJob response and the objective's per-epoch series."""
    status = trial_status(described)
    secondary = described.get("SecondaryStatus")
    name = str(described["TrainingJobName"])
    incumbent = tuning_job_of_incumbent(name) is not None
    finals = _final_metrics(described)
    clean_series = [v for v in series if math.isfinite(v)]
    final = finals.get(rnd.objective_metric)
    if final is None and clean_series:
        final = clean_series[-1]  # SageMaker's final objective is the last value the job emitted
    epochs: int | None = None
    if rnd.epochs_metric and rnd.epochs_metric in finals:
        epochs = int(finals[rnd.epochs_metric])
    elif clean_series:
        epochs = len(clean_series)
    instances = int((described.get("ResourceConfig") or {}).get("InstanceCount", 1) or 1)
    billable = described.get("BillableTimeInSeconds")
    artifact = (described.get("ModelArtifacts") or {}).get("S3ModelArtifacts")
    return TrialRecord(
        profile=rnd.profile,
        seq=rnd.seq,
        training_job_name=name,
        status=status,
        source="incumbent" if incumbent else "tuning",
        secondary_status=secondary,
        hyperparameters={str(k): str(v) for k, v in (described.get("HyperParameters") or {}).items()},
        objective_series=clean_series,
        final_objective=final if status in TERMINAL_JOB_STATUSES else None,
        # An incumbent is a plain training job: nothing stops it early.
        stopped_early=not incumbent and is_stopped_early(rnd, status, secondary),
        epochs=epochs,
        compute=finals.get(rnd.compute_metric) if rnd.compute_metric else None,
        billable_seconds=int(billable) * instances if billable is not None else None,
        training_seconds=described.get("TrainingTimeInSeconds"),
        model_artifact=artifact if status == "Completed" else None,
        failure_reason=described.get("FailureReason"),
        started_at=_time(described, "TrainingStartTime", "CreationTime"),
        ended_at=_time(described, "TrainingEndTime") if status in TERMINAL_JOB_STATUSES else None,
        updated_at=now,
    )
