"""SageMaker's built-in XGBoost under the local SageMaker: its image URIs resolve without registration, and its
training contract (hyperparameters, input formats, channels, metrics, model artifact) runs with the emulated
version's xgboost. The jobs of a module run at once, on one service, to keep the suite fast."""

from __future__ import annotations

import io
import json
import re
import struct
import subprocess
import tarfile
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import numpy as np
import pytest
import xgboost
from moto.server import ThreadedMotoServer
from retune.policy import initial_plan
from retune.profile import parse_profile
from retune.requests import sagemaker_manifest, tuning_job_request
from retune_local import LocalSageMaker, builtin_xgboost
from retune_local.images import ImageRegistry
from scipy.stats import rankdata

ROOT = Path(__file__).resolve().parents[2]
ROLE = "arn:aws:iam::123456789012:role/retune-sagemaker"
URI_17 = builtin_xgboost.image_uri("1.7-1")
URI_30 = builtin_xgboost.image_uri("3.0-5")
PYTHON_17 = builtin_xgboost.EMULATED["1.7-1"].python
FEATURES = 5

pytestmark = [pytest.mark.local_stack, pytest.mark.xdist_group("builtin-xgboost")]


def test_every_listed_region_and_version_resolves_without_registration() -> None:
    table = json.loads(builtin_xgboost.URI_TABLE.read_text())
    assert table["source"]["repository"] == "https://github.com/aws/sagemaker-python-sdk"
    registry = ImageRegistry()
    versions = table["training"]["versions"]
    assert {"1", "0.90-1", "1.5-1", "1.7-1", "3.0-5", "3.2-0"} <= set(versions)
    for version, entry in versions.items():
        for region, account in entry["registries"].items():
            uri = builtin_xgboost.image_uri(version, region)
            assert uri.startswith(f"{account}.dkr.ecr.{region}.")
            parsed = builtin_xgboost.parse(uri)
            assert parsed is not None and parsed.version == version, uri
            spec = registry.resolve(uri)
            if version in builtin_xgboost.EMULATED:
                assert spec is not None and spec.argv[-1] == version
                assert spec.argv[0] == str(builtin_xgboost.EMULATED[version].python)
                assert not spec.warm and spec.metric_definitions
            else:
                assert spec is None
                assert version in registry.missing_reason(uri)
    # The profile's URI; another account's image of the same name is not SageMaker's.
    assert URI_17 == "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
    assert registry.resolve(URI_17.replace("683313688378", "123456789012")) is None
    assert builtin_xgboost.image_uri("0.90-1").endswith("/sagemaker-xgboost:0.90-1-cpu-py3")


# ------------------------------------------------------------------------------------------- the data


def dataset(rows: int, seed: int) -> np.ndarray:
    """Label (0/1) first, then FEATURES columns: a learnable binary problem."""
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(rows, FEATURES))
    labels = (features[:, 0] + 0.5 * features[:, 1] + rng.normal(scale=0.5, size=rows) > 0).astype(float)
    return np.column_stack([labels, features])


def as_csv(table: np.ndarray) -> bytes:
    out = io.StringIO()
    np.savetxt(out, table, delimiter=",", fmt="%.6g")
    return out.getvalue().encode()


def as_libsvm(table: np.ndarray) -> bytes:
    lines = [f"{int(row[0])} " + " ".join(f"{i}:{v:.6g}" for i, v in enumerate(row[1:])) for row in table]
    return ("\n".join(lines) + "\n").encode()


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _value(values: np.ndarray) -> bytes:
    """aialgs.data.Value with a dense Float32Tensor (field 2; its values field 1, packed)."""
    return _field(2, _field(1, values.astype("<f4").tobytes()))


def as_recordio_protobuf(table: np.ndarray) -> bytes:
    """What the SageMaker SDK's write_numpy_to_dense_tensor writes: RecordIO records of aialgs.data.Record with
    features["values"] and label["values"]."""
    out = bytearray()
    for row in table:
        record = _field(1, _field(1, b"values") + _field(2, _value(row[1:])))
        record += _field(2, _field(1, b"values") + _field(2, _value(row[:1])))
        out += struct.pack("<II", 0xCED7230A, len(record)) + record + b"\0" * (-len(record) % 4)
    return bytes(out)


