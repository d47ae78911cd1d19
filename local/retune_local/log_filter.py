"""CloudWatch Logs' FilterLogEvents with `logStreamNamePrefix`, which moto ignores (it filters on `logStreamNames`
only). `aws logs tail <group> --log-stream-name-prefix <job>` (AWS CLI v2) and `aws logs filter-log-events
--log-stream-name-prefix` send it: without this a job's tail would print every job's lines."""

from __future__ import annotations

import io
import json
from typing import Any

FILTER_LOG_EVENTS = "Logs_20140328.FilterLogEvents"


class LogStreamNamePrefix:
    """WSGI middleware in front of moto's server: a FilterLogEvents request with `logStreamNamePrefix` (and no
    `logStreamNames`) goes on with the names of the group's streams that start with the prefix; when none does, the
    answer is no events, as CloudWatch Logs gives."""

    def __init__(self, app: Any, account: str, region: str) -> None:
        self.app, self.account, self.region = app, account, region

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_X_AMZ_TARGET") != FILTER_LOG_EVENTS:
            return self.app(environ, start_response)
        body = environ["wsgi.input"].read()
        try:
            params = json.loads(body or b"{}")
        except ValueError:
            params = None
        if not isinstance(params, dict) or "logStreamNamePrefix" not in params or "logStreamNames" in params:
            environ["wsgi.input"] = io.BytesIO(body)  # moto answers it as it does
            return self.app(environ, start_response)
        prefix = str(params.pop("logStreamNamePrefix"))
        names = self._streams(str(params.get("logGroupName", "")), prefix)
        if names is None:  # no such group: moto's ResourceNotFoundException
            environ["wsgi.input"] = io.BytesIO(body)
            return self.app(environ, start_response)
        if not names:
            answer = json.dumps({"events": [], "searchedLogStreams": []}).encode()
            start_response(
                "200 OK",
                [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(answer)))],
            )
            return [answer]
        rewritten = json.dumps({**params, "logStreamNames": names}).encode()
        environ["wsgi.input"] = io.BytesIO(rewritten)
        environ["CONTENT_LENGTH"] = str(len(rewritten))
        return self.app(environ, start_response)

    def _streams(self, group: str, prefix: str) -> list[str] | None:
        from moto.logs.models import logs_backends  # noqa: PLC0415 (moto is loaded by the stack already)

        found = logs_backends[self.account][self.region].groups.get(group)
        if found is None:
            return None
        return sorted(name for name in found.streams if name.startswith(prefix))
