"""A stand-in for the Track function in the local stack's tests of the stream's delivery (tests/local/tracking.py):
it checks that the tracking server answers (so stopping the server is an outage), and appends each batch it is sent
to `batches.jsonl` in STUB_LOG. It answers Lambda's partial-batch response with no failures."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path
from typing import Any


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    with urllib.request.urlopen(f"{os.environ['TRACKING_SERVER']}/health", timeout=5) as response:
        response.read()
    batch = [
        {
            "eventID": r["eventID"],
            "eventName": r["eventName"],
            "sequence": r["dynamodb"]["SequenceNumber"],
            "keys": r["dynamodb"]["Keys"],
            "source": r["eventSource"],
            "arn": r["eventSourceARN"],
        }
        for r in event["Records"]
    ]
    with (Path(os.environ["STUB_LOG"]) / "batches.jsonl").open("a", encoding="utf-8") as log:
        log.write(json.dumps(batch) + "\n")
    return {"batchItemFailures": []}
