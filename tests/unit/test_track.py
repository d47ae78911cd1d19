"""Track: the state table's stream mirrored into MLflow (a fake MLflow REST server in the process, see
tests/mlflow_fake.py), through the handler as Lambda's event source mapping calls it."""

from __future__ import annotations

import copy
import random
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from boto3.dynamodb.types import TypeSerializer
from retune.adapters.mlflow import ARN_HEADER, MlflowRest, TrackingRefused, endpoint_of
from retune.errors import TransientError
from retune.table import Delete, MemoryTable, Operation, Put
from retune.use_cases.track import TrackDeps, resync

from functions.track.handler import handler
from tests.conftest import World, compose_fakes
from tests.mlflow_fake import FakeMlflow
from tests.reliability.harness import LambdaContext
from tests.unit.test_loop import TUNING, close_and_evaluate, run_round, start

STREAM_ARN = "arn:aws:dynamodb:us-east-1:123456789012:table/retune-StateTable/stream/2026-01-01T00:00:00.000"
PREFIX = "arn:aws:sagemaker:us-east-1:123456789012"


class Stream:
    """The table's DynamoDB stream (NEW_AND_OLD_IMAGES): a record per item each write touched, in order."""

    def __init__(self, table: MemoryTable) -> None:
        self.records: list[dict[str, Any]] = []
        self._table = table
        self._write = table.write
        table.write = self.write  # type: ignore[method-assign]
        self._ser = TypeSerializer()

    def write(self, operations: Sequence[Operation]) -> None:
        before = copy.deepcopy(self._table.items)
        self._write(operations)
        for op in operations:
            if isinstance(op, Put):
                key = (op.item["pk"], op.item["sk"])
            elif isinstance(op, Delete):
                key = (op.pk, op.sk)
            else:
                continue
            old, new = before.get(key), self._table.items.get(key)
            name = "REMOVE" if new is None else "INSERT" if old is None else "MODIFY"
            self.records.append(self.record(name, key, old, new))

    def record(
        self, name: str, key: tuple[str, str], old: dict[str, Any] | None, new: dict[str, Any] | None
    ) -> dict[str, Any]:
        sequence = f"{len(self.records) + 1:021d}"
        dynamodb: dict[str, Any] = {
            "ApproximateCreationDateTime": 1767225600.0,
            "Keys": {"pk": {"S": key[0]}, "sk": {"S": key[1]}},
            "SequenceNumber": sequence,
            "SizeBytes": 100,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
        if new is not None:
            dynamodb["NewImage"] = {k: self._ser.serialize(v) for k, v in new.items()}
        if old is not None:
            dynamodb["OldImage"] = {k: self._ser.serialize(v) for k, v in old.items()}
        return {
            "eventID": f"e{sequence}",
            "eventName": name,
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": dynamodb,
            "eventSourceARN": STREAM_ARN,
        }


@pytest.fixture
def mlflow() -> Iterator[FakeMlflow]:
    fake = FakeMlflow().start()
    yield fake
    fake.stop()


def track_deps(world: World, server: FakeMlflow) -> TrackDeps:
    return compose_fakes(world).track(MlflowRest(server.url, timeout=5), PREFIX)


def deliver(records: list[dict[str, Any]], deps: TrackDeps, batch: int = 100) -> list[dict[str, Any]]:
    """Lambda's event source mapping, simply: batches in order, each retried from its first failure."""
    failures = []
    for i in range(0, len(records), batch):
        answer = handler({"Records": records[i : i + batch]}, LambdaContext(), deps)
        failures += answer["batchItemFailures"]
    return failures


def two_rounds(world: World) -> Stream:
    """Two rounds of market-xgb as the loop writes them: trials, close, evaluation, decision, champion."""
    stream = Stream(world.table)
    start(world)
    run_round(world)
    close_and_evaluate(world, challenger=0.47)
    start(world, "2015-02-01")
    run_round(world, tuning="rt-market-xgb-0002", results=[{"objective": 0.45, "compute": 90}])
    close_and_evaluate(world, challenger=0.44, champion=0.46, tuning="rt-market-xgb-0002", seq=2)
    return stream


def snapshot(server: FakeMlflow) -> dict[str, Any]:
    """What a user sees in MLflow: each run by key with its params, tags, status and metric histories."""
    out = {}
    for key, runs in server.runs_by_key().items():
        assert len(runs) == 1, f"{key}: {len(runs)} runs"
        run = runs[0]
        parent = run.tags.get("mlflow.parentRunId")
        out[key] = {
            "name": run.name,
            "status": run.status,
            "end_time": run.end_time,
            "params": run.params,
            "tags": {k: v for k, v in run.tags.items() if k != "mlflow.parentRunId"},
            "parent": server.runs[parent].tags["retune.key"] if parent else None,
            "metrics": {key: run.history(key) for key in {p[0] for p in run.points}},
        }
    return out


# ---------------------------------------------------------------- the mapping


def test_track_mirrors_rounds_as_parent_runs_and_trials_as_child_runs(
    world: World, mlflow: FakeMlflow
) -> None:
    stream = two_rounds(world)
    assert deliver(stream.records, track_deps(world, mlflow)) == []

    experiment = mlflow.experiment("retune/market-xgb")
    assert experiment is not None
    runs = snapshot(mlflow)
    rounds = {k: v for k, v in runs.items() if k.startswith("round/")}
    trials = {k: v for k, v in runs.items() if k.startswith("trial/")}
    assert set(rounds) == {"round/market-xgb/1", "round/market-xgb/2"}
    assert len(trials) == 4  # three trials in round 1, one in round 2

    one = rounds["round/market-xgb/1"]
    assert one["status"] == "FINISHED" and one["end_time"] is not None
    assert one["tags"]["drop"] == "2015-01-01"
    assert one["tags"]["tuning_job.name"] == TUNING
    assert one["tags"]["tuning_job.arn"] == f"{PREFIX}:hyper-parameter-tuning-job/{TUNING}"
    assert one["tags"]["decision.outcome"] == "approved"
    assert one["tags"]["model_package.arn"].startswith("arn:aws:sagemaker:")
    assert one["params"]["plan.strategy"] == "Bayesian"
    assert one["params"]["objective_metric"] == "validation:rmse"
    assert "plan.ranges" in one["tags"] and "∈ [" in one["tags"]["plan.ranges"]
    assert one["metrics"]["evaluation.challenger_score"] == [(0, 0.47)]
    assert one["metrics"]["best_objective"] == [(0, 0.48)]
    two = rounds["round/market-xgb/2"]
    assert two["tags"]["plan.changes"] != "none: the plan is the profile's"  # round 2's plan learned from 1
    assert two["metrics"]["evaluation.champion_score"] == [(0, 0.46)]

    name = f"{TUNING}-001-00000001"
    trial = trials[f"trial/market-xgb/1/{name}"]
    assert trial["parent"] == "round/market-xgb/1"
    assert trial["name"] == name
    assert trial["params"] == {"eta": "0.01", "_tuning_objective_metric": "validation:rmse"}
    assert trial["metrics"]["objective"] == [(1, 0.7), (2, 0.6), (3, 0.55)]  # per epoch, by step
    assert trial["metrics"]["compute"] == [(0, 100.0)]
    assert trial["metrics"]["billable_seconds"] == [(0, 60.0)]
    assert trial["status"] == "FINISHED"
    assert trial["tags"]["training_job.arn"] == f"{PREFIX}:training-job/{name}"
    assert trial["tags"]["model_artifact"].endswith(f"/{name}/output/model.tar.gz")
    assert trial["tags"]["stopped_early"] == "false"
    stopped = trials[f"trial/market-xgb/1/{TUNING}-003-00000003"]
    assert stopped["status"] == "KILLED" and stopped["tags"]["stopped_early"] == "true"

    champion = experiment["tags"]
    assert champion["champion.round"] == "2" and champion["champion.version"] == "2"
    assert "round 1" in champion["champion.history"]


def test_track_skips_the_kinds_it_does_not_mirror_and_removed_items(world: World, mlflow: FakeMlflow) -> None:
    stream = Stream(world.table)
    start(world)
    kinds = {r["dynamodb"]["Keys"]["sk"]["S"].split("#")[0] for r in stream.records}
    assert {"DROP", "ACTIVE", "ROUND"} <= kinds
    removed = stream.record("REMOVE", ("PROFILE#market-xgb", "ROUND#0001"), None, None)
    assert deliver([*stream.records, removed], track_deps(world, mlflow)) == []
    assert set(mlflow.runs_by_key()) == {"round/market-xgb/1"}  # the drop, ACTIVE, ... have no run


# ---------------------------------------------------------------- exactly once in effect


def test_track_replayed_stream_leaves_the_same_runs(world: World, mlflow: FakeMlflow) -> None:
    stream = two_rounds(world)
    deps = track_deps(world, mlflow)
    deliver(stream.records, deps)
    once = snapshot(mlflow)
    assert deliver(stream.records + stream.records, deps, batch=7) == []
    assert snapshot(mlflow) == once
    assert len(mlflow.runs) == len(once)  # no run made and deleted either


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_track_shuffled_stream_ends_as_the_ordered_one(world: World, mlflow: FakeMlflow, seed: int) -> None:
    stream = two_rounds(world)
    ordered = FakeMlflow().start()
    try:
        deliver(stream.records, track_deps(world, ordered))
        records = list(stream.records)
        random.Random(seed).shuffle(records)
        assert deliver(records, track_deps(world, mlflow), batch=5) == []
        assert snapshot(mlflow) == snapshot(ordered)
    finally:
        ordered.stop()


def test_track_modify_that_changed_nothing_writes_nothing(world: World, mlflow: FakeMlflow) -> None:
    stream = two_rounds(world)
    deps = track_deps(world, mlflow)
    deliver(stream.records, deps)
    item = world.table.items[("PROFILE#market-xgb", "ROUND#0001")]
    same = stream.record("MODIFY", ("PROFILE#market-xgb", "ROUND#0001"), item, item)
    before = len(mlflow.writes())
    assert deliver([same], deps) == []
    assert len(mlflow.writes()) == before


def test_track_two_writers_creating_one_run_converge_to_one(world: World, mlflow: FakeMlflow) -> None:
    """Both search, find nothing and create (the barrier holds each create until both are in): each then finds
    both, keeps the same one and deletes the other."""
    stream = Stream(world.table)
    start(world)
    barrier = threading.Barrier(2, timeout=10)
    mlflow.before_create = barrier.wait
    mlflow._experiments_create({"name": "retune/market-xgb"})  # so only the run is raced
    rounds = [r for r in stream.records if r["dynamodb"]["Keys"]["sk"]["S"] == "ROUND#0001"][:1]
    answers: list[Any] = []

    def writer() -> None:
        answers.append(deliver(rounds, track_deps(world, mlflow)))

    threads = [threading.Thread(target=writer) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert answers == [[], []]
    assert mlflow.requests.count("runs/create") == 2
    (survivors,) = mlflow.runs_by_key().values()
    assert len(survivors) == 1
    assert len(mlflow.runs) == 2  # the other was made, then deleted
    assert survivors[0].params["plan.strategy"] == "Bayesian"


# ---------------------------------------------------------------- failures


def test_track_outage_fails_the_batch_from_its_first_unmirrored_record(
    world: World, mlflow: FakeMlflow
) -> None:
    stream = two_rounds(world)
    deps = track_deps(world, mlflow)
    mlflow.fail_with = 503
    answer = handler({"Records": stream.records}, LambdaContext(), deps)
    first = next(r for r in stream.records if r["dynamodb"]["Keys"]["sk"]["S"].startswith("ROUND#"))
    assert answer == {"batchItemFailures": [{"itemIdentifier": first["dynamodb"]["SequenceNumber"]}]}
    # Lambda retries from there once MLflow is back: all is mirrored
    mlflow.fail_with = None
    assert deliver(stream.records, deps) == []
    assert len(mlflow.runs_by_key()) == 6


def test_track_unreachable_server_fails_the_batch(world: World) -> None:
    stream = Stream(world.table)
    start(world)
    down = FakeMlflow().start()
    url = down.url
    down.stop()
    deps = compose_fakes(world).track(MlflowRest(url, timeout=2), PREFIX)
    answer = handler({"Records": stream.records}, LambdaContext(), deps)
    assert len(answer["batchItemFailures"]) == 1


def test_track_param_logged_with_another_value_is_kept_as_a_tag(world: World, mlflow: FakeMlflow) -> None:
    stream = two_rounds(world)
    deps = track_deps(world, mlflow)
    deliver(stream.records, deps)
    name = f"{TUNING}-001-00000001"
    (run,) = mlflow.runs_by_key()[f"trial/market-xgb/1/{name}"]
    run.params["eta"] = "0.99"  # someone logged another value by hand
    assert deliver(stream.records, deps) == []
    assert run.params["eta"] == "0.99" and run.tags["retune.param_changed.eta"] == "0.01"


def test_track_refused_record_is_counted_and_the_batch_goes_on(
    world: World, mlflow: FakeMlflow, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = two_rounds(world)
    deps = track_deps(world, mlflow)
    real = deps.tracker.log_batch
    name = f"{TUNING}-001-00000001"

    def refuse_one(run_id: str, **kwargs: Any) -> None:
        if (kwargs.get("params") or {}).get("eta") == "0.01":
            raise TrackingRefused("INVALID_PARAMETER_VALUE", "a value MLflow refuses")
        real(run_id, **kwargs)

    monkeypatch.setattr(deps.tracker, "log_batch", refuse_one)
    assert deliver(stream.records, deps) == []
    assert world.metrics.counts["TrackRecordsRefused"] == 2  # the first trial of each round has eta 0.01
    keys = mlflow.runs_by_key()
    assert "round/market-xgb/2" in keys  # the records after it were mirrored
    assert keys[f"trial/market-xgb/1/{name}"][0].params == {}


# ---------------------------------------------------------------- the client


def test_mlflow_client_maps_mlflow_errors(mlflow: FakeMlflow) -> None:
    client = MlflowRest(mlflow.url, timeout=5)
    client.create_experiment("x", {})
    from retune.errors import AlreadyExists  # noqa: PLC0415

    with pytest.raises(AlreadyExists):
        client.create_experiment("x", {})
    assert client.get_experiment_by_name("nope") is None
    run = client.create_run("1", "r", {})
    client.log_batch(run["info"]["run_id"], params={"a": "1"})
    with pytest.raises(TrackingRefused, match="INVALID_PARAMETER_VALUE"):
        client.log_batch(run["info"]["run_id"], params={"a": "2"})
    mlflow.fail_with = 500
    with pytest.raises(TransientError):
        client.get_experiment_by_name("x")


def test_mlflow_client_splits_a_long_series_into_mlflows_batches(mlflow: FakeMlflow) -> None:
    client = MlflowRest(mlflow.url, timeout=5)
    client.create_experiment("x", {})
    run_id = client.create_run("1", "r", {})["info"]["run_id"]
    points = [{"key": "objective", "value": i / 10, "timestamp": i, "step": i} for i in range(2500)]
    client.log_batch(run_id, params={f"p{i}": "v" for i in range(150)}, metrics=points)
    assert mlflow.requests.count("runs/log-batch") == 3
    assert len(mlflow.runs[run_id].points) == 2500 and len(mlflow.runs[run_id].params) == 150


def test_mlflow_client_signs_for_a_managed_server_as_the_sagemaker_mlflow_plugin() -> None:
    from botocore.credentials import Credentials  # noqa: PLC0415

    arn = "arn:aws:sagemaker:eu-west-1:123456789012:mlflow-tracking-server/team"
    base, region, signed_arn = endpoint_of(arn)
    assert (base, region, signed_arn) == ("https://eu-west-1.experiments.sagemaker.aws", "eu-west-1", arn)
    client = MlflowRest(arn, Credentials("AKIDEXAMPLE", "secret", "token"))
    headers = client._signed(
        "GET", f"{base}/api/2.0/mlflow/experiments/get-by-name?experiment_name=a%20b", b"", {}
    )
    assert headers[ARN_HEADER] == arn
    assert "/eu-west-1/sagemaker-mlflow/aws4_request" in headers["Authorization"]
    assert "x-mlflow-sm-tracking-server-arn" in headers["Authorization"]  # signed, as the plugin's header is
    assert headers["X-Amz-Security-Token"] == "token"
    with pytest.raises(ValueError, match="TRACKING_SERVER"):
        endpoint_of("mlflow-server")


# ---------------------------------------------------------------- resync


def test_track_resync_backfills_history_written_before_track_and_changes_nothing_again(
    world: World, mlflow: FakeMlflow
) -> None:
    """A stack with history and no Track: the items as today's loop writes them, no stream delivered."""
    stream = two_rounds(world)
    streamed = FakeMlflow().start()
    try:
        deliver(stream.records, track_deps(world, streamed))
        lines: list[str] = []
        report = resync(["market-xgb"], track_deps(world, mlflow), lines.append)
        assert report == (1, 2, 4)
        assert snapshot(mlflow) == snapshot(streamed)
        assert (
            mlflow.experiment("retune/market-xgb")["tags"] == streamed.experiment("retune/market-xgb")["tags"]
        )
        assert any("round 2" in line for line in lines)
        writes = len(mlflow.writes())
        resync(["market-xgb"], track_deps(world, mlflow), lines.append)
        assert len(mlflow.writes()) == writes
    finally:
        streamed.stop()


def test_track_resync_completes_what_an_outage_parked(world: World, mlflow: FakeMlflow) -> None:
    stream = two_rounds(world)
    deps = track_deps(world, mlflow)
    half = len(stream.records) // 2
    deliver(stream.records[:half], deps)
    resync(["market-xgb"], track_deps(world, mlflow), lambda line: None)
    reference = FakeMlflow().start()
    try:
        deliver(stream.records, track_deps(world, reference))
        assert snapshot(mlflow) == snapshot(reference)
    finally:
        reference.stop()
