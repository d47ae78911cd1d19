"""Checks a SageMaker request before it is sent: the whole service model, then AMT's own rules.

botocore's client checks required members, types and minimums only, so a 63-character tuning job name with
`_`, a bogus Strategy or six warm-start parents reach SageMaker and come back as a ValidationException, after
the round was recorded as started. `request_errors` checks every constraint of botocore's service model
(required and unknown members, types, lengths, counts, ranges, enums, patterns) and, for
CreateHyperParameterTuningJob, the rules AMT documents but the model cannot express. Each error names the
field's path and what would be valid.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from retune.errors import InvalidRequest
from retune.sagemaker_facts import MAX_HYPERBAND_RESOURCE, TERMINAL_JOB_STATUSES

if TYPE_CHECKING:
    from collections.abc import Callable

    from botocore.model import ListShape, MapShape, ServiceModel, Shape, StringShape, StructureShape

__all__ = ["ParentJob", "request_errors", "validate_request"]

MAX_TUNED_HYPERPARAMETERS = 30
MAX_TUNABLE_TO_STATIC_CHANGES = 10
# Static hyperparameters Hyperband reads MaxResource from when HyperbandStrategyConfig leaves it out.
HYPERBAND_EPOCH_KEYS = ("epochs", "numepochs", "n-epochs", "n_epochs", "num_epochs")


class ParentJob(NamedTuple):
    """A warm-start parent as DescribeHyperParameterTuningJob reports it."""

    name: str
    status: str
    objective_metric: str | None
    hyperparameter_types: Mapping[str, str]  # name -> "integer" | "continuous" | "categorical" | "static"


def request_errors(
    operation: str,
    params: Mapping[str, Any],
    *,
    service_model: ServiceModel | None = None,
    parents: Mapping[str, ParentJob] | None = None,
) -> list[str]:
    """Every reason SageMaker would reject `params` for `operation` that can be known before sending it.

    `service_model` defaults to SageMaker's, loaded once; pass `client.meta.service_model` to reuse the
    client's. `parents` are the described warm-start parents by name; without them only the request itself is
    checked. An operation the model lacks raises botocore's OperationNotFoundError: a bug, not a bad request.
    """
    model = service_model if service_model is not None else _sagemaker_model()
    errors: list[str] = []
    input_shape = model.operation_model(operation).input_shape
    if input_shape is not None:
        _check(params, input_shape, "", errors)
    if isinstance(params, Mapping):
        errors.extend(_tag_errors(params))
        rules = _OPERATION_RULES.get(operation)
        if rules is not None:
            errors.extend(rules(params, parents))
    return errors


def validate_request(
    operation: str,
    params: Mapping[str, Any],
    *,
    service_model: ServiceModel | None = None,
    parents: Mapping[str, ParentJob] | None = None,
) -> None:
    """Raise InvalidRequest listing every error of `request_errors`, if there is any."""
    errors = request_errors(operation, params, service_model=service_model, parents=parents)
    if errors:
        raise InvalidRequest(operation, errors)


@cache
def _sagemaker_model() -> ServiceModel:
    # Imported here: a Lambda that passes its client's model never pays for botocore's session.
    import botocore.session  # noqa: PLC0415

    return botocore.session.get_session().get_service_model("sagemaker")


# --- the service model --------------------------------------------------------------------------------------

_NUMBER = (int, float, Decimal)
_EXPECTED: dict[str, tuple[tuple[type, ...], str]] = {
    "structure": ((Mapping,), "an object"),
    "map": ((Mapping,), "an object"),
    "list": ((list, tuple), "a list"),
    "string": ((str,), "a string"),
    "integer": ((int,), "an integer"),
    "long": ((int,), "an integer"),
    "float": (_NUMBER, "a number"),
    "double": (_NUMBER, "a number"),
    "boolean": ((bool,), "true or false"),
    "timestamp": ((datetime, str, int, float), "a datetime or a timestamp string"),
    "blob": ((bytes, bytearray, str), "bytes"),
}


def _check(value: object, shape: Shape, path: str, errors: list[str]) -> None:
    """Check `value` against `shape` and, recursively, everything inside it."""
    kind = shape.type_name
    if kind == "structure" and cast("StructureShape", shape).is_document_type:
        return  # free-form JSON
    types, description = _EXPECTED.get(kind, ((object,), kind))
    wrong_bool = isinstance(value, bool) and kind != "boolean"  # bool is an int to Python, not to AWS
    file_like = kind == "blob" and hasattr(value, "read")
    if (not isinstance(value, types) or wrong_bool) and not file_like:
        errors.append(
            f"{path or '(request)'}: expected {description}, got {type(value).__name__} {_show(value)}"
        )
        return
    if kind == "structure":
        _check_structure(cast("Mapping[str, object]", value), cast("StructureShape", shape), path, errors)
    elif kind == "list":
        items = cast("Sequence[object]", value)
        _check_bounds(shape, path, len(items), f"{len(items)} items", errors)
        member = cast("ListShape", shape).member
        for index, item in enumerate(items):
            _check(item, member, f"{path}[{index}]", errors)
    elif kind == "map":
        entries = cast("Mapping[object, object]", value)
        _check_bounds(shape, path, len(entries), f"{len(entries)} entries", errors)
        map_shape = cast("MapShape", shape)
        for key, item in entries.items():
            _check(key, map_shape.key, f"{path} key {_show(key)}", errors)
            _check(item, map_shape.value, f"{path}[{_show(key)}]", errors)
    elif kind == "string":
        _check_string(cast("str", value), cast("StringShape", shape), path, errors)
    elif kind in ("integer", "long", "float", "double"):
        _check_bounds(shape, path, cast("float", value), _show(value), errors)


def _check_structure(
    value: Mapping[str, object], shape: StructureShape, path: str, errors: list[str]
) -> None:
    members = shape.members
    if shape.is_tagged_union and len(value) != 1:
        errors.append(f"{path}: set exactly one of {', '.join(members)}")
    for name in shape.required_members:
        if name not in value:
            errors.append(f"{_join(path, name)}: required: add it")
    for name, item in value.items():
        member = members.get(name)
        if member is not None:
            _check(item, member, _join(path, name), errors)
            continue
        guess = _closest(str(name), list(members))
        fix = f"did you mean {guess}?" if guess else f"remove it ({shape.name} takes {', '.join(members)})"
        errors.append(f"{_join(path, str(name))}: unknown member: {fix}")


def _check_string(value: str, shape: StringShape, path: str, errors: list[str]) -> None:
    _check_bounds(shape, path, len(value), f"{len(value)} characters", errors)
    if shape.enum and value not in shape.enum:
        if len(shape.enum) <= 12:
            errors.append(f"{path}: {_show(value)} is not one of {', '.join(shape.enum)}")
        else:
            guess = _closest(value, shape.enum)
            hint = f"; did you mean {guess}?" if guess else ""
            errors.append(
                f"{path}: {_show(value)} is not one of the {len(shape.enum)} {shape.name} values{hint}"
            )
    pattern = shape.metadata.get("pattern")
    if pattern is not None and not _matches(pattern, value):
        errors.append(f"{path}: {_show(value)} must match {pattern}")


def _check_bounds(shape: Shape, path: str, measure: float, shown: str, errors: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and measure < low:
        errors.append(f"{path}: {shown}, at least {low}")
    if high is not None and measure > high:
        errors.append(f"{path}: {shown}, at most {high}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 100 else text[:97] + "..."


def _closest(word: str, options: Sequence[str]) -> str | None:
    # Imported here: only an error needs it.
    import difflib  # noqa: PLC0415

    matches = difflib.get_close_matches(word, options, n=1, cutoff=0.75)
    return matches[0] if matches else None


# --- AWS's Java patterns in Python's re ---------------------------------------------------------------------
#
# The model's patterns are Java regular expressions matched against the whole value. Most read the same in
# Python with re.ASCII (Java's \w, \d, \s are ASCII). The rest is translated: a surrogate pair range becomes a
# code point range, `.` stops at Java's line terminators, `${m,n}` (a quantified end anchor, which Python
# rejects) becomes `$`, and \p{...} classes, which Python lacks, use stand-ins: every non-ASCII character of
# the value is replaced by a private-use character standing for its Unicode general category, and \p{L}
# matches the ASCII letters plus the stand-ins of Lu, Ll, Lt, Lm and Lo. A pattern that still does not
# compile is left to AWS to check.

_GENERAL_CATEGORIES = (
    *("Lu", "Ll", "Lt", "Lm", "Lo", "Mn", "Mc", "Me", "Nd", "Nl", "No", "Pc", "Pd", "Ps", "Pe"),
    *("Pi", "Pf", "Po", "Sm", "Sc", "Sk", "So", "Zs", "Zl", "Zp", "Cc", "Cf", "Cs", "Co", "Cn"),
)
# Supplementary Private Use Area-A: a folded value holds no other non-ASCII character, so no collision.
_STAND_INS = {category: chr(0xF0000 + index) for index, category in enumerate(_GENERAL_CATEGORIES)}
# Java's POSIX classes are ASCII-only.
_POSIX_CLASSES = {
    "Alnum": "a-zA-Z0-9",
    "Alpha": "a-zA-Z",
    "Digit": "0-9",
    "Lower": "a-z",
    "Upper": "A-Z",
    "XDigit": "0-9a-fA-F",
    "Space": r" \t\n\x0b\f\r",
}
_PROPERTY = re.compile(r"\\([pP])\{(\w+)\}")
_SURROGATE_PAIR = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)
_QUANTIFIED_END = re.compile(r"(?<!\\)\$\{\d+(?:,\d*)?\}")
_JAVA_DOT = r"[^\n\r\x85\u2028\u2029]"


class _Untranslatable(ValueError):
    """A Java construct with no Python equivalent here."""


def _matches(pattern: str, value: str) -> bool:
    compiled = _compiled(pattern)
    if compiled is None:
        return True
    regex, folds = compiled
    return regex.fullmatch(_fold(value) if folds else value) is not None


@cache
def _compiled(pattern: str) -> tuple[re.Pattern[str], bool] | None:
    """The Python regex for a model pattern, and whether values must be folded first; None if it cannot be."""
    try:
        translated, folds = _translate(pattern)
        return re.compile(translated, re.ASCII), folds
    except (re.error, _Untranslatable):
        return None


def _translate(pattern: str) -> tuple[str, bool]:
    pattern = _SURROGATE_PAIR.sub(_code_point, pattern)
    pattern = _QUANTIFIED_END.sub("$", pattern)
    out: list[str] = []
    folds = in_class = False
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            prop = _PROPERTY.match(pattern, index)
            if prop is None:
                out.append(pattern[index : index + 2])
                index += 2
                continue
            negated, members = prop.group(1) == "P", _property_members(prop.group(2))
            if negated and in_class:
                raise _Untranslatable(prop.group(0))
            out.append(members if in_class else f"[{'^' if negated else ''}{members}]")
            folds = True
            index = prop.end()
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        elif char == "." and not in_class:
            char = _JAVA_DOT
        out.append(char)
        index += 1
    return "".join(out), folds


def _code_point(pair: re.Match[str]) -> str:
    high, low = int(pair.group(1), 16), int(pair.group(2), 16)
    return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}"


@cache
def _property_members(name: str) -> str:
    """The inside of a character class for \\p{name}."""
    if name in _POSIX_CLASSES:
        return _POSIX_CLASSES[name]
    categories = [c for c in _GENERAL_CATEGORIES if c.startswith(name)] if len(name) <= 2 else []
    if not categories:
        raise _Untranslatable(name)
    ascii_members = [code for code in range(128) if unicodedata.category(chr(code)) in categories]
    return _class_ranges(ascii_members) + "".join(f"\\U{ord(_STAND_INS[c]):08x}" for c in categories)


def _class_ranges(codes: list[int]) -> str:
    """Ascending ASCII code points as the inside of a character class, each run as one range: the pattern is half
    as long, and a function's first request compiles a few of them (a cold start's cost)."""
    out: list[str] = []
    start = 0
    for index, code in enumerate(codes):
        if index + 1 < len(codes) and codes[index + 1] == code + 1:
            continue
        first = codes[start]
        out.append(f"\\x{first:02x}" if first == code else f"\\x{first:02x}-\\x{code:02x}")
        start = index + 1
    return "".join(out)


def _fold(value: str) -> str:
    if value.isascii():
        return value
    return "".join(c if c.isascii() else _STAND_INS[unicodedata.category(c)] for c in value)


# --- rules the model cannot express -------------------------------------------------------------------------

_CONFIG = "HyperParameterTuningJobConfig"
_LIMITS = f"{_CONFIG}.ResourceLimits"
_HYPERBAND = f"{_CONFIG}.StrategyConfig.HyperbandStrategyConfig"
_PARENTS = "WarmStartConfig.ParentHyperParameterTuningJobs"
_RANGE_TYPES = {
    "IntegerParameterRanges": "integer",
    "ContinuousParameterRanges": "continuous",
    "CategoricalParameterRanges": "categorical",
}
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


class _Definition(NamedTuple):
    """One training job definition of a tuning job, with the ranges and objective that apply to it."""

    path: str
    body: Mapping[str, Any]
    ranges_path: str
    ranges: Mapping[str, Any]
    objective_path: str
    objective: Mapping[str, Any] | None

    @property
    def static(self) -> Mapping[str, Any]:
        return _mapping(self.body.get("StaticHyperParameters"))

    @property
    def tuned(self) -> dict[str, str]:
        """Tuned hyperparameter name -> "integer", "continuous" or "categorical"."""
        return {
            name: kind
            for member, kind in _RANGE_TYPES.items()
            for _, item in _indexed(self.ranges.get(member))
            if isinstance(name := item.get("Name"), str)
        }


def _tag_errors(params: Mapping[str, Any]) -> list[str]:
    errors, seen = [], set()
    for index, tag in _indexed(params.get("Tags")):
        key = tag.get("Key")
        if not isinstance(key, str):
            continue
        if key in seen:
            errors.append(f"Tags[{index}].Key: {key!r} appears twice: tag keys must be unique per resource")
        seen.add(key)
    return errors


def _tuning_job_errors(params: Mapping[str, Any], parents: Mapping[str, ParentJob] | None) -> list[str]:
    """AMT's documented rules for CreateHyperParameterTuningJob beyond its service model."""
    config = _mapping(params.get(_CONFIG))
    definitions = _definitions(params, config)
    errors = _definition_count_errors(params)
    errors += _strategy_errors(config, definitions)
    errors += _limit_errors(params, config)
    seen_ranges: set[str] = set()
    for definition in definitions:
        if definition.ranges_path not in seen_ranges:
            seen_ranges.add(definition.ranges_path)
            errors += _range_errors(definition.ranges_path, definition.ranges)
        errors += _definition_errors(definition)
    errors += _warm_start_errors(params, definitions, parents)
    return errors


