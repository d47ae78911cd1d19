"""RecordTrial, CloseRound, Promote and Reconcile driven by the events/ files against moto (S3, DynamoDB, SNS, SQS,
CloudWatch), with a Stubber for SageMaker that pins the exact requests and checks AWS's response shapes."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from retune.adapters.cloudwatch import NAMESPACE
from retune.naming import client_token
from retune.policy import hyperparameter_names, initial_plan
from retune.profile import parse_profile
from retune.records import Decision, DropRecord, Evaluation, JobLookup, RoundRecord
from retune.store import lookup_item
from retune.table import Put
from retune.use_cases.reconcile import ReconcileFailed

from functions.close_round.handler import lambda_handler as close_round_handler
from functions.promote.handler import lambda_handler as promote_handler
from functions.reconcile.handler import lambda_handler as reconcile_handler
from functions.record_trial.handler import lambda_handler as record_trial_handler
from tests.conftest import profile_doc
from tests.integration.conftest import ENV, AwsWorld, FakeLambdaContext, load_event

TUNING = "rt-market-xgb-0001"
TRIAL = "rt-market-xgb-0001-002-1b2c3d4e"
EVAL = "rt-market-xgb-0001-eval"
ARTIFACT = f"s3://{ENV['DATA_BUCKET']}/models/market-xgb/{TUNING}/{TRIAL}/output/model.tar.gz"
T0 = datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


@pytest.fixture
def loop(aws: AwsWorld) -> dict[str, Any]:
    """A running round 1 of market-xgb, as StartRound leaves it, and the deps of the other handlers."""
    aws.put("profiles/market-xgb.json", profile_doc())
    profile = parse_profile(json.dumps(profile_doc()))
    drop = DropRecord(
        profile="market-xgb",
        drop_id="2015-01-01",
        state="received",
        bucket=aws.bucket,
        manifest_key="datasets/market-xgb/2015-01-01/manifest.json",
        version="v1",
        uploaded_at=T0,
        manifest={
            "channels": {
                "train": {"files": ["train.csv"]},
                "validation": {"files": ["validation.csv"]},
                "test": {"files": ["test.csv"], "content_type": "text/csv"},
            }
        },
        updated_at=T0,
    )
    aws.store.create_drop(drop)
    rnd = RoundRecord(
        profile="market-xgb",
        seq=1,
        drop_id="2015-01-01",
        tuning_job_name=TUNING,
        status="running",
        plan=initial_plan(profile, "v1"),
        profile_version="v1",
        objective_metric="validation:rmse",
        epochs_metric="train:epochs",
        compute_metric="train:compute",
        hyperparameter_names=sorted(hyperparameter_names(profile)),
        started_at=T0,
    )
    aws.store.start_round(
        rnd,
        drop.model_copy(update={"state": "started", "round_seq": 1}),
        expected_drop=drop,
        lookup=JobLookup(job_name=TUNING, kind="tuning", profile="market-xgb", seq=1),
    )
    composed = aws.composed
    record, close, promote = composed.record_trial, composed.close_round, composed.promote
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")  # the test's own writes of the series
    return {"aws": aws, "record": record, "close": close, "promote": promote, "cloudwatch": cloudwatch}


def described_trial(name: str, status: str = "Completed", objective: float = 0.48) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}",
        "TuningJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/{TUNING}",
        "ModelArtifacts": {"S3ModelArtifacts": ARTIFACT},
        "TrainingJobStatus": status,
        "SecondaryStatus": status,
        "HyperParameters": {"eta": "0.05", "num_round": "300"},
        "AlgorithmSpecification": {
            "TrainingImage": "retune/market-volatility-xgb",
            "TrainingInputMode": "File",
        },
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 30},
        "StoppingCondition": {"MaxRuntimeInSeconds": 900},
        "CreationTime": T0,
        "TrainingStartTime": T0,
        "TrainingEndTime": T0.replace(minute=5),
        "TrainingTimeInSeconds": 290,
        "BillableTimeInSeconds": 300,
        "FinalMetricDataList": [
            {"MetricName": "validation:rmse", "Value": objective, "Timestamp": T0},
            {"MetricName": "train:compute", "Value": 1234.0, "Timestamp": T0},
            {"MetricName": "train:epochs", "Value": 30.0, "Timestamp": T0},
        ],
    }


def test_record_trial_handler_records_the_described_trial_with_its_cloudwatch_series(
    loop: dict[str, Any],
) -> None:
    aws, cloudwatch = loop["aws"], loop["cloudwatch"]
    now = datetime.now(tz=UTC)
    for i, value in enumerate([0.6, 0.52, 0.48]):
        cloudwatch.put_metric_data(
            Namespace=NAMESPACE,
            MetricData=[
                {
                    "MetricName": "validation:rmse",
                    "Dimensions": [{"Name": "TrainingJobName", "Value": TRIAL}],
                    "Value": value,
                    "Timestamp": now.replace(microsecond=0).replace(second=i),
                }
            ],
        )
    aws.stubber.add_response(
        "describe_training_job",
        described_trial(TRIAL)
        | {"TrainingStartTime": now.replace(second=0, microsecond=0), "TrainingEndTime": now},
        {"TrainingJobName": TRIAL},
    )
    result = record_trial_handler(
        load_event("record_trial/training_completed.json"), FakeLambdaContext(), deps=loop["record"]
    )
    aws.stubber.assert_no_pending_responses()
    assert result["status"] == "recorded" and result["trial_status"] == "Completed"
    trial = aws.store.get_trial("market-xgb", 1, TRIAL)
    assert trial.objective_series == [0.6, 0.52, 0.48]
    assert trial.final_objective == 0.48 and trial.compute == 1234.0 and trial.epochs == 30
    assert trial.billable_seconds == 600  # 300 s × 2 instances
    assert trial.model_artifact == ARTIFACT


def test_record_trial_handler_ignores_a_job_that_is_not_retunes(loop: dict[str, Any]) -> None:
    result = record_trial_handler(
        load_event("record_trial/training_not_retune.json"), FakeLambdaContext(), deps=loop["record"]
    )
    assert result["status"] == "ignored"
    loop["aws"].stubber.assert_no_pending_responses()


def test_record_trial_handler_missing_job_is_not_an_error(loop: dict[str, Any]) -> None:
    aws = loop["aws"]
    aws.stubber.add_client_error(
        "describe_training_job", "ValidationException", "Requested resource not found.", 400
    )
    event = load_event("record_trial/training_in_progress.json")
    result = record_trial_handler(event, FakeLambdaContext(), deps=loop["record"])
    assert result["status"] == "ignored"


def stub_ended_tuning_job(aws: AwsWorld) -> None:
    """SageMaker's answers to CloseRound for round 1's tuning job, Completed with one trial it backfills."""
    aws.stubber.add_response(
        "describe_hyper_parameter_tuning_job",
        {
            "HyperParameterTuningJobName": TUNING,
            "HyperParameterTuningJobArn": f"arn:aws:sagemaker:us-east-1:123456789012:hyper-parameter-tuning-job/{TUNING}",
            "HyperParameterTuningJobConfig": {
                "Strategy": "Bayesian",
                "ResourceLimits": {"MaxParallelTrainingJobs": 2},
            },
            "HyperParameterTuningJobStatus": "Completed",
            "CreationTime": T0,
            "HyperParameterTuningEndTime": T0.replace(hour=11),
            "TrainingJobStatusCounters": {"Completed": 1},
            "ObjectiveStatusCounters": {"Succeeded": 1},
            "BestTrainingJob": {
                "TrainingJobName": TRIAL,
                "TrainingJobArn": "arn:x",
                "CreationTime": T0,
                "TrainingJobStatus": "Completed",
                "TunedHyperParameters": {"eta": "0.05"},
                "FinalHyperParameterTuningJobObjectiveMetric": {
                    "MetricName": "validation:rmse",
                    "Value": 0.48,
                },
            },
        },
        {"HyperParameterTuningJobName": TUNING},
    )
    aws.stubber.add_response(
        "list_training_jobs_for_hyper_parameter_tuning_job",
        {
            "TrainingJobSummaries": [
                {
                    "TrainingJobName": TRIAL,
                    "TrainingJobArn": "arn:x",
                    "CreationTime": T0,
                    "TrainingJobStatus": "Completed",
                    "TunedHyperParameters": {"eta": "0.05"},
                }
            ]
        },
        {"HyperParameterTuningJobName": TUNING, "MaxResults": 100},
    )
    aws.stubber.add_response("describe_training_job", described_trial(TRIAL), {"TrainingJobName": TRIAL})


def test_close_round_handler_backfills_and_starts_the_exact_evaluation(loop: dict[str, Any]) -> None:
    aws = loop["aws"]
    stub_ended_tuning_job(aws)
    bucket = aws.bucket
    aws.stubber.add_response(
        "create_training_job",
        {"TrainingJobArn": "arn:eval"},
        {
            "TrainingJobName": EVAL,
            "HyperParameters": {
                "retune_mode": "evaluate",
                "objective_metric": "validation:rmse",
                "objective_type": "Minimize",
            },
            "AlgorithmSpecification": {
                "TrainingImage": "retune/market-volatility-xgb",
                "TrainingInputMode": "File",
                "MetricDefinitions": [
                    {"Name": "challenger_score", "Regex": r"challenger_score[=:]\s*([-+0-9.eE]+|nan|inf)"},
                    {"Name": "champion_score", "Regex": r"champion_score[=:]\s*([-+0-9.eE]+|nan|inf)"},
                ],
            },
            "RoleArn": ENV["SAGEMAKER_ROLE_ARN"],
            "InputDataConfig": [
                {
                    "ChannelName": "challenger",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "S3Prefix",
                            "S3Uri": ARTIFACT,
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                    "InputMode": "File",
                    "ContentType": "application/x-tar",
                },
                {
                    "ChannelName": "test",
                    "DataSource": {
                        "S3DataSource": {
                            "S3DataType": "ManifestFile",
                            "S3Uri": f"s3://{bucket}/manifests/market-xgb/2015-01-01/test.manifest",
                            "S3DataDistributionType": "FullyReplicated",
                        }
                    },
                    "InputMode": "File",
                    "ContentType": "text/csv",
                },
            ],
            "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/evaluations/market-xgb/"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 30},
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "Tags": [
                {"Key": "retune:profile", "Value": "market-xgb"},
                {"Key": "retune:round", "Value": "1"},
                {"Key": "retune:drop", "Value": "2015-01-01"},
            ],
        },
    )
    result = close_round_handler(
        load_event("close_round/tuning_completed.json"), FakeLambdaContext(), deps=loop["close"]
    )
    aws.stubber.assert_no_pending_responses()
    assert result["status"] == "evaluating" and result["backfilled"] == 1
    rnd = aws.store.get_round("market-xgb", 1)
    assert rnd.best_training_job == TRIAL and rnd.best_objective == 0.48 and rnd.billable_seconds == 600
    assert aws.store.get_plan("market-xgb").warm_start_parents.value == [TUNING]
    assert aws.store.get_lookup(EVAL).kind == "evaluation"


def test_close_round_handler_with_an_empty_profile_decides_the_round_not_evaluated(
    loop: dict[str, Any],
) -> None:
    # S3 answers the ranged read of an empty profile with 416 InvalidRange: the round is decided, not parked.
    aws = loop["aws"]
    aws.put("profiles/market-xgb.json", b"")
    stub_ended_tuning_job(aws)
    result = close_round_handler(
        load_event("close_round/tuning_completed.json"), FakeLambdaContext(), deps=loop["close"]
    )
    aws.stubber.assert_no_pending_responses()
    assert result["status"] == "evaluating"
    rnd = aws.store.get_round("market-xgb", 1)
    assert rnd.status == "decided" and rnd.decision.outcome == "not_evaluated"
    assert aws.store.get_active("market-xgb") is None
    (alert,) = aws.alerts()
    assert "the profile or the drop could not be read" in alert["Message"]


def evaluating(loop: dict[str, Any]) -> None:
    """Round 1 closed with an evaluation in progress, as CloseRound leaves it."""
    aws = loop["aws"]
    rnd = aws.store.get_round("market-xgb", 1)
    aws.store.save_round(
        rnd.model_copy(
            update={
                "status": "evaluating",
                "tuning_status": "Completed",
                "best_training_job": TRIAL,
                "best_objective": 0.48,
                "best_model_artifact": ARTIFACT,
                "evaluation": Evaluation(job_name=EVAL, status="InProgress"),
            }
        ),
        expected_status="running",
    )
    aws.store.table.write(
        [Put(lookup_item(JobLookup(job_name=EVAL, kind="evaluation", profile="market-xgb", seq=1)))]
    )


def test_promote_handler_registers_and_promotes_the_first_champion(loop: dict[str, Any]) -> None:
    aws = loop["aws"]
    evaluating(loop)
    aws.put(ARTIFACT.split("/", 3)[3], b"the best trial's model")  # SageMaker wrote it
    kept = f"s3://{aws.bucket}/registry/market-xgb/round-1/model.tar.gz"
    aws.stubber.add_response(
        "describe_training_job",
        described_trial(EVAL)
        | {"FinalMetricDataList": [{"MetricName": "challenger_score", "Value": 0.4712, "Timestamp": T0}]},
        {"TrainingJobName": EVAL},
    )
    aws.stubber.add_response(
        "create_model_package_group",
        {"ModelPackageGroupArn": "arn:group"},
        {
            "ModelPackageGroupName": "retune-market-xgb",
            "ModelPackageGroupDescription": "retune champions and challengers of profile market-xgb",
            "Tags": [{"Key": "retune:profile", "Value": "market-xgb"}],
        },
    )
    package = "arn:aws:sagemaker:us-east-1:123456789012:model-package/retune-market-xgb/1"
    aws.stubber.add_response(
        "create_model_package",
        {"ModelPackageArn": package},
        {
            "ModelPackageGroupName": "retune-market-xgb",
            "ModelPackageDescription": "round 1 of market-xgb (drop 2015-01-01): first champion: the challenger "
            "scored 0.4712 and there is no champion to beat",
            "ClientToken": client_token("market-xgb", 1, "register"),
            "InferenceSpecification": {
                "Containers": [{"Image": "retune/market-volatility-xgb", "ModelDataUrl": kept}],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
                "SupportedRealtimeInferenceInstanceTypes": ["ml.m5.large"],
            },
            "ModelApprovalStatus": "Approved",
            "ModelMetrics": {
                "ModelQuality": {
                    "Statistics": {
                        "ContentType": "application/json",
                        "S3Uri": f"s3://{aws.bucket}/evaluations/market-xgb/{EVAL}/report.json",
                    }
                }
            },
            "CustomerMetadataProperties": {
                "retune:profile": "market-xgb",
                "retune:round": "1",
                "retune:challenger_score": "0.4712",
            },
        },
    )
    result = promote_handler(
        load_event("promote/evaluation_completed.json"), FakeLambdaContext(), deps=loop["promote"]
    )
    aws.stubber.assert_no_pending_responses()
    assert result["status"] == "approved" and result["model_package_arn"] == package
    champion = aws.store.get_champion("market-xgb")
    assert (champion.model_package_arn, champion.model_artifact) == (package, kept)
    copy = aws.s3.get_object(Bucket=aws.bucket, Key="registry/market-xgb/round-1/model.tar.gz")
    assert copy["Body"].read() == b"the best trial's model"
    tags = aws.s3.get_object_tagging(Bucket=aws.bucket, Key="registry/market-xgb/round-1/model.tar.gz")
    assert tags["TagSet"] == []  # a champion's model never expires
    assert aws.store.get_active("market-xgb") is None
    (alert,) = aws.alerts()
    assert (
        alert["Subject"]
        == "[retune] market-xgb round 1: promoted (test validation:rmse 0.4712, no champion yet)"
    )
    report = json.loads(
        aws.s3.get_object(Bucket=aws.bucket, Key=f"evaluations/market-xgb/{EVAL}/report.json")["Body"].read()
    )
    assert report["challenger_score"] == 0.4712


def test_promote_handler_takes_a_package_approved_by_hand(loop: dict[str, Any]) -> None:
    aws = loop["aws"]
    event = load_event("promote/model_package_approved.json")
    arn = event["detail"]["ModelPackageArn"]
    rnd = aws.store.get_round("market-xgb", 1)
    pending = Decision(outcome="pending_manual", reason="won", model_package_arn=arn, decided_at=T0)
    aws.store.save_round(
        rnd.model_copy(update={"status": "decided", "decision": pending}), expected_status="running"
    )
    kept = "registry/market-xgb/round-1/model.tar.gz"
    aws.put(kept, b"round 1's model")
    aws.stubber.add_response(
        "describe_model_package",
        {
            "ModelPackageName": "retune-market-xgb",
            "ModelPackageArn": arn,
            "CreationTime": T0,
            "ModelPackageStatus": "Completed",
            "ModelApprovalStatus": "Approved",
            "ModelPackageStatusDetails": {"ValidationStatuses": [], "ImageScanStatuses": []},
            "InferenceSpecification": {
                "Containers": [
                    {"Image": "retune/market-volatility-xgb", "ModelDataUrl": f"s3://{aws.bucket}/{kept}"}
                ],
                "SupportedContentTypes": ["text/csv"],
                "SupportedResponseMIMETypes": ["text/csv"],
            },
            "CustomerMetadataProperties": {"retune:profile": "market-xgb", "retune:round": "1"},
        },
        {"ModelPackageName": arn},
    )
    # Its group is the profile's: retune tagged it when it created it.
    aws.stubber.add_response(
        "list_tags",
        {"Tags": [{"Key": "retune:profile", "Value": "market-xgb"}]},
        {
            "ResourceArn": "arn:aws:sagemaker:us-east-1:123456789012:model-package-group/retune-market-xgb",
            "MaxResults": 100,
        },
    )
    result = promote_handler(event, FakeLambdaContext(), deps=loop["promote"])
    aws.stubber.assert_no_pending_responses()
    assert result["status"] == "champion_set"
    champion = aws.store.get_champion("market-xgb")
    assert champion.model_package_arn == arn and champion.model_artifact == f"s3://{aws.bucket}/{kept}"
    assert champion.history[-1].decided_by == event["detail"]["LastModifiedBy"]["IamIdentity"]["Arn"]
    (alert,) = aws.alerts()
    assert alert["Subject"] == "[retune] market-xgb: champion set by hand (round 1)"


def test_reconcile_handler_alerts_on_parked_events(loop: dict[str, Any]) -> None:
    aws = loop["aws"]
    url = aws.sqs.create_queue(QueueName="retune-StartRoundOnFailureQueue")["QueueUrl"]
    aws.sqs.send_message(
        QueueUrl=url, MessageBody=json.dumps({"requestContext": {"condition": "RetriesExhausted"}})
    )
    aws.stubber.add_response(
        "describe_hyper_parameter_tuning_job",
        {
            "HyperParameterTuningJobName": TUNING,
            "HyperParameterTuningJobArn": "arn:x",
            "HyperParameterTuningJobConfig": {
                "Strategy": "Bayesian",
                "ResourceLimits": {"MaxParallelTrainingJobs": 2},
            },
            "HyperParameterTuningJobStatus": "InProgress",
            "CreationTime": T0,
            "TrainingJobStatusCounters": {},
            "ObjectiveStatusCounters": {},
        },
        {"HyperParameterTuningJobName": TUNING},
    )
    deps = replace(aws.composed.reconcile, clock=lambda: T0.replace(minute=1), parked_queue_urls=(url,))
    result = reconcile_handler(load_event("reconcile/schedule.json"), FakeLambdaContext(), deps=deps)
    aws.stubber.assert_no_pending_responses()
    assert result["actions"] == [f"1 parked on {url}"]
    (alert,) = aws.alerts()
    assert alert["Subject"] == "[retune] 1 event(s) parked on retune-StartRoundOnFailureQueue"


def test_reconcile_handler_alerts_an_unclassified_error_goes_on_and_ends_failed(loop: dict[str, Any]) -> None:
    """Issue 17 item 6: an AWS error retune does not classify (AccessDenied) on one round neither aborts the run
    nor hides the parked events; it is alerted, and the run ends failed so that the Errors alarm fires."""
    aws = loop["aws"]
    url = aws.sqs.create_queue(QueueName="retune-StartRoundOnFailureQueue")["QueueUrl"]
    aws.sqs.send_message(
        QueueUrl=url, MessageBody=json.dumps({"requestContext": {"condition": "RetriesExhausted"}})
    )
    aws.stubber.add_client_error(
        "describe_hyper_parameter_tuning_job",
        service_error_code="AccessDeniedException",
        service_message="not authorized to perform: sagemaker:DescribeHyperParameterTuningJob",
        http_status_code=400,
        expected_params={"HyperParameterTuningJobName": TUNING},
    )
    deps = replace(aws.composed.reconcile, clock=lambda: T0.replace(minute=1), parked_queue_urls=(url,))
    with pytest.raises(ReconcileFailed, match="1 item\\(s\\) failed: market-xgb round 1: ClientError"):
        reconcile_handler(load_event("reconcile/schedule.json"), FakeLambdaContext(), deps=deps)
    aws.stubber.assert_no_pending_responses()
    subjects = sorted(a["Subject"] for a in aws.alerts())
    assert subjects == [
        "[retune] 1 event(s) parked on retune-StartRoundOnFailureQueue",
        "[retune] market-xgb round 1: Reconcile failed (ClientError)",
    ]


def test_handlers_reject_malformed_events_without_raising(loop: dict[str, Any]) -> None:
    event = load_event("record_trial/training_completed.json")
    del event["detail"]["TrainingJobStatus"]
    result = record_trial_handler(event, FakeLambdaContext(), deps=loop["record"])
    assert result == {"status": "rejected", "errors": ["detail.TrainingJobStatus: required: add it"]}
    wrong = load_event("close_round/tuning_completed.json")
    wrong["detail"]["HyperParameterTuningJobStatus"] = "Exploded"
    assert close_round_handler(wrong, FakeLambdaContext(), deps=loop["close"])["status"] == "rejected"
