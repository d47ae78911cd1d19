"""Track against MLflow's own `mlflow server` (SQLite backend, the tools venv .venv-tools/mlflow): the same stream
mirrored into it and into the tests' fake ends in the same runs, read back through MLflow's own client; a replay
changes nothing; a param logged again with another value is refused as the fake refuses it. Skipped without the
venv; slow (the server takes tens of seconds to start on a busy machine)."""

from __future__ import annotations

import json
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from retune.adapters.mlflow import MlflowRest, TrackingRefused

from tests.conftest import ROOT, World
from tests.mlflow_fake import FakeMlflow
from tests.unit.test_track import deliver, track_deps, two_rounds

MLFLOW_VENV = ROOT / ".venv-tools" / "mlflow"
PYTHON = MLFLOW_VENV / "bin" / "python"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not (MLFLOW_VENV / "bin" / "mlflow").exists(), reason="no .venv-tools/mlflow"),
]

# Runs as MLflow's own client reads them: each run's name, status, params, tags and metric histories.
READ_BACK = """
import json, sys
from mlflow.tracking import MlflowClient
client = MlflowClient(tracking_uri=sys.argv[1])
experiment = client.get_experiment_by_name("retune/market-xgb")
out = {"experiment_tags": experiment.tags, "runs": {}}
for run in client.search_runs([experiment.experiment_id], max_results=1000):
    key = run.data.tags["retune.key"]
    parent = run.data.tags.get("mlflow.parentRunId")
    out["runs"][key] = {
        "name": run.info.run_name,
        "status": run.info.status,
        "params": run.data.params,
        "parent": client.get_run(parent).data.tags["retune.key"] if parent else None,
        "metrics": {
            k: sorted((m.step, m.value) for m in client.get_metric_history(run.info.run_id, k))
            for k in run.data.metrics
        },
        "tags": {k: v for k, v in run.data.tags.items() if not k.startswith("mlflow.") or k == "mlflow.note.content"},
    }
print(json.dumps(out))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [
            str(MLFLOW_VENV / "bin" / "mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{tmp_path / 'mlflow.db'}",
            "--default-artifact-root",
            str(tmp_path / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    try:
        while True:  # polls the server's health endpoint until it answers
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=30) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                assert process.poll() is None, "mlflow server exited"
                assert time.monotonic() < deadline, "mlflow server did not start in 600 s"
                time.sleep(0.5)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def read_back(url: str) -> dict[str, Any]:
    out = subprocess.run([str(PYTHON), "-c", READ_BACK, url], capture_output=True, text=True, check=True)
    result: dict[str, Any] = json.loads(out.stdout)
    return result


def fake_view(fake: FakeMlflow) -> dict[str, Any]:
    experiment = fake.experiment("retune/market-xgb")
    assert experiment is not None
    runs = {}
    for key, (run,) in fake.runs_by_key().items():
        parent = run.tags.get("mlflow.parentRunId")
        runs[key] = {
            "name": run.name,
            "status": run.status,
            "params": run.params,
            "parent": fake.runs[parent].tags["retune.key"] if parent else None,
            "metrics": {k: [list(p) for p in run.history(k)] for k in {p[0] for p in run.points}},
            "tags": {
                k: v for k, v in run.tags.items() if not k.startswith("mlflow.") or k == "mlflow.note.content"
            },
        }
    return {"experiment_tags": experiment["tags"], "runs": runs}


def test_track_real_mlflow_holds_what_the_fake_holds_and_a_replay_changes_nothing(
    world: World, server: str
) -> None:
    stream = two_rounds(world)
    assert deliver(stream.records, track_deps_for(world, server)) == []
    real = read_back(server)
    fake = FakeMlflow().start()
    try:
        deliver(stream.records, track_deps(world, fake))
        expected = fake_view(fake)
    finally:
        fake.stop()
    real["experiment_tags"] = {
        k: v for k, v in real["experiment_tags"].items() if not k.startswith("mlflow.")
    }
    assert json.loads(json.dumps(real)) == json.loads(json.dumps(expected))
    assert len(real["runs"]) == 6
    # the stream again, in another order: MLflow holds the same
    assert deliver(list(reversed(stream.records)) + stream.records, track_deps_for(world, server)) == []
    assert read_back(server)["runs"] == real["runs"]


def test_track_real_mlflow_refuses_a_changed_param_as_the_fake_does(server: str) -> None:
    client = MlflowRest(server, timeout=60)
    experiment = client.create_experiment("refusals", {})
    run_id = client.create_run(experiment, "r", {})["info"]["run_id"]
    client.log_batch(run_id, params={"eta": "0.1"})
    client.log_batch(run_id, params={"eta": "0.1"})  # the same value again is accepted
    with pytest.raises(TrackingRefused, match="INVALID_PARAMETER_VALUE"):
        client.log_batch(run_id, params={"eta": "0.2"})
    from retune.errors import AlreadyExists  # noqa: PLC0415

    with pytest.raises(AlreadyExists):
        client.create_experiment("refusals", {})


def track_deps_for(world: World, url: str) -> Any:
    from tests.conftest import compose_fakes  # noqa: PLC0415
    from tests.unit.test_track import PREFIX  # noqa: PLC0415

    return compose_fakes(world).track(MlflowRest(url, timeout=60), PREFIX)
