"""Security of the template: checkov finds nothing the template does not skip with a written reason, on the
template as written and as the SAM transform makes it; and, on both, no IAM statement allows a `*` action, no
PassRole is unscoped, a `*` resource is only for actions that have no resource type, every bucket refuses
plain HTTP, and every table, topic, queue and log group is encrypted.

test_template.py pins retune's own resources one by one; these hold for every resource of each type, including
the roles and rules SAM generates and any added later. (The `*` resource comment is checked there, on the
template's text.) `make security` runs the same checkov commands.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.infrastructure.conftest import ROOT, TEMPLATE
from tests.infrastructure.test_lint import transformed
from tests.infrastructure.test_template import (
    ACTIONS_WITHOUT_RESOURCE_TYPES,
    as_list,
    identity_statements,
    props,
    resources,
)

pytestmark = pytest.mark.infrastructure

CHECKOV = ROOT / ".venv-tools" / "checkov" / "bin" / "checkov"


def checkov(path: Path) -> dict[str, Any]:
    if not CHECKOV.exists():
        pytest.skip(f"checkov is not installed at {CHECKOV.relative_to(ROOT)}: `make tools` installs it")
    # Offline: no guidelines download, no call to checkov's platform.
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "LOG_LEVEL": "WARNING"}
    result = subprocess.run(
        [str(CHECKOV), "-f", str(path), "--framework", "cloudformation", "--skip-download", "-o", "json"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    report = json.loads(result.stdout)
    assert isinstance(report, dict), report  # one framework: one report
    return report


def failed(report: dict[str, Any]) -> list[str]:
    return [f"{c['check_id']} {c['resource']}: {c['check_name']}" for c in report["results"]["failed_checks"]]


@pytest.fixture(scope="module")
def transformed_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return transformed(tmp_path_factory.mktemp("transform"))


def test_security_checkov_passes_on_the_template() -> None:
    report = checkov(TEMPLATE)
    assert failed(report) == []
    assert report["summary"]["passed"] > 0 and report["summary"]["parsing_errors"] == 0


def test_security_checkov_passes_on_the_profile_role_template() -> None:
    report = checkov(ROOT / "roles" / "profile-role.yaml")
    assert failed(report) == []
    assert report["summary"]["passed"] > 0 and report["summary"]["parsing_errors"] == 0


def test_security_checkov_passes_on_the_transformed_template(
    transformed_template: tuple[Path, dict[str, Any]],
) -> None:
    path, _ = transformed_template
    report = checkov(path)
    assert failed(report) == []
    assert report["summary"]["parsing_errors"] == 0


def test_security_every_checkov_skip_says_why(template: dict[str, Any]) -> None:
    skips = 0
    for name, resource in template["Resources"].items():
        for skip in (resource.get("Metadata") or {}).get("checkov", {}).get("skip", []):
            skips += 1
            assert str(skip.get("id", "")).startswith("CKV"), f"{name}: {skip}"
            assert len(str(skip.get("comment", "")).split()) >= 8, (
                f"{name} skips {skip['id']} without a reason"
            )
    assert skips > 0


@pytest.fixture(params=["as written", "transformed"])
def each(
    request: pytest.FixtureRequest,
    template: dict[str, Any],
    transformed_template: tuple[Path, dict[str, Any]],
) -> dict[str, Any]:
    return template if request.param == "as written" else transformed_template[1]


def test_security_no_iam_statement_allows_a_wildcard_action(each: dict[str, Any]) -> None:
    for owner, statement in identity_statements(each):
        if statement.get("Effect") != "Allow":
            continue
        assert "NotAction" not in statement, owner
        for action in as_list(statement["Action"]):
            assert "*" not in str(action), f"{owner} allows {action}"


def test_security_pass_role_is_always_scoped(each: dict[str, Any]) -> None:
    for owner, statement in identity_statements(each):
        if "iam:PassRole" not in as_list(statement.get("Action", [])):
            continue
        assert "*" not in as_list(statement["Resource"]), f"{owner} may pass any role"
        condition = statement.get("Condition", {}).get("StringEquals", {})
        assert condition.get("iam:PassedToService"), f"{owner} may pass the role to any service"


def test_security_wildcard_resources_only_where_actions_have_no_resource_type(each: dict[str, Any]) -> None:
    for owner, statement in identity_statements(each):
        if statement.get("Effect") == "Allow" and "*" in as_list(statement.get("Resource", [])):
            extra = set(as_list(statement["Action"])) - ACTIONS_WITHOUT_RESOURCE_TYPES
            assert not extra, f"{owner} grants {sorted(extra)} on '*'"


def test_security_every_bucket_refuses_plain_http(each: dict[str, Any]) -> None:
    buckets = resources(each, "AWS::S3::Bucket")
    assert buckets
    policies = resources(each, "AWS::S3::BucketPolicy").values()
    for name in buckets:
        denials = [
            statement
            for policy in policies
            if props(policy)["Bucket"] == {"Ref": name}
            for statement in as_list(props(policy)["PolicyDocument"]["Statement"])
            if statement["Effect"] == "Deny"
            and statement.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
            and statement.get("Principal") in ("*", {"AWS": "*"})
        ]
        assert denials, f"{name} accepts requests over plain HTTP"
        denied = [r for d in denials for r in as_list(d["Resource"])]
        assert {"Fn::GetAtt": [name, "Arn"]} in denied, name
        assert {"Fn::Sub": f"${{{name}.Arn}}/*"} in denied, name


@pytest.mark.parametrize(
    ("kind", "encrypted"),
    [
        ("AWS::DynamoDB::Table", lambda p: (p.get("SSESpecification") or {}).get("SSEEnabled") is True),
        ("AWS::SNS::Topic", lambda p: bool(p.get("KmsMasterKeyId"))),
        ("AWS::SQS::Queue", lambda p: bool(p.get("KmsMasterKeyId")) or p.get("SqsManagedSseEnabled") is True),
        ("AWS::Logs::LogGroup", lambda p: bool(p.get("KmsKeyId"))),
    ],
    ids=["table", "topic", "queue", "log-group"],
)
def test_security_every_store_and_channel_is_encrypted(
    each: dict[str, Any], kind: str, encrypted: Any
) -> None:
    found = resources(each, kind)
    assert found, f"no {kind}"
    for name, resource in found.items():
        assert encrypted(props(resource)), f"{name} ({kind}) is not encrypted"
