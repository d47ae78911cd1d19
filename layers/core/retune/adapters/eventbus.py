"""retune's own events on the default bus: "Drop Ready" tells StartRound to start a queued drop."""

from __future__ import annotations

import json
from typing import Any

from retune.adapters.errors import translated
from retune.errors import TransientError
from retune.events import RETUNE_SOURCE


class EventBus:
    def __init__(self, client: Any, bus_name: str) -> None:
        self._client = client
        self._bus = bus_name

    def put(self, detail_type: str, detail: dict[str, Any], resources: list[str] | None = None) -> None:
        with translated("events"):
            response = self._client.put_events(
                Entries=[
                    {
                        "Source": RETUNE_SOURCE,
                        "DetailType": detail_type,
                        "Detail": json.dumps(detail),
                        "EventBusName": self._bus,
                        "Resources": resources or [],
                    }
                ]
            )
        if response.get("FailedEntryCount"):
            entry = response["Entries"][0]
            raise TransientError(f"events: {entry.get('ErrorCode')}: {entry.get('ErrorMessage')}")
