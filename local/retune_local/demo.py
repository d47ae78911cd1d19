"""`make demo`: the whole loop offline, with live progress, a round table and a report.

    python -m retune_local.demo [--drops 4] [--profile market-xgb] [--out out/demo] [--max-jobs N --parallel N]

It starts the local stack, uploads the profile, and drops the profile's data one drop at a time into the local
bucket as a user would (the manifest last), waiting for each round to be decided before the next drop. The market
profiles drop consecutive windows of skfolio's S&P 500 data; churn-xgb drops synthetic customer-churn data that
drifts (retune_local.churn, docs/churn.md), trained by SageMaker's built-in XGBoost, scored by the churn evaluator,
and, its approval being manual, approved by the demo as an operator would: `retune promote` on each pending
package. At the end it prints the round table and writes out/demo/summary.json and out/demo/report.html.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import functools
import io
import json
import shutil
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retune.records import RoundRecord, TrialRecord

from retune_local import builtin_xgboost, churn, market
from retune_local.images import ImageSpec
from retune_local.report import round_summary, table, write_report
from retune_local.stack import LocalStack, tracking_available
from retune_local.template import ROOT

IMAGES = {"retune/market-volatility-xgb": "xgb", "retune/market-volatility-mlp": "mlp"}
# The virtual clock of the deterministic mode: one emission of the objective stands for this many seconds.
SECONDS_PER_EPOCH = 2.0
LOCAL_ENDPOINTS = Path("out/local/endpoints.json")  # where `make local` writes the restored stack's endpoints


SEQUENCE_IMAGE = "retune/market-sequence"
# The sequence trainer's Python: 3.11 with torch's CPU build (`make torch-venv`; tools/torch-requirements.txt).
TORCH_PYTHON = ROOT / ".venv-tools" / "torch" / "bin" / "python"
# One epoch of a market-seq trial stands for this many seconds on the virtual clock: 12 epochs (the profile's
# max_epochs) make 240 s, within its max_runtime_seconds (300).
SEQUENCE_SECONDS_PER_EPOCH = 20.0


def sequence_images() -> dict[str, ImageSpec]:
    """The sequence trainer (trainers/market_sequence) as a local command in the torch venv. Cold, a fresh process
    per job: the warm runner is the control plane's Python (3.13), which never imports torch; each trial pays
    torch's import (about 2.5 s of CPU) instead. One thread a trial, as the trainer's own nthread."""
    if not TORCH_PYTHON.is_file():
        raise FileNotFoundError(f"{TORCH_PYTHON}: the torch venv is missing; make it with `make torch-venv`")
    return {
        SEQUENCE_IMAGE: ImageSpec(
            argv=(str(TORCH_PYTHON), "-m", "trainers.market_sequence", "train"),
            seconds_per_epoch=SEQUENCE_SECONDS_PER_EPOCH,
            env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"},
            warm=False,
        )
    }


def serve_images() -> dict[str, ImageSpec]:
    """What `python -m retune_local serve` (`make local`) maps besides its --image options: the sequence trainer, as
    the demo maps it, so that `make local STATE=out/demo/state` runs market-seq's jobs too. Without the torch venv
    its jobs fail, their FailureReason saying how to make it; the stack itself runs on."""
    try:
        return sequence_images()
    except FileNotFoundError as exc:
        reason = f"{exc} (then restart the local stack)"
        # A stand-in trainer that fails as the contract says (output/failure, a non-zero exit) with the reason.
        script = "import sys; open('output/failure', 'w').write(sys.argv[1]); sys.exit(1)"
        return {SEQUENCE_IMAGE: ImageSpec(argv=(sys.executable, "-c", script, reason), warm=False)}


def market_images() -> dict[str, ImageSpec]:
    """The reference trainers as local commands (`python -m trainers.market_volatility xgb train`), their
    modules preloaded by the warm runner (trainers/market_volatility/README.md)."""
    return {
        image: ImageSpec.python(
            "-m",
            "trainers.market_volatility",
            family,
            "train",
            preload=(f"trainers.market_volatility.{family}",),
            seconds_per_epoch=SECONDS_PER_EPOCH,
            env={"PYTHONPATH": str(ROOT)},
        )
        for image, family in IMAGES.items()
    }


CHURN_EVALUATE = "retune/churn-evaluate"


def churn_images(training_image: str) -> dict[str, ImageSpec]:
    """The churn profile's images. Its evaluation image as a local command (`python -m trainers.churn_evaluate
    train`) on the XGBoost of the built-in algorithm it scores (1.7.6: the algorithm's model files are XGBoost
    1.7's binary format), in the venv `make xgboost-venvs` builds. Its training image, SageMaker's built-in
    XGBoost, as the local SageMaker emulates it (its clock: one boosting round a second), one thread a trial."""
    builtin = builtin_xgboost.image_spec(training_image)
    if builtin is None:
        raise ValueError(f"{training_image}: not an emulated version of SageMaker's built-in XGBoost")
    python = builtin_xgboost.EMULATED["1.7-1"].python
    return {
        # One thread a trial: the round's trials run side by side on this machine's cores (on SageMaker each has an
        # instance of its own), and XGBoost's threads fighting over busy cores waste most of their time.
        training_image: dataclasses.replace(builtin, env={**builtin.env, "OMP_NUM_THREADS": "1"}),
        CHURN_EVALUATE: ImageSpec(
            argv=(str(python), "-m", "trainers.churn_evaluate", "train"),
            preload=("trainers.churn_evaluate.evaluate",),
            seconds_per_epoch=SECONDS_PER_EPOCH,
            env={"PYTHONPATH": str(ROOT)},
        ),
    }


@dataclass(frozen=True)
class Drop:
    drop_id: str
    describe: str
    write: Callable[[Path], object]


@dataclass(frozen=True)
class Workload:
    """What a profile's demo drops and which images it runs."""

    data: str  # "S&P 500 data"
    source: str  # " (skfolio)"
    drops: list[Drop]
    images: dict[str, ImageSpec]
    notes: str  # for the report, after "<drops> drops of ..., <seconds> s on this machine."


def workload(
    profile_doc: dict[str, Any], drops: int, first_validation: str, churn_rows: dict[str, int] | None = None
) -> Workload:
    if profile_doc["name"].startswith("churn"):
        specs = churn.drops(drops, rows=churn_rows)
        return Workload(
            "synthetic customer-churn data",
            " (retune_local.churn: seeded, drifting)",
            [Drop(s.drop_id, s.describe(), functools.partial(churn.write_drop, s)) for s in specs],
            churn_images(profile_doc["training"]["image"]),
            "Each round's challenger and the champion are scored by one evaluation job (retune/churn-evaluate, AUC) "
            "on the drop's held-out test customers; each package the evaluation found better waited for a "
            "person's approval, given with retune promote.",
        )
    windows = market.windows(first_validation, count=drops)
    sequences = profile_doc["training"]["image"] == SEQUENCE_IMAGE
    write = market.write_sequence_drop if sequences else market.write_drop
    return Workload(
        "S&P 500 data",
        " (skfolio)",
        [
            Drop(
                s.drop_id,
                f"train {s.train_start}..{s.train_end}, validation {s.validation_start}..{s.validation_end}, "
                f"test {s.test_start}..{s.test_end}",
                functools.partial(write, s),
            )
            for s in windows
        ],
        sequence_images() if sequences else market_images(),
        "Each round's challenger and the champion are scored by one evaluation job on the drop's held-out test "
        "window.",
    )


def approve_by_hand(stack: LocalStack, profile: str, seq: int, endpoints: Path, stream: Any) -> None:
    """A manual profile's pending package, approved as an operator would: `retune promote` (the CLI)."""
    from retune_cli.__main__ import main as retune  # noqa: PLC0415 (only manual profiles need the CLI)

    rnd = stack.state().get_round(profile, seq)
    if rnd is None or rnd.decision is None or rnd.decision.outcome != "pending_manual":
        return
    arn = rnd.decision.model_package_arn
    assert arn is not None
    argv = ["promote", profile, "--model-package", arn]
    print(f"round {seq}: {rnd.decision.reason}", file=stream)
    print(f"$ retune {' '.join(argv)}", file=stream, flush=True)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = retune([*argv, "--endpoints-file", str(endpoints)])
    print(out.getvalue().rstrip(), file=stream, flush=True)
    if code != 0:
        raise RuntimeError(f"retune promote failed (exit {code}): {err.getvalue().strip()}")


class Progress:
    """Prints a round's progress whenever it changes: trials completed, stopped early, running, failed, best."""

    def __init__(
        self, stack: LocalStack, profile: str, seq: int, drop: str, stream: Any = sys.stdout
    ) -> None:
        self.store, self.profile, self.seq, self.drop = stack.state(), profile, seq, drop
        self.stream = stream
        self.last = ""
        self.started = time.monotonic()

    def __call__(self) -> bool:
        rnd = self.store.get_round(self.profile, self.seq)
        trials = self.store.trials(self.profile, self.seq)
        done = [t for t in trials if t.status == "Completed"]
        stopped = sum(t.stopped_early for t in trials)
        running = sum(t.status == "InProgress" for t in trials)
        failed = sum(t.status == "Failed" for t in trials)
        best_of = max if rnd is not None and rnd.objective_type == "Maximize" else min
        best = best_of((t.final_objective for t in done if t.final_objective is not None), default=None)
        status = rnd.status if rnd else "starting"
        if rnd is not None and rnd.status == "starting" and rnd.incumbents:
            status = "incumbents"  # the round trains them first; its tuning job waits
        # the tuning job's trials and the round's incumbents
        planned = rnd.plan.max_jobs.value + len(rnd.incumbents) if rnd else "?"
        line = (
            f"round {self.seq} [drop {self.drop}] {status:<10} trials {len(done) + stopped + failed}/{planned}: "
            f"{len(done)} completed, {stopped} stopped early, {running} running, {failed} failed; "
            f"best {best:.4f}"
            if best is not None
            else f"round {self.seq} [drop {self.drop}] {status:<10} trials 0/{planned}: {running} running"
        )
        if line != self.last:
            elapsed = time.monotonic() - self.started
            print(f"  {elapsed:6.1f}s  {line}", file=self.stream, flush=True)
            self.last = line
        return (rnd is not None and rnd.status in ("decided", "failed")) or self.refused() is not None

    def refused(self) -> list[str] | None:
        """The errors of a drop that failed before its round could run (its documents, or SageMaker refused the
        tuning job), or None: such a round never decides, so the demo stops instead of waiting."""
        drop = self.store.get_drop(self.profile, self.drop)
        if drop is None or drop.state != "failed" or self.store.get_round(self.profile, self.seq) is not None:
            return None
        return list(drop.errors)


def incumbent_lines(rounds: list[tuple[RoundRecord, list[TrialRecord]]]) -> list[str]:
    """Each round's incumbents (trained on its drop before its tuning job) with their scores, and the tuning
    job's same-drop target; its trials count them (the table's trials and compute include them)."""
    lines = []
    for rnd, trials in rounds:
        if not rnd.incumbents:
            continue
        by_name = {t.training_job_name: t for t in trials}
        shown = []
        for i in rnd.incumbents:
            trial = by_name.get(i.job_name)
            score = (
                f"{trial.final_objective:.4f}"
                if trial is not None and trial.final_objective is not None
                else (trial.status if trial else "not recorded")
            )
            best = " (challenger)" if i.job_name == rnd.best_training_job else ""
            shown.append(f"{i.job_name} ({i.why}, round {i.from_round}) {score}{best}")
        target = rnd.plan.target_objective.value
        lines.append(
            f"round {rnd.seq} incumbents: " + "; ".join(shown) + f"; tuning target {target:.4f}"
            if target is not None
            else f"round {rnd.seq} incumbents: " + "; ".join(shown) + "; no tuning target"
        )
    if lines:
        lines.append("")
    return lines


def run(
    drops: int,
    profile_name: str,
    out: Path,
    *,
    max_jobs: int | None = None,
    parallel: int | None = None,
    deterministic: bool = True,
    timeout_per_round: float = 900.0,
    first_validation: str = "2015-01-01",
    churn_rows: dict[str, int] | None = None,
    stream: Any = sys.stdout,
    tracking: bool | None = None,
) -> dict[str, Any]:
    """Run the demo; returns summary.json's content. `churn_rows` sizes the churn drops' channels (tests)."""
    if out.exists():
        shutil.rmtree(out)
    (out / "drops").mkdir(parents=True)
    profile_doc = json.loads((ROOT / "profiles" / f"{profile_name}.json").read_text())
    if max_jobs is not None:
        profile_doc["budget"]["max_jobs"] = max_jobs
    if parallel is not None:
        profile_doc["budget"]["max_parallel_jobs"] = min(parallel, profile_doc["budget"]["max_jobs"])
    profile_path = out / f"{profile_name}.json"
    profile_path.write_text(json.dumps(profile_doc, indent=2))
    work = workload(profile_doc, drops, first_validation, churn_rows)
    manual = profile_doc["promotion"].get("approval") == "manual"
    print(
        f"retune demo: profile {profile_name}, {drops} drop(s) of {work.data}{work.source}, "
        f"{profile_doc['budget']['max_jobs']} trials a round at most, "
        f"{profile_doc['budget']['max_parallel_jobs']} in parallel",
        file=stream,
        flush=True,
    )
    started = time.monotonic()
    summaries = []
    incumbents: list[tuple[RoundRecord, list[TrialRecord]]] = []
    state = out / "state"
    # persist: the stack's state is saved there when the demo ends (also by Ctrl-C or SIGTERM), for exploring.
    if tracking is None:
        tracking = tracking_available()
    with LocalStack(
        state,
        work.images,
        event_log=out / "events.jsonl",
        deterministic=deterministic,
        persist=True,
        tracking=tracking,
    ) as stack:
        stack.put_profile(profile_path, profile_name)
        store = stack.state()
        endpoints = out / "endpoints.json"
        stack.write_endpoints(endpoints)
        for seq, drop in enumerate(work.drops, start=1):
            directory = out / "drops" / drop.drop_id
            drop.write(directory)
            print(f"drop {drop.drop_id}: {drop.describe}", file=stream, flush=True)
            stack.drop(directory, profile_name, drop.drop_id)
            progress = Progress(stack, profile_name, seq, drop.drop_id, stream)
            if not stack.wait_until(progress, timeout_per_round):
                raise TimeoutError(f"round {seq} did not finish in {timeout_per_round} s")
            refused = progress.refused()
            if refused is not None:
                raise RuntimeError(f"drop {drop.drop_id} failed: {'; '.join(refused)}")
            if manual:
                approve_by_hand(stack, profile_name, seq, endpoints, stream)
            rnd = store.get_round(profile_name, seq)
            summaries.append(round_summary(rnd, store.trials(profile_name, seq)))
            incumbents.append((rnd, store.trials(profile_name, seq)))
        if stack.pollers and not stack.wait_for_streams(300):
            print(
                "tracking: the stream's last records did not reach MLflow in 300 s", file=stream, flush=True
            )
        alerts = stack.alerts(keep=True)
    elapsed = time.monotonic() - started
    summary = {
        "profile": profile_name,
        "objective": profile_doc["objective"],
        "drops": drops,
        "seconds": round(elapsed, 1),
        "alerts": [a["Subject"] for a in alerts],
        "rounds": summaries,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    notes = f"{drops} consecutive drops of {work.data}, {elapsed:.0f} s on this machine. {work.notes}"
    write_report(out / "report.html", profile_name, summaries, notes)
    print("", file=stream)
    print(table(summaries), file=stream)
    print("", file=stream)
    for line in incumbent_lines(incumbents):
        print(line, file=stream)
    for alert in alerts:
        print(f"alert: {alert['Subject']}", file=stream)
    print(f"\nwrote {out / 'summary.json'} and {out / 'report.html'} ({elapsed:.0f} s)", file=stream)
    print(
        f"explore it: make local STATE={_shown(state)}   then in another shell: "
        f"{_shown(ROOT / '.venv' / 'bin' / 'retune')} --endpoints-file {_shown(ROOT / LOCAL_ENDPOINTS)} "
        f"rounds {profile_name}",
        file=stream,
        flush=True,
    )
    if tracking:
        ui_state = "" if state.absolute() == (ROOT / "out" / "demo" / "state") else f" STATE={_shown(state)}"
        print(
            f"the rounds and trials in MLflow: make mlflow-ui{ui_state}   then open http://127.0.0.1:5000",
            file=stream,
            flush=True,
        )
    return summary


def _shown(path: Path) -> str:
    """A path as a command given from the repository's root takes it."""
    path = path.absolute()  # not resolved: .venv may be a link
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _interrupted(*_: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the demo as Ctrl-C does: the stack closes, and saves its state


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retune_local.demo", description=__doc__.splitlines()[0])
    parser.add_argument("--drops", type=int, default=4)
    parser.add_argument(
        "--profile", default="market-xgb", choices=["market-xgb", "market-mlp", "market-seq", "churn-xgb"]
    )
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "demo")
    parser.add_argument("--max-jobs", type=int, help="override the profile's trials per round")
    parser.add_argument("--parallel", type=int, help="override the profile's parallelism")
    parser.add_argument("--real-time", action="store_true", help="the local SageMaker's real-time mode")
    parser.add_argument(
        "--tracking",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="mirror the rounds and trials into a local MLflow server (default: on once the template has a Track "
        "function and .venv-tools/mlflow exists)",
    )
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    run(
        args.drops,
        args.profile,
        args.out,
        max_jobs=args.max_jobs,
        parallel=args.parallel,
        deterministic=not args.real_time,
        tracking=args.tracking,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
