"""Issue 10: each alert's text, outcome by outcome, as the person on call reads it from the message alone.

The records come from driving the use cases on the fakes (tests/conftest.py), so each alert reads what a real
round leaves in the store; the builders are called directly where the key, a region or a name's length is the
point. Each test pins the subject exactly, the key (one message per outcome: the same cause, the same key) and
the facts the body must carry.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from retune import alerts
from retune.errors import LimitExceeded, Refused
from retune.events import parse_drop_event
from retune.naming import PROFILE_NAME_MAX, evaluation_job_name
from retune.outcomes import ALL_OUTCOMES
from retune.records import RoundRecord
from retune.timeutil import utcnow
from retune.use_cases.by_hand import package_state_changed
from retune.use_cases.close_round import close_round
from retune.use_cases.decide import evaluation_ended
from retune.use_cases.deploy import endpoint_state_changed
from retune.use_cases.promote import PromoteResult
from retune.use_cases.reconcile import reconcile
from retune.use_cases.record_trial import record_trial
from retune.use_cases.start_round import start_round

from functions.start_round.handler import lambda_handler as start_round_handler
from tests.conftest import World, profile_doc
from tests.reliability.harness import LambdaContext

PROFILE = "market-xgb"
REGION = "us-east-1"  # the world's PromoteDeps.region
TUNING_1 = "rt-market-xgb-0001"
TUNING_2 = "rt-market-xgb-0002"
PACKAGE_1 = "arn:aws:sagemaker:us-east-1:123456789012:model-package/retune-market-xgb/1"
PACKAGE_2 = "arn:aws:sagemaker:us-east-1:123456789012:model-package/retune-market-xgb/2"
ALICE = "arn:aws:sts::123456789012:assumed-role/ml-lead/alice"
PARKED_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/retune-StartRoundOnFailureQueue"

# Round 1: two completed trials, one stopped early by AMT, one stopped by its time limit, one failed.
ROUND_1: list[dict[str, Any]] = [
    {"objective": 0.52, "compute": 100},
    {"objective": 0.48, "compute": 80},
    {"objective": 0.61, "status": "Stopped", "secondary": "Stopped", "compute": 20},
    {"objective": 0.66, "status": "Stopped", "secondary": "MaxRuntimeExceeded", "compute": 30},
    {"objective": None, "status": "Failed", "failure": "AlgorithmError: out of memory"},
]
ROUND_2: list[dict[str, Any]] = [{"objective": 0.50, "compute": 90}, {"objective": 0.46, "compute": 70}]


def console(region: str, fragment: str) -> str:
    return f"https://{region}.console.aws.amazon.com/sagemaker/home?region={region}#/{fragment}"


def start(world: World, drop_id: str = "2015-01-01", doc: dict[str, Any] | None = None) -> None:
    world.put_profile(doc)
    assert start_round(parse_drop_event(world.drop(drop_id)), world.deps).status == "started"


def run(
    world: World,
    tuning: str,
    results: list[dict[str, Any]],
    status: str = "Completed",
    failure: str | None = None,
) -> list[str]:
    names = world.sagemaker.run_trials(tuning, results, status=status, failure=failure)
    for name in names:
        world.series.values[(name, "validation:rmse")] = [0.7, 0.6, 0.55]
        assert record_trial(name, world.record_deps).status == "recorded"
    return names


def evaluate(
    world: World, seq: int, challenger: float | None, champion: float | None = None
) -> PromoteResult:
    assert close_round(f"rt-market-xgb-{seq:04d}", world.close_deps).status == "evaluating"
    name = evaluation_job_name(PROFILE, seq)
    world.sagemaker.end_evaluation(name, challenger, champion)
    return evaluation_ended(name, world.promote_deps)


def decide(world: World, scores: list[tuple[float, float | None]], approval: str = "auto") -> PromoteResult:
    """Run one round per (challenger, champion) pair, each on its own drop; return the last round's result."""
    doc = profile_doc()
    doc["promotion"]["approval"] = approval
    start(world, doc=doc)
    run(world, TUNING_1, ROUND_1)
    result = evaluate(world, 1, *scores[0])
    if len(scores) > 1:
        start(world, "2015-07-01", doc)
        run(world, TUNING_2, ROUND_2)
        result = evaluate(world, 2, *scores[1])
    return result


def assert_subject_fits_sns(alert: alerts.Alert) -> None:
    subject = alert.sns_subject
    assert len(subject) <= alerts.SUBJECT_MAX
    assert subject.isascii() and subject.isprintable() and "\n" not in subject


# decision: promoted, not promoted, awaiting approval


