"""Cold start of each handler against `import boto3` plus the same clients (issue 10, section 4).

`make bench-cold-start` (or `.venv/bin/python benchmarks/cold_start.py [--runs N]`) writes
benchmarks/results/cold_start.json: for each of the six handlers, the median time of importing its module and
handling its first event, divided by the median time of `import boto3` and creating the AWS clients that handler
talks to, both measured in fresh Python 3.13 interpreters, interleaved in one run so noise hits all arms alike.
The ratios are of CPU time (user + system), which other work on the machine barely moves; the wall-clock ratios
are written beside them. The interpreters get the functions' environment from template.yaml.

The measured interpreters run what Lambda runs, laid out as Lambda lays it out:
- the handler's folder as SAM ships a function (its handler.py, no bytecode) first on the path, like /var/task;
- the CoreLayer built by its own recipe (layers/core/Makefile, here for this machine's platform), like /opt/python:
  the same pinned wheels, retune, and the bytecode the recipe ships;
- a Python 3.13 with no packages of its own, and no bytecode written (Lambda's /var/task and /opt are read-only).
Each arm also runs on that layer without its bytecode ("source only"), which is what SAM's python3.13 builder
shipped: every cold start then compiled every module it imported.

The first invocation runs the real code, wiring's client creation included, against recorded AWS answers:
1. a recording interpreter runs the loop once (StartRound, RecordTrial, CloseRound, Promote, Reconcile, each on
   its sample event in events/) against moto, with SageMaker's answers canned, and records every AWS call's parsed
   answer per handler (moto's import and work happen only there); then Track on a stream batch of the items the
   loop wrote, its MLflow calls answered by the tests' fake MLflow server running in the benchmark's process;
2. each measured interpreter answers its handler's calls from that recording through botocore's `before-call`
   event on the very clients the code creates (the mechanism of botocore's Stubber), so no request leaves the
   process and nothing of moto is loaded. A call the recording lacks, or one left unmade, fails the benchmark.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "cold_start.json"
PYTHON = ROOT / ".venv" / "bin" / "python"
GOAL = 1.5


class _Mlflow:
    """Track's MLflow server for the benchmark: the tests' fake, started at most once in this process."""

    def __init__(self) -> None:
        self._server: Any = None

    def start(self) -> None:
        # `make bench-cold-start` runs this file as a script: the repository is not on the path by itself.
        if str(ROOT) not in sys.path:
            sys.path.insert(0, str(ROOT))
        from tests.mlflow_fake import FakeMlflow  # noqa: PLC0415 (tooling: the tests' fake)

        self._server = self._server or FakeMlflow().start()

    @property
    def url(self) -> str:
        self.start()
        return str(self._server.url)

    def reset(self) -> None:
        self.start()
        self._server.experiments.clear()
        self._server.runs.clear()


MLFLOW = _Mlflow()

# Per handler: its sample event and the AWS services its code talks to (the baseline creates one client each;
# a measured run fails if the handler's clients are not of exactly these services).
HANDLERS: dict[str, dict[str, Any]] = {
    "start_round": {
        "event": "start_round/manifest_uploaded.json",
        "services": ["dynamodb", "s3", "sagemaker", "sns"],
        "expect": {"status": "started"},
    },
    "record_trial": {
        "event": "record_trial/training_completed.json",
        "services": ["dynamodb", "sagemaker", "cloudwatch"],
        "expect": {"status": "recorded"},
    },
    "close_round": {
        "event": "close_round/tuning_completed.json",
        "services": ["dynamodb", "sagemaker", "s3", "sns", "events", "cloudwatch"],
        "expect": {"status": "evaluating"},
    },
    "promote": {
        "event": "promote/evaluation_completed.json",
        "services": ["dynamodb", "sagemaker", "s3", "sns", "events"],
        "expect": {"status": "approved"},
    },
    "reconcile": {
        "event": "reconcile/schedule.json",
        "services": ["dynamodb", "s3", "sagemaker", "sns", "cloudwatch", "events", "sqs"],
        "expect": {"errors": []},
    },
    # The stream's batch after the loop above: round 1, its trial and the champion, mirrored into an MLflow
    # server (the tests' fake, in this process, emptied before each run so every run creates the same runs).
    "track": {
        "event": "track/stream_batch.json",
        "services": ["dynamodb"],
        "expect": {"batchItemFailures": []},
        "entry": "handler",
    },
}
REGION = "us-east-1"
ACCOUNT = "123456789012"
QUEUES = [f"retune-{name}-on-failure" for name in HANDLERS if name != "track"]


def template_variables() -> dict[str, str]:
    """The functions' environment as template.yaml's Globals set it: its literal values (the resource names,
    which CloudFormation fills in, come from events/env.json), with Tracing at its default (Disabled)."""
    import yaml  # noqa: PLC0415

    class Loader(yaml.SafeLoader):  # type: ignore[misc]
        """Reads CloudFormation's short tags (!Ref, !If, ...) as None: only literals are kept."""

    Loader.add_multi_constructor("!", lambda loader, suffix, node: None)
    template = yaml.load((ROOT / "template.yaml").read_text(), Loader=Loader)
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    literal = {k: str(v) for k, v in variables.items() if isinstance(v, str | int | float)}
    return {**literal, "POWERTOOLS_TRACE_DISABLED": "true"}


