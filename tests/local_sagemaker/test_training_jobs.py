"""Training jobs under the SageMaker container contract: data from S3, the /opt/ml layout, environment,
metrics to CloudWatch, outputs to S3, exit status, time limits."""

from __future__ import annotations

import io
import json
import tarfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from retune_local import ImageSpec, LocalSageMaker, ServiceError

from tests.local_sagemaker.conftest import IMAGE, ROLE, TRAINERS, Connect, ServiceFactory, curve_image
from tests.local_sagemaker.trainers.curve import loss

pytestmark = pytest.mark.local_stack


def training_request(
    name: str, *, image: str = IMAGE, hyperparameters: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    request: dict[str, Any] = {
        "TrainingJobName": name,
        "HyperParameters": {"epochs": "3", "x": "0.5", **(hyperparameters or {})},
        "AlgorithmSpecification": {
            "TrainingImage": image,
            "TrainingInputMode": "File",
            "MetricDefinitions": [
                {"Name": "loss", "Regex": r"loss=([-+0-9.eE]+)"},
                {"Name": "accuracy", "Regex": r"accuracy=([0-9.]+)"},
            ],
        },
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://retune-out/eval"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
    }
    request.update(extra)
    return request


def run_training(service: LocalSageMaker, request: dict[str, Any]) -> dict[str, Any]:
    service.handle("CreateTrainingJob", request)
    return service.wait_training_job(request["TrainingJobName"])


@pytest.fixture
def inspecting(make_service: ServiceFactory, aws: dict[str, Any]) -> LocalSageMaker:
    images = {"inspect": ImageSpec.python(str(TRAINERS / "inspect_env.py")), "retune-curve": curve_image()}
    return make_service(images=images, s3=aws["s3"], cloudwatch=aws["cloudwatch"])


def test_training_job_gets_channels_config_and_environment_as_the_container_contract_says(
    inspecting: LocalSageMaker, aws: dict[str, Any]
) -> None:
    s3, bucket = aws["s3"], aws["bucket"]
    for key in (
        "drops/d1/train.csv",
        "drops/d1/train/part-1.csv",
        "drops/d1/validation.csv",
        "drops/d1/test.csv",
    ):
        s3.put_object(Bucket=bucket, Key=key, Body=b"a,b\n1,2\n")
    manifest = [{"prefix": f"s3://{bucket}/drops/d1/"}, "validation.csv", "test.csv"]
    s3.put_object(Bucket=bucket, Key="drops/d1/validation.manifest", Body=json.dumps(manifest).encode())
    channels = [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{bucket}/drops/d1/train",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "ContentType": "text/csv",
        },
        {
            "ChannelName": "validation",
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "ManifestFile",
                    "S3Uri": f"s3://{bucket}/drops/d1/validation.manifest",
                }
            },
        },
    ]
    request = training_request(
        "inspect-1",
        image=f"123456789012.dkr.ecr.us-east-1.amazonaws.com/inspect:{'1.0'}",
        InputDataConfig=channels,
        OutputDataConfig={"S3OutputPath": f"s3://{bucket}/out"},
        Environment={"CUSTOM_FLAG": "on"},
    )

    described = run_training(inspecting, request)

    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    model_uri = described["ModelArtifacts"]["S3ModelArtifacts"]
    assert model_uri == f"s3://{bucket}/out/inspect-1/output/model.tar.gz"
    body = s3.get_object(Bucket=bucket, Key="out/inspect-1/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        report = json.load(archive.extractfile("report.json"))  # type: ignore[arg-type]
    # S3Prefix: every key starting with "drops/d1/train", at its path after the prefix's last "/";
    # ManifestFile: the listed keys only (the manifest itself is not data).
    assert report["files"] == [
        "train/train.csv",
        "train/train/part-1.csv",
        "validation/test.csv",
        "validation/validation.csv",
    ]
    root = report["env"]["SAGEMAKER_BASE_DIR"]
    assert report["cwd"] == root
    env = report["env"]
    assert env["SM_MODEL_DIR"] == f"{root}/model"
    assert env["SM_CHANNEL_TRAIN"] == f"{root}/input/data/train"
    assert env["SM_CHANNEL_VALIDATION"] == f"{root}/input/data/validation"
    assert json.loads(env["SM_CHANNELS"]) == ["train", "validation"]
    assert json.loads(env["SM_HPS"]) == {"epochs": 3, "x": 0.5}
    assert env["SM_HP_X"] == "0.5"
    assert env["SM_OUTPUT_DATA_DIR"] == f"{root}/output/data"
    assert env["TRAINING_JOB_NAME"] == "inspect-1"
    assert env["TRAINING_JOB_ARN"] == described["TrainingJobArn"]
    assert env["CUSTOM_FLAG"] == "on"
    assert report["hyperparameters"] == {"epochs": "3", "x": "0.5"}
    assert report["inputdataconfig"]["train"] == {
        "TrainingInputMode": "File",
        "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": "None",
        "ContentType": "text/csv",
    }
    assert report["resourceconfig"]["current_host"] == "algo-1"
    assert report["resourceconfig"]["current_instance_type"] == "ml.m5.large"
    assert s3.head_object(Bucket=bucket, Key="out/inspect-1/output/output.tar.gz")["ContentLength"] > 0


def test_training_job_metrics_come_from_stdout_and_stderr_and_reach_cloudwatch(
    inspecting: LocalSageMaker, aws: dict[str, Any]
) -> None:
    described = run_training(inspecting, training_request("metrics-1", image="inspect"))

    finals = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert finals == {"accuracy": 0.5, "loss": 0.125}  # the last loss came on stderr
    cloudwatch = aws["cloudwatch"]
    series = cloudwatch.get_metric_statistics(
        Namespace="/aws/sagemaker/TrainingJobs",
        MetricName="loss",
        Dimensions=[{"Name": "TrainingJobName", "Value": "metrics-1"}],
        StartTime=datetime.now(UTC) - timedelta(days=1),
        EndTime=datetime.now(UTC) + timedelta(days=1),
        Period=60,
        Statistics=["SampleCount", "Minimum", "Maximum"],
    )["Datapoints"]
    assert sum(point["SampleCount"] for point in series) == 2
    assert min(point["Minimum"] for point in series) == 0.125


def test_training_job_of_a_tuning_job_publishes_each_epoch(
    make_service: ServiceFactory, aws: dict[str, Any]
) -> None:
    service = make_service(cloudwatch=aws["cloudwatch"])
    from tests.local_sagemaker.conftest import run_tuning, trials, tuning_request  # noqa: PLC0415

    run_tuning(service, tuning_request("cw", max_jobs=1, parallel=1))
    name = trials(service, "cw")[0]["TrainingJobName"]
    points = aws["cloudwatch"].get_metric_data(
        MetricDataQueries=[
            {
                "Id": "loss",
                "MetricStat": {
                    "Metric": {
                        "Namespace": "/aws/sagemaker/TrainingJobs",
                        "MetricName": "loss",
                        "Dimensions": [{"Name": "TrainingJobName", "Value": name}],
                    },
                    "Period": 1,
                    "Stat": "Average",
                },
            }
        ],
        StartTime=datetime.now(UTC) - timedelta(days=1),
        EndTime=datetime.now(UTC) + timedelta(days=1),
    )["MetricDataResults"][0]
    assert len(points["Values"]) == 5


def test_training_job_completes_with_billable_time_and_cpu_time(service: LocalSageMaker) -> None:
    described = run_training(service, training_request("plain-1"))

    assert described["TrainingJobStatus"] == "Completed"
    assert described["SecondaryStatus"] == "Completed"
    assert [t["Status"] for t in described["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    # Three epochs of the first metric at 10 virtual seconds each.
    assert described["BillableTimeInSeconds"] == described["TrainingTimeInSeconds"] == 30
    assert isinstance(described["LocalCpuTimeInSeconds"], float)
    assert described["FinalMetricDataList"] == [
        {"MetricName": "loss", "Value": loss(0.5, 3), "Timestamp": described["TrainingEndTime"]}
    ]
    assert "TuningJobArn" not in described


def test_training_job_failure_file_becomes_the_failure_reason(service: LocalSageMaker) -> None:
    described = run_training(service, training_request("fail-1", hyperparameters={"fail_above": "0.1"}))

    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"] == "AlgorithmError: x=0.5 is above 0.1"
    assert described["BillableTimeInSeconds"] >= 1


def test_training_job_nonzero_exit_without_failure_file_fails_with_the_exit_code(
    make_service: ServiceFactory,
) -> None:
    service = make_service(
        images={"crash": ImageSpec.python("-c", "import sys; print('loss=1'); sys.exit(3)")}
    )

    described = run_training(service, training_request("crash-1", image="crash:2"))

    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"] == "AlgorithmError: the training process exited with code 3"


def test_training_job_with_an_unknown_image_fails_with_a_clear_reason(service: LocalSageMaker) -> None:
    described = run_training(
        service, training_request("noimage-1", image="123456789012.dkr.ecr.us-east-1.amazonaws.com/nope:1")
    )

    assert described["TrainingJobStatus"] == "Failed"
    assert "does not exist" in described["FailureReason"]
    assert "nope" in described["FailureReason"]


def test_training_job_missing_s3_data_fails_the_job(
    make_service: ServiceFactory, aws: dict[str, Any]
) -> None:
    service = make_service(s3=aws["s3"])
    channels = [
        {
            "ChannelName": "train",
            "DataSource": {
                "S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{aws['bucket']}/absent/"}
            },
        }
    ]

    described = run_training(service, training_request("nodata-1", InputDataConfig=channels))

    assert described["TrainingJobStatus"] == "Failed"
    assert "no objects under" in described["FailureReason"]


def test_training_job_max_runtime_stops_it_as_max_runtime_exceeded(service: LocalSageMaker) -> None:
    request = training_request(
        "long-1", hyperparameters={"epochs": "6"}, StoppingCondition={"MaxRuntimeInSeconds": 35}
    )

    described = run_training(service, request)

    assert described["TrainingJobStatus"] == "Stopped"
    assert described["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert described["TrainingTimeInSeconds"] == 35
    assert {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]} == {"loss": loss(0.5, 3)}


def test_training_job_stop_training_job_stops_a_running_job(
    service: LocalSageMaker, connect: Connect
) -> None:
    service.handle("CreateTrainingJob", training_request("hang-1", hyperparameters={"hang": "1"}))
    service.wait_for(
        lambda: (
            service.handle("DescribeTrainingJob", {"TrainingJobName": "hang-1"})["SecondaryStatus"]
            == "Training"
        )
    )

    connect(service).stop_training_job(TrainingJobName="hang-1")
    described = service.wait_training_job("hang-1")

    assert described["TrainingJobStatus"] == "Stopped"
    assert described["SecondaryStatus"] == "Stopped"
    assert "ModelArtifacts" in described


def test_training_job_stop_of_a_finished_job_is_a_validation_error(service: LocalSageMaker) -> None:
    run_training(service, training_request("done-1"))

    with pytest.raises(ServiceError) as caught:
        service.handle("StopTrainingJob", {"TrainingJobName": "done-1"})

    assert caught.value.code == "ValidationException"


def test_training_job_repeated_name_gives_resource_in_use(service: LocalSageMaker, connect: Connect) -> None:
    run_training(service, training_request("twice-1"))
    client = connect(service)

    with pytest.raises(client.exceptions.ResourceInUse):
        client.create_training_job(**training_request("TWICE-1"))


def test_training_job_missing_is_a_validation_exception_not_resource_not_found(
    service: LocalSageMaker, connect: Connect
) -> None:
    client = connect(service)

    with pytest.raises(client.exceptions.ClientError) as caught:
        client.describe_training_job(TrainingJobName="absent")

    assert caught.value.response["Error"] == {
        "Code": "ValidationException",
        "Message": "Requested resource not found.",
    }


def test_training_job_runs_the_same_on_the_plain_subprocess_runner(make_service: ServiceFactory) -> None:
    service = make_service(warm=False)

    described = run_training(service, training_request("cold-1"))

    assert described["TrainingJobStatus"] == "Completed"
    assert described["FinalMetricDataList"][0]["Value"] == loss(0.5, 3)


def test_training_job_real_time_mode_enforces_max_runtime_on_the_wall_clock(
    make_service: ServiceFactory,
) -> None:
    service = make_service(deterministic=False)
    request = training_request(
        "rt-1", hyperparameters={"hang": "1"}, StoppingCondition={"MaxRuntimeInSeconds": 1}
    )

    described = run_training(service, request)

    assert described["TrainingJobStatus"] == "Stopped"
    assert described["SecondaryStatus"] == "MaxRuntimeExceeded"
    assert described["FinalMetricDataList"][0]["Value"] == loss(0.5, 3)


def test_training_job_working_directory_is_laid_out_like_opt_ml(
    service: LocalSageMaker, tmp_path: Path
) -> None:
    run_training(service, training_request("layout-1"))

    root = next(tmp_path.glob("state-*/jobs/layout-1"))
    for relative in (
        "input/config/hyperparameters.json",
        "input/config/inputdataconfig.json",
        "input/config/resourceconfig.json",
        "model/model.json",
        "model.tar.gz",
        "output/training.log",
    ):
        assert (root / relative).exists(), relative


def test_training_job_with_an_invalid_metric_regex_fails_instead_of_hanging(service: LocalSageMaker) -> None:
    request = training_request("regex-1")
    request["AlgorithmSpecification"]["MetricDefinitions"] = [{"Name": "loss", "Regex": "loss=(["}]

    described = run_training(service, request)

    assert described["TrainingJobStatus"] == "Failed"
    assert "invalid regular expression" in described["FailureReason"]


def test_list_training_jobs_filters_sorts_and_pages_as_sagemaker_does(
    service: LocalSageMaker, connect: Connect
) -> None:
    """`aws sagemaker list-training-jobs` and the SDKs' `TrainingJob.get_all`: every training job, by CreationTime
    ascending unless SortBy/SortOrder say otherwise, filtered by name, status and time, paged by NextToken."""
    for name, hyperparameters in (("list-b", {}), ("list-a", {}), ("other-c", {"fail_above": "0.1"})):
        run_training(service, training_request(name, hyperparameters=hyperparameters))
    client = connect(service)

    summaries = client.list_training_jobs()["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in summaries] == [
        "list-b",
        "list-a",
        "other-c",
    ]  # CreationTime, Ascending
    first = summaries[0]
    assert first["TrainingJobArn"].endswith(":training-job/list-b")
    assert first["TrainingJobStatus"] == "Completed" and first["SecondaryStatus"] == "Completed"
    assert first["TrainingEndTime"] >= first["CreationTime"]

    by_name = client.list_training_jobs(SortBy="Name", SortOrder="Descending")["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in by_name] == ["other-c", "list-b", "list-a"]
    named = client.list_training_jobs(NameContains="LIST")["TrainingJobSummaries"]
    assert {s["TrainingJobName"] for s in named} == {"list-a", "list-b"}
    failed = client.list_training_jobs(StatusEquals="Failed")["TrainingJobSummaries"]
    assert [s["TrainingJobName"] for s in failed] == ["other-c"]
    # botocore sends times as whole epoch seconds: bounds a second or more away from the jobs' times.
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert client.list_training_jobs(CreationTimeAfter=tomorrow)["TrainingJobSummaries"] == []
    assert len(client.list_training_jobs(CreationTimeBefore=tomorrow)["TrainingJobSummaries"]) == 3
    assert (
        client.list_training_jobs(LastModifiedTimeBefore=first["CreationTime"] - timedelta(days=1))[
            "TrainingJobSummaries"
        ]
        == []
    )
    assert client.list_training_jobs(WarmPoolStatusEquals="Available")["TrainingJobSummaries"] == []

    page = client.list_training_jobs(MaxResults=2)
    rest = client.list_training_jobs(MaxResults=2, NextToken=page["NextToken"])
    assert [s["TrainingJobName"] for s in page["TrainingJobSummaries"] + rest["TrainingJobSummaries"]] == [
        "list-b",
        "list-a",
        "other-c",
    ]
    assert "NextToken" not in rest
    paged = client.get_paginator("list_training_jobs").paginate(PaginationConfig={"PageSize": 1})
    assert sum(len(p["TrainingJobSummaries"]) for p in paged) == 3
