"""Each architecture's test RMSE against the untuned Ridge baseline, on the windows of a market-seq demo.

    PYTHONPATH=.:layers/core:local:cli .venv/bin/python tools/torch-seq-vs-ridge.py [--demo out/demo]

Run after `make demo PROFILE=market-seq`. For each architecture it takes the demo's best round-1 trial of that
architecture (by validation RMSE, as AMT ranks them) and trains that configuration again on every window of the
demo (the trainer in .venv-tools/torch, with the profile's static hyperparameters: max_epochs, patience), then scores
it on the window's held-out test rows with the trainer's evaluate mode. The Ridge is `market.ridge_baseline` on the
same windows (the same scored rows: a sequence drop's scored rows are the plain drop's rows). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from retune_local import market

ROOT = Path(__file__).resolve().parents[1]
TORCH_PYTHON = ROOT / ".venv-tools" / "torch" / "bin" / "python"
METRIC = re.compile(r"validation_rmse=([-+0-9.eE]+)")


def best_round_one_trials(demo: Path) -> dict[str, tuple[float, dict[str, str]]]:
    best: dict[str, tuple[float, dict[str, str]]] = {}
    for job in sorted((demo / "state" / "sagemaker" / "jobs").glob("rt-market-seq-0001-0*")):
        hyperparameters = json.loads((job / "input" / "config" / "hyperparameters.json").read_text())
        scores = METRIC.findall((job / "output" / "training.log").read_text())
        if not scores:
            continue
        score, architecture = float(scores[-1]), hyperparameters["architecture"]
        if architecture not in best or score < best[architecture][0]:
            best[architecture] = (score, hyperparameters)
    return best


def run(root: Path, hyperparameters: dict[str, str], channels: dict[str, Path]) -> str:
    config = root / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
    (config / "inputdataconfig.json").write_text(json.dumps({c: {} for c in channels}))
    for channel, path in channels.items():
        (root / "input" / "data" / channel).mkdir(parents=True)
        shutil.copy(path, root / "input" / "data" / channel / path.name)
    env = {**os.environ, "SAGEMAKER_BASE_DIR": str(root), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [str(TORCH_PYTHON), "-m", "trainers.market_sequence", "train"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"{root}: {result.stderr[-2000:]}")
    return result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, default=ROOT / "out" / "demo")
    args = parser.parse_args()
    summary = json.loads((args.demo / "summary.json").read_text())
    best = best_round_one_trials(args.demo)
    specs = {s.drop_id: s for s in market.windows(summary["rounds"][0]["drop"], count=summary["drops"])}
    print("| window | Ridge validation / test | " + " | ".join(f"{a} validation / test" for a in best) + " |")
    print("|---|---|" + "---|" * len(best))
    with tempfile.TemporaryDirectory(prefix="seq-vs-ridge-") as work:
        for drop_id, spec in specs.items():
            drop = args.demo / "drops" / drop_id
            ridge = market.ridge_baseline(spec)
            cells = [f"{ridge['validation_rmse']:.4f} / {ridge['test_rmse']:.4f}"]
            for architecture, (_, hyperparameters) in best.items():
                searched = {k: v for k, v in hyperparameters.items() if not k.startswith("_")}
                trained = Path(work) / drop_id / architecture
                out = run(trained, searched, {c: drop / f"{c}.csv" for c in ("train", "validation")})
                validation = float(METRIC.findall(out)[-1])
                package = Path(work) / drop_id / f"{architecture}.tar.gz"
                with tarfile.open(package, "w:gz") as tar:
                    for path in sorted((trained / "model").iterdir()):
                        tar.add(path, arcname=path.name)
                evaluate = {"retune_mode": "evaluate", "objective_metric": "validation:rmse"}
                scored = run(
                    Path(work) / drop_id / f"{architecture}-eval",
                    evaluate,
                    {"challenger": package, "test": drop / "test.csv"},
                )
                test = float(scored.split("challenger_score=", 1)[1].split()[0])
                cells.append(f"{validation:.4f} / {test:.4f}")
            print(f"| {drop_id} | " + " | ".join(cells) + " |", flush=True)
    for architecture, (score, hyperparameters) in best.items():
        shown = {k: v for k, v in hyperparameters.items() if not k.startswith("_")}
        print(f"\n{architecture}: round 1's best ({score:.4f}): {json.dumps(shown)}")


if __name__ == "__main__":
    main()