@pytest.mark.parametrize(
    ("approval", "scores", "outcome", "subject", "reason"),
    [
        pytest.param(
            "auto",
            [(0.4731, None)],
            "promoted",
            "[retune] market-xgb round 1: promoted (test validation:rmse 0.4731, no champion yet)",
            "first champion: the challenger scored 0.4731 and there is no champion to beat",
            id="promoted-first-champion",
        ),
        pytest.param(
            "auto",
            [(0.4731, None), (0.4712, 0.4731)],
            "promoted",
            "[retune] market-xgb round 2: promoted (test validation:rmse 0.4712 vs champion 0.4731)",
            "challenger 0.4712 vs champion 0.4731 on the same test data: +0.40% better, beyond the 0.20% margin",
            id="promoted-over-the-champion",
        ),
        pytest.param(
            "auto",
            [(0.4731, None), (0.4725, 0.4731)],
            "not_promoted",
            "[retune] market-xgb round 2: not promoted (test validation:rmse 0.4725 vs champion 0.4731)",
            "within the 0.20% margin",
            id="not-promoted-within-the-margin",
        ),
        pytest.param(
            "auto",
            [(0.4731, None), (0.4800, 0.4731)],
            "not_promoted",
            "[retune] market-xgb round 2: not promoted (test validation:rmse 0.4800 vs champion 0.4731)",
            "worse: the champion stays",
            id="not-promoted-worse",
        ),
        pytest.param(
            "manual",
            [(0.4731, None)],
            "pending_approval",
            "[retune] market-xgb round 1: awaiting approval (test validation:rmse 0.4731, no champion yet)",
            "the profile asks for manual approval",
            id="pending-approval",
        ),
    ],
)
def test_decision_alert_names_the_outcome_the_test_scores_and_the_reason(
    world: World,
    approval: str,
    scores: list[tuple[float, float | None]],
    outcome: str,
    subject: str,
    reason: str,
) -> None:
    result = decide(world, scores, approval)
    seq = len(scores)
    alert = world.alerts.published[-1]
    assert alert.outcome == outcome
    assert alert.subject == subject
    assert alert.sns_subject == subject  # short, ASCII, one line: SNS takes it as is
    assert_subject_fits_sns(alert)
    assert alert.key == f"market-xgb/round/{seq}/decision"
    verb = {"promoted": "promoted", "not_promoted": "not promoted", "pending_approval": "awaiting approval"}[
        outcome
    ]
    assert alert.lines[0] == f"Decision: {verb}. {result.detail}"
    assert reason in alert.lines[0]
    challenger, champion = scores[-1]
    champion_text = "n/a" if champion is None else f"{champion:.4f}"
    assert alert.lines[1] == (
        f"Evaluation (rt-market-xgb-{seq:04d}-eval, on the drop's held-out test data, validation:rmse): "
        f"challenger {challenger:.4f}, champion {champion_text}"
    )
    # the package the decision registered, approved, rejected or waiting: the on-call person looks it up
    assert f"Model package: {result.model_package_arn}" in alert.lines
    assert result.model_package_arn == (PACKAGE_1 if seq == 1 else PACKAGE_2)
    assert f"Tuning job: {console(REGION, f'hyper-tuning-jobs/rt-market-xgb-{seq:04d}')}" in alert.lines
    what_to_do = [line for line in alert.lines if line.startswith("What to do:")]
    if outcome == "pending_approval":
        assert what_to_do == [
            "What to do: review the package in the Model Registry and approve or reject it;"
        ]
        assert alert.lines[-1] == "an approval promotes it and deploys it to the profile's endpoint, if any."
    else:
        assert what_to_do == []  # nothing to do: retune decided


def test_decision_body_carries_the_round_its_trials_compute_and_the_plans_changes_with_reasons(
    world: World,
) -> None:
    decide(world, [(0.4731, None), (0.4712, 0.4731)])
    rnd = world.store.get_round(PROFILE, 2)
    alert = world.alerts.published[-1]
    body = alert.body
    assert alert.lines[2:8] == [
        "Profile: market-xgb",
        "Drop: 2015-07-01",
        "Round: 2 (tuning job rt-market-xgb-0002, Completed)",
        "Trials: 2 completed, 0 stopped early, 0 failed, 2 in all",
        "Best trial: rt-market-xgb-0002-002-00000002 (validation:rmse 0.4600 on validation)",
        "Compute: 160.0 (trainer's count); billable 120 s",
    ]
    assert (
        f"Plan: {rnd.plan.max_jobs.value} trials, {rnd.plan.max_parallel_jobs.value} in parallel, "
        "early stopping Auto"
    ) in alert.lines
    # the second round's plan learned from the first: every change is listed with its reason
    changes = rnd.plan.changes()
    assert {c.setting for c in changes} >= {"max_jobs", "warm_start_parents"}
    start = alert.lines.index("Plan changes for this round:")
    listed = alert.lines[start + 1 : start + 1 + len(changes)]
    assert [line.split(" (", 1)[0].split(":", 1)[0] for line in listed] == [
        f"  - {c.setting}" for c in changes
    ]
    assert all(line.endswith(f"({c.reason})") for line, c in zip(listed, changes, strict=True))
    assert f"  - max_jobs: 20 -> {rnd.plan.max_jobs.value} (fewer trials: " in body
    assert "  - warm_start_parents: [] -> ['rt-market-xgb-0001'] (warm start from round 1" in body
    assert f"Model package: {PACKAGE_2}\n" in body


