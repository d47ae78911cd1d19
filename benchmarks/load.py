"""Load: 10,000 training job state events through RecordTrial on the local stack (issue 9, section 5).

500 rounds × 20 trials are seeded in the local SageMaker (finished jobs, nothing run, their per-epoch objective in
the local CloudWatch), with each round and its tuning job's lookup written to retune's store as StartRound would.
Then one "Completed" event per training job goes through the router, so the template's rule, the function's warm
worker and Lambda's retries are all in the path. Counted afterwards: trial records against training jobs (lost:
a job with no terminal record; duplicated: a job recorded more than once, or a record for no job). The throughput
is compared with raw PutItem calls on the same moto server in the same run.

    .venv/bin/python benchmarks/load.py [--rounds 500 --trials 20] [--out benchmarks/results/load.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import threading
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retune.plan import Plan
from retune.policy import hyperparameter_names, initial_plan
from retune.profile import Profile
from retune.records import JobLookup, RoundRecord
from retune.requests import s3_uri, tuning_job_request
from retune.store import lookup_item, round_item
from retune.table import Put
from retune_local.stack import ROOT, LocalStack

PROFILE = "load"
ROLE = "arn:aws:iam::123456789012:role/retune-sagemaker"


def load_profile() -> Profile:
    doc = json.loads((ROOT / "profiles" / "market-xgb.json").read_text())
    doc["name"] = PROFILE
    doc["training"]["static_hyperparameters"] = {"epochs": "4", "patience": "4"}
    doc["metrics"]["patience_hyperparameter"] = "patience"
    doc["search"]["ranges"] = [{"type": "continuous", "name": "x", "min_value": 0.0, "max_value": 1.0}]
    doc["budget"] = {"max_jobs": 20, "max_parallel_jobs": 4}
    return Profile.model_validate(doc)


def seed(stack: LocalStack, profile: Profile, plan: Plan, rounds: int, trials: int) -> list[str]:
    """Seed the rounds in SageMaker and in retune's store; return every training job's name."""
    assert stack.sagemaker is not None
    store = stack.state()
    channels = {
        c: s3_uri(stack.bucket, f"datasets/{PROFILE}/d/{c}.manifest") for c in profile.training.channels
    }
    now = datetime.now(tz=UTC)
    names: list[str] = []
    for seq in range(1, rounds + 1):
        request = tuning_job_request(
            profile=profile,
            plan=plan,
            seq=seq,
            drop_id=f"drop-{seq:04d}",
            bucket=stack.bucket,
            channel_manifests=channels,
            channel_content_types=dict.fromkeys(channels, "text/csv"),
            role_arn=ROLE,
        )
        name = request["HyperParameterTuningJobName"]
        seeds = [
            {"hyperparameters": {"x": f"{(i * 0.37) % 1:.4f}"}, "objective": [0.9 - 0.01 * i, 0.5, 0.4, 0.3]}
            for i in range(trials)
        ]
        stack.sagemaker.seed_tuning_job(request, seeds, events=False)
        rnd = RoundRecord(
            profile=PROFILE,
            seq=seq,
            drop_id=f"drop-{seq:04d}",
            tuning_job_name=name,
            status="running",
            plan=plan,
            profile_version="v1",
            objective_metric=profile.objective.metric_name,
            objective_type=profile.objective.type,
            epochs_metric=profile.metrics.epochs,
            compute_metric=profile.metrics.compute,
            hyperparameter_names=sorted(hyperparameter_names(profile)),
            started_at=now,
            last_event_at=now,
        )
        store.table.write(
            [
                Put(round_item(rnd)),
                Put(lookup_item(JobLookup(job_name=name, kind="tuning", profile=PROFILE, seq=seq))),
            ]
        )
        listing = stack.client("sagemaker").list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name, MaxResults=100
        )
        names.extend(s["TrainingJobName"] for s in listing["TrainingJobSummaries"])
    return names


def event_for(job: str) -> dict[str, Any]:
    return {
        "version": "0",
        "id": f"load-{job}",
        "detail-type": "SageMaker Training Job State Change",
        "source": "aws.sagemaker",
        "account": "123456789012",
        "time": datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{job}"],
        "detail": {"TrainingJobName": job, "TrainingJobStatus": "Completed", "SecondaryStatus": "Completed"},
    }


def raw_putitem_rate(stack: LocalStack, count: int) -> tuple[float, float]:
    """PutItem calls per second from one client on the same moto server (items the size of a trial record)."""
    dynamodb = stack.client("dynamodb")
    table = stack.resource("StateTable")
    body = "x" * 1500
    started = time.perf_counter()
    for i in range(count):
        dynamodb.put_item(
            TableName=table, Item={"pk": {"S": "RAW#load"}, "sk": {"S": f"ITEM#{i:06d}"}, "doc": {"S": body}}
        )
    wall = time.perf_counter() - started
    return count / wall, wall


def run(rounds: int, trials: int, putitems: int) -> dict[str, Any]:
    profile = load_profile()
    plan = initial_plan(profile, "v1")
    with tempfile.TemporaryDirectory(prefix="retune-load-") as tmp, LocalStack(Path(tmp) / "state") as stack:
        assert stack.router is not None
        started = time.perf_counter()
        jobs = seed(stack, profile, plan, rounds, trials)
        seed_seconds = time.perf_counter() - started
        results: Counter[tuple[str, str]] = Counter()
        failed = Counter[str]()
        lock = threading.Lock()

        def listen(event: dict[str, Any], outcomes: list[dict[str, Any]]) -> None:
            job = event["detail"].get("TrainingJobName", "")
            with lock:
                for outcome in outcomes:
                    if outcome["ok"]:
                        results[(job, outcome["result"]["status"])] += 1
                    else:
                        failed[job] += 1

        stack.router.listeners.append(listen)
        # one warm-up event so the measured run pays no cold start (a warm worker is the premise)
        stack.router.route(event_for("not-a-retune-job"))
        stack.wait_until(stack.router.idle, timeout=120)
        started = time.perf_counter()
        for job in jobs:
            stack.router.route(event_for(job))
        if not stack.wait_until(stack.router.idle, timeout=3600):
            raise TimeoutError("the events were not all delivered in an hour")
        event_seconds = time.perf_counter() - started
        putitem_rate, putitem_seconds = raw_putitem_rate(stack, putitems)
        store = stack.state()
        records = [t for seq in range(1, rounds + 1) for t in store.trials(PROFILE, seq)]
        runtime = stack.runtimes["RecordTrialFunction"]
    recorded_per_job = Counter(
        job for (job, status), n in results.items() if status == "recorded" for _ in range(n)
    )
    per_job = Counter(t.training_job_name for t in records)
    known = set(jobs)
    lost = sum(
        1
        for job in jobs
        if per_job[job] == 0 or not next(t for t in records if t.training_job_name == job).terminal
    )
    duplicated = sum(n - 1 for n in per_job.values() if n > 1) + sum(1 for j in per_job if j not in known)
    duplicated += sum(n - 1 for n in recorded_per_job.values() if n > 1)
    event_rate = len(jobs) / event_seconds
    return {
        "events": len(jobs),
        "lost": lost,
        "duplicated": duplicated,
        "throughput_ratio_vs_raw_putitem": round(event_rate / putitem_rate, 4),
        "events_per_second": round(event_rate, 1),
        "raw_putitem_per_second": round(putitem_rate, 1),
        "event_wall_seconds": round(event_seconds, 1),
        "raw_putitem_calls": putitems,
        "raw_putitem_wall_seconds": round(putitem_seconds, 1),
        "seed_wall_seconds": round(seed_seconds, 1),
        "rounds": rounds,
        "trials_per_round": trials,
        "trial_records": len(records),
        "invocations": runtime.invocations,
        "cold_starts": runtime.cold_starts,
        "failed_invocations": sum(failed.values()),
        "workers_per_function": 1,
        "machine": {"python": sys.version.split()[0], "platform": platform.platform(), "cpus": _cpus()},
    }


def _cpus() -> int | None:
    import os  # noqa: PLC0415

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--putitems", type=int, default=2000, help="raw PutItem calls timed for the ratio")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "load.json")
    args = parser.parse_args()
    result = run(args.rounds, args.trials, args.putitems)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if result["lost"] == 0 and result["duplicated"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
