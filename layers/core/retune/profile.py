"""The tuning profile: how to tune one model, round after round.

A profile is a JSON document at `profiles/<profile>.json` in the data bucket. Its JSON Schema is published in
`schemas/profile.schema.json` (`make schema`). Every field that the policy may move has a floor and a ceiling in
`bounds`; where the profile leaves a bound out, `Profile.resolved_bounds()` derives it from the profile's own value.
"""

# Annotations are evaluated as written, not postponed: see retune.modeling.
import re
from typing import TYPE_CHECKING, Literal, NamedTuple, Self

from pydantic import ConfigDict, Field, field_validator, model_validator

from retune.errors import InvalidInput
from retune.modeling import StrictModel
from retune.naming import PROFILE_NAME_MAX, PROFILE_NAME_PATTERN
from retune.outcomes import ALL_OUTCOMES, Outcome
from retune.ranges import (
    HYPERPARAMETER_NAME_PATTERN,
    CategoricalRange,
    ContinuousRange,
    IntegerRange,
    ParameterRange,
    Scaling,
)
from retune.sagemaker_facts import MAX_HYPERBAND_RESOURCE
from retune.validation_errors import describe_validation_error

if TYPE_CHECKING:
    from retune.ports import BucketPort

# The ranges, outcomes and name rules live in their own modules (a function that reads no profile does not
# define the profile's models); they are part of this module's interface too.
__all__ = [
    "ALL_OUTCOMES",
    "HYPERPARAMETER_NAME_PATTERN",
    "MAX_PARALLEL_JOBS",
    "MAX_TRAINING_JOBS",
    "MAX_WARM_START_PARENTS",
    "MIN_JOBS_NOT_IMPROVING",
    "PROFILE_MAX_BYTES",
    "PROFILE_NAME_MAX",
    "PROFILE_NAME_PATTERN",
    "ROLE_ARN_PATTERN",
    "Alerts",
    "Bounds",
    "Budget",
    "CategoricalRange",
    "ChannelSettings",
    "ContinuousRange",
    "EmptyProfile",
    "Endpoint",
    "Evaluation",
    "Hyperband",
    "IntBound",
    "IntegerRange",
    "MetricDefinition",
    "MetricNames",
    "Objective",
    "Outcome",
    "ParameterRange",
    "Profile",
    "Promotion",
    "ResolvedBounds",
    "Scaling",
    "Search",
    "StoredProfile",
    "StrictModel",
    "Training",
    "Vpc",
    "parse_profile",
    "profile_key",
    "read_profile",
]

# SageMaker's own limits (CreateHyperParameterTuningJob, 2023 defaults).
MAX_TRAINING_JOBS = 750
MAX_PARALLEL_JOBS = 100
MAX_WARM_START_PARENTS = 5
MIN_JOBS_NOT_IMPROVING = 3
# The largest profile retune reads from the bucket (256 KiB): a read stops there, and what it got fails as JSON.
PROFILE_MAX_BYTES = 262_144
ROLE_ARN_PATTERN = r"^arn:aws[a-z\-]*:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+$"


GROUP_PREFIX = "retune-"


def default_group(profile: str) -> str:
    """A profile's model package group unless it names one: retune-<profile>, reserved for it."""
    return f"{GROUP_PREFIX}{profile}"


class Objective(StrictModel):
    metric_name: str = Field(min_length=1, max_length=255, description="The metric AMT optimizes.")
    type: Literal["Minimize", "Maximize"] = Field(description="Minimize (an error) or Maximize (a score).")

    def better(self, a: float, b: float) -> bool:
        """True when score `a` is strictly better than `b` in this objective's direction."""
        return a < b if self.type == "Minimize" else a > b


class MetricDefinition(StrictModel):
    name: str = Field(min_length=1, max_length=255)
    regex: str = Field(min_length=1, max_length=500, description="Python/PCRE regex with one capture group.")

    @field_validator("regex")
    @classmethod
    def _compiles(cls, value: str) -> str:
        try:
            compiled = re.compile(value)
        except re.error as exc:
            raise ValueError(
                f"not a valid regular expression ({exc}); write one with a capture group"
            ) from exc
        if compiled.groups < 1:
            raise ValueError("needs one capture group around the number, for example 'rmse=([0-9.]+)'")
        return value


