"""SageMaker: every request goes through the shared validator before it is sent."""

from __future__ import annotations

from typing import Any

from retune.adapters.errors import error_code, translated
from retune.errors import NotFound
from retune.validation import validate_request


class SageMaker:
    def __init__(self, client: Any) -> None:
        self._client = client

    def _call(self, operation: str, method: str, request: dict[str, Any]) -> dict[str, Any]:
        validate_request(operation, request, service_model=self._client.meta.service_model)
        with translated("sagemaker"):
            response: dict[str, Any] = getattr(self._client, method)(**request)
        return response

    def create_tuning_job(self, request: dict[str, Any]) -> str:
        """Start a tuning job; raises AlreadyExists on a replay (the name is deterministic)."""
        return str(self._call("CreateHyperParameterTuningJob", "create_hyper_parameter_tuning_job", request)[
            "HyperParameterTuningJobArn"
        ])

    def create_training_job(self, request: dict[str, Any]) -> str:
        return str(self._call("CreateTrainingJob", "create_training_job", request)["TrainingJobArn"])

    def describe_training_job(self, name: str) -> dict[str, Any]:
        """DescribeTrainingJob; SageMaker answers a missing job with ValidationException, mapped to NotFound."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            with translated("sagemaker"):
                response: dict[str, Any] = self._client.describe_training_job(TrainingJobName=name)
        except ClientError as exc:
            # The only signal AWS gives for a missing training job is this code and message.
            if error_code(exc) == "ValidationException" and "not found" in str(exc).lower():
                raise NotFound(f"training job {name} not found") from exc
            raise
        return response

    def describe_tuning_job(self, name: str) -> dict[str, Any]:
        with translated("sagemaker"):
            response: dict[str, Any] = self._client.describe_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=name
            )
        return response

    def list_trials(self, tuning_job: str) -> list[dict[str, Any]]:
        """Every training job of a tuning job (paginated)."""
        out: list[dict[str, Any]] = []
        params: dict[str, Any] = {"HyperParameterTuningJobName": tuning_job, "MaxResults": 100}
        with translated("sagemaker"):
            while True:
                response = self._client.list_training_jobs_for_hyper_parameter_tuning_job(**params)
                out.extend(response.get("TrainingJobSummaries", []))
                token = response.get("NextToken")
                if not token:
                    return out
                params["NextToken"] = token
