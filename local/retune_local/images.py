"""The image registry: which local command stands in for a `TrainingImage`.

A training image URI such as `123456789012.dkr.ecr.us-east-1.amazonaws.com/retune-xgb:1.2` is looked up, in
order:
1. exactly as given;
2. without its registry host (`retune-xgb:1.2`);
3. without host, tag and digest (`retune-xgb`).
So registering `retune-xgb` covers every registry and tag; registering `retune-xgb:1.2` pins one tag.
An image registered under none of these names may be SageMaker's built-in XGBoost (builtin_xgboost.py): its URIs
resolve without registration.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

DEFAULT_SECONDS_PER_EPOCH = 60.0


@dataclass(frozen=True)
class ImageSpec:
    """A local stand-in for a training image.

    argv: the command, e.g. [sys.executable, "trainers/xgb.py", "train"]. Python commands of the form
        `python script.py ...`, `python -m module ...` or `python -c ...` can run on the warm runner.
    preload: modules the warm runner imports once, before forking jobs (e.g. ["numpy", "pandas", "xgboost"]).
    seconds_per_epoch: the deterministic mode's virtual clock advances this much per epoch (per emission of
    the
        objective metric); it sets TrainingTimeInSeconds, BillableTimeInSeconds and MaxRuntimeInSeconds
        checks.
    env: extra environment for the process (and for the warm runner's server, e.g. PYTHONPATH).
    warm: run on the warm runner when the command allows it.
    metric_definitions: the metrics the image publishes itself (a built-in algorithm's); used when the request
        has no MetricDefinitions.
    reports_error_category: the image writes output/failure starting with its own category ("ClientError: ",
        "AlgorithmError: "), as SageMaker's built-in algorithms report them; FailureReason keeps it.
    """

    argv: tuple[str, ...]
    preload: tuple[str, ...] = ()
    seconds_per_epoch: float = DEFAULT_SECONDS_PER_EPOCH
    env: Mapping[str, str] = field(default_factory=dict)
    warm: bool = True
    metric_definitions: tuple[Mapping[str, str], ...] = ()
    reports_error_category: bool = False

    @classmethod
    def python(cls, *args: str, **kwargs: object) -> ImageSpec:
        """An image that runs `<this interpreter> *args`."""
        return cls(argv=(sys.executable, *args), **kwargs)  # type: ignore[arg-type]


_HOST = re.compile(r"^[^/]+[.:][^/]*/")  # a first path part with a dot or a port is a registry host


def candidates(image: str) -> list[str]:
    """The names an image URI is looked up under, most specific first."""
    names = [image]
    without_host = _HOST.sub("", image, count=1) if "/" in image else image
    names.append(without_host)
    bare = without_host.split("@", 1)[0]
    last = bare.rsplit("/", 1)[-1]
    if ":" in last:
        bare = bare[: len(bare) - len(last)] + last.split(":", 1)[0]
    names.append(bare)
    unique: list[str] = []
    for name in names:
        if name not in unique:
            unique.append(name)
    return unique


class ImageRegistry:
    def __init__(self, images: Mapping[str, ImageSpec | Sequence[str]] | None = None) -> None:
        self._images: dict[str, ImageSpec] = {}
        for name, spec in (images or {}).items():
            self.register(name, spec)

    def register(self, name: str, spec: ImageSpec | Sequence[str]) -> ImageSpec:
        image = spec if isinstance(spec, ImageSpec) else ImageSpec(argv=tuple(spec))
        self._images[name] = image
        return image

    def resolve(self, image: str) -> ImageSpec | None:
        for name in candidates(image):
            if name in self._images:
                return self._images[name]
        from retune_local import builtin_xgboost  # noqa: PLC0415 (reads its URI table on first use)

        return builtin_xgboost.image_spec(image)

    def missing_reason(self, image: str) -> str:
        """The FailureReason of a job whose image does not resolve."""
        from retune_local import builtin_xgboost  # noqa: PLC0415

        return builtin_xgboost.refusal(image) or (
            f"ClientError: the training image {image!r} does not exist in the local image "
            "registry: register it (LocalSageMaker(images=...), register_image, or --image NAME=COMMAND)"
        )

    def names(self) -> list[str]:
        return sorted(self._images)
