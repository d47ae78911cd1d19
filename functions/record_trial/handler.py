"""RecordTrial: "SageMaker Training Job State Change" for a job retune launched → its trial record."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from retune.errors import InvalidInput
from retune.observability import logger, metrics, reject
from retune.sagemaker_events import TRAINING_JOB_STATE_CHANGE, TrainingJobEvent, parse_sagemaker_event
from retune.use_cases.record_trial import RecordTrialDeps, record_trial
from retune.wiring import record_trial_deps


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: RecordTrialDeps | None = None
) -> dict[str, Any]:
    try:
        parsed = parse_sagemaker_event(event, TRAINING_JOB_STATE_CHANGE)
    except InvalidInput as exc:
        return reject(exc)
    assert isinstance(parsed, TrainingJobEvent)
    detail = parsed.detail
    logger.append_keys(training_job=detail.TrainingJobName, event_status=detail.TrainingJobStatus)
    result = record_trial(detail.TrainingJobName, deps or record_trial_deps())
    logger.info(
        "training job event handled", extra={"status": result.status, "trial_status": result.trial_status}
    )
    return result._asdict()
