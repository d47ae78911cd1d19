"""A training job's output in CloudWatch Logs, where SageMaker writes it: log group /aws/sagemaker/TrainingJobs,
stream `<job name>/algo-1-<epoch seconds>`, one event per line of the container's stdout and stderr, written while
the job runs (so `aws logs tail --follow` and the SageMaker Python SDK's `logs=True` see lines as they come).

The writes are best effort, as the job's metrics are: a write CloudWatch Logs refuses (the job's role lacks
logs:CreateLogStream or logs:PutLogEvents) is logged here and the job goes on.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
# PutLogEvents' limits: 10,000 events and 1,048,576 bytes a call, counting 26 bytes per event; 256 KiB an event.
_BATCH_EVENTS = 10_000
_BATCH_BYTES = 1_048_576
_EVENT_OVERHEAD = 26
_MESSAGE_BYTES = 262_144 - _EVENT_OVERHEAD
# CloudWatch Logs refuses events more than 2 hours ahead of its clock; the deterministic mode's virtual times can
# run ahead of the wall clock, so they are held below that (with a minute to spare).
FUTURE_LIMIT_SECONDS = 2 * 3600 - 60


def stream_name(job_name: str, started: float) -> str:
    """SageMaker's stream for the job's first (only) host: `<job name>/algo-1-<epoch seconds of its start>`."""
    return f"{job_name}/algo-1-{int(started)}"


class JobLog:
    """One job's log stream. `write` queues a line; a thread sends what is queued whenever it is free, so lines
    reach CloudWatch Logs while the job runs, in batches when they come faster than one call. `close` sends the
    rest and waits for it."""

    def __init__(self, client: Any | None, job_name: str, started: float) -> None:
        self.stream = stream_name(job_name, started)
        self._client = client
        self._job = job_name
        self._pending: list[dict[str, Any]] = []
        self._last_timestamp = 0
        self._closed = False
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None

    def open(self) -> JobLog:
        """Create the group (if it is not there yet) and the stream, as the job's role; then start sending."""
        if self._client is None:
            return self
        try:
            for create, params in (
                (self._client.create_log_group, {"logGroupName": LOG_GROUP}),
                (self._client.create_log_stream, {"logGroupName": LOG_GROUP, "logStreamName": self.stream}),
            ):
                try:
                    create(**params)
                except ClientError as exc:
                    if exc.response.get("Error", {}).get("Code") != "ResourceAlreadyExistsException":
                        raise
        except (ClientError, BotoCoreError) as exc:
            self._give_up(exc)
            return self
        self._thread = threading.Thread(target=self._send, name=f"logs-{self._job}", daemon=True)
        self._thread.start()
        return self

    def write(self, line: str, timestamp: float) -> None:
        """One line of output at `timestamp` (epoch seconds; never earlier than the line before)."""
        message = line.rstrip("\r\n")
        if self._thread is None or not message:
            return  # CloudWatch Logs takes no empty messages
        encoded = message.encode()
        if len(encoded) > _MESSAGE_BYTES:
            message = encoded[:_MESSAGE_BYTES].decode(errors="ignore")
        with self._ready:
            self._last_timestamp = max(self._last_timestamp, round(timestamp * 1000))
            self._pending.append({"timestamp": self._last_timestamp, "message": message})
            self._ready.notify()

    def close(self) -> None:
        with self._ready:
            self._closed = True
            self._ready.notify()
        if self._thread is not None:
            self._thread.join()

    def _batch(self) -> list[dict[str, Any]]:
        batch: list[dict[str, Any]] = []
        size = 0
        while self._pending and len(batch) < _BATCH_EVENTS:
            event_size = len(self._pending[0]["message"].encode()) + _EVENT_OVERHEAD
            if batch and size + event_size > _BATCH_BYTES:
                break
            batch.append(self._pending.pop(0))
            size += event_size
        return batch

    def _send(self) -> None:
        assert self._client is not None
        while True:
            with self._ready:
                self._ready.wait_for(lambda: bool(self._pending) or self._closed)
                if not self._pending:
                    return
                batch = self._batch()
            try:
                self._client.put_log_events(
                    logGroupName=LOG_GROUP, logStreamName=self.stream, logEvents=batch
                )
            except (ClientError, BotoCoreError) as exc:
                self._give_up(exc)
                with self._ready:
                    self._pending.clear()
                    self._thread = None
                return

    def _give_up(self, exc: Exception) -> None:
        log.warning("could not write the logs of training job %s to CloudWatch Logs: %s", self._job, exc)
