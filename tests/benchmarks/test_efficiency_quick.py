"""The efficiency benchmark's harness, in its quick mode (tiny drops, 3 rounds of 3 trials, every arm): a check that
the harness runs and reports in the issue's shape, not of the goal (docs/benchmarks.md reports that)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import efficiency
from benchmarks.efficiency_harness import ARMS

pytestmark = pytest.mark.local_stack

SUMMARY_KEYS = {
    "retune_vs_amt_default_compute_ratio_rounds_3plus",
    "retune_mean_regret_pct_rounds_3plus",
    "retune_worst_regret_pct_rounds_3plus",
    "amt_default_mean_regret_pct_rounds_3plus",
    "retune_vs_amt_default_test_rmse_ratio",
}
# Issue 20's: the CIs, the ratios side by side, the budget-matched anchors, and the same on the held-out windows.
NEW_KEYS = {
    "regret_diff_ci_95",
    "test_ratio_ci_95",
    "compute_ratio_ci_95",
    "trial_count_ratio",
    "bill_ratio",
    "vs_budget_matched",
}
RESCORED_KEYS = {"rescored_regret_diff", "rescored_regret_diff_ci_95"}


def test_efficiency_quick_mode_runs_every_arm_and_reports_the_issue_shape(tmp_path: Path) -> None:
    out = tmp_path / "efficiency.json"
    code = efficiency.main(["--quick", "--work", str(tmp_path / "work"), "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text())
    assert set(result) == {"xgb", "mlp", "seq"}
    xgb = result["xgb"]
    assert set(xgb["arms"]) == set(ARMS)
    for arm in ARMS:
        rounds = xgb["arms"][arm]["rounds"]
        assert [r["round"] for r in rounds] == [1, 2, 3]
        for r in rounds:
            assert r["compute"] > 0 and r["cpu_seconds"] >= 0 and r["trials"] >= 1
            assert r["best_validation_rmse"] > 0 and r["test_rmse"] > 0 and r["ridge_test_rmse"] > 0
            assert r["regret_pct"] >= 0  # quick mode's reference is the best any arm found
    assert set(xgb["summary"]) == SUMMARY_KEYS | NEW_KEYS | RESCORED_KEYS | {"held_out"}
    # The held-out block has the same keys (empty here: quick mode's windows are all before 2019).
    assert set(xgb["summary"]["held_out"]) == SUMMARY_KEYS | NEW_KEYS | RESCORED_KEYS
    assert all(isinstance(xgb["summary"][k], float) for k in SUMMARY_KEYS)
    low, high = xgb["summary"]["regret_diff_ci_95"]
    assert low <= xgb["summary_details"]["regret_diff"] <= high
    # Both budget-matched anchors measured: the random one ran retune's trial count, the cut one from AMT-default's
    # per-trial records.
    matched = xgb["arms"]["random_matched"]["rounds"]
    assert [r["trials"] for r in matched] == [r["trials"] for r in xgb["arms"]["retune"]["rounds"]]
    for anchor in ("amt_default_cut", "random_matched"):
        assert len(xgb["summary"]["vs_budget_matched"][anchor]["regret_diff_ci_95"]) == 2
    # Each sequence's rows went to its own per-seed file, with the per-trial records the cut anchor needs.
    per_seed = json.loads((tmp_path / "efficiency-per-seed" / "xgb" / "amt_default" / "s01.json").read_text())
    assert [len(r["trial_records"]) for r in per_seed["rows"]] == [r["trials"] for r in per_seed["rows"]]
    # From round 3 on (the rounds compared), each arm's best configuration was trained again with 3 fresh trainer
    # seeds; the regret difference is reported on those scores too.
    for arm in ARMS:
        rows = json.loads((tmp_path / "efficiency-per-seed" / "xgb" / arm / "s01.json").read_text())["rows"]
        assert [r["best_rescored"] is not None for r in rows] == [False, False, True], arm
        scores = rows[2]["best_rescored"]
        assert set(scores) == {"1", "2", "3"} and all(v > 0 for v in scores.values())
        assert rows[2]["best_rescored_validation_rmse"] == pytest.approx(sum(scores.values()) / 3)
    low, high = xgb["summary"]["rescored_regret_diff_ci_95"]
    assert low <= xgb["summary"]["rescored_regret_diff"] <= high
    # The cut anchor too: AMT-default's best among its first k trials (k: retune's count), re-scored.
    amt = json.loads((tmp_path / "efficiency-per-seed" / "xgb" / "amt_default" / "s01.json").read_text())[
        "rows"
    ]
    ours = json.loads((tmp_path / "efficiency-per-seed" / "xgb" / "retune" / "s01.json").read_text())["rows"]
    cut = amt[2]["cut_rescored"]
    assert cut["trials"] == ours[2]["trials"] and set(cut["scores"]) == {"1", "2", "3"}
    assert cut["best_trial"] in [r["name"] for r in amt[2]["trial_records"][: cut["trials"]]]
    anchor = xgb["summary_details"]["vs_budget_matched"]["amt_default_cut"]
    assert anchor["rescored_pairs"] == 1 and anchor["rescored_regret_diff"] is not None
    assert xgb["scale"]["mode"] == "quick"
    # The retune arm's plans come from plan_next_round: its second round already moved settings.
    assert xgb["arms"]["retune"]["rounds"][1]["per_seed"][0]["plan_changes"]
    # From round 2 on the retune arm runs StartRound's incumbents first: their scores set the tuning job's target.
    for later in xgb["arms"]["retune"]["rounds"][1:]:
        changes = later["per_seed"][0]["plan_changes"]
        assert changes["incumbents"]["value"] >= 1
        assert changes["target_objective"]["value"] is not None, changes["target_objective"]
    assert xgb["arms"]["amt_default"]["rounds"][1]["per_seed"][0]["plan_changes"]["incumbents"]["value"] == 0
    assert result["mlp"]["summary"]["retune_mean_regret_pct_rounds_3plus"] is None  # not run in quick mode
    # The sequence models (issue 22): the same summary keys, no goal of issue 20's judged.
    assert set(result["seq"]["summary"]) == SUMMARY_KEYS | NEW_KEYS | RESCORED_KEYS | {"held_out"}
    assert result["seq"]["goal"] is None and "no goal" in result["seq"]["goal_note"]
    doc = out.with_suffix(".md").read_text()
    assert "| retune | 3 |" in doc and "efficiency-xgb.svg" in doc and "random_matched" in doc
    assert (tmp_path / "efficiency-xgb.svg").read_text().startswith("<svg")
