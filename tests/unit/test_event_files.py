"""events/: every sample is well formed, parses into the model its handler uses, and follows retune's names.

The samples vary on purpose in the forms SageMaker uses (Tags as a map or a list; times as epoch milliseconds
in strings or numbers, or ISO strings); these tests keep that variety from being tidied away.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from retune.errors import InvalidInput
from retune.events import parse_drop_event
from retune.naming import (
    evaluation_job_name,
    is_evaluation_job,
    is_retune_job,
    tuning_job_name,
    tuning_job_of_trial,
)
from retune.profile import Profile
from retune.requests import EVALUATION_METRICS
from retune.sagemaker_events import (
    ENDPOINT_STATE_CHANGE,
    MODEL_PACKAGE_STATE_CHANGE,
    TRAINING_JOB_STATE_CHANGE,
    TUNING_JOB_STATE_CHANGE,
    EndpointEvent,
    ModelPackageEvent,
    TrainingJobEvent,
    TuningJobEvent,
    parse_sagemaker_event,
)
from retune.timeutil import parse_timestamp

ROOT = Path(__file__).resolve().parents[2]
EVENTS = ROOT / "events"
ENV_FILE = EVENTS / "env.json"
ACCOUNT = "123456789012"
REGION = "us-east-1"
BUCKET = f"retune-data-{ACCOUNT}"
PROFILE = Profile.model_validate(json.loads((ROOT / "profiles" / "market-xgb.json").read_text()))
SEQ = 1
DROP = "2015-01-01"
ROUND_TAGS = {"retune:profile": PROFILE.name, "retune:round": str(SEQ), "retune:drop": DROP}
NOT_RETUNE = "record_trial/training_not_retune.json"
ENVELOPE_KEYS = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
DETAIL_TIMES = ("CreationTime", "TrainingStartTime", "TrainingEndTime", "LastModifiedTime")
SAGEMAKER_ARN = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"

# Each SageMaker sample: its detail-type, the model it parses into, and its (status, secondary status).
_TRAINING = (TRAINING_JOB_STATE_CHANGE, TrainingJobEvent)
_TUNING = (TUNING_JOB_STATE_CHANGE, TuningJobEvent)
SAGEMAKER_FILES: dict[str, tuple[str, type, tuple[str, str | None]]] = {
    "record_trial/training_in_progress.json": (*_TRAINING, ("InProgress", "Training")),
    "record_trial/training_completed.json": (*_TRAINING, ("Completed", "Completed")),
    "record_trial/training_stopped_early.json": (*_TRAINING, ("Stopped", "Stopped")),
    "record_trial/training_stopped_time_limit.json": (*_TRAINING, ("Stopped", "MaxRuntimeExceeded")),
    "record_trial/training_failed.json": (*_TRAINING, ("Failed", "Failed")),
    NOT_RETUNE: (*_TRAINING, ("Completed", "Completed")),
    "close_round/tuning_completed.json": (*_TUNING, ("Completed", None)),
    "close_round/tuning_stopped.json": (*_TUNING, ("Stopped", None)),
    "close_round/tuning_failed.json": (*_TUNING, ("Failed", None)),
    "promote/evaluation_completed.json": (*_TRAINING, ("Completed", "Completed")),
    "promote/evaluation_failed.json": (*_TRAINING, ("Failed", "Failed")),
    "promote/model_package_approved.json": (
        MODEL_PACKAGE_STATE_CHANGE,
        ModelPackageEvent,
        ("Approved", "Completed"),
    ),
    "promote/endpoint_in_service.json": (
        ENDPOINT_STATE_CHANGE,
        EndpointEvent,
        ("InService", None),
    ),  # parsed to the API spelling
}
KINDS = {kind for kind, _, _ in SAGEMAKER_FILES.values()}
ISO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")


def _name(path: Path) -> str:
    return path.relative_to(EVENTS).as_posix()


def _load(name: str) -> dict[str, Any]:
    return json.loads((EVENTS / name).read_text())


ALL_JSON = sorted(_name(p) for p in EVENTS.rglob("*.json"))
EVENT_FILES = [name for name in ALL_JSON if EVENTS / name != ENV_FILE]
# DynamoDB Streams batches (Track's): Lambda's event source mapping delivers them, not EventBridge.
STREAM_FILES = [name for name in EVENT_FILES if name.startswith("track/")]
ENVELOPES = [name for name in EVENT_FILES if name not in STREAM_FILES]
RECORD_TRIAL = [name for name in EVENT_FILES if name.startswith("record_trial/")]


def _time_form(value: Any) -> str:
    """How a detail time is written: 'string-millis', 'number-millis' or 'iso' (anything else fails)."""
    assert not isinstance(value, bool), f"{value!r} is a boolean, not a time"
    if isinstance(value, int | float):
        assert value > 10**12, f"{value!r}: epoch milliseconds expected"
        return "number-millis"
    assert isinstance(value, str), f"{value!r}: a time is a string or a number"
    if re.fullmatch(r"\d{13}", value):
        return "string-millis"
    assert ISO.fullmatch(value), f"{value!r}: not ISO 8601"
    return "iso"


def _detail_times(detail: dict[str, Any]) -> list[Any]:
    values = [detail[key] for key in DETAIL_TIMES if key in detail]
    for transition in detail.get("SecondaryStatusTransitions", []):
        values += [transition[key] for key in ("StartTime", "EndTime") if key in transition]
    return values


# ------------------------------------------------------------------------------------------------ every file


def test_the_expected_files_exist() -> None:
    expected = {
        "start_round/manifest_uploaded.json",
        "start_round/manifest_uploaded_encoded_key.json",
        "start_round/drop_ready.json",
        "reconcile/schedule.json",
        *SAGEMAKER_FILES,
    }
    assert expected <= set(EVENT_FILES), f"missing: {sorted(expected - set(EVENT_FILES))}"


@pytest.mark.parametrize("name", ALL_JSON)
def test_every_file_is_json(name: str) -> None:
    assert isinstance(_load(name), dict)


@pytest.mark.parametrize("name", ENVELOPES)
def test_envelope_has_exactly_the_nine_keys(name: str) -> None:
    event = _load(name)
    keys = set(event)
    assert keys == ENVELOPE_KEYS, f"extra {keys - ENVELOPE_KEYS}, missing {ENVELOPE_KEYS - keys}"
    assert event["version"] == "0"
    assert event["account"] == ACCOUNT
    assert event["region"] == REGION
    assert isinstance(event["resources"], list)
    assert all(isinstance(r, str) and r.startswith("arn:aws:") for r in event["resources"])
    assert isinstance(event["detail"], dict)
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", event["id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])


@pytest.mark.parametrize("name", STREAM_FILES)
def test_stream_batch_is_what_lambda_delivers_for_the_state_table(name: str) -> None:
    """The fields Lambda's DynamoDB event source gives each record, keyed by the state table's pk and sk, from the
    table's stream, with sequence numbers as DynamoDB writes them (21 to 40 digits) and growing."""
    records = _load(name)["Records"]
    assert records
    for record in records:
        assert record["eventSource"] == "aws:dynamodb" and record["awsRegion"] == REGION
        assert record["eventName"] in ("INSERT", "MODIFY", "REMOVE")
        assert re.fullmatch(
            rf"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/retune-state/stream/.+", record["eventSourceARN"]
        )
        stream = record["dynamodb"]
        assert set(stream["Keys"]) == {"pk", "sk"} and stream["StreamViewType"] == "NEW_AND_OLD_IMAGES"
        assert ("NewImage" in stream) == (record["eventName"] != "REMOVE")
        assert ("OldImage" in stream) == (record["eventName"] != "INSERT")
        assert re.fullmatch(r"\d{21,40}", stream["SequenceNumber"])
    numbers = [int(r["dynamodb"]["SequenceNumber"]) for r in records]
    assert numbers == sorted(numbers)