def test_decision_body_counts_trials_stopped_early_apart_from_a_time_limit_and_failures(world: World) -> None:
    decide(world, [(0.4731, None)])
    alert = world.alerts.published[-1]
    # 5 trials: 2 completed, 1 stopped by early stopping, 1 by its time limit (not early), 1 failed
    assert (
        "Trials: 2 completed, 1 stopped early, 1 stopped by their time limit or by hand, 1 failed, 5 in all"
        in alert.lines
    )
    assert "Best trial: rt-market-xgb-0001-002-00000002 (validation:rmse 0.4800 on validation)" in alert.lines
    assert "Compute: 230.0 (trainer's count); billable 300 s" in alert.lines
    # 20 trials at the round's 60 s a trial would have billed 1200 s: the round's 300 s saved 900 s
    assert (
        "Saved against the profile's full budget (20 trials, about 1200 billable s): 900 s (75%)"
        in alert.lines
    )
    assert "Plan: 20 trials, 2 in parallel, early stopping Auto" in alert.lines
    assert "Plan changes for this round:" not in alert.lines  # the first plan is the profile's


def test_decision_key_is_the_round_whatever_the_region_or_a_replay(world: World) -> None:
    decide(world, [(0.4731, None)])
    rnd = world.store.get_round(PROFILE, 1)
    here, there, nowhere = (alerts.decision(rnd, r) for r in (REGION, "eu-west-1", None))
    assert here.key == there.key == nowhere.key == "market-xgb/round/1/decision"
    assert here == world.alerts.published[0]  # a replay builds the very same message
    assert f"Tuning job: {console('eu-west-1', 'hyper-tuning-jobs/rt-market-xgb-0001')}" in there.lines
    assert not any(line.startswith("Tuning job: ") for line in nowhere.lines)


# failures


def test_round_failed_tuning_job_gives_the_failure_reason_the_failed_trials_and_what_to_do(
    world: World,
) -> None:
    start(world)
    run(
        world,
        TUNING_1,
        [
            {"objective": None, "status": "Failed", "failure": "AlgorithmError: boom"},
            {"objective": None, "status": "Failed", "failure": "AlgorithmError: boom"},
        ],
        status="Failed",
        failure="All training jobs failed",
    )
    assert close_round(TUNING_1, world.close_deps).status == "failed"
    (alert,) = world.alerts.published
    assert alert.outcome == "round_failed"
    assert alert.subject == "[retune] market-xgb round 1: failed (tuning job Failed)"
    assert_subject_fits_sns(alert)
    assert alert.key == "market-xgb/round/1/failed"
    assert alert.lines[0] == (
        "Round 1 of market-xgb ended without a model to promote: tuning job Failed: All training jobs failed; "
        "no completed trial with a model to evaluate"
    )
    assert "Round: 1 (tuning job rt-market-xgb-0001, Failed)" in alert.lines
    assert "Trials: 0 completed, 0 stopped early, 2 failed, 2 in all" in alert.lines
    assert "Best trial: none (validation:rmse n/a on validation)" in alert.lines
    assert alert.lines[-2:] == [
        "What to do: read the FailureReason above and the trials' logs in CloudWatch",
        "(/aws/sagemaker/TrainingJobs); fix the profile or the data and drop again.",
    ]
    # the same round's failure, whatever words its reason takes, is one message
    rnd = world.store.get_round(PROFILE, 1)
    again = alerts.round_failed(rnd, "another wording", REGION)
    assert again.key == alert.key
    assert f"Tuning job: {console(REGION, 'hyper-tuning-jobs/rt-market-xgb-0001')}" in again.lines


def test_round_failed_evaluation_gives_the_evaluations_failure_reason_and_no_package(world: World) -> None:
    start(world)
    run(world, TUNING_1, ROUND_2)
    assert close_round(TUNING_1, world.close_deps).status == "evaluating"
    name = evaluation_job_name(PROFILE, 1)
    world.sagemaker.end_evaluation(name, None, status="Failed", failure="ClientError: no test data")
    assert evaluation_ended(name, world.promote_deps).status == "not_evaluated"
    (alert,) = world.alerts.published
    assert alert.outcome == "round_failed"
    assert alert.subject == "[retune] market-xgb round 1: failed (evaluation Failed)"
    assert alert.key == "market-xgb/round/1/failed"
    assert alert.lines[0] == (
        "Round 1 of market-xgb ended without a model to promote: evaluation Failed: ClientError: no test data"
    )
    assert "Trials: 2 completed, 0 stopped early, 0 failed, 2 in all" in alert.lines
    assert f"Tuning job: {console(REGION, 'hyper-tuning-jobs/rt-market-xgb-0001')}" in alert.lines
    assert not any(line.startswith("Model package:") for line in alert.lines)
    assert alert.lines[-2].startswith("What to do: read the FailureReason above")


