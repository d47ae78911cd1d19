"""The AWS CLI against the local SageMaker: what an operator types, checked against what AWS answers. The v1 (the
`awscli` package from PyPI) runs in `make test` (the venv installs in about 15 s); `aws logs tail`, which only the
v2 has, runs in `make test-clients` (marked slow) with the v2 that `make awscli-v2` finds or installs (v2 is not on
PyPI: Debian bookworm's `awscli` package is 2.9.19).

Covered: create from `--cli-input-json`, describe, list (tuning jobs, their trials, all training jobs) with
filters, sorting (by objective, by name), the CLI's paging (`--page-size`, `--max-items` / `--starting-token`,
`--no-paginate` with the service's NextToken), `wait training-job-completed-or-stopped` on jobs that ended (the
waiter's first poll is immediate; a job still running would be polled again only after the waiter's 120 s delay,
which the slow suite does not spend either), the trials' CloudWatch Logs (v1 reads them with `describe-log-streams`,
`get-log-events` and `filter-log-events`, also by stream prefix; v2's `logs tail` by job, `--since` and `--follow`),
and invalid requests answered with AWS's error codes and the CLI's exit status.
"""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.clients.conftest import ACCOUNT, BUCKET, IMAGE, ROLE, ClientStack, venv_python

# One worker runs them all: one local SageMaker and one tuning job for the module.
pytestmark = [pytest.mark.local_stack, pytest.mark.xdist_group("clients-awscli")]

TUNING_JOB = "cli-tuning"
TRIALS = 6
FAILING_JOB = "cli-failing"
METRICS = [{"Name": "loss", "Regex": r"loss=([-+0-9.eE]+)"}]
# The AWS CLI v1 exits 255 when the service answers with an error (v2 exits 254), 0 on success.
SERVICE_ERROR = 255
LOG_GROUP = "/aws/sagemaker/TrainingJobs"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        return json.loads(self.stdout)


class AWSCLI:
    def __init__(self, stack: ClientStack) -> None:
        self.aws = str(venv_python("awscli").parent / "aws")
        self.stack = stack

    def __call__(self, *args: str, env: dict[str, str] | None = None) -> Result:
        completed = subprocess.run(
            [self.aws, *args, "--output", "json"],
            capture_output=True,
            text=True,
            env=self.stack.environment(**(env or {})),
            timeout=120,
            check=False,
        )
        return Result(completed.returncode, completed.stdout, completed.stderr)

    def ok(self, *args: str) -> Any:
        result = self(*args)
        assert result.code == 0, f"aws {' '.join(args)}: {result.stderr}"
        # `s3` commands print text, the API commands JSON.
        return result.json if result.stdout.lstrip().startswith(("{", "[")) else result.stdout


def definition(stack: ClientStack, **hyperparameters: str) -> dict[str, Any]:
    return {
        "StaticHyperParameters": {"epochs": "3", "data_channel": "train", **hyperparameters},
        "AlgorithmSpecification": {
            "TrainingImage": IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": METRICS,
        },
        "RoleArn": ROLE,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {
                    "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/cli/train/"}
                },
            }
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{BUCKET}/cli/output"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def tuning_request(stack: ClientStack, name: str, max_jobs: int) -> dict[str, Any]:
    return {
        "HyperParameterTuningJobName": name,
        "HyperParameterTuningJobConfig": {
            "Strategy": "Random",
            "RandomSeed": 3,
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "loss"},
            "ResourceLimits": {
                "MaxNumberOfTrainingJobs": max_jobs,
                "MaxParallelTrainingJobs": min(max_jobs, 2),
            },
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "x", "MinValue": "0", "MaxValue": "1", "ScalingType": "Linear"}
                ]
            },
            "TrainingJobEarlyStoppingType": "Off",
        },
        "TrainingJobDefinition": definition(stack),
    }


def input_json(stack: ClientStack, name: str, body: dict[str, Any]) -> str:
    path = stack.tmp / f"{name}.json"
    path.write_text(json.dumps(body))
    return f"file://{path}"


