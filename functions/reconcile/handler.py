"""Reconcile: on a schedule, close what never closed, start what waits, alert on stalls and parked events."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext
from retune.observability import logger, metrics
from retune.use_cases.reconcile import ReconcileDeps, ReconcileFailed, reconcile
from retune.wiring import reconcile_deps


@logger.inject_lambda_context(clear_state=True)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: ReconcileDeps | None = None
) -> dict[str, Any]:
    deps = deps or reconcile_deps()
    deps.alerts.register_lambda_context(context)
    report = reconcile(deps)
    logger.info(
        "reconciled",
        extra={"actions": len(report.actions), "errors": report.errors, "failures": report.failures},
    )
    if report.failures:
        # Each failed item is alerted and the others are done; failing the run fires the Errors alarm.
        raise ReconcileFailed(f"{len(report.failures)} item(s) failed: " + "; ".join(report.failures))
    return asdict(report)
