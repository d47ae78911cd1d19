"""The bases of retune's pydantic models.

Every model defers building its validator and serializer (`defer_build`) to its first use: a function's cold start
then builds the models its invocation validates or dumps, not every model of every module it imports
(benchmarks/cold_start.py). Behaviour is the same: a model is built, once, when it is first needed. (retune.plan's
Plan is the exception, built at import: see there.)

The modules that define models do without `from __future__ import annotations`: with it, every field's annotation
is a string that pydantic compiles and evaluates when it defines the model, about 30% of the cost of defining
retune's records, for instance.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    """A pydantic model built at its first use (a subclass's `model_config` adds to this one)."""

    model_config = ConfigDict(defer_build=True)


class StrictModel(Model):
    """Unknown keys are errors: a typo in a profile must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", frozen=True)
