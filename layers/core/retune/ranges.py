"""The hyperparameter ranges AMT searches: a profile's `search.ranges`, and a plan's (the policy narrows them).

They are the only part of the profile that a round's plan, and so every stored round, holds: they live apart from
the profile, so that a function that reads rounds but no profile does not define the profile's models.
"""

# Annotations are evaluated as written, not postponed: see retune.modeling.
from typing import Annotated, Literal, Self

from pydantic import Field, field_validator, model_validator

from retune.modeling import StrictModel

HYPERPARAMETER_NAME_PATTERN = r"^[A-Za-z0-9_.:\-]+$"

Scaling = Literal["Auto", "Linear", "Logarithmic", "ReverseLogarithmic"]


def _check_order_and_log(name: str, low: float, high: float, scaling: Scaling) -> None:
    """What both numeric ranges require: min_value at most max_value, and above 0 for Logarithmic scaling."""
    if low > high:
        raise ValueError(f"range {name}: min_value {low} is above max_value {high}")
    if scaling == "Logarithmic" and low <= 0:
        raise ValueError(f"range {name}: Logarithmic scaling needs min_value above 0")


class IntegerRange(StrictModel):
    type: Literal["integer"] = "integer"
    name: str = Field(pattern=HYPERPARAMETER_NAME_PATTERN, max_length=256)
    min_value: int
    max_value: int
    scaling: Scaling = "Auto"

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        _check_order_and_log(self.name, self.min_value, self.max_value, self.scaling)
        if self.scaling == "ReverseLogarithmic":
            raise ValueError(f"range {self.name}: ReverseLogarithmic applies to continuous ranges only")
        return self


class ContinuousRange(StrictModel):
    type: Literal["continuous"] = "continuous"
    name: str = Field(pattern=HYPERPARAMETER_NAME_PATTERN, max_length=256)
    min_value: float
    max_value: float
    scaling: Scaling = "Auto"

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        _check_order_and_log(self.name, self.min_value, self.max_value, self.scaling)
        if self.scaling == "ReverseLogarithmic" and not (self.min_value >= 0 and self.max_value < 1):
            raise ValueError(
                f"range {self.name}: ReverseLogarithmic scaling needs 0 <= min_value, max_value < 1"
            )
        return self


class CategoricalRange(StrictModel):
    type: Literal["categorical"] = "categorical"
    name: str = Field(pattern=HYPERPARAMETER_NAME_PATTERN, max_length=256)
    values: list[str] = Field(min_length=1, max_length=30)

    @field_validator("values")
    @classmethod
    def _distinct(cls, value: list[str]) -> list[str]:
        if len(value) != len(set(value)):
            raise ValueError("categorical values must be distinct")
        return value


ParameterRange = Annotated[IntegerRange | ContinuousRange | CategoricalRange, Field(discriminator="type")]
