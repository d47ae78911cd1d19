"""`retune redrive`: replay the events parked on the functions' on-failure queues and the rules' dead-letter queues.

Where events park:
- `<Function>OnFailureQueue`: Lambda's destination record after an asynchronous invocation failed with all its
  retries; its `requestPayload` is the original event, `responsePayload` the error;
- `<Function>RuleDLQ`: the event itself, when EventBridge could not deliver it to the function at all (throttled,
  a missing permission), with ERROR_CODE and ERROR_MESSAGE as message attributes.

How they are replayed: each event goes back to the one function that should have handled it, as an asynchronous
invocation with the original payload. In AWS that is `lambda:Invoke` with InvocationType `Event`; PutEvents cannot
do it, because EventBridge refuses `aws.*` sources from PutEvents (S3's and SageMaker's events are `aws.s3` and
`aws.sagemaker`) and would deliver the event to every matching rule again. The invocation gets Lambda's retries
and, if it fails again, its on-failure destination parks it again as a new message. Locally it is the same through
the local stack's Lambda runtime (retune_local): the function's own worker process, environment and code, Lambda's
two retries and the on-failure queue; there the command also waits and reports how the invocation ended.

A message is deleted once its invocation was accepted (AWS) or has ended (locally; a failure parked it again);
a message that cannot be read stays where it is.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from retune.adapters.errors import translated

from retune_cli.context import Context
from retune_cli.output import clip, emit_json, table
from retune_cli.target import FUNCTIONS

VISIBILITY_SECONDS = 300  # long enough to replay what was read before anyone else sees it again
Kind = Literal["on-failure", "dead-letter"]


@dataclass
class Parked:
    queue: str  # the queue's logical id
    url: str
    function: str  # the function's logical id
    kind: Kind
    message_id: str
    receipt: str
    event: dict[str, Any] | None
    error: str
    result: str = ""
    ok: bool = False

    def about(self) -> str:
        """What the event is, in a few words: its detail-type and the name it is about."""
        if self.event is None:
            return "(unreadable message)"
        detail = self.event.get("detail") or {}
        name = (
            (detail.get("object") or {}).get("key")
            or detail.get("HyperParameterTuningJobName")
            or detail.get("TrainingJobName")
            or detail.get("ModelPackageArn")
            or detail.get("EndpointName")
            or (f"{detail['profile']}/{detail.get('drop_id')}" if "profile" in detail else None)
        )
        kind = str(self.event.get("detail-type") or self.event.get("source") or "event")
        return f"{kind}: {name}" if name else kind

    def as_json(self) -> dict[str, Any]:
        return {
            "queue": self.queue,
            "function": self.function,
            "kind": self.kind,
            "message_id": self.message_id,
            "event": self.event,
            "error": self.error,
            "result": self.result,
            "ok": self.ok,
        }


def _read(queue: str, url: str, function: str, kind: Kind, message: dict[str, Any]) -> Parked:
    try:
        body = json.loads(message["Body"])
    except ValueError:
        body = None
    event: dict[str, Any] | None = None
    error = ""
    if isinstance(body, dict) and kind == "on-failure" and isinstance(body.get("requestPayload"), dict):
        event = body["requestPayload"]
        response = body.get("responsePayload") or {}
        if isinstance(response, dict) and response.get("errorType"):
            error = f"{response.get('errorType')}: {response.get('errorMessage')}"
        else:
            error = str((body.get("requestContext") or {}).get("condition") or "")
    elif isinstance(body, dict) and kind == "dead-letter" and "detail-type" in body:
        event = body
        attributes = message.get("MessageAttributes") or {}
        error = " ".join(
            str((attributes.get(k) or {}).get("StringValue", "")) for k in ("ERROR_CODE", "ERROR_MESSAGE")
        ).strip()
    return Parked(queue, url, function, kind, message["MessageId"], message["ReceiptHandle"], event, error)


def collect(ctx: Context, limit: int) -> list[Parked]:
    """Read (and hide for a while) up to `limit` parked messages from every queue."""
    sqs = ctx.client("sqs")
    wait = 0 if ctx.target.local else 1  # SQS's short poll may miss messages; a one-second long poll does not
    found: list[Parked] = []
    for function in FUNCTIONS:
        for queue, kind in (
            (f"{function}OnFailureQueue", "on-failure"),
            (f"{function}RuleDLQ", "dead-letter"),
        ):
            url = ctx.target.resource(queue)
            with translated("sqs"):
                depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            if not int(depth.get("Attributes", {}).get("ApproximateNumberOfMessages", 0)):
                continue
            seen: set[str] = set()
            while len(found) < limit:
                with translated("sqs"):
                    messages = sqs.receive_message(
                        QueueUrl=url,
                        MaxNumberOfMessages=min(10, limit - len(found)),
                        VisibilityTimeout=VISIBILITY_SECONDS,
                        WaitTimeSeconds=wait,
                        MessageAttributeNames=["All"],
                    ).get("Messages", [])
                fresh = [m for m in messages if m["MessageId"] not in seen]
                if not fresh:
                    break
                for message in fresh:
                    seen.add(message["MessageId"])
                    found.append(_read(queue, url, f"{function}Function", kind, message))  # type: ignore[arg-type]
    return found


class Invoker(Protocol):
    def invoke(self, parked: Parked) -> tuple[bool, bool, str]:
        """(delete the message, the replay succeeded, what happened)."""
        ...

    def close(self) -> None: ...


class LambdaInvoker:
    """AWS: lambda:Invoke, InvocationType Event, with the original event as the payload."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._client = ctx.client("lambda")

    def invoke(self, parked: Parked) -> tuple[bool, bool, str]:
        name = self._ctx.target.resource(parked.function)
        with translated("lambda"):
            response = self._client.invoke(
                FunctionName=name, InvocationType="Event", Payload=json.dumps(parked.event).encode()
            )
        accepted = int(response.get("StatusCode", 0)) == 202
        return (
            accepted,
            accepted,
            "invoked (Event)" if accepted else f"Invoke answered {response.get('StatusCode')}",
        )

    def close(self) -> None:
        return None


