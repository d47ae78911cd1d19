"""IAM bites in the local stack: a full run's calls are all allowed by the template's roles, removing any one
statement of a role denies some call the run made, and a permission the template lacks surfaces as AccessDenied,
parked and alerted, as in AWS.

The run (scenario.py) is recorded once per test session: its module fixture runs on one xdist worker (the
`iam-trace` group; `make test` distributes with `--dist loadgroup`).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from retune.naming import INCUMBENT_MAX, incumbent_job_name
from retune_local.iam.gate import TraceEntry
from retune_local.iam.policy import Policy, evaluate
from retune_local.iam.principals import Principal, template_principals
from retune_local.iam.resources import StackResources
from retune_local.images import ImageSpec
from retune_local.stack import LocalStack
from retune_local.template import Resolver, load_template, transformed

from tests.cli.conftest import SLOW
from tests.iam import scenario
from tests.local.conftest import TOY, TOY_IMAGE, toy_profile, write_drop

pytestmark = [pytest.mark.local_stack, pytest.mark.xdist_group("iam-trace")]

OUT = Path(__file__).resolve().parents[2] / "out" / "iam"

FUNCTIONS = (
    "StartRoundFunction",
    "RecordTrialFunction",
    "CloseRoundFunction",
    "PromoteFunction",
    "ReconcileFunction",
)
# Statements only an AWS service uses, with the service and what it does with them: no call of retune's code needs
# them, so the run cannot show they are needed. test_exempt_statements_are_what_their_service_uses checks each.
EXEMPT = {
    "EventInvokeConfigOnFailureSQSPolicy": "Lambda sends a failed asynchronous invocation's record to the "
    "function's on-failure queue with the function's role (SAM adds the statement)",
    "AWSLambdaBasicExecutionRole": "Lambda writes the function's logs to CloudWatch Logs with the function's role",
    "StartRoundFunction/TagTrials": "SageMaker AMT tags the training jobs a tuning job launches with the tuning "
    "job's tags; whether AWS checks the creator's sagemaker:AddTags for them is undocumented, and the local "
    "SageMaker does not check it",
    "SageMakerExecutionRole/EcrAuthorization": "SageMaker pulls the job's image from ECR (the local SageMaker runs "
    "local commands)",
    "SageMakerExecutionRole/PullImages": "SageMaker pulls the job's image from ECR",
}


def exemption(principal: str, label: str) -> str | None:
    """Why a statement needs no recorded call, if it is exempt."""
    policy = label.split("/", 1)[0].split("#", 1)[0]
    for key, why in EXEMPT.items():
        if "/" in key and key == f"{principal}/{label.split('/', 1)[-1]}":
            return why
        if "/" not in key and policy.endswith(key):
            return why
    return None


def template_statements() -> list[tuple[str, str]]:
    """(principal, statement label) of every role in the SAM-transformed template, for parametrization."""
    template = transformed()
    resolver = Resolver(template)
    resolver.name_everything()
    return [
        (name, statement.label)
        for name, principal in template_principals(template, resolver).items()
        for policy in principal.policies
        for statement in policy.statements
    ]


STATEMENTS = template_statements()


class Recorded(NamedTuple):
    principals: dict[str, Principal]
    trace: list[TraceEntry]
    resources: StackResources


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Recorded:
    work = tmp_path_factory.mktemp("iam-run")
    images = {
        TOY_IMAGE: ImageSpec.python(str(TOY), seconds_per_epoch=10.0),
        scenario.SLOW_IMAGE: ImageSpec.python(str(SLOW), seconds_per_epoch=10.0),
    }
    # The stack is closed before the tests use the record: moto's backends are per process, and another stack (the
    # denial test's) resets them.
    with LocalStack(work / "state", images, event_log=work / "events.jsonl") as stack:
        scenario.run(stack, work)
        assert stack.gate.resources is not None
        record = Recorded(dict(stack.gate.principals), stack.gate.trace(), stack.gate.resources)
    return record


def reevaluate(recorded: Recorded, entry: TraceEntry, policies: tuple[Policy, ...]) -> bool:
    applied = recorded.resources.resource_policy(entry.resource_policy) if entry.resource_policy else None
    caller = recorded.principals[entry.principal].caller
    decision = evaluate(
        caller, entry.request, policies, applied.policy if applied else None, key_policy=entry.key_policy
    )
    return decision.allowed


def test_enforcement_the_full_run_makes_only_calls_the_roles_allow(recorded: Recorded) -> None:
    """Every call of the run was allowed (a denial would also have failed the run's own checks), and every function
    and the SageMaker execution role made calls."""
    denied = [
        f"{e.principal}: {e.operation} → {e.request.action} on {e.request.resource}"
        for e in recorded.trace
        if not e.allowed
    ]
    assert not denied, "\n".join(denied)
    callers = {e.principal for e in recorded.trace}
    assert {*FUNCTIONS, "SageMakerExecutionRole", "cli"} <= callers, callers


def without_statement(policies: tuple[Policy, ...], label: str) -> tuple[Policy, ...]:
    """The policies with the one statement `label` (its label, or its Sid) taken out."""
    (statement,) = [s for p in policies for s in p.statements if label in (s.label, s.sid)]
    reduced = tuple(
        p.without(statement) if any(s is statement for s in p.statements) else p for p in policies
    )
    return tuple(p for p in reduced if p.statements)


def needing(recorded: Recorded, principal: str, policies: tuple[Policy, ...], label: str) -> list[TraceEntry]:
    """The recorded calls of `principal` that its policies allow but would deny without the statement `label`."""
    reduced = without_statement(policies, label)
    calls = [e for e in recorded.trace if e.principal == principal and e.allowed]
    return [e for e in calls if not reevaluate(recorded, e, reduced)]


REMOVED = [s for s in STATEMENTS if exemption(*s) is None]


@pytest.mark.parametrize(("principal", "label"), REMOVED, ids=[f"{p}:{label}" for p, label in REMOVED])
def test_enforcement_removing_a_statement_denies_a_recorded_call(
    recorded: Recorded, principal: str, label: str
) -> None:
    """The mutation test: with this one statement removed from the role, some call the run made is denied."""
    assert needing(recorded, principal, recorded.principals[principal].policies, label), (
        f"removing {label} from {principal}'s role denies none of its recorded calls: no code path needs it (remove "
        "it from template.yaml), or the run misses the path that does (add it to tests/iam/scenario.py)"
    )


def test_enforcement_mutation_summary(recorded: Recorded) -> None:
    """The figure docs/reliability.md gives, written to out/iam/mutation.json: every statement of every role either
    removed (and each removal caught) or exempt."""
    removed = [s for s in STATEMENTS if exemption(*s) is None]
    caught = [s for s in removed if needing(recorded, s[0], recorded.principals[s[0]].policies, s[1])]
    summary = {
        "roles": len({p for p, _ in STATEMENTS}),
        "statements": len(STATEMENTS),
        "removed": len(removed),
        "caught": len(caught),
        "exempt": {f"{p}:{label}": exemption(p, label) for p, label in STATEMENTS if exemption(p, label)},
        "recorded_calls": len(recorded.trace),
        "recorded_calls_by_principal": dict(Counter(e.principal for e in recorded.trace)),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "mutation.json").write_text(json.dumps(summary, indent=2) + "\n")
    assert caught == removed


def test_enforcement_reconcile_stops_an_interrupted_stops_incumbents_with_its_one_grant(
    recorded: Recorded,
) -> None:
    """The run's `retune stop` of iam-flow round 4 died after its write; Reconcile stopped the incumbents. Without
    its StopIncumbents statement the gate refuses those calls, and the statement allows no other job of the round
    (a tuning trial, the evaluation)."""
    stops = [
        e for e in recorded.trace if e.principal == "ReconcileFunction" and e.operation == "StopTrainingJob"
    ]
    assert stops and all(e.allowed and "rt-iam-flow-0004-inc" in e.request.resource for e in stops), stops
    policies = recorded.principals["ReconcileFunction"].policies
    (label,) = [s.label for p in policies for s in p.statements if s.sid == "StopIncumbents"]
    assert needing(recorded, "ReconcileFunction", policies, label) == stops
    prefix = stops[0].request.resource.rsplit("/", 1)[0]
    for job in ("rt-iam-flow-0004-001-0a1b2c3d", "rt-iam-flow-0004-eval", "someone-elses-job-inc1"):
        other = stops[0]._replace(request=stops[0].request._replace(resource=f"{prefix}/{job}"))
        assert not reevaluate(recorded, other, policies), job


@pytest.mark.parametrize("principal", ["StartRoundFunction", "ReconcileFunction"])
def test_enforcement_the_tuning_job_created_as_the_stop_was_written_is_stopped_with_one_grant(
    recorded: Recorded, principal: str
) -> None:
    """The run's `retune stop` of iam-flow round 5 was written as StartRound created its tuning job: StartRound
    stopped it (its stops lost), then Reconcile did. Without its StopTuningJobsOfStoppedRounds statement the gate refuses
    those calls, and the statement allows nothing else: no job that is not retune's tuning job (a trial, the
    evaluation, an incumbent of another profile, someone else's tuning job) is stopped by it."""
    stops = [
        e for e in recorded.trace if e.principal == principal and e.operation == "StopHyperParameterTuningJob"
    ]
    assert stops and all(e.allowed and e.request.resource.endswith("/rt-iam-flow-0005") for e in stops), stops
    policies = recorded.principals[principal].policies
    assert needing(recorded, principal, policies, "StopTuningJobsOfStoppedRounds") == stops
    without = without_statement(policies, "StopTuningJobsOfStoppedRounds")
    sagemaker = stops[0].request.resource.rsplit(":", 1)[0]
    others = [
        ("sagemaker:StopHyperParameterTuningJob", "hyper-parameter-tuning-job/someone-elses-job"),
        ("sagemaker:StopTrainingJob", "training-job/rt-iam-flow-0005-001-0a1b2c3d"),
        ("sagemaker:StopTrainingJob", "training-job/rt-iam-flow-0005-eval"),
        ("sagemaker:StopTrainingJob", "training-job/rt-iam-slow-0001-inc1"),
        ("sagemaker:StopTrainingJob", "training-job/rt-iam-flow-0005-inc1"),
    ]
    for action, resource in others:
        request = stops[0].request._replace(action=action, resource=f"{sagemaker}:{resource}")
        other = stops[0]._replace(request=request)
        # The statement adds nothing: the role decides as it would without it (Reconcile's StopIncumbents
        # still allows the incumbents; nothing allows the rest).
        assert reevaluate(recorded, other, policies) == reevaluate(recorded, other, without), resource
        if not resource.startswith("training-job/") or "-inc" not in resource:
            assert not reevaluate(recorded, other, policies), resource


def test_enforcement_startround_stops_the_incumbents_it_created_after_the_stopped_round_closed_with_one_grant(
    recorded: Recorded,
) -> None:
    """iam-flow round 6's incumbents were created after `retune stop` found none and Reconcile closed the round:
    StartRound stopped them. Without its StopIncumbentsOfStoppedRounds statement the gate refuses those calls, and
    the statement allows nothing else: no training job not retune's, no tuning trial, no evaluation, no tuning job,
    no other action on an incumbent."""
    principal = "StartRoundFunction"
    stops = [e for e in recorded.trace if e.principal == principal and e.operation == "StopTrainingJob"]
    assert stops and all(e.allowed and "/rt-iam-flow-0006-inc" in e.request.resource for e in stops), stops
    policies = recorded.principals[principal].policies
    assert needing(recorded, principal, policies, "StopIncumbentsOfStoppedRounds") == stops
    without = without_statement(policies, "StopIncumbentsOfStoppedRounds")
    sagemaker = stops[0].request.resource.rsplit(":", 1)[0]
    denied = [
        ("sagemaker:StopTrainingJob", "training-job/someone-elses-job"),
        ("sagemaker:StopTrainingJob", "training-job/someone-elses-job-inc1"),
        ("sagemaker:StopTrainingJob", "training-job/rt-iam-flow-0006-001-0a1b2c3d"),
        ("sagemaker:StopTrainingJob", "training-job/rt-iam-flow-0006-eval"),
        ("sagemaker:StopTrainingJob", "training-job/rt-iam-flow-0006-2-eval"),
        ("sagemaker:StopHyperParameterTuningJob", "hyper-parameter-tuning-job/someone-elses-job"),
    ]
    for action, resource in denied:
        request = stops[0].request._replace(action=action, resource=f"{sagemaker}:{resource}")
        assert not reevaluate(recorded, stops[0]._replace(request=request), policies), resource
    unchanged = [
        ("sagemaker:StopHyperParameterTuningJob", "hyper-parameter-tuning-job/rt-iam-flow-0006"),
        ("sagemaker:DeleteTrainingJob", "training-job/rt-iam-flow-0006-inc1"),
        ("sagemaker:UpdateTrainingJob", "training-job/rt-iam-flow-0006-inc1"),
        ("sagemaker:CreateTrainingJob", "training-job/rt-iam-flow-0006-inc1"),
    ]
    for action, resource in unchanged:
        request = stops[0].request._replace(action=action, resource=f"{sagemaker}:{resource}")
        other = stops[0]._replace(request=request)
        # The statement adds nothing: the role decides as it would without it.
        assert reevaluate(recorded, other, policies) == reevaluate(recorded, other, without), (
            action,
            resource,
        )


# Every statement that grants on a round's incumbents (naming.INCUMBENT_GRANT, rt-*-inc?), with its actions.
INCUMBENT_GRANTS = [
    (
        "StartRoundFunction",
        "StartIncumbents",
        ("sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob"),
    ),
    ("StartRoundFunction", "StopIncumbentsOfStoppedRounds", ("sagemaker:StopTrainingJob",)),
    ("ReconcileFunction", "StopIncumbents", ("sagemaker:StopTrainingJob",)),
    ("cli", "StopIncumbents", ("sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob")),
]


@pytest.mark.parametrize(
    ("principal", "sid", "actions"), INCUMBENT_GRANTS, ids=[f"{p}:{s}" for p, s, _ in INCUMBENT_GRANTS]
)
def test_enforcement_the_incumbent_grants_admit_incumbents_only_even_of_a_profile_named_like_one(
    recorded: Recorded, principal: str, sid: str, actions: tuple[str, ...]
) -> None:
    """A profile may be named `acme-inc` (or `acme-inc1`): its tuning trials and evaluation jobs hold "-inc". An
    incumbent grant allows its own actions on a round's incumbents, and on none of those jobs: with the statement
    the role decides for them as it does without it."""
    policies = recorded.principals[principal].policies
    assert any(s.sid == sid for p in policies for s in p.statements), (principal, sid)
    without = without_statement(policies, sid)
    # One of the principal's own SageMaker calls, made again on other jobs (its caller and context, no resource
    # policy: SageMaker has none).
    (entry, *_) = [
        e
        for e in recorded.trace
        if e.principal == principal and e.request.action.startswith("sagemaker:") and not e.resource_policy
    ]
    (job_arn, *_) = [e.request.resource for e in recorded.trace if ":training-job/" in e.request.resource]
    prefix = job_arn.rsplit("/", 1)[0]

    def decided(action: str, job: str, by: tuple[Policy, ...]) -> bool:
        request = entry.request._replace(action=action, resource=f"{prefix}/{job}")
        return reevaluate(recorded, entry._replace(request=request), by)

    for action in actions:
        for tuning in ("rt-acme-inc-0001", "rt-acme-inc1-0001", "rt-iam-flow-0002"):
            for index in range(1, INCUMBENT_MAX + 1):  # every incumbent, allowed by this statement
                job = incumbent_job_name(tuning, index)
                assert decided(action, job, policies) and not decided(action, job, without), (action, job)
            for job in (f"{tuning}-001-0a1b2c3d", f"{tuning}-eval", f"{tuning}-2-eval", f"{tuning}-inc10"):
                assert decided(action, job, policies) == decided(action, job, without), (action, job)


def test_enforcement_a_statement_no_call_needs_is_found(recorded: Recorded) -> None:
    """The mutation test can fail: a statement that grants what the run never did (deleting models, which retune
    never does) is needed by no recorded call."""
    extra = Policy.parse(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DeleteModels",
                    "Effect": "Allow",
                    "Action": "s3:DeleteObject",
                    "Resource": "arn:aws:s3:::*/models/*",
                }
            ],
        },
        "Extra",
    )
    policies = (*recorded.principals["PromoteFunction"].policies, extra)
    assert needing(recorded, "PromoteFunction", policies, "Extra/DeleteModels") == []


