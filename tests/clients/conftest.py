"""AWS's own clients against the local SageMaker: the SageMaker Python SDK (v2 and v3) and the AWS CLI, each in a
venv of its own (they pin their own boto3; `make test-clients` builds them from tools/clients-*-requirements.txt).

The test process starts what a user points their tools at: moto's server for S3, CloudWatch, CloudWatch Logs and
STS, and the local SageMaker over HTTP, both behind the IAM gate as the local stack has them. The clients sign with
the administrator's credentials and find the services through `AWS_ENDPOINT_URL` and `AWS_ENDPOINT_URL_SAGEMAKER`;
jobs run as an execution role that trusts sagemaker.amazonaws.com and has the permissions AWS's documentation lists
for CreateTrainingJob. Each client runs as a subprocess (a flow script under tests/clients/, or the `aws` command)
and prints JSON the test asserts on.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from retune_local import ImageSpec, LocalSageMaker
from retune_local.http import SageMakerHTTPServer
from retune_local.iam import principals
from retune_local.iam.gate import Gate, start_gated_moto
from retune_local.iam.resources import StackResources
from retune_local.stack import Endpoints, _JobRoles
from retune_local.template import Resolver

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
CURVE = ROOT / "tests" / "local_sagemaker" / "trainers" / "curve.py"
REGION = "us-east-1"
ACCOUNT = "123456789012"
IMAGE = f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/retune-curve:latest"
ROLE_NAME = "retune-clients-sagemaker"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/{ROLE_NAME}"
# The SageMaker SDK's default bucket: sagemaker-<region>-<account>.
BUCKET = f"sagemaker-{REGION}-{ACCOUNT}"
SECONDS_PER_EPOCH = 10.0

pytestmark = pytest.mark.local_stack

# An execution role as a user makes one: trusted by SageMaker, with the permissions the developer guide lists for
# CreateTrainingJob (metrics, logs, the data and output buckets).
EXECUTION_ROLE_TEMPLATE: dict[str, Any] = {
    "Resources": {
        "ExecutionRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "RoleName": ROLE_NAME,
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "sagemaker.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "training",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {
                                    "Effect": "Allow",
                                    "Action": [
                                        "cloudwatch:PutMetricData",
                                        "logs:CreateLogStream",
                                        "logs:PutLogEvents",
                                        "logs:CreateLogGroup",
                                        "logs:DescribeLogStreams",
                                    ],
                                    "Resource": "*",
                                },
                                {
                                    "Effect": "Allow",
                                    "Action": ["s3:GetObject", "s3:PutObject"],
                                    "Resource": "arn:aws:s3:::sagemaker-*/*",
                                },
                                {
                                    "Effect": "Allow",
                                    "Action": "s3:ListBucket",
                                    "Resource": "arn:aws:s3:::sagemaker-*",
                                },
                            ],
                        },
                    }
                ],
            },
        }
    }
}


@dataclass
class ClientStack:
    """The running services, and what a client process needs to reach them."""

    sagemaker: LocalSageMaker
    endpoints: Endpoints
    gate: Gate
    tmp: Path

    def environment(self, **extra: str) -> dict[str, str]:
        """A client's environment: the administrator's credentials and the local endpoints, nothing else of AWS
        (no profile, no config file: what a fresh machine has)."""
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "SYSTEMROOT", "TMPDIR")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(self.endpoints.environment())
        env.update(
            {
                "AWS_CONFIG_FILE": str(self.tmp / "aws-config"),  # absent: no profile of the machine leaks in
                "AWS_SHARED_CREDENTIALS_FILE": str(self.tmp / "aws-credentials"),
                "AWS_EC2_METADATA_DISABLED": "true",
                "PYTHONUNBUFFERED": "1",
                "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
            }
        )
        env.update(extra)
        return env

    def admin(self, service: str) -> Any:
        """A boto3 client of the shared venv, as the administrator: to set up and to check what a client did."""
        from retune_local.stack import client  # noqa: PLC0415

        return client(service, self.endpoints)


def venv_python(name: str) -> Path:
    """A client venv's interpreter; `make test-clients` (or, for the AWS CLI, `make test`) builds it."""
    python = ROOT / ".venv-tools" / f"clients-{name}" / "bin" / "python"
    if not (ROOT / ".venv-tools" / f"clients-{name}" / ".installed").exists():
        pytest.fail(
            f"the venv .venv-tools/clients-{name} is not built: run `make test-clients` (it builds it from "
            f"tools/clients-{name}-requirements.txt)"
        )
    return python


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClientStack]:
    tmp = tmp_path_factory.mktemp("clients")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request otherwise
    administrator = principals.administrator(ACCOUNT)
    gate = Gate([administrator], region=REGION, account=ACCOUNT)
    moto = start_gated_moto(gate)
    host, port = moto.get_host_and_port()
    aws_url = f"http://{host}:{port}"
    placeholder = Endpoints(REGION, aws_url, "")
    resolver = Resolver(EXECUTION_ROLE_TEMPLATE, REGION, ACCOUNT, "clients")
    roles = principals.deployed_roles(EXECUTION_ROLE_TEMPLATE, resolver)
    sagemaker = LocalSageMaker(
        tmp / "sagemaker",
        {"retune-curve": ImageSpec.python(str(CURVE), seconds_per_epoch=SECONDS_PER_EPOCH)},
        region=REGION,
        account_id=ACCOUNT,
        roles=_JobRoles(gate, placeholder),
    )
    gate.install(roles.values(), StackResources({}, resolver, sagemaker.resource_tags))
    server = SageMakerHTTPServer(sagemaker, gate=gate).start()
    endpoints = Endpoints(REGION, aws_url, server.url)
    try:
        yield ClientStack(sagemaker, endpoints, gate, tmp)
    finally:
        server.stop()
        sagemaker.close()
        moto.stop()


def run_flow(
    stack: ClientStack,
    venv: str,
    script: str,
    flow: str,
    args: Mapping[str, Any] | None = None,
    timeout: float = 300.0,
    env: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Run `script flow '<json args>'` with a client venv's Python; the script prints one JSON object as its last
    line of stdout. A failure shows the client's own output."""
    completed = subprocess.run(
        [str(venv_python(venv)), str(HERE / script), flow, json.dumps(dict(args or {}))],
        capture_output=True,
        text=True,
        env=stack.environment(**(env or {})),
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        pytest.fail(
            f"{script} {flow} exited {completed.returncode}\n--- stdout\n{completed.stdout[-6000:]}\n"
            f"--- stderr\n{completed.stderr[-6000:]}"
        )
    lines = completed.stdout.strip().splitlines()
    result: dict[str, Any] = json.loads(lines[-1])
    result["_stdout"] = completed.stdout
    result["_stderr"] = completed.stderr
    return result


__all__ = ["ACCOUNT", "BUCKET", "IMAGE", "REGION", "ROLE", "ClientStack", "run_flow", "venv_python"]