def _definitions(params: Mapping[str, Any], config: Mapping[str, Any]) -> list[_Definition]:
    bodies = []
    if "TrainingJobDefinition" in params:
        bodies.append(("TrainingJobDefinition", _mapping(params["TrainingJobDefinition"])))
    for index, body in _indexed(params.get("TrainingJobDefinitions")):
        bodies.append((f"TrainingJobDefinitions[{index}]", body))
    definitions = []
    for path, body in bodies:
        # A multi-algorithm job's definitions have their own ranges and objective; else the config's apply.
        if "HyperParameterRanges" in body:
            ranges_path, ranges = f"{path}.HyperParameterRanges", body["HyperParameterRanges"]
        else:
            ranges_path, ranges = f"{_CONFIG}.ParameterRanges", config.get("ParameterRanges")
        if "TuningObjective" in body:
            objective_path, objective = f"{path}.TuningObjective", body["TuningObjective"]
        else:
            objective_path = f"{_CONFIG}.HyperParameterTuningJobObjective"
            objective = config.get("HyperParameterTuningJobObjective")
        definitions.append(
            _Definition(
                path=path,
                body=body,
                ranges_path=ranges_path,
                ranges=_mapping(ranges),
                objective_path=objective_path,
                objective=None if objective is None else _mapping(objective),
            )
        )
    return definitions


