"""SageMaker's built-in XGBoost algorithm's training contract, run by the local SageMaker with the xgboost of the
emulated version (`python xgboost_algorithm.py <version>`, in that version's venv; see builtin_xgboost.py).

It follows the algorithm's open-source container (aws/sagemaker-xgboost-container, tags v1.7-1 and v3.0-5):
- hyperparameters validated as its algorithm toolkit does (names, aliases, types, ranges, dependencies), a
  bad one ends the job with output/failure "ClientError: <the toolkit's message>";
- channels `train` (required) and `validation`, each ContentType one the container accepts (default
  text/libsvm); CSV has the label in the first column and no header;
- per round one line `[<round>]#011train-<metric>:<value>#011validation-<metric>:<value>`, as CloudWatch shows the
  container's tab-separated EvaluationMonitor line, which the algorithm's metric definitions match;
- `_tuning_objective_metric` (set by a tuning job) joins eval_metric, and early stopping watches it;
- the model saved by Booster.save_model as model/xgboost-model (1.7: the legacy binary format; 3.0: UBJSON).
Runs outside retune_local's package: only the standard library, numpy, scipy, xgboost and (parquet) pyarrow.
"""

from __future__ import annotations

import csv
import json
import os
import struct
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

MODEL_NAME = "xgboost-model"
MAXIMIZE = [
    "accuracy",
    "auc",
    "aucpr",
    "balanced_accuracy",
    "f1",
    "f1_binary",
    "f1_macro",
    "map",
    "ndcg",
    "precision",
    "r2",
    "recall",
    "precision_macro",
    "precision_micro",
    "recall_macro",
    "recall_micro",
]
MINIMIZE = [
    "aft-nloglik",
    "cox-nloglik",
    "error",
    "gamma-deviance",
    "gamma-nloglik",
    "interval-regression-accuracy",
    "logloss",
    "mae",
    "mape",
    "merror",
    "mlogloss",
    "mphe",
    "mse",
    "poisson-nloglik",
    "rmse",
    "rmsle",
    "tweedie-nloglik",
]
# Substrings of xgboost's errors the container reports as the user's (xgb_constants.CUSTOMER_ERRORS).
CUSTOMER_ERRORS = (
    "label must be in [0,1] for logistic regression",
    "label must be in [0, num_class)",
    "Target is multiclass but average='binary'",
    "feature_names mismatch",
    "Check failed: preds.size() == info.labels_.size()",
    "Check failed: !auc_error AUC: the dataset only contains pos or neg samples",
    "Check failed: base_score > 0.0f && base_score < 1.0f base_score must be in (0,1) for logistic loss",
    "Check failed: label_correct PoissonRegression: label must be nonnegative",
    "Check failed: label_correct TweedieRegression: label must be nonnegative",
    "Parameter reg_lambda should be greater equal to 0",
)
CONTENT_TYPES = {
    "csv": "csv",
    "text/csv": "csv",
    "libsvm": "libsvm",
    "text/libsvm": "libsvm",
    "text/x-libsvm": "libsvm",
    "parquet": "parquet",
    "application/x-parquet": "parquet",
    "recordio-protobuf": "recordio-protobuf",
    "application/x-recordio-protobuf": "recordio-protobuf",
}
PIPE_CONTENT_TYPES = {"csv", "text/csv", "parquet", "application/x-parquet", "recordio-protobuf"} | {
    "application/x-recordio-protobuf"
}
CHANNELS = {"train": True, "validation": False, "code": False}  # name -> required


class UserError(Exception):
    """The user's mistake: SageMaker reports it as ClientError."""


class AlgorithmError(Exception):
    """The algorithm failed: SageMaker reports it as AlgorithmError."""


# ------------------------------------------------------------------------------------------ hyperparameters


