"""EventBridge envelopes for the SageMaker events retune consumes, in the shapes AWS documents, and the bus
that hands them to a pluggable sink on its own thread, in the order they were published.

Shapes follow the samples in "Events that Amazon SageMaker sends to Amazon EventBridge" (developer guide):
- job events carry times as epoch milliseconds in strings and `Tags` as a map;
- the tuning job's detail has no best job and no completion details (describe the job for those);
- the training job's detail has no FinalMetricDataList, BillableTimeInSeconds or TuningJobArn;
- the endpoint's detail spells EndpointStatus in upper snake case (IN_SERVICE), unlike DescribeEndpoint
  (InService).
"""

from __future__ import annotations

import copy
import logging
import queue
import re
import threading
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from retune_local.shapes import Account, iso, millis_text

log = logging.getLogger(__name__)

EventSink = Callable[[dict[str, Any]], None]

TRAINING_JOB_STATE_CHANGE = "SageMaker Training Job State Change"
TUNING_JOB_STATE_CHANGE = "SageMaker HyperParameter Tuning Job State Change"
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"


def eventbridge_event(
    source: str,
    detail_type: str,
    *,
    account_id: str,
    region: str,
    resources: list[str],
    detail: dict[str, Any],
    time: float,
) -> dict[str, Any]:
    """An event as EventBridge delivers it to a rule's target: the envelope every source's events share."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": detail_type,
        "source": source,
        "account": account_id,
        "time": iso(time),
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def envelope(
    account: Account, detail_type: str, resource_arn: str, time: float, detail: dict[str, Any]
) -> dict[str, Any]:
    """A SageMaker event about one resource."""
    return eventbridge_event(
        "aws.sagemaker",
        detail_type,
        account_id=account.account_id,
        region=account.region,
        resources=[resource_arn],
        detail=copy.deepcopy(detail),
        time=time,
    )


def tags_map(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {tag["Key"]: tag["Value"] for tag in tags or []}


def _millis(value: float | None) -> str | None:
    return None if value is None else millis_text(value)


def training_job_detail(describe: Mapping[str, Any], tags: list[dict[str, str]]) -> dict[str, Any]:
    """The detail of a training job state change, from the job's DescribeTrainingJob response (epoch
    seconds): the documented sample's keys, ModelArtifacts (the schema registry's) and FailureReason (when Failed),
    nothing the documentation does not show (tests/local_sagemaker/test_event_samples.py)."""
    detail: dict[str, Any] = {}
    for key in (
        "TrainingJobName",
        "TrainingJobArn",
        "TrainingJobStatus",
        "SecondaryStatus",
        "FailureReason",
        "HyperParameters",
        "AlgorithmSpecification",
        "RoleArn",
        "InputDataConfig",
        "OutputDataConfig",
        "ResourceConfig",
        "VpcConfig",
        "StoppingCondition",
        "ModelArtifacts",
    ):
        if key in describe:
            detail[key] = describe[key]
    for key in ("CreationTime", "TrainingStartTime", "TrainingEndTime", "LastModifiedTime"):
        if describe.get(key) is not None:
            detail[key] = _millis(describe[key])
    detail["SecondaryStatusTransitions"] = [
        {k: (_millis(v) if k.endswith("Time") else v) for k, v in transition.items()}
        for transition in describe.get("SecondaryStatusTransitions", [])
    ]
    detail["Tags"] = tags_map(tags)
    return detail


def tuning_job_detail(describe: Mapping[str, Any], tags: list[dict[str, str]]) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "HyperParameterTuningJobName": describe["HyperParameterTuningJobName"],
        "HyperParameterTuningJobArn": describe["HyperParameterTuningJobArn"],
    }
    if "TrainingJobDefinition" in describe:
        detail["TrainingJobDefinition"] = describe["TrainingJobDefinition"]
    detail["HyperParameterTuningJobStatus"] = describe["HyperParameterTuningJobStatus"]
    detail["CreationTime"] = _millis(describe["CreationTime"])
    detail["LastModifiedTime"] = _millis(describe["LastModifiedTime"])
    detail["TrainingJobStatusCounters"] = describe["TrainingJobStatusCounters"]
    detail["ObjectiveStatusCounters"] = describe["ObjectiveStatusCounters"]
    detail["Tags"] = tags_map(tags)
    return detail


def model_package_detail(describe: Mapping[str, Any]) -> dict[str, Any]:
    detail: dict[str, Any] = {}
    for key in (
        "ModelPackageGroupName",
        "ModelPackageVersion",
        "ModelPackageArn",
        "ModelPackageDescription",
        "InferenceSpecification",
        "ModelPackageStatus",
        "ModelPackageStatusDetails",
        "CertifyForMarketplace",
        "ModelApprovalStatus",
        "ApprovalDescription",
        "MetadataProperties",
        "ModelMetrics",
        "CustomerMetadataProperties",
    ):
        if key in describe:
            detail[key] = describe[key]
    detail["CreationTime"] = iso(describe["CreationTime"])
    detail["LastModifiedTime"] = iso(describe.get("LastModifiedTime", describe["CreationTime"]))
    return detail


def event_endpoint_status(status: str) -> str:
    """InService → IN_SERVICE, as the documented endpoint event spells it."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", status).upper()


def endpoint_detail(describe: Mapping[str, Any], tags: list[dict[str, str]]) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "EndpointName": describe["EndpointName"],
        "EndpointArn": describe["EndpointArn"],
        "EndpointConfigName": describe["EndpointConfigName"],
        "ProductionVariants": [
            {
                "VariantName": variant.get("VariantName"),
                "DesiredWeight": variant.get("DesiredWeight", 1.0),
                "DesiredInstanceCount": variant.get("DesiredInstanceCount", 1),
            }
            for variant in describe.get("ProductionVariants", [])
        ],
        "EndpointStatus": event_endpoint_status(describe["EndpointStatus"]),
        "CreationTime": describe["CreationTime"] * 1000.0,
        "LastModifiedTime": describe["LastModifiedTime"] * 1000.0,
        "Tags": tags_map(tags),
    }
    if describe.get("FailureReason"):
        detail["FailureReason"] = describe["FailureReason"]
    return detail


class EventBus:
    """Delivers events to the sink on one thread, in publication order, never while the service holds its
    lock.

    `copies` > 1 delivers every event that many times, as SageMaker "may send multiple events" per state
    change.
    """

    def __init__(self, sink: EventSink | None, copies: int = 1) -> None:
        self._sink = sink
        self._copies = copies
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread: threading.Thread | None = None
        if sink is not None:
            self._thread = threading.Thread(target=self._run, name="local-sagemaker-events", daemon=True)
            self._thread.start()

    def publish(self, event: dict[str, Any]) -> None:
        if self._sink is None:
            return
        with self._idle:
            self._pending += self._copies
        for _ in range(self._copies):
            self._queue.put(event)

    def _run(self) -> None:
        assert self._sink is not None
        while True:
            event = self._queue.get()
            if event is None:
                return
            try:
                self._sink(event)
            except Exception:
                log.exception("event sink failed on %s", event.get("detail-type"))
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """True once every published event has been handed to the sink."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def close(self) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=10)
