"""The local stack's IAM gate: in front of moto's server and of the local SageMaker alike.

Every request is signed with a principal's access key (principals.py). The gate finds the principal by the key id in
the request's SigV4 credential, turns the request into the authorizations AWS would check for it (actions.py: the
resource ARNs, the condition keys, `iam:PassRole` for a role a create call names, the KMS calls a service makes on
the caller's behalf), evaluates each against the principal's identity policies and the resource's own policy
(policy.py), records every decision (the trace the mutation test re-evaluates), and answers a denied request with the
service's own error code and message shape. The administrator's requests pass unchecked and unrecorded.

Not modelled: signatures are not verified (a request is the principal whose key id it names), session policies,
permission boundaries, SCPs, VPC endpoint policies, and cross-account access.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from html import escape
from typing import Any, NamedTuple

from retune_local.iam.actions import Authorization, UnknownOperation, authorizations, not_found_authorizations
from retune_local.iam.policy import Caller, Request, Statement, denial_message, evaluate
from retune_local.iam.principals import Principal
from retune_local.iam.resources import StackResources
from retune_local.log_filter import LogStreamNamePrefix
from retune_local.s3_events import REASONS, ObjectEvents

# SigV4's signing name → botocore's service name, where they differ.
SIGNING_NAMES = {"monitoring": "cloudwatch"}
_CREDENTIAL = re.compile(r"Credential=(?P<key>[^/,\s]+)/\d{8}/[^/]+/(?P<service>[^/]+)/aws4_request")

# The services whose protocol is JSON but whose errors keep their Query-protocol codes (botocore reads the
# `x-amzn-query-error` header for them: their service models carry `awsQueryCompatible`).
_QUERY_COMPATIBLE = frozenset({"sqs", "cloudwatch"})
# What each service answers when a policy denies the request: its error code and HTTP status.
_DENIED: dict[str, tuple[str, int]] = {
    "s3": ("AccessDenied", 403),
    "sns": ("AuthorizationError", 403),
    "sqs": ("AccessDenied", 403),
    "cloudwatch": ("AccessDenied", 403),
    "sts": ("AccessDenied", 403),
    "cloudformation": ("AccessDenied", 403),
    "iam": ("AccessDenied", 403),
}
# What a service answers when a KMS call it makes for the caller is denied.
_KMS_DENIED: dict[str, tuple[str, int]] = {
    "sns": ("KMSAccessDenied", 400),
    "sqs": ("KMS.AccessDeniedException", 400),
}


class Denial(NamedTuple):
    """A refused request: the service's error code, its message and the HTTP status."""

    code: str
    message: str
    status: int


class TraceEntry(NamedTuple):
    """One authorization the gate evaluated: enough to evaluate it again against changed policies."""

    principal: str
    service: str
    operation: str
    request: Request
    resource_policy: str | None  # the ARN whose resource-based policy applied
    key_policy: bool
    via: str | None
    allowed: bool
    deciding: str | None  # the deciding statement's label


