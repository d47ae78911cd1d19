"""The CLI's formatting: sparklines, numbers, tables, upload progress."""

from __future__ import annotations

import io

from retune_cli.output import hyperparameter, num, sparkline, table
from retune_cli.upload import PROGRESS_MIN_BYTES, Progress


def test_sparkline_scales_points_between_lo_and_hi() -> None:
    assert sparkline([4.0, 3.0, 2.0, 1.0]) == "█▆▃▁"
    assert sparkline([1.0, 1.0]) == "▁▁"
    assert sparkline([2.0], lo=0.0, hi=4.0) == "▅"  # on the round's shared scale
    assert sparkline([]) == ""
    assert len(sparkline([float(i) for i in range(100)], width=24)) == 24


def test_numbers_read_at_a_useful_precision() -> None:
    assert num(None) == "-"
    assert num(0.123456) == "0.1235"
    assert num(40.0) == "40" and num(0.0) == "0"
    assert num(12345.6) == "12,346"
    assert hyperparameter("0.3324863037843828") == "0.3325"
    assert hyperparameter("gbtree") == "gbtree" and hyperparameter("120") == "120"


def test_table_aligns_columns() -> None:
    text = table(["A", "NUMBER"], [["x", "1"], ["longer", "100"]], right=(1,))
    assert text.splitlines() == ["A       NUMBER", "x            1", "longer     100"]


def test_progress_reports_large_files_by_quarters_when_not_a_terminal() -> None:
    stream = io.StringIO()
    total = 2 * PROGRESS_MIN_BYTES
    progress = Progress("train.csv", total, stream)
    for _ in range(8):
        progress(total // 8)
    progress.finish()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 4
    assert lines[0].split() == ["train.csv", "4.0", "MiB", "/", "16.0", "MiB", "25%"]
    assert lines[-1].endswith("100%")


def test_progress_prints_one_line_for_a_small_file() -> None:
    stream = io.StringIO()
    progress = Progress("manifest.json", 300, stream)
    progress(300)
    progress.finish()
    assert stream.getvalue() == "  manifest.json  300 B\n"
