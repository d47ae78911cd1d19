"""Readable output: aligned tables, numbers at a useful precision, times, sparklines; or JSON with `--json`."""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel

BLOCKS = "▁▂▃▄▅▆▇█"
ASCII_BLOCKS = "_.-=+*#@"
SPARK_WIDTH = 24
DASH = "-"


def emit_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def dump(model: BaseModel | None, **kwargs: Any) -> Any:
    return None if model is None else model.model_dump(mode="json", by_alias=True, **kwargs)


def _blocks() -> str:
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        BLOCKS.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return ASCII_BLOCKS
    return BLOCKS


def sparkline(
    values: Sequence[float], lo: float | None = None, hi: float | None = None, width: int = SPARK_WIDTH
) -> str:
    """One character per point, from lowest to highest on the scale [lo, hi] (default: the series' own range).
    A series longer than `width` is averaged down to `width` points."""
    points = [v for v in values if math.isfinite(v)]
    if not points:
        return ""
    if len(points) > width:
        step = len(points) / width
        points = [
            sum(chunk) / len(chunk)
            for i in range(width)
            if (chunk := points[int(i * step) : max(int((i + 1) * step), int(i * step) + 1)])
        ]
    lo = min(points) if lo is None else lo
    hi = max(points) if hi is None else hi
    blocks = _blocks()
    if hi <= lo:
        return blocks[0] * len(points)
    top = len(blocks) - 1
    return "".join(blocks[max(0, min(top, round((v - lo) / (hi - lo) * top)))] for v in points)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[int] = ()) -> str:
    """Columns padded to their widest cell; the columns in `right` (numbers) aligned right."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        out = [c.rjust(widths[i]) if i in right else c.ljust(widths[i]) for i, c in enumerate(cells)]
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def num(value: float | None, digits: int = 4) -> str:
    """A score at `digits` decimals; a large count (compute, seconds) without them."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return DASH
    if float(value).is_integer():
        return f"{int(value)}"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def hyperparameter(text: str) -> str:
    """A hyperparameter's value as SageMaker passes it (a string): long decimals cut to 4 significant digits."""
    try:
        value = float(text)
    except ValueError:
        return text
    return text if value.is_integer() or len(text) <= 6 else f"{value:.4g}"


def when(moment: datetime | None) -> str:
    return DASH if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def took(start: datetime | None, end: datetime | None) -> str:
    if start is None or end is None:
        return DASH
    seconds = int((end - start).total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def plain(value: Any) -> str:
    """A setting's value in a table cell."""
    if value is None:
        return DASH
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return num(value)
    if isinstance(value, list):
        return ", ".join(plain(v) for v in value) if value else "none"
    if isinstance(value, dict) and "name" in value:
        return range_text(value)
    return str(value)


def range_text(spec: dict[str, Any]) -> str:
    """A search range as `name [min, max] scaling` or `name {a, b}`."""
    if "values" in spec:
        return f"{spec['name']} {{{', '.join(map(str, spec['values']))}}}"
    scaling = spec.get("scaling") or "Auto"
    suffix = "" if scaling in ("Auto", "Linear") else f" {scaling.removesuffix('Scale').lower()}"
    return f"{spec['name']} [{plain(spec.get('min_value'))}, {plain(spec.get('max_value'))}]{suffix}"


def package_name(arn: str | None) -> str:
    """`arn:...:model-package/retune-toy/3` → `retune-toy/3`."""
    if not arn:
        return DASH
    return arn.split(":model-package/", 1)[-1]


OUTCOMES = {
    "approved": "promoted",
    "rejected": "not promoted",
    "pending_manual": "awaiting approval",
    "not_evaluated": "not evaluated",
}
