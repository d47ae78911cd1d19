"""The model registry's and the hosting's resources as JSON records, one dict per kind, persisted by kind and key.

A record holds SageMaker's fields as DescribeX renders them plus the service's own, prefixed `_` (never
rendered): `_seq`, one sequence across every kind, orders records created in the same second.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from retune_local.context import Context
from retune_local.shapes import sort_by
from retune_local.tags import Tagged, TagList

CREATED_BY = {"UserProfileName": "retune-local", "DomainId": "local"}
# Each kind (the store's folder) and the field that holds its resources' ARNs.
ARN_FIELDS = {
    "models": "ModelArn",
    "groups": "ModelPackageGroupArn",
    "packages": "ModelPackageArn",
    "endpoint_configs": "EndpointConfigArn",
    "endpoints": "EndpointArn",
}

Record = dict[str, Any]


class Records:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.kinds: dict[str, dict[str, Record]] = {kind: {} for kind in ARN_FIELDS}
        self._seq = 0

    def load(self) -> None:
        for kind, records in self.kinds.items():
            records.update(self.ctx.store.load(kind))
        every = [record for records in self.kinds.values() for record in records.values()]
        self._seq = max((record.get("_seq", 0) for record in every), default=0)

    def put(self, kind: str, key: str, record: Record) -> None:
        self.kinds[kind][key] = record
        self.ctx.store.put(kind, key, record)

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def echoing(self, params: dict[str, Any], arn_field: str, arn: str) -> Record:
        """A new record of a resource whose Describe echoes its create request (a model, an endpoint
        configuration)."""
        return {
            **copy.deepcopy(params),
            arn_field: arn,
            "CreationTime": self.ctx.wall(),
            "_seq": self.next_seq(),
            "Tags": params.get("Tags", []),
        }

    def tagged(self, arn: str) -> Tagged | None:
        """The registry's or the hosting's resource with this ARN, if it is one."""
        lowered = arn.lower()
        found = next(
            (
                (kind, key, record)
                for kind, arn_field in ARN_FIELDS.items()
                for key, record in self.kinds[kind].items()
                if record[arn_field].lower() == lowered
            ),
            None,
        )
        if found is None:
            return None
        kind, key, record = found

        def store(tags: TagList) -> None:
            record["Tags"] = tags
            self.put(kind, key, record)

        return Tagged(list(record.get("Tags", [])), store)


def public(record: Record, drop: tuple[str, ...] = ()) -> Record:
    """What DescribeX renders of a record: a copy without the service's own fields and without `drop`."""
    return {k: copy.deepcopy(v) for k, v in record.items() if not k.startswith("_") and k not in drop}


def sort(items: list[Record], params: dict[str, Any], fields: dict[str, str], default: str) -> list[Record]:
    """SortBy (one of `fields`, a field each) and SortOrder, earlier created first among equals."""
    return sort_by(items, params, {name: _field_then_seq(field) for name, field in fields.items()}, default)


def _field_then_seq(field: str) -> Callable[[Record], Any]:
    return lambda record: (record[field], record.get("_seq", 0))


def created_between(items: list[Record], params: dict[str, Any]) -> list[Record]:
    """CreationTimeAfter and CreationTimeBefore, both exclusive."""
    after, before = params.get("CreationTimeAfter"), params.get("CreationTimeBefore")
    if after is not None:
        items = [i for i in items if i["CreationTime"] > float(after)]
    if before is not None:
        items = [i for i in items if i["CreationTime"] < float(before)]
    return items
