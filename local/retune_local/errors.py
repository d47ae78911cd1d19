"""Errors in AWS's shape: each carries the code botocore puts in `ClientError.response["Error"]["Code"]`."""

from __future__ import annotations


class ServiceError(Exception):
    """An error the local SageMaker answers with HTTP 400 and `{"__type": code, "message": message}`."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def validation(message: str) -> ServiceError:
    return ServiceError("ValidationException", message)


def not_found(message: str) -> ServiceError:
    return ServiceError("ResourceNotFound", message)


def in_use(message: str) -> ServiceError:
    return ServiceError("ResourceInUse", message)


def limit_exceeded(message: str) -> ServiceError:
    return ServiceError("ResourceLimitExceeded", message)


def conflict(message: str) -> ServiceError:
    return ServiceError("ConflictException", message)


def unknown_operation(operation: str) -> ServiceError:
    return ServiceError("UnknownOperationException", f"the local SageMaker does not implement {operation}")
