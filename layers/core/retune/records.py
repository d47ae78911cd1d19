"""What the store holds, per profile (docs/architecture.md, "The store"). Pure data: no boto3 here."""

# Annotations are evaluated as written, not postponed: see retune.modeling.
from datetime import datetime
from typing import Any, Literal

from pydantic import ConfigDict, Field

from retune.modeling import Model
from retune.plan import Plan
from retune.sagemaker_facts import TERMINAL_JOB_STATUSES
from retune.timeutil import Timestamp

DropState = Literal["received", "queued", "started", "superseded", "failed"]
# "stopping": `retune stop` stopped the round while it trained its incumbents; closed as stopped once they ended.
RoundStatus = Literal["starting", "running", "stopping", "evaluating", "decided", "failed"]
TrialStatus = Literal["InProgress", "Completed", "Stopped", "Failed"]


class Record(Model):
    model_config = ConfigDict(extra="ignore")


class DropRecord(Record):
    profile: str
    drop_id: str
    state: DropState
    bucket: str
    manifest_key: str
    version: str = Field(description="The manifest's S3 version id, or its ETag where the bucket has none.")
    version_id: str | None = Field(default=None, description="The manifest's S3 version id, if versioned.")
    uploaded_at: Timestamp
    sequencer: str | None = Field(
        default=None, description="S3's sequencer of the version's upload: orders versions of the manifest."
    )
    arrived_at: Timestamp | None = Field(
        default=None,
        description="When the drop's manifest was first uploaded; kept across new uploads of it (retries).",
    )
    manifest: dict[str, Any] | None = Field(
        default=None,
        description="The manifest itself, as drops started before it was kept in S3 only carry it (read only).",
    )
    manifest_digest: str | None = Field(
        default=None, description="SHA-256 of the manifest version the drop was validated and started from."
    )
    content_types: dict[str, str | None] | None = Field(
        default=None, description="Each channel's content type, from the manifest the drop started with."
    )
    errors: list[str] = Field(default_factory=list)
    failed_at: Literal["validation", "launch"] | None = Field(
        default=None, description="Where a failed drop failed: its documents, or SageMaker refused its round."
    )
    round_seq: int | None = None
    waiting_for_capacity: bool = Field(default=False, description="Queued after ResourceLimitExceeded.")
    updated_at: Timestamp

    def channel_content_types(self) -> dict[str, str | None] | None:
        """Each channel's content type, from the record (or the manifest drops started before kept inline);
        None when the drop has not started."""
        if self.content_types is not None:
            return self.content_types
        if self.manifest is not None:
            channels = self.manifest.get("channels") or {}
            return {name: (channel or {}).get("content_type") for name, channel in channels.items()}
        return None

    @property
    def data_time(self) -> datetime:
        """How new the drop's data is: its manifest's first upload. A retry (a new upload of the manifest, or
        `retune retry`) makes a newer version of the same data, not newer data. Drops recorded before this was
        kept have only their latest upload."""
        return self.arrived_at or self.uploaded_at

    def newer_than(self, other: "DropRecord") -> bool:
        """The queue's order: the newest data wins; ties broken by drop id."""
        return (self.data_time, self.drop_id) > (other.data_time, other.drop_id)


class Evaluation(Record):
    job_name: str
    status: str = "InProgress"
    challenger_score: float | None = None
    champion_score: float | None = None
    champion_model_package: str | None = Field(
        default=None, description="The champion the job scored (None: there was none)."
    )
    failure_reason: str | None = None
    attempt: int = Field(default=1, description="Counts the evaluations made again as the champion changed.")


class Decision(Record):
    outcome: Literal["approved", "rejected", "pending_manual", "not_evaluated"]
    reason: str
    model_package_arn: str | None = None
    decided_by: str = "retune"
    decided_at: Timestamp


class Incumbent(Record):
    """An earlier configuration a round retrains on its own drop before its tuning job (docs/policy.md,
    "Incumbents"): a plain training job, one of the round's trials."""

    job_name: str
    hyperparameters: dict[str, str] = Field(description="The configuration's searched hyperparameters.")
    from_round: int = Field(description="The round whose trial it comes from.")
    from_job: str = Field(description="That trial's training job.")
    why: Literal["champion", "best"] = Field(description="The champion's configuration, or a round's best.")