def _definition_count_errors(params: Mapping[str, Any]) -> list[str]:
    single, several = "TrainingJobDefinition" in params, "TrainingJobDefinitions" in params
    if single and several:
        return ["TrainingJobDefinitions: set TrainingJobDefinition or TrainingJobDefinitions, not both"]
    if not single and not several:
        return ["TrainingJobDefinition: required (or TrainingJobDefinitions): add it"]
    return []


def _strategy_errors(config: Mapping[str, Any], definitions: list[_Definition]) -> list[str]:
    errors = []
    strategy = config.get("Strategy")
    early_stopping = config.get("TrainingJobEarlyStoppingType")
    if strategy == "Hyperband" and early_stopping not in (None, "Off"):
        errors.append(
            f"{_CONFIG}.TrainingJobEarlyStoppingType: {early_stopping!r} does not go with the Hyperband "
            "strategy, which stops trials itself: set 'Off' or leave it out"
        )
    if "StrategyConfig" in config and strategy != "Hyperband":
        errors.append(
            f"{_CONFIG}.StrategyConfig: applies to the Hyperband strategy only: remove it or use Hyperband"
        )
    if strategy == "Hyperband":
        errors += _hyperband_errors(config, definitions)
    if strategy == "Grid":
        errors += _grid_errors(config, definitions)
    return errors


