"""The churn demo's synthetic drops: seeded and deterministic, in the built-in XGBoost's CSV layout, and drifting
enough that drop 1's model measurably loses on drop 4."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from retune.manifest import parse_manifest
from retune_local import churn


def digest(folder: Path) -> str:
    return hashlib.sha256(
        b"".join((folder / f).read_bytes() for f in sorted(p.name for p in folder.iterdir()))
    ).hexdigest()


def test_churn_drops_are_quarterly_and_deterministic(tmp_path: Path) -> None:
    specs = churn.drops(4)
    assert [s.drop_id for s in specs] == ["2025-01-01", "2025-04-01", "2025-07-01", "2025-10-01"]
    assert [round(s.drift, 3) for s in specs] == [0.0, 0.333, 0.667, 1.0]
    churn.write_drop(specs[1], tmp_path / "a")
    churn.write_drop(churn.drops(2)[1], tmp_path / "b")  # the same drop, made again in another sequence
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    other_seed = churn.drops(2, seed=churn.SEED + 1)[1]
    churn.write_drop(other_seed, tmp_path / "c")
    assert digest(tmp_path / "c") != digest(tmp_path / "a")


def test_churn_drop_files_are_csv_label_first_as_the_builtin_reads_them(tmp_path: Path) -> None:
    spec = churn.drops(1)[0]
    document = churn.write_drop(spec, tmp_path)
    manifest = parse_manifest((tmp_path / "manifest.json").read_bytes())
    assert sorted(manifest.channels) == ["test", "train", "validation"]
    assert "SYNTHETIC" in document["description"]
    for channel, rows in churn.ROWS.items():
        assert manifest.channels[channel].content_type == "text/csv"
        table = np.loadtxt(tmp_path / f"{channel}.csv", delimiter=",")
        assert table.shape == (rows, 1 + len(churn.FEATURES))
        assert set(np.unique(table[:, 0])) == {0.0, 1.0}
        assert 0.1 < table[:, 0].mean() < 0.35  # a churn rate, not a coin flip
        features, labels = churn.customers(spec, channel)
        assert np.array_equal(table[:, 0], labels)
        assert np.allclose(table[:, 1:], features)
    assert not (tmp_path / "train.csv").read_text().startswith(("tenure", "churn"))  # no header


def test_churn_drop_one_model_loses_on_drop_four() -> None:
    """The drift, measured (`python -m retune_local.churn` prints it on the demo's full drops): a model fitted on
    drop 1 loses at least 0.03 AUC on drop 4's test rows against its AUC on drop 1's, and a model fitted on drop 4
    beats it there."""
    m = churn.drift_measure(4)  # the demo's drops, as they are
    loss, gain = m["first_on_first"] - m["first_on_last"], m["last_on_last"] - m["first_on_last"]
    assert loss >= 0.03, m
    assert gain >= 0.03, m


def test_churn_auc_counts_ties_half() -> None:
    labels = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.4, 0.35, 0.8, 0.35, 0.35])
    pos, neg = scores[labels == 1], scores[labels == 0]
    pairs = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    assert churn.auc(labels, scores) == pytest.approx(pairs / (len(pos) * len(neg)))
    with pytest.raises(ValueError, match="both"):
        churn.auc(np.zeros(3), np.arange(3.0))