class Interval:
    def __init__(
        self,
        min_open: float | None = None,
        min_closed: float | None = None,
        max_open: float | None = None,
        max_closed: float | None = None,
    ) -> None:
        self.min_open, self.min_closed, self.max_open, self.max_closed = (
            min_open,
            min_closed,
            max_open,
            max_closed,
        )

    def __contains__(self, value: float) -> bool:
        return not (
            (self.min_open is not None and value <= self.min_open)
            or (self.min_closed is not None and value < self.min_closed)
            or (self.max_open is not None and value >= self.max_open)
            or (self.max_closed is not None and value > self.max_closed)
        )

    def __str__(self) -> str:
        low = (
            f"({self.min_open}, "
            if self.min_open is not None
            else f"[{self.min_closed}, "
            if self.min_closed is not None
            else "(-inf, "
        )
        high = (
            f"{self.max_open})"
            if self.max_open is not None
            else f"{self.max_closed}]"
            if self.max_closed is not None
            else "+inf)"
        )
        return low + high


def _metric_ok(metric: str) -> bool:
    if "<function" in metric:
        raise UserError(f"User defined evaluation metric {metric} is not supported yet.")
    if "@" in metric:
        name, threshold = (part.strip() for part in metric.split("@", 1))
        if name not in ("error", "ndcg", "map"):
            raise UserError(
                f"Metric '{metric}' is not supported. Parameter 'eval_metric' with customized threshold should "
                "be one of these options: 'error', 'ndcg', 'map'."
            )
        try:
            float(threshold)
        except ValueError as exc:
            raise UserError(f"Threshold value 't' in '{name}@t' expects float input.") from exc
        return True
    return metric in MAXIMIZE or metric in MINIMIZE


OBJECTIVES = [
    "aft_loss_distribution",
    "binary:logistic",
    "binary:logitraw",
    "binary:hinge",
    "count:poisson",
    "multi:softmax",
    "multi:softprob",
    "rank:pairwise",
    "rank:ndcg",
    "rank:map",
    "reg:linear",
    "reg:squarederror",
    "reg:logistic",
    "reg:gamma",
    "reg:pseudohubererror",
    "reg:squaredlogerror",
    "reg:tweedie",
    "survival:aft",
    "survival:cox",
]
UPDATERS = [
    "grow_colmaker",
    "distcol",
    "grow_histmaker",
    "grow_skmaker",
    "sync",
    "refresh",
    "prune",
    "shotgun",
    "coord_descent",
]


