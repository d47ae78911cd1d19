"""Replay the recorded events on the same local stack (issue 9, section 1): retune's DynamoDB state is emptied
between schedules while the local SageMaker and S3 stay as the recorded run left them; events go through the
router, so the template's rules, the warm workers and Lambda's retries and on-failure queue are in the path."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from retune.alerts import Alert
from retune_local.stack import LocalStack

from tests.replay.harness import schedule
from tests.replay.invariants import check, read_effects
from tests.replay.recording import PROFILE, Recording

pytestmark = [pytest.mark.local_stack, pytest.mark.slow]

STACK_SCHEDULES = 5
MAX_RECONCILES = 20


def empty_tables(stack: LocalStack) -> None:
    dynamodb = stack.client("dynamodb")
    for logical_id in ("StateTable", "IdempotencyTable"):
        table = stack.resource(logical_id)
        keys = [k["AttributeName"] for k in dynamodb.describe_table(TableName=table)["Table"]["KeySchema"]]
        for page in dynamodb.get_paginator("scan").paginate(TableName=table):
            for item in page["Items"]:
                dynamodb.delete_item(TableName=table, Key={k: item[k] for k in keys})


def snapshot(stack: LocalStack) -> list[str]:
    dynamodb = stack.client("dynamodb")
    pages = dynamodb.get_paginator("scan").paginate(TableName=stack.resource("StateTable"))
    return sorted(json.dumps(i, sort_keys=True) for page in pages for i in page["Items"])


def settle(stack: LocalStack) -> int:
    """Fire the schedule until retune's state stops changing; returns how many times it fired."""
    assert stack.router is not None
    before: list[str] | None = None
    for fired in range(1, MAX_RECONCILES + 1):
        stack.router.fire_schedule("ReconcileFunction")
        assert stack.wait_until(stack.router.idle, timeout=120)
        after = snapshot(stack)
        if after == before:
            return fired
        before = after
    return MAX_RECONCILES


def published(stack: LocalStack) -> list[Alert]:
    """The alerts SNS delivered, keyed by round and outcome (SNS carries the outcome as a message attribute)."""
    out = []
    for message in stack.alerts():
        subject = message.get("Subject", "")
        outcome = message.get("MessageAttributes", {}).get("outcome", {}).get("Value", "")
        match = re.search(r" round (\d+):", subject)
        if outcome in ("round_stalled", "parked_events"):
            continue
        key = f"{PROFILE}/round/{match.group(1)}/{outcome}" if match else f"{PROFILE}/other/{outcome}"
        out.append(Alert(key=key, profile=PROFILE, outcome=outcome, subject=subject))
    return out


def test_replay_on_the_local_stack_ends_as_the_in_order_run(
    recorded_stack: tuple[LocalStack, Recording],
) -> None:
    stack, recording = recorded_stack
    assert stack.router is not None
    for seed in range(1, STACK_SCHEDULES + 1):
        empty_tables(stack)
        stack.alerts()
        stack.on_failure_records.clear()
        for phase in schedule(recording, seed):
            for delivery in phase:
                event: dict[str, Any] = delivery["event"]
                stack.router.route(event)
            assert stack.wait_until(stack.router.idle, timeout=300)
            settle(stack)
        effects = read_effects(stack.state(), PROFILE, published(stack), [])
        try:
            check(effects, recording)
        except AssertionError as exc:
            alerts = [(a.key, a.subject) for a in effects.alerts]
            raise AssertionError(
                f"schedule {seed}: {exc}; alerts: {alerts}; parked: {stack.on_failure_records}"
            ) from exc
