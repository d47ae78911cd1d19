"""The local stack: moto's server for S3, DynamoDB, SNS, SQS, CloudWatch, EventBridge and KMS, the local SageMaker
service, and the event router delivering to the functions of template.yaml, all on 127.0.0.1.

retune's data and messaging resources (the bucket, the tables, the topic, the queues, the KMS key) are created in
moto from template.yaml. The rules and functions are not: moto's EventBridge cannot deliver to Lambda targets, and
once such a rule exists it silently drops S3's events. Instead one rule sends retune's own events to a capture queue
that the router drains; S3's "Object Created" events are made by the gate in S3's own shape (retune_local.s3_events;
moto's are not) and the local SageMaker's by the service, both handed to the router directly.

IAM is enforced (retune_local.iam): every request to moto's server and to the local SageMaker is signed with a
principal's key and authorized against that principal's policies. Each function runs with its own role's credentials,
as the SAM-transformed template defines the role; SageMaker reads and writes a job's data as its execution role; the
stack's own set-up and the Python API below act as an administrator; `principal("cli")` is the retune CLI, with the
policy its documentation states.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from retune_local import snapshot
from retune_local.api import LocalSageMaker
from retune_local.http import SageMakerHTTPServer
from retune_local.iam import principals as iam_principals
from retune_local.iam.gate import Gate, start_gated_moto
from retune_local.iam.principals import Principal
from retune_local.iam.resources import StackResources
from retune_local.images import ImageSpec
from retune_local.lambda_runtime import FunctionRuntime, Outcome, failure_record
from retune_local.mlflow_server import MLFLOW, MLflowServer
from retune_local.router import Router
from retune_local.s3_events import ObjectEvents
from retune_local.snapshot import Contents
from retune_local.streams import (
    StreamMapping,
    StreamPoller,
    batches,
    lambda_record,
    read_stream,
    shuffled_with_duplicates,
    stream_mappings,
)
from retune_local.template import (
    ROOT,
    TEMPLATE,
    FunctionSpec,
    Resolver,
    functions,
    load_template,
    transformed,
)

log = logging.getLogger(__name__)

REGION = "us-east-1"
ACCOUNT = "123456789012"
CAPTURE_QUEUE = "retune-local-eventbridge-capture"
ALERTS_INBOX = "retune-local-alerts-inbox"
ADMINISTRATOR = iam_principals.administrator(ACCOUNT)
# The template parameter that names the tracking server (empty: no Track function); with tracking on, the stack
# gives it its own MLflow server's URI.
TRACKING_PARAMETER = "TrackingServer"


def tracking_available(template_path: Path = TEMPLATE) -> bool:
    """Tracking's default (the demo, `serve`): on once the template has the tracking server parameter (its Track
    function) and the mlflow venv exists (`make mlflow-venv`)."""
    return MLFLOW.exists() and TRACKING_PARAMETER in (load_template(template_path).get("Parameters") or {})


def _config() -> Config:
    return Config(retries={"mode": "standard", "max_attempts": 3})


@dataclass
class Endpoints:
    region: str
    aws: str  # moto's server, every service but SageMaker
    sagemaker: str
    resources: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)  # "LogicalId.Attribute" → what Fn::GetAtt gives
    # principal name ("administrator", "cli", a function's logical id) → its AWS_* credential variables
    credentials: dict[str, dict[str, str]] = field(default_factory=dict)
    tracking_server: str | None = None  # the local MLflow server's URI, when tracking is on

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "region": self.region,
            "endpoints": {
                name: self.aws
                for name in (
                    "s3",
                    "dynamodb",
                    "dynamodbstreams",
                    "sns",
                    "sqs",
                    "cloudwatch",
                    "events",
                    "kms",
                    "logs",
                    "sts",
                )
            }
            | {"sagemaker": self.sagemaker},
            "resources": self.resources,
            "attributes": self.attributes,
            "credentials": self.credentials,
        }
        if self.tracking_server:
            out["tracking_server"] = self.tracking_server
        return out

    def environment(self, principal: str = iam_principals.ADMINISTRATOR) -> dict[str, str]:
        """What a process needs to reach the local services with unmodified boto3 code, as `principal`."""
        if principal == iam_principals.ADMINISTRATOR and principal not in self.credentials:
            keys = ADMINISTRATOR.environment()
        elif principal in self.credentials:
            keys = self.credentials[principal]
        else:
            raise KeyError(
                f"the local stack has no principal {principal!r}; it has {sorted(self.credentials)}"
            )
        return {
            **keys,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_ENDPOINT_URL": self.aws,
            "AWS_ENDPOINT_URL_SAGEMAKER": self.sagemaker,
        }

    @classmethod
    def read(cls, path: Path) -> Endpoints:
        data = json.loads(path.read_text())
        return cls(
            data["region"],
            data["endpoints"]["s3"],
            data["endpoints"]["sagemaker"],
            data["resources"],
            data.get("attributes", {}),
            data.get("credentials", {}),
            data.get("tracking_server"),
        )

    def resolver(self, template: dict[str, Any], stack_name: str = "retune-local") -> Resolver:
        """A resolver that gives this running stack's names to `Ref` and `Fn::GetAtt`."""
        resolver = Resolver(template, self.region, ACCOUNT, stack_name)
        if self.tracking_server and TRACKING_PARAMETER in resolver.parameters:
            resolver.parameters[TRACKING_PARAMETER] = self.tracking_server  # the stack ran with tracking on
        resolver.physical.update(self.resources)
        for key, value in self.attributes.items():
            lid, _, attribute = key.partition(".")
            resolver.attributes[(lid, attribute)] = value
        return resolver


