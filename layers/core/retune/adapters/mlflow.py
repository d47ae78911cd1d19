"""An MLflow tracking server through its REST API: a SageMaker managed one (SigV4-signed, as the `sagemaker-mlflow`
plugin signs) or any MLflow URI.

No MLflow client library: the plugin pulls in mlflow-skinny and its dependencies, which would multiply Track's cold
start (docs/decisions.md, "Track talks to MLflow's REST API"); botocore (in the runtime) signs, urllib3 (botocore's
own HTTP library) sends. Only the endpoints Track uses, from MLflow's REST API reference
(https://mlflow.org/docs/latest/api_reference/rest-api.html).
"""

from __future__ import annotations

import json
import re
from hashlib import sha256
from typing import Any
from urllib.parse import quote, urlencode

from retune.errors import (
    AccessDenied,
    AlreadyExists,
    NotFound,
    PermanentError,
    Throttled,
    TransientError,
)

# arn:aws:sagemaker:<region>:<account>:mlflow-tracking-server/<name>
MANAGED_ARN = re.compile(
    r"^arn:(?P<partition>aws[a-z\-]*):sagemaker:(?P<region>[a-z0-9\-]+):\d{12}:mlflow-tracking-server/[A-Za-z0-9\-]+$"
)
# The plugin's names: its SigV4 service, the header that routes a request to the server, the endpoint's form
# (sagemaker_mlflow/auth.py, mlflow_sagemaker_request_header_provider.py, mlflow_sagemaker_helpers.py).
SIGNING_SERVICE = "sagemaker-mlflow"
ARN_HEADER = "x-mlflow-sm-tracking-server-arn"
API = "/api/2.0/mlflow"
# MLflow's log-batch limits: at most 1,000 metrics, 100 params and 100 tags, 1,000 in all per request.
BATCH_METRICS, BATCH_PARAMS, BATCH_TAGS, BATCH_TOTAL = 1000, 100, 100, 1000
# MLflow's error codes that mean the request (the data) is wrong: retrying sends the same request again.
BAD_DATA = frozenset({"INVALID_PARAMETER_VALUE", "BAD_REQUEST", "MALFORMED_REQUEST", "INVALID_STATE"})
THROTTLED = frozenset({"REQUEST_LIMIT_EXCEEDED", "RESOURCE_EXHAUSTED"})
UNAUTHORIZED = frozenset({"PERMISSION_DENIED", "UNAUTHENTICATED", "UNAUTHORIZED"})


class TrackingRefused(PermanentError):
    """The tracking server refused what Track sent as invalid (MLflow's INVALID_PARAMETER_VALUE and the like):
    the same record would be refused again."""

    def __init__(self, code: str, message: str) -> None:
        self.code = code
        super().__init__(f"MLflow refused the request: {code}: {message}")


def endpoint_of(tracking_server: str) -> tuple[str, str | None, str | None]:
    """The base URL, and for a managed server its region and ARN (what signing needs)."""
    managed = MANAGED_ARN.match(tracking_server)
    if managed:
        # The plugin's endpoint form; its only partitions so far (aws, aws-us-gov) both end in ".aws".
        region = managed["region"]
        return f"https://{region}.experiments.sagemaker.aws", region, tracking_server
    if tracking_server.startswith(("http://", "https://")):
        return tracking_server.rstrip("/"), None, None
    raise ValueError(
        f"TRACKING_SERVER {tracking_server!r} is neither a SageMaker MLflow tracking server ARN "
        "(arn:aws:sagemaker:<region>:<account>:mlflow-tracking-server/<name>) nor an http(s):// MLflow URI"
    )


