"""The gaps the fault sweep found, one test each: a repeat of an event finishes what an interrupted attempt began
after its write (the alert, the deployment), a replay never publishes a second alert for one outcome, and a
person's approval that races retune's own decision is not lost. Plus the two cases issue 9 names: a crash between
the registry write and the champion write, and a lost terminal event.
"""

from __future__ import annotations

import pytest
from retune.use_cases.by_hand import package_state_changed
from retune.use_cases.decide import evaluation_ended

from tests.reliability.harness import Crash, FaultPlan, Harness, champion_is_whole, effects
from tests.reliability.scenarios import PERSON, run
from tests.reliability.sweep import reference

pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def first_call(scenario: str, caller: str, label: str, function: str | None = None) -> int:
    """The index of the first call `caller` makes to `label` in the scenario's fault-free run."""
    for call in reference(scenario).calls:
        if call.caller == caller and call.label == label and function in (None, call.function):
            return call.index
    raise AssertionError(f"{scenario} never calls {label} from {caller}")


def crashed_then_retried(scenario: str, caller: str, label: str, kind: str = "crash") -> Harness:
    plan = FaultPlan(kind, at=first_call(scenario, caller, label))
    h = run(scenario, Harness(plan))
    assert plan.fired == 1
    (failed,) = [d for d in h.deliveries if d.errors]
    assert failed.result is not None, "Lambda's retry should have finished the event"
    return h


def alerts_of(h: Harness) -> list[str]:
    return sorted(a.key for a in h.world.alerts.published)


def test_replays_failed_drop_alert_survives_a_crash_after_its_write() -> None:
    h = crashed_then_retried("failures", "_fail", "table.write")
    assert "market-xgb/drop/2014-12-01/v4/failed" in alerts_of(h)


def test_replays_failed_round_alert_survives_a_crash_after_its_write() -> None:
    h = crashed_then_retried("failures", "finish_round", "table.write")
    assert "market-xgb/round/1/failed" in alerts_of(h)


def test_replays_over_budget_alert_survives_a_crash_after_the_close() -> None:
    plan = FaultPlan("crash", at=first_call("loop", "_close", "table.write"))  # close_round's close
    h = run("loop", Harness(plan))
    assert plan.fired == 1
    assert "market-xgb/round/2/over-budget" in alerts_of(h)


def test_replays_failed_evaluation_is_alerted_once_however_often_its_event_comes() -> None:
    h = run("failures", Harness())
    round_2 = [key for key in alerts_of(h) if key.startswith("market-xgb/round/2/")]
    assert round_2 == ["market-xgb/round/2/failed"]


def test_replays_manual_approval_deploys_and_alerts_after_a_crash_after_the_champion_write() -> None:
    h = crashed_then_retried("manual", "_set_champion_by_hand", "table.write")
    assert h.world.sagemaker.calls.count("CreateEndpoint") == 1
    assert any(key.endswith("/approved") for key in alerts_of(h))
    assert effects(h) == reference("manual").effects


def test_replays_retunes_own_approval_echo_is_not_taken_for_a_person() -> None:
    h = run("loop", Harness())
    (arn, *_) = h.world.sagemaker.packages
    again = package_state_changed(arn, "Approved", "retune's role", h.world.promote_deps)
    assert again.status == "duplicate"
    assert not any(key.endswith("/approved") for key in alerts_of(h))


def test_replays_a_persons_approval_racing_retunes_decision_is_retried_not_lost() -> None:
    """retune registered the package for manual approval and its decision write failed; a person approves before
    the retry. The approval is retried (not ignored), and once the decision is in, it makes the champion."""
    step = next(c.step for c in reference("manual").calls if c.caller == "evaluation_ended")
    plan = FaultPlan("throttled", outage=(step, "table.write"))  # the evaluation's event: every attempt fails
    h = run("manual", Harness(plan))
    raced = [d for d in h.deliveries if d.event["detail-type"] == "SageMaker Model Package State Change"]
    assert "by hand while round 1 is still evaluating" in str(raced[0].errors[0])
    champion = h.world.store.get_champion("market-xgb")
    assert champion is not None and champion.history[-1].decided_by == PERSON
    assert champion_is_whole(h) == []


