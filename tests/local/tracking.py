"""What the tracking tests share: a template with a stand-in Track function (until the real one is in
template.yaml), and MLflow's own client from the mlflow tools venv, run in a subprocess."""

from __future__ import annotations

import copy
import json
import subprocess
from pathlib import Path
from typing import Any

from retune_local.mlflow_server import PYTHON as MLFLOW_PYTHON
from retune_local.template import ROOT, load_template

STUB_CODE = "tests/local/track_stub/"


def stub_template(directory: Path, log_dir: Path) -> Path:
    """template.yaml plus what the Track function's template adds, with the stand-in handler
    (tests/local/track_stub), which logs to `log_dir` given by `stub_environment`: the TrackingServer parameter and its condition, the state table's stream, the
    function fed by it (SAM's DynamoDB event, every setting of the event source mapping), its on-failure queue,
    which Reconcile alerts on. Written as JSON (YAML's subset) to `directory`."""
    template = copy.deepcopy(load_template())
    # Once template.yaml has the real Track function, the stand-in takes its place: its own mapping, not a second.
    template["Resources"] = {
        lid: resource
        for lid, resource in template["Resources"].items()
        if not (
            resource.get("Type") == "AWS::Lambda::EventSourceMapping"
            and (resource.get("Properties") or {}).get("FunctionName") == {"Ref": "TrackFunction"}
        )
    }
    template["Parameters"]["TrackingServer"] = {"Type": "String", "Default": ""}
    template["Conditions"]["Tracking"] = {"Fn::Not": [{"Fn::Equals": [{"Ref": "TrackingServer"}, ""]}]}
    resources = template["Resources"]
    resources["StateTable"]["Properties"]["StreamSpecification"] = {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    resources["TrackOnFailureQueue"] = {
        "Type": "AWS::SQS::Queue",
        "Condition": "Tracking",
        "Properties": {"MessageRetentionPeriod": 1209600, "KmsMasterKeyId": {"Ref": "EncryptionKey"}},
    }
    resources["TrackFunction"] = {
        "Type": "AWS::Serverless::Function",
        "Condition": "Tracking",
        "Properties": {
            "CodeUri": STUB_CODE,
            "Handler": "handler.handler",
            "Timeout": 30,
            "Environment": {"Variables": {"TRACKING_SERVER": {"Ref": "TrackingServer"}, "STUB_LOG": ""}},
            "Events": {
                "StateChanges": {
                    "Type": "DynamoDB",
                    "Properties": {
                        "Stream": {"Fn::GetAtt": ["StateTable", "StreamArn"]},
                        "StartingPosition": "TRIM_HORIZON",
                        "BatchSize": 25,
                        "MaximumBatchingWindowInSeconds": 1,
                        "BisectBatchOnFunctionError": True,
                        "MaximumRetryAttempts": 2,
                        "MaximumRecordAgeInSeconds": 86400,
                        "ParallelizationFactor": 1,
                        "FunctionResponseTypes": ["ReportBatchItemFailures"],
                        "DestinationConfig": {
                            "OnFailure": {
                                "Type": "SQS",
                                "Destination": {"Fn::GetAtt": ["TrackOnFailureQueue", "Arn"]},
                            }
                        },
                    },
                }
            },
            "Policies": [
                {
                    "Statement": [
                        {
                            # The stream of a KMS-encrypted table, and the encrypted on-failure queue.
                            "Sid": "EncryptionKey",
                            "Effect": "Allow",
                            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                            "Resource": {"Fn::GetAtt": ["EncryptionKey", "Arn"]},
                        }
                    ]
                }
            ],
        },
    }
    reconcile = resources["ReconcileFunction"]["Properties"]
    if "TrackOnFailureQueue" in json.dumps(reconcile["Environment"]):
        return _write(template, directory, log_dir)  # the real template's Reconcile alerts on it already
    parked = {"Fn::If": ["Tracking", {"Ref": "TrackOnFailureQueue"}, {"Ref": "AWS::NoValue"}]}
    reconcile["Environment"]["Variables"]["PARKED_QUEUE_URLS"]["Fn::Join"][1].append(parked)
    for statement in reconcile["Policies"][0]["Statement"]:
        if statement.get("Sid") == "ReadParkedQueueDepths":
            statement["Resource"].append(
                {
                    "Fn::If": [
                        "Tracking",
                        {"Fn::GetAtt": ["TrackOnFailureQueue", "Arn"]},
                        {"Ref": "AWS::NoValue"},
                    ]
                }
            )
    return _write(template, directory, log_dir)


def _write(template: dict[str, Any], directory: Path, log_dir: Path) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    path = directory / "template-track-stub.json"
    path.write_text(json.dumps(template, indent=1))
    return path


def stub_environment(log_dir: Path) -> dict[str, dict[str, str]]:
    """The stand-in's log folder, as `env.json` overrides (the template stays the same from run to run, so its SAM
    transform is cached)."""
    return {"TrackFunction": {"STUB_LOG": str(log_dir)}}


def stub_batches(log_dir: Path) -> list[list[dict[str, Any]]]:
    path = log_dir / "batches.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line]


READ_RUNS = r"""
import json, sys
from mlflow.tracking import MlflowClient

client = MlflowClient(tracking_uri=sys.argv[1])
out = []
for experiment in client.search_experiments():
    if experiment.name == "Default":
        continue
    runs = client.search_runs([experiment.experiment_id], max_results=5000)
    out.append({
        "name": experiment.name,
        "tags": dict(experiment.tags),
        "runs": [
            {
                "id": r.info.run_id,
                "name": r.info.run_name,
                "status": r.info.status,
                "params": dict(r.data.params),
                "tags": dict(r.data.tags),
                "metrics": {
                    key: [(m.step, m.value) for m in client.get_metric_history(r.info.run_id, key)]
                    for key in r.data.metrics
                },
            }
            for r in runs
        ],
    })
print(json.dumps(out))
"""


def mlflow_experiments(tracking_uri: str) -> list[dict[str, Any]]:
    """Every experiment but MLflow's Default, with its runs (params, tags, each metric's history by step), read
    back through MLflow's own client (the mlflow venv's)."""
    result = subprocess.run(
        [str(MLFLOW_PYTHON), "-c", READ_RUNS, tracking_uri],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
        cwd=str(ROOT),
    )
    if result.returncode != 0:
        raise RuntimeError(f"reading MLflow's runs failed: {result.stderr[-2000:]}")
    data: list[dict[str, Any]] = json.loads(result.stdout)
    return data
