"""Conformance of the local stack's IAM evaluator (retune_local.iam.policy) with AWS's documented evaluation logic.

Each test names the rule it checks and the page that documents it (the IAM User Guide unless said otherwise).
The statements are shaped like template.yaml's where the template has one.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import pytest
from retune_local.iam import policy as policy_module
from retune_local.iam.policy import Caller, Decision, Policy, PolicyError, Request, denial_message, evaluate
from retune_local.template import Resolver, transformed

from tests.infrastructure.conftest import require_sam

ACCOUNT = "123456789012"
ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/retune-StartRoundFunctionRole"
SESSION = Caller(
    f"arn:aws:sts::{ACCOUNT}:assumed-role/retune-StartRoundFunctionRole/retune-StartRound", ACCOUNT, ROLE_ARN
)
USER = Caller(f"arn:aws:iam::{ACCOUNT}:user/johndoe", ACCOUNT)
OTHER_ROLE = Caller(
    f"arn:aws:sts::{ACCOUNT}:assumed-role/retune-PromoteFunctionRole/retune-Promote",
    ACCOUNT,
    f"arn:aws:iam::{ACCOUNT}:role/retune-PromoteFunctionRole",
)
EVENTS = Caller("events.amazonaws.com", "")
SAGEMAKER = Caller("sagemaker.amazonaws.com", "")
BUCKET = "arn:aws:s3:::retune-data"
OBJECT = f"{BUCKET}/datasets/churn/2024-06-01/train.csv"
KEY = f"arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def allow(action: Any, resource: Any = "*", **elements: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **elements}


def deny(action: Any, resource: Any = "*", **elements: Any) -> dict[str, Any]:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **elements}


def identity(*statements: dict[str, Any], version: str | None = "2012-10-17", name: str = "Role") -> Policy:
    document: dict[str, Any] = {"Statement": list(statements)}
    if version is not None:
        document["Version"] = version
    return Policy.parse(document, name)


def resource_policy(*statements: dict[str, Any], name: str = "ResourcePolicy") -> Policy:
    return Policy.parse({"Version": "2012-10-17", "Statement": list(statements)}, name, kind="resource")


def decide(
    policies: list[Policy],
    action: str,
    resource: str = "*",
    context: dict[str, Any] | None = None,
    *,
    caller: Caller = SESSION,
    on: Policy | None = None,
    key_policy: bool = False,
) -> Decision:
    return evaluate(caller, Request(action, resource, context or {}), policies, on, key_policy=key_policy)


def holds(condition: dict[str, Any], context: dict[str, Any], version: str | None = "2012-10-17") -> bool:
    """Whether a statement with this Condition block applies to a request with this context."""
    policy = identity(allow("s3:GetObject", "*", Condition=condition), version=version)
    return decide([policy], "s3:GetObject", OBJECT, context).allowed


# --- the evaluation logic ---------------------------------------------------------------------------------


def test_an_explicit_deny_in_an_identity_policy_wins_over_every_allow() -> None:
    """An explicit deny in any policy overrides any allows, identity- and resource-based alike.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"""
    allowing = identity(allow("s3:*", f"{BUCKET}/*"))
    denying = identity({"Sid": "NoDatasets", **deny("s3:GetObject", f"{BUCKET}/datasets/*")}, name="Guard")
    grant = resource_policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": SESSION.arn}))

    decision = decide([allowing, denying], "s3:GetObject", OBJECT, on=grant)

    assert decision.kind == "explicit_deny"
    assert decision.deciding is denying.statements[0]
    assert decision.deciding.label == "Guard/NoDatasets"
    assert decision.denied_by == "identity"
    assert decide([allowing, denying], "s3:PutObject", OBJECT).allowed


def test_an_explicit_deny_in_a_resource_policy_wins_over_an_identity_allow() -> None:
    """An explicit deny in a resource-based policy (here for Principal "*") overrides an identity-based allow.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"""
    bucket = resource_policy(
        {"Sid": "DenyEveryone", **deny("s3:*", [BUCKET, f"{BUCKET}/*"], Principal="*")},
        name="DataBucketPolicy",
    )
    decision = decide([identity(allow("s3:GetObject", f"{BUCKET}/*"))], "s3:GetObject", OBJECT, on=bucket)

    assert (decision.kind, decision.denied_by) == ("explicit_deny", "resource")
    assert decision.deciding is bucket.statements[0]


def test_without_an_applicable_allow_the_request_is_implicitly_denied() -> None:
    """By default all requests are implicitly denied; an allow must match the action, the resource and the
    conditions. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"""
    role = identity(allow("s3:GetObject", f"{BUCKET}/profiles/*"))

    decision = decide([role], "s3:GetObject", OBJECT)

    assert decision == Decision(False, "implicit_deny", None, (), "identity")
    assert decide([], "s3:GetObject", OBJECT).kind == "implicit_deny"


def test_an_identity_allow_or_a_resource_allow_naming_the_caller_is_enough() -> None:
    """Within one account the permissions are the union of identity- and resource-based policies; `allowing`
    lists every statement that allowed. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"""
    role = identity(allow("s3:GetObject", f"{BUCKET}/*"))
    bucket = resource_policy(allow("s3:GetObject", f"{BUCKET}/*", Principal={"AWS": ROLE_ARN}))

    assert decide([role], "s3:GetObject", OBJECT).allowed
    assert decide([], "s3:GetObject", OBJECT, on=bucket).allowed
    both = decide([role], "s3:GetObject", OBJECT, on=bucket)
    assert both.allowing == (role.statements[0], bucket.statements[0])
    assert both.deciding is role.statements[0]


PRINCIPAL_FORMS = [
    # Principal, caller, allowed without an identity policy, allowed with one
    pytest.param({"AWS": SESSION.arn}, SESSION, True, True, id="role-session-arn"),
    pytest.param({"AWS": ROLE_ARN}, SESSION, True, True, id="role-arn"),
    pytest.param({"AWS": USER.arn}, USER, True, True, id="user-arn"),
    pytest.param("*", SESSION, True, True, id="everyone"),
    pytest.param({"AWS": "*"}, SESSION, True, True, id="aws-everyone"),
    pytest.param({"AWS": ACCOUNT}, SESSION, False, True, id="account-id-delegates"),
    pytest.param({"AWS": f"arn:aws:iam::{ACCOUNT}:root"}, SESSION, False, True, id="account-root-delegates"),
    pytest.param({"AWS": OTHER_ROLE.role_arn}, SESSION, False, True, id="another-role"),
    pytest.param({"Service": "sagemaker.amazonaws.com"}, SAGEMAKER, True, True, id="service"),
    pytest.param({"Service": "sagemaker.amazonaws.com"}, SESSION, False, True, id="service-not-a-role"),
    pytest.param({"Service": "events.amazonaws.com"}, SAGEMAKER, False, False, id="another-service"),
    pytest.param({"Federated": "cognito-identity.amazonaws.com"}, SESSION, False, True, id="federated"),
]


@pytest.mark.parametrize(("principal", "caller", "alone", "with_identity"), PRINCIPAL_FORMS)
def test_a_resource_policy_allows_only_the_principals_it_names_directly(
    principal: Any, caller: Caller, alone: bool, with_identity: bool
) -> None:
    """A resource-based policy grants to the principal it names: a role session, a role or a user ARN, a service,
    or "*" (all principals). Naming the account (its ID or root ARN) delegates to the account's identity policies
    and grants nothing by itself. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html
    and https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"""
    queue = resource_policy(allow("sqs:SendMessage", "*", Principal=principal))
    role = [] if caller is SAGEMAKER else [identity(allow("sqs:SendMessage"))]
    target = f"arn:aws:sqs:us-east-1:{ACCOUNT}:retune-StartRoundOnFailureQueue"

    assert decide([], "sqs:SendMessage", target, caller=caller, on=queue).allowed is alone
    assert decide(role, "sqs:SendMessage", target, caller=caller, on=queue).allowed is with_identity


def test_a_resource_policy_deny_naming_the_account_denies_its_principals() -> None:
    """A Deny applies to every principal the statement's Principal covers; naming the account covers the
    account's roles and sessions. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_principal.html"""
    bucket = resource_policy(deny("s3:DeleteObject", f"{BUCKET}/*", Principal={"AWS": ACCOUNT}))
    role = identity(allow("s3:*", f"{BUCKET}/*"))

    assert decide([role], "s3:DeleteObject", OBJECT, on=bucket).kind == "explicit_deny"
    # A service principal is not the account's: the Deny does not cover it (nor does anything allow it).
    assert decide([], "s3:DeleteObject", OBJECT, caller=SAGEMAKER, on=bucket).kind == "implicit_deny"