def _spec(version: str) -> dict[str, tuple[str, Any]]:
    """name -> (type, range): the container's hyperparameter table (algorithm_mode/hyperparameter_validation.py)."""
    objectives = [*OBJECTIVES[:15], "reg:absoluteerror", *OBJECTIVES[15:]] if version >= "3" else OBJECTIVES
    return {
        "num_round": ("int", Interval(min_closed=1)),
        "csv_weights": ("int", Interval(min_closed=0, max_closed=1)),
        "early_stopping_rounds": ("int", Interval(min_closed=1)),
        "booster": ("cat", ["gbtree", "gblinear", "dart"]),
        "verbosity": ("int", Interval(min_closed=0, max_closed=3)),
        "nthread": ("int", Interval(min_closed=1)),
        "eta": ("float", Interval(min_closed=0, max_closed=1)),
        "gamma": ("float", Interval(min_closed=0)),
        "max_depth": ("int", Interval(min_closed=0)),
        "min_child_weight": ("float", Interval(min_closed=0)),
        "max_delta_step": ("float", Interval(min_closed=0)),
        "subsample": ("float", Interval(min_open=0, max_closed=1)),
        "colsample_bytree": ("float", Interval(min_open=0, max_closed=1)),
        "colsample_bylevel": ("float", Interval(min_open=0, max_closed=1)),
        "colsample_bynode": ("float", Interval(min_open=0, max_closed=1)),
        "lambda": ("float", Interval(min_closed=0)),
        "alpha": ("float", Interval(min_closed=0)),
        "tree_method": ("cat", ["auto", "exact", "approx", "hist", "gpu_hist"]),
        "sketch_eps": ("float", Interval(min_open=0, max_open=1)),
        "scale_pos_weight": ("float", Interval(min_open=0)),
        "updater": ("list", UPDATERS),
        "dsplit": ("cat", ["row", "col"]),
        "refresh_leaf": ("int", Interval(min_closed=0, max_closed=1)),
        "process_type": ("cat", ["default", "update"]),
        "grow_policy": ("cat", ["depthwise", "lossguide"]),
        "max_leaves": ("int", Interval(min_closed=0)),
        "max_bin": ("int", Interval(min_closed=0)),
        "predictor": ("cat", ["auto", "cpu_predictor", "gpu_predictor"]),
        "monotone_constraints": ("tuple", [-1, 0, 1]),
        "interaction_constraints": ("nested", Interval(min_closed=1)),
        "sample_type": ("cat", ["uniform", "weighted"]),
        "normalize_type": ("cat", ["tree", "forest"]),
        "rate_drop": ("float", Interval(min_closed=0, max_closed=1)),
        "one_drop": ("int", Interval(min_closed=0, max_closed=1)),
        "skip_drop": ("float", Interval(min_closed=0, max_closed=1)),
        "lambda_bias": ("float", Interval(min_closed=0, max_closed=1)),
        "tweedie_variance_power": ("float", Interval(min_open=1, max_open=2)),
        "objective": ("cat", objectives),
        "num_class": ("int", Interval(min_closed=2)),
        "base_score": ("float", Interval(min_closed=0)),
        "_kfold": ("int", Interval(min_closed=2)),
        "_num_cv_round": ("int", Interval(min_closed=1)),
        "_tuning_objective_metric": ("cat", [f"validation:{m}" for m in MAXIMIZE + MINIMIZE]),
        "eval_metric": ("metrics", None),
        "seed": ("int", Interval(min_open=-(2**31), max_open=2**31 - 1)),
        "num_parallel_tree": ("int", Interval(min_closed=1)),
        "save_model_on_termination": ("cat", ["true", "false"]),
        "aft_loss_distribution": ("cat", ["normal", "logistic", "extreme"]),
        "aft_loss_distribution_scale": ("float", Interval(min_closed=0)),
        "deterministic_histogram": ("cat", ["true", "false"]),
        "sampling_method": ("cat", ["uniform", "gradient_based"]),
        "prob_buffer_row": ("int", Interval(min_open=1.0)),
        "use_dask_gpu_training": ("cat", ["true", "false"]),
    }


def hyperparameter_table(version: str) -> dict[str, tuple[str, Any]]:
    """name -> (type, allowed values) for the version: what the control plane checks a tuning job's ranges
    against when it is created (builtin_xgboost.tuning_job_errors)."""
    return _spec(version)


ALIASES = {"learning_rate": "eta", "min_split_loss": "gamma", "reg_lambda": "lambda", "reg_alpha": "alpha"}


def _parse(kind: str, text: str) -> Any:
    if kind == "int":
        return int(text)
    if kind == "float":
        return float(text)
    if kind in ("list", "metrics"):
        return text.split(",")
    if kind in ("tuple", "nested"):
        import ast  # noqa: PLC0415

        try:
            return ast.literal_eval(text)
        except SyntaxError as exc:
            raise ValueError(str(exc)) from exc
    return text


def _in_range(name: str, kind: str, allowed: Any, value: Any) -> None:
    if kind in ("int", "float", "cat"):
        if value not in allowed:
            raise UserError(f"Hyperparameter {name}: {value} is not in {allowed}")
    elif kind == "list":
        if any(item not in allowed for item in value):
            raise UserError(f"Hyperparameter {name}: value {value} not in range {allowed}")
    elif kind == "metrics":
        if not all(_metric_ok(item) for item in value):
            raise UserError(f"Hyperparameter {name}: value {value} not in range {MAXIMIZE + MINIMIZE}")
    elif kind == "tuple":
        if any(item not in allowed for item in value):
            raise UserError(f"Hyperparameter {name}: value {value} not in range {allowed}")
    elif any(item not in allowed for outer in value for item in outer):
        raise UserError(f"Hyperparameter {name}: value {value} not in range {allowed}")