def test_round_failed_on_an_incomplete_evaluation_says_not_evaluated_and_why(world: World) -> None:
    """Issue 17, item 12: a champion, and no finite champion_score: no decision, and the alert says why."""
    result = decide(world, [(0.4731, None), (0.4712, math.nan)])
    assert result.status == "not_evaluated"
    alert = world.alerts.published[-1]
    assert alert.outcome == "round_failed"
    assert alert.subject == "[retune] market-xgb round 2: failed (not evaluated)"
    assert alert.key == "market-xgb/round/2/failed"
    assert alert.lines[0] == (
        f"Round 2 of market-xgb ended without a model to promote: the evaluation reported champion_score nan "
        f"(champion {PACKAGE_1}): no decision on an incomplete evaluation; the evaluation image prints a finite "
        "challenger_score and, with a champion channel, champion_score (docs/trainer-contract.md)"
    )
    assert not any(line.startswith("Model package:") for line in alert.lines)


def test_approval_refused_names_who_which_package_and_why(world: World) -> None:
    """Issue 17, item 1: a person's approval of a package retune did not register for the profile."""
    decide(world, [(0.4731, None)])
    forged = "arn:aws:sagemaker:us-east-1:123456789012:model-package/someone-elses-group/9"
    why = "retune did not register it for market-xgb (no round of market-xgb records it)"
    alert = alerts.approval_refused(PROFILE, forged, ALICE, why, REGION)
    assert alert.outcome == "approved_by_hand"
    assert alert.subject == "[retune] market-xgb: approval by hand refused (someone-elses-group/9)"
    assert_subject_fits_sns(alert)
    assert alert.key == f"market-xgb/champion/{forged}/refused"
    assert alert.lines == [
        f"{ALICE} approved {forged} for market-xgb; it was not made the champion: {why}.",
        f"Model package: {forged}",
        f"Model registry: {console(REGION, 'model-registry/someone-elses-group')}",
        "What to do: approve a package retune registered for this profile in its own model package group",
        "(`retune rounds market-xgb` lists each round's package); the champion is unchanged.",
    ]


def test_endpoint_not_owned_names_the_endpoint_why_and_what_to_do(world: World) -> None:
    """Issue 17, item 2: the profile names an endpoint retune did not create for it; nothing is deployed."""
    world.sagemaker.endpoint_by_hand("fraud-live", "fraud-config-7")
    doc = profile_doc()
    doc["promotion"]["endpoint"] = {"name": "fraud-live", "instance_type": "ml.m5.large"}
    start(world, doc=doc)
    run(world, TUNING_1, ROUND_2)
    assert evaluate(world, 1, 0.4731).status == "approved"
    alert = world.alerts.published[-1]
    assert alert.outcome == "deployment_failed"
    assert (
        alert.subject == "[retune] market-xgb round 1: not deployed, fraud-live is not the profile's endpoint"
    )
    assert_subject_fits_sns(alert)
    assert alert.key == "market-xgb/round/1/deploy-failed/fraud-live"
    assert alert.lines[:2] == [
        "Round 1's champion was not deployed: promotion.endpoint.name: endpoint fraud-live was not created by "
        "retune for market-xgb (it has no retune:profile tag, and no round of market-xgb deployed to it).",
        "retune updates only an endpoint it created for the profile (tagged retune:profile=market-xgb); it left "
        "fraud-live as it is.",
    ]
    assert f"Model package: {PACKAGE_1}" in alert.lines
    assert alert.lines[-3:] == [
        "What to do: name an endpoint of this profile's own in promotion.endpoint.name (retune creates it at",
        "the next promotion); or, if retune did create fraud-live for market-xgb, tag it "
        "retune:profile=market-xgb.",
        "The champion is unchanged; it is deployed at the next promoted round.",
    ]


def test_drop_failed_lists_every_validation_error_and_how_to_retry(world: World) -> None:
    world.put_profile()
    bad = {"channels": {"train": {"files": []}}, "extra": 1}
    result = start_round(parse_drop_event(world.drop("2015-01-01", manifest=bad)), world.deps)
    assert result.status == "failed" and len(result.errors) >= 2
    (alert,) = world.alerts.published
    drop = world.store.get_drop(PROFILE, "2015-01-01")
    assert alert.outcome == "drop_failed"
    assert (
        alert.subject
        == f"[retune] market-xgb drop 2015-01-01: failed validation ({len(result.errors)} error(s))"
    )
    assert_subject_fits_sns(alert)
    assert alert.key == f"market-xgb/drop/2015-01-01/{drop.version}/failed"
    assert alert.lines[0] == (
        "The drop 2015-01-01 of profile market-xgb was not started: its manifest or profile is invalid."
    )
    assert "Manifest: datasets/market-xgb/2015-01-01/manifest.json" in alert.lines
    errors = alert.lines[
        alert.lines.index("Errors:") + 1 : alert.lines.index("Errors:") + 1 + len(result.errors)
    ]
    assert errors == [f"  - {e}" for e in result.errors]
    assert any(e.startswith("  - manifest channels.train.files") for e in errors)
    assert any(e.startswith("  - manifest extra: unknown field") for e in errors)
    assert alert.lines[-2:] == [
        "What to do: fix the manifest (or profiles/<profile>.json) and upload the manifest again;",
        "a new upload of the manifest retries the drop.",
    ]
    # a new upload is a new cause (its own message); the same upload delivered again is not
    same = alerts.drop_failed(PROFILE, "2015-01-01", drop.version, drop.manifest_key, ["other"])
    newer = alerts.drop_failed(PROFILE, "2015-01-01", "v-next", drop.manifest_key, result.errors)
    assert same.key == alert.key and newer.key != alert.key


