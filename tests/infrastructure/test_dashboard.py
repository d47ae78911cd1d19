"""The dashboard and the alarms in template.yaml: a valid body that shows only metrics that exist, and alarms that
reach a person (issue 10, CloudWatch).

Fast and offline: the template is read as YAML; the metric names the code emits are read from its source (AST), and
the namespace and dimensions of the embedded metric format from Powertools itself. cfn-lint and `sam validate
--lint` run over the whole template, this part included, in test_lint.py.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from retune.observability import PowertoolsMetrics, metrics

from tests.infrastructure.conftest import ROOT

FUNCTIONS = ("StartRound", "RecordTrial", "CloseRound", "Promote", "Reconcile")
TOPIC = {"Ref": "AlertsTopic"}
PSEUDO = {"AWS::Region", "AWS::AccountId", "AWS::Partition", "AWS::StackName", "AWS::URLSuffix"}
# The AWS metrics the dashboard may show, with the dimension that names a resource of the stack, and the attribute
# of that resource (None: its Ref) and the resource type the dimension value must come from.
AWS_METRICS = {
    ("AWS/Lambda", "Errors"): ("FunctionName", None, "AWS::Serverless::Function"),
    ("AWS/Lambda", "Duration"): ("FunctionName", None, "AWS::Serverless::Function"),
    ("AWS/Lambda", "Invocations"): ("FunctionName", None, "AWS::Serverless::Function"),
    ("AWS/Lambda", "Throttles"): ("FunctionName", None, "AWS::Serverless::Function"),
    ("AWS/SQS", "ApproximateNumberOfMessagesVisible"): ("QueueName", "QueueName", "AWS::SQS::Queue"),
}
SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


# ---------------------------------------------------------------- helpers


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def unconditional(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    """The resources every stack has: the dashboard's !Sub cannot name one that a condition may leave out
    (Track's, without a tracking server); their alarms still reach the topic (test_alarms_*)."""
    return {name: r for name, r in resources(template, kind).items() if "Condition" not in r}


def dashboard_source(template: dict[str, Any]) -> str:
    (dashboard,) = resources(template, "AWS::CloudWatch::Dashboard").values()
    body = dashboard["Properties"]["DashboardBody"]
    assert isinstance(body, dict) and isinstance(body.get("Fn::Sub"), str), (
        "DashboardBody should be a !Sub string"
    )
    return str(body["Fn::Sub"])


def placeholder(variable: str) -> str:
    return f"<{variable}>"


def substituted(template: dict[str, Any]) -> dict[str, Any]:
    """The body as CloudFormation renders it, each ${X} or ${X.Attr} replaced by a placeholder `<X>`/`<X.Attr>`."""
    text = SUB_VARIABLE.sub(lambda m: placeholder(m.group(1)), dashboard_source(template))
    body: dict[str, Any] = json.loads(text)
    return body


def metric_rows(body: dict[str, Any]) -> Iterator[tuple[str, list[Any]]]:
    """(widget title, metric array) for every metric the dashboard plots."""
    for widget in body["widgets"]:
        if widget["type"] != "metric":
            continue
        for row in widget["properties"]["metrics"]:
            yield widget["properties"]["title"], row


def emitted_metric_names() -> set[str]:
    """Every metric name the deployed package emits: the string constants in the name argument of
    `<metrics>.count(...)` (MetricsPort) and `add_metric(name=...)` (Powertools) calls."""
    names: set[str] = set()
    for path in (ROOT / "layers" / "core" / "retune").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            argument: ast.expr | None = None
            if node.func.attr == "count" and node.args:
                argument = node.args[0]
            elif node.func.attr == "add_metric":
                argument = next((k.value for k in node.keywords if k.arg == "name"), None)
            if argument is None:
                continue
            names.update(
                c.value
                for c in ast.walk(argument)
                if isinstance(c, ast.Constant)
                and isinstance(c.value, str)
                and re.fullmatch(r"[A-Z]\w+", c.value)
            )
    return names


def emf_identity() -> tuple[str, dict[str, str]]:
    """The namespace and the dimension set of the functions' metrics, as Powertools writes them."""
    metrics.clear_metrics()
    try:
        PowertoolsMetrics().count("DropsFailed")
        document: dict[str, Any] = dict(metrics.serialize_metric_set())
    finally:
        metrics.clear_metrics()
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    (dimension_set,) = directive["Dimensions"]
    return directive["Namespace"], {name: document[name] for name in dimension_set}


# ---------------------------------------------------------------- the dashboard


def test_dashboard_body_is_json_after_substitution(template: dict[str, Any]) -> None:
    body = substituted(template)
    assert body["widgets"], "the dashboard has no widgets"
    for widget in body["widgets"]:
        assert {"type", "x", "y", "width", "height", "properties"} <= set(widget)
        assert widget["x"] >= 0 and widget["x"] + widget["width"] <= 24, widget


def test_dashboard_substitutes_only_what_the_template_defines(template: dict[str, Any]) -> None:
    variables = SUB_VARIABLE.findall(dashboard_source(template))
    assert variables
    for variable in variables:
        if variable in PSEUDO or variable in template.get("Parameters", {}):
            continue
        resource, _, attribute = variable.partition(".")
        assert resource in template["Resources"], f"${{{variable}}} names no resource"
        kind = template["Resources"][resource]["Type"]
        allowed = {
            "AWS::SQS::Queue": {"", "QueueName", "Arn"},
            "AWS::CloudWatch::Alarm": {"", "Arn"},
            "AWS::Serverless::Function": {"", "Arn"},
        }.get(kind, {""})
        assert attribute in allowed, f"${{{variable}}}: {kind} has no {attribute or 'Ref'} for the dashboard"


def test_dashboard_shows_only_metrics_the_code_emits_or_aws_publishes(template: dict[str, Any]) -> None:
    emitted = emitted_metric_names()
    namespace, dimensions = emf_identity()
    for title, row in metric_rows(substituted(template)):
        assert isinstance(row[-1], dict), f"{title}: every line has a label"
        source, name, *pairs = row[:-1]
        dimension = dict(zip(pairs[::2], pairs[1::2], strict=True))
        if source == namespace:
            assert name in emitted, f"{title}: {name} is not a metric the code emits"
            assert dimension == dimensions, (
                f"{title}: {name} must name exactly the dimensions Powertools writes"
            )
            continue
        assert (source, name) in AWS_METRICS, (
            f"{title}: {source} {name} is not an AWS metric the dashboard knows"
        )
        key, attribute, kind = AWS_METRICS[(source, name)]
        assert set(dimension) == {key}, f"{title}: {source} {name} by {key} only"
        value = dimension[key]
        match = re.fullmatch(r"<(\w+)(?:\.(\w+))?>", value)
        assert match, f"{title}: {value} is not a resource of this stack"
        assert template["Resources"][match.group(1)]["Type"] == kind, f"{title}: {value} is not a {kind}"
        assert match.group(2) == attribute, f"{title}: {value} should use {attribute or 'Ref'}"


def test_dashboard_shows_the_issues_metrics(template: dict[str, Any]) -> None:
    namespace, _ = emf_identity()
    shown = {row[1] for _, row in metric_rows(substituted(template)) if row[0] == namespace}
    assert {
        "RoundsStarted",
        "RoundsClosed",
        "RoundsFailed",
        "TrialsRecorded",
        "TrialsStoppedEarly",
        "ComputeSeconds",
        "ComputeSecondsSaved",
        "ModelsPromoted",
        "ModelsNotPromoted",
        "DropsFailed",
        "DropsQueued",
        "DropsSuperseded",
    } <= shown


def test_dashboard_shows_every_function_and_every_parked_queue(template: dict[str, Any]) -> None:
    rows = [row for _, row in metric_rows(substituted(template))]
    for metric in ("Errors", "Duration"):
        shown = {row[3] for row in rows if row[:2] == ["AWS/Lambda", metric]}
        assert shown == {placeholder(f"{f}Function") for f in FUNCTIONS}, metric
    depths = {row[3] for row in rows if row[:2] == ["AWS/SQS", "ApproximateNumberOfMessagesVisible"]}
    assert depths == {placeholder(f"{q}.QueueName") for q in unconditional(template, "AWS::SQS::Queue")}


def test_dashboard_shows_every_alarm(template: dict[str, Any]) -> None:
    shown = {
        alarm
        for widget in substituted(template)["widgets"]
        if widget["type"] == "alarm"
        for alarm in widget["properties"]["alarms"]
    }
    assert shown == {placeholder(f"{a}.Arn") for a in unconditional(template, "AWS::CloudWatch::Alarm")}


# ---------------------------------------------------------------- the alarms


def test_alarms_every_action_is_the_alerts_topic(template: dict[str, Any]) -> None:
    alarms = resources(template, "AWS::CloudWatch::Alarm")
    assert alarms
    for name, alarm in alarms.items():
        properties = alarm["Properties"]
        assert properties["AlarmActions"] == [TOPIC], name
        for kind in ("OKActions", "InsufficientDataActions"):
            assert properties.get(kind, [TOPIC]) == [TOPIC], f"{name} {kind}"


def test_alarms_topic_key_admits_cloudwatch(template: dict[str, Any]) -> None:
    topic = template["Resources"]["AlertsTopic"]["Properties"]
    key = topic["KmsMasterKeyId"]
    assert key == {"Ref": "EncryptionKey"}, "alarms cannot publish to a topic under an AWS-managed key"
    statements = template["Resources"]["EncryptionKey"]["Properties"]["KeyPolicy"]["Statement"]
    granted = {
        action
        for s in statements
        if s["Effect"] == "Allow" and "cloudwatch.amazonaws.com" in str(s["Principal"].get("Service", ""))
        for action in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    assert {"kms:Decrypt", "kms:GenerateDataKey*"} <= granted
    (policy,) = resources(template, "AWS::SNS::TopicPolicy").values()
    assert any(
        s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} and s["Action"] == "sns:Publish"
        for s in policy["Properties"]["PolicyDocument"]["Statement"]
    )


@pytest.mark.parametrize("metric", ["DropsFailed", "RoundsFailed", "TrackRecordsRefused"])
def test_alarms_on_retunes_metrics_match_what_powertools_emits(template: dict[str, Any], metric: str) -> None:
    assert metric in emitted_metric_names()
    namespace, dimensions = emf_identity()
    found = [
        a["Properties"]
        for a in resources(template, "AWS::CloudWatch::Alarm").values()
        if a["Properties"].get("MetricName") == metric
    ]
    assert len(found) == 1, f"one alarm on {metric}"
    (alarm,) = found
    assert alarm["Namespace"] == namespace
    # CloudWatch identifies a metric by namespace, name and its whole dimension set: a subset sees nothing.
    assert {d["Name"]: d["Value"] for d in alarm["Dimensions"]} == dimensions
    assert alarm["Statistic"] == "Sum"
    assert (alarm["ComparisonOperator"], alarm["Threshold"]) == ("GreaterThanThreshold", 0)
    assert alarm["TreatMissingData"] == "notBreaching"
