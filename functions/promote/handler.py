"""Promote: the evaluation job ended, a person approved a package, or an endpoint settled."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from retune.errors import InvalidInput
from retune.observability import logger, metrics, reject
from retune.sagemaker_events import (
    ENDPOINT_STATE_CHANGE,
    MODEL_PACKAGE_STATE_CHANGE,
    TRAINING_JOB_STATE_CHANGE,
    EndpointEvent,
    ModelPackageEvent,
    TrainingJobEvent,
    parse_sagemaker_event,
)
from retune.use_cases.by_hand import package_state_changed
from retune.use_cases.decide import evaluation_ended
from retune.use_cases.deploy import endpoint_state_changed
from retune.use_cases.promote import PromoteDeps
from retune.wiring import promote_deps


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: PromoteDeps | None = None
) -> dict[str, Any]:
    try:
        parsed = parse_sagemaker_event(
            event, TRAINING_JOB_STATE_CHANGE, MODEL_PACKAGE_STATE_CHANGE, ENDPOINT_STATE_CHANGE
        )
    except InvalidInput as exc:
        return reject(exc)
    deps = deps or promote_deps()
    deps.alerts.register_lambda_context(context)
    if isinstance(parsed, TrainingJobEvent):
        logger.append_keys(training_job=parsed.detail.TrainingJobName)
        result = evaluation_ended(parsed.detail.TrainingJobName, deps)
    elif isinstance(parsed, ModelPackageEvent):
        logger.append_keys(model_package=parsed.detail.ModelPackageArn)
        result = package_state_changed(
            parsed.detail.ModelPackageArn, parsed.detail.ModelApprovalStatus, parsed.detail.decided_by, deps
        )
    else:
        assert isinstance(parsed, EndpointEvent)
        logger.append_keys(endpoint=parsed.detail.EndpointName)
        result = endpoint_state_changed(
            parsed.detail.EndpointName,
            parsed.detail.EndpointStatus,
            parsed.detail.FailureReason,
            deps,
            config=parsed.detail.EndpointConfigName,
        )
    logger.info(
        "promote event handled",
        extra={
            "status": result.status,
            "profile": result.profile,
            "round": result.seq,
            "detail": result.detail,
        },
    )
    return result._asdict()
