"""The dead-letter and on-failure queues, as Reconcile watches them."""

from __future__ import annotations

from typing import Any

from retune.adapters.errors import translated


class Queues:
    def __init__(self, client: Any) -> None:
        self._client = client

    def depth(self, queue_url: str) -> int:
        with translated("sqs"):
            response = self._client.get_queue_attributes(
                QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages"]
            )
        return int(response.get("Attributes", {}).get("ApproximateNumberOfMessages", 0))