def test_drop_failed_on_a_bad_profile_names_the_profiles_fields(world: World) -> None:
    doc = profile_doc()
    doc["objective"]["type"] = "Smallest"
    world.put_profile(doc)
    result = start_round(parse_drop_event(world.drop("2015-01-01")), world.deps)
    assert result.status == "failed"
    (alert,) = world.alerts.published
    assert (
        alert.subject
        == f"[retune] market-xgb drop 2015-01-01: failed validation ({len(result.errors)} error(s))"
    )
    profile_errors = [line for line in alert.lines if line.startswith("  - profile objective.type")]
    assert len(profile_errors) == 1


def test_drop_refused_names_the_key_the_rule_and_where_a_drop_goes(world: World) -> None:
    event = world.drop("2015-01-01")
    key = "datasets/market-xgb/2015\x0701/manifest.json"
    event["detail"]["object"]["key"] = key
    assert start_round_handler(event, LambdaContext(), world.deps)["status"] == "rejected"
    (alert,) = world.alerts.published
    assert alert.outcome == "drop_refused"
    assert alert.profile == PROFILE
    assert alert.subject == "[retune] not a drop: datasets/market-xgb/2015\\x0701/manifest.json"
    assert_subject_fits_sns(alert)
    assert alert.key == f"refused/retune-data/{key}"  # one message per key
    assert alert.lines == [
        "retune cannot take s3://retune-data/datasets/market-xgb/2015\\x0701/manifest.json as a drop, and "
        "started nothing:",
        "drop id '2015\\x0701': use 1 to 128 printable characters",
        "",
        "What to do: upload the drop's files and then its manifest under datasets/<profile>/<drop>/, where",
        "<profile> names profiles/<profile>.json (lowercase letters, digits and '-', at most 48)",
        "and <drop> is 1 to 128 printable characters other than '.' and '..'.",
    ]
    # a profile folder that is no profile's name: the alert is about no profile
    bad = alerts.drop_refused("retune-data", "datasets/Market XGB/d/manifest.json", ["profile ..."])
    assert bad.profile == "*"


def test_launch_failed_quotes_sagemakers_refusal_and_how_to_retry(world: World) -> None:
    world.put_profile()
    event = world.drop("2015-01-01")
    refusal = (
        "sagemaker: AccessDeniedException: User: arn:aws:sts::123456789012:assumed-role/retune-StartRound/x "
        "is not authorized to perform: iam:PassRole on resource: arn:aws:iam::123456789012:role/retune-sagemaker"
    )
    world.sagemaker.fail_next.append(Refused(refusal))
    assert start_round(parse_drop_event(event), world.deps).status == "failed"
    (alert,) = world.alerts.published
    drop = world.store.get_drop(PROFILE, "2015-01-01")
    assert alert.outcome == "launch_failed"
    assert alert.subject == "[retune] market-xgb drop 2015-01-01: its round did not start"
    assert_subject_fits_sns(alert)
    # a version of a drop fails once, invalid or refused: drop_failed's key
    assert alert.key == f"market-xgb/drop/2015-01-01/{drop.version}/failed"
    assert alert.lines == [
        "The drop 2015-01-01 of profile market-xgb was valid, but its round did not start:",
        f"  - launch: SageMaker refused the tuning job rt-market-xgb-0001 of round 1: {refusal}",
        "Manifest: datasets/market-xgb/2015-01-01/manifest.json",
        "",
        "The drop is failed and the profile is free for its next drop.",
        "What to do: fix the cause above (the SageMaker execution role and who may pass it, the profile's",
        "training settings), then retry the drop: `retune retry <profile> <drop>` or upload its manifest again.",
    ]


def test_limit_exceeded_quotes_sagemaker_and_says_the_drop_waits(world: World) -> None:
    world.put_profile()
    event = world.drop("2015-01-01")
    world.sagemaker.fail_next.append(LimitExceeded("sagemaker: account limit of 100 tuning jobs"))
    assert start_round(parse_drop_event(event), world.deps).status == "waiting_for_capacity"
    (alert,) = world.alerts.published
    assert alert.outcome == "limit_exceeded"
    assert alert.subject == "[retune] market-xgb drop 2015-01-01: waiting for SageMaker capacity"
    assert_subject_fits_sns(alert)
    # keyed by the episode: the profile, and when its capacity first fell short
    assert alert.key == f"market-xgb/limit/{world.clock.now.isoformat()}"
    assert alert.lines[:2] == [
        "SageMaker refused round 1 of market-xgb (drop 2015-01-01) with ResourceLimitExceeded:",
        "  sagemaker: account limit of 100 tuning jobs",
    ]
    assert alert.lines[3:5] == [
        "The profile's newest drop stays queued; Reconcile retries it at its next run, then after 5, 10, 20",
        "and 40 minutes, then every hour. This is the one alert until a round of the profile starts again.",
    ]
    assert (
        alert.lines[-2]
        == "What to do: nothing, unless it persists: then raise the account's SageMaker limits"
    )
    # Reconcile's retries refused again, with another message or for a newer drop, are the same episode
    since = world.store.get_queued(PROFILE).capacity_since
    assert alerts.limit_exceeded(PROFILE, "2015-07-01", 1, "a later wording", since).key == alert.key


