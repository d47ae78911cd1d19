"""The SageMaker training container contract, on a local directory.

In AWS a bring-your-own container sees its files under /opt/ml. Here each job gets a working directory laid
out the same way, and its process gets that directory in SAGEMAKER_BASE_DIR (the variable the SageMaker
training toolkit reads outside SageMaker), so a trainer finds its root with
`os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml")`:

    <root>/input/config/hyperparameters.json   the job's HyperParameters (all values strings)
    <root>/input/config/inputdataconfig.json   one entry per channel
    <root>/input/config/resourceconfig.json    hosts and instance type
    <root>/input/data/<channel>/               the channel's objects, copied from S3
    <root>/model/                              what the trainer saves; packed as model.tar.gz
    <root>/output/failure                      the trainer's failure description, if it fails
    <root>/output/data/                        other outputs; packed as output.tar.gz
"""

from __future__ import annotations

import json
import math
import os
import re
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT_ENV = "SAGEMAKER_BASE_DIR"
HOST = "algo-1"
FAILURE_REASON_MAX = 1024


class ContainerError(Exception):
    """The job cannot run or finish for a reason outside the trainer (data, image, output): the job fails."""


def _split_s3(uri: str) -> tuple[str, str]:
    match = re.match(r"^s3://([^/]+)/?(.*)$", uri)
    if not match:
        raise ContainerError(f"ClientError: {uri!r} is not an s3:// URI")
    return match.group(1), match.group(2)


@dataclass(frozen=True)
class Layout:
    root: Path

    @property
    def config(self) -> Path:
        return self.root / "input" / "config"

    @property
    def data(self) -> Path:
        return self.root / "input" / "data"

    @property
    def model(self) -> Path:
        return self.root / "model"

    @property
    def output(self) -> Path:
        return self.root / "output"

    def channel(self, name: str) -> Path:
        return self.data / name


def _hyperparameter_value(text: str) -> Any:
    # The training toolkit hands hyperparameters to scripts JSON-decoded where they parse.
    try:
        return json.loads(text)
    except ValueError:
        return text


def _env_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def resource_config(request: Mapping[str, Any]) -> dict[str, Any]:
    resources = request.get("ResourceConfig", {})
    instance_type = resources.get("InstanceType", "local")
    hosts = [f"algo-{i}" for i in range(1, int(resources.get("InstanceCount", 1)) + 1)]
    return {
        "current_host": HOST,
        "current_instance_type": instance_type,
        "current_group_name": "homogeneousCluster",
        "hosts": hosts,
        "instance_groups": [
            {"instance_group_name": "homogeneousCluster", "instance_type": instance_type, "hosts": hosts}
        ],
        "network_interface_name": "eth0",
    }


def input_data_config(request: Mapping[str, Any]) -> dict[str, Any]:
    config = {}
    for channel in request.get("InputDataConfig", []):
        source = channel.get("DataSource", {}).get("S3DataSource", {})
        entry = {
            "TrainingInputMode": channel.get(
                "InputMode", request.get("AlgorithmSpecification", {}).get("TrainingInputMode", "File")
            ),
            "S3DistributionType": source.get("S3DataDistributionType", "FullyReplicated"),
            "RecordWrapperType": channel.get("RecordWrapperType", "None"),
        }
        if "ContentType" in channel:
            entry["ContentType"] = channel["ContentType"]
        config[channel["ChannelName"]] = entry
    return config