@pytest.mark.parametrize(
    ("not_principal", "denied"),
    [
        pytest.param(
            {"AWS": [SESSION.arn, ROLE_ARN, f"arn:aws:iam::{ACCOUNT}:root"]}, False, id="every-identity"
        ),
        pytest.param({"AWS": [SESSION.arn, ROLE_ARN]}, True, id="account-missing"),
        pytest.param({"AWS": [SESSION.arn]}, True, id="session-only"),
        pytest.param({"AWS": OTHER_ROLE.arn}, True, id="someone-else"),
        pytest.param("*", False, id="everyone"),
    ],
)
def test_not_principal_with_deny_spares_only_a_caller_it_lists_completely(
    not_principal: Any, denied: bool
) -> None:
    """NotPrincipal with Deny denies every principal except those listed; AWS may check the account, then the
    role, then the session, so a caller is spared only when all three are listed.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html"""
    bucket = resource_policy(deny("s3:*", f"{BUCKET}/*", NotPrincipal=not_principal))
    role = identity(allow("s3:GetObject", f"{BUCKET}/*"))

    assert decide([role], "s3:GetObject", OBJECT, on=bucket).kind == (
        "explicit_deny" if denied else "allowed"
    )


def test_not_principal_with_allow_grants_everyone_but_those_listed() -> None:
    """NotPrincipal with Allow grants all principals except the ones named.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notprincipal.html"""
    topic = resource_policy(allow("sns:Publish", "*", NotPrincipal={"AWS": OTHER_ROLE.role_arn}))

    assert decide([], "sns:Publish", caller=SESSION, on=topic).allowed
    assert not decide([], "sns:Publish", caller=OTHER_ROLE, on=topic).allowed


# --- KMS key policies -------------------------------------------------------------------------------------

ROOT_DELEGATION = {
    "Sid": "AccountAdministersAndDelegatesToIam",
    "Effect": "Allow",
    "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
    "Action": "kms:*",
    "Resource": "*",
}
ALARMS_PUBLISH = {
    "Sid": "CloudWatchAlarmsPublishToEncryptedTopic",
    "Effect": "Allow",
    "Principal": {"Service": "cloudwatch.amazonaws.com"},
    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
    "Resource": "*",
}


def test_a_key_policy_granting_the_caller_directly_needs_no_identity_policy() -> None:
    """A key policy statement naming the principal gives it access by itself.
    https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html"""
    key = resource_policy(
        {
            "Sid": "StartRoundUsesKey",
            "Effect": "Allow",
            "Principal": {"AWS": ROLE_ARN},
            "Action": "kms:Decrypt",
        },
        name="EncryptionKey",
    )

    decision = decide([], "kms:Decrypt", KEY, on=key, key_policy=True)

    assert decision.allowed
    assert decision.allowing == (key.statements[0],)


def test_a_key_policy_allowing_the_account_enables_identity_policies() -> None:
    """The statement allowing the account (root) the action lets IAM policies grant it; it grants nothing by
    itself. https://docs.aws.amazon.com/kms/latest/developerguide/key-policy-default.html"""
    key = resource_policy(ROOT_DELEGATION, ALARMS_PUBLISH, name="EncryptionKey")
    role = identity(allow("kms:Decrypt", KEY))

    granted = decide([role], "kms:Decrypt", KEY, on=key, key_policy=True)
    assert granted.allowed
    assert set(granted.allowing) == {key.statements[0], role.statements[0]}

    missing = decide([identity(allow("kms:Encrypt", KEY))], "kms:Decrypt", KEY, on=key, key_policy=True)
    assert (missing.kind, missing.denied_by) == ("implicit_deny", "identity")


def test_a_key_policy_that_neither_grants_nor_delegates_denies_even_an_identity_allow() -> None:
    """Unless the key policy allows access (directly or by enabling IAM policies), no IAM policy can: an
    identity-based allow alone is not enough. https://docs.aws.amazon.com/kms/latest/developerguide/key-policies.html
    and https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"""
    role = identity(allow("kms:*", KEY))
    services_only = resource_policy(ALARMS_PUBLISH, name="EncryptionKey")
    describe_only = resource_policy({**ROOT_DELEGATION, "Action": "kms:DescribeKey"}, name="EncryptionKey")

    for key in (services_only, describe_only):
        decision = decide([role], "kms:Decrypt", KEY, on=key, key_policy=True)
        assert (decision.kind, decision.denied_by) == ("implicit_deny", "key")
    assert decide([role], "kms:DescribeKey", KEY, on=describe_only, key_policy=True).allowed
    # The same statements in an ordinary resource policy leave the identity allow in force.
    assert decide([role], "kms:Decrypt", KEY, on=services_only).allowed


def test_an_explicit_deny_in_a_key_policy_is_reported_as_the_key_policy() -> None:
    """An explicit deny in the key policy overrides every allow.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"""
    key = resource_policy(
        ROOT_DELEGATION,
        {**ROOT_DELEGATION, "Sid": "NoDisable", "Effect": "Deny", "Action": "kms:DisableKey"},
        name="EncryptionKey",
    )

    decision = decide([identity(allow("kms:*"))], "kms:DisableKey", KEY, on=key, key_policy=True)

    assert (decision.kind, decision.denied_by, decision.deciding) == (
        "explicit_deny",
        "key",
        key.statements[1],
    )


# --- Action and NotAction ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "action", "matches"),
    [
        ("s3:GetObject", "s3:GetObject", True),
        ("S3:getobject", "s3:GetObject", True),
        ("s3:Get*", "s3:GetObjectVersion", True),
        ("s3:Get*", "s3:PutObject", False),
        ("s3:*Object", "s3:GetObject", True),
        ("s3:?etObject", "s3:GetObject", True),
        ("s3:?etObject", "s3:GetObjectAcl", False),
        ("s3:Get?", "s3:GetObject", False),
        ("*", "kms:Decrypt", True),
        ("s3:*", "s3express:CreateSession", False),
    ],
)
def test_actions_match_case_insensitively_with_wildcards(pattern: str, action: str, matches: bool) -> None:
    """Action names are case-insensitive; * matches any run of characters and ? one character.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html"""
    assert decide([identity(allow(pattern))], action).allowed is matches