def test_over_budget_says_what_the_round_spent_against_the_budget_and_what_to_do(world: World) -> None:
    doc = profile_doc()
    doc["budget"]["compute_budget"] = 150
    start(world, doc=doc)
    run(world, TUNING_1, ROUND_1)
    assert close_round(TUNING_1, world.close_deps).status == "evaluating"
    (alert,) = world.alerts.published
    assert alert.outcome == "over_budget"
    assert alert.subject == "[retune] market-xgb round 1: over its compute budget (230 > 150 compute)"
    assert_subject_fits_sns(alert)
    assert alert.key == "market-xgb/round/1/over-budget"
    assert alert.lines[0] == (
        "Round 1 of market-xgb spent 230.0 (trainer's compute count); the profile's budget is 150.0."
    )
    assert (
        "Trials: 2 completed, 1 stopped early, 1 stopped by their time limit or by hand, 1 failed, 5 in all"
        in alert.lines
    )
    assert "Compute: 230.0 (trainer's count); billable 300 s" in alert.lines
    assert alert.lines[-1] == (
        "What to do: lower budget.max_jobs or the policy's ceilings, or raise budget.compute_budget."
    )
    # the round's decision is its own message, not swallowed by the budget's
    world.sagemaker.end_evaluation(evaluation_job_name(PROFILE, 1), 0.4731)
    evaluation_ended(evaluation_job_name(PROFILE, 1), world.promote_deps)
    assert world.alerts.outcomes() == ["over_budget", "promoted"]


def test_round_stalled_gives_the_quiet_time_the_per_trial_limit_and_what_to_do(world: World) -> None:
    start(world)
    world.sagemaker.tuning_jobs[TUNING_1]["HyperParameterTuningJobStatus"] = "InProgress"
    world.clock.advance(3 * 900 + 1)
    reconcile(world.reconcile_deps)
    (alert,) = world.alerts.published
    assert alert.outcome == "round_stalled"
    assert alert.subject == "[retune] market-xgb round 1: stalled (no trial event for 2701 s)"
    assert_subject_fits_sns(alert)
    assert alert.key == "market-xgb/round/1/stalled"
    assert alert.lines[:2] == [
        "No trial of round 1 (rt-market-xgb-0001) has changed state for 2701 s,",
        "several times its per-trial limit of 900 s.",
    ]
    assert "Round: 1 (tuning job rt-market-xgb-0001, running)" in alert.lines
    assert "Trials: 0 completed, 0 stopped early, 0 failed, 0 in all" in alert.lines
    assert alert.lines[-1] == (
        "What to do: look at the tuning job (link above); stop it with `retune stop market-xgb 1` if it hangs."
    )
    assert (
        "Tuning job: https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1"
        "#/hyper-tuning-jobs/rt-market-xgb-0001"
    ) in alert.lines
    # however long it has been quiet, a stalled round is one message
    rnd = world.store.get_round(PROFILE, 1)
    assert alerts.round_stalled(rnd, 9000.5).key == alert.key


def test_parked_events_name_the_queue_and_count_and_how_to_replay(world: World) -> None:
    world.reconcile_deps.parked_queue_urls = (PARKED_URL,)
    world.queues.depths[PARKED_URL] = 2
    reconcile(world.reconcile_deps)
    (alert,) = world.alerts.published
    assert alert.outcome == "parked_events"
    assert alert.profile == "*"  # about the service, not one profile
    # one message an hour per queue while events wait, whatever the count
    assert alert.key == f"parked/retune-StartRoundOnFailureQueue/{world.clock.now:%Y-%m-%dT%H}"
    assert_subject_fits_sns(alert)
    assert alert.lines[0] == (
        f"2 event(s) wait on {PARKED_URL}: an invocation failed after Lambda's retries,"
    )
    assert alert.lines[-2:] == [
        "What to do: read the messages (they hold the event and the error), fix the cause,",
        "then replay them with `retune redrive`.",
    ]
    reconcile(world.reconcile_deps)
    assert len(world.alerts.published) == 1  # the same two parked events: one message
    world.queues.depths[PARKED_URL] = 3
    world.clock.advance(300)
    reconcile(world.reconcile_deps)
    assert len(world.alerts.published) == 1  # within the hour: still one
    world.clock.advance(3600)
    reconcile(world.reconcile_deps)
    assert [a.subject for a in world.alerts.published][-1] == (
        "[retune] 3 event(s) parked on retune-StartRoundOnFailureQueue"
    )  # the next hour, still parked: reminded


