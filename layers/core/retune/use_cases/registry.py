"""The model registry's side of Promote: a profile's model package group is its own (retune creates it tagged
retune:profile=<profile>), a package becomes a profile's champion only if a round of the profile registered it,
and a registered package's model is kept under registry/, where the bucket's lifecycle does not expire it (unless
it is tagged expirable: a rejected challenger's).
"""

from __future__ import annotations

import logging

from retune.errors import AccessDenied, AlreadyExists, ConditionFailed, NotFound
from retune.naming import package_group
from retune.profile import Profile
from retune.records import ChampionRecord, RoundRecord
from retune.requests import (
    REGISTRY_PREFIX,
    TAG_EXPIRABLE,
    TAG_PROFILE,
    model_package_group_request,
    registry_key,
    s3_uri,
)
from retune.use_cases.promote import PromoteDeps

logger = logging.getLogger(__name__)


def own_group(profile: Profile, champion: ChampionRecord | None, deps: PromoteDeps) -> str | None:
    """Make sure the profile's model package group exists and is the profile's: None, or why it is not.

    retune creates the group tagged retune:profile=<profile> at the profile's first registration (an existing one
    answers "already exists"); a group that exists must carry that tag. Once the champion's package lies in the
    group, one ListTags says so; describing the group first cost every round an error response (botocore then
    builds exception classes from all of SageMaker's model, benchmarks/cold_start.py)."""
    group = profile.model_package_group
    held = package_group(champion.model_package_arn) if champion else None
    if champion is not None and held is not None and held.lower() == group.lower():
        try:
            return _group_refusal(
                profile.name, group, deps.sagemaker.list_tags(_group_arn(champion.model_package_arn))
            )
        except NotFound:
            pass  # deleted by hand since: made again below
    if create_group(profile, deps):
        return None
    arn = str(deps.sagemaker.describe_model_package_group(group)["ModelPackageGroupArn"])
    return _group_refusal(profile.name, group, deps.sagemaker.list_tags(arn))


def _group_refusal(profile: str, group: str, tags: dict[str, str]) -> str | None:
    owner = tags.get(TAG_PROFILE)
    if owner == profile:
        return None
    if owner:
        return (
            f"model package group {group} belongs to profile {owner} (its {TAG_PROFILE} tag); name a group of "
            "this profile's own, or leave the field out"
        )
    return (
        f"model package group {group} was not created by retune for {profile} (it has no {TAG_PROFILE} tag); "
        f"name another, or leave the field out; a group that is this profile's takes the tag {TAG_PROFILE}={profile}"
    )


def _group_arn(package_arn: str) -> str:
    """A versioned package's group: arn:...:model-package/<group>/<version> -> arn:...:model-package-group/<group>."""
    head, _, path = package_arn.partition(":model-package/")
    return f"{head}:model-package-group/{path.split('/')[0]}"


def create_group(profile: Profile, deps: PromoteDeps) -> bool:
    """True when this call created the group (tagged with the profile), False when it existed."""
    try:
        deps.sagemaker.create_model_package_group(model_package_group_request(profile))
    except AlreadyExists:
        return False  # made by an earlier round, by hand, or by a concurrent invocation
    return True


def champion_refusal(
    profile: str, package_arn: str, rnd: RoundRecord | None, deps: PromoteDeps
) -> str | None:
    """Why a package may not become the profile's champion, or None: a round of the profile must record it
    (retune registered it for the profile) and its group must be the profile's."""
    recorded = rnd.decision.model_package_arn if rnd is not None and rnd.decision is not None else None
    if recorded is None or recorded.lower() != package_arn.lower():
        return f"retune did not register it for {profile} (no round of {profile} records it)"
    group = package_group(package_arn) or package_arn
    try:
        tags = deps.sagemaker.list_tags(_group_arn(package_arn))
    except NotFound:
        tags = {}
    return _group_refusal(profile, group, tags)


def s3_parts(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def keep_model(profile: str, package: str, model: str, *, expirable: bool, deps: PromoteDeps) -> str | None:
    """A registered package's model, kept where the bucket's lifecycle never expires it unless it is tagged
    expirable (a rejected challenger's): copied from models/ to registry/ once, or its copy's tag set. The kept
    model's URI; None when it no longer exists. A model outside the data bucket is left where it is."""
    bucket, key = s3_parts(model)
    if bucket != deps.data_bucket:
        return model
    tags = {TAG_EXPIRABLE: "true"} if expirable else {}
    kept = key if key.startswith(REGISTRY_PREFIX) else registry_key(profile, package, key)
    try:
        if deps.bucket.exists(bucket, kept):
            deps.bucket.put_tags(bucket, kept, tags)
        elif kept == key:
            return None  # a rejected challenger's copy, expired
        else:
            deps.bucket.copy(bucket, key, kept, tags=tags)
    except NotFound:
        return None
    except AccessDenied as exc:
        # A model encrypted with a key Promote may not use: left where it is (it expires with models/) rather
        # than holding the profile up; the metric and the log say so.
        deps.metrics.count("ModelsNotKept")
        logger.warning("model not kept", extra={"profile": profile, "model": model, "error": str(exc)})
        return model
    return s3_uri(bucket, kept)


def _package_folder(package_arn: str, seq: int | None) -> str:
    """The package's folder under registry/<profile>/: its round's, else its group's and version's."""
    if seq is not None:
        return f"round-{seq}"
    return "package-" + package_arn.partition(":model-package/")[2].replace("/", "-")


def keep_champion(
    profile: str, deps: PromoteDeps, champion: ChampionRecord | None = None
) -> ChampionRecord | None:
    """A champion registered before retune kept its models has its model under models/, which the lifecycle
    expires: copy it to registry/ and point the champion at the copy (the evaluations read it there). Idempotent;
    run at every decision, so a champion of an earlier release is kept at its profile's next one. The champion
    as it is now."""
    champion = champion or deps.store.get_champion(profile)
    if champion is None:
        return None
    bucket, key = s3_parts(champion.model_artifact)
    if bucket != deps.data_bucket or key.startswith(REGISTRY_PREFIX):
        return champion
    folder = _package_folder(champion.model_package_arn, champion.round_seq)
    kept = keep_model(profile, folder, champion.model_artifact, expirable=False, deps=deps)
    if kept is None:
        logger.error(
            "the champion's model no longer exists",
            extra={"profile": profile, "model": champion.model_artifact},
        )
        return champion
    if kept == champion.model_artifact:
        return champion  # not kept (Promote may not read it): logged by keep_model
    moved = champion.model_copy(update={"model_artifact": kept})
    try:
        deps.store.move_champion_model(moved, expected=champion)
    except ConditionFailed:
        return deps.store.get_champion(profile)  # changed meanwhile: a new champion's model is kept already
    logger.info("champion's model kept", extra={"profile": profile, "model": kept})
    return moved
