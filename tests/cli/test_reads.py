"""The read commands against a local stack where the profile `toy` has run two rounds."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from retune.records import CHAMPION_HISTORY_MAX, ChampionChange, ChampionRecord
from retune.store import champion_item
from retune.table import Put
from retune_local.stack import LocalStack

from tests.cli.conftest import Cli, put_profile, run_round

# One worker runs the CLI's stack tests: the package's local stack (tests/cli/conftest.py) starts once.
pytestmark = [pytest.mark.local_stack, pytest.mark.xdist_group("cli-stack")]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module", autouse=True)
def toy(local: tuple[LocalStack, Path]) -> None:
    stack, tmp = local
    put_profile(stack, tmp, "toy", max_jobs=4)
    assert run_round(stack, tmp, "toy", "2015-01-01", 1).status == "decided"
    assert run_round(stack, tmp, "toy", "2015-07-01", 2, rows=4).status == "decided"


def test_rounds_lists_both_rounds(cli: Cli) -> None:
    data = cli("rounds", "toy", "--json").json()
    assert [r["seq"] for r in data["rounds"]] == [1, 2]
    assert all(r["status"] == "decided" for r in data["rounds"])
    assert data["rounds"][0]["decision"]["outcome"] == "approved"
    assert data["champion"]["model_package_arn"]
    assert data["active"] is None and data["paused"] is None
    text = cli("rounds", "toy")
    assert text.code == 0
    lines = text.out.splitlines()
    assert lines[0].startswith("toy: 2 round(s); champion retune-toy/")
    header = next(line for line in lines if line.startswith("ROUND"))
    assert "DECISION" in header and "CHALLENGER" in header
    first = next(line for line in lines if line.lstrip().startswith("1 "))
    assert "2015-01-01" in first and "decided" in first and "promoted" in first


def test_round_2_shows_its_incumbent_as_such(cli: Cli) -> None:
    """Round 2 retrained round 1's best configurations (the champion's first) before tuning: the CLI says so."""
    data = cli("round", "toy", "2", "--json").json()
    incumbents = data["round"]["incumbents"]
    assert incumbents[0]["job_name"] == "rt-toy-0002-inc1" and incumbents[0]["why"] == "champion"
    sources = {t["training_job_name"]: t["source"] for t in data["trials"]}
    names = {i["job_name"] for i in incumbents}
    assert {n: s for n, s in sources.items() if n in names} == dict.fromkeys(names, "incumbent")
    assert {s for n, s in sources.items() if n not in names} == {"tuning"}
    text = cli("round", "toy", "2").out
    assert "incumbent   rt-toy-0002-inc1: the champion's configuration, from round 1" in text
    assert "rt-toy-0002-inc1 (incumbent)" in text
    rounds = cli("rounds", "toy").out.splitlines()
    assert "INCUMBENTS" in next(line for line in rounds if line.startswith("ROUND"))
    second = next(line for line in rounds if line.lstrip().startswith("2 ")).split()
    assert second[6] == str(len(incumbents))  # after ROUND, DROP, STATUS and TRIALS ("c/e/f of n")


def test_round_shows_trials_with_curves(cli: Cli) -> None:
    data = cli("round", "toy", "1", "--json").json()
    assert data["round"]["seq"] == 1 and data["round"]["tuning_job_name"] == "rt-toy-0001"
    trials = data["trials"]
    assert len(trials) == 4
    completed = [t for t in trials if t["status"] == "Completed"]
    assert completed and all(len(t["objective_series"]) == 4 for t in completed)
    text = cli("round", "toy", "1")
    assert text.code == 0
    assert "Round 1 of toy: decided" in text.out
    assert "tuning job  rt-toy-0001 (Completed)" in text.out
    best = data["round"]["best_training_job"]
    assert f"{best} *" in text.out  # the best trial is marked
    row = next(line for line in text.out.splitlines() if line.startswith(best))
    curve = row.split()[-2]  # CURVE, then the searched hyperparameter x
    assert len(curve) == 4 and set(curve) <= set("▁▂▃▄▅▆▇█")
    assert "CURVE: validation:rmse per epoch, one scale for the round" in text.out


def test_round_that_does_not_exist_fails_with_one_line(cli: Cli) -> None:
    result = cli("round", "toy", "9")
    assert result.code == 1
    assert result.err.strip() == "retune: error: no round 9 of toy: its rounds are 1 to 2"
    assert result.out == ""


def test_plan_shows_the_next_plan_with_reasons(cli: Cli) -> None:
    data = cli("plan", "toy", "--json").json()
    assert data["round"] == 3 and data["source"] == "stored"
    assert data["plan"]["based_on_rounds"] == [1, 2]
    # Round 2's incumbent (round 1's best, retrained on the new drop) lost to every tuning trial there: the toy's
    # configurations do not transfer, so the next round warm-starts from nobody and says why.
    warm = data["plan"]["warm_start_parents"]
    assert warm["value"] == [] and warm["previous"] == ["rt-toy-0001"]
    assert warm["reason"].startswith("no warm start: poor transfer")
    for change in data["changes"]:
        assert change["reason"] and change["setting"] in data["plan"]
    text = cli("plan", "toy")
    assert text.out.startswith("Next plan for toy: round 3, the stored plan; learned from rounds: 1, 2")
    row = next(line for line in text.out.splitlines() if " warm_start_parents " in line)
    assert "rt-toy-0001" in row and "poor transfer" in row


def test_plan_render_prints_the_request_without_sending_it(cli: Cli) -> None:
    result = cli("plan", "toy", "--render")
    assert result.code == 0, result.err
    request = result.json()
    assert request["HyperParameterTuningJobName"] == "rt-toy-0003"
    config = request["HyperParameterTuningJobConfig"]
    plan = cli("plan", "toy", "--json").json()["plan"]
    assert config["ResourceLimits"]["MaxNumberOfTrainingJobs"] == plan["max_jobs"]["value"]
    parents = request.get("WarmStartConfig", {}).get("ParentHyperParameterTuningJobs", [])
    assert [p["HyperParameterTuningJobName"] for p in parents] == plan["warm_start_parents"]["value"]
    channels = {c["ChannelName"]: c for c in request["TrainingJobDefinition"]["InputDataConfig"]}
    assert channels["train"]["DataSource"]["S3DataSource"]["S3Uri"].endswith(
        "manifests/toy/2015-07-01/train.manifest"
    )  # the newest drop, as no drop is queued
    assert "(not sent)" in result.err
    names = {
        j["HyperParameterTuningJobName"]
        for j in cli.stack.client("sagemaker").list_hyper_parameter_tuning_jobs()[
            "HyperParameterTuningJobSummaries"
        ]
    }
    assert "rt-toy-0003" not in names


def test_champion_of_a_long_reign_shows_its_last_changes_and_says_how_many_went(
    cli: Cli, local: tuple[LocalStack, Path]
) -> None:
    """Issue 17, item 20: the champion's item keeps its last changes (a record as today's code wrote it, with
    every change, is cut at its next change); `retune champion` says how many earlier ones there were."""
    stack, _ = local
    changes = [
        ChampionChange(
            model_package_arn=f"arn:aws:sagemaker:us-east-1:123456789012:model-package/retune-long/{n}",
            round_seq=n,
            score=0.5,
            decided_by="retune",
            changed_at=datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=n),
            reason=f"change {n}",
        )
        for n in range(1, 31)
    ]
    champion = ChampionRecord(
        profile="long",
        model_package_arn=changes[-1].model_package_arn,
        model_artifact="s3://bucket/registry/long/round-30/model.tar.gz",
        round_seq=30,
        score=0.5,
        history=changes[-CHAMPION_HISTORY_MAX:],
        version=30,
    )
    stack.state().table.write([Put(champion_item(champion))])
    text = cli("champion", "long").out
    assert "change 30" in text and "change 11" in text and "change 10" not in text
    assert text.endswith(
        "... and 10 earlier change(s), not kept with the champion; each round's decision is in "
        "`retune rounds long`\n"
    )
    assert cli("champion", "long", "--json").json()["earlier_changes"] == 10


def test_champion_shows_its_history(cli: Cli) -> None:
    data = cli("champion", "toy", "--json").json()
    champion = data["champion"]
    assert champion["round_seq"] in (1, 2)
    assert champion["history"][0]["round_seq"] == 1 and champion["history"][0]["decided_by"] == "retune"
    text = cli("champion", "toy")
    assert text.out.startswith("Champion of toy: retune-toy/")
    assert champion["model_package_arn"] in text.out
    assert "first champion" in text.out


def test_commands_on_an_unknown_profile_say_so(cli: Cli) -> None:
    assert cli("rounds", "nobody").out.startswith("nobody: 0 round(s); no champion yet")
    assert cli("champion", "nobody").out == "nobody has no champion yet\n"
    result = cli("plan", "nobody")
    assert result.code == 1
    assert "no profile nobody" in result.err and result.err.count("\n") == 1


def test_usage_errors_exit_2(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("round", "toy", "zero").code == 2
    assert cli("rounds", "Not_A_Profile").code == 2
    monkeypatch.delenv("RETUNE_STACK", raising=False)
    monkeypatch.delenv("RETUNE_ENDPOINTS_FILE", raising=False)
    from retune_cli.__main__ import main  # noqa: PLC0415

    assert main(["rounds", "toy"]) == 2


def test_console_script_runs_against_the_endpoints_file(cli: Cli) -> None:
    script = Path(sys.executable).parent / "retune"
    done = subprocess.run(
        [str(script), "--json", "rounds", "toy", "--endpoints-file", str(cli.endpoints)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '"seq": 2' in done.stdout