def _dependencies(hps: dict[str, Any]) -> None:
    objective = hps.get("objective")
    if objective in ("multi:softmax", "multi:softprob") and hps.get("num_class") is None:
        raise UserError("Require input for parameter 'num_class' for multi-classification")
    if "eval_metric" in hps:
        if objective is None:
            # The container's validator reads the objective unconditionally: a KeyError, reported as the
            # algorithm's failure.
            raise AlgorithmError(
                "Hyperparameter eval_metric: unexpected failure validating it without objective"
            )
        if "auc" in hps["eval_metric"] and not objective.startswith(("binary:", "rank:")):
            raise UserError("Metric 'auc' can only be applied for classification and ranking problems.")
        if "aft-nloglik" in hps["eval_metric"] and objective != "survival:aft":
            raise UserError("Metric 'aft-nloglik' can only be applied for 'survival:aft' objective.")
    tree_method = hps.get("tree_method")
    if "monotone_constraints" in hps and tree_method not in ("exact", "hist"):
        raise UserError(
            "monotone_constraints can be used only when the tree_method parameter is set to either 'exact' or "
            "'hist'."
        )
    if "interaction_constraints" in hps and tree_method not in ("exact", "hist", "approx"):
        raise UserError(
            "interaction_constraints can be used only when the tree_method parameter is set to either 'exact', "
            "'hist' or 'approx'."
        )


def validate_hyperparameters(version: str, given: dict[str, str]) -> dict[str, Any]:
    """The toolkit's order: aliases, required, parse, range, dependencies; its messages."""
    spec = _spec(version)
    hps = {ALIASES.get(name, name): value for name, value in given.items()}
    if "num_round" not in hps:
        raise UserError("Missing required hyperparameter: num_round")
    parsed: dict[str, Any] = {}
    for name, text in hps.items():
        if name not in spec:
            raise UserError(f"Extraneous hyperparameter found: {name}")
        try:
            parsed[name] = _parse(spec[name][0], text)
        except ValueError as exc:
            raise UserError(f"Hyperparameter {name}: could not parse value (caused by ValueError)") from exc
    for name, value in parsed.items():
        _in_range(name, spec[name][0], spec[name][1], value)
    _dependencies(parsed)
    return parsed


