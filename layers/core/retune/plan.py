"""The next round's plan: every setting retune may move, each with its value, its previous value and the reason.

`retune.policy.plan_next_round` computes it; StartRound turns it into a CreateHyperParameterTuningJob request.
"""

# Annotations are evaluated as written, not postponed: see retune.modeling.
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from retune.modeling import Model
from retune.ranges import ParameterRange

FROM_PROFILE = "from the profile"


class Setting[T](Model):
    model_config = ConfigDict(frozen=True)

    value: T
    previous: T | None = None
    reason: str = FROM_PROFILE

    @property
    def moved(self) -> bool:
        return self.previous is not None and self.previous != self.value


class Change(Model):
    setting: str
    from_: Any = Field(alias="from", serialization_alias="from")
    to: Any
    reason: str

    model_config = ConfigDict(populate_by_name=True)


class Plan(Model):
    """The settings of one round. Every field is a Setting; `changes()` lists those that moved, with reasons."""

    # Built at import, unlike the other models (retune.modeling): a round's record holds its plan, and a model
    # built before the models holding it lends them its schema, where a deferred one is built once inside each of
    # them and once more on its own (StartRound, CloseRound and Promote read rounds and make plans).
    model_config = ConfigDict(frozen=True, defer_build=False)

    profile_version: str | None = Field(default=None, description="The profile's S3 version it was made for.")
    based_on_rounds: list[int] = Field(
        default_factory=list, description="The earlier rounds it learned from."
    )
    drift_answered: int | None = Field(
        default=None,
        description="The latest round whose drift the policy has answered (by loosening), so it answers it once.",
    )

    strategy: Setting[Literal["Bayesian", "Random", "Hyperband", "Grid"]]
    max_jobs: Setting[int]
    max_parallel_jobs: Setting[int]
    early_stopping: Setting[Literal["Auto", "Off"]]
    max_runtime_seconds: Setting[int]
    warm_start_parents: Setting[list[str]]
    warm_start_type: Setting[Literal["TransferLearning", "IdenticalDataAndAlgorithm"]]
    target_objective: Setting[float | None]
    max_jobs_not_improving: Setting[int | None]
    complete_on_convergence: Setting[bool]
    ranges: Setting[list[ParameterRange]]
    min_resource: Setting[int | None]
    max_resource: Setting[int | None]
    patience: Setting[int | None]
    # Plans stored before incumbents existed ran none.
    incumbents: Setting[int] = Setting[int](value=0)

    SETTINGS: ClassVar[tuple[str, ...]] = (
        "strategy",
        "max_jobs",
        "max_parallel_jobs",
        "early_stopping",
        "max_runtime_seconds",
        "warm_start_parents",
        "warm_start_type",
        "target_objective",
        "max_jobs_not_improving",
        "complete_on_convergence",
        "ranges",
        "min_resource",
        "max_resource",
        "patience",
        "incumbents",
    )

    def setting(self, name: str) -> Setting[Any]:
        value: Setting[Any] = getattr(self, name)
        return value

    def changes(self) -> list[Change]:
        """The settings that moved from the previous round's plan, each with its reason."""
        # A plan made from a previous one has a previous strategy (never None): there a previous None is a value
        # (no BestObjectiveNotImproving, say), and None -> 3 or 3 -> None is a move too.
        follows = self.strategy.previous is not None
        out = []
        for name in self.SETTINGS:
            setting = self.setting(name)
            if setting.previous != setting.value if follows else setting.moved:
                out.append(
                    Change(
                        setting=name,
                        from_=_plain(setting.previous),
                        to=_plain(setting.value),
                        reason=setting.reason,
                    )
                )
        return out


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    return value