class Vpc(StrictModel):
    subnets: list[str] = Field(min_length=1, max_length=16)
    security_group_ids: list[str] = Field(min_length=1, max_length=5)


class ChannelSettings(StrictModel):
    content_type: str | None = Field(default=None, max_length=256)
    input_mode: Literal["File", "Pipe", "FastFile"] = "File"


class Training(StrictModel):
    image: str = Field(min_length=1, max_length=255, description="The training image URI.")
    role_arn: str | None = Field(
        default=None,
        pattern=ROLE_ARN_PATTERN,
        description="SageMaker execution role. Leave out to use the stack's role (SageMakerRoleArn).",
    )
    instance_type: str = Field(default="ml.m5.large", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    instance_count: int = Field(default=1, ge=1, le=100)
    volume_size_gb: int = Field(default=30, ge=1, le=16384)
    max_runtime_seconds: int = Field(
        default=3600, ge=1, le=28 * 24 * 3600, description="Per-trial time limit."
    )
    metric_definitions: list[MetricDefinition] = Field(
        default_factory=list,
        max_length=40,
        description="Name and regex of each metric the trainer prints. Leave empty for a SageMaker built-in "
        "algorithm, which publishes its own metrics (validation:auc, ...).",
    )
    static_hyperparameters: dict[str, str] = Field(default_factory=dict)
    channels: list[str] = Field(
        default=["train", "validation"],
        min_length=1,
        description="The manifest's channels passed to every trial (the test channel is held out).",
    )
    channel_settings: dict[str, ChannelSettings] = Field(default_factory=dict)
    spot: bool = Field(default=False, description="Managed spot training.")
    max_wait_seconds: int | None = Field(default=None, ge=1, description="With spot: at least max_runtime.")
    max_retry_attempts: int = Field(
        default=0, ge=0, le=30, description="SageMaker's RetryStrategy; 0 for none."
    )
    vpc: Vpc | None = None
    volume_kms_key_id: str | None = Field(default=None, max_length=2048)
    output_kms_key_id: str | None = Field(default=None, max_length=2048)
    network_isolation: bool = False
    inter_container_encryption: bool = False
    environment: dict[str, str] = Field(default_factory=dict, max_length=100)

    @field_validator("static_hyperparameters")
    @classmethod
    def _hyperparameter_names(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.match(HYPERPARAMETER_NAME_PATTERN, name):
                raise ValueError(f"hyperparameter name {name!r} must match {HYPERPARAMETER_NAME_PATTERN}")
        return value

    @model_validator(mode="after")
    def _spot_wait(self) -> Self:
        if self.spot and (self.max_wait_seconds is None or self.max_wait_seconds < self.max_runtime_seconds):
            raise ValueError("spot training needs max_wait_seconds of at least max_runtime_seconds")
        if not self.spot and self.max_wait_seconds is not None:
            raise ValueError("max_wait_seconds applies to spot training only: set spot to true or remove it")
        names = [d.name for d in self.metric_definitions]
        if len(names) != len(set(names)):
            raise ValueError("metric_definitions has the same name twice")
        return self


class MetricNames(StrictModel):
    """Names of the trainer's metrics and hyperparameters that retune reads, where the trainer has them."""

    epochs: str | None = Field(
        default=None, description="Metric that reports epochs run (or boosting rounds)."
    )
    compute: str | None = Field(default=None, description="Metric that reports compute spent, any unit.")
    patience_hyperparameter: str | None = Field(
        default=None, description="Static hyperparameter that sets the trainer's own early-stopping patience."
    )


class Hyperband(StrictModel):
    min_resource: int = Field(
        ge=1, le=MAX_HYPERBAND_RESOURCE, description="Epochs a configuration gets at least."
    )
    max_resource: int = Field(
        ge=1, le=MAX_HYPERBAND_RESOURCE, description="Epochs a configuration gets at most."
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.min_resource > self.max_resource:
            raise ValueError("hyperband min_resource must not be above max_resource")
        return self


class Search(StrictModel):
    strategy: Literal["Bayesian", "Random", "Hyperband", "Grid"] = "Bayesian"
    ranges: list[ParameterRange] = Field(min_length=1, max_length=30)
    random_seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    hyperband: Hyperband | None = None

    @model_validator(mode="after")
    def _rules(self) -> Self:
        names = [r.name for r in self.ranges]
        if len(names) != len(set(names)):
            raise ValueError("two ranges have the same name")
        if self.strategy == "Grid" and any(r.type != "categorical" for r in self.ranges):
            raise ValueError("the Grid strategy takes categorical ranges only")
        if self.hyperband is not None and self.strategy != "Hyperband":
            raise ValueError("hyperband settings apply to the Hyperband strategy only")
        return self


class Budget(StrictModel):
    max_jobs: int = Field(default=20, ge=1, le=MAX_TRAINING_JOBS, description="Trials per round at most.")
    max_parallel_jobs: int = Field(default=2, ge=1, le=MAX_PARALLEL_JOBS)
    max_round_seconds: int | None = Field(
        default=None, ge=120, le=15_768_000, description="Whole tuning job."
    )
    compute_budget: float | None = Field(
        default=None, gt=0, description="Alert when a round spends more (in the compute metric's unit)."
    )

    @model_validator(mode="after")
    def _parallel(self) -> Self:
        if self.max_parallel_jobs > self.max_jobs:
            raise ValueError(f"max_parallel_jobs {self.max_parallel_jobs} is above max_jobs {self.max_jobs}")
        return self


class IntBound(StrictModel):
    floor: int = Field(ge=0)
    ceiling: int = Field(ge=0)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.floor > self.ceiling:
            raise ValueError(f"floor {self.floor} is above ceiling {self.ceiling}")
        return self

    def clamp(self, value: int) -> int:
        return max(self.floor, min(self.ceiling, value))


class Bounds(StrictModel):
    """The policy's bounds. Each bound left out is derived from the profile (see `resolved_bounds`)."""

    max_jobs: IntBound | None = None
    max_parallel_jobs: IntBound | None = None
    max_runtime_seconds: IntBound | None = None
    max_jobs_not_improving: IntBound | None = None
    patience: IntBound | None = None
    min_resource: IntBound | None = None
    max_resource: IntBound | None = None
    min_range_fraction: float = Field(
        default=0.25, gt=0, le=1, description="A narrowed range keeps at least this share of the profile's."
    )
    max_warm_start_parents: int = Field(default=MAX_WARM_START_PARENTS, ge=0, le=MAX_WARM_START_PARENTS)
    drift_tolerance: float = Field(
        default=0.05,
        ge=0,
        description="Relative shortfall of a round's best, on comparable data, that is drift.",
    )
    seed_noise: float = Field(
        default=0.01,
        ge=0,
        lt=1,
        description="How much the objective moves, relative to its value, when the same configuration is "
        "retrained on the same data with another trainer seed. The policy treats differences within it as ties: "
        "it narrows no range and drops no value on them (docs/policy.md).",
    )


class ResolvedBounds(StrictModel):
    max_jobs: IntBound
    max_parallel_jobs: IntBound
    max_runtime_seconds: IntBound
    max_jobs_not_improving: IntBound
    patience: IntBound | None
    min_resource: IntBound | None
    max_resource: IntBound | None
    min_range_fraction: float
    max_warm_start_parents: int
    drift_tolerance: float
    seed_noise: float


class Evaluation(StrictModel):
    """The job that scores champion and challenger on the drop's held-out test channel (docs/trainer-contract.md)."""

    image: str | None = Field(default=None, max_length=255, description="Defaults to the training image.")
    instance_type: str = Field(default="ml.m5.large", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    instance_count: int = Field(default=1, ge=1, le=100)
    volume_size_gb: int = Field(default=30, ge=1, le=16384)
    max_runtime_seconds: int = Field(default=3600, ge=1, le=28 * 24 * 3600)
    test_channel: str = Field(
        default="test", description="The manifest channel that holds the held-out data."
    )
    hyperparameters: dict[str, str] = Field(default_factory=dict)


class Endpoint(StrictModel):
    name: str = Field(pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
    instance_type: str = Field(default="ml.m5.large", pattern=r"^ml\.[a-z0-9]+\.[a-z0-9]+$")
    initial_instance_count: int = Field(default=1, ge=1, le=100)


class Promotion(StrictModel):
    model_package_group: str | None = Field(
        default=None,
        pattern=r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$",
        description="Defaults to retune-<profile>.",
    )
    inference_image: str = Field(min_length=1, max_length=255)
    margin: float = Field(default=0.0, ge=0, lt=1, description="Relative improvement the challenger needs.")
    approval: Literal["auto", "manual"] = "auto"
    endpoint: Endpoint | None = None
    content_types: list[str] = Field(default=["text/csv"], min_length=1, max_length=10)
    response_types: list[str] = Field(default=["text/csv"], min_length=1, max_length=10)
    inference_instance_types: list[str] = Field(default=["ml.m5.large"], min_length=1, max_length=10)


class Alerts(StrictModel):
    on: list[Outcome] = Field(
        default=list(ALL_OUTCOMES),
        description="Which round outcomes send an alert: promoted, not_promoted, pending_approval, over_budget, and "
        "round_failed when the tuning job left no model to evaluate. Every other alert is always sent.",
    )


class Profile(StrictModel):
    """How to tune one model. See docs/profiles.md for the fields and profiles/ for examples."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="retune profile")

    name: str = Field(pattern=PROFILE_NAME_PATTERN, min_length=1, max_length=PROFILE_NAME_MAX)
    description: str = Field(default="", max_length=1024)
    objective: Objective
    training: Training
    metrics: MetricNames = MetricNames.model_construct()
    search: Search
    budget: Budget = Budget.model_construct()
    early_stopping: Literal["Auto", "Off"] = "Auto"
    bounds: Bounds = Bounds.model_construct()
    evaluation: Evaluation = Evaluation.model_construct()
    promotion: Promotion
    alerts: Alerts = Alerts.model_construct()

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        metric_names = {d.name for d in self.training.metric_definitions}
        if metric_names and self.objective.metric_name not in metric_names:
            raise ValueError(
                f"objective.metric_name {self.objective.metric_name!r} needs a training.metric_definitions entry"
            )
        for field, metric in (
            ("metrics.epochs", self.metrics.epochs),
            ("metrics.compute", self.metrics.compute),
        ):
            if metric is not None and metric_names and metric not in metric_names:
                raise ValueError(f"{field} {metric!r} needs a training.metric_definitions entry")
        patience = self.metrics.patience_hyperparameter
        if patience is not None:
            if patience not in self.training.static_hyperparameters:
                raise ValueError(
                    f"metrics.patience_hyperparameter {patience!r} must be a training.static_hyperparameters key"
                )
            if not self.training.static_hyperparameters[patience].isdigit():
                raise ValueError(f"static hyperparameter {patience!r} (the patience) must be a whole number")
        overlap = {r.name for r in self.search.ranges} & set(self.training.static_hyperparameters)
        if overlap:
            raise ValueError(f"hyperparameters both static and searched: {sorted(overlap)}")
        if self.search.strategy == "Hyperband" and self.early_stopping != "Off":
            raise ValueError("the Hyperband strategy needs early_stopping Off (it stops trials itself)")
        if self.evaluation.test_channel in self.training.channels:
            raise ValueError(
                f"evaluation.test_channel {self.evaluation.test_channel!r} must be held out of training.channels"
            )
        group = self.promotion.model_package_group
        if group and group.lower().startswith(GROUP_PREFIX) and group.lower() != default_group(self.name):
            # retune-<name> is the default group of profile <name>: no other profile may register there.
            raise ValueError(
                f"promotion.model_package_group {group!r} is the group of profile "
                f"{group[len(GROUP_PREFIX) :]!r}: name a group of this profile's own, or leave the field out "
                f"for {default_group(self.name)!r}"
            )
        return self

    @property
    def model_package_group(self) -> str:
        return self.promotion.model_package_group or default_group(self.name)

    @property
    def evaluation_image(self) -> str:
        return self.evaluation.image or self.training.image

    @property
    def patience(self) -> int | None:
        name = self.metrics.patience_hyperparameter
        return int(self.training.static_hyperparameters[name]) if name else None

    def resolved_bounds(self) -> ResolvedBounds:
        """Every bound the policy obeys, those the profile leaves out derived from its own values."""
        b, budget = self.bounds, self.budget
        runtime = self.training.max_runtime_seconds
        patience = self.patience
        hyperband = self.search.hyperband
        return ResolvedBounds(
            max_jobs=b.max_jobs
            or IntBound(floor=min(budget.max_jobs, max(2, budget.max_jobs // 4)), ceiling=budget.max_jobs),
            max_parallel_jobs=b.max_parallel_jobs or IntBound(floor=1, ceiling=budget.max_parallel_jobs),
            max_runtime_seconds=b.max_runtime_seconds
            or IntBound(floor=min(runtime, max(60, runtime // 10)), ceiling=runtime),
            max_jobs_not_improving=b.max_jobs_not_improving
            or IntBound(floor=MIN_JOBS_NOT_IMPROVING, ceiling=max(MIN_JOBS_NOT_IMPROVING, budget.max_jobs)),
            patience=b.patience
            or (IntBound(floor=min(patience, max(1, patience // 4)), ceiling=patience) if patience else None),
            min_resource=b.min_resource
            or (IntBound(floor=1, ceiling=hyperband.max_resource) if hyperband else None),
            max_resource=b.max_resource
            or (
                IntBound(floor=hyperband.min_resource, ceiling=hyperband.max_resource) if hyperband else None
            ),
            min_range_fraction=b.min_range_fraction,
            max_warm_start_parents=b.max_warm_start_parents,
            drift_tolerance=b.drift_tolerance,
            seed_noise=b.seed_noise,
        )

    def alerts_on(self, outcome: Outcome) -> bool:
        return outcome in self.alerts.on


def parse_profile(raw: str | bytes | dict[str, object], *, expected_name: str | None = None) -> Profile:
    """Validate a profile document; raise InvalidInput whose errors name each field and what would be valid."""
    size = len(raw.encode() if isinstance(raw, str) else raw) if isinstance(raw, str | bytes) else 0
    if size > PROFILE_MAX_BYTES:
        # Reads stop one byte past the limit: what they got fails as JSON (or passes, when the rest is blanks).
        raise InvalidInput(
            "profile", [f"(document): over the {PROFILE_MAX_BYTES}-byte limit of a profile; make it smaller"]
        )
    try:
        profile = Profile.model_validate(raw) if isinstance(raw, dict) else Profile.model_validate_json(raw)
    except ValueError as exc:
        raise InvalidInput("profile", describe_validation_error(exc)) from exc
    if expected_name is not None and profile.name != expected_name:
        raise InvalidInput(
            "profile",
            [
                f"name: {profile.name!r} does not match its file profiles/{expected_name}.json; make them the same"
            ],
        )
    return profile


class EmptyProfile(InvalidInput):
    """The profile's object is empty (0 bytes or blanks): invalid like any profile that is not JSON, with the
    parser's errors; StartRound tells the user it is empty instead."""


class StoredProfile(NamedTuple):
    profile: Profile
    version: str  # the object's S3 version (its ETag where the bucket is not versioned)


def profile_key(name: str) -> str:
    """Where a profile lives in the data bucket."""
    return f"profiles/{name}.json"


def read_profile(bucket: "BucketPort", data_bucket: str, name: str) -> StoredProfile:
    """The profile `name` as stored, with its version. NotFound when it is missing, EmptyProfile when it is empty,
    InvalidInput when it is invalid; a transient failure (throttling) is raised for Lambda to retry. Each caller
    decides what a missing or invalid profile means to it (StartRound fails the drop, CloseRound plans later,
    Promote waits for a missing one)."""
    stored = bucket.read(data_bucket, profile_key(name), max_bytes=PROFILE_MAX_BYTES)
    try:
        return StoredProfile(parse_profile(stored.body, expected_name=name), stored.version)
    except InvalidInput as exc:
        if not stored.body.strip():
            raise EmptyProfile(exc.what, exc.errors) from exc
        raise
