"""What a profile's next round will be: its plan, and the tuning job request that starts it.

Queries, shared by StartRound (which starts the round) and the CLI (`retune plan`, `retune plan --render`,
`retune profile validate`), so that what the CLI shows is what StartRound does. Nothing here writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from retune.incumbents import choose_incumbents
from retune.manifest import Manifest
from retune.plan import Plan
from retune.policy import KNOBS, plan_next_round
from retune.profile import Profile
from retune.records import Incumbent, RoundHistory, TrialRecord
from retune.requests import (
    RoundInputs,
    channel_manifest_key,
    incumbent_job_request,
    s3_uri,
    tuning_job_request,
)
from retune.store import Store


def next_plan(store: Store, profile: Profile, profile_version: str) -> Plan:
    """The plan the profile's next round uses: the stored plan, if it was made for this version of the profile;
    else a fresh one from the history. (`retune plan` shows it.)"""
    stored = store.get_plan(profile.name)
    if stored is not None and stored.profile_version == profile_version:
        return stored
    history = store.history(profile.name, KNOBS.history_rounds)
    return plan_next_round(profile, history, profile_version)


def round_incumbents(store: Store, profile: Profile, plan: Plan, tuning_job: str) -> list[Incumbent]:
    """The incumbents a round starting now retrains first (retune.incumbents): from the stored recent rounds and
    the champion's round (its recorded best trial, which need not be among them)."""
    if plan.incumbents.value <= 0:
        return []
    history = store.history(profile.name, incumbent_window(plan))
    return incumbents_for(profile, plan, tuning_job, history, champion_trial(store, profile.name, history))


def incumbent_window(plan: Plan) -> int:
    """How many recent rounds the incumbents come from: each gives one configuration at most."""
    return max(KNOBS.recent_rounds, plan.incumbents.value)


def incumbents_for(
    profile: Profile,
    plan: Plan,
    tuning_job: str,
    history: list[RoundHistory],
    champion: tuple[int, TrialRecord] | None,
) -> list[Incumbent]:
    """The incumbents from a profile's history (any length: its recent rounds are taken) and the champion's trial:
    StartRound's choice, and the efficiency benchmark's."""
    recent = sorted(history, key=lambda h: h.round.seq)[-incumbent_window(plan) :]
    return choose_incumbents(profile, plan, tuning_job, recent, champion)


def champion_in(history: list[RoundHistory], seq: int) -> tuple[int, TrialRecord] | None:
    """The champion's round and trial from a history holding its round (its recorded best trial)."""
    past = next((h for h in history if h.round.seq == seq), None)
    if past is None or past.round.best_training_job is None:
        return None
    trial = next((t for t in past.trials if t.training_job_name == past.round.best_training_job), None)
    return (seq, trial) if trial is not None else None


def champion_trial(store: Store, profile: str, history: list[RoundHistory]) -> tuple[int, TrialRecord] | None:
    """The champion's round and the trial that made its model; None for no champion or one set by hand."""
    champion = store.get_champion(profile)
    if champion is None or champion.round_seq is None:
        return None
    seq = champion.round_seq
    found = champion_in(history, seq)
    if found is not None:
        return found
    rnd = store.get_round(profile, seq)
    if rnd is None or rnd.best_training_job is None:
        return None
    trial = store.get_trial(profile, seq, rnd.best_training_job)
    return (seq, trial) if trial is not None else None


def incumbent_requests(
    *,
    profile: Profile,
    content_types: Mapping[str, str | None],
    plan: Plan,
    seq: int,
    drop_id: str,
    data_bucket: str,
    role_arn: str,
    tuning_job: str,
    incumbents: list[Incumbent],
) -> list[dict[str, Any]]:
    """The CreateTrainingJob requests of a round's incumbents, in order, exactly as StartRound sends them (the
    efficiency benchmark's harness sends these too)."""
    inputs = _inputs(profile, plan, seq, drop_id, data_bucket, role_arn, content_types)
    return [
        incumbent_job_request(
            **inputs,
            tuning_job=tuning_job,
            name=incumbent.job_name,
            hyperparameters=incumbent.hyperparameters,
        )
        for incumbent in incumbents
    ]


def round_request(
    *,
    profile: Profile,
    manifest: Manifest,
    plan: Plan,
    seq: int,
    drop_id: str,
    data_bucket: str,
    role_arn: str,
    name: str | None = None,
) -> dict[str, Any]:
    """The CreateHyperParameterTuningJob request of a round, exactly as StartRound sends it (`retune plan
    --render` prints it); `name` is the tuning job name the round took (default: its first choice)."""
    return tuning_request(
        profile=profile,
        content_types=content_types_of(manifest),
        plan=plan,
        seq=seq,
        drop_id=drop_id,
        data_bucket=data_bucket,
        role_arn=role_arn,
        name=name,
    )


def content_types_of(manifest: Manifest) -> dict[str, str | None]:
    return {name: channel.content_type for name, channel in manifest.channels.items()}


def tuning_request(
    *,
    profile: Profile,
    content_types: Mapping[str, str | None],
    plan: Plan,
    seq: int,
    drop_id: str,
    data_bucket: str,
    role_arn: str,
    name: str | None = None,
) -> dict[str, Any]:
    """A round's request from the content types its drop recorded (a started round's, resumed, has no manifest)."""
    return tuning_job_request(
        **_inputs(profile, plan, seq, drop_id, data_bucket, role_arn, content_types), name=name
    )


def _inputs(
    profile: Profile,
    plan: Plan,
    seq: int,
    drop_id: str,
    data_bucket: str,
    role_arn: str,
    content_types: Mapping[str, str | None],
) -> RoundInputs:
    """A round's request inputs; its training channels as its trials and incumbents read them: each channel's
    SageMaker manifest (StartRound writes it) and the content type the drop gave it."""
    channels = profile.training.channels
    return RoundInputs(
        profile=profile,
        plan=plan,
        seq=seq,
        drop_id=drop_id,
        bucket=data_bucket,
        channel_manifests={
            c: s3_uri(data_bucket, channel_manifest_key(profile.name, drop_id, c)) for c in channels
        },
        channel_content_types={c: content_types.get(c) for c in channels},
        role_arn=role_arn,
    )