@pytest.mark.parametrize("name", EVENT_FILES)
def test_every_file_is_described_in_the_readme(name: str) -> None:
    assert f"`{name}`" in (EVENTS / "README.md").read_text()


@pytest.mark.parametrize("name", [n for n in EVENT_FILES if n != NOT_RETUNE])
def test_retune_files_use_the_one_bucket(name: str) -> None:
    uris = re.findall(r"s3://[^\"/]+", (EVENTS / name).read_text())
    assert all(uri == f"s3://{BUCKET}" for uri in uris), uris


def test_every_sagemaker_file_has_an_expectation() -> None:
    sagemaker = {name for name in ENVELOPES if _load(name)["source"] == "aws.sagemaker"}
    assert sagemaker == set(SAGEMAKER_FILES)


# ------------------------------------------------------------------------------------------------ parsing


@pytest.mark.parametrize("name", sorted(SAGEMAKER_FILES))
def test_sagemaker_file_parses_into_its_model(name: str) -> None:
    detail_type, model, (status, secondary) = SAGEMAKER_FILES[name]
    event = _load(name)
    assert event["detail-type"] == detail_type
    parsed = parse_sagemaker_event(event, detail_type)
    assert type(parsed) is model
    detail = parsed.detail
    match parsed:
        case TrainingJobEvent():
            assert (detail.TrainingJobStatus, detail.SecondaryStatus) == (status, secondary)
            assert (detail.FailureReason is not None) == (status == "Failed")
        case TuningJobEvent():
            assert detail.HyperParameterTuningJobStatus == status
            assert (detail.FailureReason is not None) == (status == "Failed")
        case ModelPackageEvent():
            assert (detail.ModelApprovalStatus, detail.ModelPackageStatus) == (status, secondary)
        case EndpointEvent():
            assert detail.EndpointStatus == status