def test_replays_deployment_failed_alert_survives_a_crash_after_its_write() -> None:
    h = crashed_then_retried("manual", "_settle", "table.write")
    assert "market-xgb/round/1/deploy-failed/market-xgb" in alerts_of(h)


def test_replays_busy_endpoint_holds_back_neither_the_alert_nor_the_next_round() -> None:
    """Round 2's decision is finished while the endpoint is busy with another deployment: the decision's alert
    goes out, its deployment waits as Pending (no retry, nothing parked), and Reconcile deploys it once the
    endpoint is free, then settles it from DescribeEndpoint when the endpoint's event never comes."""
    h = Harness()
    run("loop", h)  # a fault-free run ends with the endpoint on round 2's config
    w = h.world
    endpoint = w.sagemaker.endpoints["market-xgb"]
    endpoint.update(EndpointStatus="Updating", EndpointConfigName="another-config")
    rnd = w.store.get_round("market-xgb", 2)
    assert rnd is not None and rnd.deployment is not None
    pending = {**rnd.deployment, "status": "Pending"}
    del pending["reason"]
    w.store.save_round(rnd.model_copy(update={"deployment": pending}), expected_status="decided")
    w.alerts.published.clear()
    updates = w.sagemaker.calls.count("UpdateEndpoint")

    assert evaluation_ended("rt-market-xgb-0002-eval", w.promote_deps).status == "duplicate"
    assert alerts_of(h) == ["market-xgb/round/2/decision"]
    assert [r.seq for r in w.store.deploying_rounds()] == [2]
    assert w.sagemaker.calls.count("UpdateEndpoint") == updates

    h.reconcile()  # still busy: nothing moves
    assert w.store.get_round("market-xgb", 2).deployment["status"] == "Pending"  # type: ignore[union-attr]
    endpoint["EndpointStatus"] = "InService"
    h.reconcile()  # free: deployed
    assert w.sagemaker.calls.count("UpdateEndpoint") == updates + 1
    assert endpoint["EndpointConfigName"] == "rt-market-xgb-0002-config"
    assert w.store.get_round("market-xgb", 2).deployment["status"] == "Updating"  # type: ignore[union-attr]
    endpoint["EndpointStatus"] = "InService"
    h.reconcile()  # its event lost: settled from the endpoint's description
    assert w.store.get_round("market-xgb", 2).deployment["status"] == "InService"  # type: ignore[union-attr]
    assert w.store.deploying_rounds() == []
    assert alerts_of(h) == ["market-xgb/round/2/decision"]


def test_replays_crash_between_registry_and_champion_write_completes_with_the_same_package() -> None:
    plan = FaultPlan("crash", at=first_call("loop", "_register", "sagemaker.create_model_package"))
    h = run("loop", Harness(plan))
    assert plan.fired == 1
    (crashed,) = [d for d in h.deliveries if d.errors]
    assert isinstance(crashed.errors[0], Crash) and crashed.result is not None
    assert crashed.result["status"] == "approved"
    assert champion_is_whole(h) == []
    assert len(h.world.sagemaker.packages) == 2  # one per round: the retry met the ClientToken's package
    champion = h.world.store.get_champion("market-xgb")
    assert champion is not None
    assert [c.model_package_arn for c in champion.history] == list(h.world.sagemaker.packages)
    assert effects(h) == reference("loop").effects


def test_replays_lost_terminal_events_are_closed_and_decided_by_reconcile() -> None:
    h = run("lost", Harness())
    rnd = h.world.store.get_round("market-xgb", 1)
    assert rnd is not None and rnd.status == "decided" and rnd.decision is not None
    assert rnd.decision.outcome == "approved"
    assert len(h.world.store.trials("market-xgb", 1)) == 3  # every trial backfilled
    assert [d.function for d in h.deliveries] == ["start_round"] + ["reconcile"] * 6
    assert alerts_of(h) == ["market-xgb/round/1/decision"]


def test_replays_stalled_round_alert_survives_a_crash_after_its_flag() -> None:
    h = crashed_then_retried("queue", "_stall_check", "table.write")
    assert "market-xgb/round/1/stalled" in alerts_of(h)
    assert h.world.alerts.outcomes().count("round_stalled") == 1
