"""SageMaker's JSON 1.1 protocol over HTTP on 127.0.0.1: what boto3 speaks when given `endpoint_url`.

A request is `POST /` with `X-Amz-Target: SageMaker.<Operation>` and a JSON body. A success is HTTP 200 with
the JSON result; an error is HTTP 400 with `{"__type": <code>, "message": <text>}`, which botocore turns into
`ClientError.response["Error"]["Code"]` (and the client's modeled exception, when the code is one). Datetimes
are epoch seconds. With a gate (the local stack's IAM, retune_local.iam), each request is authorized as the principal
whose key signed it before it runs; signatures themselves are not verified.

The server serves any `Service`; whoever holds the service starts the server for it (the local stack, `python -m
retune_local sagemaker`, the tests).
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, Protocol

from retune_local.errors import ServiceError

if TYPE_CHECKING:
    from retune_local.iam.gate import Denial, Gate

log = logging.getLogger(__name__)

TARGET_PREFIX = "SageMaker."
LOCAL_TARGET_PREFIX = "RetuneLocal."
CONTENT_TYPE = "application/x-amz-json-1.1"


class Service(Protocol):
    """What the server serves: SageMaker's operations by name (`SageMaker.<Operation>`), and the local service's
    own (`RetuneLocal.SeedTuningJob`). Each raises ServiceError as SageMaker would answer."""

    def handle(self, operation: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]: ...

    def seed_tuning_job(
        self, request: Mapping[str, Any], trials: Sequence[Mapping[str, Any]], *, events: bool = False
    ) -> dict[str, Any]: ...


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _reply(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self, target: str, raw: bytes) -> dict[str, Any]:
        params = json.loads(raw) if raw.strip() else {}
        if not isinstance(params, dict):
            raise ServiceError("SerializationException", "the request body must be a JSON object")
        denial = self._authorize(target, params)
        if denial is not None:
            raise ServiceError(denial.code, denial.message)
        if target.startswith(TARGET_PREFIX):
            return self.server.service.handle(target[len(TARGET_PREFIX) :], params)
        if target.startswith(LOCAL_TARGET_PREFIX):
            return self.server.local_operation(target[len(LOCAL_TARGET_PREFIX) :], params)
        raise ServiceError("UnknownOperationException", f"unknown X-Amz-Target {target!r}")

    def _authorize(self, target: str, params: dict[str, Any]) -> Denial | None:
        gate = self.server.gate
        if gate is None:
            return None
        from retune_local.iam.gate import Denial, credential_of  # noqa: PLC0415

        found = credential_of(self.headers, {})
        who = gate.identify("sagemaker", found[0] if found else None)
        if isinstance(who, Denial):
            return who
        if target.startswith(TARGET_PREFIX):
            return gate.authorize(who, "sagemaker", target[len(TARGET_PREFIX) :], params)
        if who.administrator:
            return None  # the local service's own operations (SeedTuningJob): set-up, not SageMaker's API
        return Denial(
            "AccessDeniedException", f"{target} is the local service's own operation: administrator only", 400
        )

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        target = self.headers.get("X-Amz-Target", "")
        try:
            result = self._dispatch(target, raw)
        except ServiceError as exc:
            self._reply(HTTPStatus.BAD_REQUEST, {"__type": exc.code, "message": exc.message})
        except json.JSONDecodeError as exc:
            self._reply(HTTPStatus.BAD_REQUEST, {"__type": "SerializationException", "message": str(exc)})
        except Exception as exc:
            log.exception("%s failed", target)
            self._reply(HTTPStatus.INTERNAL_SERVER_ERROR, {"__type": "InternalFailure", "message": str(exc)})
        else:
            self._reply(HTTPStatus.OK, result)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, service: Service, host: str, port: int, gate: Gate | None = None) -> None:
        super().__init__((host, port), _Handler)
        self.service = service
        self.gate = gate

    def local_operation(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        """Operations of the local service itself, not SageMaker's: SeedTuningJob {Request, Trials,
        Events}."""
        if operation == "SeedTuningJob":
            return self.service.seed_tuning_job(
                params["Request"], params.get("Trials", []), events=bool(params.get("Events"))
            )
        raise ServiceError("UnknownOperationException", f"unknown local operation {operation!r}")


class SageMakerHTTPServer:
    """Serves `service` on host:port (0 = any free port) once started. With a gate, every request is authorized by
    IAM (retune_local.iam) before it runs."""

    def __init__(
        self, service: Service, host: str = "127.0.0.1", port: int = 0, gate: Gate | None = None
    ) -> None:
        self._server = _Server(service, host, port, gate)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="local-sagemaker-http",
            daemon=True,
        )

    @property
    def url(self) -> str:
        """The endpoint URL for boto3."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SageMakerHTTPServer:
        self._thread.start()
        return self

    def client(self, region: str = "us-east-1") -> Any:
        """A boto3 SageMaker client for this server, signed with a placeholder key (a gated server refuses it)."""
        import boto3  # noqa: PLC0415 - only callers of a client pay for boto3
        from botocore.config import Config  # noqa: PLC0415

        return boto3.client(
            "sagemaker",
            endpoint_url=self.url,
            region_name=region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
            config=Config(retries={"max_attempts": 1}),
        )

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)