def _hyperband_errors(config: Mapping[str, Any], definitions: list[_Definition]) -> list[str]:
    errors = []
    hyperband = _mapping(_mapping(config.get("StrategyConfig")).get("HyperbandStrategyConfig"))
    low, high = _int(hyperband.get("MinResource")), _int(hyperband.get("MaxResource"))
    if high is not None and high > MAX_HYPERBAND_RESOURCE:
        errors.append(f"{_HYPERBAND}.MaxResource: {high}, at most {MAX_HYPERBAND_RESOURCE}")
    if low is not None and high is not None and low > high:
        errors.append(
            f"{_HYPERBAND}.MinResource: {low} is above MaxResource {high}: lower it or raise MaxResource"
        )
    if "MaxResource" not in hyperband:
        for definition in definitions:
            if not set(HYPERBAND_EPOCH_KEYS) & set(definition.static):
                errors.append(
                    f"{_HYPERBAND}.MaxResource: required unless {definition.path}.StaticHyperParameters "
                    f"sets one of {', '.join(HYPERBAND_EPOCH_KEYS)}: add it"
                )
    return errors


def _grid_errors(config: Mapping[str, Any], definitions: list[_Definition]) -> list[str]:
    errors = []
    for path, ranges in {d.ranges_path: d.ranges for d in definitions}.items():
        for member in ("IntegerParameterRanges", "ContinuousParameterRanges"):
            names = [str(item.get("Name")) for _, item in _indexed(ranges.get(member))]
            if names:
                errors.append(
                    f"{path}.{member}: the Grid strategy takes categorical ranges only: "
                    f"make {', '.join(names)} categorical or use another strategy"
                )
    # AWS: if given, MaxNumberOfTrainingJobs should equal the number of combinations Grid derives.
    max_jobs = _int(_mapping(config.get("ResourceLimits")).get("MaxNumberOfTrainingJobs"))
    if max_jobs is not None and len(definitions) == 1:
        combinations = 1
        for _, item in _indexed(definitions[0].ranges.get("CategoricalParameterRanges")):
            values = item.get("Values")
            combinations *= len(values) if isinstance(values, list) else 1
        if max_jobs != combinations:
            errors.append(
                f"{_LIMITS}.MaxNumberOfTrainingJobs: {max_jobs}, but Grid runs the {combinations} "
                f"combinations of the categorical ranges: set {combinations} or leave it out"
            )
    return errors