class RoundRecord(Record):
    profile: str
    seq: int
    drop_id: str
    tuning_job_name: str
    status: RoundStatus
    plan: Plan
    profile_version: str
    objective_metric: str
    objective_type: Literal["Minimize", "Maximize"] = "Minimize"
    epochs_metric: str | None = Field(
        default=None, description="The profile's metrics, snapshotted at start."
    )
    compute_metric: str | None = None
    hyperparameter_names: list[str] = Field(
        description="Static plus searched: warm start needs them unchanged."
    )
    budget_max_jobs: int | None = Field(
        default=None, description="The profile's full budget of trials, what the plan saves against."
    )
    started_at: Timestamp
    tuning_status: str | None = None
    failure_reason: str | None = None
    ended_at: Timestamp | None = None
    trial_counts: dict[str, int] = Field(default_factory=dict)
    stopped_early: int = 0
    best_training_job: str | None = None
    best_objective: float | None = None
    best_model_artifact: str | None = None
    compute: float | None = None
    billable_seconds: int = 0
    evaluation: Evaluation | None = None
    decision: Decision | None = None
    deployment: dict[str, Any] | None = None
    last_event_at: Timestamp | None = None
    stall_alerted: bool = False
    capacity_since: Timestamp | None = Field(
        default=None,
        description="While SageMaker's capacity has refused the profile's rounds: since when (the episode).",
    )
    capacity_refusals: int = Field(default=0, description="How many times in this episode.")
    incumbents: list[Incumbent] = Field(
        default_factory=list,
        description="The earlier configurations the round trains first; its tuning job starts when they ended.",
    )
    stop_requested_by: str | None = Field(
        default=None, description="Who stopped the round while it trained its incumbents (`retune stop`)."
    )
    stop_requested_at: Timestamp | None = None


class TrialRecord(Record):
    profile: str
    seq: int
    training_job_name: str
    status: TrialStatus
    source: Literal["tuning", "incumbent"] = Field(
        default="tuning", description="A trial of the tuning job, or an incumbent's plain training job."
    )
    secondary_status: str | None = None
    hyperparameters: dict[str, str] = Field(default_factory=dict)
    objective_series: list[float] = Field(
        default_factory=list, description="The objective, one value per epoch."
    )
    final_objective: float | None = None
    stopped_early: bool = False
    epochs: int | None = None
    compute: float | None = None
    billable_seconds: int | None = None
    training_seconds: int | None = None
    cpu_seconds: float | None = None
    model_artifact: str | None = None
    failure_reason: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    updated_at: Timestamp

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_JOB_STATUSES


class ChampionChange(Record):
    model_package_arn: str
    round_seq: int | None
    score: float | None
    decided_by: str
    changed_at: Timestamp
    reason: str


# The champion item keeps its latest changes only (DynamoDB's items hold at most 400 KB); every round's decision,
# and the last change by hand of its package, stays in the round's record.
CHAMPION_HISTORY_MAX = 20


class ChampionRecord(Record):
    profile: str
    model_package_arn: str
    model_artifact: str
    round_seq: int | None
    score: float | None = Field(description="Its score on the evaluation that promoted it.")
    history: list[ChampionChange] = Field(
        default_factory=list, description=f"The last {CHAMPION_HISTORY_MAX} changes, oldest first."
    )
    version: int = Field(default=1, description="Bumped on every change; conditional writes compare it.")

    @property
    def earlier_changes(self) -> int:
        """Changes no longer in `history` (the version counts every change)."""
        return max(0, self.version - len(self.history))


class ActiveRecord(Record):
    profile: str
    seq: int
    drop_id: str
    tuning_job_name: str
    started_at: Timestamp


class QueuedRecord(Record):
    profile: str
    drop_id: str
    uploaded_at: Timestamp
    capacity_since: Timestamp | None = Field(
        default=None, description="SageMaker's capacity has refused the profile's rounds since then."
    )
    capacity_refusals: int = 0
    not_before: Timestamp | None = Field(
        default=None, description="Reconcile starts the drop no earlier (backoff while capacity is short)."
    )


class PausedRecord(Record):
    """A profile an operator paused: its drops queue as if a round were running, until it is resumed."""

    profile: str
    paused_at: Timestamp
    paused_by: str


class JobLookup(Record):
    """Maps a job's name back to its profile and round."""

    job_name: str
    kind: Literal["tuning", "evaluation", "endpoint"]
    profile: str
    seq: int


class RoundHistory(Model):
    """One earlier round with its trials: what plan_next_round learns from."""

    round: RoundRecord
    trials: list[TrialRecord] = Field(default_factory=list)
