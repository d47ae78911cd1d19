"""Faults at every AWS call site of every use case: each effect happens exactly once, or the event is parked
(Lambda's retries exhausted) with the state consistent, and Reconcile plus a redrive of the parked events finish
the job. The champion is never half-promoted.

The sweep takes each scenario's fault-free run as the reference: every call it makes to a port (the state table,
the bucket, SageMaker, the topic, the bus, CloudWatch, SQS) is a fault site. A one-shot fault fails that one call
with each kind AWS can give there; an outage fails every call of that port method while one event is retried.
The fast subset (one kind per use-case call site) runs in `make test`; the whole sweep is marked slow and runs in
`make test-reliability`. `python -m tests.reliability.report` prints the counts (docs/reliability.md).
"""

from __future__ import annotations

from typing import Any

import pytest
from retune.use_cases.start_round import LAUNCH_RETRY_SECONDS

from tests.reliability.harness import Call, FaultPlan, Harness, champion_is_whole, effects
from tests.reliability.scenarios import PROFILE, run
from tests.reliability.sweep import fast_cases, one_shot_cases, outage_cases, reference

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")

# Alerts a fault may add on top of the reference run's: SageMaker's limit met (the drop waits for capacity) and
# events parked on an on-failure queue. Every other alert must be the reference's, each once.
FAULT_ALERTS = ("/limit/", "parked/")


def settled(h: Harness) -> dict[str, Any]:
    got = effects(h)
    got["alerts"] = [key for key in got["alerts"] if not any(mark in key for mark in FAULT_ALERTS)]
    return got


def check(scenario: str, plan: FaultPlan) -> Harness:
    h = run(scenario, Harness(plan))
    assert plan.fired, "the fault never fired: the run left the reference's path before reaching its site"
    assert h.unclassified_errors() == []
    assert champion_is_whole(h) == []
    assert h.parked == [], "still parked after the redrive"
    assert settled(h) == reference(scenario).effects
    return h


def test_faults_reference_runs_are_clean() -> None:
    for scenario in ("loop", "manual", "failures", "lost", "incumbents", "lost_incumbents", "stop"):
        ref = reference(scenario)
        assert ref.parked == 0 and ref.unclassified == []
        assert ref.champion_problems == []


@pytest.mark.parametrize(("scenario", "index", "kind"), fast_cases())
def test_faults_one_kind_per_call_site(scenario: str, index: int, kind: str) -> None:
    check(scenario, FaultPlan(kind, at=index))


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "index", "kind"), one_shot_cases())
def test_faults_every_kind_at_every_call(scenario: str, index: int, kind: str) -> None:
    check(scenario, FaultPlan(kind, at=index))


@pytest.mark.slow
@pytest.mark.parametrize(("scenario", "step", "label", "kind"), outage_cases())
def test_faults_outage_while_an_event_is_retried(scenario: str, step: int, label: str, kind: str) -> None:
    check(scenario, FaultPlan(kind, outage=(step, label)))


# A launch SageMaker refuses, or keeps throttling past LAUNCH_RETRY_SECONDS: not the reference's outcome, by design.


class EveryLaunch(FaultPlan):
    """The fault at every CreateHyperParameterTuningJob, whatever the step (a refusal, or an outage that lasts)."""

    def hits(self, call: Call) -> bool:
        return call.label == "sagemaker.create_tuning_job"


def launch_outcome(h: Harness, drop_id: str) -> tuple[str, list[str]]:
    with h.instrument.quiet():
        drop = h.world.store.get_drop(PROFILE, drop_id)
        assert drop is not None
        return drop.state, h.world.alerts.outcomes()


def test_faults_refused_launch_fails_the_drop_once_and_frees_the_profile() -> None:
    h = Harness(EveryLaunch("refused", any_kind=True))
    h.world.put_profile()
    first = h.world.drop("2015-01-01")
    assert (
        h.deliver("start_round", first).result["status"] == "failed"
    )  # at once: no Lambda retry, nothing parked
    h.deliver("start_round", first)  # S3 delivers at least once
    h.reconcile()
    assert launch_outcome(h, "2015-01-01") == ("failed", ["launch_failed"])
    assert h.parked == [] and h.unclassified_errors() == []
    with h.instrument.quiet():
        assert h.world.store.get_active(PROFILE) is None
    h.instrument.plan = None  # the role is fixed
    assert h.deliver("start_round", h.world.drop("2015-07-01")).result["status"] == "started"


def test_faults_launch_throttled_past_its_retry_time_fails_the_drop_and_frees_the_profile() -> None:
    h = Harness(EveryLaunch("throttled"))
    h.world.put_profile()
    first = h.world.drop("2015-01-01")
    assert h.deliver("start_round", first).parked  # Lambda's retries spent
    h.reconcile()  # Reconcile retries the starting round, throttled again: within its retry time
    assert launch_outcome(h, "2015-01-01") == ("started", ["parked_events"])
    h.world.clock.advance(LAUNCH_RETRY_SECONDS + 1)
    h.reconcile()  # (and, the next hour, reminds of the parked event)
    alerted = ["parked_events", "launch_failed", "parked_events"]
    assert launch_outcome(h, "2015-01-01") == ("failed", alerted)
    h.redrive()  # the operator sends the parked event again: nothing new
    assert launch_outcome(h, "2015-01-01") == ("failed", alerted)
    assert h.unclassified_errors() == []
    h.instrument.plan = None
    assert h.deliver("start_round", h.world.drop("2015-07-01")).result["status"] == "started"
