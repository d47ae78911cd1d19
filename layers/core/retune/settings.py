"""The functions' configuration: environment variables as one typed model, validated once per cold start.

A missing or malformed variable fails the invocation loudly at its start; there are no silent defaults for names
of resources. The template sets every variable (template.yaml, Globals and each function).
"""

# Annotations are evaluated as written, not postponed: see retune.modeling.
import os
from functools import cache

from pydantic import ConfigDict, Field, ValidationError, field_validator

from retune.errors import RetuneError
from retune.modeling import Model


class SettingsError(RetuneError):
    """The function's environment is incomplete: a deployment problem, not bad input."""


class Settings(Model):
    model_config = ConfigDict(frozen=True)

    state_table: str = Field(alias="STATE_TABLE", min_length=3)
    idempotency_table: str = Field(alias="IDEMPOTENCY_TABLE", min_length=3)
    data_bucket: str = Field(alias="DATA_BUCKET", min_length=3)
    alerts_topic_arn: str = Field(alias="ALERTS_TOPIC_ARN", pattern=r"^arn:aws[a-z\-]*:sns:")
    sagemaker_role_arn: str = Field(alias="SAGEMAKER_ROLE_ARN", pattern=r"^arn:aws[a-z\-]*:iam::")
    event_bus_name: str = Field(alias="EVENT_BUS_NAME", min_length=1)
    parked_queue_urls: tuple[str, ...] = Field(
        default=(), alias="PARKED_QUEUE_URLS", description="Comma-separated: Reconcile alerts on their depth."
    )
    stall_factor: float = Field(default=3.0, alias="STALL_FACTOR", gt=0)
    tracking_server: str | None = Field(
        default=None,
        alias="TRACKING_SERVER",
        description="Track's MLflow tracking server: a SageMaker managed server's ARN or an MLflow URI.",
    )
    region: str | None = Field(
        default=None, alias="AWS_REGION", description="Set by Lambda; for console links."
    )

    @field_validator("parked_queue_urls", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(url.strip() for url in value.split(",") if url.strip())
        return value


@cache
def get_settings() -> Settings:
    """The settings from the environment, read once per execution environment (Lambda's cold start)."""
    return load_settings(dict(os.environ))


def load_settings(environ: dict[str, str]) -> Settings:
    try:
        return Settings.model_validate(environ)
    except ValidationError as exc:
        missing = [
            ".".join(str(p) for p in e["loc"]) + f": {e['msg']}" for e in exc.errors(include_url=False)
        ]
        raise SettingsError("the function's environment is incomplete: " + "; ".join(missing)) from exc
