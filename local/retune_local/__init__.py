"""retune's local stand-ins: a SageMaker service that really runs training and tuning jobs
(docs/local-sagemaker.md).

Not deployed. It may import `retune`; `retune` never imports it. Imports are lazy so that the warm runner's
server (`retune_local.forkserver`) starts without loading the service.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retune_local.api import LocalSageMaker, SeedTrial
    from retune_local.errors import ServiceError
    from retune_local.images import ImageSpec

__all__ = ["ImageSpec", "LocalSageMaker", "SeedTrial", "ServiceError"]


def __getattr__(name: str) -> Any:
    if name in ("LocalSageMaker", "SeedTrial"):
        from retune_local import api  # noqa: PLC0415

        return getattr(api, name)
    if name == "ImageSpec":
        from retune_local.images import ImageSpec  # noqa: PLC0415

        return ImageSpec
    if name == "ServiceError":
        from retune_local.errors import ServiceError  # noqa: PLC0415

        return ServiceError
    raise AttributeError(name)