def _limit_errors(params: Mapping[str, Any], config: Mapping[str, Any]) -> list[str]:
    errors = []
    strategy = config.get("Strategy")
    limits = _mapping(config.get("ResourceLimits"))
    max_jobs, parallel = (
        _int(limits.get("MaxNumberOfTrainingJobs")),
        _int(limits.get("MaxParallelTrainingJobs")),
    )
    # Only Grid derives the number of training jobs; Autotune may choose the limits itself.
    if (
        strategy in ("Bayesian", "Random", "Hyperband")
        and "MaxNumberOfTrainingJobs" not in limits
        and "Autotune" not in params
    ):
        errors.append(f"{_LIMITS}.MaxNumberOfTrainingJobs: required with the {strategy} strategy: add it")
    if max_jobs is not None and parallel is not None and parallel > max_jobs:
        errors.append(
            f"{_LIMITS}.MaxParallelTrainingJobs: {parallel} is above MaxNumberOfTrainingJobs {max_jobs}: "
            f"lower it to at most {max_jobs}"
        )
    return errors


def _range_errors(path: str, ranges: Mapping[str, Any]) -> list[str]:
    errors = []
    tuned = sum(len(_indexed(ranges.get(member))) for member in _RANGE_TYPES)
    if tuned > MAX_TUNED_HYPERPARAMETERS:
        errors.append(
            f"{path}: {tuned} hyperparameters to tune, at most {MAX_TUNED_HYPERPARAMETERS} "
            "across integer, continuous and categorical ranges"
        )
    seen: set[str] = set()
    for member, kind in _RANGE_TYPES.items():
        for index, item in _indexed(ranges.get(member)):
            item_path = f"{path}.{member}[{index}]"
            name = item.get("Name")
            if isinstance(name, str):
                if name in seen:
                    errors.append(f"{item_path}.Name: {name!r} already has a range: keep one")
                seen.add(name)
            if kind != "categorical":
                errors += _bounds_errors(item_path, item, kind)
    return errors


