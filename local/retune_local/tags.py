"""AddTags and ListTags over every taggable resource, and the tags IAM's `aws:ResourceTag/<key>` reads.

Each kind of resource answers for its own ARNs with a `Tagged`: its tags, and how to store new ones.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from retune_local import errors
from retune_local.context import Context
from retune_local.shapes import paginate

MAX_TAGS = 50

TagList = list[dict[str, str]]


@dataclass(frozen=True)
class Tagged:
    """A resource's tags, and how to store new ones (persisted, without an event)."""

    tags: TagList
    store: Callable[[TagList], None]


# The resource with this ARN, if it is of the kind the finder knows.
Finder = Callable[[str], Tagged | None]


class Taggable(Protocol):
    arn: str
    tags: TagList


def tagged_among[R: Taggable](resources: Iterable[R], arn: str, save: Callable[[R], None]) -> Tagged | None:
    """The resource among `resources` whose ARN is `arn` (ARNs compare case-insensitively); new tags are stored
    on it and persisted with `save`."""
    lowered = arn.lower()
    found = next((r for r in resources if r.arn.lower() == lowered), None)
    if found is None:
        return None
    resource: R = found

    def store(tags: TagList) -> None:
        resource.tags = tags
        save(resource)

    return Tagged(resource.tags, store)


class Tags:
    def __init__(self, ctx: Context, finders: Sequence[Finder]) -> None:
        self.ctx = ctx
        self._finders = finders

    def _find(self, arn: str) -> Tagged:
        for find in self._finders:
            found = find(arn)
            if found is not None:
                return found
        raise errors.validation(f"Resource {arn} not found.")

    def add_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            found = self._find(params["ResourceArn"])
            merged = {tag["Key"]: tag["Value"] for tag in found.tags}
            merged.update({tag["Key"]: tag["Value"] for tag in params["Tags"]})
            if len(merged) > MAX_TAGS:
                raise errors.validation(
                    f"A resource has at most {MAX_TAGS} tags; this request would make {len(merged)}"
                )
            found.store([{"Key": k, "Value": v} for k, v in merged.items()])
        return {"Tags": params["Tags"]}

    def list_tags(self, params: dict[str, Any]) -> dict[str, Any]:
        with self.ctx.lock:
            found = self._find(params["ResourceArn"])
            return copy.deepcopy(paginate(found.tags, params, default_max=50, key="Tags", render=dict))

    def tags_of(self, arn: str) -> dict[str, str] | None:
        """The tags of the resource with this ARN (what ListTags gives), or None when no such resource exists."""
        with self.ctx.lock:
            try:
                found = self._find(arn)
            except errors.ServiceError:
                return None
            return {tag["Key"]: tag["Value"] for tag in found.tags}