@pytest.fixture(scope="module")
def aws(stack: ClientStack) -> AWSCLI:
    return AWSCLI(stack)


@pytest.fixture(scope="module")
def tuned(stack: ClientStack, aws: AWSCLI) -> dict[str, Any]:
    """A tuning job of 6 trials and a training job that fails, both created with the CLI, run to their end."""
    s3 = stack.admin("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="cli/train/train.csv", Body=b"1,2\n3,4\n")
    created = aws.ok(
        "sagemaker",
        "create-hyper-parameter-tuning-job",
        "--cli-input-json",
        input_json(stack, TUNING_JOB, tuning_request(stack, TUNING_JOB, TRIALS)),
    )
    failing = definition(stack, x="0.9", fail_above="0.5")
    aws.ok(
        "sagemaker",
        "create-training-job",
        "--cli-input-json",
        input_json(
            stack,
            FAILING_JOB,
            {
                "TrainingJobName": FAILING_JOB,
                "HyperParameters": failing.pop("StaticHyperParameters"),
                **failing,
            },
        ),
    )
    stack.sagemaker.wait_tuning_job(TUNING_JOB, 120)
    stack.sagemaker.wait_training_job(FAILING_JOB, 120)
    return created


def test_create_and_describe_a_tuning_job(stack: ClientStack, aws: AWSCLI, tuned: dict[str, Any]) -> None:
    described = aws.ok(
        "sagemaker", "describe-hyper-parameter-tuning-job", "--hyper-parameter-tuning-job-name", TUNING_JOB
    )
    trials = aws.ok(
        "sagemaker",
        "list-training-jobs-for-hyper-parameter-tuning-job",
        "--hyper-parameter-tuning-job-name",
        TUNING_JOB,
    )["TrainingJobSummaries"]
    best = min(trials, key=lambda t: t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    job = aws.ok("sagemaker", "describe-training-job", "--training-job-name", best["TrainingJobName"])

    assert tuned["HyperParameterTuningJobArn"] == described["HyperParameterTuningJobArn"]
    assert described["HyperParameterTuningJobStatus"] == "Completed"
    assert described["TrainingJobStatusCounters"]["Completed"] == TRIALS
    assert described["BestTrainingJob"]["TrainingJobName"] == best["TrainingJobName"]
    assert job["TrainingJobStatus"] == "Completed"
    assert job["TuningJobArn"] == described["HyperParameterTuningJobArn"]
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == (
        f"s3://{BUCKET}/cli/output/{best['TrainingJobName']}/output/model.tar.gz"
    )
    # SageMaker sends datetimes as epoch seconds; the CLI v1 prints them as received.
    assert isinstance(job["CreationTime"], float)
    assert job["TrainingEndTime"] - job["TrainingStartTime"] == pytest.approx(
        job["TrainingTimeInSeconds"], abs=1
    )


def test_list_trials_sorted_by_objective_and_filtered_by_status(aws: AWSCLI, tuned: dict[str, Any]) -> None:
    base = ("sagemaker", "list-training-jobs-for-hyper-parameter-tuning-job")
    name = ("--hyper-parameter-tuning-job-name", TUNING_JOB)
    ascending = aws.ok(*base, *name, "--sort-by", "FinalObjectiveMetricValue", "--sort-order", "Ascending")
    descending = aws.ok(*base, *name, "--sort-by", "FinalObjectiveMetricValue", "--sort-order", "Descending")
    completed = aws.ok(*base, *name, "--status-equals", "Completed")
    stopped = aws.ok(*base, *name, "--status-equals", "Stopped")

    values = [
        t["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for t in ascending["TrainingJobSummaries"]
    ]
    assert len(values) == TRIALS
    assert values == sorted(values)
    assert [t["TrainingJobName"] for t in descending["TrainingJobSummaries"]] == [
        t["TrainingJobName"] for t in reversed(ascending["TrainingJobSummaries"])
    ]
    assert len(completed["TrainingJobSummaries"]) == TRIALS
    assert stopped["TrainingJobSummaries"] == []


def test_paging_with_the_cli(aws: AWSCLI, tuned: dict[str, Any]) -> None:
    """The CLI pages for the user: --page-size changes the calls, not the result; --max-items stops early and hands
    out a token to go on from; --no-paginate makes one call and shows the service's own NextToken."""
    base = (
        "sagemaker",
        "list-training-jobs-for-hyper-parameter-tuning-job",
        "--hyper-parameter-tuning-job-name",
        TUNING_JOB,
    )
    everything = [t["TrainingJobName"] for t in aws.ok(*base)["TrainingJobSummaries"]]
    in_pages_of_two = [
        t["TrainingJobName"] for t in aws.ok(*base, "--page-size", "2")["TrainingJobSummaries"]
    ]
    first = aws.ok(*base, "--max-items", "4", "--page-size", "3")
    rest = aws.ok(*base, "--max-items", "4", "--page-size", "3", "--starting-token", first["NextToken"])
    one_call = aws.ok(*base, "--no-paginate", "--max-results", "2")
    next_call = aws.ok(*base, "--no-paginate", "--max-results", "2", "--next-token", one_call["NextToken"])

    assert len(everything) == TRIALS
    assert in_pages_of_two == everything
    assert [t["TrainingJobName"] for t in first["TrainingJobSummaries"]] == everything[:4]
    assert [t["TrainingJobName"] for t in rest["TrainingJobSummaries"]] == everything[4:]
    assert "NextToken" not in rest
    assert [t["TrainingJobName"] for t in one_call["TrainingJobSummaries"]] == everything[:2]
    assert [t["TrainingJobName"] for t in next_call["TrainingJobSummaries"]] == everything[2:4]


def test_list_training_jobs_filtered_sorted_and_paged(aws: AWSCLI, tuned: dict[str, Any]) -> None:
    """`list-training-jobs`: every training job of the account, the tuning job's trials among them (three calls: the
    CLI's part of `make test` keeps to its 60 s)."""
    base = ("sagemaker", "list-training-jobs", "--name-contains", TUNING_JOB)
    descending = aws.ok(*base, "--sort-by", "Name", "--sort-order", "Descending")
    first = aws.ok(*base, "--sort-by", "Name", "--max-items", "4", "--page-size", "3")
    rest = aws.ok(*base, "--sort-by", "Name", "--max-items", "4", "--starting-token", first["NextToken"])

    names = [s["TrainingJobName"] for s in descending["TrainingJobSummaries"]]
    assert len(names) == TRIALS
    assert names == sorted(names, reverse=True)
    assert all(name.startswith(f"{TUNING_JOB}-") for name in names)
    paged = [s["TrainingJobName"] for s in first["TrainingJobSummaries"] + rest["TrainingJobSummaries"]]
    assert paged == sorted(names)
    assert "NextToken" not in rest


def test_list_tuning_jobs_by_name_sorted_and_paged(
    stack: ClientStack, aws: AWSCLI, tuned: dict[str, Any]
) -> None:
    for suffix in ("a", "b", "c"):
        name = f"cli-listed-{suffix}"
        stack.admin("sagemaker").create_hyper_parameter_tuning_job(**tuning_request(stack, name, 1))
        stack.sagemaker.wait_tuning_job(name, 120)
    base = ("sagemaker", "list-hyper-parameter-tuning-jobs", "--name-contains", "listed")
    descending = aws.ok(*base, "--sort-by", "Name", "--sort-order", "Descending", "--page-size", "1")
    completed = aws.ok(*base, "--status-equals", "Completed", "--sort-by", "CreationTime")
    in_progress = aws.ok(*base, "--status-equals", "InProgress")

    assert [s["HyperParameterTuningJobName"] for s in descending["HyperParameterTuningJobSummaries"]] == [
        "cli-listed-c",
        "cli-listed-b",
        "cli-listed-a",
    ]
    assert [s["HyperParameterTuningJobName"] for s in completed["HyperParameterTuningJobSummaries"]] == [
        "cli-listed-a",
        "cli-listed-b",
        "cli-listed-c",
    ]
    summary = completed["HyperParameterTuningJobSummaries"][0]
    assert summary["TrainingJobStatusCounters"]["Completed"] == 1
    assert summary["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 1
    assert in_progress["HyperParameterTuningJobSummaries"] == []


def test_wait_for_a_training_job(aws: AWSCLI, tuned: dict[str, Any]) -> None:
    """`aws sagemaker wait training-job-completed-or-stopped`: success on Completed, the waiter's failure on Failed
    and on a job that does not exist (DescribeTrainingJob answers ValidationException)."""
    trial = aws.ok(
        "sagemaker",
        "list-training-jobs-for-hyper-parameter-tuning-job",
        "--hyper-parameter-tuning-job-name",
        TUNING_JOB,
    )["TrainingJobSummaries"][0]["TrainingJobName"]
    waiter = ("sagemaker", "wait", "training-job-completed-or-stopped", "--training-job-name")
    completed = aws(*waiter, trial)
    failed = aws(*waiter, FAILING_JOB)
    missing = aws(*waiter, "cli-no-such-job")
    described = aws.ok("sagemaker", "describe-training-job", "--training-job-name", FAILING_JOB)

    assert completed.code == 0, completed.stderr
    assert failed.code == SERVICE_ERROR
    assert (
        "Waiter TrainingJobCompletedOrStopped failed: Waiter encountered a terminal failure state"
        in failed.stderr
    )
    assert missing.code == SERVICE_ERROR
    assert "Waiter TrainingJobCompletedOrStopped failed" in missing.stderr
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"] == "AlgorithmError: x=0.9 is above 0.5"


def test_a_trials_output_in_cloudwatch_logs(aws: AWSCLI, tuned: dict[str, Any]) -> None:
    """SageMaker writes a job's stdout and stderr to /aws/sagemaker/TrainingJobs, stream `<job>/algo-1-<epoch
    seconds>`."""
    trial = aws.ok(
        "sagemaker",
        "list-training-jobs-for-hyper-parameter-tuning-job",
        "--hyper-parameter-tuning-job-name",
        TUNING_JOB,
    )["TrainingJobSummaries"][0]["TrainingJobName"]
    group = ("--log-group-name", "/aws/sagemaker/TrainingJobs")
    streams = aws.ok("logs", "describe-log-streams", *group, "--log-stream-name-prefix", f"{trial}/")[
        "logStreams"
    ]
    assert len(streams) == 1, streams
    assert re.fullmatch(rf"{re.escape(trial)}/algo-1-\d{{10}}", streams[0]["logStreamName"])
    events = aws.ok("logs", "get-log-events", *group, "--log-stream-name", streams[0]["logStreamName"])[
        "events"
    ]
    filtered = aws.ok(
        "logs",
        "filter-log-events",
        *group,
        "--log-stream-names",
        streams[0]["logStreamName"],
        "--filter-pattern",
        "loss",
    )
    # What `aws logs tail <group> --log-stream-name-prefix <job>` (CLI v2) sends: FilterLogEvents with the prefix,
    # interleaved, from a start time.
    tailed = aws.ok(
        "logs",
        "filter-log-events",
        *group,
        "--log-stream-name-prefix",
        trial,
        "--interleaved",
        "--start-time",
        "0",
    )
    nothing = aws.ok("logs", "filter-log-events", *group, "--log-stream-name-prefix", "cli-no-such-job")

    messages = [e["message"] for e in events]
    assert [m for m in messages if m.startswith("epoch=")] == [m for m in messages if "loss=" in m]
    assert [m.split()[0] for m in messages if m.startswith("epoch=")] == ["epoch=1", "epoch=2", "epoch=3"]
    assert "files=1" in messages
    assert [e["message"] for e in filtered["events"]] == [m for m in messages if "loss" in m]
    # only this trial's stream, though the tuning job's other trials wrote theirs to the same group
    assert {e["logStreamName"] for e in tailed["events"]} == {streams[0]["logStreamName"]}
    assert [e["message"] for e in tailed["events"]] == messages
    assert nothing["events"] == []


def test_invalid_requests_get_aws_errors(stack: ClientStack, aws: AWSCLI, tuned: dict[str, Any]) -> None:
    missing_job = aws("sagemaker", "describe-training-job", "--training-job-name", "cli-no-such-job")
    missing_tuning = aws(
        "sagemaker", "describe-hyper-parameter-tuning-job", "--hyper-parameter-tuning-job-name", "cli-none"
    )
    taken = aws(
        "sagemaker",
        "create-hyper-parameter-tuning-job",
        "--cli-input-json",
        input_json(stack, "again", tuning_request(stack, TUNING_JOB, 1)),
    )
    stop_ended = aws(
        "sagemaker", "stop-hyper-parameter-tuning-job", "--hyper-parameter-tuning-job-name", TUNING_JOB
    )
    # Caught by the CLI itself (botocore's parameter validation), before any request: the service never sees it.
    client_side = aws(
        "sagemaker",
        "create-hyper-parameter-tuning-job",
        "--cli-input-json",
        input_json(stack, "zero", {**tuning_request(stack, "cli-zero", 0)}),
    )
    unsigned = aws("sagemaker", "list-hyper-parameter-tuning-jobs", "--no-sign-request")
    stranger = aws(
        "sagemaker",
        "list-hyper-parameter-tuning-jobs",
        env={"AWS_ACCESS_KEY_ID": "AKIAIOSFODNN7EXAMPLE", "AWS_SESSION_TOKEN": ""},
    )

    def error(result: Result, operation: str) -> str:
        assert result.code == SERVICE_ERROR, result.stdout
        found = re.search(
            rf"An error occurred \((\w+)\) when calling the {operation} operation: (.*)", result.stderr
        )
        assert found, result.stderr
        return found.group(1)

    assert error(missing_job, "DescribeTrainingJob") == "ValidationException"
    assert "Requested resource not found." in missing_job.stderr
    assert error(missing_tuning, "DescribeHyperParameterTuningJob") == "ResourceNotFound"
    assert error(taken, "CreateHyperParameterTuningJob") == "ResourceInUse"
    assert error(stop_ended, "StopHyperParameterTuningJob") == "ValidationException"
    assert client_side.code == SERVICE_ERROR
    assert "Parameter validation failed" in client_side.stderr
    assert "MaxNumberOfTrainingJobs" in client_side.stderr
    assert error(unsigned, "ListHyperParameterTuningJobs") == "MissingAuthenticationTokenException"
    assert error(stranger, "ListHyperParameterTuningJobs") == "UnrecognizedClientException"


def test_the_cli_finds_the_local_endpoints_by_environment_alone(stack: ClientStack, aws: AWSCLI) -> None:
    """No --endpoint-url: AWS_ENDPOINT_URL_SAGEMAKER and AWS_ENDPOINT_URL route the CLI (botocore's service-specific
    endpoint variables), and STS says who signed."""
    identity = aws.ok("sts", "get-caller-identity")
    listed = aws.ok("sagemaker", "list-hyper-parameter-tuning-jobs", "--max-results", "1")

    assert identity["Arn"] == f"arn:aws:iam::{ACCOUNT}:user/retune-local-administrator"
    assert "HyperParameterTuningJobSummaries" in listed
    assert Path(aws.aws).parent.parent.name == "clients-awscli"


# `aws logs tail` exists only in the AWS CLI v2. `make test-clients` finds one (`aws` on PATH, else Debian's
# /usr/bin/aws) or installs Debian's package (tools/awscli-v2.sh) and names it in AWS_CLI_V2.
# The v2 it installs (2.9.19) predates the AWS_ENDPOINT_URL variables, so every call passes --endpoint-url.
# `--follow` polls every 5 s (the CLI's FollowLogEventsGenerator sleeps 5 s between FilterLogEvents calls) and
# ends only on Ctrl-C; a line already in CloudWatch Logs shows at its next poll, so 60 s (12 polls) bounds the wait
# for the lines with room for a loaded 2-core machine.
FOLLOW_DEADLINE = 60.0


class AWSCLIv2:
    def __init__(self, stack: ClientStack) -> None:
        self.aws = os.environ.get("AWS_CLI_V2", "")
        if not self.aws:
            pytest.fail(
                "AWS_CLI_V2 is not set: run `make test-clients` (it finds or installs the AWS CLI v2 with "
                "tools/awscli-v2.sh), or set AWS_CLI_V2 to an AWS CLI v2's path"
            )
        version = subprocess.run([self.aws, "--version"], capture_output=True, text=True, check=False)
        if not version.stdout.startswith("aws-cli/2."):
            pytest.fail(f"AWS_CLI_V2={self.aws} is not the AWS CLI v2: {version.stdout}{version.stderr}")
        self.version = version.stdout.split()[0]
        self.stack = stack

    def command(self, *args: str) -> list[str]:
        return [self.aws, "--endpoint-url", self.stack.endpoints.aws, *args]

    def environment(self) -> dict[str, str]:
        return self.stack.environment(AWS_PAGER="")

    def tail(self, *args: str) -> list[tuple[str, str]]:
        """`aws logs tail` without --follow: it prints what is there and exits. Returns (stream, message) pairs from
        its default `detailed` format, `<timestamp> <stream> <message>`."""
        completed = subprocess.run(
            self.command("logs", "tail", LOG_GROUP, *args),
            capture_output=True,
            text=True,
            env=self.environment(),
            timeout=120,
            check=False,
        )
        assert completed.returncode == 0, completed.stderr
        return [detailed(line) for line in completed.stdout.splitlines()]


def detailed(line: str) -> tuple[str, str]:
    _timestamp, stream, message = line.split(" ", 2)
    return stream, message


def job_events(stack: ClientStack, job: str) -> tuple[str, list[dict[str, Any]]]:
    """A job's stream and its events, read with the administrator's boto3 (what the tail should print)."""
    logs = stack.admin("logs")
    streams = logs.describe_log_streams(logGroupName=LOG_GROUP, logStreamNamePrefix=f"{job}/")["logStreams"]
    assert len(streams) == 1, streams
    stream = streams[0]["logStreamName"]
    events = logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=stream, startFromHead=True)["events"]
    return stream, events


def epochs(messages: list[str]) -> list[str]:
    return [m.split()[0] for m in messages if m.startswith("epoch=")]


@pytest.fixture(scope="module")
def aws2(stack: ClientStack) -> AWSCLIv2:
    return AWSCLIv2(stack)


@pytest.mark.slow
def test_logs_tail_with_the_cli_v2_prints_one_trials_lines(
    stack: ClientStack, aws2: AWSCLIv2, tuned: dict[str, Any]
) -> None:
    """`aws logs tail /aws/sagemaker/TrainingJobs --log-stream-name-prefix <trial>` after a tuning job: the trial's
    own lines, in order, and none of its 5 sibling trials' (their streams are in the same group); `--since` from
    the trial's second epoch leaves out what came before it."""
    trials = stack.admin("sagemaker").list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=TUNING_JOB
    )["TrainingJobSummaries"]
    trial = sorted(t["TrainingJobName"] for t in trials)[0]
    stream, events = job_events(stack, trial)
    second = next(e for e in events if e["message"].startswith("epoch=2"))
    since = datetime.fromtimestamp(second["timestamp"] / 1000, UTC).isoformat()
    group_streams = stack.admin("logs").describe_log_streams(logGroupName=LOG_GROUP)["logStreams"]

    tailed = aws2.tail("--log-stream-name-prefix", trial)
    from_an_hour_ago = aws2.tail("--log-stream-name-prefix", trial, "--since", "1h")
    from_the_second_epoch = aws2.tail("--log-stream-name-prefix", trial, "--since", since)
    nothing = aws2.tail("--log-stream-name-prefix", "cli-no-such-job")

    assert len(group_streams) > TRIALS  # the other trials (and the failing job) wrote theirs too
    messages = [e["message"] for e in events]
    assert epochs([m for _, m in tailed]) == ["epoch=1", "epoch=2", "epoch=3"]
    assert {s for s, _ in tailed} == {stream}
    assert [m for _, m in tailed] == messages
    assert from_an_hour_ago == tailed
    assert [m for _, m in from_the_second_epoch] == [
        e["message"] for e in events if e["timestamp"] >= second["timestamp"]
    ]
    assert epochs([m for _, m in from_the_second_epoch]) == ["epoch=2", "epoch=3"]
    assert nothing == []
    assert aws2.version.startswith("aws-cli/2.")


@pytest.mark.slow
def test_logs_tail_follow_with_the_cli_v2_prints_a_running_jobs_lines(
    stack: ClientStack, aws2: AWSCLIv2, tuned: dict[str, Any]
) -> None:
    """`aws logs tail --follow`, started before the job exists, prints the job's lines while the job runs (the
    trainer prints its epochs, then waits until stopped), goes on polling after the job is stopped, and ends on
    Ctrl-C (SIGINT), the only way out it has."""
    job = "cli-v2-follow"
    sagemaker = stack.admin("sagemaker")
    follow = subprocess.Popen(
        aws2.command("logs", "tail", LOG_GROUP, "--log-stream-name-prefix", job, "--follow"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=aws2.environment(),
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in follow.stdout or ():
            lines.put(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    received: list[str] = []

    def wait_for_lines(done: Any) -> None:
        deadline = time.monotonic() + FOLLOW_DEADLINE
        while not done() and time.monotonic() < deadline:
            try:
                received.append(lines.get(timeout=max(deadline - time.monotonic(), 0.01)))
            except queue.Empty:
                return

    try:
        request = definition(stack, x="0.2", hang="1")
        sagemaker.create_training_job(
            TrainingJobName=job, HyperParameters=request.pop("StaticHyperParameters"), **request
        )
        wait_for_lines(lambda: any(" epoch=3 " in line for line in received))
        status_while_printed = sagemaker.describe_training_job(TrainingJobName=job)["TrainingJobStatus"]
        sagemaker.stop_training_job(TrainingJobName=job)
        stopped = stack.sagemaker.wait_training_job(job, 120)
        stream, events = job_events(stack, job)
        # every line is in CloudWatch Logs once the job has ended: wait for the tail to have printed as many
        wait_for_lines(lambda: len(received) >= len(events))
        still_following = follow.poll() is None
    finally:
        follow.send_signal(signal.SIGINT)
        try:
            follow.wait(timeout=30)
        except subprocess.TimeoutExpired:
            follow.kill()
            follow.wait()
    reader.join(timeout=30)
    while not lines.empty():  # whatever it printed after those, up to its end
        received.append(lines.get_nowait())
    stderr = follow.stderr.read() if follow.stderr else ""
    printed = [detailed(line.rstrip("\n")) for line in received]

    assert status_while_printed == "InProgress"
    assert stopped["TrainingJobStatus"] == "Stopped"
    assert still_following, stderr
    # The tail's own catch of Ctrl-C ends it with 0; the CLI's handler gives 130 if the signal lands outside it.
    assert follow.returncode in (0, 130), stderr
    assert [m for _, m in printed] == [e["message"] for e in events], stderr
    assert {s for s, _ in printed} == {stream}
    assert epochs([m for _, m in printed]) == ["epoch=1", "epoch=2", "epoch=3"]
