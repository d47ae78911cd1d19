"""The HTTP server on its own: it serves any `Service` (not only LocalSageMaker), it is started by whoever holds the
service, and its IAM gate answers before the service is reached."""

from __future__ import annotations

import ast
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
from retune_local.errors import ServiceError
from retune_local.http import SageMakerHTTPServer
from retune_local.iam import principals
from retune_local.iam.gate import Gate

pytestmark = pytest.mark.local_stack

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "local" / "retune_local"
ACCOUNT = "123456789012"
# The modules that hold the service and its operations: none may import the transport, and it imports none.
SERVICE_MODULES = (
    "api",
    "training_jobs",
    "tuning_jobs",
    "registry",
    "hosting",
    "records",
    "tags",
    "seed",
    "checks",
)


class Recording:
    """A Service that records what reaches it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def handle(self, operation: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        self.calls.append((operation, dict(params or {})))
        if operation == "DescribeEndpoint":
            return {"EndpointName": (params or {})["EndpointName"], "EndpointStatus": "InService"}
        raise ServiceError("ValidationException", f"{operation} is not recorded")

    def seed_tuning_job(
        self, request: Mapping[str, Any], trials: Sequence[Mapping[str, Any]], *, events: bool = False
    ) -> dict[str, Any]:
        self.calls.append(("seed", {"request": dict(request), "trials": list(trials), "events": events}))
        return {"HyperParameterTuningJobStatus": "Completed"}


@pytest.fixture
def recording() -> Recording:
    return Recording()


@pytest.fixture
def server(recording: Recording) -> Iterator[SageMakerHTTPServer]:
    served = SageMakerHTTPServer(recording).start()
    yield served
    served.stop()


def post(url: str, target: str, body: dict[str, Any], key: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = {"X-Amz-Target": target, "Content-Type": "application/x-amz-json-1.1"}
    if key is not None:
        headers["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={key}/20240101/us-east-1/sagemaker/aws4_request, "
            "SignedHeaders=host, Signature=0"
        )
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def imported(module: str) -> set[str]:
    """Every module `module` imports (under TYPE_CHECKING and inside functions too)."""
    tree = ast.parse((PACKAGE / f"{module}.py").read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_http_server_serves_any_service_of_the_protocol(
    server: SageMakerHTTPServer, recording: Recording
) -> None:
    client = server.client()

    described = client.describe_endpoint(EndpointName="market")
    with pytest.raises(client.exceptions.ClientError) as refused:
        client.list_tags(ResourceArn="arn:aws:sagemaker:us-east-1:123456789012:endpoint/market")
    status, seeded = post(
        server.url, "RetuneLocal.SeedTuningJob", {"Request": {"a": 1}, "Trials": [{"b": 2}], "Events": True}
    )

    assert described["EndpointStatus"] == "InService"
    assert refused.value.response["Error"]["Code"] == "ValidationException"
    assert (status, seeded) == (200, {"HyperParameterTuningJobStatus": "Completed"})
    assert recording.calls == [
        ("DescribeEndpoint", {"EndpointName": "market"}),
        ("ListTags", {"ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/market"}),
        ("seed", {"request": {"a": 1}, "trials": [{"b": 2}], "events": True}),
    ]


def test_http_server_with_a_gate_answers_before_the_service(recording: Recording) -> None:
    """The local stack passes its gate to the server: an unsigned request, an unknown key and a caller that is not
    the administrator calling the local service's own operation are refused without reaching the service."""
    administrator = principals.administrator(ACCOUNT)
    someone = principals.role_principal("someone", {}, f"arn:aws:iam::{ACCOUNT}:role/someone", (), ACCOUNT)
    gate = Gate([administrator, someone], region="us-east-1", account=ACCOUNT)
    server = SageMakerHTTPServer(recording, gate=gate).start()
    try:
        unsigned = post(server.url, "SageMaker.DescribeEndpoint", {"EndpointName": "market"})
        unknown = post(
            server.url, "SageMaker.DescribeEndpoint", {"EndpointName": "market"}, key="AKIAUNKNOWN"
        )
        seeding = post(server.url, "RetuneLocal.SeedTuningJob", {"Request": {}}, key=someone.access_key_id)
        allowed = post(
            server.url,
            "SageMaker.DescribeEndpoint",
            {"EndpointName": "market"},
            key=administrator.access_key_id,
        )
    finally:
        server.stop()

    assert unsigned[1]["__type"] == "MissingAuthenticationTokenException"
    assert unknown[1]["__type"] == "UnrecognizedClientException"
    assert seeding[1]["__type"] == "AccessDeniedException"
    assert allowed == (200, {"EndpointName": "market", "EndpointStatus": "InService"})
    assert recording.calls == [("DescribeEndpoint", {"EndpointName": "market"})]


def test_http_server_and_the_service_do_not_import_each_other() -> None:
    """The server depends on its `Service` protocol only; the service and its operations know no transport."""
    server_imports = imported("http")
    assert not {f"retune_local.{m}" for m in SERVICE_MODULES} & server_imports
    for module in SERVICE_MODULES:
        assert "retune_local.http" not in imported(module), module


def test_python_m_retune_local_sagemaker_serves_until_terminated(tmp_path: Path) -> None:
    """The command starts the HTTP server for its service and prints the URL first; SIGTERM stops both."""
    environment = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(str(ROOT / p) for p in (".", "layers/core", "local")),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "retune_local", "sagemaker", "--state-dir", str(tmp_path / "state")],
        stdout=subprocess.PIPE,
        text=True,
        env=environment,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        status, body = post(
            url, "SageMaker.DescribeHyperParameterTuningJob", {"HyperParameterTuningJobName": "x"}
        )
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=30)

    assert (status, body["__type"]) == (400, "ResourceNotFound")
    assert code == 0