def as_parquet(table: np.ndarray, target: Path) -> bytes:
    """Written by pyarrow in the 1.7-1 venv (the shared venv has no parquet writer)."""
    source = target.with_suffix(".npy")
    np.save(source, table)
    code = (
        "import sys, numpy as np, pyarrow as pa, pyarrow.parquet as pq; t = np.load(sys.argv[1]); "
        "pq.write_table(pa.table({f'c{i}': t[:, i] for i in range(t.shape[1])}), sys.argv[2])"
    )
    subprocess.run([str(PYTHON_17), "-c", code, str(source), str(target)], check=True)
    return target.read_bytes()


# --------------------------------------------------------------------------------------- the services


@pytest.fixture(scope="module")
def aws() -> Iterator[dict[str, Any]]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    options = {
        "endpoint_url": f"http://{host}:{port}",
        "region_name": "us-east-1",
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    bucket = f"retune-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", **options)
    s3.create_bucket(Bucket=bucket)
    yield {"s3": s3, "cloudwatch": boto3.client("cloudwatch", **options), "bucket": bucket}
    server.stop()


@pytest.fixture(scope="module")
def service(aws: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalSageMaker]:
    for emulated in builtin_xgboost.EMULATED.values():
        assert emulated.python.is_file(), (
            f"{emulated.venv} is missing: run make xgboost-venvs (make test does)"
        )
    # No image is registered: the built-in URIs resolve by themselves.
    with LocalSageMaker(
        tmp_path_factory.mktemp("builtin-xgboost") / "state", {}, s3=aws["s3"], cloudwatch=aws["cloudwatch"]
    ) as local:
        yield local


TRAIN, VALIDATION = dataset(300, 1), dataset(120, 2)
FORMATS = {
    "csv": "text/csv",
    "libsvm": "text/libsvm",
    "parquet": "application/x-parquet",
    "recordio": "application/x-recordio-protobuf",
}
HYPERPARAMETERS = {
    "objective": "binary:logistic",
    "eval_metric": "auc",
    "num_round": "25",
    "early_stopping_rounds": "5",
    "max_depth": "3",
    "eta": "0.3",
}


def upload(aws: dict[str, Any], folder: Path, fmt: str) -> dict[str, str]:
    prefixes = {}
    for channel, table in (("train", TRAIN), ("validation", VALIDATION)):
        if fmt == "csv":
            body = as_csv(table)
        elif fmt == "libsvm":
            body = as_libsvm(table)
        elif fmt == "recordio":
            body = as_recordio_protobuf(table)
        else:
            body = as_parquet(table, folder / f"{channel}.parquet")
        key = f"data/{fmt}/{channel}/part-0"
        aws["s3"].put_object(Bucket=aws["bucket"], Key=key, Body=body)
        prefixes[channel] = f"s3://{aws['bucket']}/data/{fmt}/{channel}/"
    return prefixes