def _bounds_errors(path: str, item: Mapping[str, Any], kind: str) -> list[str]:
    """MinValue and MaxValue are strings in the API: they must parse, be ordered and suit the scaling."""
    errors, bounds = [], {}
    syntax = _INTEGER if kind == "integer" else _DECIMAL
    for member in ("MinValue", "MaxValue"):
        text = item.get(member)
        if isinstance(text, str) and syntax.fullmatch(text):
            bounds[member] = float(text)
        elif isinstance(text, str):
            errors.append(
                f"{path}.{member}: {text!r} is not {'an integer' if kind == 'integer' else 'a number'}"
            )
    if len(bounds) < 2:
        return errors
    low, high = bounds["MinValue"], bounds["MaxValue"]
    low_text, high_text = item["MinValue"], item["MaxValue"]
    scaling = item.get("ScalingType")
    if low > high:
        errors.append(f"{path}: MinValue {low_text} is above MaxValue {high_text}: swap them")
    if scaling == "Logarithmic" and low <= 0:
        errors.append(
            f"{path}.ScalingType: Logarithmic needs MinValue above 0, got {low_text}: raise it or use Linear"
        )
    if scaling == "ReverseLogarithmic" and not (low >= 0 and high < 1):
        errors.append(
            f"{path}.ScalingType: ReverseLogarithmic needs 0 <= MinValue and MaxValue < 1, "
            f"got {low_text} and {high_text}: use Linear or Logarithmic"
        )
    return errors


def _definition_errors(definition: _Definition) -> list[str]:
    errors = []
    for name in sorted(set(definition.tuned) & set(definition.static)):
        errors.append(
            f"{definition.path}.StaticHyperParameters[{name!r}]: {name!r} is also tuned in "
            f"{definition.ranges_path}: remove it from one of them"
        )
    if definition.objective is None:
        errors.append(f"{definition.objective_path}: required: add it")
        return errors
    algorithm = _mapping(definition.body.get("AlgorithmSpecification"))
    if "TrainingImage" in algorithm and "AlgorithmName" in algorithm:
        errors.append(
            f"{definition.path}.AlgorithmSpecification: set TrainingImage or AlgorithmName, not both"
        )
    metric = definition.objective.get("MetricName")
    defined = [str(item.get("Name")) for _, item in _indexed(algorithm.get("MetricDefinitions"))]
    if isinstance(metric, str) and defined and metric not in defined:
        errors.append(
            f"{definition.objective_path}.MetricName: {metric!r} is not one of "
            f"{definition.path}.AlgorithmSpecification.MetricDefinitions ({', '.join(defined)}): "
            "define it there or fix the name"
        )
    return errors