def prepare(layout: Layout, request: Mapping[str, Any]) -> None:
    """Create the /opt/ml tree and its config files."""
    for folder in (
        layout.config,
        layout.data,
        layout.model,
        layout.output / "data",
        layout.output / "intermediate",
    ):
        folder.mkdir(parents=True, exist_ok=True)
    hyperparameters = {k: str(v) for k, v in (request.get("HyperParameters") or {}).items()}
    (layout.config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (layout.config / "inputdataconfig.json").write_text(json.dumps(input_data_config(request)))
    (layout.config / "resourceconfig.json").write_text(json.dumps(resource_config(request)))
    for channel in request.get("InputDataConfig", []):
        layout.channel(channel["ChannelName"]).mkdir(parents=True, exist_ok=True)


def _download(s3: Any, bucket: str, key: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        s3.download_file(bucket, key, str(target))
    except Exception as exc:
        raise ContainerError(f"ClientError: could not download s3://{bucket}/{key}: {exc}") from exc


def _safe_relative(relative: str) -> Path:
    path = Path(relative)
    if path.is_absolute() or ".." in path.parts:
        raise ContainerError(f"ClientError: object key {relative!r} escapes the channel directory")
    return path


def download_channels(s3: Any | None, layout: Layout, request: Mapping[str, Any]) -> None:
    """Copy every channel's objects into input/data/<channel>/.

    S3Prefix: every object whose key starts with the prefix, at its key relative to the prefix's last "/".
    ManifestFile: the manifest is a JSON list, first {"prefix": "s3://bucket/prefix/"}, then keys relative to
    it.
    """
    for channel in request.get("InputDataConfig", []):
        name = channel["ChannelName"]
        source = channel.get("DataSource", {}).get("S3DataSource")
        if source is None:
            raise ContainerError(f"ClientError: channel {name!r}: only S3DataSource is supported locally")
        if s3 is None:
            raise ContainerError(
                f"ClientError: channel {name!r}: the local SageMaker was started without an S3 client"
            )
        data_type = source.get("S3DataType", "S3Prefix")
        bucket, key = _split_s3(source["S3Uri"])
        target = layout.channel(name)
        if data_type == "S3Prefix":
            base = key[: key.rfind("/") + 1]
            found = False
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=key):
                for item in page.get("Contents", []):
                    if item["Key"].endswith("/"):
                        continue
                    found = True
                    _download(s3, bucket, item["Key"], target / _safe_relative(item["Key"][len(base) :]))
            if not found:
                raise ContainerError(f"ClientError: no objects under {source['S3Uri']} (channel {name!r})")
        elif data_type == "ManifestFile":
            manifest_path = layout.root / "manifests" / f"{name}.json"
            _download(s3, bucket, key, manifest_path)
            try:
                manifest = json.loads(manifest_path.read_text())
                prefix_bucket, prefix_key = _split_s3(manifest[0]["prefix"])
                relatives = [str(entry) for entry in manifest[1:]]
            except (ValueError, KeyError, IndexError, TypeError) as exc:
                raise ContainerError(
                    f"ClientError: manifest {source['S3Uri']} must be a JSON list: "
                    '[{"prefix": "s3://bucket/prefix/"}, "relative/key", ...]'
                ) from exc
            for relative in relatives:
                _download(s3, prefix_bucket, prefix_key + relative, target / _safe_relative(relative))
        else:
            raise ContainerError(
                f"ClientError: channel {name!r}: S3DataType {data_type} is not supported locally"
            )


def environment(
    layout: Layout, request: Mapping[str, Any], job_name: str, job_arn: str, base: Mapping[str, str]
) -> dict[str, str]:
    """The process environment: `base`, the toolkit's SM_* variables, then the request's own Environment."""
    hyperparameters = {
        k: _hyperparameter_value(str(v)) for k, v in (request.get("HyperParameters") or {}).items()
    }
    channels = sorted(channel["ChannelName"] for channel in request.get("InputDataConfig", []))
    resources = resource_config(request)
    data_config = input_data_config(request)
    sm: dict[str, Any] = {
        "model_dir": str(layout.model),
        "channels": channels,
        "hps": hyperparameters,
        "input_dir": str(layout.root / "input"),
        "input_config_dir": str(layout.config),
        "output_dir": str(layout.output),
        "output_data_dir": str(layout.output / "data"),
        "output_intermediate_dir": str(layout.output / "intermediate"),
        "resource_config": resources,
        "input_data_config": data_config,
        "hosts": resources["hosts"],
        "current_host": HOST,
        "current_instance_type": resources["current_instance_type"],
        "num_cpus": os.cpu_count() or 1,
        "num_gpus": 0,
        "user_args": [
            item for key, value in hyperparameters.items() for item in (f"--{key}", _env_text(value))
        ],
    }
    training_env = {
        **sm,
        "job_name": job_name,
        "channel_input_dirs": {c: str(layout.channel(c)) for c in channels},
    }
    env = dict(base)
    env[ROOT_ENV] = str(layout.root)
    env["TRAINING_JOB_NAME"] = job_name
    env["TRAINING_JOB_ARN"] = job_arn
    for key, value in sm.items():
        env[f"SM_{key.upper()}"] = _env_text(value)
    env["SM_TRAINING_ENV"] = json.dumps(training_env)
    for channel in channels:
        env[f"SM_CHANNEL_{channel.upper()}"] = str(layout.channel(channel))
    for key, value in hyperparameters.items():
        env[f"SM_HP_{key.upper()}"] = _env_text(value)
    env.update({k: str(v) for k, v in (request.get("Environment") or {}).items()})
    return env


def failure_reason(layout: Layout, exit_code: int, *, categorized: bool = False) -> str:
    """SageMaker's FailureReason: the first 1024 characters of output/failure, else the exit status. A built-in
    algorithm (`categorized`) writes its own category first (ClientError for the user's mistakes)."""
    failure = layout.output / "failure"
    if failure.is_file():
        text = failure.read_text(errors="replace").strip()
        if text:
            categories = ("ClientError: ", "AlgorithmError: ")
            reason = text if categorized and text.startswith(categories) else f"AlgorithmError: {text}"
            return reason[:FAILURE_REASON_MAX]
    if exit_code < 0:
        return f"AlgorithmError: the training process was killed by signal {-exit_code}"
    return f"AlgorithmError: the training process exited with code {exit_code}"


def _pack(folder: Path, archive: Path) -> None:
    with tarfile.open(archive, "w:gz") as tar:
        for path in sorted(folder.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(folder)), recursive=False)