def environment(recording: Path) -> dict[str, str]:
    """A Lambda-like environment: the template's variables, credentials in the environment, no config files.
    PYTHONPATH is the repository's (for the recording); `measure` puts the staged task and layer there."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "SYSTEMROOT")}
    env.update(template_variables())
    env.update(json.loads((ROOT / "events" / "env.json").read_text())["Parameters"])
    env.update(
        {
            "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'layers' / 'core'}",
            "PARKED_QUEUE_URLS": ",".join(
                f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/{q}" for q in QUEUES
            ),
            "STALL_FACTOR": "3",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_EC2_METADATA_DISABLED": "true",
            "AWS_LAMBDA_FUNCTION_NAME": "retune-bench",
            # The same set and dict order in the recording and in every measured interpreter: the recorded
            # answers are replayed in the order each operation was called.
            "PYTHONHASHSEED": "0",
            "COLD_START_RECORDING": str(recording),
            "TRACKING_SERVER": MLFLOW.url,
        }
    )
    return env


# ---------------------------------------------------------------- the measured interpreters

# Both arms run the same preamble before their clock starts (the stdlib only), so neither is charged for it.
PREAMBLE = """
import json, os, pickle, sys, time
ARM, NAME = sys.argv[1], sys.argv[2]
with open(os.environ["COLD_START_RECORDING"], "rb") as handle:
    RECORDING = pickle.load(handle)
QUEUES = {}
for call in RECORDING["calls"].get(NAME, []):
    QUEUES.setdefault((call["service"], call["operation"]), []).append(call)
CREATED = []

class Context:
    function_name = "retune-bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:retune-bench"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    def get_remaining_time_in_millis(self):
        return 60_000

def answer(model, params, event_name, **kwargs):
    from botocore.awsrequest import AWSResponse
    from botocore.response import StreamingBody
    import io
    service = event_name.split(".")[1]
    queue = QUEUES.get((service, model.name))
    if not queue:
        raise AssertionError(f"unrecorded call {service}.{model.name}")
    call = queue.pop(0)
    parsed = dict(call["parsed"])
    if isinstance(parsed.get("Body"), bytes):
        parsed["Body"] = StreamingBody(io.BytesIO(parsed["Body"]), len(parsed["Body"]))
    return AWSResponse("https://stub", call["status"], {}, None), parsed

