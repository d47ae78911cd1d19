"""A role per profile (roles/profile-role.yaml): a profile's jobs read their own data and are denied another
profile's, while the stack's shared role reads every profile's (the risk the per-profile roles close)."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import pytest
from retune_local.images import ImageSpec
from retune_local.stack import LocalStack
from retune_local.template import ROOT

from tests.local.conftest import TOY, TOY_IMAGE, toy_profile, write_drop

pytestmark = pytest.mark.local_stack

SNOOP = Path(__file__).resolve().with_name("snooping_trainer.py")
SNOOP_IMAGE = "retune/snoop"
PROFILE_ROLE = ROOT / "roles" / "profile-role.yaml"


def put_profile(stack: LocalStack, work: Path, name: str, **training: object) -> None:
    doc = toy_profile(max_jobs=1, parallel=1)
    doc["name"] = name
    doc["training"].update(training)
    path = work / f"{name}.json"
    path.write_text(json.dumps(doc))
    stack.put_profile(path)


def snooped(stack: LocalStack, model_uri: str) -> dict[str, str]:
    """What the trainer recorded in its model: S3's answer for its own and the other profile's object."""
    key = model_uri.removeprefix(f"s3://{stack.bucket}/")
    body = stack.client("s3").get_object(Bucket=stack.bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as archive:
        member = archive.extractfile("snoop.json")
        assert member is not None
        answers: dict[str, str] = json.loads(member.read())
        return answers


def test_profile_roles_keep_each_profiles_jobs_to_its_own_data(tmp_path: Path) -> None:
    images = {
        TOY_IMAGE: ImageSpec.python(str(TOY), seconds_per_epoch=10.0),
        SNOOP_IMAGE: ImageSpec.python(str(SNOOP), seconds_per_epoch=10.0),
    }
    with LocalStack(tmp_path / "state", images) as stack:
        roles = {
            profile: stack.deploy_roles(
                PROFILE_ROLE,
                {"RetuneStackName": stack.stack_name, "ProfileName": profile, "DataBucketName": stack.bucket},
                f"retune-role-{profile}",
            )["ProfileRole"]
            for profile in ("alpha", "beta")
        }
        assert roles["alpha"].startswith(f"arn:aws:iam::123456789012:role/retune/{stack.stack_name}/")
        put_profile(stack, tmp_path, "beta", role_arn=roles["beta"])
        stack.drop(write_drop(tmp_path / "beta" / "2015-01-01"), "beta")
        assert stack.wait_for_round("beta", 1).status == "decided"

        own, other = "datasets/{}/2015-01-01/train.csv", "datasets/beta/2015-01-01/train.csv"
        for profile, role in (("alpha", roles["alpha"]), ("shared", None)):
            snoop = f"{stack.bucket},{own.format(profile)},{other}"
            training: dict[str, object] = {
                "image": SNOOP_IMAGE,
                "static_hyperparameters": {"epochs": "4", "patience": "4", "snoop": snoop},
            }
            if role:
                training["role_arn"] = role
            put_profile(stack, tmp_path, profile, **training)
            stack.drop(write_drop(tmp_path / profile / "2015-01-01"), profile)
            rnd = stack.wait_for_round(profile, 1)
            assert rnd.status == "decided" and rnd.best_model_artifact, rnd
            answers = snooped(stack, rnd.best_model_artifact)
            if role:
                assert answers == {"own": "read", "other": "AccessDenied"}, answers
            else:
                assert answers == {"own": "read", "other": "read"}, (
                    answers
                )  # one shared role reads everything

        denied = [
            e
            for e in stack.gate.trace()
            if not e.allowed and e.request.resource == f"arn:aws:s3:::{stack.bucket}/{other}"
        ]
        assert denied and all(e.principal == "retune-role-alpha/ProfileRole" for e in denied), denied
