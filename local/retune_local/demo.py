"""`make demo`: the whole loop on real market data, offline, with live progress, a round table and a report.

    python -m retune_local.demo [--drops 4] [--profile market-xgb] [--out out/demo] [--max-jobs N --parallel N]

It starts the local stack, uploads the profile, and drops consecutive windows of skfolio's S&P 500 data one by one
into the local bucket as a user would (the manifest last), waiting for each round to be decided before the next
drop. At the end it prints the round table and writes out/demo/summary.json and out/demo/report.html.
"""

from __future__ import annotations

import argparse
import json
import shutil
import signal
import sys
import time
from pathlib import Path
from typing import Any

from retune_local import market
from retune_local.images import ImageSpec
from retune_local.report import round_summary, table, write_report
from retune_local.stack import LocalStack
from retune_local.template import ROOT

IMAGES = {"retune/market-volatility-xgb": "xgb", "retune/market-volatility-mlp": "mlp"}
# The virtual clock of the deterministic mode: one emission of the objective stands for this many seconds.
SECONDS_PER_EPOCH = 2.0
LOCAL_ENDPOINTS = Path("out/local/endpoints.json")  # where `make local` writes the restored stack's endpoints


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
        best = min((t.final_objective for t in done if t.final_objective is not None), default=None)
        status = rnd.status if rnd else "starting"
        planned = rnd.plan.max_jobs.value if rnd else "?"
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
        return rnd is not None and rnd.status in ("decided", "failed")


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
    stream: Any = sys.stdout,
) -> dict[str, Any]:
    """Run the demo; returns summary.json's content."""
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
    specs = market.windows(first_validation, count=drops)
    print(
        f"retune demo: profile {profile_name}, {drops} drop(s) of S&P 500 data (skfolio), "
        f"{profile_doc['budget']['max_jobs']} trials a round at most, "
        f"{profile_doc['budget']['max_parallel_jobs']} in parallel",
        file=stream,
        flush=True,
    )
    started = time.monotonic()
    summaries = []
    state = out / "state"
    # persist: the stack's state is saved there when the demo ends (also by Ctrl-C or SIGTERM), for exploring.
    with LocalStack(
        state, market_images(), event_log=out / "events.jsonl", deterministic=deterministic, persist=True
    ) as stack:
        stack.put_profile(profile_path, profile_name)
        store = stack.state()
        for seq, spec in enumerate(specs, start=1):
            directory = out / "drops" / spec.drop_id
            market.write_drop(spec, directory)
            print(
                f"drop {spec.drop_id}: train {spec.train_start}..{spec.train_end}, validation "
                f"{spec.validation_start}..{spec.validation_end}, test {spec.test_start}..{spec.test_end}",
                file=stream,
                flush=True,
            )
            stack.drop(directory, profile_name, spec.drop_id)
            progress = Progress(stack, profile_name, seq, spec.drop_id, stream)
            if not stack.wait_until(progress, timeout_per_round):
                raise TimeoutError(f"round {seq} did not finish in {timeout_per_round} s")
            rnd = store.get_round(profile_name, seq)
            summaries.append(round_summary(rnd, store.trials(profile_name, seq)))
        alerts = stack.alerts(keep=True)
    elapsed = time.monotonic() - started
    summary = {
        "profile": profile_name,
        "drops": drops,
        "seconds": round(elapsed, 1),
        "alerts": [a["Subject"] for a in alerts],
        "rounds": summaries,
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    notes = (
        f"{drops} consecutive drops of S&P 500 data, {elapsed:.0f} s on this machine. Each round's challenger "
        "and the champion are scored by one evaluation job on the drop's held-out test window."
    )
    write_report(out / "report.html", profile_name, summaries, notes)
    print("", file=stream)
    print(table(summaries), file=stream)
    print("", file=stream)
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
    parser.add_argument("--profile", default="market-xgb", choices=["market-xgb", "market-mlp"])
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "demo")
    parser.add_argument("--max-jobs", type=int, help="override the profile's trials per round")
    parser.add_argument("--parallel", type=int, help="override the profile's parallelism")
    parser.add_argument("--real-time", action="store_true", help="the local SageMaker's real-time mode")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupted)
    run(
        args.drops,
        args.profile,
        args.out,
        max_jobs=args.max_jobs,
        parallel=args.parallel,
        deterministic=not args.real_time,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
