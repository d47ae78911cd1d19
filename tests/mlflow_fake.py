"""A small MLflow tracking server in the test process: only the REST endpoints Track uses, answering as MLflow's
REST API documents them (https://mlflow.org/docs/latest/api_reference/rest-api.html) and as its SQL store behaves:

- errors are `{"error_code": ..., "message": ...}`: RESOURCE_DOES_NOT_EXIST (404), RESOURCE_ALREADY_EXISTS (400) for
  an experiment's name in use, INVALID_PARAMETER_VALUE (400) for a param logged again with another value, for a
  write to a deleted run, and for a log-batch over its limits;
- a metric point is a row keyed by (key, step, timestamp, value): logging the same point again adds nothing; the
  run's latest value of a metric is the point of the highest (step, timestamp, value);
- runs/search filters only on `tags.\\`key\\` = 'value'` (what Track sends) and ACTIVE_ONLY.

Faults for the tests: `fail_with` (an HTTP status every request gets), `refuse` (no connection), `before_create`
(a hook run inside runs/create, to line up two writers).
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

API = "/api/2.0/mlflow"
_FILTER = re.compile(r"^tags\.`(?P<key>[^`]+)`\s*=\s*'(?P<value>[^']*)'$")


class MlflowError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass
class Run:
    run_id: str
    experiment_id: str
    name: str
    start_time: int
    status: str = "RUNNING"
    end_time: int | None = None
    lifecycle_stage: str = "active"
    params: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    points: set[tuple[str, int, int, float]] = field(default_factory=set)  # (key, step, timestamp, value)

    def latest(self) -> list[dict[str, Any]]:
        best: dict[str, tuple[int, int, float]] = {}
        for key, step, timestamp, value in self.points:
            if key not in best or (step, timestamp, value) > best[key]:
                best[key] = (step, timestamp, value)
        return [{"key": k, "value": v, "timestamp": t, "step": s} for k, (s, t, v) in sorted(best.items())]

    def history(self, key: str) -> list[tuple[int, float]]:
        return sorted((step, value) for k, step, _, value in self.points if k == key)

    def as_json(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "run_id": self.run_id,
            "run_uuid": self.run_id,
            "experiment_id": self.experiment_id,
            "run_name": self.name,
            "status": self.status,
            "start_time": self.start_time,
            "lifecycle_stage": self.lifecycle_stage,
        }
        if self.end_time is not None:
            info["end_time"] = self.end_time
        return {
            "info": info,
            "data": {
                "metrics": self.latest(),
                "params": [{"key": k, "value": v} for k, v in sorted(self.params.items())],
                "tags": [{"key": k, "value": v} for k, v in sorted(self.tags.items())],
            },
        }


class FakeMlflow:
    """The server's state and its endpoints; `url` once started."""

    def __init__(self) -> None:
        self.experiments: dict[str, dict[str, Any]] = {}  # by id
        self.runs: dict[str, Run] = {}
        self.requests: list[str] = []  # each endpoint called, in order
        self.fail_with: int | None = None
        self.before_create: Callable[[], None] | None = None
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._clock = 0

    # what tests read

    def experiment(self, name: str) -> dict[str, Any] | None:
        return next((e for e in self.experiments.values() if e["name"] == name), None)

    def active_runs(self, experiment_id: str | None = None) -> list[Run]:
        return [
            r
            for r in self.runs.values()
            if r.lifecycle_stage == "active" and experiment_id in (None, r.experiment_id)
        ]

    def runs_by_key(self) -> dict[str, list[Run]]:
        found: dict[str, list[Run]] = {}
        for run in self.active_runs():
            found.setdefault(run.tags.get("retune.key", ""), []).append(run)
        return found

    def writes(self) -> list[str]:
        return [r for r in self.requests if not r.endswith(("get-by-name", "runs/search"))]

    # the server

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> FakeMlflow:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                parsed = urlparse(self.path)
                query = {k: v[0] for k, v in parse_qs(parsed.query).items()}
                self._answer(parsed.path, query)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                self._answer(urlparse(self.path).path, body)

            def _answer(self, path: str, body: dict[str, Any]) -> None:
                try:
                    status, document = 200, fake.handle(path, body)
                except MlflowError as exc:
                    status, document = exc.status, {"error_code": exc.code, "message": exc.message}
                raw = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    # the endpoints

    def handle(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        endpoint = path.removeprefix(API).lstrip("/")
        self.requests.append(endpoint)
        if self.fail_with is not None:
            raise MlflowError(self.fail_with, "TEMPORARILY_UNAVAILABLE", "the server is down")
        if endpoint == "runs/create" and self.before_create is not None:
            self.before_create()
        with self._lock:
            handler = getattr(self, "_" + endpoint.replace("/", "_").replace("-", "_"), None)
            if handler is None:
                raise MlflowError(404, "ENDPOINT_NOT_FOUND", f"no endpoint {endpoint}")
            result: dict[str, Any] = handler(body)
            return result

    def _now(self) -> int:
        # Milliseconds that never repeat: two runs created one after the other have different start times.
        self._clock = max(self._clock + 1, int(time.time() * 1000))
        return self._clock

    def _experiments_get_by_name(self, body: dict[str, Any]) -> dict[str, Any]:
        found = self.experiment(body.get("experiment_name", ""))
        if found is None:
            raise MlflowError(
                404,
                "RESOURCE_DOES_NOT_EXIST",
                f"Could not find experiment with name '{body.get('experiment_name')}'",
            )
        return {"experiment": _experiment_json(found)}

    def _experiments_create(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("name") or ""
        if not name:
            raise MlflowError(400, "INVALID_PARAMETER_VALUE", "Missing value for required parameter 'name'")
        if self.experiment(name) is not None:
            raise MlflowError(400, "RESOURCE_ALREADY_EXISTS", f"Experiment '{name}' already exists.")
        experiment_id = str(len(self.experiments) + 1)
        tags = {t["key"]: t["value"] for t in body.get("tags", [])}
        self.experiments[experiment_id] = {
            "experiment_id": experiment_id,
            "name": name,
            "lifecycle_stage": "active",
            "tags": tags,
        }
        return {"experiment_id": experiment_id}

    def _experiments_set_experiment_tag(self, body: dict[str, Any]) -> dict[str, Any]:
        experiment = self.experiments.get(str(body.get("experiment_id")))
        if experiment is None:
            raise MlflowError(
                404, "RESOURCE_DOES_NOT_EXIST", f"No Experiment with id={body.get('experiment_id')}"
            )
        experiment["tags"][body["key"]] = body["value"]
        return {}

    def _runs_create(self, body: dict[str, Any]) -> dict[str, Any]:
        experiment_id = str(body.get("experiment_id"))
        if experiment_id not in self.experiments:
            raise MlflowError(404, "RESOURCE_DOES_NOT_EXIST", f"No Experiment with id={experiment_id}")
        run = Run(
            run_id=uuid.uuid4().hex,
            experiment_id=experiment_id,
            name=body.get("run_name") or "",
            start_time=int(body.get("start_time") or self._now()),
        )
        run.tags = {t["key"]: t["value"] for t in body.get("tags", [])}
        run.tags["mlflow.runName"] = run.name
        self.runs[run.run_id] = run
        return {"run": run.as_json()}

    def _runs_search(self, body: dict[str, Any]) -> dict[str, Any]:
        match = _FILTER.match(body.get("filter", "").strip())
        if match is None:
            raise MlflowError(
                400, "INVALID_PARAMETER_VALUE", f"the fake parses no filter {body.get('filter')!r}"
            )
        ids = {str(i) for i in body.get("experiment_ids", [])}
        found = [
            r
            for r in self.active_runs()
            if r.experiment_id in ids and r.tags.get(match["key"]) == match["value"]
        ]
        found.sort(key=lambda r: (-r.start_time, r.run_id))  # MLflow's default order: newest first
        return {"runs": [r.as_json() for r in found]}

    def _run(self, body: dict[str, Any]) -> Run:
        run = self.runs.get(body.get("run_id") or body.get("run_uuid") or "")
        if run is None:
            raise MlflowError(404, "RESOURCE_DOES_NOT_EXIST", f"Run '{body.get('run_id')}' not found")
        return run

    def _active(self, body: dict[str, Any]) -> Run:
        run = self._run(body)
        if run.lifecycle_stage != "active":
            raise MlflowError(
                400,
                "INVALID_PARAMETER_VALUE",
                f"The run {run.run_id} must be in the 'active' state. Current state is deleted.",
            )
        return run

    def _runs_update(self, body: dict[str, Any]) -> dict[str, Any]:
        run = self._active(body)
        run.status = body.get("status", run.status)
        if body.get("end_time") is not None:
            run.end_time = int(body["end_time"])
        if body.get("run_name"):
            run.name = body["run_name"]
            run.tags["mlflow.runName"] = run.name
        return {"run_info": run.as_json()["info"]}

    def _runs_delete(self, body: dict[str, Any]) -> dict[str, Any]:
        self._run(body).lifecycle_stage = "deleted"
        return {}

    def _runs_log_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        run = self._active(body)
        params, tags, metrics = body.get("params", []), body.get("tags", []), body.get("metrics", [])
        if len(metrics) > 1000 or len(params) > 100 or len(tags) > 100 or len(params + tags + metrics) > 1000:
            raise MlflowError(
                400, "INVALID_PARAMETER_VALUE", "A batch logging request can contain at most ..."
            )
        for param in params:
            old = run.params.get(param["key"])
            if old is not None and old != param["value"]:
                raise MlflowError(
                    400,
                    "INVALID_PARAMETER_VALUE",
                    f"Changing param values is not allowed. Param with key='{param['key']}' was already logged "
                    f"with value='{old}' for run ID='{run.run_id}'. Attempted logging new value "
                    f"'{param['value']}'.",
                )
        for param in params:
            run.params[param["key"]] = param["value"]
        for tag in tags:
            run.tags[tag["key"]] = tag["value"]
        for metric in metrics:
            run.points.add(
                (metric["key"], int(metric.get("step", 0)), int(metric["timestamp"]), float(metric["value"]))
            )
        return {}


def _experiment_json(experiment: dict[str, Any]) -> dict[str, Any]:
    return {
        **{k: v for k, v in experiment.items() if k != "tags"},
        "tags": [{"key": k, "value": v} for k, v in sorted(experiment["tags"].items())],
    }