def test_exempt_statements_are_what_their_service_uses() -> None:
    """Each exempt statement exists, and is only what its AWS service needs, as the template states it."""
    template = transformed()
    resources = template["Resources"]
    for function in FUNCTIONS:
        role = resources[f"{function}Role"]["Properties"]
        assert role["ManagedPolicyArns"] == [
            "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
        ]
        (on_failure,) = [
            p for p in role["Policies"] if p["PolicyName"].endswith("EventInvokeConfigOnFailureSQSPolicy")
        ]
        queue = function.removesuffix("Function") + "OnFailureQueue"
        assert on_failure["PolicyDocument"]["Statement"] == [
            {"Action": "sqs:SendMessage", "Effect": "Allow", "Resource": {"Fn::GetAtt": [queue, "Arn"]}}
        ]
    source = load_template()["Resources"]
    start_round = source["StartRoundFunction"]["Properties"]["Policies"][0]["Statement"]
    (tag_trials,) = [s for s in start_round if s.get("Sid") == "TagTrials"]
    assert tag_trials["Action"] == "sagemaker:AddTags"
    assert tag_trials["Resource"]["Fn::Sub"].endswith(":training-job/rt-*")
    role = source["SageMakerExecutionRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    by_sid = {s["Sid"]: s for s in role}
    assert by_sid["EcrAuthorization"]["Action"] == "ecr:GetAuthorizationToken"
    assert sorted(by_sid["PullImages"]["Action"]) == [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:GetDownloadUrlForLayer",
    ]
    assert all(a.startswith("logs:") for a in by_sid["JobLogs"]["Action"])
    assert all("/aws/sagemaker/" in r["Fn::Sub"] for r in by_sid["JobLogs"]["Resource"])
    for principal, label in STATEMENTS:
        why = exemption(principal, label)
        assert why is None or why  # every exemption says what uses it


def _without(template: dict[str, Any], function: str, sid: str) -> dict[str, Any]:
    statements = template["Resources"][function]["Properties"]["Policies"][0]["Statement"]
    kept = [s for s in statements if s.get("Sid") != sid]
    assert len(kept) == len(statements) - 1, f"{function} has no statement {sid}"
    template["Resources"][function]["Properties"]["Policies"][0]["Statement"] = kept
    return template


def test_enforcement_a_permission_the_template_lacks_is_denied_parked_and_alerted(tmp_path: Path) -> None:
    """RecordTrial without cloudwatch:GetMetricData: each trial's event fails with AccessDenied, Lambda retries it
    twice, parks it on the function's on-failure queue, and Reconcile alerts the parked events."""
    path = tmp_path / "template.json"
    path.write_text(json.dumps(_without(load_template(), "RecordTrialFunction", "ReadObjectSeries")))
    images = {TOY_IMAGE: ImageSpec.python(str(TOY), seconds_per_epoch=10.0)}
    with LocalStack(tmp_path / "state", images, template_path=path) as stack:
        doc = toy_profile(max_jobs=2, parallel=2)
        profile = tmp_path / "toy.json"
        profile.write_text(json.dumps(doc))
        stack.put_profile(profile)
        stack.drop(write_drop(tmp_path / "2015-01-01"), "toy")
        stack.wait_for_round("toy", 1, timeout=180)
        assert stack.wait_until(
            lambda: any(
                r["requestContext"]["functionArn"].endswith("RecordTrialFunction:$LATEST")
                for r in stack.on_failure_records
            ),
            timeout=120,
        )
        (record, *_) = [
            r
            for r in stack.on_failure_records
            if r["requestContext"]["functionArn"].endswith("RecordTrialFunction:$LATEST")
        ]
        assert (
            record["requestContext"]["approximateInvokeCount"] == 3
        )  # the first attempt and Lambda's two retries
        error = record["responsePayload"]
        assert error["errorType"] == "ClientError"
        assert "(AccessDenied) when calling the GetMetricData operation" in error["errorMessage"]
        assert "is not authorized to perform: cloudwatch:GetMetricData" in error["errorMessage"]
        queue = stack.resource("RecordTrialOnFailureQueue")
        depth = stack.client("sqs").get_queue_attributes(
            QueueUrl=queue, AttributeNames=["ApproximateNumberOfMessages"]
        )
        assert int(depth["Attributes"]["ApproximateNumberOfMessages"]) >= 1
        assert stack.router is not None
        stack.router.fire_schedule("ReconcileFunction")
        assert stack.wait_until(stack.router.idle, timeout=120)
        parked = [a for a in stack.alerts() if "parked" in a["Subject"]]
        assert any(queue.rsplit("/", 1)[-1] in a["Message"] for a in parked), parked
