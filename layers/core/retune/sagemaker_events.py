"""SageMaker's EventBridge events as models (Powertools has none for SageMaker).

The details mirror the Describe* responses, but AWS's samples and its schema registry disagree on some forms:
`Tags` come as a map or as a list of {Key, Value}; times as epoch milliseconds (string or number) or ISO strings.
Both forms of each are accepted. Fields retune does not read are ignored, and every field it does read beyond the
name and status is optional: handlers describe the job for the authoritative values.
"""

# Annotations are evaluated as written, not postponed: see retune.modeling.
from typing import Any, Literal

from pydantic import ConfigDict, Field, ValidationError, field_validator

from retune.envelope import Envelope
from retune.errors import InvalidInput
from retune.modeling import Model
from retune.timeutil import Timestamp
from retune.validation_errors import describe_validation_error

TRAINING_JOB_STATE_CHANGE = "SageMaker Training Job State Change"
TUNING_JOB_STATE_CHANGE = "SageMaker HyperParameter Tuning Job State Change"
MODEL_PACKAGE_STATE_CHANGE = "SageMaker Model Package State Change"
ENDPOINT_STATE_CHANGE = "SageMaker Endpoint State Change"


def _tags(value: Any) -> Any:
    if isinstance(value, list):
        out = {}
        for tag in value:
            if not isinstance(tag, dict) or "Key" not in tag:
                raise ValueError("a tag list holds objects with Key and Value")
            out[str(tag["Key"])] = str(tag.get("Value", ""))
        return out
    return value


class _Detail(Model):
    model_config = ConfigDict(extra="ignore")

    Tags: dict[str, str] = Field(default_factory=dict)

    _tags = field_validator("Tags", mode="before")(_tags)


class TrainingJobDetail(_Detail):
    TrainingJobName: str = Field(min_length=1, max_length=63)
    TrainingJobArn: str | None = None
    TrainingJobStatus: Literal["InProgress", "Completed", "Failed", "Stopping", "Stopped"]
    SecondaryStatus: str | None = None
    FailureReason: str | None = None
    HyperParameters: dict[str, str] = Field(default_factory=dict)
    TuningJobArn: str | None = None
    LastModifiedTime: Timestamp | None = None


class TuningJobDetail(_Detail):
    HyperParameterTuningJobName: str = Field(min_length=1, max_length=32)
    HyperParameterTuningJobArn: str | None = None
    HyperParameterTuningJobStatus: Literal[
        "InProgress", "Completed", "Failed", "Stopping", "Stopped", "Deleting", "DeleteFailed"
    ]
    FailureReason: str | None = None
    LastModifiedTime: Timestamp | None = None


class ModelPackageDetail(_Detail):
    ModelPackageGroupName: str | None = None
    ModelPackageVersion: int | None = None
    ModelPackageArn: str = Field(min_length=1)
    ModelApprovalStatus: Literal["Approved", "Rejected", "PendingManualApproval"]
    ModelPackageStatus: str | None = None
    LastModifiedBy: dict[str, Any] = Field(default_factory=dict)
    CustomerMetadataProperties: dict[str, str] = Field(default_factory=dict)

    @property
    def decided_by(self) -> str:
        identity = self.LastModifiedBy.get("IamIdentity")
        arn = identity.get("Arn") if isinstance(identity, dict) else None  # the field is free-form here
        return str(arn or self.LastModifiedBy.get("UserProfileName") or "a person (unknown)")


class EndpointDetail(_Detail):
    EndpointName: str = Field(min_length=1, max_length=63)
    EndpointArn: str | None = None
    EndpointStatus: str
    EndpointConfigName: str | None = Field(default=None, max_length=63)
    FailureReason: str | None = None

    @field_validator("EndpointStatus")
    @classmethod
    def _api_spelling(cls, value: str) -> str:
        """The event says IN_SERVICE where DescribeEndpoint says InService: keep the API's spelling."""
        if "_" in value or value.isupper():
            return "".join(part.capitalize() for part in value.lower().split("_"))
        return value


class TrainingJobEvent(Envelope):
    detail: TrainingJobDetail  # type: ignore[assignment]


class TuningJobEvent(Envelope):
    detail: TuningJobDetail  # type: ignore[assignment]


class ModelPackageEvent(Envelope):
    detail: ModelPackageDetail  # type: ignore[assignment]


class EndpointEvent(Envelope):
    detail: EndpointDetail  # type: ignore[assignment]


_MODELS: dict[str, type[Envelope]] = {
    TRAINING_JOB_STATE_CHANGE: TrainingJobEvent,
    TUNING_JOB_STATE_CHANGE: TuningJobEvent,
    MODEL_PACKAGE_STATE_CHANGE: ModelPackageEvent,
    ENDPOINT_STATE_CHANGE: EndpointEvent,
}


def parse_sagemaker_event(event: Any, *expected: str) -> Envelope:
    """The event as its model; InvalidInput naming the fields when it is malformed or not of an expected kind."""
    if not isinstance(event, dict):
        raise InvalidInput("event", ["(document): an EventBridge event is a JSON object"])
    source, kind = event.get("source"), event.get("detail-type")
    if source != "aws.sagemaker" or kind not in expected:
        raise InvalidInput(
            "event", [f"source {source!r} / detail-type {kind!r}: expected aws.sagemaker {expected}"]
        )
    try:
        return _MODELS[str(kind)].model_validate(event)
    except ValidationError as exc:
        raise InvalidInput(str(kind), describe_validation_error(exc)) from exc