def test_reconcile_failed_names_the_item_the_error_and_where_the_traceback_is(world: World) -> None:
    start(world)

    def broken(name: str) -> dict[str, Any]:
        raise RuntimeError(
            "An error occurred (AccessDeniedException) when calling DescribeHyperParameterTuningJob"
        )

    world.sagemaker.describe_tuning_job = broken  # type: ignore[method-assign]
    reconcile(world.reconcile_deps)
    (alert,) = world.alerts.published
    assert alert.outcome == "reconcile_failed"
    assert alert.profile == PROFILE
    assert alert.subject == "[retune] market-xgb round 1: Reconcile failed (RuntimeError)"
    assert_subject_fits_sns(alert)
    # one message a day per item and kind of error, however many runs and retries meet it
    assert alert.key == f"market-xgb/reconcile/round/1/RuntimeError/{world.clock.now:%Y-%m-%d}"
    assert alert.lines == [
        "Reconcile could not finish market-xgb round 1: RuntimeError: An error occurred (AccessDeniedException) "
        "when calling DescribeHyperParameterTuningJob",
        "The other profiles and queues were reconciled. This run ends failed (the Reconcile function's",
        "Errors alarm fires), and every run, every few minutes, tries this again.",
        'What to do: find "reconcile item failed" with this item in the Reconcile function\'s log group',
        "(/aws/lambda/<stack>-ReconcileFunction-...) for the traceback, and fix the cause; nothing needs",
        "replaying: the next run after the fix finishes it.",
    ]
    reconcile(world.reconcile_deps)
    world.clock.advance(3600)
    reconcile(world.reconcile_deps)
    assert len(world.alerts.published) == 1


def test_reconcile_failed_on_a_queue_is_the_services_and_cuts_a_long_error() -> None:
    error = ValueError("x" * 2000)
    alert = alerts.reconcile_failed("*", "queue retune-StartRoundOnFailureQueue", "queue/q", error, utcnow())
    assert alert.profile == "*"
    assert alert.subject == "[retune] queue retune-StartRoundOnFailureQueue: Reconcile failed (ValueError)"
    assert len(alert.lines[0]) < 600 and alert.lines[0].endswith("...")


def test_parked_events_on_a_queue_with_the_longest_name_sqs_allows_still_fit_sns() -> None:
    name = "retune-prod-StartRoundOnFailureQueue-" + "A" * (80 - 37)  # SQS names are at most 80 characters
    assert len(name) == 80
    alert = alerts.parked_events(f"https://sqs.eu-west-1.amazonaws.com/123456789012/{name}", 3, utcnow())
    assert alert.subject == f"[retune] 3 event(s) parked on {name}"
    assert len(alert.sns_subject) == alerts.SUBJECT_MAX
    assert alert.sns_subject == alert.subject[: alerts.SUBJECT_MAX - 3] + "..."
    assert_subject_fits_sns(alert)


def test_deployment_failed_names_the_endpoint_the_round_and_the_reason(world: World) -> None:
    doc = profile_doc()
    doc["promotion"]["endpoint"] = {"name": "market-xgb-live", "instance_type": "ml.m5.large"}
    start(world, doc=doc)
    run(world, TUNING_1, ROUND_2)
    assert evaluate(world, 1, 0.4731).status == "approved"
    reason = "The primary container for production variant AllTraffic did not pass the ping health check."
    assert (
        endpoint_state_changed("market-xgb-live", "Failed", reason, world.promote_deps).status == "recorded"
    )
    alert = world.alerts.published[-1]
    assert alert.outcome == "deployment_failed"
    assert alert.subject == "[retune] market-xgb round 1: deployment to market-xgb-live failed"
    assert_subject_fits_sns(alert)
    assert alert.key == "market-xgb/round/1/deploy-failed/market-xgb-live"
    assert alert.lines[0] == f"Endpoint market-xgb-live failed to take the champion of round 1: {reason}"
    assert "Round: 1 (tuning job rt-market-xgb-0001, Completed)" in alert.lines
    assert f"Model package: {PACKAGE_1}" in alert.lines
    assert (
        "Endpoint: https://us-east-1.console.aws.amazon.com/sagemaker/home?region=us-east-1#/endpoints/market-xgb-live"
        in alert.lines
    )
    assert alert.lines[-4].startswith("What to do: read the endpoint's FailureReason")
    assert "--endpoint-config-name rt-market-xgb-0001-config" in alert.body
    rnd = world.store.get_round(PROFILE, 1)
    assert alerts.deployment_failed(rnd, "market-xgb-live", "no reason given").key == alert.key


