"""retune's store: drops, rounds, trials, the plan, the champion, the active round and the queue of one profile.

One DynamoDB table, keys `pk`/`sk`, partitioned by profile (`pk = PROFILE#<profile>`); see docs/architecture.md.
Each item holds its record as JSON in `doc`, and beside it the few attributes that conditions and the `ByStatus` index read.
Writes that must agree (a round's start and the active item; a round's close and the plan; a promotion and the
champion) are transactions with conditions, so concurrent or repeated invocations cannot both win. Every write is
a method of Store below, named for what it means, with what must hold together and why; the use cases compose no
transaction of their own (tests/unit/test_store_owns_transactions.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from retune.errors import ConditionFailed, ConflictError
from retune.naming import LEGACY_KEY_MAX, seq_key, seq_of_key
from retune.plan import Plan
from retune.records import (
    ActiveRecord,
    ChampionRecord,
    DropRecord,
    JobLookup,
    PausedRecord,
    QueuedRecord,
    RoundHistory,
    RoundRecord,
    TrialRecord,
)
from retune.table import (
    ABSENT,
    PRESENT,
    Check,
    Condition,
    Delete,
    Item,
    Operation,
    Put,
    Table,
)

ACTIVE_INDEX = "ACTIVE"
QUEUED_INDEX = "QUEUED"
DEPLOYING_INDEX = "DEPLOYING"
# A deployment in one of these states needs nothing more; any other (Pending, Creating, Updating) is in the index.
SETTLED_DEPLOYMENTS = frozenset({"InService", "Failed", "Superseded"})


class RoundRunning(ConflictError):
    """The profile already has an active round: the drop must queue."""


def profile_pk(profile: str) -> str:
    return f"PROFILE#{profile}"


def drop_sk(drop_id: str) -> str:
    return f"DROP#{drop_id}"


def round_sk(seq: int) -> str:
    return f"ROUND#{seq_key(seq)}"


def trial_sk(seq: int, training_job: str) -> str:
    return f"{round_sk(seq)}#TRIAL#{training_job}"


def _item(pk: str, sk: str, record: BaseModel, **attributes: Any) -> Item:
    return {"pk": pk, "sk": sk, "doc": record.model_dump_json(by_alias=True), **attributes}


def _drop_item(drop: DropRecord) -> Item:
    return _item(
        profile_pk(drop.profile), drop_sk(drop.drop_id), drop, state=drop.state, version=drop.version
    )


def _round_item(rnd: RoundRecord) -> Item:
    index: dict[str, str] = {}
    if rnd.deployment is not None and rnd.deployment.get("status") not in SETTLED_DEPLOYMENTS:
        # Sparse: a round is in the index while its deployment is unsettled, so Reconcile finds it.
        index = {"gsi1pk": DEPLOYING_INDEX, "gsi1sk": f"{rnd.profile}#{seq_key(rnd.seq)}"}
    return _item(profile_pk(rnd.profile), round_sk(rnd.seq), rnd, status=rnd.status, **index)


def _active_item(active: ActiveRecord) -> Item:
    return _item(
        profile_pk(active.profile),
        "ACTIVE",
        active,
        seq=active.seq,
        gsi1pk=ACTIVE_INDEX,
        gsi1sk=active.profile,
    )


def _queued_item(queued: QueuedRecord) -> Item:
    return _item(
        profile_pk(queued.profile),
        "QUEUED",
        queued,
        drop_id=queued.drop_id,
        gsi1pk=QUEUED_INDEX,
        gsi1sk=queued.profile,
    )


def _lookup_item(lookup: JobLookup) -> Item:
    return _item(f"JOB#{lookup.job_name}", "JOB", lookup)


class Store:
    """Typed access to the state table for one deployment (all profiles)."""

    def __init__(self, table: Table) -> None:
        self.table = table

    # reads

    def _get[R: BaseModel](self, model: type[R], pk: str, sk: str) -> R | None:
        item = self.table.get(pk, sk)
        return model.model_validate_json(item["doc"]) if item else None

    def get_drop(self, profile: str, drop_id: str) -> DropRecord | None:
        return self._get(DropRecord, profile_pk(profile), drop_sk(drop_id))

    def get_round(self, profile: str, seq: int) -> RoundRecord | None:
        return self._get(RoundRecord, profile_pk(profile), round_sk(seq))

    def get_trial(self, profile: str, seq: int, training_job: str) -> TrialRecord | None:
        return self._get(TrialRecord, profile_pk(profile), trial_sk(seq, training_job))

    def get_active(self, profile: str) -> ActiveRecord | None:
        return self._get(ActiveRecord, profile_pk(profile), "ACTIVE")

    def get_queued(self, profile: str) -> QueuedRecord | None:
        return self._get(QueuedRecord, profile_pk(profile), "QUEUED")

    def get_plan(self, profile: str) -> Plan | None:
        return self._get(Plan, profile_pk(profile), "PLAN")

    def get_champion(self, profile: str) -> ChampionRecord | None:
        return self._get(ChampionRecord, profile_pk(profile), "CHAMPION")

    def get_paused(self, profile: str) -> PausedRecord | None:
        return self._get(PausedRecord, profile_pk(profile), "PAUSED")

    def get_lookup(self, job_name: str) -> JobLookup | None:
        return self._get(JobLookup, f"JOB#{job_name}", "JOB")

    def last_round_seq(self, profile: str) -> int:
        """The highest round sequence of a profile, 0 when it has none (trial items sort after their round)."""
        items = self.table.query(profile_pk(profile), "ROUND#", descending=True, limit=1)
        last = seq_of_key(items[0]["sk"].split("#")[1]) if items else 0
        # Round 10,000's key sorts between 1000's and 1001's (see seq_key): it is the last when 9,999 looks so.
        if last == LEGACY_KEY_MAX - 1 and self.table.get(profile_pk(profile), round_sk(LEGACY_KEY_MAX)):
            return LEGACY_KEY_MAX
        return last

    def trials(self, profile: str, seq: int) -> list[TrialRecord]:
        items = self.table.query(profile_pk(profile), f"{round_sk(seq)}#TRIAL#")
        return [TrialRecord.model_validate_json(i["doc"]) for i in items]

    def history(self, profile: str, rounds: int) -> list[RoundHistory]:
        """The newest `rounds` rounds of a profile (by number) with their trials, oldest first: what
        plan_next_round learns from (`rounds`: the policy's `Knobs.history_rounds`). One paged query from the
        first of them on, plus round 10,000's items when it is among them (they sort elsewhere, see seq_key)."""
        last = self.last_round_seq(profile)
        first = max(1, last - rounds + 1)
        pk = profile_pk(profile)
        items = self.table.query(pk, "ROUND#", start=round_sk(first))
        if first <= LEGACY_KEY_MAX <= last:
            items += self.table.query(pk, round_sk(LEGACY_KEY_MAX))
        found: dict[int, RoundHistory] = {}
        trials: list[TrialRecord] = []
        for item in items:
            if "#TRIAL#" in item["sk"]:
                trials.append(TrialRecord.model_validate_json(item["doc"]))
            else:
                rnd = RoundRecord.model_validate_json(item["doc"])
                if first <= rnd.seq <= last:
                    found[rnd.seq] = RoundHistory(round=rnd)
        for trial in trials:
            if trial.seq in found:
                found[trial.seq].trials.append(trial)
        return [found[seq] for seq in sorted(found)]

    def free_job_name(
        self, profile: str, seq: int, names: Sequence[str]
    ) -> tuple[str, bool] | list[JobLookup]:
        """The first of `names` that no other profile's round holds in the job-name lookup, and whether round
        `seq` of `profile` holds it already (a start released for capacity and tried again). When every name is
        held, their holders."""
        holders = []
        for name in names:
            held = self.get_lookup(name)
            if held is None:
                return name, False
            if (held.kind, held.profile, held.seq) == ("tuning", profile, seq):
                return name, True
            holders.append(held)
        return holders

    def active_rounds(self) -> list[ActiveRecord]:
        return [ActiveRecord.model_validate_json(i["doc"]) for i in self.table.query_index(ACTIVE_INDEX)]

    def queued_drops(self) -> list[QueuedRecord]:
        return [QueuedRecord.model_validate_json(i["doc"]) for i in self.table.query_index(QUEUED_INDEX)]

    def deploying_rounds(self) -> list[RoundRecord]:
        """Rounds whose deployment is wanted or under way and not yet settled."""
        return [RoundRecord.model_validate_json(i["doc"]) for i in self.table.query_index(DEPLOYING_INDEX)]

    # writes: every write retune makes, each one transaction named for what it means (use cases compose none)

    def _write_if(self, operations: Sequence[Operation]) -> bool:
        """A write whose failed condition means it is done already (or not this caller's to do): False then."""
        try:
            self.table.write(operations)
        except ConditionFailed:
            return False
        return True

    # drops

    def create_drop(self, drop: DropRecord) -> bool:
        """Record a drop seen for the first time. False when it already exists (another delivery won)."""
        return self._write_if([Put(_drop_item(drop), ABSENT)])

    def replace_drop(self, drop: DropRecord, *, expected: DropRecord, leave_queue: bool = False) -> None:
        """Update a drop only if nobody changed it since `expected` was read (else ConditionFailed). With
        `leave_queue`, the drop (failed or superseded) also leaves the profile's queue, which must name it."""
        operations: list[Operation] = [Put(_drop_item(drop), _unchanged_drop(expected))]
        if leave_queue:
            operations.append(
                Delete(profile_pk(drop.profile), "QUEUED", Condition(equals={"drop_id": drop.drop_id}))
            )
        self.table.write(operations)

    def leave_queue(self, profile: str, drop_id: str) -> bool:
        """Remove the profile's queue entry if it names this drop. False when it does not."""
        return self._write_if([Delete(profile_pk(profile), "QUEUED", Condition(equals={"drop_id": drop_id}))])

    # rounds

    def start_round(
        self,
        rnd: RoundRecord,
        drop: DropRecord,
        *,
        expected_drop: DropRecord,
        lookup: JobLookup | None,
        superseded: DropRecord | None = None,
        expected_superseded: DropRecord | None = None,
        dequeue: QueuedRecord | None = None,
    ) -> None:
        """Atomically: take the profile's ACTIVE item, create the round, mark the drop started, map the tuning
        job's name to the round (`lookup`, on the condition that nobody holds the name; None when this round
        already holds it, see `free_job_name`); optionally supersede an older queued drop and clear the queue
        entry.

        Raises RoundRunning when the profile already has an active round, ConflictError when anything else
        changed meanwhile (the caller re-reads and decides again)."""
        active = ActiveRecord(
            profile=rnd.profile,
            seq=rnd.seq,
            drop_id=drop.drop_id,
            tuning_job_name=rnd.tuning_job_name,
            started_at=rnd.started_at,
        )
        operations: list[Operation] = [
            Put(_active_item(active), ABSENT),
            Put(_round_item(rnd), ABSENT),
            Put(_drop_item(drop), _unchanged_drop(expected_drop)),
        ]
        if lookup is not None:
            operations.append(Put(_lookup_item(lookup), ABSENT))
        if superseded is not None and expected_superseded is not None:
            operations.append(Put(_drop_item(superseded), _unchanged_drop(expected_superseded)))
        if dequeue is not None:
            operations.append(
                Delete(profile_pk(rnd.profile), "QUEUED", Condition(equals={"drop_id": dequeue.drop_id}))
            )
        else:
            operations.append(Check(profile_pk(rnd.profile), "QUEUED", ABSENT))
        # A pause written after StartRound looked fails the start: it looks again and queues the drop.
        operations.append(Check(profile_pk(rnd.profile), "PAUSED", ABSENT))
        try:
            self.table.write(operations)
        except ConditionFailed as exc:
            if exc.index == 0:
                raise RoundRunning(f"{rnd.profile} has an active round") from exc
            raise

    def save_round(self, rnd: RoundRecord, *, expected_status: str) -> None:
        """Update a round whose status is still `expected_status` (else ConditionFailed)."""
        self.table.write([Put(_round_item(rnd), Condition(equals={"status": expected_status}))])

    def abandon_start(self, rnd: RoundRecord, drop: DropRecord, *, expected_drop: DropRecord) -> None:
        """Undo a round start whose tuning job SageMaker will not create: the round, ACTIVE and the job name's
        lookup go (the job does not exist), the drop is recorded failed, all in one write."""
        self.table.write(
            [
                Delete(profile_pk(rnd.profile), "ACTIVE", Condition(equals={"seq": rnd.seq})),
                Delete(profile_pk(rnd.profile), round_sk(rnd.seq), Condition(equals={"status": "starting"})),
                Delete(f"JOB#{rnd.tuning_job_name}", "JOB"),
                Put(_drop_item(drop), _unchanged_drop(expected_drop)),
            ]
        )

    def release_for_capacity(
        self,
        rnd: RoundRecord,
        drop: DropRecord,
        *,
        expected_drop: DropRecord,
        queued: QueuedRecord,
        expected_queued: QueuedRecord | None,
        displaced: DropRecord | None = None,
        expected_displaced: DropRecord | None = None,
    ) -> None:
        """Undo a round start that SageMaker refused for lack of capacity: the round, ACTIVE and the job name's
        lookup go, the drop is queued (waiting for capacity) or superseded by the newer drop `queued` names, and
        the queue entry (with its retry time) replaces `expected_queued`; Reconcile retries it."""
        operations: list[Operation] = [
            Delete(profile_pk(rnd.profile), "ACTIVE", Condition(equals={"seq": rnd.seq})),
            Delete(profile_pk(rnd.profile), round_sk(rnd.seq), Condition(equals={"status": "starting"})),
            Delete(f"JOB#{rnd.tuning_job_name}", "JOB"),
            Put(_drop_item(drop), _unchanged_drop(expected_drop)),
            Put(_queued_item(queued), _queue_condition(expected_queued)),
        ]
        if displaced is not None and expected_displaced is not None:
            operations.append(Put(_drop_item(displaced), _unchanged_drop(expected_displaced)))
        self.table.write(operations)

    def enqueue(
        self,
        drop: DropRecord,
        *,
        expected_drop: DropRecord,
        expected_queued: QueuedRecord | None,
        displaced: DropRecord | None = None,
        expected_displaced: DropRecord | None = None,
    ) -> None:
        """Make `drop` the profile's queued drop in place of `expected_queued` (None: the queue is empty);
        `displaced`, the drop it replaces, is marked superseded in the same write."""
        queued = QueuedRecord(
            profile=drop.profile,
            drop_id=drop.drop_id,
            uploaded_at=drop.uploaded_at,
            # a paused profile's episode of short capacity goes on with the newer drop
            **(
                expected_queued.model_dump(include={"capacity_since", "capacity_refusals", "not_before"})
                if expected_queued is not None
                else {}
            ),
        )
        operations: list[Operation] = [
            Put(_queued_item(queued), _queue_condition(expected_queued)),
            Put(_drop_item(drop), _unchanged_drop(expected_drop)),
        ]
        if displaced is not None and expected_displaced is not None:
            operations.append(Put(_drop_item(displaced), _unchanged_drop(expected_displaced)))
        self.table.write(operations)

    def supersede(self, drop: DropRecord, *, expected_drop: DropRecord, queued_winner: QueuedRecord) -> None:
        """Mark `drop` superseded because a newer drop holds the queue (checked in the same write)."""
        self.table.write(
            [
                Put(_drop_item(drop), _unchanged_drop(expected_drop)),
                Check(
                    profile_pk(drop.profile), "QUEUED", Condition(equals={"drop_id": queued_winner.drop_id})
                ),
            ]
        )

    def pause(self, paused: PausedRecord) -> bool:
        """Pause a profile: its drops queue until `resume`. False when it was already paused."""
        return self._write_if([Put(_item(profile_pk(paused.profile), "PAUSED", paused), ABSENT)])

    def resume(self, profile: str) -> bool:
        """Lift a profile's pause. False when it was not paused."""
        return self._write_if([Delete(profile_pk(profile), "PAUSED", PRESENT)])

    def put_plan(self, profile: str, plan: Plan) -> None:
        """The plan of the profile's next round, replaced whole (Promote's replan once the evaluation is in)."""
        self.table.write([Put(plan_item(profile, plan))])

    def put_trial(self, trial: TrialRecord, *, replaces: TrialRecord | None = None) -> None:
        """Write a trial's record in place of `replaces`, the record as read (None: there was none), on the
        condition that it is still so: of two events for one job recorded at once, the second looks again
        instead of moving the trial back (ConditionFailed)."""
        condition = ABSENT if replaces is None else Condition(equals={"status": replaces.status})
        self.table.write(
            [
                Put(
                    _item(
                        profile_pk(trial.profile),
                        trial_sk(trial.seq, trial.training_job_name),
                        trial,
                        status=trial.status,
                    ),
                    condition,
                )
            ]
        )

    # a round's close, evaluation and end

    def close_round_and_plan(
        self, evaluating: RoundRecord, *, expected_status: str, plan: Plan | None
    ) -> None:
        """CloseRound's write: the round closed with its evaluation pending, its evaluation job's name mapped to
        the round, and the next round's plan (when the profile could be read), on the condition that the round's
        status is still `expected_status`. One write: the job's end finds its round only through the lookup, and
        only the invocation that closes the round may plan from it. ConditionFailed when another invocation
        closed it first."""
        self.table.write(
            [
                *_evaluation_operations(evaluating, expected_status),
                *([Put(plan_item(evaluating.profile, plan))] if plan is not None else []),
            ]
        )

    def start_evaluation_again(self, again: RoundRecord) -> None:
        """Promote's write when the champion changed by hand during an evaluation: the round, still evaluating,
        names its new evaluation job, and the job's name is mapped to the round, in one write (the new job's end
        finds its round only through the lookup, and a round naming a job nobody maps would wait forever).
        ConditionFailed when the round was decided meanwhile."""
        self.table.write(_evaluation_operations(again, "evaluating"))

    def end_round(self, rnd: RoundRecord, *, expected_status: str, plan: Plan | None = None) -> None:
        """A round's final state and the release of its profile's ACTIVE item in one write (with the next
        round's plan when CloseRound made one), on the condition that the round's status is still
        `expected_status` and ACTIVE is the round's: a round ended but holding ACTIVE would hold back every
        later drop, and ACTIVE released from a round not ended would let two rounds run. ConditionFailed when
        another invocation ended it first."""
        self.table.write(
            [
                Put(_round_item(rnd), Condition(equals={"status": expected_status})),
                Delete(profile_pk(rnd.profile), "ACTIVE", Condition(equals={"seq": rnd.seq})),
                *([Put(plan_item(rnd.profile, plan))] if plan is not None else []),
            ]
        )

    def release(self, profile: str, seq: int) -> bool:
        """Release the profile's ACTIVE item if round `seq` holds it (a replay after the round ended): one
        conditional delete, no read first. False when it is gone or another round holds it."""
        return self._write_if([Delete(profile_pk(profile), "ACTIVE", Condition(equals={"seq": seq}))])

    # a round's decision, the champion and the deployment

    def decide(
        self,
        decided: RoundRecord,
        *,
        champion: ChampionRecord | None = None,
        replaces: ChampionRecord | None = None,
    ) -> None:
        """Promote's decision: the round decided, on the condition that it is still evaluating, and, when the
        challenger won, the new `champion` in place of `replaces` (the champion as read; None: there was none),
        on the condition that it is unchanged, in one write: the champion is never half-promoted, and of two
        invocations deciding at once, or a decision and a change by hand, one wins. ConditionFailed otherwise."""
        operations: list[Operation] = [Put(_round_item(decided), Condition(equals={"status": "evaluating"}))]
        if champion is not None:
            operations.append(_champion_put(champion, replaces))
        self.table.write(operations)

    def set_champion_by_hand(
        self,
        champion: ChampionRecord,
        *,
        replaces: ChampionRecord | None,
        decided: RoundRecord | None = None,
        expected_status: str | None = None,
    ) -> None:
        """A person's decision: the new `champion` in place of `replaces` (as read; None: there was none) on the
        condition that it is unchanged, and, when the package is its round's decision, that round's decision
        (`decided`, on the condition that its status is still `expected_status`), in one write: the champion and
        the round that says how it became champion agree. ConditionFailed when either changed since it was
        read."""
        operations: list[Operation] = [_champion_put(champion, replaces)]
        if decided is not None:
            operations.append(Put(_round_item(decided), Condition(equals={"status": expected_status})))
        self.table.write(operations)

    def move_champion_model(self, champion: ChampionRecord, *, expected: ChampionRecord) -> None:
        """The champion pointed at its model's kept copy, on the condition that it is still the champion as read
        (`expected`, by version): a champion set meanwhile has its own model kept already and must not get the
        older one's. ConditionFailed otherwise."""
        self.table.write([Put(champion_item(champion), Condition(equals={"version": expected.version}))])

    def record_deployment(self, deployed: RoundRecord, *, map_endpoint: bool) -> None:
        """A decided round's deployment (on the condition that the round is decided) and, when the deployment
        created or updated the endpoint (`map_endpoint`), the lookups that map the endpoint's events, by
        endpoint and by endpoint config, to the round, in one write: an endpoint event must find the round whose
        deployment it settles."""
        assert deployed.deployment is not None
        operations: list[Operation] = [Put(_round_item(deployed), Condition(equals={"status": "decided"}))]
        if map_endpoint:
            deployment = deployed.deployment
            for key in (f"endpoint/{deployment['endpoint']}", f"endpoint-config/{deployment['config']}"):
                operations.append(
                    Put(
                        _lookup_item(
                            JobLookup(
                                job_name=key, kind="endpoint", profile=deployed.profile, seq=deployed.seq
                            )
                        )
                    )
                )
        self.table.write(operations)


def _evaluation_operations(rnd: RoundRecord, expected_status: str) -> list[Operation]:
    """The round naming its evaluation job (on its status being `expected_status`), and the job's lookup."""
    assert rnd.evaluation is not None
    name = rnd.evaluation.job_name
    return [
        Put(_round_item(rnd), Condition(equals={"status": expected_status})),
        Put(_lookup_item(JobLookup(job_name=name, kind="evaluation", profile=rnd.profile, seq=rnd.seq))),
    ]


def _champion_put(champion: ChampionRecord, replaces: ChampionRecord | None) -> Put:
    condition = Condition(equals={"version": replaces.version}) if replaces is not None else ABSENT
    return Put(champion_item(champion), condition)


def _queue_condition(expected: QueuedRecord | None) -> Condition:
    return Condition(equals={"drop_id": expected.drop_id}) if expected is not None else ABSENT


def _unchanged_drop(expected: DropRecord) -> Condition:
    return Condition(equals={"state": expected.state, "version": expected.version})


# Item builders: the items as the store writes them (tests seed state with them; use cases write through Store).
drop_item = _drop_item
round_item = _round_item
active_item = _active_item
queued_item = _queued_item
lookup_item = _lookup_item


def plan_item(profile: str, plan: Plan) -> Item:
    return _item(profile_pk(profile), "PLAN", plan)


def champion_item(champion: ChampionRecord) -> Item:
    return _item(profile_pk(champion.profile), "CHAMPION", champion, version=champion.version)