def client(service: str, endpoints: Endpoints, principal: Principal = ADMINISTRATOR) -> Any:
    """A boto3 client of a local service, signed as `principal` (the administrator unless told)."""
    url = endpoints.sagemaker if service == "sagemaker" else endpoints.aws
    return boto3.client(  # type: ignore[call-overload]
        service,
        endpoint_url=url,
        region_name=endpoints.region,
        config=_config(),
        **principal.client_credentials(),
    )


def _reset_moto(url: str) -> None:
    import urllib.request  # noqa: PLC0415

    request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


class _JobRoles:
    """The roles SageMaker may assume for a job in this stack (retune_local.context.JobRoles): those whose trust
    policy names sagemaker.amazonaws.com."""

    def __init__(self, gate: Gate, endpoints: Endpoints) -> None:
        self._gate, self._endpoints = gate, endpoints
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def _session(self, role_arn: str) -> Principal | None:
        return next(
            (
                p
                for p in self._gate.principals.values()
                if p.service == "sagemaker.amazonaws.com" and p.caller.role_arn == role_arn
            ),
            None,
        )

    def assumable(self, role_arn: str) -> bool:
        return self._session(role_arn) is not None

    def client(self, role_arn: str, service: str) -> Any:
        with self._lock:
            if (role_arn, service) not in self._clients:
                session = self._session(role_arn)
                if session is None:
                    raise LookupError(f"SageMaker cannot assume {role_arn}")
                self._clients[(role_arn, service)] = client(service, self._endpoints, session)
            return self._clients[(role_arn, service)]

    def environment(self, role_arn: str) -> dict[str, str]:
        session = self._session(role_arn)
        if session is None:
            return {}
        return {
            **session.environment(),
            "AWS_DEFAULT_REGION": self._endpoints.region,
            "AWS_REGION": self._endpoints.region,
            "AWS_ENDPOINT_URL": self._endpoints.aws,
        }