def test_not_action_with_allow_grants_every_action_but_the_listed_ones() -> None:
    """NotAction with Allow matches everything except the listed actions.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html"""
    role = identity({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"})

    assert decide([role], "s3:GetObject", OBJECT).allowed
    assert decide([role], "iam:PassRole", ROLE_ARN).kind == "implicit_deny"


def test_not_action_with_deny_denies_every_action_but_the_listed_ones() -> None:
    """NotAction with Deny explicitly denies every unlisted action and leaves the listed ones to other statements.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html"""
    role = identity(
        allow("s3:*", f"{BUCKET}/*"), {"Effect": "Deny", "NotAction": "s3:GetObject", "Resource": "*"}
    )

    assert decide([role], "s3:GetObject", OBJECT).allowed
    assert decide([role], "s3:PutObject", OBJECT).kind == "explicit_deny"


# --- Resource and NotResource -----------------------------------------------------------------------------


def test_not_resource_with_deny_denies_every_resource_but_the_listed_ones() -> None:
    """NotResource matches every resource except the listed ones; the guide's HRPayroll example.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html"""
    payroll = ["arn:aws:s3:::HRBucket/Payroll", "arn:aws:s3:::HRBucket/Payroll/*"]
    role = identity(allow("s3:*", "*"), {"Effect": "Deny", "Action": "s3:*", "NotResource": payroll})

    assert decide([role], "s3:GetObject", "arn:aws:s3:::HRBucket/Payroll/june.csv").allowed
    assert decide([role], "s3:GetObject", "arn:aws:s3:::HRBucket/Other/june.csv").kind == "explicit_deny"


def test_not_resource_with_allow_grants_every_resource_but_the_listed_ones() -> None:
    """NotResource with Allow grants the action on every resource except those listed.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html"""
    role = identity({"Effect": "Allow", "Action": "s3:GetObject", "NotResource": f"{BUCKET}/secrets/*"})

    assert decide([role], "s3:GetObject", OBJECT).allowed
    assert not decide([role], "s3:GetObject", f"{BUCKET}/secrets/token").allowed


def test_not_action_and_not_resource_together_deny_all_but_the_exempt_pairs() -> None:
    """With NotAction and NotResource in one Deny, a request is denied unless its action or its resource is
    listed. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notaction.html and
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_notresource.html"""
    guard = {"Effect": "Deny", "NotAction": "s3:GetObject", "NotResource": f"{BUCKET}/public/*"}
    role = identity(allow("s3:*", f"{BUCKET}/*"), guard)

    assert decide([role], "s3:PutObject", OBJECT).kind == "explicit_deny"
    assert decide([role], "s3:GetObject", OBJECT).allowed
    assert decide([role], "s3:PutObject", f"{BUCKET}/public/index.html").allowed


ARN_PATTERNS = [
    # pattern, requested resource, matches
    (f"{BUCKET}/*", OBJECT, True),
    (f"{BUCKET}/*", f"{BUCKET}/a:b/c", True),  # the resource part may hold colons and slashes
    (f"{BUCKET}/*", BUCKET, False),
    (f"{BUCKET}*", f"{BUCKET}-other/key", True),
    ("arn:aws:s3:::Retune-data/*", OBJECT, False),  # case-sensitive
    ("arn:*:s3:::retune-data/*", OBJECT, True),  # partition
    ("arn:aws:s?:::retune-data/*", OBJECT, True),  # service
    (
        f"arn:aws:sqs:*:{ACCOUNT}:retune-queue",
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:retune-queue",
        True,
    ),  # region
    (f"arn:aws:sqs:us-east-?:{ACCOUNT}:retune-queue", f"arn:aws:sqs:us-east-1:{ACCOUNT}:retune-queue", True),
    (
        f"arn:aws:sqs:us-east-?:{ACCOUNT}:retune-queue",
        f"arn:aws:sqs:us-east-10:{ACCOUNT}:retune-queue",
        False,
    ),
    (
        "arn:aws:sqs:us-east-1:*:retune-queue",
        f"arn:aws:sqs:us-east-1:{ACCOUNT}:retune-queue",
        True,
    ),  # account
    # * in the account component stays within it: it does not swallow "123456789012:extra"
    ("arn:aws:dynamodb:us-east-1:*:table/T", f"arn:aws:dynamodb:us-east-1:{ACCOUNT}:extra:table/T", False),
    # the guide's ArnLike example: * in the region cannot span region, account and part of the resource
    (
        "arn:aws:sns:*:111122223333:finance/*",
        "arn:aws:sns:us-east-2:999999999999:store/abc:111122223333:finance/x",
        False,
    ),
    ("*", OBJECT, True),
    ("*", "*", True),
    ("arn:aws:s3:::*", "*", False),  # an action without resource-level permissions needs "*"
]


@pytest.mark.parametrize(("pattern", "resource", "matches"), ARN_PATTERNS)
def test_resources_match_each_arn_component_separately(pattern: str, resource: str, matches: bool) -> None:
    """Resource takes "*" or an ARN; wildcards match within each of the components
    arn:partition:service:region:account-id:resource, case-sensitively.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html and
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN"""
    assert decide([identity(allow("s3:GetObject", pattern))], "s3:GetObject", resource).allowed is matches


# --- condition operators ----------------------------------------------------------------------------------

TAG = "aws:PrincipalTag/stage"
STRING_CASES = [
    # operator, policy value(s), request context, condition holds
    ("StringEquals", "prod", {TAG: "prod"}, True),
    ("StringEquals", "prod", {TAG: "Prod"}, False),  # values are case-sensitive
    ("StringEquals", "prod", {}, False),  # an absent key does not match
    ("StringEquals", ["dev", "prod"], {TAG: "prod"}, True),  # values of one key are ORed
    ("StringEquals", "prod*", {TAG: "production"}, False),  # no wildcards in StringEquals
    ("StringEqualsIfExists", "prod", {}, True),
    ("StringEqualsIfExists", "prod", {TAG: "dev"}, False),
    ("StringNotEquals", "prod", {}, True),  # a negated operator holds for an absent key
    ("StringNotEquals", "prod", {TAG: "prod"}, False),
    ("StringNotEquals", ["dev", "prod"], {TAG: "prod"}, False),  # negated values are NORed
    ("StringNotEquals", ["dev", "prod"], {TAG: "test"}, True),
    ("StringNotEqualsIfExists", "prod", {}, True),
    ("StringNotEqualsIfExists", "prod", {TAG: "prod"}, False),
    ("StringEqualsIgnoreCase", "johndoe", {TAG: "JohnDoe"}, True),
    ("StringEqualsIgnoreCase", "johndoe", {}, False),
    ("StringNotEqualsIgnoreCase", "johndoe", {TAG: "JohnDoe"}, False),
    ("StringNotEqualsIgnoreCase", "johndoe", {TAG: "jane"}, True),
    ("StringLike", "home/*", {TAG: "home/johndoe/notes"}, True),
    ("StringLike", "home/?", {TAG: "home/jd"}, False),
    ("StringLike", "Home/*", {TAG: "home/x"}, False),
    ("StringLike", "home/*", {}, False),
    ("StringLikeIfExists", ["t1.*", "t2.*"], {}, True),
    ("StringLikeIfExists", ["t1.*", "t2.*"], {TAG: "m5.large"}, False),
    ("StringNotLike", "home/*", {}, True),
    ("StringNotLike", "home/*", {TAG: "home/x"}, False),
    ("StringNotLike", "home/*", {TAG: "work/x"}, True),
    ("StringNotLikeIfExists", "home/*", {TAG: "home/x"}, False),
]


@pytest.mark.parametrize(("operator", "values", "context", "expected"), STRING_CASES)
def test_string_operators(operator: str, values: Any, context: dict[str, Any], expected: bool) -> None:
    """String operators, with and without IfExists, on present and absent keys: an absent key makes a condition
    false except for negated operators (true) and ...IfExists (true); several values of a key are ORed, NORed
    for a negated operator. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html
    and https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html"""
    assert holds({operator: {TAG: values}}, context) is expected


SOURCE_ARN = "aws:SourceArn"
RULE = f"arn:aws:events:us-east-1:{ACCOUNT}:rule/retune-StartRoundFunctionDropReady"
FINANCE = "arn:aws:sns:*:111122223333:finance/*"
ARN_CASES = [
    ("ArnEquals", RULE, {SOURCE_ARN: RULE}, True),
    ("ArnEquals", RULE.replace("Drop", "drop"), {SOURCE_ARN: RULE}, False),  # case-sensitive
    ("ArnEquals", f"arn:aws:events:*:{ACCOUNT}:rule/retune-*", {SOURCE_ARN: RULE}, True),  # same as ArnLike
    ("ArnLike", f"arn:aws:events:*:{ACCOUNT}:rule/retune-*", {SOURCE_ARN: RULE}, True),
    ("ArnLike", FINANCE, {SOURCE_ARN: "arn:aws:sns:us-east-2:111122223333:finance/doc"}, True),
    (
        "ArnLike",
        FINANCE,
        {SOURCE_ARN: "arn:aws:sns:us-east-2:999999999999:store/abc:111122223333:finance/x"},
        False,
    ),
    (
        "StringLike",
        FINANCE,
        {SOURCE_ARN: "arn:aws:sns:us-east-2:999999999999:store/abc:111122223333:finance/x"},
        True,
    ),
    ("ArnLike", RULE, {}, False),
    ("ArnLikeIfExists", RULE, {}, True),
    ("ArnEqualsIfExists", RULE, {SOURCE_ARN: RULE + "2"}, False),
    ("ArnNotEquals", RULE, {}, True),
    ("ArnNotEquals", RULE, {SOURCE_ARN: RULE}, False),
    ("ArnNotLike", f"arn:aws:events:*:{ACCOUNT}:rule/*", {SOURCE_ARN: RULE}, False),
    ("ArnNotLikeIfExists", f"arn:aws:events:*:{ACCOUNT}:rule/other-*", {SOURCE_ARN: RULE}, True),
]


@pytest.mark.parametrize(("operator", "values", "context", "expected"), ARN_CASES)
def test_arn_operators(operator: str, values: Any, context: dict[str, Any], expected: bool) -> None:
    """ArnEquals and ArnLike behave identically: each of the six colon-delimited components is matched separately,
    with wildcards, case-sensitively (where StringLike would let * span components); negated and IfExists forms.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_ARN"""
    assert holds({operator: {SOURCE_ARN: values}}, context) is expected


SECURE = "aws:SecureTransport"
BOOL_CASES = [
    ("Bool", "true", {SECURE: "true"}, True),
    ("Bool", True, {SECURE: "true"}, True),  # a JSON boolean is the same as the string
    ("Bool", False, {SECURE: "false"}, True),
    ("Bool", "false", {SECURE: "true"}, False),
    ("Bool", "true", {SECURE: "yes"}, False),
    ("Bool", "true", {}, False),
    ("BoolIfExists", "true", {}, True),
    ("BoolIfExists", "true", {SECURE: "false"}, False),
]


@pytest.mark.parametrize(("operator", "values", "context", "expected"), BOOL_CASES)
def test_bool_operator(operator: str, values: Any, context: dict[str, Any], expected: bool) -> None:
    """Bool compares a key to "true" or "false"; an absent key does not match, except with BoolIfExists.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Boolean"""
    assert holds({operator: {SECURE: values}}, context) is expected


ISSUED = "aws:TokenIssueTime"
NULL_CASES = [
    ("true", {}, True),  # true: the key is absent
    ("true", {ISSUED: "2024-06-01T00:00:00Z"}, False),
    ("false", {ISSUED: "2024-06-01T00:00:00Z"}, True),  # false: the key is present
    ("false", {}, False),
    (True, {}, True),
    ("true", {"aws:TagKeys": ["retune:profile"]}, True),  # another key's presence is beside the point
    ("false", {ISSUED: []}, False),  # a key with an empty set of values counts as null
]


@pytest.mark.parametrize(("value", "context", "expected"), NULL_CASES)
def test_null_operator(value: Any, context: dict[str, Any], expected: bool) -> None:
    """Null tests presence only: "true" holds when the key is absent (null), "false" when it is present;
    an empty value counts as null. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Null
    and https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition_examples-multi-valued-context-keys.html"""
    assert holds({"Null": {ISSUED: value}}, context) is expected


MAX_KEYS, SOURCE_IP, BLOB = "s3:max-keys", "aws:SourceIp", "kms:blob"
VALUE = "QmluYXJ5VmFsdWVJbkJhc2U2NA=="
OTHER_CASES = [
    # operator, key, policy value(s), request context, condition holds
    ("NumericLessThanEquals", MAX_KEYS, "10", {MAX_KEYS: "10"}, True),
    ("NumericLessThan", MAX_KEYS, "10", {MAX_KEYS: "10"}, False),
    ("NumericGreaterThan", MAX_KEYS, "1.5", {MAX_KEYS: "2"}, True),
    ("NumericGreaterThanEquals", MAX_KEYS, "2", {MAX_KEYS: "2.0"}, True),
    ("NumericEquals", MAX_KEYS, "10", {MAX_KEYS: "10.0"}, True),
    ("NumericEquals", MAX_KEYS, "10", {MAX_KEYS: "ten"}, False),
    ("NumericEquals", MAX_KEYS, "10", {}, False),
    ("NumericEqualsIfExists", MAX_KEYS, "10", {}, True),
    ("NumericNotEquals", MAX_KEYS, "10", {}, True),
    ("NumericNotEquals", MAX_KEYS, ["10", "20"], {MAX_KEYS: "20"}, False),
    (
        "NumericNotEquals",
        MAX_KEYS,
        "10",
        {MAX_KEYS: "ten"},
        False,
    ),  # not a number: no difference to vouch for
    ("DateGreaterThan", ISSUED, "2020-01-01T00:00:01Z", {ISSUED: "2020-06-01T00:00:00Z"}, True),
    ("DateLessThan", ISSUED, "2020-01-01T00:00:01Z", {ISSUED: "2020-06-01T00:00:00Z"}, False),
    ("DateGreaterThanEquals", ISSUED, "1577836800", {ISSUED: "2020-01-01T00:00:00Z"}, True),  # epoch seconds
    ("DateEquals", ISSUED, "2020-01-01", {ISSUED: "2020-01-01T00:00:00+00:00"}, True),
    ("DateLessThanEquals", ISSUED, "2020", {ISSUED: "2019-12-31T23:59:59Z"}, True),
    ("DateNotEquals", ISSUED, "2020-01-01", {}, True),
    ("DateGreaterThanIfExists", ISSUED, "2020-01-01", {}, True),
    ("IpAddress", SOURCE_IP, "203.0.113.0/24", {SOURCE_IP: "203.0.113.7"}, True),
    ("IpAddress", SOURCE_IP, "203.0.113.0/24", {SOURCE_IP: "198.51.100.1"}, False),
    ("IpAddress", SOURCE_IP, "203.0.113.7", {SOURCE_IP: "203.0.113.7"}, True),  # a bare address is a /32
    ("IpAddress", SOURCE_IP, "2001:DB8:1234:5678::/64", {SOURCE_IP: "2001:db8:1234:5678::1"}, True),
    ("IpAddress", SOURCE_IP, "203.0.113.0/24", {}, False),
    ("IpAddressIfExists", SOURCE_IP, "203.0.113.0/24", {}, True),
    ("NotIpAddress", SOURCE_IP, "203.0.113.0/24", {SOURCE_IP: "198.51.100.1"}, True),
    ("NotIpAddress", SOURCE_IP, "203.0.113.0/24", {SOURCE_IP: "203.0.113.9"}, False),
    ("BinaryEquals", BLOB, VALUE, {BLOB: VALUE}, True),
    ("BinaryEquals", BLOB, VALUE, {BLOB: "b3RoZXI="}, False),
    ("BinaryEqualsIfExists", BLOB, VALUE, {}, True),
]


@pytest.mark.parametrize(("operator", "key", "values", "context", "expected"), OTHER_CASES)
def test_numeric_date_ip_and_binary_operators(
    operator: str, key: str, values: Any, context: dict[str, Any], expected: bool
) -> None:
    """Numeric, Date (W3C ISO 8601 or epoch), IpAddress (CIDR; a bare address is /32) and BinaryEquals (base-64),
    with IfExists and the absent-key rule. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html"""
    assert holds({operator: {key: values}}, context) is expected


def test_keys_within_an_operator_and_operators_are_anded() -> None:
    """All keys under an operator, and all operators of a Condition block, must hold; values of one key are ORed.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-logic-multiple-context-keys-or-values.html"""
    condition = {
        "StringEquals": {"aws:PrincipalTag/team": ["ml", "data"], "aws:PrincipalTag/stage": "prod"},
        "ArnLike": {"aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/retune-*"},
    }
    context = {
        "aws:PrincipalTag/team": "data",
        "aws:PrincipalTag/stage": "prod",
        "aws:PrincipalArn": ROLE_ARN,
    }

    assert holds(condition, context)
    assert not holds(condition, {**context, "aws:PrincipalTag/stage": "dev"})
    assert not holds(condition, {**context, "aws:PrincipalArn": f"arn:aws:iam::{ACCOUNT}:role/admin"})
    assert not holds(condition, {k: v for k, v in context.items() if k != "aws:PrincipalTag/team"})


def test_condition_key_names_are_case_insensitive_tag_keys_included_values_are_not() -> None:
    """Context key names are not case-sensitive, the tag-key part of aws:ResourceTag/tag-key included; values
    are, except under the IgnoreCase operators. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition.html"""
    condition = {"StringEquals": {"AWS:ResourceTag/Retune:Profile": "churn"}}

    assert holds(condition, {"aws:resourcetag/retune:profile": "churn"})
    assert holds(condition, {"aws:ResourceTag/RETUNE:PROFILE": "churn"})
    assert not holds(condition, {"aws:ResourceTag/retune:profile": "Churn"})


TAG_KEYS = "aws:TagKeys"
SET_CASES = [
    # operator, policy values, request value (None: absent), holds
    ("ForAllValues:StringEquals", ["retune:profile", "retune:round"], ["retune:profile"], True),
    ("ForAllValues:StringEquals", ["retune:profile", "retune:round"], ["retune:profile", "owner"], False),
    ("ForAllValues:StringEquals", ["retune:profile"], None, True),  # absent: true
    ("ForAllValues:StringEquals", ["retune:profile"], [], True),  # empty set: true
    ("ForAllValues:StringEquals", ["retune:profile"], "retune:profile", True),  # one value is a set of one
    ("ForAllValues:StringLike", ["retune:*"], ["retune:profile", "retune:round"], True),
    ("ForAllValues:StringNotLike", ["key1*"], ["key1:legal"], False),  # the guide's table
    ("ForAllValues:StringNotLike", ["key1*"], ["key1:hr", "key1:personnel"], False),
    ("ForAllValues:StringNotLike", ["key1*"], ["key2:audit"], True),
    ("ForAllValues:StringNotLike", ["key1*"], None, True),
    ("ForAnyValue:StringEquals", ["retune:profile"], ["owner", "retune:profile"], True),
    ("ForAnyValue:StringEquals", ["retune:profile"], ["owner"], False),
    ("ForAnyValue:StringEquals", ["retune:profile"], None, False),  # absent: false
    ("ForAnyValue:StringEquals", ["retune:profile"], [], False),  # empty set: false
    ("ForAnyValue:StringNotEquals", ["retune:profile"], ["retune:profile", "owner"], True),
    ("ForAnyValue:StringNotEquals", ["retune:profile"], ["retune:profile"], False),
    (
        "ForAnyValue:StringNotEquals",
        ["retune:profile"],
        None,
        False,
    ),  # the qualifier's rule, not the negation's
    ("ForAnyValue:StringLikeIfExists", ["retune:*"], None, True),
    ("ForAllValues:ArnLike", [f"arn:aws:sns:*:{ACCOUNT}:*"], [f"arn:aws:sns:us-east-1:{ACCOUNT}:t"], True),
    # Without a qualifier a multivalued key does not match, negated or not (the guide requires a set operator
    # and is silent on the result; this is the stricter reading).
    ("StringEquals", ["retune:profile"], ["retune:profile"], False),
    ("StringNotEquals", ["owner"], ["retune:profile"], False),
    ("StringEqualsIfExists", ["retune:profile"], ["retune:profile"], False),
]


@pytest.mark.parametrize(("operator", "values", "request_value", "expected"), SET_CASES)
def test_set_qualifiers_on_multivalued_keys(
    operator: str, values: Any, request_value: Any, expected: bool
) -> None:
    """ForAllValues holds when every request value matches (and when the key is absent or its set empty);
    ForAnyValue when at least one does (never for an absent key or an empty set).
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-single-vs-multi-valued-context-keys.html
    and https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition_examples-multi-valued-context-keys.html"""
    context = {} if request_value is None else {TAG_KEYS: request_value}
    assert holds({operator: {TAG_KEYS: values}}, context) is expected


# --- the condition keys template.yaml uses ---------------------------------------------------------------

SAGEMAKER_ROLE = f"arn:aws:iam::{ACCOUNT}:role/retune-SageMakerExecutionRole"
PASS_SAGEMAKER_ROLE = {
    "Sid": "PassSageMakerRole",
    "Effect": "Allow",
    "Action": "iam:PassRole",
    "Resource": SAGEMAKER_ROLE,
    "Condition": {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}},
}


def test_iam_passed_to_service_limits_pass_role_to_sagemaker() -> None:
    """iam:PassedToService (StringEquals) names the service a role may be passed to.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_iam-condition-keys.html#ck_PassedToService"""
    role = identity(PASS_SAGEMAKER_ROLE)

    def passes(context: dict[str, Any]) -> bool:
        return decide([role], "iam:PassRole", SAGEMAKER_ROLE, context).allowed

    assert passes({"iam:PassedToService": "sagemaker.amazonaws.com"})
    assert not passes({"iam:PassedToService": "lambda.amazonaws.com"})
    assert not passes({})
    assert not decide(
        [role], "iam:PassRole", ROLE_ARN, {"iam:PassedToService": "sagemaker.amazonaws.com"}
    ).allowed


def test_aws_resource_tag_scopes_actions_to_tagged_resources() -> None:
    """aws:ResourceTag/tag-key compares the tag on the resource; an untagged resource lacks the key.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourcetag"""
    role = identity(
        allow(
            "sagemaker:StopHyperParameterTuningJob",
            "*",
            Condition={"StringEquals": {"aws:ResourceTag/retune:profile": ["churn", "fraud"]}},
        ),
        deny("sagemaker:*", "*", Condition={"StringNotEquals": {"aws:ResourceTag/retune:stage": "managed"}}),
    )
    job = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:hyper-parameter-tuning-job/rt-churn-1"
    managed = {"aws:ResourceTag/retune:stage": "managed"}

    assert decide(
        [role],
        "sagemaker:StopHyperParameterTuningJob",
        job,
        {**managed, "aws:ResourceTag/retune:profile": "fraud"},
    ).allowed
    assert not decide(
        [role],
        "sagemaker:StopHyperParameterTuningJob",
        job,
        {**managed, "aws:ResourceTag/retune:profile": "other"},
    ).allowed
    assert decide([role], "sagemaker:StopHyperParameterTuningJob", job, managed).kind == "implicit_deny"
    # Untagged: the negated Deny holds for the absent key.
    assert (
        decide(
            [role], "sagemaker:StopHyperParameterTuningJob", job, {"aws:ResourceTag/retune:profile": "churn"}
        ).kind
        == "explicit_deny"
    )


def test_aws_request_tag_and_tag_keys_control_tagging_on_create() -> None:
    """aws:RequestTag/tag-key is the tag a request sets; aws:TagKeys the set of keys it sets (multivalued, with
    ForAllValues). https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-requesttag
    and https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-tagkeys"""
    role = identity(
        allow(
            "sagemaker:CreateHyperParameterTuningJob",
            f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:hyper-parameter-tuning-job/rt-*",
            Condition={
                "StringLike": {"aws:RequestTag/retune:profile": "?*"},
                "ForAllValues:StringEquals": {"aws:TagKeys": ["retune:profile", "retune:round"]},
            },
        )
    )
    job = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:hyper-parameter-tuning-job/rt-churn-1"

    def creates(tags: dict[str, str]) -> bool:
        context: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
        context["aws:TagKeys"] = list(tags)
        return decide([role], "sagemaker:CreateHyperParameterTuningJob", job, context).allowed

    assert creates({"retune:profile": "churn", "retune:round": "1"})
    assert not creates({"retune:round": "1"})
    assert not creates({"retune:profile": ""})
    assert not creates({"retune:profile": "churn", "owner": "me"})


def test_kms_via_service_lets_the_role_use_the_key_only_through_the_listed_services() -> None:
    """kms:ViaService (StringEquals with a list, ORed) is present only when an AWS service calls KMS on the
    principal's behalf. https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-via-service"""
    services = [
        "dynamodb.us-east-1.amazonaws.com",
        "sns.us-east-1.amazonaws.com",
        "sqs.us-east-1.amazonaws.com",
    ]
    role = identity(
        allow(
            ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
            KEY,
            Condition={"StringEquals": {"kms:ViaService": services}},
        )
    )
    key = resource_policy(ROOT_DELEGATION, name="EncryptionKey")

    def uses(context: dict[str, Any]) -> bool:
        return decide([role], "kms:GenerateDataKey", KEY, context, on=key, key_policy=True).allowed

    assert uses({"kms:ViaService": "sqs.us-east-1.amazonaws.com"})
    assert uses({"kms:ViaService": "dynamodb.us-east-1.amazonaws.com"})
    assert not uses({"kms:ViaService": "s3.us-east-1.amazonaws.com"})
    assert not uses({})


def test_aws_source_account_limits_a_service_principal_to_this_account() -> None:
    """aws:SourceAccount (StringEquals) is the account of the resource a service acts for; the template's topic
    policy lets EventBridge publish only for its own account.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourceaccount"""
    topic = resource_policy(
        {
            "Sid": "EventBridgePublish",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sns:Publish",
            "Resource": f"arn:aws:sns:us-east-1:{ACCOUNT}:retune-alerts",
            "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNT}},
        },
        name="AlertsTopicPolicy",
    )
    target = f"arn:aws:sns:us-east-1:{ACCOUNT}:retune-alerts"

    assert decide([], "sns:Publish", target, {"aws:SourceAccount": ACCOUNT}, caller=EVENTS, on=topic).allowed
    assert not decide(
        [], "sns:Publish", target, {"aws:SourceAccount": "999999999999"}, caller=EVENTS, on=topic
    ).allowed
    assert not decide([], "sns:Publish", target, {}, caller=EVENTS, on=topic).allowed
    assert not decide([], "sns:Publish", target, {"aws:SourceAccount": ACCOUNT}, on=topic).allowed


def test_aws_source_arn_limits_a_queue_to_the_listed_rules() -> None:
    """aws:SourceArn (ArnEquals with a list, ORed) is the ARN of the resource a service acts for; the template's
    dead-letter queue policies accept only their own rules.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-sourcearn"""
    rules = [
        f"arn:aws:events:us-east-1:{ACCOUNT}:rule/retune-StartRound{e}"
        for e in ("ManifestCreated", "DropReady")
    ]
    queue = resource_policy(
        {
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "sqs:SendMessage",
            "Resource": f"arn:aws:sqs:us-east-1:{ACCOUNT}:retune-StartRoundRuleDLQ",
            "Condition": {"ArnEquals": {"aws:SourceArn": rules}},
        }
    )
    target = f"arn:aws:sqs:us-east-1:{ACCOUNT}:retune-StartRoundRuleDLQ"

    for rule in rules:
        assert decide([], "sqs:SendMessage", target, {"aws:SourceArn": rule}, caller=EVENTS, on=queue).allowed
    other = rules[0].replace("ManifestCreated", "Other")
    assert not decide(
        [], "sqs:SendMessage", target, {"aws:SourceArn": other}, caller=EVENTS, on=queue
    ).allowed


def test_aws_secure_transport_in_a_deny_refuses_plain_http() -> None:
    """aws:SecureTransport (Bool) in a Deny: the template's bucket policy refuses requests not sent over TLS.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_Boolean"""
    bucket = resource_policy(
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [BUCKET, f"{BUCKET}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        name="DataBucketPolicy",
    )
    role = identity(allow("s3:GetObject", f"{BUCKET}/*"))

    assert decide([role], "s3:GetObject", OBJECT, {"aws:SecureTransport": "true"}, on=bucket).allowed
    refused = decide([role], "s3:GetObject", OBJECT, {"aws:SecureTransport": "false"}, on=bucket)
    assert (refused.kind, refused.denied_by) == ("explicit_deny", "resource")


def test_cloudwatch_namespace_scopes_put_metric_data() -> None:
    """cloudwatch:namespace (here StringLike) limits the namespaces a principal may publish metrics in.
    https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/iam-cw-condition-keys-namespace.html"""
    role = identity(
        allow(
            "cloudwatch:PutMetricData",
            "*",
            Condition={"StringLike": {"cloudwatch:namespace": "/aws/sagemaker/*"}},
        )
    )

    def puts(context: dict[str, Any]) -> bool:
        return decide([role], "cloudwatch:PutMetricData", "*", context).allowed

    assert puts({"cloudwatch:namespace": "/aws/sagemaker/TrainingJobs"})
    assert not puts({"cloudwatch:namespace": "retune"})
    assert not puts({})


def test_kms_encryption_context_lets_logs_encrypt_only_lambda_log_groups() -> None:
    """kms:EncryptionContext:context-key (here ArnLike on aws:logs:arn, a key name holding colons) in the key
    policy: CloudWatch Logs may use the key for the functions' log groups only.
    https://docs.aws.amazon.com/kms/latest/developerguide/conditions-kms.html#conditions-kms-encryption-context"""
    logs = Caller("logs.us-east-1.amazonaws.com", "")
    key = resource_policy(
        ROOT_DELEGATION,
        {
            "Sid": "CloudWatchLogsEncryptsFunctionLogs",
            "Effect": "Allow",
            "Principal": {"Service": "logs.us-east-1.amazonaws.com"},
            "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
            "Resource": "*",
            "Condition": {
                "ArnLike": {
                    "kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/*"
                }
            },
        },
        name="EncryptionKey",
    )
    group = f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:"

    def encrypts(log_group: str) -> Decision:
        context = {"kms:EncryptionContext:aws:logs:arn": group + log_group}
        return decide([], "kms:GenerateDataKey", KEY, context, caller=logs, on=key, key_policy=True)

    assert encrypts("/aws/lambda/retune-StartRound").allowed
    assert encrypts("/aws/other").denied_by == "key"


# --- policy variables -------------------------------------------------------------------------------------


def test_policy_variables_in_resource_are_replaced_from_the_request_context() -> None:
    """${key} in Resource is replaced by the context key's value; a key without a value makes the resource not
    match. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html"""
    role = identity(allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*"))

    assert decide(
        [role], "s3:GetObject", "arn:aws:s3:::home/johndoe/notes", {"aws:username": "johndoe"}
    ).allowed
    assert not decide(
        [role], "s3:GetObject", "arn:aws:s3:::home/jane/notes", {"aws:username": "johndoe"}
    ).allowed
    assert not decide([role], "s3:GetObject", "arn:aws:s3:::home/johndoe/notes", {}).allowed
    # A variable's value is literal: "*" in it is no wildcard.
    assert not decide([role], "s3:GetObject", "arn:aws:s3:::home/jane/notes", {"aws:username": "*"}).allowed


def test_a_policy_variable_may_stand_for_the_account() -> None:
    """${aws:PrincipalAccount} in an ARN's account component, as AWS's own managed policies write it
    (arn:*:kms:*:${aws:PrincipalAccount}:key/*). https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html
    and https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalaccount"""
    role = identity(allow("kms:Decrypt", "arn:*:kms:*:${aws:PrincipalAccount}:key/*"))

    assert decide([role], "kms:Decrypt", KEY, {"aws:PrincipalAccount": ACCOUNT}).allowed
    assert not decide([role], "kms:Decrypt", KEY, {"aws:PrincipalAccount": "999999999999"}).allowed


def test_policy_variables_need_version_2012_10_17() -> None:
    """Without Version 2012-10-17 (2008-10-17, or no Version) ${...} is literal text.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html"""
    context = {"aws:username": "johndoe"}
    for version in ("2008-10-17", None):
        role = identity(allow("s3:GetObject", "arn:aws:s3:::home/${aws:username}/*"), version=version)
        assert not decide([role], "s3:GetObject", "arn:aws:s3:::home/johndoe/notes", context).allowed
        assert decide([role], "s3:GetObject", "arn:aws:s3:::home/${aws:username}/notes", context).allowed


def test_special_character_variables_and_defaults() -> None:
    """${*}, ${?} and ${$} stand for the literal characters; ${key, 'default'} gives a value when the key has none.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html"""
    literal = identity(allow("s3:GetObject", "arn:aws:s3:::b/${*}${?}${$}"))
    assert decide([literal], "s3:GetObject", "arn:aws:s3:::b/*?$").allowed
    assert not decide([literal], "s3:GetObject", "arn:aws:s3:::b/xy$").allowed

    defaulted = identity(allow("s3:GetObject", "arn:aws:s3:::home/${aws:userid, 'anonymous'}/*"))
    assert decide([defaulted], "s3:GetObject", "arn:aws:s3:::home/anonymous/x").allowed
    assert decide([defaulted], "s3:GetObject", "arn:aws:s3:::home/AIDA1/x", {"aws:userid": "AIDA1"}).allowed


def test_policy_variables_in_condition_values() -> None:
    """Variables work in String and Arn condition values; a variable with no value fails its value's test, so a
    negated operator cannot hold on it either (the stricter reading of "the statement is invalid"); a multivalued
    key cannot be a variable. https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html"""
    owner = {"StringEquals": {"aws:ResourceTag/owner": "${aws:username}"}}
    assert holds(owner, {"aws:ResourceTag/owner": "johndoe", "aws:username": "johndoe"})
    assert not holds(owner, {"aws:ResourceTag/owner": "jane", "aws:username": "johndoe"})
    assert not holds(owner, {"aws:ResourceTag/owner": "johndoe"})
    assert not holds(owner, {"aws:ResourceTag/owner": "johndoe", "aws:username": ["johndoe"]})

    not_owner = {"StringNotEquals": {"aws:ResourceTag/owner": "${aws:username}"}}
    assert holds(not_owner, {"aws:ResourceTag/owner": "jane", "aws:username": "johndoe"})
    assert not holds(not_owner, {"aws:ResourceTag/owner": "jane"})

    own_account = {"ArnLike": {"aws:SourceArn": "arn:aws:events:*:${aws:PrincipalAccount}:rule/*"}}
    assert holds(own_account, {"aws:SourceArn": RULE, "aws:PrincipalAccount": ACCOUNT})
    assert not holds(own_account, {"aws:SourceArn": RULE, "aws:PrincipalAccount": "999999999999"})


# --- malformed policies -----------------------------------------------------------------------------------

MALFORMED = [
    # statement, kind, element named, statement named, words in the message
    (
        {"Sid": "Read", **allow("s3:GetObject", Condition={"StringEqual": {"k:k": "v"}})},
        "identity",
        "Condition",
        "Read",
        "StringEqual",
    ),
    (
        allow("s3:GetObject", Condition={"ForSomeValues:StringEquals": {"k:k": "v"}}),
        "identity",
        "Condition",
        "#0",
        "ForSomeValues",
    ),
    (
        allow("s3:GetObject", Condition={"NullIfExists": {"k:k": "true"}}),
        "identity",
        "Condition",
        "#0",
        "Null",
    ),
    (allow("s3:GetObject", Condition={"Null": {"k:k": "maybe"}}), "identity", "Condition", "#0", "maybe"),
    (
        allow("s3:GetObject", Condition={"NumericEquals": {"k:k": "ten"}}),
        "identity",
        "Condition",
        "#0",
        "ten",
    ),
    (allow("s3:GetObject", Condition={"Bool": {"k:k": "yes"}}), "identity", "Condition", "#0", "yes"),
    (
        allow("s3:GetObject", Condition={"ArnLike": {"aws:SourceArn": "*"}}),
        "identity",
        "Condition",
        "#0",
        "ARN",
    ),
    ({"Action": "s3:GetObject", "Resource": "*"}, "identity", "Effect", "#0", "missing"),
    (
        {"Sid": "Lower", "Effect": "allow", "Action": "s3:GetObject", "Resource": "*"},
        "identity",
        "Effect",
        "Lower",
        "'allow'",
    ),
    (
        {**allow("s3:GetObject"), "NotAction": "s3:PutObject"},
        "identity",
        "Action/NotAction",
        "#0",
        "not both",
    ),
    ({"Effect": "Allow", "Resource": "*"}, "identity", "Action", "#0", "missing"),
    ({"Effect": "Allow", "Action": "s3:GetObject"}, "identity", "Resource", "#0", "missing"),
    ({**allow("s3:GetObject"), "NotResource": "*"}, "identity", "Resource/NotResource", "#0", "not both"),
    (allow("GetObject"), "identity", "Action", "#0", "not an action"),
    (allow("s3:GetObject", "bucket/key"), "identity", "Resource", "#0", "not an ARN"),
    ({**allow("s3:GetObject"), "Principal": "*"}, "identity", "Principal", "#0", "identity-based"),
    ({**allow("s3:GetObject"), "Condtion": {}}, "identity", "Condtion", "#0", "not a statement element"),
    (allow("s3:GetObject"), "resource", "Principal", "#0", "missing"),
    (
        allow("s3:GetObject", Principal={"AWS": f"arn:aws:iam::{ACCOUNT}:role/*"}),
        "resource",
        "Principal",
        "#0",
        "wildcard",
    ),
    (allow("s3:GetObject", Principal={"Group": "admins"}), "resource", "Principal", "#0", "Group"),
]


@pytest.mark.parametrize(("statement", "kind", "element", "where", "words"), MALFORMED)
def test_a_malformed_policy_is_a_policy_error_naming_policy_statement_and_element(
    statement: dict[str, Any], kind: Any, element: str, where: str, words: str
) -> None:
    """Every statement needs Effect (Allow or Deny) and exactly one of Action/NotAction; identity policies need
    exactly one of Resource/NotResource and no Principal; resource policies need a Principal; condition operators
    and qualifiers are a fixed set. Anything else is refused loudly.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_grammar.html and
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements.html"""
    with pytest.raises(PolicyError) as raised:
        Policy.parse({"Version": "2012-10-17", "Statement": [statement]}, "StartRoundRole", kind=kind)

    error = raised.value
    assert (error.policy, error.statement, error.element) == ("StartRoundRole", where, element)
    assert words in str(error)
    assert str(error).startswith(f"StartRoundRole statement {where}: {element}: ")


@pytest.mark.parametrize(
    ("document", "element"),
    [
        ({"Version": "2012-10-18", "Statement": [allow("s3:GetObject")]}, "Version"),
        ({"Version": "2012-10-17"}, "Statement"),
        ({"Version": "2012-10-17", "Statement": []}, "Statement"),
        ({"Version": "2012-10-17", "Statement": [allow("s3:GetObject")], "Statements": []}, "Statements"),
        ("{not json", "document"),
    ],
)
def test_a_malformed_document_is_a_policy_error(document: Any, element: str) -> None:
    """A policy has Version (2012-10-17 or 2008-10-17, or none), an optional Id and a Statement (one or a list).
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_version.html and
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_statement.html"""
    with pytest.raises(PolicyError) as raised:
        Policy.parse(document, "Role")
    assert (raised.value.policy, raised.value.statement, raised.value.element) == ("Role", None, element)


def test_a_single_statement_object_an_id_and_a_json_string_are_accepted() -> None:
    """Statement may be one object rather than a list; Id is optional; a policy may come as JSON text.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_statement.html"""
    document = {"Version": "2008-10-17", "Id": "key-default-1", "Statement": allow("s3:GetObject", OBJECT)}

    policy = Policy.parse(json.dumps(document), "Role")

    assert [s.label for s in policy.statements] == ["Role#0"]
    assert decide([policy], "s3:GetObject", OBJECT).allowed


# --- messages ---------------------------------------------------------------------------------------------

PREFIX = f"User: {SESSION.arn} is not authorized to perform:"


@pytest.mark.parametrize(
    ("decision", "resource", "message"),
    [
        (
            Decision(False, "implicit_deny", None, (), "identity"),
            OBJECT,
            f"{PREFIX} s3:GetObject on resource: {OBJECT} because no identity-based policy allows the s3:GetObject action",
        ),
        (
            Decision(False, "implicit_deny", None, (), "identity"),
            "*",
            f"{PREFIX} s3:GetObject because no identity-based policy allows the s3:GetObject action",
        ),
        (
            Decision(False, "explicit_deny", None, (), "identity"),
            OBJECT,
            f"{PREFIX} s3:GetObject on resource: {OBJECT} with an explicit deny in an identity-based policy",
        ),
        (
            Decision(False, "explicit_deny", None, (), "resource"),
            OBJECT,
            f"{PREFIX} s3:GetObject on resource: {OBJECT} with an explicit deny in a resource-based policy",
        ),
        (
            Decision(False, "explicit_deny", None, (), "key"),
            OBJECT,
            f"{PREFIX} s3:GetObject on resource: {OBJECT} with an explicit deny in a resource-based policy",
        ),
        (
            Decision(False, "implicit_deny", None, (), "key"),
            OBJECT,
            f"{PREFIX} s3:GetObject on resource: {OBJECT} because no resource-based policy allows the s3:GetObject action",
        ),
    ],
)
def test_denial_message_has_aws_wording(decision: Decision, resource: str, message: str) -> None:
    """AWS's access denied wording: "User: ARN is not authorized to perform: ACTION on resource: RESOURCE because
    no TYPE policy allows the ACTION action" or "... with an explicit deny in a TYPE policy"; no "on resource"
    for "*". https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html"""
    assert denial_message(SESSION, Request("s3:GetObject", resource, {}), decision) == message


def test_denial_message_of_a_real_decision_and_of_an_allowed_one() -> None:
    """The message follows the decision evaluate made; an allowed request has no denial message.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html"""
    request = Request("cloudwatch:GetMetricData", "*", {})
    decision = evaluate(SESSION, request, [identity(allow("cloudwatch:PutMetricData"))])

    assert denial_message(SESSION, request, decision) == (
        f"{PREFIX} cloudwatch:GetMetricData because no identity-based policy allows the cloudwatch:GetMetricData action"
    )
    with pytest.raises(ValueError, match="allowed"):
        denial_message(SESSION, request, evaluate(SESSION, request, [identity(allow("cloudwatch:*"))]))


# --- the mutation test's tools, wrong inputs, speed ------------------------------------------------------


def test_without_removes_one_statement_and_keeps_the_others_labels() -> None:
    """Removing the only statement that allows a call denies it; the other statements keep their labels.
    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html"""
    role = identity({"Sid": "Read", **allow("s3:GetObject", OBJECT)}, allow("s3:PutObject", OBJECT))
    read, write = role.statements

    smaller = role.without(read)

    assert smaller.statements == (write,)
    assert write.label == "Role#1"
    assert decide([role], "s3:GetObject", OBJECT).allowed
    assert not decide([smaller], "s3:GetObject", OBJECT).allowed
    with pytest.raises(ValueError, match="not a statement of"):
        smaller.without(read)


def test_policies_passed_as_the_wrong_kind_are_refused() -> None:
    """Identity-based and resource-based policies are evaluated differently, so mixing them up is an error, as is
    key_policy without the key's policy. https://docs.aws.amazon.com/IAM/latest/UserGuide/access_policies_identity-vs-resource.html"""
    role = identity(allow("s3:GetObject"))
    bucket = resource_policy(allow("s3:GetObject", Principal="*"))

    with pytest.raises(ValueError, match="resource-based policy"):
        decide([bucket], "s3:GetObject")
    with pytest.raises(ValueError, match="identity-based policy"):
        decide([], "s3:GetObject", on=role)
    with pytest.raises(ValueError, match="key_policy"):
        decide([role], "kms:Decrypt", key_policy=True)


def test_patterns_are_compiled_once_not_per_request() -> None:
    """The local stack evaluates every call: fixed patterns compile at parse, variable ones once per value."""
    role = identity(
        allow(
            "s3:Get*",
            [f"{BUCKET}/*", "arn:aws:s3:::home/${aws:username}/*"],
            Condition={"StringLike": {"s3:prefix": ["home/${aws:username}/*", "public/*"]}},
        ),
    )
    request = Request(
        "s3:GetObject",
        "arn:aws:s3:::home/johndoe/x",
        {"aws:username": "johndoe", "s3:prefix": "home/johndoe/a"},
    )
    assert evaluate(SESSION, request, [role]).allowed
    misses = policy_module._compile.cache_info().misses

    for _ in range(200):
        assert evaluate(SESSION, request, [role]).allowed

    assert policy_module._compile.cache_info().misses == misses


def test_every_aws_managed_policy_moto_bundles_parses() -> None:
    """The local stack reads the AWS managed policies the template attaches from moto's bundled copy; the parser
    takes all of them (NotAction, NotResource, set qualifiers, IfExists, variables in an ARN's account)."""
    from moto.iam.aws_managed_policies import aws_managed_policies_data  # noqa: PLC0415

    documents = json.loads(aws_managed_policies_data)
    policies = [Policy.parse(entry["Document"], name) for name, entry in documents.items()]

    assert len(policies) == len(documents) > 1000
    basic = Policy.parse(documents["AWSLambdaBasicExecutionRole"]["Document"], "AWSLambdaBasicExecutionRole")
    logs = Request(
        "logs:PutLogEvents", f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/lambda/f:log-stream:s", {}
    )
    assert evaluate(SESSION, logs, [basic]).allowed


# --- the template's own policies --------------------------------------------------------------------------

RESOURCE_POLICY_TYPES = {"AWS::S3::BucketPolicy", "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy"}


TRACKING_SERVER = f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:mlflow-tracking-server/team"


@pytest.mark.infrastructure
@pytest.mark.parametrize("tracking_server", ["", TRACKING_SERVER])
def test_every_policy_document_of_the_transformed_template_parses(tracking_server: str) -> None:
    """Every PolicyDocument, KeyPolicy and AssumeRolePolicyDocument of the SAM-transformed template parses, as
    identity-based (role policies) or resource-based (bucket, queue, topic, key and trust policies) policy; with and
    without a tracking server (Track's resources exist only with one)."""
    require_sam()
    parameters = {"TrackingServer": tracking_server} if tracking_server else {}
    template = transformed(parameters=parameters)
    resolver = Resolver(template, parameters=dict(parameters))
    resolver.name_everything()
    table = resolver.get_att("StateTable", "Arn")
    resolver.attributes[("StateTable", "StreamArn")] = f"{table}/stream/2026-01-01T00:00:00.000"

    parsed: dict[str, Policy] = {}
    for logical_id, spec in template["Resources"].items():
        if not resolver.resource_enabled(logical_id):
            continue
        properties = spec.get("Properties") or {}
        documents: list[tuple[str, Any, Literal["identity", "resource"]]] = []
        if spec["Type"] in RESOURCE_POLICY_TYPES:
            documents.append(("PolicyDocument", properties["PolicyDocument"], "resource"))
        elif "PolicyDocument" in properties:
            documents.append(("PolicyDocument", properties["PolicyDocument"], "identity"))
        if "KeyPolicy" in properties:
            documents.append(("KeyPolicy", properties["KeyPolicy"], "resource"))
        if "AssumeRolePolicyDocument" in properties:
            documents.append(("AssumeRolePolicyDocument", properties["AssumeRolePolicyDocument"], "resource"))
        for inline in properties.get("Policies") or []:
            documents.append((f"Policies/{inline['PolicyName']}", inline["PolicyDocument"], "identity"))
        for element, document, kind in documents:
            resolved = resolver.resolve(document)
            name = f"{logical_id}.{element}"
            parsed[name] = Policy.parse(resolved, name, kind=kind)
            statements = resolved["Statement"]
            assert len(parsed[name].statements) == (1 if isinstance(statements, dict) else len(statements))

    assert "EncryptionKey.KeyPolicy" in parsed
    assert "DataBucketPolicy.PolicyDocument" in parsed
    assert sum(name.endswith("AssumeRolePolicyDocument") for name in parsed) >= 6
    assert sum(".Policies/" in name for name in parsed) >= 5
