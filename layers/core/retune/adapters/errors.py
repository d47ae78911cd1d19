"""ClientError codes turned into retune's own exceptions, in one place."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

from retune.errors import AlreadyExists, LimitExceeded, NotFound, Throttled, TransientError

THROTTLING = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "ProvisionedThroughputExceededException",
        "TransactionInProgressException",
    }
)
# 4xx codes botocore's standard retry mode also retries: the request timed out, not refused.
TIMEOUTS = frozenset({"RequestTimeout", "RequestTimeoutException", "PriorRequestNotComplete"})
NOT_FOUND = frozenset({"NoSuchKey", "NoSuchVersion", "NoSuchBucket", "NotFound", "404", "ResourceNotFound"})


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def is_server_error(exc: ClientError) -> bool:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) >= 500


@contextmanager
def translated(service: str) -> Iterator[None]:
    """Map an AWS error to a retune error: throttling and 5xx are transient (Lambda retries), a missing
    resource is NotFound, a name in use is AlreadyExists, an account limit is LimitExceeded."""
    try:
        yield
    except ClientError as exc:
        code = error_code(exc)
        message = exc.response.get("Error", {}).get("Message", "")
        if code in THROTTLING:
            raise Throttled(f"{service}: {code}") from exc
        if is_server_error(exc) or code in TIMEOUTS:
            raise TransientError(f"{service}: {code or 'server error'}: {message}") from exc
        if code in NOT_FOUND:
            raise NotFound(f"{service}: {code}: {message}") from exc
        if code == "ResourceInUse":
            raise AlreadyExists(f"{service}: {message}") from exc
        if code == "ResourceLimitExceeded":
            raise LimitExceeded(f"{service}: {message}") from exc
        raise
    except (ConnectionError, HTTPClientError) as exc:  # no connection, a read timeout, a connection cut
        raise TransientError(f"{service}: {exc}") from exc
