"""Incumbents' patience: the same configurations retrained on the next drop with the profile's full patience and
with the round's cut one, as StartRound's incumbent requests (retune.requests.incumbent_job_request), in the local
SageMaker (deterministic, warm runner). Prints each configuration's validation score and compute under both, and the
means (issue 20, item 1: "measure both"). Configurations: seeded random draws from the profile's ranges narrowed as
the demo's round 2 narrowed them (the region incumbents come from).

    python -m benchmarks.incumbent_patience [--configs 6] [--windows 3] [--cut 10]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import tempfile
from pathlib import Path

from retune.policy import initial_plan
from retune.profile import parse_profile
from retune.requests import incumbent_job_request
from retune_local import market
from retune_local.api import LocalSageMaker
from retune_local.demo import market_images

from benchmarks.efficiency_harness import ROLE, S3, drop_folder

ROOT = Path(__file__).resolve().parents[1]
NARROWED = {  # the demo's round 2 plan (docs/demo.md): eta, max_depth, min_child_weight, subsample, colsample, lambda
    "eta": (0.01, 0.1519, True),
    "max_depth": (2, 6, None),
    "min_child_weight": (2.088, 6.669, True),
    "subsample": (0.6887, 1.0, False),
    "colsample_bytree": (0.3794, 0.7786, False),
    "lambda": (0.1139, 10.0, True),
}


def draw(rng: random.Random) -> dict[str, str]:
    out = {}
    for name, (low, high, log) in NARROWED.items():
        if log is None:
            out[name] = str(rng.randint(int(low), int(high)))
        elif log:
            out[name] = f"{math.exp(rng.uniform(math.log(low), math.log(high))):.6g}"
        else:
            out[name] = f"{rng.uniform(low, high):.6g}"
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--configs", type=int, default=6)
    parser.add_argument("--windows", type=int, default=3)
    parser.add_argument("--cut", type=int, default=10)
    args = parser.parse_args(argv)
    profile = parse_profile(json.loads((ROOT / "profiles" / "market-xgb.json").read_text()))
    full = profile.patience
    rng = random.Random(20)
    configs = [draw(rng) for _ in range(args.configs)]
    specs = market.windows("2015-07-01", args.windows)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        s3 = S3()
        try:
            with LocalSageMaker(
                work / "state", market_images(), s3=s3.client, deterministic=True, warm=True
            ) as sm:
                for spec in specs:
                    manifests, types = s3.upload(profile.name, drop_folder(work, spec))
                    for index, config in enumerate(configs, start=1):
                        result: dict[str, tuple[float, float]] = {}
                        for label, patience in (("full", full), ("cut", args.cut)):
                            plan = initial_plan(profile).model_copy(
                                update={
                                    "patience": initial_plan(profile).patience.model_copy(
                                        update={"value": patience}
                                    )
                                }
                            )
                            name = f"rt-pat-{spec.drop_id.replace('-', '')}-{label}-inc{index}"
                            request = incumbent_job_request(
                                profile=profile,
                                plan=plan,
                                seq=1,
                                drop_id=spec.drop_id,
                                bucket=s3.bucket,
                                channel_manifests={c: manifests[c] for c in profile.training.channels},
                                channel_content_types=types,
                                role_arn=ROLE,
                                tuning_job=f"rt-pat-{spec.drop_id.replace('-', '')}",
                                name=name,
                                hyperparameters=config,
                            )
                            sm.handle("CreateTrainingJob", request)
                            job = sm.wait_training_job(name, timeout=3600)
                            finals = {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])}
                            if "validation:rmse" not in finals or "train:compute" not in finals:
                                raise RuntimeError(
                                    f"{name}: {job['TrainingJobStatus']}, no final validation:rmse and train:compute"
                                )
                            result[label] = (float(finals["validation:rmse"]), float(finals["train:compute"]))
                        rows.append((spec.drop_id, index, result))
                        print(spec.drop_id, index, result, flush=True)
        finally:
            s3.stop()
    diffs = [100 * (r["full"][0] - r["cut"][0]) / r["cut"][0] for _, _, r in rows]
    ratios = [r["cut"][1] / r["full"][1] for _, _, r in rows]
    print(
        f"{len(rows)} configuration x window pairs: validation RMSE full minus cut, mean {statistics.fmean(diffs):+.3f}% "
        f"(min {min(diffs):+.3f}%, max {max(diffs):+.3f}%); compute cut/full mean {statistics.fmean(ratios):.3f} "
        f"(min {min(ratios):.3f}, max {max(ratios):.3f})"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