@pytest.mark.parametrize("name", sorted(SAGEMAKER_FILES))
def test_sagemaker_file_is_refused_as_another_kind(name: str) -> None:
    others = KINDS - {SAGEMAKER_FILES[name][0]}
    with pytest.raises(InvalidInput):
        parse_sagemaker_event(_load(name), *others)


@pytest.mark.parametrize("name", sorted(SAGEMAKER_FILES))
def test_detail_times_parse_and_are_in_order(name: str) -> None:
    detail = _load(name)["detail"]
    times = {key: parse_timestamp(detail[key]) for key in DETAIL_TIMES if key in detail}
    assert {"CreationTime", "LastModifiedTime"} <= set(times)
    assert times["CreationTime"] <= times["LastModifiedTime"]
    if "TrainingStartTime" in times:
        assert times["CreationTime"] <= times["TrainingStartTime"] <= times["LastModifiedTime"]
    if "TrainingEndTime" in times:
        assert times["TrainingStartTime"] <= times["TrainingEndTime"] <= times["LastModifiedTime"]
    for transition in detail.get("SecondaryStatusTransitions", []):
        start = parse_timestamp(transition["StartTime"])
        assert times["CreationTime"] <= start
        if "EndTime" in transition:
            assert start <= parse_timestamp(transition["EndTime"])
    parsed = parse_sagemaker_event(_load(name), SAGEMAKER_FILES[name][0])
    if hasattr(parsed.detail, "LastModifiedTime"):
        assert parsed.detail.LastModifiedTime == times["LastModifiedTime"]


@pytest.mark.parametrize("name", sorted(SAGEMAKER_FILES))
def test_one_time_form_per_file(name: str) -> None:
    forms = {_time_form(value) for value in _detail_times(_load(name)["detail"])}
    assert len(forms) == 1, f"{name} mixes {forms}"


def test_record_trial_files_use_every_time_form() -> None:
    forms = {name: {_time_form(v) for v in _detail_times(_load(name)["detail"])} for name in RECORD_TRIAL}
    used = set().union(*forms.values())
    assert used == {"string-millis", "number-millis", "iso"}, forms
    # Each form is carried by the detail's own times and by its status transitions alike.
    for name in RECORD_TRIAL:
        detail = _load(name)["detail"]
        top = {_time_form(detail[key]) for key in DETAIL_TIMES if key in detail}
        transitions = {
            _time_form(t[key])
            for t in detail["SecondaryStatusTransitions"]
            for key in ("StartTime", "EndTime")
            if key in t
        }
        assert top == transitions, name


