"""CloseRound: a terminal "SageMaker HyperParameter Tuning Job State Change" → round summary, plan, evaluation."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from retune.errors import InvalidInput
from retune.observability import logger, metrics, reject
from retune.sagemaker_events import TUNING_JOB_STATE_CHANGE, TuningJobEvent, parse_sagemaker_event
from retune.use_cases.close_round import CloseRoundDeps, close_round
from retune.wiring import close_round_deps


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: CloseRoundDeps | None = None
) -> dict[str, Any]:
    try:
        parsed = parse_sagemaker_event(event, TUNING_JOB_STATE_CHANGE)
    except InvalidInput as exc:
        return reject(exc)
    assert isinstance(parsed, TuningJobEvent)
    name = parsed.detail.HyperParameterTuningJobName
    logger.append_keys(tuning_job=name, event_status=parsed.detail.HyperParameterTuningJobStatus)
    deps = deps or close_round_deps()
    deps.alerts.register_lambda_context(context)
    result = close_round(name, deps)
    logger.info(
        "tuning job event handled",
        extra={
            "status": result.status,
            "profile": result.profile,
            "round": result.seq,
            "backfilled": result.backfilled,
        },
    )
    return result._asdict()