def training_request(
    name: str, image: str, prefixes: dict[str, str], content_type: str, hyperparameters: dict[str, str]
) -> dict[str, Any]:
    return {
        "TrainingJobName": name,
        "HyperParameters": hyperparameters,
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "InputDataConfig": [
            {
                "ChannelName": channel,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "ContentType": content_type,
            }
            for channel, uri in prefixes.items()
        ],
        "OutputDataConfig": {"S3OutputPath": "s3://retune-models/builtin"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


@pytest.fixture(scope="module")
def jobs(
    service: LocalSageMaker, aws: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, dict[str, Any]]:
    """Every job of the module, created at once, described once ended: name -> DescribeTrainingJob."""
    aws["s3"].create_bucket(Bucket="retune-models")
    folder = tmp_path_factory.mktemp("data")
    prefixes = {fmt: upload(aws, folder, fmt) for fmt in FORMATS}
    csv = prefixes["csv"]
    requests = [
        training_request(f"fmt-{fmt}", URI_17, prefixes[fmt], content_type, HYPERPARAMETERS)
        for fmt, content_type in FORMATS.items()
    ]
    requests += [
        training_request("v30-csv", URI_30, csv, "text/csv", HYPERPARAMETERS),
        training_request(
            "objective-only",
            URI_17,
            csv,
            "text/csv",
            {k: v for k, v in HYPERPARAMETERS.items() if k != "eval_metric"}
            | {"_tuning_objective_metric": "validation:auc"},
        ),
        training_request("bad-eta", URI_17, csv, "text/csv", {**HYPERPARAMETERS, "eta": "2"}),
        training_request(
            "bad-metric", URI_17, csv, "text/csv", {**HYPERPARAMETERS, "eval_metric": "rmse,kappa"}
        ),
        training_request("no-rounds", URI_17, csv, "text/csv", {"objective": "binary:logistic"}),
        training_request("bad-format", URI_17, csv, "application/json", HYPERPARAMETERS),
        training_request("v15", builtin_xgboost.image_uri("1.5-1"), csv, "text/csv", HYPERPARAMETERS),
        training_request("legacy", builtin_xgboost.image_uri("1"), csv, "text/csv", HYPERPARAMETERS),
    ]
    for request in requests:
        service.handle("CreateTrainingJob", request)
    tuning = churn_tuning_request(aws)
    service.handle("CreateHyperParameterTuningJob", tuning)
    described = {r["TrainingJobName"]: service.wait_training_job(r["TrainingJobName"], 120) for r in requests}
    described[TUNING] = service.wait_tuning_job(tuning["HyperParameterTuningJobName"], timeout=120)
    return described


TUNING = "tuning"


def churn_tuning_request(aws: dict[str, Any]) -> dict[str, Any]:
    """A short round (2 trials) of profiles/churn-xgb.json, built by retune's own request builder: its 500 rounds
    with early stopping after 30, its 1800 s MaxRuntimeInSeconds."""
    profile = parse_profile((ROOT / "profiles" / "churn-xgb.json").read_text(), expected_name="churn-xgb")
    assert profile.training.image == URI_17 and not profile.training.metric_definitions
    manifests = {}
    for channel, table in (("train", TRAIN), ("validation", VALIDATION)):
        key = f"drops/churn/{channel}.csv"
        aws["s3"].put_object(Bucket=aws["bucket"], Key=key, Body=as_csv(table))
        manifest_key = f"drops/churn/{channel}.manifest"
        body = json.dumps(sagemaker_manifest(aws["bucket"], "drops/churn/", [f"{channel}.csv"]))
        aws["s3"].put_object(Bucket=aws["bucket"], Key=manifest_key, Body=body.encode())
        manifests[channel] = f"s3://{aws['bucket']}/{manifest_key}"
    request = tuning_job_request(
        profile=profile,
        plan=initial_plan(profile),
        seq=1,
        drop_id="d1",
        bucket=aws["bucket"],
        channel_manifests=manifests,
        channel_content_types={"train": "text/csv", "validation": "text/csv"},
        role_arn=ROLE,
    )
    request["HyperParameterTuningJobConfig"]["ResourceLimits"].update(
        {"MaxNumberOfTrainingJobs": 2, "MaxParallelTrainingJobs": 2}
    )
    return request


def model_file(aws: dict[str, Any], described: dict[str, Any], target: Path) -> Path:
    """model.tar.gz's members, extracted; it must hold exactly xgboost-model."""
    bucket, key = described["ModelArtifacts"]["S3ModelArtifacts"].removeprefix("s3://").split("/", 1)
    archive = aws["s3"].get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        assert tar.getnames() == ["xgboost-model"]
        target.mkdir(parents=True, exist_ok=True)
        tar.extractall(target, filter="data")
    return target / "xgboost-model"


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    ranks = rankdata(scores)  # ties share their average rank, as xgboost's AUC counts them
    positives = labels == 1
    count = positives.sum()
    return float((ranks[positives].sum() - count * (count + 1) / 2) / (count * (len(labels) - count)))


# ------------------------------------------------------------------------------------------- the tests


def test_each_input_format_trains_and_its_artifact_loads_in_the_versions_xgboost(
    jobs: dict[str, dict[str, Any]], logs: dict[str, str], aws: dict[str, Any], tmp_path: Path
) -> None:
    paths = {}
    for fmt in FORMATS:
        described = jobs[f"fmt-{fmt}"]
        assert described["TrainingJobStatus"] == "Completed", (fmt, described.get("FailureReason"))
        paths[fmt] = str(model_file(aws, described, tmp_path / fmt))
        assert Path(paths[fmt]).read_bytes()[:4] == b"binf"  # 1.7's save_model: the legacy binary format
    np.save(tmp_path / "validation.npy", VALIDATION[:, 1:])
    code = (
        "import json, sys, numpy as np, xgboost as xgb; x = xgb.DMatrix(np.load(sys.argv[1])); "
        "print(json.dumps({k: xgb.Booster(model_file=p).predict(x).tolist() "
        "for k, p in json.loads(sys.argv[2]).items()}))"
    )
    run = subprocess.run(
        [str(PYTHON_17), "-c", code, str(tmp_path / "validation.npy"), json.dumps(paths)],
        capture_output=True,
        text=True,
        check=True,
    )
    predictions = json.loads(run.stdout)
    for fmt in FORMATS:
        score = auc(VALIDATION[:, 0], np.array(predictions[fmt]))
        finals = {m["MetricName"]: m["Value"] for m in jobs[f"fmt-{fmt}"]["FinalMetricDataList"]}
        assert score > 0.8, fmt
        # The model kept is the best round's (early stopping's save_best), whose AUC the log reported.
        assert score == pytest.approx(max(series_of(logs[f"fmt-{fmt}"])["validation:auc"]), abs=1e-4), fmt
        assert set(finals) == {"train:auc", "validation:auc"}, fmt


def test_3_0_5_saves_ubjson_which_the_shared_venvs_xgboost_loads(
    jobs: dict[str, dict[str, Any]], aws: dict[str, Any], tmp_path: Path
) -> None:
    described = jobs["v30-csv"]
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    path = model_file(aws, described, tmp_path)
    assert path.read_bytes()[:1] == b"{"  # UBJSON
    # The container's file name has no extension: xgboost reads the bytes as UBJSON, and says so.
    with pytest.warns(UserWarning, match="Using UBJSON"):
        booster = xgboost.Booster(model_file=str(path))
    assert auc(VALIDATION[:, 0], booster.predict(xgboost.DMatrix(VALIDATION[:, 1:]))) > 0.8


@pytest.fixture(scope="module")
def logs(jobs: dict[str, dict[str, Any]], service: LocalSageMaker) -> dict[str, str]:
    """Each job's training log (stdout and stderr)."""
    paths = {name: service.ctx.jobs_dir / name / "output" / "training.log" for name in jobs}
    return {name: path.read_text() for name, path in paths.items() if path.is_file()}


def series_of(log: str) -> dict[str, list[float]]:
    """The log's metric values, line by line, as the built-in algorithm's metric definitions read them."""
    series: dict[str, list[float]] = {}
    for line in log.splitlines():
        for definition in builtin_xgboost.METRIC_DEFINITIONS:
            match = re.search(definition["Regex"], line)
            if match:
                series.setdefault(definition["Name"], []).append(float(match.group(1)))
    return series


def test_metrics_are_logged_per_round_under_amts_names_and_reach_cloudwatch(
    logs: dict[str, str], aws: dict[str, Any]
) -> None:
    log = logs["fmt-csv"]
    assert "[0]#011train-auc:" in log and "#011validation-auc:" in log
    series = series_of(log)
    assert set(series) == {"train:auc", "validation:auc"}
    rounds = len(series["validation:auc"])
    assert 5 < rounds <= 25 and len(series["train:auc"]) == rounds
    points = aws["cloudwatch"].get_metric_statistics(
        Namespace="/aws/sagemaker/TrainingJobs",
        MetricName="validation:auc",
        Dimensions=[{"Name": "TrainingJobName", "Value": "fmt-csv"}],
        StartTime=datetime.now(UTC) - timedelta(days=1),
        EndTime=datetime.now(UTC) + timedelta(days=1),
        Period=60,
        Statistics=["SampleCount", "Maximum"],
    )["Datapoints"]
    assert sum(p["SampleCount"] for p in points) == rounds
    assert max(p["Maximum"] for p in points) == max(series["validation:auc"])


def test_describe_training_job_lists_the_algorithms_own_metric_definitions(
    jobs: dict[str, dict[str, Any]], logs: dict[str, str], service: LocalSageMaker
) -> None:
    # The request gave none; SageMaker shows the built-in algorithm's in AlgorithmSpecification.MetricDefinitions,
    # and they read the job's own log as AMT reads it.
    described = jobs["fmt-csv"]
    definitions = described["AlgorithmSpecification"]["MetricDefinitions"]
    names = {d["Name"] for d in definitions}
    assert {"validation:auc", "train:auc", "validation:rmse", "train:logloss"} <= names
    read: dict[str, list[float]] = {}
    for line in logs["fmt-csv"].splitlines():
        for definition in definitions:
            match = re.search(definition["Regex"], line)
            if match:
                read.setdefault(definition["Name"], []).append(float(match.group(1)))
    finals = {m["MetricName"]: m["Value"] for m in described["FinalMetricDataList"]}
    assert set(read) == set(finals) == {"train:auc", "validation:auc"}
    assert read["validation:auc"][-1] == pytest.approx(finals["validation:auc"])
    # a tuning job's trials too
    (trial,) = service.handle(
        "ListTrainingJobsForHyperParameterTuningJob",
        {"HyperParameterTuningJobName": jobs[TUNING]["HyperParameterTuningJobName"], "MaxResults": 1},
    )["TrainingJobSummaries"]
    trial_described = service.handle("DescribeTrainingJob", {"TrainingJobName": trial["TrainingJobName"]})
    assert trial_described["AlgorithmSpecification"]["MetricDefinitions"] == definitions


@pytest.mark.parametrize(
    ("job", "reason"),
    [
        ("bad-eta", "ClientError: Hyperparameter eta: 2.0 is not in [0, 1]"),
        ("no-rounds", "ClientError: Missing required hyperparameter: num_round"),
        ("bad-metric", "ClientError: Hyperparameter eval_metric: value ['rmse', 'kappa'] not in range"),
        (
            "bad-format",
            "ClientError: Channel configuration for 'train' channel is not supported: {",
        ),
    ],
)
def test_a_bad_hyperparameter_or_format_fails_the_job_with_a_client_error_as_aws_does(
    jobs: dict[str, dict[str, Any]], job: str, reason: str
) -> None:
    # CreateTrainingJob accepted it (no API error): the algorithm refuses it when it starts.
    described = jobs[job]
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith(reason), described["FailureReason"]
    assert "ModelArtifacts" not in described


@pytest.mark.parametrize(("job", "version"), [("v15", "1.5-1"), ("legacy", "1")])
def test_a_version_not_emulated_is_refused_by_name(
    jobs: dict[str, dict[str, Any]], job: str, version: str
) -> None:
    described = jobs[job]
    assert described["TrainingJobStatus"] == "Failed"
    reason = described["FailureReason"]
    assert reason.startswith("ClientError: ") and f"version {version}," in reason
    assert "use version 1.7-1, 3.0-5" in reason


def test_a_tuning_job_of_the_churn_profiles_shape_completes_on_validation_auc(
    jobs: dict[str, dict[str, Any]], service: LocalSageMaker
) -> None:
    # The profile names no MetricDefinitions: the built-in algorithm's own give the objective.
    tuning = jobs[TUNING]
    assert tuning["HyperParameterTuningJobStatus"] == "Completed", tuning.get("FailureReason")
    assert "MetricDefinitions" not in tuning["TrainingJobDefinition"]["AlgorithmSpecification"]
    summaries = service.handle(
        "ListTrainingJobsForHyperParameterTuningJob",
        {"HyperParameterTuningJobName": tuning["HyperParameterTuningJobName"], "MaxResults": 10},
    )["TrainingJobSummaries"]
    assert len(summaries) == 2
    for summary in summaries:
        # Within MaxRuntimeInSeconds on the virtual clock: a boosting round is not a 60 s epoch.
        assert summary["TrainingJobStatus"] == "Completed", summary
        objective = summary["FinalHyperParameterTuningJobObjectiveMetric"]
        assert objective["MetricName"] == "validation:auc" and 0.7 < objective["Value"] <= 1.0, summary
    best = tuning["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]
    assert best["Value"] == max(s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries)
    trial = service.handle("DescribeTrainingJob", {"TrainingJobName": summaries[0]["TrainingJobName"]})
    # AMT passes the objective to every trial, as a hyperparameter.
    assert trial["HyperParameters"]["_tuning_objective_metric"] == "validation:auc"


def test_the_tuning_objective_alone_makes_the_algorithm_evaluate_it(jobs: dict[str, dict[str, Any]]) -> None:
    # No eval_metric: binary:logistic would log logloss, but the objective AMT passes joins the metrics.
    described = jobs["objective-only"]
    assert described["TrainingJobStatus"] == "Completed", described.get("FailureReason")
    assert {m["MetricName"] for m in described["FinalMetricDataList"]} == {"train:auc", "validation:auc"}
