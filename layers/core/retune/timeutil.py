"""Timestamps as SageMaker's events carry them: epoch milliseconds (string or number) or ISO 8601 strings."""

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BeforeValidator, PlainSerializer

# Epoch values above this are milliseconds; below, seconds (SageMaker uses both across APIs and events).
_MILLIS_THRESHOLD = 10**11


def parse_timestamp(value: Any) -> datetime:
    """Parse epoch seconds or milliseconds (int, float or digit string), ISO 8601 strings and datetimes to UTC."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise ValueError("a timestamp cannot be a boolean")  # noqa: TRY004 (pydantic reports ValueError)
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        text = value.strip()
        try:
            number = float(text)
        except ValueError:
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError as exc:
                raise ValueError(
                    f"{value!r} is not a timestamp: use epoch milliseconds or an ISO 8601 string"
                ) from exc
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    else:
        raise ValueError(f"{value!r} is not a timestamp: use epoch milliseconds or an ISO 8601 string")  # noqa: TRY004
    if math.isnan(number) or number < 0:
        raise ValueError(f"{value!r} is not a timestamp")
    seconds = number / 1000 if number >= _MILLIS_THRESHOLD else number
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ValueError(f"{value!r} is out of range for a timestamp") from exc


def utcnow() -> datetime:
    return datetime.now(tz=UTC)


Timestamp = Annotated[
    datetime,
    BeforeValidator(parse_timestamp),
    PlainSerializer(lambda dt: dt.astimezone(UTC).isoformat(), return_type=str, when_used="json"),
]
"""A datetime field that accepts every form SageMaker uses and serializes to ISO 8601 in UTC."""