def validate_channels(config: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
    for name, required in CHANNELS.items():
        if required and name not in config:
            raise UserError(f"Missing required channel: {name}")
    for name, value in config.items():
        if name not in CHANNELS:
            raise UserError(f"Extraneous channel found: {name}")
        value.setdefault("ContentType", "text/libsvm")  # the toolkit gives every channel the default
        allowed = {"text/python"} if name == "code" else set(CONTENT_TYPES)
        if value.get("TrainingInputMode") == "Pipe":
            allowed &= PIPE_CONTENT_TYPES
        if value["ContentType"] not in allowed:
            raise UserError(f"Channel configuration for '{name}' channel is not supported: {value}")
    return config


# ------------------------------------------------------------------------------------------------ data


def _data_files(folder: Path) -> list[Path]:
    # The container skips hidden and underscore files and xgboost's own caches.
    return sorted(
        path
        for path in folder.rglob("*")
        if path.is_file()
        and not path.name.startswith((".", "_"))
        and not (".cache" in path.name and ("dtrain" in path.name or "dval" in path.name))
    )


def _not_format(line: str, path: Path, kind: str) -> UserError:
    return UserError(
        f"First line '{line[:50]}...' of file '{path.name}' is not '{kind}' format. Please ensure the file is in "
        f"'{kind}' format."
    )


def _read_csv(files: list[Path], weights: int) -> tuple[Any, Any, Any]:
    import numpy as np  # noqa: PLC0415

    tables = []
    for path in files:
        with path.open(errors="replace") as handle:
            first = handle.readline()
        try:
            delimiter = csv.Sniffer().sniff(first).delimiter if first.strip() else ","
        except csv.Error as exc:
            raise UserError(f"Could not determine delimiter on line {first[:50]}:\n{exc}") from exc
        try:
            [float(cell) if cell.strip() else 0.0 for cell in first.strip().split(delimiter)]
        except ValueError as exc:
            raise _not_format(first.strip(), path, "CSV") from exc
        try:
            table = np.genfromtxt(path, delimiter=delimiter, dtype=np.float32, ndmin=2)
        except ValueError as exc:
            raise UserError(f"Failed to load csv data with exception:\n{exc}") from exc
        if table.size:
            tables.append(table)
    if not tables:
        return None, None, None
    try:
        table = np.vstack(tables)
    except ValueError as exc:
        raise UserError(f"Failed to load csv data with exception:\n{exc}") from exc
    features = table[:, 1 + weights :]
    return features, table[:, 0], table[:, 1] if weights else None


def _read_libsvm(files: list[Path]) -> tuple[Any, Any, Any]:
    import numpy as np  # noqa: PLC0415
    from scipy.sparse import csr_matrix  # noqa: PLC0415

    labels: list[float] = []
    weights: list[float] = []
    indptr, indices, values = [0], [], []
    for path in files:
        with path.open(errors="replace") as handle:
            for line in handle:
                parts = line.split("#", 1)[0].split()
                if not parts:
                    continue
                try:
                    label, _, weight = parts[0].partition(":")
                    labels.append(float(label))
                    if weight:
                        weights.append(float(weight))
                    for item in parts[1:]:
                        index, value = item.split(":", 1)
                        indices.append(int(index))
                        values.append(float(value))
                except ValueError as exc:
                    raise _not_format(line.strip(), path, "LIBSVM") from exc
                indptr.append(len(indices))
    if not labels:
        return None, None, None
    width = max(indices, default=-1) + 1
    matrix = csr_matrix((np.array(values, np.float32), indices, indptr), shape=(len(labels), width))
    return matrix, np.array(labels), np.array(weights) if len(weights) == len(labels) else None


def _read_parquet(files: list[Path]) -> tuple[Any, Any, Any]:
    import numpy as np  # noqa: PLC0415

    try:
        import pyarrow.parquet as pq  # noqa: PLC0415
    except ImportError as exc:  # the venvs install it; a hand-made one may not
        raise UserError("application/x-parquet needs pyarrow in the emulated version's venv") from exc
    tables = []
    for path in files:
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for a bad file
            raise UserError(f"Failed to load parquet data with exception:\n{exc}") from exc
        tables.append(np.column_stack([column.to_numpy() for column in table.columns]).astype(np.float32))
    if not tables:
        return None, None, None
    table = np.vstack(tables)
    return table[:, 1:], table[:, 0], None


def _varint(data: bytes, at: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[at]
        at += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, at
        shift += 7


def _fields(data: bytes) -> Iterator[tuple[int, int, Any]]:
    """A protobuf message's (field number, wire type, value): varints as ints, length-delimited as bytes."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 1:
            value, at = data[at : at + 8], at + 8
        elif wire == 2:
            length, at = _varint(data, at)
            value, at = data[at : at + length], at + length
        elif wire == 5:
            value, at = data[at : at + 4], at + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _packed(data: bytes, fmt: str, size: int) -> list[float]:
    return list(struct.unpack(f"<{len(data) // size}{fmt}", data))


# aialgs.data.Value's tensors (field number -> packed value format): Float32Tensor, Float64Tensor, Int32Tensor.
_TENSORS = {2: ("f", 4), 3: ("d", 8), 7: ("i", 0)}


def _tensor(data: bytes) -> tuple[list[float], list[int], list[int]]:
    """A Value -> its tensor's (values, keys, shape); keys are empty for a dense tensor."""
    values: list[float] = []
    keys: list[int] = []
    shape: list[int] = []
    for number, _, tensor in _fields(data):
        if number not in _TENSORS:
            continue
        fmt, size = _TENSORS[number]
        for field, wire, value in _fields(tensor):
            if field == 1 and size:
                values += _packed(value, fmt, size) if wire == 2 else list(struct.unpack(f"<{fmt}", value))
            elif field == 1:
                values += [float(v) for v in (_ints(value) if wire == 2 else _ints(_varint_bytes(value)))]
            elif field == 2:
                keys += _packed_varints(value) if wire == 2 else [value]
            elif field == 3:
                shape += _packed_varints(value) if wire == 2 else [value]
    return values, keys, shape


def _varint_bytes(value: int) -> bytes:
    out = bytearray()
    while True:
        out.append((value & 0x7F) | (0x80 if value > 0x7F else 0))
        value >>= 7
        if not value:
            return bytes(out)


def _packed_varints(data: bytes) -> list[int]:
    out, at = [], 0
    while at < len(data):
        value, at = _varint(data, at)
        out.append(value)
    return out


def _ints(data: bytes) -> list[int]:
    return [v - (1 << 64) if v >= 1 << 63 else v for v in _packed_varints(data)]


def _records(path: Path) -> Iterator[bytes]:
    """RecordIO framing: a 0xced7230a magic, a length word (its top 3 bits a continuation flag), the payload padded
    to 4 bytes."""
    data = path.read_bytes()
    at = 0
    while at < len(data):
        magic, word = struct.unpack_from("<II", data, at)
        if magic != 0xCED7230A:
            raise UserError(f"File '{path.name}' is not 'application/x-recordio-protobuf' format (bad magic)")
        length = word & ((1 << 29) - 1)
        at += 8
        yield data[at : at + length]
        at += (length + 3) & ~3


def _read_recordio(files: list[Path]) -> tuple[Any, Any, Any]:
    """aialgs.data.Record: features (field 1) and label (field 2) maps of name -> Value; the "values" tensor is
    the features (dense, or sparse with keys and a shape), the label's "values" its first value."""
    import numpy as np  # noqa: PLC0415
    from scipy.sparse import csr_matrix  # noqa: PLC0415

    rows: list[tuple[list[float], list[int]]] = []
    labels: list[float] = []
    width = 0
    for path in files:
        for payload in _records(path):
            features: tuple[list[float], list[int], list[int]] = ([], [], [])
            label = float("nan")
            try:
                for field, _, entry in _fields(payload):
                    name, value = b"", b""
                    for number, _, part in _fields(entry):
                        name, value = (part, value) if number == 1 else (name, part)
                    if name != b"values":
                        continue
                    if field == 1:
                        features = _tensor(value)
                    elif field == 2:
                        label = (_tensor(value)[0] or [float("nan")])[0]
            except (ValueError, IndexError, struct.error) as exc:
                raise UserError(
                    f"File '{path.name}' is not 'application/x-recordio-protobuf' format: {exc}"
                ) from exc
            values, keys, shape = features
            width = max(width, shape[0] if shape else len(values) if not keys else max(keys) + 1)
            rows.append((values, keys))
            labels.append(label)
    if not rows:
        return None, None, None
    indptr, indices, data = [0], [], []
    for values, keys in rows:
        indices += keys or list(range(len(values)))
        data += values
        indptr.append(len(indices))
    matrix = csr_matrix((np.array(data, np.float32), indices, indptr), shape=(len(rows), width))
    return matrix, np.array(labels), None


READERS: dict[str, Callable[..., tuple[Any, Any, Any]]] = {
    "csv": _read_csv,
    "libsvm": _read_libsvm,
    "parquet": _read_parquet,
    "recordio-protobuf": _read_recordio,
}


def load(folder: Path | None, kind: str, weights: int) -> Any:
    import xgboost as xgb  # noqa: PLC0415

    if folder is None or not folder.is_dir():
        return None
    files = _data_files(folder)
    if not files:
        return None
    features, labels, row_weights = READERS[kind](files, weights) if kind == "csv" else READERS[kind](files)
    if features is None:
        return None
    return xgb.DMatrix(features, label=labels, weight=row_weights)


# --------------------------------------------------------------------------------------------- metrics


def _classes(preds: Any) -> Any:
    import numpy as np  # noqa: PLC0415

    if preds.ndim > 1:
        return np.argmax(preds, axis=-1)
    return (preds > 0.5).astype(int)


def _per_class(labels: Any, predicted: Any) -> tuple[Any, Any, Any]:
    import numpy as np  # noqa: PLC0415

    classes = np.union1d(labels, predicted)
    tp = np.array([np.sum((predicted == c) & (labels == c)) for c in classes], float)
    fp = np.array([np.sum((predicted == c) & (labels != c)) for c in classes], float)
    fn = np.array([np.sum((predicted != c) & (labels == c)) for c in classes], float)
    return tp, fp, fn


def _ratio(a: Any, b: Any) -> Any:
    import numpy as np  # noqa: PLC0415

    return np.divide(a, b, out=np.zeros_like(a), where=b > 0)


def _classification(name: str, preds: Any, labels: Any) -> float:
    import numpy as np  # noqa: PLC0415

    predicted = _classes(preds)
    labels = labels.astype(int)
    if name == "accuracy":
        return float(np.mean(predicted == labels))
    tp, fp, fn = _per_class(labels, predicted)
    precision, recall = _ratio(tp, tp + fp), _ratio(tp, tp + fn)
    f1 = _ratio(2 * precision * recall, precision + recall)
    binary = -1  # the positive class's entry (label 1) for the binary averages
    table = {
        "balanced_accuracy": float(np.mean(recall)),
        "f1": float(np.mean(f1)),
        "f1_macro": float(np.mean(f1)),
        "f1_binary": float(f1[binary]),
        "precision": float(precision[binary]),
        "precision_macro": float(np.mean(precision)),
        "precision_micro": float(np.mean(predicted == labels)),
        "recall": float(recall[binary]),
        "recall_macro": float(np.mean(recall)),
        "recall_micro": float(np.mean(predicted == labels)),
    }
    return table[name]


def _regression(name: str, preds: Any, labels: Any) -> float:
    import numpy as np  # noqa: PLC0415

    error = labels - preds
    if name == "mse":
        return float(np.mean(error**2))
    total = np.sum((labels - np.mean(labels)) ** 2)
    return float(1 - np.sum(error**2) / total) if total else 0.0


# The metrics xgboost does not compute, which the container adds (metrics/custom_metrics.py).
CUSTOM = {
    "accuracy",
    "balanced_accuracy",
    "f1",
    "f1_binary",
    "f1_macro",
    "precision",
    "precision_macro",
    "precision_micro",
    "recall",
    "recall_macro",
    "recall_micro",
    "mse",
    "r2",
}


def custom_metric(names: list[str]) -> Callable[[Any, Any], list[tuple[str, float]]]:
    def evaluate(preds: Any, dmatrix: Any) -> list[tuple[str, float]]:
        labels = dmatrix.get_label()
        return [
            (
                name,
                _regression(name, preds, labels)
                if name in ("mse", "r2")
                else _classification(name, preds, labels),
            )
            for name in names
        ]

    return evaluate


def monitor(xgb: Any) -> Any:
    class Monitor(xgb.callback.TrainingCallback):  # type: ignore[misc]
        """The container's EvaluationMonitor line, its tabs as CloudWatch shows them (#011)."""

        def after_iteration(self, model: Any, epoch: int, evals_log: dict[str, dict[str, list[Any]]]) -> bool:
            cells = [
                f"#011{data}-{metric}:{float(values[-1]):.5f}"
                for data, metrics in evals_log.items()
                for metric, values in metrics.items()
            ]
            print(f"[{epoch}]" + "".join(cells), flush=True)
            return False

    return Monitor()


# ----------------------------------------------------------------------------------------------- train


def train(version: str, root: Path) -> None:
    config = root / "input" / "config"
    given = json.loads((config / "hyperparameters.json").read_text())
    channels = json.loads((config / "inputdataconfig.json").read_text())
    # The container validates before it reads any data.
    params = validate_hyperparameters(version, given)
    channels = validate_channels(channels)
    import xgboost as xgb  # noqa: PLC0415

    print(f"[sagemaker-xgboost {version}, xgboost {xgb.__version__}] hyperparameters {params}", flush=True)
    kind = CONTENT_TYPES[channels["train"]["ContentType"]]
    if channels["train"].get("TrainingInputMode") == "Pipe":
        raise UserError("Pipe input mode is not emulated locally: use File")
    if "_kfold" in params:
        raise UserError("_kfold (cross-validation mode) is not emulated locally")
    weights = int(params.pop("csv_weights", 0))
    train_matrix = load(root / "input" / "data" / "train", kind, weights)
    validation_dir = root / "input" / "data" / "validation" if "validation" in channels else None
    validation_matrix = load(validation_dir, kind, weights)
    if train_matrix is None:
        raise UserError(f"No data in training channel path {root / 'input' / 'data' / 'train'}")
    if validation_dir is not None and validation_matrix is None:
        raise UserError(f"No data in validation channel path {validation_dir}")

    num_round = params.pop("num_round")
    params.pop("save_model_on_termination", None)
    params.pop("use_dask_gpu_training", None)
    params.pop("_num_cv_round", None)
    if "updater" in params:
        params["updater"] = ",".join(params["updater"])
    tuning = params.pop("_tuning_objective_metric", None)
    objective_metrics = tuning.split(":", 1)[1].split(",") if tuning else None
    eval_metric = params.get("eval_metric")
    union = (
        sorted(set(objective_metrics or []) | set(eval_metric or []))
        if (objective_metrics or eval_metric)
        else []
    )
    custom = [name for name in union if name in CUSTOM]
    native = [name for name in union if name not in CUSTOM]
    if native:
        params["eval_metric"] = native
    else:
        params.pop("eval_metric", None)
    rounds = params.pop("early_stopping_rounds", None)
    callbacks = [monitor(xgb)]
    stop_metric = (objective_metrics or eval_metric or [None])[-1] if rounds else None
    if rounds and stop_metric and validation_matrix is not None:
        callbacks.append(
            xgb.callback.EarlyStopping(
                rounds=rounds,
                metric_name=stop_metric,
                data_name="validation",
                maximize=stop_metric in MAXIMIZE,
                save_best=True,
            )
        )
    watchlist = [(train_matrix, "train")]
    if validation_matrix is not None:
        watchlist.append((validation_matrix, "validation"))
    try:
        booster = xgb.train(
            params,
            train_matrix,
            num_boost_round=num_round,
            evals=watchlist,
            custom_metric=custom_metric(custom) if custom else None,
            callbacks=callbacks,
            verbose_eval=False,
        )
    except Exception as exc:  # xgboost raises XGBoostError, ValueError, ...; the container sorts them
        if any(message in str(exc) for message in CUSTOMER_ERRORS):
            raise UserError(str(exc)) from exc
        raise AlgorithmError(f"XGB train call failed with exception:\n {exc}") from exc
    model_dir = root / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    booster.save_model(str(model_dir / MODEL_NAME))


def main(argv: list[str]) -> int:
    version = argv[1] if len(argv) > 1 else ""
    root = Path(os.environ.get("SAGEMAKER_BASE_DIR", "/opt/ml"))
    try:
        train(version, root)
    except UserError as exc:
        category, message = "ClientError", str(exc)
    except AlgorithmError as exc:
        category, message = "AlgorithmError", str(exc)
    except Exception:  # noqa: BLE001 (what the container's framework reports: any other failure is the algorithm's)
        category, message = "AlgorithmError", f"framework error: \n{traceback.format_exc()}"
    else:
        return 0
    print(f"{category}: {message}", file=sys.stderr, flush=True)
    failure = root / "output" / "failure"
    failure.parent.mkdir(parents=True, exist_ok=True)
    failure.write_text(f"{category}: {message}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
