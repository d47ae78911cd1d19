"""Promote: a round's evaluation ended, a person decided about a package, or an endpoint settled. Three stories, a
module each, and what they share here:

- retune.use_cases.decide: the evaluation ended; register the challenger and promote it only if it beat the
  champion on the same data (or evaluate again when the champion changed by hand meanwhile);
- retune.use_cases.deploy: deploy a new champion to the profile's endpoint, and settle the deployment;
- retune.use_cases.by_hand: a person approved or rejected a package in the registry, or made one the champion with
  `retune promote` (a promotion by hand or a rollback);
- retune.use_cases.registry: the profile's model package group and packages, and the models kept under registry/.

Exactly once: the package is created with a ClientToken derived from the round (a repeat gets the same package);
the round's decision and the champion are one transaction, conditional on the round still evaluating and the
champion unchanged, so the champion is never half-promoted. The release of ACTIVE, deployment, the alert and the
queued drop's announcement follow, each idempotent, and are redone by a repeat of the event (or by Reconcile).

Ownership: a package becomes a profile's champion only if a round of that profile records it (retune registered
it for the profile) and its group is the profile's (tagged retune:profile=<profile> when retune created it); an
endpoint is updated only if it carries that tag too (or the profile's rounds show retune deployed to it before it
tagged endpoints: it is tagged then).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

from retune.errors import InvalidInput, NotFound
from retune.ports import AlertPort, Clock, EventBusPort, KeepingPort, MetricsPort, NoMetrics, RegistryPort
from retune.profile import Profile, StoredProfile, read_profile
from retune.records import CHAMPION_HISTORY_MAX, ChampionChange, ChampionRecord
from retune.store import Store

logger = logging.getLogger(__name__)


@dataclass
class PromoteDeps:
    store: Store
    sagemaker: RegistryPort
    bucket: KeepingPort
    alerts: AlertPort
    bus: EventBusPort
    clock: Clock
    data_bucket: str
    role_arn: str
    region: str | None = None
    metrics: MetricsPort = field(default_factory=NoMetrics)


class PromoteResult(NamedTuple):
    status: Literal[
        "approved",
        "rejected",
        "pending_manual",
        "not_evaluated",
        "duplicate",
        "ignored",
        "running",
        "champion_set",
        "recorded",
        "evaluating_again",
    ]
    profile: str | None = None
    seq: int | None = None
    model_package_arn: str | None = None
    detail: str = ""


def new_champion(
    old: ChampionRecord | None,
    profile: str,
    package_arn: str,
    artifact: str,
    seq: int | None,
    score: float | None,
    who: str,
    reason: str,
    now: Any,
) -> ChampionRecord:
    """The champion after `old` (None: the profile had none): the package, and the change added to the
    history."""
    change = ChampionChange(
        model_package_arn=package_arn,
        round_seq=seq,
        score=score,
        decided_by=who,
        changed_at=now,
        reason=reason,
    )
    return ChampionRecord(
        profile=profile,
        model_package_arn=package_arn,
        model_artifact=artifact,
        round_seq=seq,
        score=score,
        history=[*(old.history if old else []), change][-CHAMPION_HISTORY_MAX:],
        version=(old.version + 1) if old else 1,
    )


def stored_profile(name: str, deps: PromoteDeps) -> StoredProfile | None:
    """The profile as stored, with its version, or None (logged) when it is missing or invalid."""
    try:
        return read_profile(deps.bucket, deps.data_bucket, name)
    except (NotFound, InvalidInput):
        logger.warning("profile unreadable in promote", extra={"profile": name})
        return None


def profile_or_none(name: str, deps: PromoteDeps) -> Profile | None:
    """The profile as stored, or None (logged) when it is missing or invalid."""
    stored = stored_profile(name, deps)
    return stored[0] if stored else None