def package_outputs(layout: Layout, s3: Any | None, request: Mapping[str, Any], job_name: str) -> str:
    """Pack model/ as model.tar.gz (and output/data as output.tar.gz when not empty) and upload them under
    `<S3OutputPath>/<job name>/output/`. Returns the model's S3 URI. Without an S3 client the archives stay in
    the job's directory and the URI is still the one AWS would report."""
    output_path = request.get("OutputDataConfig", {}).get("S3OutputPath", "")
    bucket, prefix = _split_s3(output_path)
    key_prefix = f"{prefix.rstrip('/')}/{job_name}/output/".lstrip("/")
    archives = {"model.tar.gz": layout.model}
    data_dir = layout.output / "data"
    if data_dir.is_dir() and any(data_dir.iterdir()):
        archives["output.tar.gz"] = data_dir
    for archive_name, folder in archives.items():
        archive = layout.root / archive_name
        _pack(folder, archive)
        if s3 is not None:
            try:
                s3.upload_file(str(archive), bucket, key_prefix + archive_name)
            except Exception as exc:
                raise ContainerError(
                    f"ClientError: could not upload s3://{bucket}/{key_prefix}{archive_name}: {exc}"
                ) from exc
    return f"s3://{bucket}/{key_prefix}model.tar.gz"


class MetricParser:
    """Applies MetricDefinitions to output lines: one value per metric per line (the regex's first group)."""

    def __init__(self, definitions: list[dict[str, str]]) -> None:
        self._metrics: list[tuple[str, re.Pattern[str]]] = []
        for definition in definitions:
            try:
                self._metrics.append((definition["Name"], re.compile(definition["Regex"])))
            except re.error as exc:
                raise ContainerError(
                    f"ClientError: MetricDefinitions {definition['Name']}: invalid regular expression ({exc})"
                ) from exc

    def parse(self, line: str) -> list[tuple[str, float]]:
        found = []
        for name, pattern in self._metrics:
            match = pattern.search(line)
            if match is None:
                continue
            text = match.group(1) if pattern.groups else match.group(0)
            try:
                value = float(text)
            except (TypeError, ValueError):
                continue
            if not math.isfinite(value):
                continue  # CloudWatch takes no NaN or infinity
            found.append((name, value))
        return found
