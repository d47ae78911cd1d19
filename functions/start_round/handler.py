"""StartRound: an S3 "Object Created" event for a drop's manifest, or retune's "Drop Ready", starts a round."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext
from retune.errors import InvalidInput
from retune.events import BadDropKey, NotADrop, parse_drop_event
from retune.observability import logger, metrics, reject
from retune.use_cases.start_round import StartRoundDeps, refuse_drop_key, start_round
from retune.wiring import start_round_deps


@logger.inject_lambda_context(correlation_id_path=correlation_paths.EVENT_BRIDGE, clear_state=True)
@metrics.log_metrics
def lambda_handler(
    event: dict[str, Any], context: LambdaContext, deps: StartRoundDeps | None = None
) -> dict[str, Any]:
    try:
        ref = parse_drop_event(event)
    except NotADrop as exc:
        logger.info("not a drop manifest; ignored", extra={"reason": str(exc)})
        return {"status": "ignored", "detail": str(exc)}
    except BadDropKey as exc:
        deps = deps or start_round_deps()
        deps.alerts.register_lambda_context(context)
        refuse_drop_key(exc, deps)
        return reject(exc)
    except InvalidInput as exc:
        return reject(exc)
    logger.append_keys(bucket=ref.bucket, key=ref.keys[0])
    deps = deps or start_round_deps()
    deps.alerts.register_lambda_context(context)
    result = start_round(ref, deps)
    logger.info(
        "drop handled",
        extra={
            "status": result.status,
            "profile": result.profile,
            "drop": result.drop_id,
            "round": result.seq,
        },
    )
    return asdict(result)
