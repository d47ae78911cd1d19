"""Timestamps as SageMaker's events carry them: epoch milliseconds (string or number) or ISO 8601 strings."""

import math
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

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


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat()


class _Timestamp:
    """Timestamp's schema: `parse_timestamp` before pydantic's datetime, ISO 8601 in UTC out in JSON mode. The
    core schema written out is what `BeforeValidator(parse_timestamp)` and `PlainSerializer(_iso, return_type=str,
    when_used="json")` make, without importing pydantic's functional serializers (a cold start's cost)."""

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(
            parse_timestamp,
            handler(source),
            serialization=core_schema.plain_serializer_function_ser_schema(
                _iso, return_schema=core_schema.str_schema(), when_used="json"
            ),
        )


Timestamp = Annotated[datetime, _Timestamp]
"""A datetime field that accepts every form SageMaker uses and serializes to ISO 8601 in UTC."""
