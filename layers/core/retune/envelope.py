"""EventBridge's envelope, which every event retune receives comes in: S3's and SageMaker's, and its own."""

# Annotations are evaluated as written, not postponed: see retune.modeling.
from typing import Any

from pydantic import ConfigDict, Field

from retune.modeling import Model
from retune.timeutil import Timestamp


class Envelope(Model):
    """EventBridge's envelope (the `replay-name` of a replayed event is kept but not needed)."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore")

    version: str = "0"
    id: str
    detail_type: str = Field(alias="detail-type")
    source: str
    account: str = ""
    time: Timestamp
    region: str = ""
    resources: list[str] = Field(default_factory=list)
    detail: dict[str, Any]