def test_record_trial_files_use_both_tag_forms() -> None:
    kinds = {type(_load(name)["detail"]["Tags"]) for name in RECORD_TRIAL}
    assert kinds == {dict, list}
    lists = [_load(name)["detail"]["Tags"] for name in RECORD_TRIAL]
    assert all(set(tag) == {"Key", "Value"} for tags in lists if isinstance(tags, list) for tag in tags)


@pytest.mark.parametrize("prefix", ["close_round/", "promote/evaluation_"])
def test_other_job_files_vary_their_forms_too(prefix: str) -> None:
    names = [name for name in SAGEMAKER_FILES if name.startswith(prefix)]
    assert len({type(_load(name)["detail"]["Tags"]) for name in names}) == 2
    assert len({_time_form(_load(name)["detail"]["CreationTime"]) for name in names}) >= 2


ROUND_JOB_FILES = sorted(
    n for n, (kind, _, _) in SAGEMAKER_FILES.items() if kind != ENDPOINT_STATE_CHANGE and n != NOT_RETUNE
)


@pytest.mark.parametrize("name", ROUND_JOB_FILES)
def test_retune_tags_read_the_same_in_either_form(name: str) -> None:
    parsed = parse_sagemaker_event(_load(name), SAGEMAKER_FILES[name][0])
    if isinstance(parsed, ModelPackageEvent):
        expected = {"retune:profile": PROFILE.name, "retune:round": str(SEQ)}
        assert parsed.detail.CustomerMetadataProperties == expected
    else:
        assert parsed.detail.Tags == ROUND_TAGS


# ------------------------------------------------------------------------------------------------ names


@pytest.mark.parametrize("name", RECORD_TRIAL)
def test_trial_names_follow_amt_naming(name: str) -> None:
    detail = _load(name)["detail"]
    job = detail["TrainingJobName"]
    arn = f"{SAGEMAKER_ARN}:training-job/{job}"
    assert detail["TrainingJobArn"] == arn
    assert _load(name)["resources"] == [arn]
    if name == NOT_RETUNE:
        assert not is_retune_job(job)
        assert tuning_job_of_trial(job) is None
        return
    assert is_retune_job(job)
    assert not is_evaluation_job(job)
    assert tuning_job_of_trial(job) == tuning_job_name(PROFILE.name, SEQ)
    assert detail["HyperParameters"]["_tuning_objective_metric"] == PROFILE.objective.metric_name
    assert set(PROFILE.training.static_hyperparameters) <= set(detail["HyperParameters"])
    assert {r.name for r in PROFILE.search.ranges} <= set(detail["HyperParameters"])
    assert (
        detail["OutputDataConfig"]["S3OutputPath"]
        == f"s3://{BUCKET}/models/{PROFILE.name}/{tuning_job_of_trial(job)}/"
    )
    artifacts = detail.get("ModelArtifacts", {}).get("S3ModelArtifacts")
    if artifacts is not None:
        assert artifacts == f"{detail['OutputDataConfig']['S3OutputPath']}{job}/output/model.tar.gz"


def test_completed_trial_has_the_model_the_evaluation_scores() -> None:
    trial = _load("record_trial/training_completed.json")["detail"]
    evaluation = _load("promote/evaluation_completed.json")["detail"]
    expected = f"s3://{BUCKET}/models/market-xgb/rt-market-xgb-0001/rt-market-xgb-0001-002-1b2c3d4e/output/model.tar.gz"
    assert trial["ModelArtifacts"]["S3ModelArtifacts"] == expected
    challenger = next(c for c in evaluation["InputDataConfig"] if c["ChannelName"] == "challenger")
    assert challenger["DataSource"]["S3DataSource"]["S3Uri"] == expected


@pytest.mark.parametrize("name", sorted(n for n in SAGEMAKER_FILES if n.startswith("close_round/")))
def test_tuning_names_and_the_api_arn(name: str) -> None:
    event = _load(name)
    detail = event["detail"]
    expected = tuning_job_name(PROFILE.name, SEQ)
    arn = f"{SAGEMAKER_ARN}:hyper-parameter-tuning-job/{expected}"
    assert detail["HyperParameterTuningJobName"] == expected
    assert detail["HyperParameterTuningJobArn"] == arn  # the API's form, not the doc sample's ":tuningJob/x"
    assert event["resources"] == [arn]
    definition = detail["TrainingJobDefinition"]
    assert definition["StaticHyperParameters"] == PROFILE.training.static_hyperparameters
    assert {m["Name"] for m in definition["AlgorithmSpecification"]["MetricDefinitions"]} == {
        d.name for d in PROFILE.training.metric_definitions
    }
    assert set(detail["TrainingJobStatusCounters"]) == {
        "Completed",
        "InProgress",
        "RetryableError",
        "NonRetryableError",
        "Stopped",
    }
    assert set(detail["ObjectiveStatusCounters"]) == {"Succeeded", "Pending", "Failed"}


