"""Hostile input for the handlers: AWS's real event samples (events/), the example profiles and a drop's manifest,
mutated by Hypothesis (fields missing, wrong types, huge strings, unicode, every timestamp form SageMaker uses, Tags
as a map, a list or garbage, another event's detail-type), and the checks each outcome must pass."""

from __future__ import annotations

import copy
import itertools
import json
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st
from retune.errors import RetuneError

from tests.conftest import BUCKET, ROOT, World
from tests.reliability.harness import Harness, LambdaContext

EVENTS = ROOT / "events"
SAMPLES: dict[str, dict[str, Any]] = {}
for _path in sorted(EVENTS.glob("*/*.json")):
    _event = json.loads(_path.read_text())
    if "Records" in _event:
        continue  # Track's stream batches: the EventBridge-triggered handlers below are the targets here
    if _event.get("source") == "aws.s3":
        _event["detail"]["bucket"]["name"] = BUCKET  # the samples name a deployed bucket; the world's is this
        _event["resources"] = [f"arn:aws:s3:::{BUCKET}"]
    elif _event.get("source") == "retune":
        _event["detail"]["bucket"] = BUCKET
    SAMPLES[f"{_path.parent.name}/{_path.name}"] = _event
FUNCTIONS = tuple(Harness.HANDLERS)
PROFILES = {p.stem: json.loads(p.read_text()) for p in sorted((ROOT / "profiles").glob("*.json"))}
MANIFEST = {
    "channels": {
        "train": {"files": ["train.csv"], "content_type": "text/csv"},
        "validation": {"files": ["validation.csv"], "content_type": "text/csv"},
        "test": {"files": ["test.csv"], "content_type": "text/csv"},
    }
}

# Every result status a handler may return, by what it means: done, or a classified refusal.
DONE = {
    "started",
    "queued",
    "superseded",
    "duplicate",
    "already_started",
    "waiting_for_capacity",
    "recorded",
    "evaluating",
    "running",
    "approved",
    "rejected",
    "pending_manual",
    "not_evaluated",
    "champion_set",
}
REFUSED = {"rejected", "ignored", "failed"}

# ---------------------------------------------------------------- values

HUGE = "x" * 300_000
timestamps = st.one_of(
    st.integers(0, 4_102_444_800_000),  # epoch milliseconds, as SageMaker's events carry them
    st.integers(0, 4_102_444_800_000).map(str),
    st.floats(0, 4.1e12, allow_nan=False).map(lambda v: round(v, 1)),
    st.integers(0, 4_102_444_800).map(str),  # epoch seconds
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes().map(lambda d: d.isoformat() + "Z"),
    st.datetimes().map(lambda d: d.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"),
    st.sampled_from(["", "yesterday", "-1", "NaN", "1e400", "2026-13-45T99:99:99Z", "\u0661\u0662"]),
    st.integers(-(2**70), 2**70),
)
tags = st.one_of(
    st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=4),
    st.lists(st.fixed_dictionaries({"Key": st.text(max_size=20), "Value": st.text(max_size=20)}), max_size=4),
    st.lists(
        st.one_of(st.none(), st.integers(), st.text(max_size=5), st.fixed_dictionaries({"Value": st.text()}))
    ),
    st.text(max_size=10),
    st.integers(),
)
names = st.one_of(
    st.text(min_size=0, max_size=80),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40),
    st.sampled_from(
        [
            "rt-market-xgb-0001",
            "rt-market-xgb-0001-eval",
            "rt-market-xgb-0001-001-0a0b0c0d",
            "rt-market-xgb-9999-001-0a0b0c0d",
            "rt-other-0001",
            "someone-elses-job",
            "rt-",
            "RT-MARKET-XGB-0001",
            "rt-market-xgb-0001\x00",
            HUGE[:200],
        ]
    ),
)
keys = st.one_of(
    st.sampled_from(
        [
            "datasets/market-xgb/2015-01-01/manifest.json",
            "datasets/market-xgb/2015+01+01/manifest.json",
            "datasets/market-xgb/caf%C3%A9/manifest.json",
            "datasets/market-xgb/a/b/manifest.json",
            "datasets/Market_XGB/2015-01-01/manifest.json",
            "datasets/market-xgb/../manifest.json",
            "datasets/market-xgb//manifest.json",
            "datasets/market-xgb/2015-01-01/train.csv",
            "profiles/market-xgb.json",
            "/datasets/market-xgb/2015-01-01/manifest.json",
            "datasets/market-xgb/%00/manifest.json",
        ]
    ),
    st.text(max_size=60).map(lambda s: f"datasets/market-xgb/{s}/manifest.json"),
    st.text(max_size=1100),
)
junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**64), 2**64),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
    st.just(HUGE),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)


