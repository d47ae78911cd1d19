"""Concurrent invocations against DynamoDB: moto's server over real HTTP, retune's own DynamoTable and Store, and the
fakes for S3 and SageMaker behind a lock.

moto applies each DynamoDB request in the server thread that received it, and its TransactWriteItems is not
isolated: it applies the items one by one to the live table and, on a failed condition, restores a copy of the
whole table taken when it began, erasing whatever other requests wrote meanwhile. DynamoDB itself applies a request
atomically and serializes transactions with the writes they touch. So the server here takes one lock around each
request: each is atomic, as in DynamoDB, while the invocations' requests interleave freely between them.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

import boto3
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from retune.errors import ConflictError, TransientError
from retune.store import Store
from retune.table import ConditionFailed, DynamoTable
from werkzeug.serving import make_server

from tests.conftest import World
from tests.moto_env import create_state_table

REGION = "us-east-1"
LAMBDA_ATTEMPTS = 3


class SerializedMotoServer(ThreadedMotoServer):
    """moto's threaded server, each request applied under one lock (see the module's docstring)."""

    def _server_entry(self) -> None:
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()

        def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
            with lock:
                return list(app(environ, start_response))

        self._server = make_server(
            self._ip_address, self._port, serialized, True, request_handler=MotoRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever()


class Locked:
    """A fake behind one lock: the in-memory fakes are not thread-safe, the AWS services they stand for are."""

    def __init__(self, target: Any, lock: threading.RLock) -> None:
        self._target = target
        self._lock = lock

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if not callable(value):
            return value

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return value(*args, **kwargs)

        return locked


class Jittery:
    """A table whose calls start after a random pause of up to `most` seconds, so that each seed interleaves the
    invocations' requests differently. Counts the conditional writes that lost a race."""

    def __init__(self, table: DynamoTable, rng: random.Random, races: list[str], most: float = 0.003) -> None:
        self._table = table
        self._rng = rng
        self._races = races
        self._most = most

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._table, name)

        def paused(*args: Any, **kwargs: Any) -> Any:
            time.sleep(self._rng.random() * self._most)
            try:
                return value(*args, **kwargs)
            except ConditionFailed:
                self._races.append(name)  # list.append is atomic
                raise

        return paused


@cache
def _session() -> boto3.session.Session:
    return boto3.session.Session(
        aws_access_key_id="testing", aws_secret_access_key="testing", region_name=REGION
    )


@dataclass
class ConcurrentWorld:
    """One World of fakes (S3, SageMaker, the topic, the bus) shared by every invocation, and a state table in
    moto's server that each invocation reaches with its own client, as separate Lambda instances would."""

    endpoint: str
    table_name: str
    seed: int
    world: World = field(default_factory=World)
    lock: threading.RLock = field(default_factory=threading.RLock)
    races: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        create_state_table(self.client(), self.table_name)
        # The sequential parts of a test (setting up a round) use a store on the same table.
        self.store = Store(DynamoTable(self.client(), self.table_name))
        self.world.store = self.store
        for deps in (
            self.world.deps,
            self.world.record_deps,
            self.world.close_deps,
            self.world.promote_deps,
            self.world.reconcile_deps,
        ):
            deps.store = self.store

    def client(self) -> Any:
        """A client of its own for each invocation (made in the test's thread: a session is not thread-safe)."""
        return _session().client("dynamodb", endpoint_url=self.endpoint)

    def invocation_deps(self, which: str, index: int) -> Any:
        """The deps one invocation gets: its own client and (jittered) table, the shared fakes behind the lock."""
        rng = random.Random(self.seed * 1000 + index)
        store = Store(Jittery(DynamoTable(self.client(), self.table_name), rng, self.races))  # type: ignore[arg-type]
        w, lock = self.world, self.lock
        shared = {
            "bucket": Locked(w.bucket, lock),
            "sagemaker": Locked(w.sagemaker, lock),
            "alerts": Locked(w.alerts, lock),
        }
        if which == "start":
            return replace(w.deps, store=store, **shared)
        record = replace(w.record_deps, store=store, sagemaker=shared["sagemaker"])
        if which == "close":
            return replace(w.close_deps, store=store, record=record, bus=Locked(w.bus, lock), **shared)
        assert which == "promote"
        return replace(w.promote_deps, store=store, bus=Locked(w.bus, lock), **shared)


@dataclass
class Outcome:
    result: Any = None
    errors: list[BaseException] = field(default_factory=list)


def concurrently(calls: list[Callable[[], Any]]) -> list[Outcome]:
    """Run the invocations at once (a barrier releases them together), each with Lambda's retries: a ConflictError
    after losing races repeatedly, or a transient error, fails the attempt and the invocation is retried."""
    barrier = threading.Barrier(len(calls))
    outcomes = [Outcome() for _ in calls]

    def invoke(index: int) -> None:
        barrier.wait()
        for _ in range(LAMBDA_ATTEMPTS):
            try:
                outcomes[index].result = calls[index]()
            except (ConflictError, TransientError) as exc:
                outcomes[index].errors.append(exc)
                continue
            except Exception as exc:  # noqa: BLE001 (recorded: the test fails on any unclassified error)
                outcomes[index].errors.append(exc)
            return

    threads = [threading.Thread(target=invoke, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "an invocation hung"
    return outcomes


def server() -> Iterator[str]:
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    moto = SerializedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        moto.stop()
