"""`retune profile validate FILE`: the checks StartRound makes before a round starts, offline.

First the profile itself (its schema: every error names the field and what would be valid), then the first
round's CreateHyperParameterTuningJob request built from it, checked against SageMaker's API model as StartRound
checks it, so a profile that would fail at the first drop fails here.
"""

from __future__ import annotations

from pathlib import Path

from retune.errors import InvalidInput
from retune.manifest import Channel, Manifest
from retune.profile import Profile, parse_profile

from retune_cli.context import Context
from retune_cli.errors import CliError
from retune_cli.output import emit_json

# Stand-ins for what only a deployment knows; they pass SageMaker's own checks.
PLACEHOLDER_BUCKET = "retune-data"
PLACEHOLDER_ROLE = "arn:aws:iam::123456789012:role/retune-sagemaker"


def request_problems(profile: Profile) -> list[str]:
    """What SageMaker would reject in the first round's tuning job request."""
    from retune.planning import round_request  # noqa: PLC0415
    from retune.policy import plan_next_round  # noqa: PLC0415
    from retune.validation import request_errors  # noqa: PLC0415

    channels = [*profile.training.channels, profile.evaluation.test_channel]
    manifest = Manifest(channels={c: Channel(files=[f"{c}.csv"]) for c in channels})
    request = round_request(
        profile=profile,
        manifest=manifest,
        plan=plan_next_round(profile, [], "validate"),
        seq=1,
        drop_id="validate",
        data_bucket=PLACEHOLDER_BUCKET,
        role_arn=PLACEHOLDER_ROLE,
    )
    return [f"tuning job request: {e}" for e in request_errors("CreateHyperParameterTuningJob", request)]


def validate(ctx: Context) -> int:
    path = Path(ctx.args.file)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from None
    name = ctx.args.name or path.stem
    errors: list[str] = []
    profile: Profile | None = None
    try:
        profile = parse_profile(raw, expected_name=name)
    except InvalidInput as exc:
        errors = list(exc.errors)
    if profile is not None:
        errors.extend(request_problems(profile))
    if ctx.json:
        emit_json({"file": str(path), "profile": name, "valid": not errors, "errors": errors})
        return 1 if errors else 0
    if errors:
        print(f"{path}: {len(errors)} error(s)")
        for error in errors:
            print(f"  {error}")
        return 1
    assert profile is not None
    print(
        f"{path}: valid. Profile {profile.name}: {profile.objective.type} {profile.objective.metric_name}; "
        f"{profile.search.strategy} search over {len(profile.search.ranges)} range(s); "
        f"{profile.budget.max_jobs} trials, {profile.budget.max_parallel_jobs} in parallel; "
        f"promotion {profile.promotion.approval} with a {profile.promotion.margin:.2%} margin"
    )
    return 0