class Gate:
    """Authorizes requests against the principals' policies and the stack's resource policies."""

    def __init__(
        self,
        principals: Iterable[Principal],
        resources: StackResources | None = None,
        *,
        region: str,
        account: str,
    ) -> None:
        self.principals: dict[str, Principal] = {}
        self._by_key: dict[str, Principal] = {}
        self.resources = resources
        self.region, self.account = region, account
        self._trace: list[TraceEntry] = []
        self._lock = threading.Lock()
        self.install(principals, resources)

    def install(self, principals: Iterable[Principal], resources: StackResources | None) -> None:
        """Add principals (and set the stack's resources): a stack's roles exist once its resources do."""
        for principal in principals:
            self.principals[principal.name] = principal
            self._by_key[principal.access_key_id] = principal
        if resources is not None:
            self.resources = resources

    # -- who --------------------------------------------------------------------------------------------------

    def principal(self, access_key_id: str | None) -> Principal | None:
        return self._by_key.get(access_key_id or "")

    def identify(self, service: str, access_key_id: str | None) -> Principal | Denial:
        """The principal a request's key names, or the service's answer to an unsigned or unknown one."""
        if not access_key_id:
            return Denial(
                "AccessDenied" if service == "s3" else "MissingAuthenticationTokenException",
                "Request is missing Authentication Token",
                403,
            )
        principal = self.principal(access_key_id)
        if principal is not None:
            return principal
        if service == "s3":
            return Denial(
                "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.", 403
            )
        if service in ("sns", "sts", "cloudformation", "iam"):
            return Denial(
                "InvalidClientTokenId", "The security token included in the request is invalid.", 403
            )
        return Denial(
            "UnrecognizedClientException", "The security token included in the request is invalid.", 400
        )

    # -- what -------------------------------------------------------------------------------------------------

    def authorize(
        self, principal: Principal, service: str, operation: str, params: Mapping[str, Any]
    ) -> Denial | None:
        """None when every authorization the request needs is allowed; else the service's error for the first
        denied one."""
        if principal.administrator:
            return None
        if self.resources is None:
            raise RuntimeError("the gate has principals but no stack resources: install them first")
        try:
            needed = authorizations(
                service, operation, params, region=self.region, account=self.account, lookups=self.resources
            )
        except UnknownOperation as exc:
            # Loud on purpose: a call retune makes that the stand-in cannot authorize must be added to actions.py,
            # never let through.
            code, status = _DENIED.get(service, ("AccessDeniedException", 400))
            return Denial(
                code, f"the local IAM stand-in has no authorization rule for this call: {exc}", status
            )
        for authorization in needed:
            denial = self.check(principal, service, operation, authorization)
            if denial is not None:
                return denial
        return None

    def check(
        self, principal: Principal, service: str, operation: str, authorization: Authorization
    ) -> Denial | None:
        """Evaluate one authorization, record it, and give the service's error if it is denied."""
        assert self.resources is not None
        request = Request(
            authorization.action,
            authorization.resource,
            {**self._global_context(principal.caller, authorization.via), **authorization.context},
        )
        resource_arn = authorization.resource if authorization.resource != "*" else None
        applied = self.resources.resource_policy(resource_arn) if resource_arn else None
        decision = evaluate(
            principal.caller,
            request,
            principal.policies,
            applied.policy if applied else None,
            key_policy=bool(applied and applied.key_policy),
        )
        entry = TraceEntry(
            principal=principal.name,
            service=service,
            operation=operation,
            request=request,
            resource_policy=resource_arn if applied else None,
            key_policy=bool(applied and applied.key_policy),
            via=authorization.via,
            allowed=decision.allowed,
            deciding=decision.deciding.label if isinstance(decision.deciding, Statement) else None,
        )
        with self._lock:
            self._trace.append(entry)
        if decision.allowed:
            return None
        message = denial_message(principal.caller, request, decision)
        if authorization.via:
            code, status = _KMS_DENIED.get(service, ("AccessDeniedException", 400))
            return Denial(
                code,
                f"{message} (Service: AWSKMS; Status Code: 400; Error Code: AccessDeniedException)",
                status,
            )
        code, status = _DENIED.get(service, ("AccessDeniedException", 400))
        return Denial(code, message, status)

    def _global_context(self, caller: Caller, via: str | None) -> dict[str, str | list[str]]:
        """The global condition keys AWS adds to every request of an IAM principal."""
        now = time.time()
        context: dict[str, str | list[str]] = {
            "aws:PrincipalArn": caller.role_arn or caller.arn,
            "aws:PrincipalAccount": caller.account,
            "aws:PrincipalType": "AssumedRole" if caller.role_arn else "User",
            # The SDKs call AWS over TLS; the local endpoints speak plain HTTP, which is not what a policy sees.
            "aws:SecureTransport": "true",
            "aws:RequestedRegion": self.region,
            "aws:CurrentTime": datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "aws:EpochTime": str(int(now)),
            "aws:ViaAWSService": "true" if via else "false",
        }
        if via:
            context["aws:CalledVia"] = [via]
        return context

    # -- the record -------------------------------------------------------------------------------------------

    def trace(self) -> list[TraceEntry]:
        with self._lock:
            return list(self._trace)

    def answer_caller_identity(self, principal: Principal) -> bytes:
        """sts:GetCallerIdentity as STS answers it (it needs no permission): who the key belongs to."""
        caller = principal.caller
        session = caller.arn.rsplit("/", 1)[-1] if caller.role_arn else ""
        user_id = (
            f"AROA{principal.access_key_id[4:]}:{session}"
            if caller.role_arn
            else f"AIDA{principal.access_key_id[4:]}"
        )
        return (
            '<GetCallerIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">'
            f"<GetCallerIdentityResult><Arn>{escape(caller.arn)}</Arn><UserId>{escape(user_id)}</UserId>"
            f"<Account>{escape(caller.account)}</Account></GetCallerIdentityResult>"
            f"<ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>"
            "</GetCallerIdentityResponse>"
        ).encode()


def credential_of(headers: Any, query: Any) -> tuple[str, str] | None:
    """(access key id, signing name) from a SigV4 Authorization header or a presigned URL's X-Amz-Credential."""
    header = headers.get("Authorization") or headers.get("authorization") or ""
    match = _CREDENTIAL.search(header)
    if match:
        return match.group("key"), match.group("service")
    credential = query.get("X-Amz-Credential")
    if credential:
        parts = credential.split("/")
        if len(parts) == 5:
            return parts[0], parts[3]
    return None


