"""SageMaker: every request goes through the shared validator before it is sent."""

from __future__ import annotations

from typing import Any

from retune.adapters.errors import error_code, translated
from retune.errors import AlreadyExists, NotFound, Refused, TransientError


class SageMaker:
    def __init__(self, client: Any) -> None:
        self._client = client

    def _call(self, operation: str, method: str, request: dict[str, Any]) -> dict[str, Any]:
        # Imported at the first request, not with the adapter: RecordTrial only describes jobs, and then never
        # loads the validator and its regular expressions (a cold start's cost; benchmarks/cold_start.py).
        from retune.validation import validate_request  # noqa: PLC0415

        validate_request(operation, request, service_model=self._client.meta.service_model)
        with translated("sagemaker"):
            response: dict[str, Any] = getattr(self._client, method)(**request)
        return response

    def _create(self, operation: str, method: str, request: dict[str, Any]) -> dict[str, Any]:
        """A create that is idempotent by name: SageMaker answers an existing model, endpoint config or endpoint
        with ValidationException "Cannot create already existing ...", its only signal; that becomes
        AlreadyExists here, in this one place."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            return self._call(operation, method, request)
        except ClientError as exc:
            if error_code(exc) == "ValidationException" and "already exist" in str(exc).lower():
                raise AlreadyExists(f"sagemaker: {exc}") from exc
            raise

    def _describe(self, method: str, **params: Any) -> dict[str, Any]:
        """A describe whose missing resource SageMaker reports as ValidationException ("Could not find ...",
        "... does not exist") or ResourceNotFound: both become NotFound."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            with translated("sagemaker"):
                response: dict[str, Any] = getattr(self._client, method)(**params)
        except ClientError as exc:
            text = str(exc).lower()
            if error_code(exc) == "ValidationException" and any(
                marker in text for marker in ("not found", "does not exist", "could not find")
            ):
                raise NotFound(f"sagemaker: {exc}") from exc
            raise
        return response

    def create_tuning_job(self, request: dict[str, Any]) -> str:
        """Start a tuning job; raises AlreadyExists on a replay (the name is deterministic), LimitExceeded for lack
        of capacity, a TransientError for throttling, timeouts and 5xx, and Refused for any other 4xx (access
        denied, e.g. on iam:PassRole; a ValidationException, e.g. a role SageMaker cannot assume)."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            response = self._call(
                "CreateHyperParameterTuningJob", "create_hyper_parameter_tuning_job", request
            )
        except ClientError as exc:
            message = exc.response.get("Error", {}).get("Message", "")
            raise Refused(f"sagemaker: {error_code(exc) or 'refused'}: {message}") from exc
        return str(response["HyperParameterTuningJobArn"])

    def create_training_job(self, request: dict[str, Any]) -> str:
        return str(self._call("CreateTrainingJob", "create_training_job", request)["TrainingJobArn"])

    def describe_training_job(self, name: str) -> dict[str, Any]:
        """DescribeTrainingJob; SageMaker answers a missing job with ValidationException, mapped to NotFound."""
        return self._describe("describe_training_job", TrainingJobName=name)

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

    def stop_training_job(self, name: str) -> None:
        self._stop("StopTrainingJob", "stop_training_job", {"TrainingJobName": name})

    def stop_tuning_job(self, name: str) -> None:
        self._stop(
            "StopHyperParameterTuningJob",
            "stop_hyper_parameter_tuning_job",
            {"HyperParameterTuningJobName": name},
        )

    def _stop(self, operation: str, method: str, request: dict[str, Any]) -> None:
        """A stop. SageMaker answers a job that is not InProgress (ended, being stopped, or no such job) with
        ValidationException: Refused here, with its message; the caller describes the job to tell which."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            self._call(operation, method, request)
        except ClientError as exc:
            if error_code(exc) != "ValidationException":
                raise  # access denied, or another refusal the caller must see as it is
            message = exc.response.get("Error", {}).get("Message", "")
            raise Refused(f"sagemaker: ValidationException: {message}") from exc

    # The model registry and endpoints (Promote).

    def describe_model_package_group(self, name: str) -> dict[str, Any]:
        return self._describe("describe_model_package_group", ModelPackageGroupName=name)

    def create_model_package_group(self, request: dict[str, Any]) -> str:
        return str(
            self._create("CreateModelPackageGroup", "create_model_package_group", request)[
                "ModelPackageGroupArn"
            ]
        )

    def list_tags(self, arn: str) -> dict[str, str]:
        """Every tag of a resource (paginated); a missing resource is NotFound, as for a describe."""
        tags: dict[str, str] = {}
        params: dict[str, Any] = {"ResourceArn": arn, "MaxResults": 100}
        while True:
            response = self._describe("list_tags", **params)
            tags.update({t["Key"]: t.get("Value", "") for t in response.get("Tags", [])})
            token = response.get("NextToken")
            if not token:
                return tags
            params["NextToken"] = token

    def add_tags(self, arn: str, tags: dict[str, str]) -> None:
        self._call(
            "AddTags",
            "add_tags",
            {"ResourceArn": arn, "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]},
        )

    def create_model_package(self, request: dict[str, Any]) -> str:
        """Idempotent on the request's ClientToken: a repeat returns the same package ARN. A group that does not
        exist raises NotFound: SageMaker rejects the request as invalid, told apart from other invalid requests by
        describing the group rather than by the wording of its message."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            return str(self._call("CreateModelPackage", "create_model_package", request)["ModelPackageArn"])
        except ClientError as exc:
            group = request.get("ModelPackageGroupName")
            if group and error_code(exc) == "ValidationException":
                try:
                    self.describe_model_package_group(group)
                except NotFound:
                    raise NotFound(f"sagemaker: model package group {group} does not exist: {exc}") from exc
            raise

    def describe_model_package(self, arn: str) -> dict[str, Any]:
        return self._describe("describe_model_package", ModelPackageName=arn)

    def update_model_package(self, request: dict[str, Any]) -> None:
        self._call("UpdateModelPackage", "update_model_package", request)

    def create_model(self, request: dict[str, Any]) -> None:
        self._create("CreateModel", "create_model", request)

    def create_endpoint_config(self, request: dict[str, Any]) -> None:
        self._create("CreateEndpointConfig", "create_endpoint_config", request)

    def describe_endpoint(self, name: str) -> dict[str, Any]:
        return self._describe("describe_endpoint", EndpointName=name)

    def create_endpoint(self, request: dict[str, Any]) -> None:
        self._create("CreateEndpoint", "create_endpoint", request)

    def update_endpoint(self, request: dict[str, Any]) -> None:
        """An endpoint another caller began updating meanwhile answers ValidationException "Cannot update
        in-progress endpoint": transient (the deployment stays Pending and is tried again)."""
        from botocore.exceptions import ClientError  # noqa: PLC0415

        try:
            self._call("UpdateEndpoint", "update_endpoint", request)
        except ClientError as exc:
            if error_code(exc) == "ValidationException" and "in-progress" in str(exc).lower():
                raise TransientError(
                    f"sagemaker: endpoint {request.get('EndpointName')} is busy: {exc}"
                ) from exc
            raise