def _value_for(key: str) -> st.SearchStrategy[Any]:
    """A replacement fitting the field's kind, half the time; else anything."""
    lowered = key.lower()
    fitting: st.SearchStrategy[Any] | None = None
    if "time" in lowered:
        fitting = timestamps
    elif key == "Tags":
        fitting = tags
    elif key.endswith("Name") or key in ("drop_id", "profile"):
        fitting = names
    elif key == "key":
        fitting = keys
    elif key.endswith("Status"):
        fitting = st.sampled_from(
            [
                "Completed",
                "Failed",
                "Stopped",
                "InProgress",
                "Stopping",
                "Approved",
                "IN_SERVICE",
                "FAILED",
                "",
                "?",
            ]
        )
    elif key in ("detail-type",):
        fitting = st.sampled_from(
            [
                "Object Created",
                "Drop Ready",
                "SageMaker Training Job State Change",
                "SageMaker HyperParameter Tuning Job State Change",
                "SageMaker Model Package State Change",
                "SageMaker Endpoint State Change",
                "Scheduled Event",
                "Object Deleted",
            ]
        )
    elif key == "source":
        fitting = st.sampled_from(["aws.s3", "aws.sagemaker", "retune", "aws.events", "evil"])
    return junk if fitting is None else st.one_of(fitting, junk)


def paths(document: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every key path and list index in a JSON document."""
    if isinstance(document, dict):
        for key, value in document.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(document, list):
        for index, value in enumerate(document):
            yield (*prefix, index)
            yield from paths(value, (*prefix, index))


def _parent(document: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        document = document[part]
    return document


@st.composite
def mutated(draw: st.DrawFn, original: Any, most: int = 4) -> Any:
    """The document with 0 to `most` mutations: a field deleted, replaced, stringified, wrapped in a list, or a
    field added; each at a path drawn from the document as it stands."""
    document = copy.deepcopy(original)
    for _ in range(draw(st.integers(0, most))):
        found = list(paths(document))
        if not found:
            return draw(junk)
        path = draw(st.sampled_from(found))
        parent = _parent(document, path)
        last = path[-1]
        action = draw(st.sampled_from(["delete", "replace", "replace", "stringify", "wrap", "add"]))
        if action == "delete":
            del parent[last]
        elif action == "replace":
            parent[last] = draw(_value_for(str(last)))
        elif action == "stringify":
            parent[last] = json.dumps(parent[last]) if draw(st.booleans()) else str(parent[last])
        elif action == "wrap":
            parent[last] = [parent[last]]
        elif isinstance(parent, dict):
            parent[draw(st.text(max_size=12))] = draw(junk)
    return document


@st.composite
def hostile_events(draw: st.DrawFn) -> tuple[str, str, Any]:
    """(sample, function, event): a mutated sample, delivered to its own function or (one time in four) to another."""
    sample = draw(st.sampled_from(sorted(SAMPLES)))
    own = sample.split("/")[0]
    function = own if draw(st.integers(0, 3)) else draw(st.sampled_from(FUNCTIONS))
    event = draw(mutated(SAMPLES[sample]))
    if draw(st.integers(0, 19)) == 0:
        event = draw(junk)  # not even an object
    return sample, function, event


def profile_bytes(document: Any) -> bytes:
    return json.dumps(document).encode() if not isinstance(document, bytes) else document


# ---------------------------------------------------------------- the world the events land in


def base_world() -> World:
    """A world with a profile, a running round 1 (its trials done), so the samples' names mean something."""
    from retune.events import parse_drop_event  # noqa: PLC0415
    from retune.use_cases.start_round import start_round  # noqa: PLC0415

    world = World()
    world.put_profile()
    assert start_round(parse_drop_event(world.drop("2015-01-01")), world.deps).status == "started"
    world.sagemaker.run_trials("rt-market-xgb-0001", [{"objective": 0.5}, {"objective": 0.4}])
    return world


def clone(base: World) -> World:
    """A fresh world holding a copy of `base`'s state (a World cannot be deep-copied: its table has a lock)."""
    world = World()
    world.clock.now = base.clock.now
    world.table.items = copy.deepcopy(base.table.items)
    world.bucket.objects = copy.deepcopy(base.bucket.objects)
    world.bucket._ids = itertools.count(1000)  # new versions after the copied ones
    for name in ("tuning_jobs", "training_jobs", "trials", "requests"):
        setattr(world.sagemaker, name, copy.deepcopy(getattr(base.sagemaker, name)))
    world.series.values = dict(base.series.values)
    return world


def deliver(world: World, function: str, event: Any) -> tuple[dict[str, Any] | None, BaseException | None]:
    handler = Harness.HANDLERS[function]
    deps = {
        "start_round": world.deps,
        "record_trial": world.record_deps,
        "close_round": world.close_deps,
        "promote": world.promote_deps,
        "reconcile": world.reconcile_deps,
    }[function]
    try:
        return handler(copy.deepcopy(event), LambdaContext(), deps), None
    except RetuneError as exc:  # classified: a transient one is retried by Lambda, a permanent one is parked
        return None, exc


def names_a_field(error: Any) -> bool:
    """An error names what is wrong: `field: problem`, or the event's source and detail-type."""
    return isinstance(error, str) and (":" in error or "detail-type" in error)


def check_outcome(result: dict[str, Any] | None, error: BaseException | None) -> str:
    """What the outcome was; fails unless it is a success or a classified refusal that names the problem."""
    if error is not None:
        assert str(error), f"{type(error).__name__} without a message"
        return f"raised {type(error).__name__}"
    assert isinstance(result, dict), result
    if "actions" in result:  # Reconcile's report
        return "reconciled"
    status = result.get("status")
    assert status in DONE | REFUSED, result
    if status == "rejected" or (status == "failed" and "errors" in result):
        errors = result["errors"]
        assert errors and all(names_a_field(e) for e in errors), result
    elif status in REFUSED:
        assert result.get("detail"), result
    return str(status)