def stub_clients():
    # Attach the recorded answers to every client created from now on (already-loaded modules: no cost).
    import botocore.client
    init = botocore.client.BaseClient.__init__
    def __init__(self, *args, **kwargs):
        init(self, *args, **kwargs)
        CREATED.append(self.meta.service_model.service_name)
        self.meta.events.register("before-call.*.*", answer)
    botocore.client.BaseClient.__init__ = __init__
"""

HANDLER_ARM = """
event = RECORDING["events"][NAME]
context = Context()
start, start_cpu = time.perf_counter(), time.process_time()
module = __import__("handler")
stub_clients()
result = getattr(module, RECORDING["entries"][NAME])(event, context)
seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
left = sorted(f"{s}.{o}" for (s, o), q in QUEUES.items() if q)
out = {"seconds": seconds, "cpu": cpu, "result": result, "clients": CREATED, "left": left}
print("RESULT " + json.dumps(out, default=str))
"""

BASELINE_ARM = """
services = RECORDING["services"][NAME]
start, start_cpu = time.perf_counter(), time.process_time()
import boto3
from botocore.config import Config
stub_clients()
config = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=30)
clients = [boto3.client(service, config=config) for service in services]
seconds, cpu = time.perf_counter() - start, time.process_time() - start_cpu
print("RESULT " + json.dumps({"seconds": seconds, "cpu": cpu, "clients": CREATED}))
"""


LAYOUTS = ("bytecode", "source")


def python_says(expression: str) -> str:
    """An expression's value in the project's Python (sys and platform imported)."""
    code = f"import platform, sys; print({expression})"
    return subprocess.run(
        [str(PYTHON), "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()


def stage(root: Path) -> Path:
    """Lay out what Lambda runs under `root` (see the module's docstring); returns its interpreter."""
    layer = root / "layer" / "bytecode"
    subprocess.run(
        [
            "make",
            "--silent",
            "-C",
            str(ROOT / "layers" / "core"),
            "build-CoreLayer",
            f"ARTIFACTS_DIR={layer}",
            "PLATFORM=",  # this machine's wheels, of the same pins
            f"LAYER_PYTHON={PYTHON}",
        ],
        check=True,
    )
    shutil.copytree(layer, root / "layer" / "source", ignore=shutil.ignore_patterns("__pycache__"))
    for name in HANDLERS:
        (root / "task" / name).mkdir(parents=True)
        shutil.copy2(ROOT / "functions" / name / "handler.py", root / "task" / name / "handler.py")
    base = python_says("sys._base_executable")
    subprocess.run([base, "-m", "venv", "--without-pip", str(root / "runtime")], check=True)
    return root / "runtime" / "bin" / "python"


def measure(
    arm: str, name: str, layout: str, env: dict[str, str], staged: Path, python: Path
) -> dict[str, Any]:
    if name == "track":
        MLFLOW.reset()
    code = PREAMBLE + (HANDLER_ARM if arm == "handler" else BASELINE_ARM)
    env = {
        **env,
        "PYTHONPATH": os.pathsep.join(
            [str(staged / "task" / name), str(staged / "layer" / layout / "python")]
        ),
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    proc = subprocess.run(
        [str(python), "-c", code, arm, name],
        cwd=staged,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(
            f"{arm} {name} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    out: dict[str, Any] = json.loads(lines[-1][len("RESULT ") :])
    return out


def check(name: str, run: dict[str, Any]) -> None:
    """The measured invocation took the recorded path: same answer, same clients, every recorded call made."""
    spec = HANDLERS[name]
    for key, value in spec["expect"].items():
        if run["result"].get(key) != value:
            raise SystemExit(f"{name} answered {run['result']!r}, expected {key}={value!r}")
    if sorted(set(run["clients"])) != sorted(spec["services"]):
        raise SystemExit(f"{name} created clients {run['clients']}, the baseline has {spec['services']}")
    if run["left"]:
        raise SystemExit(f"{name} did not make the recorded calls {run['left']}")


# ---------------------------------------------------------------- the recording interpreter


def record(path: Path) -> None:
    """Run the loop once against moto (SageMaker canned) and record each handler's AWS answers."""
    import boto3  # noqa: PLC0415
    import botocore.client  # noqa: PLC0415
    from botocore.awsrequest import AWSResponse  # noqa: PLC0415
    from moto import mock_aws  # noqa: PLC0415

    env = json.loads((ROOT / "events" / "env.json").read_text())["Parameters"]
    bucket = env["DATA_BUCKET"]
    calls: dict[str, list[dict[str, Any]]] = {}
    current: list[str] = []
    now = datetime.now(tz=UTC).replace(microsecond=0)
    sagemaker = CannedSageMaker(bucket, now)

    def canned(model: Any, params: dict[str, Any], event_name: str, **_: Any) -> Any:
        if event_name.split(".")[1] != "sagemaker":
            return None
        # `params` is the serialized request here: SageMaker speaks JSON.
        status, parsed = sagemaker.answer(model.name, json.loads(params["body"] or b"{}"))
        return AWSResponse("https://canned", status, {}, None), parsed  # type: ignore[arg-type]

    def recorded(http_response: Any, parsed: dict[str, Any], model: Any, event_name: str, **_: Any) -> None:
        if not current:
            return
        answer = dict(parsed)
        body = answer.get("Body")
        if body is not None and hasattr(body, "read"):
            data = body.read()
            answer["Body"] = data
            import io  # noqa: PLC0415

            from botocore.response import StreamingBody  # noqa: PLC0415

            parsed["Body"] = StreamingBody(io.BytesIO(data), len(data))
        calls.setdefault(current[0], []).append(
            {
                "service": event_name.split(".")[1],
                "operation": model.name,
                "status": http_response.status_code,
                "parsed": answer,
            }
        )

    init = botocore.client.BaseClient.__init__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        self.meta.events.register("before-call.*.*", canned)
        self.meta.events.register("after-call.*.*", recorded)

    botocore.client.BaseClient.__init__ = __init__  # type: ignore[method-assign]

    events: dict[str, Any] = {}
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=bucket)
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_tables(dynamodb, env["STATE_TABLE"], env["IDEMPOTENCY_TABLE"])
        sns = boto3.client("sns", region_name=REGION)
        sns.create_topic(Name=env["ALERTS_TOPIC_ARN"].rsplit(":", 1)[-1])
        sqs = boto3.client("sqs", region_name=REGION)
        urls = [sqs.create_queue(QueueName=q)["QueueUrl"] for q in QUEUES]
        # One failed invocation waits on a queue: Reconcile's tick alerts on it.
        sqs.send_message(QueueUrl=urls[2], MessageBody=json.dumps({"requestContext": {"condition": "Error"}}))
        os.environ["PARKED_QUEUE_URLS"] = ",".join(urls)
        profile = json.loads((ROOT / "profiles" / "market-xgb.json").read_text())
        s3.put_object(Bucket=bucket, Key="profiles/market-xgb.json", Body=json.dumps(profile))
        prefix = "datasets/market-xgb/2015-01-01/"
        for name in ("train.csv", "validation.csv", "test.csv"):
            s3.put_object(Bucket=bucket, Key=prefix + name, Body=b"y,x\n0.1,0.2\n")
        manifest = {
            "channels": {
                name: {"files": [f"{name}.csv"], "content_type": "text/csv"}
                for name in ("train", "validation", "test")
            }
        }
        version = s3.put_object(Bucket=bucket, Key=prefix + "manifest.json", Body=json.dumps(manifest))[
            "VersionId"
        ]
        # The round's best model, where SageMaker wrote it: Promote registers it only if it exists.
        s3.put_object(Bucket=bucket, Key=sagemaker.artifact.split(f"s3://{bucket}/", 1)[1], Body=b"model")
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        for i, value in enumerate([0.6, 0.52, 0.48]):
            cloudwatch.put_metric_data(
                Namespace="/aws/sagemaker/TrainingJobs",
                MetricData=[
                    {
                        "MetricName": "validation:rmse",
                        "Dimensions": [{"Name": "TrainingJobName", "Value": CannedSageMaker.TRIAL}],
                        "Value": value,
                        "Timestamp": now - timedelta(seconds=30 - i),
                    }
                ],
            )

        for name, spec in HANDLERS.items():
            event = json.loads((ROOT / "events" / spec["event"]).read_text())
            if name == "start_round":
                event["detail"]["object"]["version-id"] = version
            events[name] = event
            entry = spec.get("entry", "lambda_handler")
            module = __import__(f"functions.{name}.handler", fromlist=[entry])
            current[:] = [name]
            result = getattr(module, entry)(event, Context())
            current.clear()
            for key, value in spec["expect"].items():
                if result.get(key) != value:
                    raise SystemExit(f"recording: {name} answered {result!r}, expected {key}={value!r}")
        # Each measured interpreter sees the queues the recording used.
        services = {name: spec["services"] for name, spec in HANDLERS.items()}
    with path.open("wb") as handle:
        entries = {name: spec.get("entry", "lambda_handler") for name, spec in HANDLERS.items()}
        pickle.dump(
            {"calls": calls, "events": events, "services": services, "parked": urls, "entries": entries},
            handle,
        )


class Context:
    function_name = "retune-bench"
    function_version = "$LATEST"
    memory_limit_in_mb = 512
    invoked_function_arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:retune-bench"
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"

    def get_remaining_time_in_millis(self) -> int:
        return 60_000


def create_tables(client: Any, state: str, idempotency: str) -> None:
    # The recorder is tooling: it borrows the tests' table definitions (the template's keys and index).
    from tests.moto_env import create_idempotency_table, create_state_table  # noqa: PLC0415

    create_state_table(client, state)
    create_idempotency_table(client, idempotency)


class CannedSageMaker:
    """SageMaker's answers for one round of market-xgb, in AWS's response shapes (moto's SageMaker is not enough:
    its tuning jobs complete at once and it lacks the trial listing)."""

    TUNING = "rt-market-xgb-0001"
    TRIAL = "rt-market-xgb-0001-002-1b2c3d4e"
    EVAL = "rt-market-xgb-0001-eval"
    ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"

    def __init__(self, bucket: str, now: datetime) -> None:
        self.bucket = bucket
        self.now = now
        self.artifact = f"s3://{bucket}/models/market-xgb/{self.TUNING}/{self.TRIAL}/output/model.tar.gz"

    def answer(self, operation: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        if operation == "CreateHyperParameterTuningJob":
            return 200, {"HyperParameterTuningJobArn": f"{self.ARN}:hyper-parameter-tuning-job/{self.TUNING}"}
        if operation == "DescribeTrainingJob":
            return 200, self.training_job(params["TrainingJobName"])
        if operation == "DescribeHyperParameterTuningJob":
            return 200, self.tuning_job()
        if operation == "ListTrainingJobsForHyperParameterTuningJob":
            return 200, {"TrainingJobSummaries": [self.summary()]}
        if operation == "CreateTrainingJob":
            return 200, {"TrainingJobArn": f"{self.ARN}:training-job/{params['TrainingJobName']}"}
        if operation == "CreateModelPackageGroup":
            return 200, {"ModelPackageGroupArn": f"{self.ARN}:model-package-group/retune-market-xgb"}
        if operation == "CreateModelPackage":
            return 200, {"ModelPackageArn": f"{self.ARN}:model-package/retune-market-xgb/1"}
        if operation == "AddTags":
            return 200, {"Tags": params.get("Tags", [])}
        raise SystemExit(f"recording: no canned SageMaker answer for {operation}")

    def training_job(self, name: str) -> dict[str, Any]:
        start, end = self.now - timedelta(minutes=5), self.now
        evaluation = name == self.EVAL
        finals = (
            [{"MetricName": "challenger_score", "Value": 0.4712, "Timestamp": end}]
            if evaluation
            else [
                {"MetricName": "validation:rmse", "Value": 0.48, "Timestamp": end},
                {"MetricName": "train:compute", "Value": 1234.0, "Timestamp": end},
                {"MetricName": "train:epochs", "Value": 30.0, "Timestamp": end},
            ]
        )
        described: dict[str, Any] = {
            "TrainingJobName": name,
            "TrainingJobArn": f"{self.ARN}:training-job/{name}",
            "ModelArtifacts": {"S3ModelArtifacts": self.artifact},
            "TrainingJobStatus": "Completed",
            "SecondaryStatus": "Completed",
            "HyperParameters": {"eta": "0.05", "num_round": "300"},
            "AlgorithmSpecification": {
                "TrainingImage": "retune/market-volatility-xgb",
                "TrainingInputMode": "File",
            },
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 900},
            "CreationTime": start,
            "TrainingStartTime": start,
            "TrainingEndTime": end,
            "TrainingTimeInSeconds": 290,
            "BillableTimeInSeconds": 300,
            "FinalMetricDataList": finals,
        }
        if not evaluation:
            described["TuningJobArn"] = f"{self.ARN}:hyper-parameter-tuning-job/{self.TUNING}"
        return described

    def summary(self) -> dict[str, Any]:
        return {
            "TrainingJobName": self.TRIAL,
            "TrainingJobArn": f"{self.ARN}:training-job/{self.TRIAL}",
            "CreationTime": self.now - timedelta(minutes=5),
            "TrainingJobStatus": "Completed",
            "TunedHyperParameters": {"eta": "0.05"},
            "FinalHyperParameterTuningJobObjectiveMetric": {"MetricName": "validation:rmse", "Value": 0.48},
        }

    def tuning_job(self) -> dict[str, Any]:
        return {
            "HyperParameterTuningJobName": self.TUNING,
            "HyperParameterTuningJobArn": f"{self.ARN}:hyper-parameter-tuning-job/{self.TUNING}",
            "HyperParameterTuningJobConfig": {
                "Strategy": "Bayesian",
                "ResourceLimits": {"MaxParallelTrainingJobs": 2, "MaxNumberOfTrainingJobs": 20},
            },
            "HyperParameterTuningJobStatus": "Completed",
            "CreationTime": self.now - timedelta(minutes=10),
            "HyperParameterTuningEndTime": self.now,
            "TrainingJobStatusCounters": {"Completed": 1},
            "ObjectiveStatusCounters": {"Succeeded": 1},
            "BestTrainingJob": self.summary() | {"TrainingJobStatus": "Completed"},
        }


# ---------------------------------------------------------------- the run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15, help="measured runs per arm (median; at least 10)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--handlers", nargs="+", choices=sorted(HANDLERS), help="measure only these (default: every handler)"
    )
    parser.add_argument("--record", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.record:
        record(args.record)
        return
    if args.runs < 10:
        parser.error("--runs must be at least 10")

    MLFLOW.start()
    with tempfile.TemporaryDirectory() as tmp:
        python = stage(Path(tmp))
        recording = Path(tmp) / "recording.pickle"
        proc = subprocess.run(
            [str(PYTHON), str(Path(__file__).resolve()), "--record", str(recording)],
            cwd=ROOT,
            env=environment(recording),
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if proc.returncode != 0:
            raise SystemExit(f"recording failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
        env = environment(recording)
        MLFLOW.reset()
        with recording.open("rb") as handle:
            env["PARKED_QUEUE_URLS"] = ",".join(pickle.load(handle)["parked"])

        measured = args.handlers or list(HANDLERS)
        arms = [
            (arm, name, layout) for name in measured for arm in ("handler", "baseline") for layout in LAYOUTS
        ]
        staged = Path(tmp)
        # One unmeasured pass: files in the page cache, the recording checked.
        for arm, name, layout in arms:
            run = measure(arm, name, layout, env, staged, python)
            if arm == "handler":
                check(name, run)
        samples: dict[tuple[str, str, str], dict[str, list[float]]] = {
            a: {"cpu": [], "wall": []} for a in arms
        }
        shuffler = random.Random(20260105)
        for i in range(args.runs):
            order = arms[:]
            shuffler.shuffle(order)
            for arm, name, layout in order:
                run = measure(arm, name, layout, env, staged, python)
                if arm == "handler":
                    check(name, run)
                samples[(arm, name, layout)]["cpu"].append(run["cpu"])
                samples[(arm, name, layout)]["wall"].append(run["seconds"])
            print(f"run {i + 1}/{args.runs} done", file=sys.stderr)

    def medians_of(layout: str) -> dict[str, dict[str, dict[str, float]]]:
        return {
            name: {
                arm: {
                    clock: round(statistics.median(samples[(arm, name, layout)][clock]), 4)
                    for clock in ("cpu", "wall")
                }
                for arm in ("handler", "baseline")
            }
            for name in measured
        }

    def ratios(medians: dict[str, dict[str, dict[str, float]]], clock: str) -> dict[str, float]:
        return {name: round(m["handler"][clock] / m["baseline"][clock], 2) for name, m in medians.items()}

    medians, source = medians_of("bytecode"), medians_of("source")
    cpu, wall = ratios(medians, "cpu"), ratios(medians, "wall")
    source_cpu = ratios(source, "cpu")
    version = python_says("platform.python_version()")
    result = {
        "handlers": cpu,
        "max_ratio": max(cpu.values()),
        "goal": GOAL,
        "runs": args.runs,
        "python": version,
        "measured_at": datetime.now(tz=UTC).isoformat(timespec="seconds"),
        "command": "make bench-cold-start",
        "clock": (
            "CPU time (user + system) of each measured interpreter, which other load on the machine barely moves; "
            "wall-clock ratios, the same where the machine is otherwise idle, are in wall_handlers"
        ),
        "wall_handlers": wall,
        "max_wall_ratio": max(wall.values()),
        "median_seconds": medians,
        "baseline": "import boto3, then boto3.client(service, config=...) for each AWS service the handler talks to",
        "layout": (
            "the handler's folder as SAM ships it, then the CoreLayer built by layers/core/Makefile for this "
            "machine, on the path of a Python 3.13 without packages of its own; no bytecode written"
        ),
        "source_only": {
            "what": (
                "the same arms on the layer without its bytecode, as SAM's python3.13 builder shipped it: "
                "every cold start compiled every module it imported"
            ),
            "handlers": source_cpu,
            "median_seconds": source,
            "handler_cpu_saved_by_bytecode": {
                name: round(source[name]["handler"]["cpu"] - medians[name]["handler"]["cpu"], 3)
                for name in measured
            },
        },
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    width = max(map(len, measured))
    print(
        f"{'handler':<{width}}  cpu ratio  wall ratio  (median cpu s: handler vs baseline)"
        "  | source only: cpu ratio (handler vs baseline)"
    )
    for name in measured:
        m, o = medians[name], source[name]
        print(
            f"{name:<{width}}  {cpu[name]:8.2f}x  {wall[name]:9.2f}x  "
            f"({m['handler']['cpu']:.3f} vs {m['baseline']['cpu']:.3f})"
            f"  | {source_cpu[name]:.2f}x ({o['handler']['cpu']:.3f} vs {o['baseline']['cpu']:.3f})"
        )
    print(f"max {result['max_ratio']:.2f}x (goal {GOAL}x) -> {args.out}")


if __name__ == "__main__":
    main()