class LocalInvoker:
    """The local stack: the function in the local Lambda runtime, with Lambda's retries and on-failure queue."""

    def __init__(self, ctx: Context) -> None:
        from retune_local.stack import Endpoints  # noqa: PLC0415
        from retune_local.template import functions, load_template  # noqa: PLC0415

        assert ctx.target.endpoints_file is not None
        self._endpoints = Endpoints.read(ctx.target.endpoints_file)
        template = load_template()
        self._specs = functions(template, self._endpoints.resolver(template))
        self._runtimes: dict[str, Any] = {}

    def _runtime(self, logical_id: str) -> Any:
        from retune_local.lambda_runtime import FunctionRuntime  # noqa: PLC0415
        from retune_local.stack import function_environment  # noqa: PLC0415

        if logical_id not in self._runtimes:
            spec = self._specs[logical_id]
            name = self._endpoints.resources.get(logical_id, logical_id)
            self._runtimes[logical_id] = FunctionRuntime(
                spec, function_environment(spec, self._endpoints, {}, name), on_failure=self._park
            )
        return self._runtimes[logical_id]

    def _park(self, spec: Any, event: dict[str, Any], outcome: Any) -> None:
        """Lambda's on-failure destination, as the local stack does it: sent with the function's role."""
        import boto3  # noqa: PLC0415
        from retune_local.lambda_runtime import failure_record  # noqa: PLC0415
        from retune_local.stack import ACCOUNT  # noqa: PLC0415

        if spec.on_failure and spec.on_failure in self._endpoints.resources:
            record = failure_record(spec, event, outcome, self._endpoints.region, ACCOUNT)
            keys = self._endpoints.credentials[spec.logical_id]
            sqs = boto3.client(
                "sqs",
                endpoint_url=self._endpoints.aws,
                region_name=self._endpoints.region,
                aws_access_key_id=keys["AWS_ACCESS_KEY_ID"],
                aws_secret_access_key=keys["AWS_SECRET_ACCESS_KEY"],
                aws_session_token=keys["AWS_SESSION_TOKEN"],
            )
            sqs.send_message(
                QueueUrl=self._endpoints.resources[spec.on_failure],
                MessageBody=json.dumps(record, default=str),
            )

    def invoke(self, parked: Parked) -> tuple[bool, bool, str]:
        runtime = self._runtime(parked.function)
        finished = threading.Event()
        outcomes: list[Any] = []

        def done(attempts: list[Any]) -> None:
            outcomes.extend(attempts)
            finished.set()

        runtime.invoke_async(parked.event, done)
        spec = runtime.spec
        if not finished.wait(timeout=float(spec.timeout) * (spec.max_retries + 1) + 30):
            return False, False, "no answer from the local runtime; left on the queue"
        last = outcomes[-1]
        if last.ok:
            return True, True, f"ok ({len(outcomes)} attempt(s))"
        error = last.error or {}
        return (
            True,
            False,
            f"failed again after {len(outcomes)} attempts ({error.get('errorType')}: "
            f"{error.get('errorMessage')}); parked again",
        )

    def close(self) -> None:
        for runtime in self._runtimes.values():
            runtime.close()


def redrive(ctx: Context) -> int:
    parked = collect(ctx, ctx.args.max)
    sqs = ctx.client("sqs")
    invoker: Invoker | None = None
    if not ctx.args.dry_run and any(p.event is not None for p in parked):
        invoker = LocalInvoker(ctx) if ctx.target.local else LambdaInvoker(ctx)
    try:
        for p in parked:
            if p.event is None or invoker is None:
                if p.event is None:
                    p.result = "unreadable: left on the queue"
                else:
                    p.result, p.ok = "would replay", True
                with translated("sqs"):  # visible again at once
                    sqs.change_message_visibility(
                        QueueUrl=p.url, ReceiptHandle=p.receipt, VisibilityTimeout=0
                    )
                continue
            delete, p.ok, p.result = invoker.invoke(p)
            if delete:
                with translated("sqs"):
                    sqs.delete_message(QueueUrl=p.url, ReceiptHandle=p.receipt)
    finally:
        if invoker is not None:
            invoker.close()
    failed = [p for p in parked if not p.ok]
    if ctx.json:
        emit_json({"dry_run": bool(ctx.args.dry_run), "events": [p.as_json() for p in parked]})
        return 1 if failed else 0
    if not parked:
        print("no parked events")
        return 0
    rows = [[p.queue, clip(p.about(), 72), clip(p.error or "-", 60), p.function, p.result] for p in parked]
    print(table(["QUEUE", "EVENT", "ERROR", "FUNCTION", "RESULT"], rows))
    verb = "would replay" if ctx.args.dry_run else "replayed"
    print(
        f"\n{len(parked) - len(failed)} of {len(parked)} {verb}" + (f"; {len(failed)} not" if failed else "")
    )
    return 1 if failed else 0
