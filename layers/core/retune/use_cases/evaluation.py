"""The evaluation job's request, shared by CloseRound (a round's first evaluation) and Promote (an evaluation made
again because the champion changed while the first ran)."""

from __future__ import annotations

from typing import Any

from retune.profile import Profile
from retune.records import ChampionRecord, DropRecord, RoundRecord
from retune.requests import channel_manifest_key, evaluation_job_request, s3_uri


def evaluation_request(
    rnd: RoundRecord,
    profile: Profile,
    drop: DropRecord,
    champion: ChampionRecord | None,
    *,
    data_bucket: str,
    role_arn: str,
) -> dict[str, Any]:
    """CreateTrainingJob for the round's evaluation named in its record: its challenger against `champion` on the
    drop's held-out test channel."""
    assert rnd.evaluation is not None and rnd.best_model_artifact is not None
    test_channel = profile.evaluation.test_channel
    content_types = drop.channel_content_types() or {}
    return evaluation_job_request(
        profile=profile,
        seq=rnd.seq,
        drop_id=rnd.drop_id,
        bucket=data_bucket,
        challenger_model=rnd.best_model_artifact,
        champion_model=champion.model_artifact if champion else None,
        test_manifest=s3_uri(data_bucket, channel_manifest_key(rnd.profile, rnd.drop_id, test_channel)),
        test_content_type=content_types.get(test_channel),
        role_arn=role_arn,
        name=rnd.evaluation.job_name,
    )
