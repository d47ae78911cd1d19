"""The Track function (functions/track) on the local stack, against a real MLflow server, read back with MLflow's own
client: a 2-drop run leaves one experiment, a parent run per round and a child run per trial with its
hyperparameters and its objective per epoch; a shuffled replay of the stream with duplicates leaves the same runs;
an MLflow outage ends parked on Track's on-failure queue and alerted, and `retune track --resync` completes it.

Slow (two rounds, MLflow's start, the resync): `make test-reliability` runs it. It runs once template.yaml has the
Track function (its TrackingServer parameter); until then it is skipped.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from retune_local.images import ImageSpec
from retune_local.mlflow_server import PYTHON as MLFLOW_PYTHON
from retune_local.stack import TRACKING_PARAMETER, LocalStack
from retune_local.template import ROOT, load_template

from tests.local.conftest import TOY, TOY_IMAGE, toy_profile, write_drop
from tests.local.tracking import mlflow_experiments

pytestmark = [
    pytest.mark.local_stack,
    pytest.mark.slow,
    pytest.mark.skipif(not MLFLOW_PYTHON.exists(), reason="the mlflow venv is missing: make mlflow-venv"),
    pytest.mark.skipif(
        not (ROOT / "functions" / "track" / "handler.py").exists()
        or TRACKING_PARAMETER not in (load_template().get("Parameters") or {}),
        reason="template.yaml has no Track function yet",
    ),
]


def runs_by_kind(experiments: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    (experiment,) = experiments
    runs = experiment["runs"]
    parents = [r for r in runs if "mlflow.parentRunId" not in r["tags"]]
    children = [r for r in runs if "mlflow.parentRunId" in r["tags"]]
    return parents, children


def view(experiments: list[dict[str, Any]]) -> dict[str, Any]:
    """What a person sees of the runs: ids, names, statuses, params, tags, metric histories."""
    return {
        e["name"]: sorted(
            (
                r["id"],
                r["name"],
                r["status"],
                json.dumps(r["params"], sort_keys=True),
                json.dumps(r["tags"], sort_keys=True),
                json.dumps(r["metrics"], sort_keys=True),
            )
            for r in e["runs"]
        )
        for e in experiments
    }


def test_tracking_two_drops_mirror_into_mlflow_replays_change_nothing_and_an_outage_is_resynced(
    tmp_path: Path,
) -> None:
    images = {TOY_IMAGE: ImageSpec.python(str(TOY), seconds_per_epoch=10.0)}
    with LocalStack(tmp_path / "state", images, event_log=tmp_path / "events.jsonl", tracking=True) as stack:
        assert stack.mlflow is not None
        server = stack.mlflow.url
        profile = tmp_path / "toy.json"
        profile.write_text(json.dumps(toy_profile(max_jobs=3, parallel=2)))
        stack.put_profile(profile)
        for seq, drop in enumerate(("d1", "d2"), start=1):
            stack.drop(write_drop(tmp_path / drop, validation_rows=2 + seq), "toy", drop)
            assert stack.wait_for_round("toy", seq).status == "decided"
        assert stack.wait_for_streams(300)
        # The stream was read as Track's role, as Lambda's event source mapping reads it, and the gate allowed it.
        reads = [
            e for e in stack.gate.trace() if e.principal == "TrackFunction" and e.service == "dynamodbstreams"
        ]
        assert {e.operation for e in reads} >= {"DescribeStream", "GetShardIterator", "GetRecords"}
        assert all(e.allowed for e in reads)
        store = stack.state()
        trials = {seq: store.trials("toy", seq) for seq in (1, 2)}

        experiments = mlflow_experiments(server)
        assert len(experiments) == 1
        parents, children = runs_by_kind(experiments)
        assert len(parents) == 2
        parent_of = {p["id"]: p for p in parents}
        assert len(children) == sum(len(t) for t in trials.values())
        by_job = {c["name"]: c for c in children}
        for seq, round_trials in trials.items():
            for trial in round_trials:
                child = by_job[trial.training_job_name]
                parent = parent_of[child["tags"]["mlflow.parentRunId"]]
                assert parent["tags"]["retune.round"] == str(seq)
                assert child["params"] == trial.hyperparameters
                (series,) = [h for h in child["metrics"].values() if len(h) == len(trial.objective_series)]
                assert [v for _, v in sorted(series)] == pytest.approx(trial.objective_series)

        # A replay of the whole stream, shuffled, some records twice: the same runs, nothing new.
        before = view(experiments)
        outcomes = stack.replay_stream(seed=11)
        assert all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok]
        assert view(mlflow_experiments(server)) == before

        # An outage: a trial's item changes while MLflow is down; the range is parked and alerted.
        stack.mlflow.stop()
        trial = trials[2][0]
        table = stack.client("dynamodb")
        key = {"pk": {"S": "PROFILE#toy"}}
        items = table.query(
            TableName=stack.resource("StateTable"),
            KeyConditionExpression="pk = :pk",
            ExpressionAttributeValues={":pk": key["pk"]},
        )["Items"]
        (item,) = [i for i in items if i["sk"]["S"].endswith(f"#TRIAL#{trial.training_job_name}")]
        doc = json.loads(item["doc"]["S"])
        doc["compute"] = 12345.0
        item["doc"] = {"S": json.dumps(doc)}
        table.put_item(TableName=stack.resource("StateTable"), Item=item)
        assert stack.wait_for_streams(600)
        assert [r for r in stack.on_failure_records if "DDBStreamBatchInfo" in r]
        assert stack.router is not None
        stack.router.fire_schedule("ReconcileFunction")
        assert stack.wait_until(lambda: stack.router is not None and stack.router.idle(), 120)
        assert any("parked" in a.get("Subject", "").lower() for a in stack.alerts())

        # The server back, `retune track --resync` completes what the stream could not deliver.
        stack.mlflow.start()
        endpoints = tmp_path / "endpoints.json"
        stack.write_endpoints(endpoints)
        env = {**os.environ, "RETUNE_ENDPOINTS_FILE": str(endpoints), "RETUNE_TRACKING_SERVER": server}
        result = subprocess.run(
            [sys.executable, "-m", "retune_cli", "track", "--resync", "toy"],
            capture_output=True,
            text=True,
            check=False,
            env=env,
            timeout=600,
            cwd=str(ROOT),
        )
        assert result.returncode == 0, result.stderr
        _, children = runs_by_kind(mlflow_experiments(server))
        (resynced,) = [c for c in children if c["name"] == trial.training_job_name]
        assert resynced["metrics"]["compute"][-1][1] == 12345.0
        assert len(children) == sum(len(t) for t in trials.values())
