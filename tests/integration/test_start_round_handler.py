"""StartRound's handler driven by the events/ files against moto, with SageMaker's exact request pinned."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from functions.start_round.handler import lambda_handler
from tests.conftest import profile_doc
from tests.integration.conftest import ENV, AwsWorld, FakeLambdaContext, load_event

MANIFEST = {
    "channels": {
        "train": {"files": ["train.csv"], "content_type": "text/csv"},
        "validation": {"files": ["validation.csv"], "content_type": "text/csv"},
        "test": {"files": ["test.csv"], "content_type": "text/csv"},
    }
}


def upload_drop(aws: AwsWorld, drop_id: str) -> str:
    prefix = f"datasets/market-xgb/{drop_id}/"
    for name in ("train.csv", "validation.csv", "test.csv"):
        aws.put(prefix + name, "y,x\n0.1,0.2\n")
    return aws.put(prefix + "manifest.json", MANIFEST)


def event_for(path: str, version_id: str) -> dict[str, Any]:
    event = load_event(path)
    if "object" in event["detail"]:
        event["detail"]["object"]["version-id"] = version_id
    else:
        event["detail"]["version_id"] = version_id
    return event


def expected_request(drop_id: str) -> dict[str, Any]:
    bucket = ENV["DATA_BUCKET"]

    def channel(name: str) -> dict[str, Any]:
        return {
            "ChannelName": name,
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "ManifestFile",
                    "S3Uri": f"s3://{bucket}/manifests/market-xgb/{drop_id}/{name}.manifest",
                    "S3DataDistributionType": "FullyReplicated",
                }
            },
            "InputMode": "File",
            "ContentType": "text/csv",
        }

    profile = profile_doc()
    return {
        "HyperParameterTuningJobName": "rt-market-xgb-0001",
        "HyperParameterTuningJobConfig": {
            "Strategy": "Bayesian",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "validation:rmse"},
            "ResourceLimits": {
                "MaxParallelTrainingJobs": 2,
                "MaxNumberOfTrainingJobs": 20,
                "MaxRuntimeInSeconds": 7200,
            },
            "ParameterRanges": {
                "ContinuousParameterRanges": [
                    {"Name": "eta", "MinValue": "0.01", "MaxValue": "0.3", "ScalingType": "Logarithmic"},
                    {
                        "Name": "min_child_weight",
                        "MinValue": "1.0",
                        "MaxValue": "50.0",
                        "ScalingType": "Logarithmic",
                    },
                    {"Name": "subsample", "MinValue": "0.5", "MaxValue": "1.0", "ScalingType": "Auto"},
                    {"Name": "colsample_bytree", "MinValue": "0.3", "MaxValue": "1.0", "ScalingType": "Auto"},
                    {"Name": "lambda", "MinValue": "0.01", "MaxValue": "10.0", "ScalingType": "Logarithmic"},
                ],
                "IntegerParameterRanges": [
                    {"Name": "max_depth", "MinValue": "2", "MaxValue": "10", "ScalingType": "Auto"}
                ],
                # sent empty, as the SageMaker SDK sends it: its HyperparameterTuner.attach reads all three lists
                "CategoricalParameterRanges": [],
            },
            "TrainingJobEarlyStoppingType": "Auto",
            "RandomSeed": 7,
        },
        "TrainingJobDefinition": {
            "StaticHyperParameters": {"num_round": "300", "eval_every": "10", "early_stopping_rounds": "40"},
            "AlgorithmSpecification": {
                "TrainingImage": "retune/market-volatility-xgb",
                "TrainingInputMode": "File",
                "MetricDefinitions": [
                    {"Name": d["name"], "Regex": d["regex"]}
                    for d in profile["training"]["metric_definitions"]
                ],
            },
            "RoleArn": ENV["SAGEMAKER_ROLE_ARN"],
            "InputDataConfig": [channel("train"), channel("validation")],
            "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models/market-xgb/rt-market-xgb-0001/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 900},
        },
        "Tags": [
            {"Key": "retune:profile", "Value": "market-xgb"},
            {"Key": "retune:round", "Value": "1"},
            {"Key": "retune:drop", "Value": drop_id},
        ],
    }


def test_start_round_handler_sends_the_exact_tuning_request(aws: AwsWorld) -> None:
    aws.put("profiles/market-xgb.json", profile_doc())
    version = upload_drop(aws, "2015-01-01")
    aws.stubber.add_response(
        "create_hyper_parameter_tuning_job",
        {
            "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/rt-market-xgb-0001"
        },
        expected_request("2015-01-01"),
    )
    result = lambda_handler(
        event_for("start_round/manifest_uploaded.json", version), FakeLambdaContext(), deps=aws.deps
    )
    aws.stubber.assert_no_pending_responses()
    assert result["status"] == "started" and result["tuning_job"] == "rt-market-xgb-0001"
    written = json.loads(
        aws.s3.get_object(Bucket=aws.bucket, Key="manifests/market-xgb/2015-01-01/train.manifest")[
            "Body"
        ].read()
    )
    assert written == [{"prefix": f"s3://{aws.bucket}/datasets/market-xgb/2015-01-01/"}, "train.csv"]
    assert aws.store.get_round("market-xgb", 1).status == "running"


def test_start_round_handler_replay_meets_resource_in_use(aws: AwsWorld) -> None:
    aws.put("profiles/market-xgb.json", profile_doc())
    version = upload_drop(aws, "2015-01-01")
    aws.stubber.add_response("create_hyper_parameter_tuning_job", {"HyperParameterTuningJobArn": "arn:x"})
    event = event_for("start_round/manifest_uploaded.json", version)
    lambda_handler(event, FakeLambdaContext(), deps=aws.deps)
    rnd = aws.store.get_round("market-xgb", 1)
    aws.store.save_round(rnd.model_copy(update={"status": "starting"}), expected_status="running")
    aws.stubber.add_client_error("create_hyper_parameter_tuning_job", "ResourceInUse", "already exists", 400)
    request = expected_request("2015-01-01")
    aws.stubber.add_response(  # the existing job must read this drop's data to be adopted
        "describe_hyper_parameter_tuning_job",
        {
            "HyperParameterTuningJobName": "rt-market-xgb-0001",
            "HyperParameterTuningJobArn": "arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/rt-market-xgb-0001",
            "HyperParameterTuningJobConfig": request["HyperParameterTuningJobConfig"],
            "TrainingJobDefinition": request["TrainingJobDefinition"],
            "HyperParameterTuningJobStatus": "InProgress",
            "CreationTime": datetime(2026, 1, 5, tzinfo=UTC),
            "TrainingJobStatusCounters": {},
            "ObjectiveStatusCounters": {},
        },
        {"HyperParameterTuningJobName": "rt-market-xgb-0001"},
    )
    assert lambda_handler(event, FakeLambdaContext(), deps=aws.deps)["status"] == "started"
    aws.stubber.assert_no_pending_responses()


def test_start_round_handler_limit_exceeded_queues_and_alerts(aws: AwsWorld) -> None:
    aws.put("profiles/market-xgb.json", profile_doc())
    version = upload_drop(aws, "2015-01-01")
    aws.stubber.add_client_error(
        "create_hyper_parameter_tuning_job",
        "ResourceLimitExceeded",
        "The account-level service limit 'Number of concurrent tuning jobs' is 100",
        400,
    )
    result = lambda_handler(
        event_for("start_round/manifest_uploaded.json", version), FakeLambdaContext(), deps=aws.deps
    )
    assert result["status"] == "waiting_for_capacity"
    assert aws.store.get_queued("market-xgb").drop_id == "2015-01-01"
    (alert,) = aws.alerts()
    assert alert["Subject"] == "[retune] market-xgb drop 2015-01-01: waiting for SageMaker capacity"
    assert "Number of concurrent tuning jobs" in alert["Message"]


def test_start_round_handler_encoded_key_event(aws: AwsWorld) -> None:
    aws.put("profiles/market-xgb.json", profile_doc())
    drop_id = "window 2015-07=h2+q3"
    version = upload_drop(aws, drop_id)
    aws.stubber.add_response(
        "create_hyper_parameter_tuning_job",
        {"HyperParameterTuningJobArn": "arn:x"},
        expected_request(drop_id),
    )
    result = lambda_handler(
        event_for("start_round/manifest_uploaded_encoded_key.json", version),
        FakeLambdaContext(),
        deps=aws.deps,
    )
    assert result["status"] == "started" and result["drop_id"] == drop_id


def test_start_round_handler_bad_manifest_alerts_once(aws: AwsWorld) -> None:
    aws.put("profiles/market-xgb.json", profile_doc())
    version = aws.put(
        "datasets/market-xgb/2015-01-01/manifest.json", {"channels": {"train": {"files": ["x.csv"]}}}
    )
    event = event_for("start_round/manifest_uploaded.json", version)
    first = lambda_handler(event, FakeLambdaContext(), deps=aws.deps)
    second = lambda_handler(event, FakeLambdaContext(), deps=aws.deps)
    assert first["status"] == "failed" and second["status"] == "duplicate"
    (alert,) = aws.alerts()
    assert alert["Subject"].startswith("[retune] market-xgb drop 2015-01-01: failed validation")
    assert "x.csv" in alert["Message"]


def test_start_round_handler_drop_ready_starts_a_queued_drop(aws: AwsWorld) -> None:
    aws.put("profiles/market-xgb.json", profile_doc())
    version = upload_drop(aws, "2015-01-01")
    aws.stubber.add_client_error("create_hyper_parameter_tuning_job", "ResourceLimitExceeded", "limit", 400)
    lambda_handler(
        event_for("start_round/manifest_uploaded.json", version), FakeLambdaContext(), deps=aws.deps
    )
    aws.stubber.add_response(
        "create_hyper_parameter_tuning_job",
        {"HyperParameterTuningJobArn": "arn:x"},
        expected_request("2015-01-01"),
    )
    result = lambda_handler(
        event_for("start_round/drop_ready.json", version), FakeLambdaContext(), deps=aws.deps
    )
    assert result["status"] == "started"
    assert aws.store.get_queued("market-xgb") is None


def test_start_round_handler_rejects_a_malformed_event(aws: AwsWorld) -> None:
    event = load_event("start_round/manifest_uploaded.json")
    del event["detail"]["bucket"]
    result = lambda_handler(event, FakeLambdaContext(), deps=aws.deps)
    assert result == {"status": "rejected", "errors": ["bucket: required: add it"]}


def test_alert_is_published_once_whichever_function_publishes_it(aws: AwsWorld, monkeypatch) -> None:
    from retune.adapters.sns import Topic  # noqa: PLC0415
    from retune.alerts import Alert  # noqa: PLC0415

    alert = Alert(
        key="market-xgb/round/1/decision", profile="market-xgb", outcome="promoted", subject="s", lines=[]
    )
    for function in (
        "retune-PromoteFunction",
        "retune-ReconcileFunction",
    ):  # each Lambda builds its own Topic
        monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", function)
        Topic(aws.sns, ENV["ALERTS_TOPIC_ARN"], ENV["IDEMPOTENCY_TABLE"]).publish(alert)
    assert len(aws.alerts()) == 1


def test_start_round_handler_empty_manifest_fails_the_drop_naming_the_file(aws: AwsWorld) -> None:
    # S3 answers the ranged read of an empty object with 416 InvalidRange (moto too): a failed drop, not a park.
    aws.put("profiles/market-xgb.json", profile_doc())
    version = aws.put("datasets/market-xgb/2015-01-01/manifest.json", b"")
    result = lambda_handler(
        event_for("start_round/manifest_uploaded.json", version), FakeLambdaContext(), deps=aws.deps
    )
    assert result["status"] == "failed"
    assert result["errors"] == [
        "manifest: datasets/market-xgb/2015-01-01/manifest.json is empty (0 bytes); "
        "upload the manifest's JSON (its channels and their files)"
    ]
    assert aws.store.get_drop("market-xgb", "2015-01-01").state == "failed"
    (alert,) = aws.alerts()
    assert "is empty (0 bytes)" in alert["Message"]


def test_start_round_handler_empty_profile_fails_the_drop_naming_the_file(aws: AwsWorld) -> None:
    aws.put("profiles/market-xgb.json", b"")
    version = upload_drop(aws, "2015-01-01")
    result = lambda_handler(
        event_for("start_round/manifest_uploaded.json", version), FakeLambdaContext(), deps=aws.deps
    )
    assert result["status"] == "failed"
    assert result["errors"] == [
        "profile: profiles/market-xgb.json is empty (0 bytes); upload the profile's JSON"
    ]


def test_start_round_handler_manifest_over_dynamodbs_item_limit_starts_its_round(aws: AwsWorld) -> None:
    # Before, the started drop's item carried the manifest: DynamoDB refused it and the drop stuck in `received`.
    aws.put("profiles/market-xgb.json", profile_doc())
    prefix = "datasets/market-xgb/2015-01-01/"
    train = [f"part-{i:04d}-" + "x" * 840 + ".csv" for i in range(600)]
    for name in (*train, "validation.csv", "test.csv"):
        aws.put(prefix + name, "y,x\n0.1,0.2\n")
    manifest = {**MANIFEST, "channels": {**MANIFEST["channels"], "train": {"files": train}}}
    version = aws.put(prefix + "manifest.json", manifest)
    aws.stubber.add_response("create_hyper_parameter_tuning_job", {"HyperParameterTuningJobArn": "arn:x"})
    result = lambda_handler(
        event_for("start_round/manifest_uploaded.json", version), FakeLambdaContext(), deps=aws.deps
    )
    assert result["status"] == "started"
    assert aws.store.get_drop("market-xgb", "2015-01-01").state == "started"
    assert aws.store.get_round("market-xgb", 1).status == "running"


def test_start_round_handler_pass_role_denied_fails_the_drop_and_frees_the_profile(aws: AwsWorld) -> None:
    # Before, the AccessDeniedException was unclassified: the round stayed `starting`, holding the profile.
    aws.put("profiles/market-xgb.json", profile_doc())
    version = upload_drop(aws, "2015-01-01")
    denied = (
        "User: arn:aws:sts::123456789012:assumed-role/retune-StartRoundRole/retune-StartRound is not authorized "
        f"to perform: iam:PassRole on resource: {ENV['SAGEMAKER_ROLE_ARN']}"
    )
    aws.stubber.add_client_error("create_hyper_parameter_tuning_job", "AccessDeniedException", denied, 400)
    aws.stubber.add_client_error(  # a job that exists is adopted first: there is none
        "describe_hyper_parameter_tuning_job",
        "ResourceNotFound",
        "Amazon SageMaker can't find a tuning job with name rt-market-xgb-0001",
        400,
    )
    result = lambda_handler(
        event_for("start_round/manifest_uploaded.json", version), FakeLambdaContext(), deps=aws.deps
    )
    aws.stubber.assert_no_pending_responses()
    assert result["status"] == "failed"
    assert aws.store.get_drop("market-xgb", "2015-01-01").state == "failed"
    assert aws.store.get_active("market-xgb") is None
    (alert,) = aws.alerts()
    assert alert["Subject"] == "[retune] market-xgb drop 2015-01-01: its round did not start"
    assert "iam:PassRole" in alert["Message"] and "AccessDeniedException" in alert["Message"]


def test_start_round_handler_key_that_is_no_drop_is_alerted_once(aws: AwsWorld) -> None:
    # Before, it was only logged: the person who uploaded it was never told.
    event = load_event("start_round/manifest_uploaded.json")
    event["detail"]["object"]["key"] = "datasets/market-xgb/2015%0901/manifest.json"  # a tab in the drop id
    for _ in range(2):
        result = lambda_handler(event, FakeLambdaContext(), deps=aws.deps)
        assert result == {
            "status": "rejected",
            "errors": ["drop id '2015\\t01': use 1 to 128 printable characters"],
        }
    (alert,) = aws.alerts()
    assert alert["Subject"] == "[retune] not a drop: datasets/market-xgb/2015\\t01/manifest.json"
    assert "drop id '2015\\t01': use 1 to 128 printable characters" in alert["Message"]