def render(
    service: str, protocol: str, denial: Denial, *, head: bool = False
) -> tuple[int, list[tuple[str, str]], bytes]:
    """A denial as the service's protocol answers it: status, headers and body."""
    request_id = str(uuid.uuid4())
    headers = [("x-amzn-RequestId", request_id)]
    if protocol == "rest-xml":
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n<Error>'
            f"<Code>{escape(denial.code)}</Code><Message>{escape(denial.message)}</Message>"
            f"<RequestId>{request_id}</RequestId><HostId>{request_id}</HostId></Error>"
        ).encode()
        headers.append(("Content-Type", "application/xml"))
        return denial.status, headers, b"" if head else body
    if protocol in ("query", "ec2"):
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{escape(denial.code)}</Code><Message>{escape(denial.message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers.append(("Content-Type", "text/xml"))
        return denial.status, headers, body
    if protocol == "rest-json":
        headers += [("x-amzn-ErrorType", denial.code), ("Content-Type", "application/json")]
        return denial.status, headers, json.dumps({"Type": "User", "message": denial.message}).encode()
    # JSON 1.0 / 1.1 (DynamoDB, SQS, CloudWatch, EventBridge, KMS, Logs, SageMaker).
    error_type = denial.code
    if service in _QUERY_COMPATIBLE:
        headers.append(("x-amzn-query-error", f"{denial.code};Sender"))
        error_type = f"com.amazonaws.{service}#{denial.code}"
    headers.append(("Content-Type", "application/x-amz-json-1.1"))
    return denial.status, headers, json.dumps({"__type": error_type, "message": denial.message}).encode()


class _Answer(NamedTuple):
    status: str
    headers: list[tuple[str, str]]
    exc_info: Any
    chunks: list[bytes]


class GatedMoto:
    """WSGI middleware: the gate in front of moto's server application. With `object_events`, it also makes S3's
    "Object Created" events for the writes it lets through (retune_local.s3_events)."""

    def __init__(self, app: Any, gate: Gate, object_events: ObjectEvents | None = None) -> None:
        self.app, self.gate, self.object_events = app, gate, object_events

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        from moto.core.request import Request as MotoRequest  # noqa: PLC0415

        request = MotoRequest(environ)
        if request.path.startswith("/moto-api"):
            return self.app(environ, start_response)  # moto's own control API: the stack's, local only
        body = request.get_data(cache=True)
        found = credential_of(request.headers, request.args)
        signing = found[1] if found else _unsigned_service(request)
        service = SIGNING_NAMES.get(signing, signing)
        if service == "dynamodb" and request.headers.get("X-Amz-Target", "").startswith("DynamoDBStreams_"):
            service = "dynamodbstreams"  # DynamoDB Streams signs as "dynamodb"; its operations are its own
        who = self.gate.identify(service, found[0] if found else None)
        if isinstance(who, Denial):
            return self._deny(start_response, service, _protocol(service, request), who, request.method)
        parsed: tuple[str, str, dict[str, Any]] | None = None
        if not who.administrator or service in ("sts", "s3"):
            try:
                parsed = parse(service, request, body)
            except LookupError as exc:
                if not who.administrator:
                    unknown = Denial(
                        "AccessDenied",
                        f"the local IAM stand-in cannot tell which {service} operation this is: {exc}",
                        403,
                    )
                    return self._deny(
                        start_response, service, _protocol(service, request), unknown, request.method
                    )
        if parsed is not None:
            operation, protocol, params = parsed
            if service == "sts" and operation == "GetCallerIdentity":
                data = self.gate.answer_caller_identity(who)
                start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(data)))])
                return [data]
            denial = self.gate.authorize(who, service, operation, params)
            if denial is not None:
                return self._deny(start_response, service, protocol, denial, request.method)
        environ["wsgi.input"] = io.BytesIO(body)
        if parsed is not None and service == "s3" and parsed[0] in REASONS and self.object_events is not None:
            return self._write_with_event(environ, start_response, parsed[0], parsed[2])
        if parsed is not None and not who.administrator:
            hidden_unless = not_found_authorizations(
                service, parsed[0], parsed[2], region=self.gate.region, account=self.gate.account
            )
            if hidden_unless:
                return self._read_or_hide(environ, start_response, who, service, parsed, hidden_unless)
        return self.app(environ, start_response)

    def _read_or_hide(
        self,
        environ: dict[str, Any],
        start_response: Any,
        who: Principal,
        service: str,
        parsed: tuple[str, str, dict[str, Any]],
        hidden_unless: list[Authorization],
    ) -> list[bytes]:
        """S3 tells a caller that an object is missing (404) only when it may list the bucket; anyone else gets
        AccessDenied, as if the object existed and were forbidden."""
        answer = self._answer(environ)
        if answer.status.startswith("404"):
            operation, protocol, _ = parsed
            for authorization in hidden_unless:
                denial = self.gate.check(who, service, operation, authorization)
                if denial is not None:
                    return self._deny(start_response, service, protocol, denial, environ["REQUEST_METHOD"])
        start_response(answer.status, answer.headers, answer.exc_info)
        return answer.chunks

    def _write_with_event(
        self, environ: dict[str, Any], start_response: Any, operation: str, params: Mapping[str, Any]
    ) -> list[bytes]:
        """Run an object-creating write and make its event, both under the events' lock (sequencers in order)."""
        assert self.object_events is not None
        with self.object_events.lock:
            answer = self._answer(environ)
            if answer.status.startswith("2"):
                version = next((v for k, v in answer.headers if k.lower() == "x-amz-version-id"), None)
                self.object_events.created(
                    str(params["Bucket"]), str(params["Key"]), version, REASONS[operation]
                )
        start_response(answer.status, answer.headers, answer.exc_info)
        return answer.chunks

    def _answer(self, environ: dict[str, Any]) -> _Answer:
        """moto's whole answer, read before any of it is sent."""
        answered: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            answered.update(status=status, headers=headers, exc_info=exc_info)
            return lambda data: None

        result = self.app(environ, capture)
        try:
            chunks = list(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        return _Answer(str(answered["status"]), list(answered["headers"]), answered.get("exc_info"), chunks)

    @staticmethod
    def _deny(start_response: Any, service: str, protocol: str, denial: Denial, method: str) -> list[bytes]:
        status, headers, body = render(service, protocol, denial, head=method == "HEAD")
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{status} {'Forbidden' if status == 403 else 'Bad Request'}", headers)
        return [body]


def _unsigned_service(request: Any) -> str:
    target = request.headers.get("X-Amz-Target", "")
    return "dynamodb" if target.startswith("DynamoDB") else "s3"


def _protocol(service: str, request: Any) -> str:
    from moto.core.request import determine_request_protocol  # noqa: PLC0415
    from moto.core.utils import get_service_model  # noqa: PLC0415

    try:
        return determine_request_protocol(get_service_model(service), request.content_type)
    except Exception:  # noqa: BLE001 (an unknown service: answer in JSON)
        return "json"


def parse(service: str, request: Any, body: bytes) -> tuple[str, str, dict[str, Any]]:
    """The operation a request calls, its protocol and its parameters in botocore's shapes (moto's request router
    and parsers, which read botocore's service model)."""
    from moto.core.parse import PROTOCOL_PARSERS  # noqa: PLC0415
    from moto.core.request import determine_request_protocol  # noqa: PLC0415
    from moto.core.routing import get_service_router  # noqa: PLC0415
    from moto.core.utils import get_service_model  # noqa: PLC0415
    from werkzeug.exceptions import NotFound  # noqa: PLC0415

    try:
        model = get_service_model(service)
        operation, uri_params = get_service_router(service).match(request)
        protocol = determine_request_protocol(model, request.content_type)
    except (NotFound, NotImplementedError, KeyError) as exc:
        raise LookupError(f"no {service} operation matches {request.method} {request.path}") from exc
    params = PROTOCOL_PARSERS[protocol](operation).parse(
        {
            "method": request.method,
            "values": request.values,
            "headers": request.headers,
            "body": body,
            "url_path": request.path,
            "url_params": uri_params,
        }
    )
    return operation.name, protocol, dict(params)


def start_gated_moto(
    gate: Gate, object_events: ObjectEvents | None = None, host: str = "127.0.0.1", port: int = 0
) -> Any:
    """moto's server (as `ThreadedMotoServer` runs it) with the gate in front; returns the started server, which
    has `get_host_and_port()` and `stop()`."""
    from moto.moto_server.werkzeug_app import (  # noqa: PLC0415 (heavy; only the stack needs it)
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from moto.server import ThreadedMotoServer  # noqa: PLC0415
    from werkzeug.serving import make_server  # noqa: PLC0415

    class GatedMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:
            moto_app = LogStreamNamePrefix(
                DomainDispatcherApplication(create_backend_app), gate.account, gate.region
            )
            app = GatedMoto(moto_app, gate, object_events)
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
            self._server_ready_event.set()
            self._server.serve_forever()

    server = GatedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    return server