@pytest.mark.parametrize("name", ["promote/evaluation_completed.json", "promote/evaluation_failed.json"])
def test_evaluation_files_follow_the_evaluation_request(name: str) -> None:
    event = _load(name)
    detail = event["detail"]
    job = evaluation_job_name(PROFILE.name, SEQ)
    assert detail["TrainingJobName"] == job
    assert is_evaluation_job(job)
    assert event["resources"] == [f"{SAGEMAKER_ARN}:training-job/{job}"]
    assert "TuningJobArn" not in detail
    assert detail["HyperParameters"] == {
        **PROFILE.evaluation.hyperparameters,
        "retune_mode": "evaluate",
        "objective_metric": PROFILE.objective.metric_name,
        "objective_type": PROFILE.objective.type,
    }
    assert detail["AlgorithmSpecification"]["TrainingImage"] == PROFILE.evaluation_image
    assert [(m["Name"], m["Regex"]) for m in detail["AlgorithmSpecification"]["MetricDefinitions"]] == list(
        EVALUATION_METRICS
    )
    channels = [c["ChannelName"] for c in detail["InputDataConfig"]]
    assert channels[0] == "challenger"
    assert channels[-1] == "test"
    assert set(channels) <= {"challenger", "champion", "test"}
    assert detail["OutputDataConfig"]["S3OutputPath"] == f"s3://{BUCKET}/evaluations/{PROFILE.name}/"


def test_model_package_file_names_retunes_group_and_a_person() -> None:
    event = _load("promote/model_package_approved.json")
    parsed = parse_sagemaker_event(event, MODEL_PACKAGE_STATE_CHANGE)
    assert isinstance(parsed, ModelPackageEvent)
    detail = parsed.detail
    assert detail.ModelPackageGroupName == PROFILE.model_package_group
    assert detail.ModelPackageVersion == 1
    arn = f"{SAGEMAKER_ARN}:model-package/{PROFILE.model_package_group}/1"
    assert detail.ModelPackageArn == arn
    assert event["resources"] == [arn]
    assert re.fullmatch(rf"arn:aws:sts::{ACCOUNT}:assumed-role/[^/]+/.+", detail.decided_by)
    assert "retune" not in detail.decided_by  # a person decided, not retune's own role
    assert event["source"] == "aws.sagemaker"  # one `source` key (AWS's sample repeats it as a list)


def test_endpoint_file_uses_the_event_spelling_of_the_status() -> None:
    event = _load("promote/endpoint_in_service.json")
    detail = event["detail"]
    assert detail["EndpointStatus"] == "IN_SERVICE"  # the event's spelling; DescribeEndpoint says InService
    assert re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}", detail["EndpointName"])
    assert event["resources"] == [f"{SAGEMAKER_ARN}:endpoint/{detail['EndpointName']}"]


def test_schedule_file_is_a_scheduled_event() -> None:
    event = _load("reconcile/schedule.json")
    assert (event["source"], event["detail-type"], event["detail"]) == ("aws.events", "Scheduled Event", {})
    assert len(event["resources"]) == 1
    assert re.fullmatch(rf"arn:aws:events:{REGION}:{ACCOUNT}:rule/[\w.-]+", event["resources"][0])


@pytest.mark.parametrize("name", sorted(n for n in EVENT_FILES if n.startswith("start_round/")))
def test_start_round_files_name_a_drop_of_the_profile(name: str) -> None:
    ref = parse_drop_event(_load(name))
    assert ref.bucket == BUCKET
    assert ref.keys[-1].startswith(f"datasets/{PROFILE.name}/")
