"""One place for logs and metrics. Use-case modules log through stdlib loggers named `retune.*`, which propagate
to Powertools' JSON logger (its logger is named after the service, `retune`)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit

from retune.errors import InvalidInput

SERVICE = "retune"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=SERVICE, service=SERVICE)


class PowertoolsMetrics:
    """MetricsPort on Powertools' embedded metric format (flushed by `@metrics.log_metrics`)."""

    def count(self, name: str, value: float = 1, unit: str = "Count") -> None:
        metrics.add_metric(name=name, unit=MetricUnit(unit), value=value)


def reject(exc: InvalidInput) -> dict[str, Any]:
    """A malformed event will not improve by retrying: log it with its errors, count it, and stop."""
    logger.error("event rejected", extra={"errors": exc.errors})
    metrics.add_metric(name="EventsRejected", unit=MetricUnit.Count, value=1)
    return {"status": "rejected", "errors": exc.errors}
