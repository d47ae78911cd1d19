"""The interfaces use cases depend on. Adapters implement them with boto3; tests with in-memory fakes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from retune.adapters.s3 import StoredObject
from retune.alerts import Alert


class BucketPort(Protocol):
    def read(
        self, bucket: str, key: str, version_id: str | None = None, *, max_bytes: int | None = None
    ) -> StoredObject: ...

    def keys(self, bucket: str, prefix: str) -> set[str]: ...

    def write_json(self, bucket: str, key: str, document: Any) -> None: ...


class KeepingPort(BucketPort, Protocol):
    """Promote's durable copies of registered models (and their expiry tag)."""

    def exists(self, bucket: str, key: str) -> bool: ...

    def copy(self, bucket: str, source_key: str, key: str, *, tags: dict[str, str]) -> None:
        """The source's bytes as a new object `key` carrying exactly these tags; NotFound when the source is
        gone, AccessDenied when the caller may not read it (or use its KMS key)."""
        ...

    def put_tags(self, bucket: str, key: str, tags: dict[str, str]) -> None:
        """Replace the object's tags; NotFound when it is gone."""
        ...


class SageMakerPort(Protocol):
    def create_tuning_job(self, request: dict[str, Any]) -> str: ...

    def create_training_job(self, request: dict[str, Any]) -> str: ...

    def describe_training_job(self, name: str) -> dict[str, Any]: ...

    def describe_tuning_job(self, name: str) -> dict[str, Any]: ...

    def list_trials(self, tuning_job: str) -> list[dict[str, Any]]: ...

    def stop_training_job(self, name: str) -> None:
        """Refused when the job is not InProgress (it ended, or does not exist)."""
        ...

    def stop_tuning_job(self, name: str) -> None:
        """Refused when the job is not InProgress (it ended, or does not exist)."""
        ...


class RegistryPort(SageMakerPort, Protocol):
    """The model registry and endpoints, for Promote."""

    def describe_model_package_group(self, name: str) -> dict[str, Any]: ...

    def create_model_package_group(self, request: dict[str, Any]) -> str:
        """The new group's ARN; AlreadyExists when a group of that name exists."""
        ...

    def list_tags(self, arn: str) -> dict[str, str]:
        """A resource's tags by key; NotFound when it does not exist."""
        ...

    def add_tags(self, arn: str, tags: dict[str, str]) -> None: ...

    def create_model_package(self, request: dict[str, Any]) -> str:
        """The package's ARN; NotFound when its group does not exist."""
        ...

    def describe_model_package(self, arn: str) -> dict[str, Any]: ...

    def update_model_package(self, request: dict[str, Any]) -> None: ...

    def create_model(self, request: dict[str, Any]) -> None: ...

    def create_endpoint_config(self, request: dict[str, Any]) -> None: ...

    def describe_endpoint(self, name: str) -> dict[str, Any]: ...

    def create_endpoint(self, request: dict[str, Any]) -> None: ...

    def update_endpoint(self, request: dict[str, Any]) -> None: ...


class AlertPort(Protocol):
    def publish(self, alert: Alert) -> None: ...

    def register_lambda_context(self, context: Any) -> None: ...


class EventBusPort(Protocol):
    def put(self, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> None: ...


class MetricsPort(Protocol):
    def count(self, name: str, value: float = 1, unit: str = "Count") -> None: ...


class NoMetrics:
    def count(self, name: str, value: float = 1, unit: str = "Count") -> None:
        return None


Clock = Callable[[], datetime]
