"""ARNs, timestamps and paging, as SageMaker's API renders them."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from retune_local.errors import validation


@dataclass(frozen=True)
class Account:
    region: str = "us-east-1"
    account_id: str = "123456789012"

    def arn(self, resource_type: str, name: str) -> str:
        # SageMaker lowercases the name part of job and model ARNs.
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{resource_type}/{name.lower()}"


def iso(epoch_seconds: float) -> str:
    """EventBridge's envelope `time`: ISO 8601 in UTC to the second."""
    return datetime.fromtimestamp(epoch_seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def millis_text(epoch_seconds: float) -> str:
    """Times inside SageMaker's job events: epoch milliseconds as a string."""
    return str(round(epoch_seconds * 1000))


def sort_by[T](
    items: Sequence[T], params: Mapping[str, Any], keys: Mapping[str, Callable[[T], Any]], default: str
) -> list[T]:
    """`items` in the order a List call's SortBy (one of `keys`, default `default`) and SortOrder ask for."""
    key = keys[params.get("SortBy") or default]
    return sorted(items, key=key, reverse=(params.get("SortOrder") or "Ascending") == "Descending")


def within_times[T](items: Sequence[T], params: Mapping[str, Any]) -> list[T]:
    """`items` (with `creation_time` and `last_modified_time`, epoch seconds) that a List call's
    CreationTime/LastModifiedTime After/Before filters keep (strictly after, strictly before)."""
    kept = list(items)
    for key, attribute, after in (
        ("CreationTimeAfter", "creation_time", True),
        ("CreationTimeBefore", "creation_time", False),
        ("LastModifiedTimeAfter", "last_modified_time", True),
        ("LastModifiedTimeBefore", "last_modified_time", False),
    ):
        if params.get(key) is not None:
            bound = float(params[key])
            kept = [item for item in kept if (getattr(item, attribute) > bound) == after]
    return kept


def paginate(
    items: Sequence[Any],
    params: dict[str, Any],
    *,
    default_max: int,
    render: Callable[[Any], dict[str, Any]],
    key: str,
) -> dict[str, Any]:
    """One page of `items` (already filtered and sorted), with an opaque NextToken when more remain."""
    max_results = int(params.get("MaxResults") or default_max)
    token = params.get("NextToken")
    start = 0
    if token:
        try:
            start = int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
        except (ValueError, KeyError, TypeError) as exc:
            raise validation("Invalid pagination token") from exc
    page = items[start : start + max_results]
    result: dict[str, Any] = {key: [render(item) for item in page]}
    if start + max_results < len(items):
        result["NextToken"] = base64.urlsafe_b64encode(
            json.dumps({"offset": start + max_results}).encode()
        ).decode()
    return result