def _warm_start_errors(
    params: Mapping[str, Any], definitions: list[_Definition], parents: Mapping[str, ParentJob] | None
) -> list[str]:
    errors = []
    listed = _indexed(_mapping(params.get("WarmStartConfig")).get("ParentHyperParameterTuningJobs"))
    seen: set[str] = set()
    for index, item in listed:
        path = f"{_PARENTS}[{index}].HyperParameterTuningJobName"
        name = item.get("HyperParameterTuningJobName")
        if name is None:
            errors.append(f"{path}: required: add it")
        if not isinstance(name, str):
            continue
        if name.lower() in seen:  # tuning job names are not case sensitive
            errors.append(f"{path}: {name!r} is listed twice: list each parent once")
            continue
        seen.add(name.lower())
        if parents is not None:
            errors += _parent_errors(path, name, parents.get(name), definitions)
    return errors


def _parent_errors(
    path: str, name: str, parent: ParentJob | None, definitions: list[_Definition]
) -> list[str]:
    """A parent must have ended and share the objective and the hyperparameters, with their types."""
    if parent is None:
        return [f"{path}: no tuning job {name!r} was found: warm start only from existing tuning jobs"]
    errors = []
    if parent.status not in TERMINAL_JOB_STATUSES:
        errors.append(
            f"{path}: {name!r} is {parent.status}: a parent must be {', '.join(TERMINAL_JOB_STATUSES[:-1])} or "
            f"{TERMINAL_JOB_STATUSES[-1]}; wait for it or leave it out"
        )
    metrics = {d.objective.get("MetricName") for d in definitions if d.objective is not None}
    if parent.objective_metric is not None and len(metrics) == 1 and parent.objective_metric not in metrics:
        errors.append(
            f"{path}: {name!r} optimizes {parent.objective_metric!r}, this job {metrics.pop()!r}: "
            "warm start needs the same objective metric"
        )
    ours: dict[str, str] = {}
    for definition in definitions:
        ours.update(dict.fromkeys(definition.static, "static"))
        ours.update(definition.tuned)
    theirs = parent.hyperparameter_types
    missing, added = sorted(set(theirs) - set(ours)), sorted(set(ours) - set(theirs))
    if missing or added:
        differences = [f"this job lacks {', '.join(missing)}"] if missing else []
        differences += [f"this job adds {', '.join(added)}"] if added else []
        errors.append(
            f"{path}: {name!r} has other hyperparameters ({'; '.join(differences)}): "
            "warm start needs the same static plus tunable hyperparameter names"
        )
    common = sorted(set(theirs) & set(ours))
    for key in common:
        if "static" not in (theirs[key], ours[key]) and theirs[key] != ours[key]:
            errors.append(
                f"{path}: {name!r} tunes {key!r} as {theirs[key]}, this job as {ours[key]}: keep its type"
            )
    # Each tunable-to-static move is at least one change (a categorical one, one per value); changed static
    # values also count, but a ParentJob does not carry them.
    to_static = [key for key in common if theirs[key] != "static" and ours[key] == "static"]
    if len(to_static) > MAX_TUNABLE_TO_STATIC_CHANGES:
        errors.append(
            f"{path}: {len(to_static)} hyperparameters tuned in {name!r} are static here, at most "
            f"{MAX_TUNABLE_TO_STATIC_CHANGES} such changes: keep some of {', '.join(to_static)} tunable"
        )
    return errors


def _mapping(value: object) -> Mapping[str, Any]:
    return cast("Mapping[str, Any]", value) if isinstance(value, Mapping) else {}


def _indexed(value: object) -> list[tuple[int, Mapping[str, Any]]]:
    """The objects of a list with their indexes; anything else the structural check has already reported."""
    if not isinstance(value, (list, tuple)):
        return []
    return [(i, cast("Mapping[str, Any]", item)) for i, item in enumerate(value) if isinstance(item, Mapping)]


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


_OPERATION_RULES: dict[str, Callable[[Mapping[str, Any], Mapping[str, ParentJob] | None], list[str]]] = {
    "CreateHyperParameterTuningJob": _tuning_job_errors,
}
