"""The end of a round, shared by CloseRound, Promote and Reconcile: release the profile's ACTIVE item in the same
write as the round's final state, then tell StartRound about the queued drop, if any."""

from __future__ import annotations

import logging

from retune.errors import ConditionFailed
from retune.events import DROP_READY
from retune.plan import Plan
from retune.ports import EventBusPort
from retune.records import DropRecord, RoundRecord
from retune.store import Store

logger = logging.getLogger(__name__)


def finish_round(
    store: Store, bus: EventBusPort, rnd: RoundRecord, *, expected_status: str, plan: Plan | None = None
) -> bool:
    """Write the round's final state (and the next plan, if any) and release ACTIVE atomically. False when
    another invocation did it first (the queued drop is announced again all the same: StartRound ignores a
    repeat)."""
    try:
        store.end_round(rnd, expected_status=expected_status, plan=plan)
        won = True
    except ConditionFailed:
        won = False
    announce_queued_drop(store, bus, rnd.profile)
    return won


def release_if_held(store: Store, bus: EventBusPort, rnd: RoundRecord) -> None:
    """A replay after a round ended: make sure its ACTIVE item is gone and the queued drop announced. One
    conditional delete, no read first: it fails, harmlessly, when the item is gone or held by another round."""
    store.release(rnd.profile, rnd.seq)  # False: released already, or the profile's next round holds it
    announce_queued_drop(store, bus, rnd.profile)


def announce_queued_drop(store: Store, bus: EventBusPort, profile: str) -> bool:
    """Put retune's "Drop Ready" for the profile's queued drop when no round is active. True if announced."""
    queued = store.get_queued(profile)
    if queued is None or store.get_active(profile) is not None:
        return False
    drop = store.get_drop(profile, queued.drop_id)
    if drop is None:
        return False
    announce_drop(bus, drop)
    logger.info("queued drop announced", extra={"profile": profile, "drop": drop.drop_id})
    return True


def announce_drop(bus: EventBusPort, drop: DropRecord) -> None:
    """Put retune's "Drop Ready" for a drop: StartRound takes it up where it stands (starts, resumes, or ignores
    a repeat)."""
    bus.put(
        DROP_READY,
        {
            "profile": drop.profile,
            "drop_id": drop.drop_id,
            "bucket": drop.bucket,
            "key": drop.manifest_key,
            "version_id": drop.version_id,
            **({"sequencer": drop.sequencer} if drop.sequencer else {}),
        },
    )