class MlflowRest:
    """MLflow's REST API; every method raises retune's errors: TransientError (no answer, 5xx), Throttled,
    AlreadyExists, NotFound, AccessDenied, TrackingRefused (bad data)."""

    def __init__(self, tracking_server: str, credentials: Any = None, *, timeout: float = 20.0) -> None:
        import urllib3  # noqa: PLC0415 (botocore's HTTP library: already loaded with it)

        self.tracking_server = tracking_server
        self._base, self._region, self._arn = endpoint_of(tracking_server)
        if self._arn is not None and credentials is None:
            raise ValueError("a managed tracking server needs AWS credentials to sign with")
        self._credentials = credentials
        # A connection error or a 502/503/504 answer is tried twice more here before Lambda retries the batch; no
        # retry once a request may have been received (a repeated create is found and merged by Track anyway).
        retries = urllib3.Retry(
            total=2,
            connect=2,
            read=0,
            status=2,
            status_forcelist=(502, 503, 504),
            allowed_methods=None,
            backoff_factor=0.2,
            raise_on_status=False,
        )
        self._http = urllib3.PoolManager(
            retries=retries, timeout=urllib3.Timeout(connect=5.0, read=timeout), maxsize=2
        )

    # experiments

    def get_experiment_by_name(self, name: str) -> dict[str, Any] | None:
        try:
            answer = self._call("GET", "/experiments/get-by-name", query={"experiment_name": name})
        except NotFound:
            return None
        experiment: dict[str, Any] = answer["experiment"]
        return experiment

    def create_experiment(self, name: str, tags: dict[str, str]) -> str:
        answer = self._call("POST", "/experiments/create", {"name": name, "tags": _pairs(tags)})
        return str(answer["experiment_id"])

    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None:
        self._call(
            "POST",
            "/experiments/set-experiment-tag",
            {"experiment_id": experiment_id, "key": key, "value": value},
        )

    # runs

    def search_runs(self, experiment_id: str, filter_string: str) -> list[dict[str, Any]]:
        """Every active run of the experiment that `filter_string` matches, all pages."""
        runs: list[dict[str, Any]] = []
        token: str | None = None
        while True:
            body: dict[str, Any] = {
                "experiment_ids": [experiment_id],
                "filter": filter_string,
                "run_view_type": "ACTIVE_ONLY",
                "max_results": 1000,
            }
            if token:
                body["page_token"] = token
            answer = self._call("POST", "/runs/search", body)
            runs.extend(answer.get("runs", []))
            token = answer.get("next_page_token")
            if not token:
                return runs

    def create_run(self, experiment_id: str, name: str, tags: dict[str, str]) -> dict[str, Any]:
        """A new run; its start time is the server's, so that among duplicates the first made is the oldest."""
        answer = self._call(
            "POST",
            "/runs/create",
            {"experiment_id": experiment_id, "run_name": name, "tags": _pairs(tags)},
        )
        run: dict[str, Any] = answer["run"]
        return run

    def update_run(self, run_id: str, status: str, end_time: int | None, name: str | None = None) -> None:
        body: dict[str, Any] = {"run_id": run_id, "status": status}
        if end_time is not None:
            body["end_time"] = end_time
        if name is not None:
            body["run_name"] = name
        self._call("POST", "/runs/update", body)

    def delete_run(self, run_id: str) -> None:
        self._call("POST", "/runs/delete", {"run_id": run_id})

    def log_batch(
        self,
        run_id: str,
        *,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        metrics: list[dict[str, Any]] | None = None,
    ) -> None:
        """Params, tags and metrics ({key, value, timestamp, step}) in as few requests as MLflow's limits allow."""
        pending_params = _pairs(params or {})
        pending_tags = _pairs(tags or {})
        pending_metrics = list(metrics or [])
        while pending_params or pending_tags or pending_metrics:
            body: dict[str, Any] = {"run_id": run_id}
            body["params"], pending_params = pending_params[:BATCH_PARAMS], pending_params[BATCH_PARAMS:]
            body["tags"], pending_tags = pending_tags[:BATCH_TAGS], pending_tags[BATCH_TAGS:]
            room = BATCH_TOTAL - len(body["params"]) - len(body["tags"])
            take = min(room, BATCH_METRICS)
            body["metrics"], pending_metrics = pending_metrics[:take], pending_metrics[take:]
            self._call("POST", "/runs/log-batch", body)

    # the wire

    def _call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        query: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        import urllib3  # noqa: PLC0415

        url = self._base + API + path
        if query:
            # Spaces as %20, not +: what SigV4 signs (the plugin rewrites MLflow's + the same way).
            url += "?" + urlencode(query, quote_via=quote)
        data = json.dumps(body).encode() if body is not None else b""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if self._arn is not None:
            headers = self._signed(method, url, data, headers)
        try:
            response = self._http.request(method, url, body=data or None, headers=headers)
        except urllib3.exceptions.HTTPError as exc:  # no connection, a timeout, a connection cut
            raise TransientError(f"MLflow {path}: {exc}") from exc
        return _answer(path, response.status, response.data)

    def _signed(self, method: str, url: str, data: bytes, headers: dict[str, str]) -> dict[str, str]:
        from botocore.auth import SigV4Auth  # noqa: PLC0415
        from botocore.awsrequest import AWSRequest  # noqa: PLC0415

        assert self._arn is not None and self._region is not None
        headers = {
            **headers,
            ARN_HEADER: self._arn,
            "X-Amz-Content-SHA256": sha256(data).hexdigest(),
        }
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(self._credentials, SIGNING_SERVICE, self._region).add_auth(request)
        return dict(request.headers.items())


def _pairs(mapping: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": key, "value": value} for key, value in mapping.items()]


def _answer(path: str, status: int, raw: bytes) -> dict[str, Any]:
    """The JSON answer, or MLflow's error (`{"error_code": ..., "message": ...}`) as retune's exception."""
    try:
        document = json.loads(raw or b"{}")
    except ValueError:
        document = {}
    if not isinstance(document, dict):
        document = {}
    if status < 300:
        return document
    code = str(document.get("error_code") or "")
    message = str(document.get("message") or raw[:300].decode(errors="replace"))
    what = f"MLflow {path}: {code or status}: {message}"
    if status >= 500 or code in {"INTERNAL_ERROR", "TEMPORARILY_UNAVAILABLE"}:
        raise TransientError(what)
    if status == 429 or code in THROTTLED:
        raise Throttled(what)
    if code == "RESOURCE_ALREADY_EXISTS":
        raise AlreadyExists(what)
    if code in {"RESOURCE_DOES_NOT_EXIST", "NOT_FOUND"} or (status == 404 and not code):
        raise NotFound(what)
    if status in (401, 403) or code in UNAUTHORIZED:
        raise AccessDenied(what)
    if code in BAD_DATA or status == 400:
        raise TrackingRefused(code or str(status), message)
    # Any other 4xx (a proxy's 408, a 409): nothing says the data is wrong, so let Lambda retry it.
    raise TransientError(what)
