"""SageMaker's built-in XGBoost algorithm, offline: which training image URIs are the built-in algorithm, and the
local command that stands in for each emulated version.

The URI table is the SageMaker Python SDK's own (data/sagemaker-xgboost-uris.json says from where): a version's
image is `<account>.dkr.ecr.<region>.<domain>/<repository>:<tag>`, the account being the one the table lists for
that region. Emulated versions run xgboost_algorithm.py (the algorithm's contract) with an xgboost of that version,
in a venv of their own built by `make xgboost-venvs`; every other version AWS lists is refused by name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from retune_local.images import ImageSpec
from retune_local.xgboost_algorithm import ALIASES, MAXIMIZE, MINIMIZE, hyperparameter_table

ROOT = Path(__file__).resolve().parents[2]
URI_TABLE = Path(__file__).resolve().parent / "data" / "sagemaker-xgboost-uris.json"
ALGORITHM = Path(__file__).resolve().parent / "xgboost_algorithm.py"
VENVS = ROOT / ".venv-tools"


@dataclass(frozen=True)
class Emulated:
    xgboost: str
    """The xgboost release the version's container is built on (its Dockerfile's pin)."""

    @property
    def venv(self) -> Path:
        return VENVS / f"xgboost-{self.xgboost}"

    @property
    def python(self) -> Path:
        return self.venv / "bin" / "python"


# The versions whose container source is public (aws/sagemaker-xgboost-container tags v1.7-1, v3.0-5) and whose
# xgboost wheels install here. Each has its own venv: 1.7 saves the legacy binary model format, 3.0 UBJSON.
EMULATED: dict[str, Emulated] = {"1.7-1": Emulated("1.7.6"), "3.0-5": Emulated("3.0.5")}
SECONDS_PER_ROUND = 1.0

# The metrics the built-in algorithm declares (sagemaker_xgboost_container/constants/xgb_constants.py), each
# published for the train and validation channels. The algorithm logs `[<round>]#011train-<metric>:<value>#011...`
# per round (CloudWatch shows its tabs as #011); the regular expressions are those DescribeTrainingJob shows in a
# built-in XGBoost job's AlgorithmSpecification.MetricDefinitions.
METRIC_DEFINITIONS: tuple[dict[str, str], ...] = tuple(
    {
        "Name": f"{channel}:{metric}",
        "Regex": rf".*\[[0-9]+\].*#011{channel}-{metric}:([-+]?[0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?).*",
    }
    for channel in ("validation", "train")
    for metric in (*MAXIMIZE, *MINIMIZE)
)
# What AMT lets a tuning job of the built-in algorithm use, checked when the tuning job is created (a
# ValidationException, not failed trials: docs/local-sagemaker.md, "Tuning the built-in algorithm").
# Objectives: `validation:<metric>` for each metric the container declares, in that metric's direction (the
# developer guide's "Tune an XGBoost Model" lists a subset, with the same directions; the container accepts exactly
# these as `_tuning_objective_metric`).
TUNING_OBJECTIVES: dict[str, str] = {
    **{f"validation:{metric}": "Maximize" for metric in MAXIMIZE},
    **{f"validation:{metric}": "Minimize" for metric in MINIMIZE},
}
# The hyperparameters the same page lists as tunable ("Tunable XGBoost Hyperparameters"), with their range type.
TUNABLE: dict[str, str] = {
    "alpha": "Continuous",
    "colsample_bylevel": "Continuous",
    "colsample_bynode": "Continuous",
    "colsample_bytree": "Continuous",
    "eta": "Continuous",
    "gamma": "Continuous",
    "lambda": "Continuous",
    "max_delta_step": "Integer",
    "max_depth": "Integer",
    "min_child_weight": "Continuous",
    "num_round": "Integer",
    "subsample": "Continuous",
}
_RANGE_KINDS = {
    "IntegerParameterRanges": "Integer",
    "ContinuousParameterRanges": "Continuous",
    "CategoricalParameterRanges": "Categorical",
}
_URI = re.compile(
    r"^(?P<account>[0-9]{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.[a-z0-9.-]+/(?P<repository>[a-z0-9._/-]+)"
    r":(?P<tag>[A-Za-z0-9._-]+)$"
)


@cache
def uri_table() -> dict[str, Any]:
    document: dict[str, Any] = json.loads(URI_TABLE.read_text())
    return document


def _versions() -> dict[str, dict[str, Any]]:
    versions: dict[str, dict[str, Any]] = uri_table()["training"]["versions"]
    return versions


def _tags(version: str, entry: dict[str, Any]) -> list[str]:
    """The tags the SDK gives a version: `1.7-1`; `0.90-1-cpu-py3` where it lists processors and Python versions;
    the legacy algorithm (version "1") also answers to `latest`."""
    tags = [version]
    for processor in entry.get("processors", []):
        tags += [f"{version}-{processor}-{py}" for py in entry.get("py_versions", [])]
    aliases = uri_table()["training"].get("version_aliases", {})
    tags += [alias for alias, target in aliases.items() if target == version]
    return tags


@dataclass(frozen=True)
class BuiltIn:
    """A training image URI that names SageMaker's built-in XGBoost."""

    version: str
    region: str

    @property
    def emulated(self) -> Emulated | None:
        return EMULATED.get(self.version)


def parse(image: str) -> BuiltIn | None:
    """The built-in XGBoost version an image URI names, or None when the URI is not one of the table's (another
    account, repository or tag)."""
    match = _URI.match(image)
    if match is None:
        return None
    for version, entry in _versions().items():
        if entry.get("repository") != match["repository"] or match["tag"] not in _tags(version, entry):
            continue
        if entry["registries"].get(match["region"]) == match["account"]:
            return BuiltIn(version, match["region"])
    return None