def function_environment(
    spec: FunctionSpec, endpoints: Endpoints, overrides: Mapping[str, Mapping[str, str]], function_name: str
) -> dict[str, str]:
    """A function's environment as Lambda gives it: the template's variables, `env.json`'s overrides (its
    "Parameters" for every function, then the function's own), the local endpoints, and its role's credentials."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TZ", "SYSTEMROOT")}
    env.update(spec.environment)
    env.update(overrides.get("Parameters", {}))
    env.update(overrides.get(spec.logical_id, {}))
    env.update(endpoints.environment(spec.logical_id))
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": function_name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "RETUNE_LOCAL_ACCOUNT": ACCOUNT,
        }
    )
    return env


class LocalStack:
    """Everything the deployed handlers need, on one machine. Use as a context manager.

    images: TrainingImage name → ImageSpec or argv for the local SageMaker.
    env_overrides: `env.json`'s shape ({"Parameters": {...}, "<LogicalId>": {...}}), applied over the template's.
    deterministic: the local SageMaker's deterministic mode (fixed event order, virtual clock).
    persist: keep moto's state across restarts: restore it from `state_dir` on start (where a stack that persisted
    left it) and save it there on close (retune_local.snapshot); the local SageMaker's state is kept there anyway.
    tracking: run MLflow's tracking server (retune_local.mlflow_server; its database under `state_dir/mlflow`, kept
    with it) and give its URI to the template's TrackingServer parameter. Every event source mapping of a table's
    stream that the template enables is polled as Lambda polls it (retune_local.streams), tracking or not.
    """

    def __init__(
        self,
        state_dir: Path | str,
        images: Mapping[str, ImageSpec | Sequence[str]] | None = None,
        *,
        event_log: Path | None = None,
        env_overrides: Mapping[str, Mapping[str, str]] | None = None,
        deterministic: bool = True,
        template_path: Path = TEMPLATE,
        stack_name: str = "retune-local",
        sagemaker_options: Mapping[str, Any] | None = None,
        physical_names: Mapping[str, str] | None = None,
        persist: bool = False,
        tracking: bool = False,
    ) -> None:
        self.state_dir = Path(state_dir).absolute()  # jobs run in their own directories: no relative paths
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.template = load_template(template_path)
        self._template_path = template_path
        self.stack_name = stack_name
        self.event_log = event_log
        self._images = dict(images or {})
        self._env_overrides = {k: dict(v) for k, v in (env_overrides or {}).items()}
        self._deterministic = deterministic
        self._sagemaker_options = dict(sagemaker_options or {})
        self._names = dict(physical_names or {})  # e.g. the names events/env.json uses
        self.persist = persist
        self._opened = False  # this stack marked state_dir as in use (persist): close saves and unmarks it
        self._contents = Contents({}, {})
        self._routing = threading.Event()  # set once the router delivers events
        self._moto: Any = None
        self.sagemaker: LocalSageMaker | None = None
        self._sagemaker_http: SageMakerHTTPServer | None = None
        self.router: Router | None = None
        self.runtimes: dict[str, FunctionRuntime] = {}
        self.resolver = Resolver(self.template, REGION, ACCOUNT, stack_name)
        self.endpoints: Endpoints | None = None
        self.functions: dict[str, FunctionSpec] = {}
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.on_failure_records: list[dict[str, Any]] = []
        self.gate = Gate([ADMINISTRATOR], region=REGION, account=ACCOUNT)
        self._transformed: dict[str, Any] = {}
        self.iam_resolver = self.resolver
        self.tracking = tracking
        self.mlflow: MLflowServer | None = None
        self.pollers: dict[str, StreamPoller] = {}
        self.stream_drain_timeout = 120.0  # how long close() lets the pollers catch up with the stream

    # -- lifecycle ---------------------------------------------------------------------------------------------

    def start(self) -> LocalStack:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request otherwise
        # Before anything is created: a state directory that cannot be restored fails here, naming the fix.
        saved = snapshot.check(self.state_dir) if self.persist else None
        if self.tracking:
            # It boots while the rest of the stack starts (tens of seconds on a busy machine); ready before the
            # stream's first batch.
            self.mlflow = MLflowServer(self.state_dir).launch()
            if TRACKING_PARAMETER in (self.template.get("Parameters") or {}):
                self.resolver.parameters[TRACKING_PARAMETER] = self.mlflow.url
        self.object_events = ObjectEvents(self._on_object_created, REGION, ACCOUNT)
        self._moto = start_gated_moto(self.gate, self.object_events)
        host, port = self._moto.get_host_and_port()
        aws_url = f"http://{host}:{port}"
        # moto's backends live in this process: a stack started before in it would leave its resources behind.
        _reset_moto(aws_url)
        placeholder = Endpoints(REGION, aws_url, "")
        self._create_resources(placeholder)
        positions: dict[str, dict[str, str]] = {}
        if saved is not None:
            # Before the router exists: restoring the bucket's objects starts no round.
            snapshot.restore(
                saved, self._contents, self._admin_clients(placeholder), self._queue_urls(), ACCOUNT
            )
            # Restoring the tables wrote their items to the streams again: records delivered before the last
            # stop. An event source mapping keeps its checkpoint, so the pollers start after them.
            positions = self._stream_ends(placeholder)
        if self.persist:
            snapshot.mark_open(self.state_dir)
            self._opened = True
        principals = self._principals()
        # SageMaker reads a job's data and writes its model and metrics as the job's execution role.
        self.sagemaker = LocalSageMaker(
            self.state_dir / "sagemaker",
            self._images,
            sink=self._on_sagemaker_event,
            deterministic=self._deterministic,
            region=REGION,
            account_id=ACCOUNT,
            roles=_JobRoles(self.gate, placeholder),
            **self._sagemaker_options,
        )
        resources = StackResources(self._transformed, self.iam_resolver, self.sagemaker.resource_tags)
        self.gate.install(principals.values(), resources)
        self._sagemaker_http = SageMakerHTTPServer(self.sagemaker, gate=self.gate).start()
        self.endpoints = Endpoints(
            REGION,
            aws_url,
            self._sagemaker_http.url,
            self._resource_names(),
            self._attributes(),
            {name: p.environment() for name, p in self.gate.principals.items()},
            self.mlflow.url if self.mlflow is not None else None,
        )
        self.functions = functions(self.template, self.resolver)
        logs = self.state_dir / "logs"
        logs.mkdir(exist_ok=True)
        for logical_id, spec in self.functions.items():
            self.runtimes[logical_id] = FunctionRuntime(
                spec, self.function_environment(spec), on_failure=self._park, log_dir=logs
            )
        self.router = Router(self.functions, self.runtimes, self.event_log, REGION, ACCOUNT)
        self._routing.set()
        poller = threading.Thread(target=self._drain_capture_queue, name="capture-queue", daemon=True)
        poller.start()
        self._threads.append(poller)
        if self.mlflow is not None:
            self.mlflow.wait_ready()
        self._start_stream_pollers(positions)
        return self

    def _principals(self) -> dict[str, Principal]:
        """The functions' and the SageMaker execution role's principals, as the SAM-transformed template defines
        their roles, and the CLI's, resolved against this stack's names."""
        self._transformed = transformed(self._template_path)
        self.iam_resolver = Resolver(self._transformed, REGION, ACCOUNT, self.stack_name)
        self.iam_resolver.parameters.update(self.resolver.parameters)
        self.iam_resolver.physical.update(self.resolver.physical)
        self.iam_resolver.attributes.update(self.resolver.attributes)
        self.iam_resolver.name_everything()  # the roles, rules and configs SAM generated
        principals = iam_principals.template_principals(self._transformed, self.iam_resolver)
        principals[iam_principals.CLI] = iam_principals.cli(self.iam_resolver)
        return principals

    def principal(self, name: str) -> Principal:
        """A principal of this stack: "administrator", "cli", a function's logical id, "SageMakerExecutionRole"."""
        return self.gate.principals[name]

    def deploy_roles(
        self, template_path: Path, parameters: Mapping[str, str], stack_name: str
    ) -> dict[str, str]:
        """Create the roles of a plain CloudFormation template in this stack's account, as deploying it as stack
        `stack_name` would (e.g. roles/profile-role.yaml, a role per profile). Returns each role's ARN by logical
        id."""
        template = load_template(template_path)
        resolver = Resolver(template, REGION, ACCOUNT, stack_name, parameters=dict(parameters))
        deployed = iam_principals.deployed_roles(template, resolver)
        self.gate.install(deployed.values(), None)
        return {name.split("/", 1)[1]: str(p.caller.role_arn) for name, p in deployed.items()}

    def close(self) -> None:
        # The stream's last records reach their function while everything it calls still runs.
        for name, stream_poller in self.pollers.items():
            if not stream_poller.wait_drained(self.stream_drain_timeout):
                log.warning("%s: stream records left undelivered at stop", name)
            stream_poller.stop()
        self._stop.set()
        try:
            if self._sagemaker_http is not None:
                self._sagemaker_http.stop()
            if self.sagemaker is not None:
                self.sagemaker.close()
            for thread in self._threads:
                thread.join(timeout=30)
            # Each worker takes a moment to exit: they are closed side by side.
            closers = [threading.Thread(target=r.close, daemon=True) for r in self.runtimes.values()]
            for closer in closers:
                closer.start()
            for closer in closers:
                closer.join()
            if self._opened and self._moto is not None:
                # Once nothing writes any more; the marker goes only with a whole snapshot written.
                host, port = self._moto.get_host_and_port()
                endpoints = Endpoints(REGION, f"http://{host}:{port}", "")
                path = snapshot.save(
                    self.state_dir, self._contents, self._admin_clients(endpoints), ACCOUNT, REGION
                )
                snapshot.mark_closed(self.state_dir)
                self._opened = False
                log.info("saved moto's state to %s", path)
        finally:
            if self._moto is not None:
                self._moto.stop()
                self._moto = None
            if self.mlflow is not None:
                self.mlflow.stop()

    def __enter__(self) -> LocalStack:
        try:
            return self.start()
        except BaseException:
            self.close()  # what started is stopped (moto's server, the SageMaker service, the workers)
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- resources ---------------------------------------------------------------------------------------------

    @staticmethod
    def _admin_clients(endpoints: Endpoints) -> dict[str, Any]:
        return {s: client(s, endpoints) for s in ("dynamodb", "s3", "sqs", "cloudwatch")}

    def _queue_urls(self) -> dict[str, str]:
        """Every queue of the stack (the template's and the local inbox and capture queue) by name."""
        sqs = client("sqs", Endpoints(REGION, self._aws_url(), ""))
        urls = [u for page in sqs.get_paginator("list_queues").paginate() for u in page.get("QueueUrls", [])]
        return {url.rsplit("/", 1)[-1]: url for url in urls}

    def _aws_url(self) -> str:
        host, port = self._moto.get_host_and_port()
        return f"http://{host}:{port}"

    def _create_resources(self, endpoints: Endpoints) -> None:
        """Create in moto every data and messaging resource of the template, and record its physical names."""
        r = self.resolver
        resources = self.template["Resources"]

        def name(logical: str) -> str:
            return self._names.get(logical) or f"{self.stack_name}-{logical}".lower()

        order = [
            "AWS::KMS::Key",
            "AWS::S3::Bucket",
            "AWS::DynamoDB::Table",
            "AWS::SNS::Topic",
            "AWS::SQS::Queue",
        ]
        by_type = {
            kind: [lid for lid, res in resources.items() if res["Type"] == kind and r.resource_enabled(lid)]
            for kind in order
        }
        kms, s3, dynamodb = client("kms", endpoints), client("s3", endpoints), client("dynamodb", endpoints)
        sns, sqs = client("sns", endpoints), client("sqs", endpoints)
        for lid in by_type["AWS::KMS::Key"]:
            key = kms.create_key(Description=f"{self.stack_name} {lid}")["KeyMetadata"]
            r.physical[lid] = key["KeyId"]
            r.attributes[(lid, "Arn")] = key["Arn"]
        r.name_everything()  # what the template only declares (roles, functions, log groups) gets a name too
        for lid in by_type["AWS::S3::Bucket"]:
            props = r.resolve(resources[lid].get("Properties") or {})
            bucket = props.get("BucketName") or name(lid)
            s3.create_bucket(Bucket=bucket)
            if (props.get("VersioningConfiguration") or {}).get("Status") == "Enabled":
                s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
            if (props.get("NotificationConfiguration") or {}).get("EventBridgeConfiguration"):
                # moto's CloudFormation ignores this setting; the API call turns it on.
                s3.put_bucket_notification_configuration(
                    Bucket=bucket, NotificationConfiguration={"EventBridgeConfiguration": {}}
                )
            r.physical[lid] = bucket
            self._contents.buckets[lid] = bucket
            r.attributes[(lid, "Arn")] = f"arn:aws:s3:::{bucket}"
        for lid in by_type["AWS::DynamoDB::Table"]:
            props = r.resolve(resources[lid].get("Properties") or {})
            table = props.get("TableName") or name(lid)
            params: dict[str, Any] = {
                "TableName": table,
                "KeySchema": props["KeySchema"],
                "AttributeDefinitions": props["AttributeDefinitions"],
                "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
            }
            if props.get("GlobalSecondaryIndexes"):
                params["GlobalSecondaryIndexes"] = props["GlobalSecondaryIndexes"]
            stream = props.get("StreamSpecification")
            if stream:
                # CloudFormation's StreamSpecification holds the view type; the API's also turns the stream on.
                params["StreamSpecification"] = {
                    "StreamEnabled": True,
                    "StreamViewType": stream["StreamViewType"],
                }
            created = dynamodb.create_table(**params)["TableDescription"]
            if stream:
                r.attributes[(lid, "StreamArn")] = created["LatestStreamArn"]
            ttl = props.get("TimeToLiveSpecification")
            if ttl and ttl.get("Enabled"):
                dynamodb.update_time_to_live(TableName=table, TimeToLiveSpecification=ttl)
            r.physical[lid] = table
            self._contents.tables[lid] = table
            r.attributes[(lid, "Arn")] = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}"
        for lid in by_type["AWS::SNS::Topic"]:
            props = r.resolve(resources[lid].get("Properties") or {})
            arn = sns.create_topic(Name=props.get("TopicName") or name(lid))["TopicArn"]
            r.physical[lid] = arn
            r.attributes[(lid, "TopicName")] = arn.rsplit(":", 1)[-1]
            r.attributes[(lid, "TopicArn")] = arn
        for lid in by_type["AWS::SQS::Queue"]:
            props = r.resolve(resources[lid].get("Properties") or {})
            url = sqs.create_queue(QueueName=props.get("QueueName") or name(lid))["QueueUrl"]
            arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            r.physical[lid] = url
            r.attributes[(lid, "Arn")] = arn
            r.attributes[(lid, "QueueName")] = arn.rsplit(":", 1)[-1]
            r.attributes[(lid, "QueueUrl")] = url
        # Local additions: an inbox subscribed to every topic, so alerts can be read back, and the capture queue.
        inbox = sqs.create_queue(QueueName=ALERTS_INBOX)["QueueUrl"]
        inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        for lid in by_type["AWS::SNS::Topic"]:
            sns.subscribe(TopicArn=r.physical[lid], Protocol="sqs", Endpoint=inbox_arn)
        self.alerts_inbox_url = inbox
        capture = sqs.create_queue(QueueName=CAPTURE_QUEUE)["QueueUrl"]
        capture_arn = sqs.get_queue_attributes(QueueUrl=capture, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        events = client("events", endpoints)
        events.put_rule(
            # retune's own events only: S3's come from the gate's ObjectEvents, in S3's shape (moto's are not).
            Name="retune-local-capture",
            EventPattern=json.dumps({"source": ["retune"]}),
        )
        events.put_targets(Rule="retune-local-capture", Targets=[{"Id": "capture", "Arn": capture_arn}])
        self.capture_url = capture

    def _resource_names(self) -> dict[str, str]:
        """Every resource by its logical id: what `Ref` gives (a name, an ARN or a queue URL)."""
        return {
            lid: str(self.resolver.physical[lid])
            for lid in self.template["Resources"]
            if lid in self.resolver.physical
        }

    def _attributes(self) -> dict[str, str]:
        return {f"{lid}.{attr}": str(value) for (lid, attr), value in self.resolver.attributes.items()}

    def function_environment(self, spec: FunctionSpec) -> dict[str, str]:
        assert self.endpoints is not None
        return function_environment(
            spec,
            self.endpoints,
            self._env_overrides,
            self.resolver.physical.get(spec.logical_id, spec.logical_id),
        )

    # -- events ------------------------------------------------------------------------------------------------

    def _on_sagemaker_event(self, event: dict[str, Any]) -> None:
        # A restored SageMaker ends the jobs that were running when the last stack stopped, with their events,
        # as it starts: they wait for the router rather than being lost.
        while not self._routing.wait(timeout=1.0):
            if self._stop.is_set():
                log.warning("stack closed before routing %s", event.get("detail-type"))
                return
        assert self.router is not None
        self.router.route(event)

    def _on_object_created(self, event: dict[str, Any]) -> None:
        """S3's "Object Created" event, as EventBridge delivers it to the rules (once the router runs)."""
        if self.router is not None:
            self.router.route(event)

    def _drain_capture_queue(self) -> None:
        assert self.endpoints is not None
        sqs = client("sqs", self.endpoints)
        while not self._stop.is_set():
            # A long poll: the call returns as soon as a message arrives (or after a second, to see a stop).
            response = sqs.receive_message(
                QueueUrl=self.capture_url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            )
            for message in response.get("Messages", []):
                event = json.loads(message["Body"])
                sqs.delete_message(QueueUrl=self.capture_url, ReceiptHandle=message["ReceiptHandle"])
                if self.router is not None:
                    self.router.route(event)

    def _park(self, spec: FunctionSpec, event: dict[str, Any], outcome: Outcome) -> None:
        """Lambda's on-failure destination: the function's on-failure queue in the local SQS, sent as Lambda sends
        it, with the function's execution role."""
        assert self.endpoints is not None
        record = failure_record(spec, event, outcome, REGION, ACCOUNT)
        self.on_failure_records.append(record)
        if spec.on_failure and spec.on_failure in self.resolver.physical:
            client("sqs", self.endpoints, self.principal(spec.logical_id)).send_message(
                QueueUrl=self.resolver.physical[spec.on_failure], MessageBody=json.dumps(record, default=str)
            )

    # -- streams ------------------------------------------------------------------------------------------------

    def stream_mappings(self) -> dict[str, StreamMapping]:
        """The event source mappings of a table's stream that this stack's template enables (SAM-transformed)."""
        return {
            lid: mapping
            for lid, mapping in stream_mappings(self._transformed, self.iam_resolver).items()
            if mapping.enabled and mapping.function in self.runtimes
        }

    def _stream_arn(self, table: str) -> str:
        return str(self.resolver.attributes[(table, "StreamArn")])

    def _stream_ends(self, endpoints: Endpoints) -> dict[str, dict[str, str]]:
        """Each stream's shards' last sequence numbers, by table logical id."""
        streams = client("dynamodbstreams", endpoints)
        out: dict[str, dict[str, str]] = {}
        for (lid, attribute), arn in self.resolver.attributes.items():
            if attribute == "StreamArn":
                (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]  # moto: one
                records = read_stream(streams, str(arn))
                if records:
                    out[lid] = {shard["ShardId"]: records[-1]["dynamodb"]["SequenceNumber"]}
        return out

    def _start_stream_pollers(self, positions: Mapping[str, Mapping[str, str]]) -> None:
        """Lambda's event source mappings of the tables' streams: the stream is read with the function's role (in
        AWS, the mapping reads it with the function's execution role), the function is invoked in its warm worker
        (as its role), and a discarded range's record is sent with its role, as Lambda sends it."""
        assert self.endpoints is not None
        for lid, mapping in self.stream_mappings().items():
            spec = self.functions[mapping.function]
            function_arn = (
                f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{self.resolver.physical.get(spec.logical_id)}"
            )
            self.pollers[lid] = StreamPoller(
                mapping,
                client("dynamodbstreams", self.endpoints, self.principal(mapping.function)),
                self._stream_arn(mapping.table),
                self.runtimes[mapping.function].invoke_sync,
                functools.partial(self._park_stream_range, mapping),
                function_arn,
                after=positions.get(mapping.table),
                on_batch=self.router.notify if self.router is not None else None,
            ).start()

    def _park_stream_range(self, mapping: StreamMapping, record: dict[str, Any]) -> None:
        """DestinationConfig.OnFailure of a stream mapping: the discarded range's metadata, sent with the function's
        execution role (SAM grants it sqs:SendMessage on the queue)."""
        assert self.endpoints is not None and mapping.on_failure is not None
        self.on_failure_records.append(record)
        destination = self.resolver.physical[mapping.on_failure]
        body = json.dumps(record)
        if str(destination).startswith("arn:aws:sns:"):
            self.client("sns", mapping.function).publish(TopicArn=destination, Message=body)
        else:
            self.client("sqs", mapping.function).send_message(QueueUrl=destination, MessageBody=body)

    def wait_for_streams(self, timeout: float = 300.0) -> bool:
        """Block until every stream record written before the call has reached its function (delivered or
        parked)."""
        deadline = time.monotonic() + timeout
        return all(p.wait_drained(max(0.0, deadline - time.monotonic())) for p in self.pollers.values())

    def replay_stream(
        self, mapping: str | None = None, *, seed: int = 0, duplicate_share: float = 0.5
    ) -> list[Outcome]:
        """Deliver every record the stream holds again to the mapping's function: shuffled, a share of them twice,
        in batches of its BatchSize, each invoked once (what at-least-once delivery and a resync may do). Returns
        each batch's outcome."""
        mappings = self.stream_mappings()
        chosen = mappings[mapping] if mapping is not None else next(iter(mappings.values()))
        arn = self._stream_arn(chosen.table)
        records = read_stream(self.client("dynamodbstreams"), arn)
        runtime = self.runtimes[chosen.function]
        outcomes = [
            runtime.invoke_sync({"Records": [lambda_record(r, arn) for r in batch]})
            for batch in batches(shuffled_with_duplicates(records, seed, duplicate_share), chosen.batch_size)
        ]
        if self.router is not None:
            self.router.notify()
        return outcomes

    # -- the Python API for tests and the demo --------------------------------------------------------------------

    def resource(self, logical_id: str) -> str:
        return str(self.resolver.physical[logical_id])

    @property
    def bucket(self) -> str:
        return self.resource("DataBucket")

    def client(self, service: str, principal: str = iam_principals.ADMINISTRATOR) -> Any:
        """A boto3 client of the local service, signed as `principal` (the administrator unless told)."""
        assert self.endpoints is not None
        return client(service, self.endpoints, self.principal(principal))

    def put_profile(self, path: Path | str, name: str | None = None) -> None:
        path = Path(path)
        self.client("s3").put_object(
            Bucket=self.bucket, Key=f"profiles/{name or path.stem}.json", Body=path.read_bytes()
        )

    def drop(
        self,
        directory: Path | str,
        profile: str,
        drop_id: str | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> str:
        """Upload a drop's files as a user would: every file, then the manifest last. Returns the drop id."""
        directory = Path(directory)
        drop_id = drop_id or directory.name
        s3 = self.client("s3")
        prefix = f"datasets/{profile}/{drop_id}/"
        files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != "manifest.json")
        for path in files:
            s3.upload_file(str(path), self.bucket, prefix + path.relative_to(directory).as_posix())
            if progress:
                progress(path.name)
        s3.upload_file(str(directory / "manifest.json"), self.bucket, prefix + "manifest.json")
        return drop_id

    def state(self) -> Any:
        """retune's store on the local DynamoDB."""
        from retune.store import Store  # noqa: PLC0415
        from retune.table import DynamoTable  # noqa: PLC0415

        return Store(DynamoTable(self.client("dynamodb"), self.resource("StateTable")))

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 120.0) -> bool:
        """Block until `predicate()` holds; it is re-checked whenever an invocation finishes."""
        assert self.router is not None
        return self.router.wait_until(predicate, timeout)

    def wait_for_round(
        self,
        profile: str,
        seq: int,
        timeout: float = 300.0,
        statuses: tuple[str, ...] = ("decided", "failed"),
    ) -> Any:
        store = self.state()

        def done() -> bool:
            rnd = store.get_round(profile, seq)
            return rnd is not None and rnd.status in statuses

        if not self.wait_until(done, timeout):
            raise TimeoutError(f"round {seq} of {profile} did not reach {statuses} in {timeout} s")
        return store.get_round(profile, seq)

    def alerts(self, *, keep: bool = False) -> list[dict[str, Any]]:
        """Drain the alerts published so far (SNS → the local inbox queue); `keep` reads them and leaves them
        there (for whoever restores the stack to read again)."""
        sqs = self.client("sqs")
        out: list[dict[str, Any]] = []
        received: list[str] = []
        while True:
            messages = sqs.receive_message(QueueUrl=self.alerts_inbox_url, MaxNumberOfMessages=10).get(
                "Messages", []
            )
            if not messages:
                break
            for message in messages:
                out.append(json.loads(message["Body"]))
                if keep:
                    received.append(message["ReceiptHandle"])
                else:
                    sqs.delete_message(QueueUrl=self.alerts_inbox_url, ReceiptHandle=message["ReceiptHandle"])
        for handle in received:  # visible again at once
            sqs.change_message_visibility(
                QueueUrl=self.alerts_inbox_url, ReceiptHandle=handle, VisibilityTimeout=0
            )
        return out

    def write_endpoints(self, path: Path) -> None:
        assert self.endpoints is not None
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.endpoints.as_json(), indent=2))
        tmp.replace(path)  # readers never see a half-written file

    def reset_state_dir(self) -> None:
        shutil.rmtree(self.state_dir, ignore_errors=True)


__all__ = ["ROOT", "Endpoints", "LocalStack", "client"]
