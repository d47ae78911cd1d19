"""One warm Lambda execution environment: a process that imports one function's handler once (its cold start) and
then invokes it for each request it reads, as Lambda reuses an environment between invocations.

Run by retune_local.lambda_runtime as `python -m retune_local.lambda_worker MODULE FUNCTION RESULT_FD`, with the
function's environment and `PYTHONPATH` = its code folder plus layers/core (the layer's content). Requests arrive as
JSON lines on stdin; results go as JSON lines to RESULT_FD, since the handler's logs own stdout and stderr.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
import traceback
import uuid
from typing import Any


class LambdaContext:
    """The fields of Lambda's context object that handlers and Powertools read."""

    def __init__(
        self, function_name: str, request_id: str, deadline: float, memory_mb: int, region: str, account: str
    ) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = f"local/{os.getpid()}"
        self._deadline = deadline

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def main(argv: list[str]) -> int:
    module_name, function_name, result_fd = argv[0], argv[1], int(argv[2])
    results = os.fdopen(result_fd, "w", buffering=1)
    started = time.monotonic()
    try:
        handler = getattr(importlib.import_module(module_name), function_name)
        init_error = None
    except Exception as exc:  # noqa: BLE001 (an init error is reported for every invocation, as Lambda does)
        handler, init_error = None, _error(exc)
    init_ms = (time.monotonic() - started) * 1000
    cold = True
    for line in sys.stdin:
        request: dict[str, Any] = json.loads(line)
        begin = time.monotonic()
        context = LambdaContext(
            os.environ.get("AWS_LAMBDA_FUNCTION_NAME", function_name),
            request.get("request_id") or str(uuid.uuid4()),
            begin + float(request.get("timeout", 120)),
            int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "512")),
            os.environ.get("AWS_REGION", "us-east-1"),
            os.environ.get("RETUNE_LOCAL_ACCOUNT", "123456789012"),
        )
        reply: dict[str, Any] = {"id": request["id"], "cold": cold, "init_ms": init_ms if cold else 0.0}
        if init_error is not None:
            reply["error"] = init_error
        else:
            try:
                reply["result"] = handler(request["event"], context)
            except Exception as exc:  # noqa: BLE001 (a handler's error is the invocation's outcome)
                reply["error"] = _error(exc)
        reply["duration_ms"] = (time.monotonic() - begin) * 1000
        sys.stdout.flush()
        sys.stderr.flush()
        results.write(json.dumps(reply, default=str) + "\n")
        cold = False
    return 0


def _error(exc: BaseException) -> dict[str, Any]:
    return {
        "errorType": type(exc).__name__,
        "errorMessage": str(exc),
        "stackTrace": traceback.format_exception(exc),
    }


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