def test_approved_by_hand_names_who_approved_which_package_and_its_round(world: World) -> None:
    result = decide(world, [(0.4731, None)], approval="manual")
    assert result.model_package_arn == PACKAGE_1
    world.sagemaker.decide_by_hand(PACKAGE_1, "Approved")
    assert package_state_changed(PACKAGE_1, "Approved", ALICE, world.promote_deps).status == "champion_set"
    alert = world.alerts.published[-1]
    assert alert.outcome == "approved_by_hand"
    assert alert.subject == "[retune] market-xgb: champion set by hand (round 1)"
    assert_subject_fits_sns(alert)
    # Promote puts the champion's version in the key: each change by hand is its own message
    assert alert.key == f"market-xgb/champion/v1/{PACKAGE_1}/approved"
    assert alert.lines[0] == f"{ALICE} approved {PACKAGE_1}; it is now the champion of market-xgb."
    assert "Round: 1 (tuning job rt-market-xgb-0001, Completed)" in alert.lines
    assert (
        "Trials: 2 completed, 1 stopped early, 1 stopped by their time limit or by hand, 1 failed, 5 in all"
        in alert.lines
    )


def test_approved_by_hand_of_a_package_without_a_round_says_so() -> None:
    arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/retune-market-xgb/7"
    alert = alerts.approved_by_hand(None, PROFILE, arn, ALICE)
    assert alert.subject == "[retune] market-xgb: champion set by hand (an earlier package)"
    assert alert.key == f"market-xgb/champion/{arn}/approved"
    assert alert.lines == [
        f"{ALICE} approved {arn}; it is now the champion of market-xgb.",
        f"Model package: {arn}",
    ]


# every outcome, and subjects at the edges


def every_alert(rnd: RoundRecord) -> list[alerts.Alert]:
    assert rnd.decision is not None
    decisions = [
        alerts.decision(rnd.model_copy(update={"decision": rnd.decision.model_copy(update={"outcome": o})}))
        for o in ("approved", "rejected", "pending_manual")
    ]
    return [
        *decisions,
        alerts.approved_by_hand(rnd, rnd.profile, PACKAGE_1, ALICE),
        alerts.drop_failed(rnd.profile, rnd.drop_id, "v1", "datasets/x/manifest.json", ["bad"]),
        alerts.launch_failed(rnd.profile, rnd.drop_id, "v2", "datasets/x/manifest.json", ["refused"]),
        alerts.drop_refused("retune-data", "datasets/x/../manifest.json", ["drop id '..': ..."]),
        alerts.round_failed(rnd, "tuning job Failed"),
        alerts.round_stalled(rnd, 2701),
        alerts.limit_exceeded(rnd.profile, rnd.drop_id, rnd.seq, "limit", rnd.started_at),
        alerts.parked_events(PARKED_URL, 1, utcnow()),
        alerts.over_budget(rnd, 150.0),
        alerts.deployment_failed(rnd, "market-xgb-live", "capacity"),
        alerts.reconcile_failed(rnd.profile, f"{rnd.profile} round 1", "round/1", KeyError("x"), utcnow()),
    ]


def test_every_outcome_has_its_own_message_and_key(world: World) -> None:
    decide(world, [(0.4731, None)])
    built = every_alert(world.store.get_round(PROFILE, 1))
    assert sorted(a.outcome for a in built) == sorted(ALL_OUTCOMES)
    # a round is decided once: its three possible decisions share the round's key; every other outcome has its own
    # (a version of a drop fails once, invalid or refused by SageMaker: those two share the drop version's key,
    # shown here on two versions)
    decided, others = built[:3], built[3:]
    assert {a.key for a in decided} == {"market-xgb/round/1/decision"}
    assert len({a.key for a in others}) == len(others)
    assert "market-xgb/round/1/decision" not in {a.key for a in others}
    assert len({a.subject for a in built}) == len(built)
    for alert in built:
        assert alert.subject.startswith("[retune] ")
        assert alert.sns_subject == alert.subject
        assert alert.body.endswith("\n") and not alert.body.endswith("\n\n")


def test_long_names_are_cut_to_fit_sns_but_keep_the_profile_round_and_outcome(world: World) -> None:
    decide(world, [(0.4731, None), (0.4725, 0.4731)])
    profile = "customer-lifetime-value-gradient-boosted-trees-x"
    assert len(profile) == PROFILE_NAME_MAX
    rnd = world.store.get_round(PROFILE, 2).model_copy(
        update={"profile": profile, "seq": 1234, "objective_metric": "validation:binary_logloss"}
    )
    alert = alerts.decision(rnd, REGION)
    assert alert.subject == (
        f"[retune] {profile} round 1234: not promoted "
        "(test validation:binary_logloss 0.4725 vs champion 0.4731)"
    )
    assert len(alert.sns_subject) == alerts.SUBJECT_MAX and alert.sns_subject.endswith("...")
    assert alert.sns_subject.startswith(f"[retune] {profile} round 1234: not promoted (test ")
    assert_subject_fits_sns(alert)


def test_sns_subject_replaces_what_sns_refuses(world: World) -> None:
    decide(world, [(0.4731, None)])
    rnd = world.store.get_round(PROFILE, 1).model_copy(update={"objective_metric": "validation:r²\nfold"})
    alert = alerts.decision(rnd, REGION)
    assert "r²\nfold" in alert.subject  # the body and the subject keep the real name
    assert alert.sns_subject == (
        "[retune] market-xgb round 1: promoted (test validation:r? fold 0.4731, no champion yet)"
    )
    assert_subject_fits_sns(alert)