def refusal(image: str) -> str | None:
    """Why a built-in XGBoost image cannot run locally (a FailureReason), or None when it can or is not built-in."""
    builtin = parse(image)
    if builtin is None:
        return None
    emulated = builtin.emulated
    listed = ", ".join(sorted(EMULATED))
    if emulated is None:
        what = (
            "SageMaker's legacy XGBoost algorithm"
            if builtin.version == "1"
            else "SageMaker's built-in XGBoost"
        )
        return (
            f"ClientError: {image!r} is {what} version {builtin.version}, which the local SageMaker does not "
            f"emulate: use version {listed} (docs/local-sagemaker.md, SageMaker's built-in XGBoost)"
        )
    if not emulated.python.is_file():
        return (
            f"ClientError: {image!r} is SageMaker's built-in XGBoost {builtin.version}: its xgboost "
            f"{emulated.xgboost} venv {emulated.venv} is not built: run `make xgboost-venvs`"
        )
    return None


def image_spec(image: str) -> ImageSpec | None:
    """The local stand-in for a built-in XGBoost image URI of an emulated version (None otherwise)."""
    builtin = parse(image)
    if builtin is None or builtin.emulated is None or refusal(image) is not None:
        return None
    return ImageSpec(
        argv=(str(builtin.emulated.python), str(ALGORITHM), builtin.version),
        # Its own interpreter, not the control plane's: no warm runner.
        warm=False,
        # The deterministic clock's step per boosting round (the default, 60 s, is a neural network's epoch): at
        # 60 s a 500-round profile would pass any MaxRuntimeInSeconds.
        seconds_per_epoch=SECONDS_PER_ROUND,
        metric_definitions=METRIC_DEFINITIONS,
        reports_error_category=True,
    )


def image_uri(version: str, region: str = "us-east-1") -> str:
    """The URI the SDK's image_uris.retrieve("xgboost", region, version) gives (tests and demos)."""
    entry = _versions()[version]
    domain = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    tag = _tags(version, entry)[-1] if entry.get("processors") else version
    return f"{entry['registries'][region]}.dkr.ecr.{region}.{domain}/{entry['repository']}:{tag}"


def tuning_job_errors(image: str, config: Mapping[str, Any]) -> list[str]:
    """Why AMT refuses a HyperParameterTuningJobConfig for a built-in XGBoost image (empty when it does not, or when
    the image is not built-in): an objective the algorithm does not publish or in the other direction, a range over
    a hyperparameter it does not let AMT tune, or one reaching outside the values the algorithm accepts."""
    builtin = parse(image)
    if builtin is None:
        return []
    errors: list[str] = []
    objective = config.get("HyperParameterTuningJobObjective") or {}
    metric, direction = objective.get("MetricName"), objective.get("Type")
    if metric not in TUNING_OBJECTIVES:
        errors.append(
            f"The objective metric for the hyperparameter tuning job, [{metric}], isn't valid for the [{image}] "
            f"algorithm. Choose a valid objective metric: {', '.join(sorted(TUNING_OBJECTIVES))}."
        )
    elif direction != TUNING_OBJECTIVES[metric]:
        errors.append(
            f"The objective metric type, [{direction}], that you specified for objective metric, [{metric}], isn't "
            f"valid for the [{image}] algorithm. Choose a valid objective metric type: {TUNING_OBJECTIVES[metric]}."
        )
    table = hyperparameter_table(builtin.version)
    ranges = config.get("ParameterRanges") or {}
    untunable: list[str] = []
    for key, kind in _RANGE_KINDS.items():
        for item in ranges.get(key) or []:
            name = str(item.get("Name"))
            if name not in TUNABLE:
                untunable.append(name)
                continue
            errors.extend(_range_errors(image, name, kind, item, table[name]))
    if untunable:
        aliases = [
            f"{name} is the algorithm's alias of {ALIASES[name]}" for name in untunable if name in ALIASES
        ]
        errors.append(
            "The hyperparameter tuning job that you requested has the following untunable hyperparameters: "
            f"[{', '.join(untunable)}]. For the algorithm, [{image}], you can tune only "
            f"[{', '.join(TUNABLE)}]. Delete untunable hyperparameters"
            + (f" ({'; '.join(aliases)}: name the range by the latter)." if aliases else ".")
        )
    return errors


def _range_errors(
    image: str, name: str, kind: str, item: Mapping[str, Any], allowed: tuple[str, Any]
) -> list[str]:
    """A range over a tunable hyperparameter: of its type, every end (or value) within what the algorithm
    accepts."""
    value_type, interval = allowed
    if kind == "Continuous" and TUNABLE[name] == "Integer":
        return [
            f"The hyperparameter [{name}] of the [{image}] algorithm takes integers: give it an "
            "IntegerParameterRange, not a ContinuousParameterRange."
        ]
    if kind == "Categorical":
        ends = [("Values", str(value)) for value in item.get("Values") or []]
    else:
        ends = [("MinValue", str(item.get("MinValue"))), ("MaxValue", str(item.get("MaxValue")))]
    errors = []
    for field, text in ends:
        try:
            number = int(text) if value_type == "int" else float(text)
        except ValueError:
            number = None
        if number is None or number not in interval:
            errors.append(
                f"The value [{text}] of {field} in the {kind}ParameterRange for hyperparameter [{name}] is not "
                f"valid for the [{image}] algorithm: it accepts {value_type} values in {interval}."
            )
    return errors
