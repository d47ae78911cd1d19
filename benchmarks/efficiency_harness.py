"""One sequence of rounds of one arm, through the local SageMaker service's tuning engine (deterministic mode, warm
runner, moto S3), with every plan from the service's own `plan_next_round` and every record built as the service
builds it: `trials.trial_from_description` on DescribeTrainingJob plus the objective's per-epoch series the local
service recorded from the job's emissions (what it publishes to CloudWatch), `close_round.summarize` on
DescribeHyperParameterTuningJob, then the round's evaluation (challenger and champion scored on the drop's test data,
judged by `promotion.judge`) as Promote records it before it plans again.

Results are cached per (workload, arm, seed, round) as JSON under the run's work folder, next to the local service's
state, so an interrupted run resumes where it stopped (the retune arm's warm-start parents live in that state).
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
from moto.server import ThreadedMotoServer
from retune.incumbents import launch_plan
from retune.naming import tuning_job_name
from retune.plan import FROM_PROFILE, Plan, Setting
from retune.planning import champion_in, incumbent_requests, incumbents_for
from retune.policy import hyperparameter_names, initial_plan, plan_next_round
from retune.profile import Profile, parse_profile
from retune.promotion import judge
from retune.records import Decision, Evaluation, Incumbent, RoundHistory, RoundRecord, TrialRecord
from retune.requests import (
    channel_manifest_key,
    incumbent_job_request,
    s3_uri,
    sagemaker_manifest,
    tuning_job_request,
)
from retune.trials import trial_from_description
from retune.use_cases.close_round import summarize
from retune_local import market
from retune_local.api import LocalSageMaker, SeedTrial
from retune_local.demo import SEQUENCE_IMAGE, market_images, sequence_images
from retune_local.errors import ServiceError
from retune_local.images import ImageSpec

from benchmarks.efficiency_analysis import FROM_ROUND

ROOT = Path(__file__).resolve().parents[1]
ROLE = "arn:aws:iam::123456789012:role/retune-sagemaker"
WORKLOADS = {"xgb": "market-xgb", "mlp": "market-mlp", "seq": "market-seq"}
ARMS = ("amt_default", "bayesian_no_es", "random_auto", "hyperband", "retune", "random_matched")
# random_matched is a budget-matched anchor: Random search, early stopping Off, and in each round exactly as many
# (full-length) trials as the retune arm ran on the same seed and window; it runs after retune's sequence.
MATCHED = {"random_matched": "retune"}
# Hyperband's resources: one epoch is one emission of the objective (XGB: 10 boosting rounds of 300; MLP: one
# epoch of at most 60; the sequence models: one epoch of at most 12). MinResource 1 is AMT's default; MaxResource is
# the trainer's whole budget.
HYPERBAND = {
    "xgb": {"min_resource": 1, "max_resource": 30},
    "mlp": {"min_resource": 1, "max_resource": 60},
    "seq": {"min_resource": 1, "max_resource": 12},
}
TUNING_TIMEOUT = 3600.0
# Each round's best trial (rounds FROM_ROUND on, the ones the comparisons read) is trained again with these trainer
# seeds (the trainers' `seed` hyperparameter; every trial ran with the profile's static 0): a round's best validation
# score is the best of its trials' single draws, so an arm that runs more trials also selects more trainer-seed luck
# (the winner's curse). The mean over fresh seeds is the score of the configuration the arm chose, as the
# reference's robust value is (benchmarks/reference.py): the re-scored regret.
RESCORE_SEEDS = (1, 2, 3)


@dataclass(frozen=True)
class Task:
    """One sequence: a workload, an arm, a seed, the windows' drops (in order) and the scale."""

    workload: str
    arm: str
    seed: int
    drops: tuple[market.DropSpec, ...]
    max_jobs: int | None = None  # override the profile's trials per round (quick mode, reference)
    parallel: int | None = None
    tickers: tuple[str, ...] | None = None  # quick mode's tiny drops (the specs carry them too)
    tag: str = ""  # the reference runs one task per window: its drop id
    matched_trials: tuple[int, ...] = ()  # random_matched: the trials per round of the arm it is matched to

    @property
    def key(self) -> str:
        return f"{self.workload}-{self.arm}-s{self.seed}" + (f"-{self.tag}" if self.tag else "")


def policy_tag() -> str:
    """A short hash of the policy's source: the retune arm's cached rounds belong to one version of the policy, so
    a change to it (a knob, a rule) runs the retune arm again while the other arms' rounds are reused."""
    import hashlib  # noqa: PLC0415

    digest = hashlib.sha256()
    for name in (
        "policy.py",
        "policy_evidence.py",
        "policy_ranges.py",
        "requests.py",
        "incumbents.py",
        "planning.py",
    ):
        digest.update((ROOT / "layers" / "core" / "retune" / name).read_bytes())
    return "p" + digest.hexdigest()[:6]


def make_task(
    workload: str,
    arm: str,
    seed: int,
    drops: tuple[market.DropSpec, ...],
    max_jobs: int | None = None,
    tickers: tuple[str, ...] | None = None,
) -> Task:
    # retune's rounds belong to one version of the policy, and so do the anchor's matched to them.
    tag = policy_tag() if arm == "retune" or arm in MATCHED else ""
    return Task(workload, arm, seed, drops, max_jobs, None, tickers, tag)


def matched_task(task: Task, work: Path, rounds: int) -> Task:
    """A budget-matched anchor's task with its trials per round: those of its matched arm's task (same workload,
    seed, windows and scale), from that task's cached rounds. Raises if they have not all run yet."""
    source = make_task(task.workload, MATCHED[task.arm], task.seed, task.drops, task.max_jobs, task.tickers)
    rows = cached_rows(source, work, rounds)
    if len(rows) < rounds:
        raise RuntimeError(
            f"{task.key} runs as many trials per round as {source.key}, which has run {len(rows)} of {rounds} "
            f"rounds: run {MATCHED[task.arm]} first (same --seeds and --workloads)"
        )
    return replace(task, matched_trials=tuple(int(r["trials"]) for r in rows))


def arm_profile(
    workload: str, arm: str, seed: int, max_jobs: int | None, parallel: int | None, tag: str = ""
) -> Profile:
    """The profile an arm runs: the workload's profile with the arm's strategy and early stopping, and the seed.
    A task's tag (the reference's window) goes into the name too: tasks that share one local SageMaker (one
    process) must not share job names."""
    doc = json.loads((ROOT / "profiles" / f"{WORKLOADS[workload]}.json").read_text())
    doc["name"] = f"b{workload[0]}-{arm.replace('_', '')[:8]}-s{seed}"
    if arm == "reference" and tag:
        doc["name"] += "-" + tag.replace("-", "")[2:]  # 2015-07-01 -> 150701
    doc["search"]["random_seed"] = 7 + 1000 * seed
    if max_jobs is not None:
        doc["budget"]["max_jobs"] = max_jobs
    if parallel is not None:
        doc["budget"]["max_parallel_jobs"] = parallel
    doc["budget"]["max_parallel_jobs"] = min(doc["budget"]["max_parallel_jobs"], doc["budget"]["max_jobs"])
    if arm in ("bayesian_no_es", "reference"):
        doc["early_stopping"] = "Off"
    elif arm == "random_auto":
        doc["search"]["strategy"] = "Random"
    elif arm == "random_matched":
        doc["search"]["strategy"] = "Random"
        doc["early_stopping"] = "Off"
    elif arm == "hyperband":
        doc["search"]["strategy"] = "Hyperband"
        doc["search"]["hyperband"] = HYPERBAND[workload]
        doc["early_stopping"] = "Off"
    return parse_profile(doc)


def sequences(workload: str) -> bool:
    """Whether the workload's trainer is the sequence trainer (market-seq): it reads sequence drops, runs in the torch
    venv and scores test with its own evaluate mode, as the demo runs it."""
    doc = json.loads((ROOT / "profiles" / f"{WORKLOADS[workload]}.json").read_text())
    return bool(doc["training"]["image"] == SEQUENCE_IMAGE)


def workload_images(workloads: Iterable[str]) -> dict[str, ImageSpec]:
    """The images the workloads' trainers run on, mapped as the demo maps them (retune_local.demo): the market
    trainers on the warm runner, the sequence trainer in the torch venv (cold) when a workload needs it."""
    images = market_images()
    if any(sequences(w) for w in workloads):
        images.update(sequence_images())
    return images


class S3:
    """A moto S3 server in this process (as tests/trainers does), with the drops uploaded once each."""

    def __init__(self) -> None:
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per S3 request otherwise
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.server.start()
        host, port = self.server.get_host_and_port()
        self.client = boto3.client(
            "s3",
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        self.bucket = f"retune-bench-{uuid.uuid4().hex[:8]}"
        self.client.create_bucket(Bucket=self.bucket)
        self.uploaded: dict[tuple[str, str], tuple[dict[str, str], dict[str, str | None]]] = {}

    def upload(self, profile: str, drop: Path) -> tuple[dict[str, str], dict[str, str | None]]:
        """The drop's files under datasets/ and a SageMaker manifest per channel, as StartRound writes them."""
        if (profile, drop.name) in self.uploaded:
            return self.uploaded[(profile, drop.name)]
        prefix = f"datasets/{profile}/{drop.name}/"
        manifest = json.loads((drop / "manifest.json").read_text())
        manifests, content_types = {}, {}
        for channel, entry in manifest["channels"].items():
            for name in entry["files"]:
                self.client.upload_file(str(drop / name), self.bucket, prefix + name)
            key = channel_manifest_key(profile, drop.name, channel)
            body = json.dumps(sagemaker_manifest(self.bucket, prefix, entry["files"]))
            self.client.put_object(Bucket=self.bucket, Key=key, Body=body.encode())
            manifests[channel] = s3_uri(self.bucket, key)
            content_types[channel] = entry.get("content_type")
        self.uploaded[(profile, drop.name)] = (manifests, content_types)
        return manifests, content_types

    def stop(self) -> None:
        self.server.stop()


def drop_folder(work: Path, spec: market.DropSpec, sequence: bool = False) -> Path:
    """The drop's files, written once per work folder (a rename makes concurrent writers safe). `sequence`: the
    sequence trainer's drop (`market.write_sequence_drop`, the demo's, with its context days)."""
    tag = "all" if spec.tickers is None else "-".join(spec.tickers)
    folder = work / "drops" / (f"seq-{tag}" if sequence else tag) / spec.drop_id
    if not (folder / "manifest.json").is_file():
        partial = Path(tempfile.mkdtemp(dir=work, prefix="drop-"))
        (market.write_sequence_drop if sequence else market.write_drop)(spec, partial)
        folder.parent.mkdir(parents=True, exist_ok=True)
        try:
            partial.rename(folder)
        except OSError:
            shutil.rmtree(partial, ignore_errors=True)  # another process wrote it first
    return folder


def _model_dir(service: LocalSageMaker, s3: S3, job: str, artifact: str | None, scratch: Path) -> Path:
    local = service.ctx.jobs_dir / job / "model"
    if (local / "retune-model.json").is_file():
        return local
    assert artifact is not None, f"{job}: no model artifact"
    bucket, key = artifact.removeprefix("s3://").split("/", 1)
    target = scratch / job
    target.mkdir(parents=True, exist_ok=True)
    archive = target / "model.tar.gz"
    s3.client.download_file(bucket, key, str(archive))
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return target


def test_rmse(model_dir: Path, spec: market.DropSpec) -> float:
    """What the evaluation job reports: the model's RMSE on every row of the drop's test channel."""
    from trainers.market_volatility.models import load_model_dir  # noqa: PLC0415 - numpy/xgboost only here

    features, target = market.arrays(spec, "test")
    return market.rmse(target, load_model_dir(model_dir, "model").predict(features))


def sequence_test_rmse(model_dirs: list[Path], drop: Path, scratch: Path) -> list[float]:
    """What the sequence trainer's evaluation job reports: each model's RMSE on every scored row of the sequence
    drop's test channel, by the trainer's evaluate mode in the torch venv (the control plane never imports torch),
    run as the demo's image runs it. One job scores a challenger and a champion: two models a process."""
    spec = sequence_images()[SEQUENCE_IMAGE]
    scores: list[float] = []
    for start in range(0, len(model_dirs), 2):
        roles = dict(zip(("challenger", "champion"), model_dirs[start : start + 2], strict=False))
        root = Path(tempfile.mkdtemp(dir=scratch, prefix="evaluate-"))
        config = root / "input" / "config"
        config.mkdir(parents=True)
        hyperparameters = {"retune_mode": "evaluate", "objective_metric": "validation:rmse"}
        (config / "hyperparameters.json").write_text(json.dumps(hyperparameters))
        (config / "inputdataconfig.json").write_text(json.dumps({c: {} for c in [*roles, "test"]}))
        for role, model_dir in roles.items():
            (root / "input" / "data" / role).mkdir(parents=True)
            with tarfile.open(root / "input" / "data" / role / "model.tar.gz", "w:gz") as tar:
                for path in sorted(model_dir.iterdir()):
                    tar.add(path, arcname=path.name)
        (root / "input" / "data" / "test").mkdir(parents=True)
        shutil.copy(drop / "test.csv", root / "input" / "data" / "test" / "test.csv")
        env = {**os.environ, **spec.env, "SAGEMAKER_BASE_DIR": str(root)}
        done = subprocess.run(list(spec.argv), cwd=root, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            failure = root / "output" / "failure"
            why = failure.read_text() if failure.is_file() else done.stderr[-2000:]
            raise RuntimeError(f"the sequence trainer's evaluation in {root} failed: {why}")
        report = json.loads((root / "model" / "evaluation.json").read_text())
        scores += [float(report[f"{role}_score"]) for role in roles]
        shutil.rmtree(root, ignore_errors=True)
    return scores


def _plan(task: Task, profile: Profile, history: list[RoundHistory], version: str) -> Plan:
    if task.arm == "retune":
        return plan_next_round(profile, history, version)
    plan = initial_plan(profile, version)  # every round alike: the same tuning job re-run on each drop
    if task.matched_trials:
        trials = task.matched_trials[len(history)]
        reason = f"as many trials as {MATCHED[task.arm]} ran on this seed and window"
        return plan.model_copy(
            update={
                "max_jobs": Setting(value=trials, reason=reason),
                "max_parallel_jobs": Setting(value=min(plan.max_parallel_jobs.value, trials), reason=reason),
            }
        )
    return plan


def reseed(
    service: LocalSageMaker, s3: S3, work: Path, task: Task, profile: Profile, past: RoundHistory
) -> None:
    """Put an earlier round's tuning job, as it ended, into a fresh service state (seed mode): its trials'
    tuned hyperparameters, objective series and status, so it can be a warm-start parent again."""
    rnd = past.round
    spec = task.drops[rnd.seq - 1]
    manifests, content_types = s3.upload(profile.name, drop_folder(work, spec, sequences(task.workload)))
    request = tuning_job_request(
        profile=profile,
        plan=rnd.plan,
        seq=rnd.seq,
        drop_id=spec.drop_id,
        bucket=s3.bucket,
        channel_manifests={c: manifests[c] for c in profile.training.channels},
        channel_content_types=content_types,
        role_arn=ROLE,
    )
    tuned = {r.name for r in rnd.plan.ranges.value}
    trials = [
        SeedTrial(
            hyperparameters={k: v for k, v in t.hyperparameters.items() if k in tuned},
            objective=t.objective_series,
            status=t.status if t.status in ("Completed", "Stopped", "Failed") else "Failed",
        )
        for t in sorted(past.trials, key=lambda t: t.training_job_name)
        if t.source == "tuning"  # the round's incumbents ran beside its tuning job, not in it
    ]
    service.seed_tuning_job(request, trials)


def round_incumbents(
    task: Task,
    profile: Profile,
    plan: Plan,
    tuning_job: str,
    history: list[RoundHistory],
    champion: dict[str, Any] | None,
) -> list[Incumbent]:
    """The retune arm's incumbents, chosen by StartRound's rule from the task's history and its champion."""
    if task.arm != "retune":
        return []
    best = champion_in(history, champion["round"]) if champion else None
    return incumbents_for(profile, plan, tuning_job, history, best)


def incumbent_job_requests(
    rnd: RoundRecord, profile: Profile, content_types: dict[str, str | None], bucket: str
) -> list[dict[str, Any]]:
    """The CreateTrainingJob requests of the round's incumbents: StartRound's own (retune.planning)."""
    return incumbent_requests(
        profile=profile,
        content_types=content_types,
        plan=rnd.plan,
        seq=rnd.seq,
        drop_id=rnd.drop_id,
        data_bucket=bucket,
        role_arn=ROLE,
        tuning_job=rnd.tuning_job_name,
        incumbents=rnd.incumbents,
    )


def run_incumbents(
    service: LocalSageMaker,
    rnd: RoundRecord,
    profile: Profile,
    content_types: dict[str, str | None],
    bucket: str,
) -> list[TrialRecord]:
    """Create the round's incumbents with StartRound's requests, wait for them, and record them as RecordTrial
    does (the description and the objective's emissions)."""
    requests = incumbent_job_requests(rnd, profile, content_types, bucket)
    for request in requests:
        service.handle("CreateTrainingJob", request)
    trials = []
    for request in requests:
        job_name = request["TrainingJobName"]
        job = service.wait_training_job(job_name, timeout=TUNING_TIMEOUT)
        series = list(service.training.jobs[job_name.lower()].objective_series)
        trial = trial_from_description(rnd, job, series, datetime.now(UTC))
        trials.append(
            trial.model_copy(update={"cpu_seconds": float(job.get("LocalCpuTimeInSeconds") or 0.0)})
        )
    return trials


def run_round(
    task: Task,
    seq: int,
    profile: Profile,
    history: list[RoundHistory],
    service: LocalSageMaker,
    s3: S3,
    work: Path,
    champion: dict[str, Any] | None,
) -> tuple[RoundHistory, dict[str, Any], dict[str, Any] | None]:
    """Run round `seq` on its drop; returns its history entry, its benchmark row and the champion after it."""
    spec = task.drops[seq - 1]
    folder = drop_folder(work, spec, sequences(task.workload))
    manifests, content_types = s3.upload(profile.name, folder)
    version = "bench"
    plan = _plan(task, profile, history, version)
    name = tuning_job_name(profile.name, seq)
    started = datetime.now(UTC)
    rnd = RoundRecord(
        profile=profile.name,
        seq=seq,
        drop_id=spec.drop_id,
        tuning_job_name=name,
        status="running",
        plan=plan,
        profile_version=version,
        objective_metric=profile.objective.metric_name,
        objective_type=profile.objective.type,
        epochs_metric=profile.metrics.epochs,
        compute_metric=profile.metrics.compute,
        hyperparameter_names=sorted(hyperparameter_names(profile)),
        started_at=started,
        incumbents=round_incumbents(task, profile, plan, name, history, champion),
    )
    wall = time.monotonic()
    # Incumbents first, as StartRound runs them (its requests, its target), then the tuning job.
    incumbent_trials = run_incumbents(service, rnd, profile, content_types, s3.bucket)
    plan = launch_plan(rnd, incumbent_trials)
    request = tuning_job_request(
        profile=profile,
        plan=plan,
        seq=seq,
        drop_id=spec.drop_id,
        bucket=s3.bucket,
        channel_manifests={c: manifests[c] for c in profile.training.channels},
        channel_content_types=content_types,
        role_arn=ROLE,
    )
    rnd = rnd.model_copy(update={"plan": plan})
    try:
        service.handle("CreateHyperParameterTuningJob", request)
    except ServiceError as exc:
        # An interrupted run left this round's job behind: its parents are in the state, not its rows.
        raise RuntimeError(
            f"{name} exists in {service.ctx.jobs_dir.parent}: an interrupted round; delete the task's folder "
            f"({work / 'tasks' / task.key}) to run it again"
        ) from exc
    described = service.wait_tuning_job(name, timeout=TUNING_TIMEOUT)
    wall = time.monotonic() - wall
    summaries = service.handle(
        "ListTrainingJobsForHyperParameterTuningJob", {"HyperParameterTuningJobName": name, "MaxResults": 100}
    )["TrainingJobSummaries"]
    trials, cpu = list(incumbent_trials), sum(t.cpu_seconds or 0.0 for t in incumbent_trials)
    for summary in summaries:
        job_name = summary["TrainingJobName"]
        job = service.handle("DescribeTrainingJob", {"TrainingJobName": job_name})
        cpu += float(job.get("LocalCpuTimeInSeconds") or 0.0)
        # The objective's emissions as the local service recorded them (and published them to CloudWatch).
        series = list(service.training.jobs[job_name.lower()].objective_series)
        trials.append(trial_from_description(rnd, job, series, datetime.now(UTC)))
    closed = summarize(rnd, described, trials, datetime.now(UTC))
    rescored = None
    if seq >= FROM_ROUND and closed.best_training_job is not None:
        best = next(t for t in trials if t.training_job_name == closed.best_training_job)
        rescored = rescore(service, rnd, profile, manifests, content_types, s3.bucket, best)

    # The evaluation, as CloseRound starts it and Promote judges it: both models on the drop's test data.
    scratch = work / "scratch"
    scratch.mkdir(parents=True, exist_ok=True)
    best_dir = None
    if closed.best_training_job is not None:
        best_dir = _model_dir(service, s3, closed.best_training_job, closed.best_model_artifact, scratch)
    scored = [d for d in (best_dir, Path(champion["model_dir"]) if champion else None) if d is not None]
    if sequences(task.workload):
        scores = dict(zip(scored, sequence_test_rmse(scored, folder, scratch), strict=True))
    else:
        scores = {d: test_rmse(d, spec) for d in scored}
    best_test = scores[best_dir] if best_dir is not None else None
    champion_test = scores[Path(champion["model_dir"])] if champion else None
    verdict = judge(profile, best_test, champion_test)
    now = datetime.now(UTC)
    if best_test is not None:
        evaluation = Evaluation(
            job_name=name + "-eval",
            status="Completed",
            challenger_score=best_test,
            champion_score=champion_test,
        )
        decision = Decision(outcome=verdict.outcome, reason=verdict.reason, decided_at=now)
        closed = closed.model_copy(
            update={"status": "decided", "evaluation": evaluation, "decision": decision}
        )
        if verdict.wins:
            assert best_dir is not None  # scored: best_test is its score
            keep = work / "champions" / task.key / f"round-{seq}"
            if keep.exists():
                shutil.rmtree(keep)
            shutil.copytree(best_dir, keep)
            champion = {"model_dir": str(keep), "round": seq}
    else:
        closed = closed.model_copy(update={"status": "failed"})
    # What serves after the round: the challenger if it won, else the champion (both scored above).
    served_test = best_test if best_test is not None and verdict.wins else champion_test

    stopped = sum(t.stopped_early for t in trials)
    row = {
        "round": seq,
        "drop": spec.drop_id,
        "strategy": plan.strategy.value,
        "early_stopping": plan.early_stopping.value,
        "planned_trials": plan.max_jobs.value,
        "parallel": plan.max_parallel_jobs.value,
        "warm_start_parents": len(plan.warm_start_parents.value),
        "incumbents": len(rnd.incumbents),
        "trials": len(trials),
        "stopped_early": stopped,
        "tuning_status": closed.tuning_status,
        "completion": (described.get("TuningJobCompletionDetails") or {}),
        "compute": closed.compute,
        "cpu_seconds": round(cpu, 2),
        "wall_seconds": round(wall, 1),
        "best_validation_rmse": closed.best_objective,
        "best_trial": closed.best_training_job,
        "best_trial_test_rmse": best_test,
        "best_rescored": rescored,
        "best_rescored_validation_rmse": statistics.fmean(rescored.values()) if rescored else None,
        "champion_before_test_rmse": champion_test,
        "promoted": bool(best_test is not None and verdict.wins),
        "decision": verdict.reason,
        "served_test_rmse": served_test,
        "plan_changes": {
            key: {"value": setting.value, "reason": setting.reason}
            for key, setting in plan
            if isinstance(setting, Setting) and setting.reason != FROM_PROFILE and key != "ranges"
        },
        "ranges_narrowed": plan.ranges.reason != FROM_PROFILE,
    }
    return RoundHistory(round=closed, trials=trials), row, champion


def rescore(
    service: LocalSageMaker,
    rnd: RoundRecord,
    profile: Profile,
    manifests: dict[str, str],
    content_types: dict[str, str | None],
    bucket: str,
    best: TrialRecord,
    tag: str = "rescore",
) -> dict[str, float]:
    """The round's best configuration trained again on its drop with each of RESCORE_SEEDS: the round's own plain
    training job for it (StartRound's incumbent request: the round's static hyperparameters and patience, the
    profile's metric definitions), the trainer's `seed` set. Not a trial of the round: not recorded, not counted in
    its compute. Returns each seed's validation objective."""
    objective = profile.objective.metric_name
    scores: dict[str, float] = {}
    for seed in RESCORE_SEEDS:
        name = f"{rnd.tuning_job_name}-{tag}{seed}"
        request = incumbent_job_request(
            profile=profile,
            plan=rnd.plan,
            seq=rnd.seq,
            drop_id=rnd.drop_id,
            bucket=bucket,
            channel_manifests={c: manifests[c] for c in profile.training.channels},
            channel_content_types=content_types,
            role_arn=ROLE,
            tuning_job=rnd.tuning_job_name,
            name=name,
            hyperparameters=best.hyperparameters,
        )
        request["HyperParameters"] = {**request["HyperParameters"], "seed": str(seed)}
        scores[str(seed)] = trained_objective(service, request, objective)
    return scores


def rescore_cut(task: Task, work: Path, rounds: int) -> None:
    """The budget-matched anchor AMT-default cut to retune's trial count (efficiency_analysis.cut_to) re-scored as
    each arm's best is: for each of the AMT-default task's cached rounds from FROM_ROUND on, the best completed trial
    among its first k (retune's trials on that seed and round, creation order), trained again with RESCORE_SEEDS
    under the round's own plan. Where that trial is the round's best, its re-scoring is the round's own. Written into
    the cached row as `cut_rescored` (k, the trial, the scores, their mean), so the per-seed files carry it; a row
    that has it for the same k is not trained again."""
    retune = make_task(task.workload, "retune", task.seed, task.drops, task.max_jobs, task.tickers)
    counts = [int(r["trials"]) for r in cached_rows(retune, work, rounds)]
    folder = work / "tasks" / task.key
    todo = []
    for seq, k in enumerate(counts, start=1):
        path = folder / "rounds" / f"{seq:02d}.json"
        if seq < FROM_ROUND:
            continue
        if not path.is_file():
            break
        saved = json.loads(path.read_text())
        if (saved["row"].get("cut_rescored") or {}).get("trials") == k:
            continue
        history = RoundHistory.model_validate(saved["history"])
        first = sorted(history.trials, key=lambda t: t.training_job_name)[:k]
        done = [t for t in first if t.status == "Completed" and finite(t.final_objective)]
        if done:
            todo.append(
                (seq, k, path, saved, history, min(done, key=lambda t: float(t.final_objective or 0)))
            )
    if not todo:
        return
    profile = arm_profile(task.workload, task.arm, task.seed, task.max_jobs, task.parallel, task.tag)
    s3 = S3()
    state = Path(tempfile.mkdtemp(dir=folder, prefix="cut-rescore-"))
    try:
        with LocalSageMaker(
            state, workload_images([task.workload]), s3=s3.client, deterministic=True, warm=True
        ) as service:
            for seq, k, path, saved, history, best in todo:
                row = saved["row"]
                if best.training_job_name == row["best_trial"] and row.get("best_rescored"):
                    scores = row["best_rescored"]
                else:
                    drop = drop_folder(work, task.drops[seq - 1], sequences(task.workload))
                    manifests, content_types = s3.upload(profile.name, drop)
                    rnd = history.round
                    scores = rescore(service, rnd, profile, manifests, content_types, s3.bucket, best, "cut")
                row["cut_rescored"] = {
                    "trials": k,
                    "best_trial": best.training_job_name,
                    "scores": scores,
                    "mean": statistics.fmean(scores.values()),
                }
                path.write_text(json.dumps(saved, default=str))
    finally:
        s3.stop()
        shutil.rmtree(state, ignore_errors=True)


def _cut_work(job: tuple[Task, Path, int]) -> tuple[str, str | None]:
    task, work, rounds = job
    try:
        rescore_cut(task, work, rounds)
    except Exception as exc:  # noqa: BLE001 - one failed sequence must not lose the others' results
        return task.key, repr(exc)
    return task.key, None


def trained_objective(service: LocalSageMaker, request: dict[str, Any], objective: str) -> float:
    """Run one plain training job (CreateTrainingJob `request`) to its end; its final `objective`. Raises when
    it did not complete with one."""
    name = request["TrainingJobName"]
    service.handle("CreateTrainingJob", request)
    job = service.wait_training_job(name, timeout=TUNING_TIMEOUT)
    final = {m["MetricName"]: m["Value"] for m in job.get("FinalMetricDataList", [])}
    if job["TrainingJobStatus"] != "Completed" or objective not in final:
        raise RuntimeError(f"{name}: {job['TrainingJobStatus']}, no final {objective}")
    return float(final[objective])


def cached_rows(task: Task, work: Path, rounds: int) -> list[dict[str, Any]]:
    """The rows of the task's rounds already run, in order, up to the first missing one."""
    rows = []
    for seq in range(1, rounds + 1):
        path = work / "tasks" / task.key / "rounds" / f"{seq:02d}.json"
        if not path.is_file():
            break
        rows.append(json.loads(path.read_text())["row"])
    return rows


def run_task(
    task: Task,
    work: Path,
    rounds: int,
    log: Any = sys.stderr,
    shared: tuple[S3, LocalSageMaker] | None = None,
) -> list[dict[str, Any]]:
    """Run (or resume) a task's first `rounds` rounds; returns one row per round. `shared`: a moto server and a
    local SageMaker shared by the tasks of one process (else the task gets its own, with its own state)."""
    profile = arm_profile(task.workload, task.arm, task.seed, task.max_jobs, task.parallel, task.tag)
    folder = work / "tasks" / task.key
    cache = folder / "rounds"
    cache.mkdir(parents=True, exist_ok=True)
    history: list[RoundHistory] = []
    rows: list[dict[str, Any]] = []
    champion: dict[str, Any] | None = None
    todo: list[int] = []
    for seq in range(1, rounds + 1):
        path = cache / f"{seq:02d}.json"
        if path.is_file() and not todo:
            saved = json.loads(path.read_text())
            history.append(RoundHistory.model_validate(saved["history"]))
            rows.append(saved["row"])
            champion = saved["champion"]
        else:
            todo.append(seq)
    if not todo:
        return rows
    if shared is not None:
        _rounds(task, todo, profile, history, rows, champion, shared[1], shared[0], work, cache, log)
        return rows
    lock = folder / "lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        holder = lock.read_text().strip()
        if holder.isdigit() and Path(f"/proc/{holder}").exists():
            raise TaskBusy(f"{task.key} is being run by process {holder}") from None
        lock.unlink()  # left by a run that died
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    s3 = S3()
    states = sorted(folder.glob("state-*"), key=lambda p: int(p.name.split("-")[1]))
    interrupted = (folder / f"started-{todo[0]:02d}").exists()
    # A round cut short leaves its tuning job in the service's state: start a fresh state then, and seed the
    # earlier rounds into it (the retune arm's warm-start parents), from the cached records.
    fresh = not states or interrupted
    state = folder / f"state-{len(states) + 1 if fresh else len(states)}"
    try:
        with LocalSageMaker(
            state, workload_images([task.workload]), s3=s3.client, deterministic=True, warm=True
        ) as service:
            if fresh and task.arm == "retune":
                for past in history:
                    reseed(service, s3, work, task, profile, past)
            _rounds(task, todo, profile, history, rows, champion, service, s3, work, cache, log)
    finally:
        s3.stop()
        lock.unlink(missing_ok=True)
    return rows


class TaskBusy(Exception):
    """Another process runs this task (two runs share a cache): skipped here, resumed by a later run."""


def _rounds(
    task: Task,
    todo: list[int],
    profile: Profile,
    history: list[RoundHistory],
    rows: list[dict[str, Any]],
    champion: dict[str, Any] | None,
    service: LocalSageMaker,
    s3: S3,
    work: Path,
    cache: Path,
    log: Any,
) -> None:
    """Run the rounds in `todo` in order, caching each as it ends."""
    for seq in todo:
        (work / "tasks" / task.key / f"started-{seq:02d}").touch()
        entry, row, champion = run_round(task, seq, profile, history, service, s3, work, champion)
        row = {**row, **trial_records(entry)}
        history.append(entry)
        rows.append(row)
        saved = {"history": entry.model_dump(mode="json"), "row": row, "champion": champion}
        (cache / f"{seq:02d}.json").write_text(json.dumps(saved, default=str))
        (work / "tasks" / task.key / f"started-{seq:02d}").unlink(missing_ok=True)
        print(
            f"{task.key} round {seq}: {row['trials']} trials ({row['stopped_early']} stopped), "
            f"compute {row['compute']:.3g}, cpu {row['cpu_seconds']:.1f} s, wall {row['wall_seconds']:.1f} s, "
            f"best {row['best_validation_rmse']:.5f}",
            file=log,
            flush=True,
        )


def trial_records(entry: RoundHistory) -> dict[str, Any]:
    """The round's trials, one small record each in creation order (AMT's trial names end in a running index), and
    their billable seconds: what a post hoc anchor (AMT-default cut to another arm's trial count) and the bill
    estimate need, kept in the row so that the committed per-seed results carry them."""
    records = [
        {
            "name": t.training_job_name,
            "status": t.status,
            "final_objective": t.final_objective,
            "stopped_early": t.stopped_early,
            "compute": t.compute,
            "billable_seconds": t.billable_seconds,
        }
        for t in sorted(entry.trials, key=lambda t: t.training_job_name)
    ]
    return {
        "billable_seconds": sum(r["billable_seconds"] or 0 for r in records),
        "trial_records": records,
    }


def finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _work(job: tuple[Task, Path, int]) -> tuple[str, str | None]:
    task, work, rounds = job
    try:
        run_task(task, work, rounds)
    except Exception as exc:  # noqa: BLE001 - one failed sequence must not lose the others' results
        import traceback  # noqa: PLC0415

        return task.key, f"{exc!r}\n{traceback.format_exc()}"
    return task.key, None


def run_all(tasks: list[Task], work: Path, rounds: int, processes: int, log: Any = sys.stderr) -> list[str]:
    """Run the tasks in `processes` worker processes (in the list's order); returns the errors, if any. The
    budget-matched anchors run last, once the sequences they are matched to have run."""
    import multiprocessing  # noqa: PLC0415

    errors: list[str] = []
    first = [t for t in tasks if t.arm not in MATCHED]
    later = [t for t in tasks if t.arm in MATCHED]
    if processes <= 1:
        # In this process, one moto server for all: the quick mode's start-up cost is most of its time.
        s3 = S3()
        try:
            with LocalSageMaker(
                work / "shared-state",
                workload_images({t.workload for t in tasks}),
                s3=s3.client,
                deterministic=True,
                warm=True,
            ) as service:
                for task in first:
                    _run_shared(task, work, rounds, log, s3, service, errors)
                for task in _matched(later, work, rounds, log, errors):
                    _run_shared(task, work, rounds, log, s3, service, errors)
            for task in cut_anchors(tasks):
                key, error = _cut_work((task, work, rounds))
                if error:
                    errors.append(f"{key}: {error}")
        finally:
            s3.stop()
        return errors
    for phase in ("first", "later", "cut"):
        batch = (
            first
            if phase == "first"
            else _matched(later, work, rounds, log, errors)
            if phase == "later"
            else cut_anchors(tasks)
        )
        if not batch:
            continue
        with multiprocessing.get_context("spawn").Pool(processes, maxtasksperchild=1) as pool:
            worker = _cut_work if phase == "cut" else _work
            for key, error in pool.imap(worker, [(t, work, rounds) for t in batch]):
                if error:
                    print(f"{key} failed: {error}", file=log, flush=True)
                    errors.append(f"{key}: {error.splitlines()[0]}")
    return errors


def cut_anchors(tasks: list[Task]) -> list[Task]:
    """The AMT-default tasks whose retune sequence (same workload and seed) runs beside them: their cut anchor is
    re-scored once both have run."""
    paired = {(t.workload, t.seed) for t in tasks if t.arm == "retune"}
    return [t for t in tasks if t.arm == "amt_default" and (t.workload, t.seed) in paired]


def _run_shared(
    task: Task, work: Path, rounds: int, log: Any, s3: S3, service: LocalSageMaker, errors: list[str]
) -> None:
    try:
        run_task(task, work, rounds, log, shared=(s3, service))
    except Exception as exc:  # noqa: BLE001 - as in _work
        print(f"{task.key} failed: {exc!r}", file=log, flush=True)
        errors.append(f"{task.key}: {exc!r}")


def _matched(tasks: list[Task], work: Path, rounds: int, log: Any, errors: list[str]) -> list[Task]:
    """The budget-matched tasks whose trial counts are known; the others are errors (their arm did not run)."""
    out = []
    for task in tasks:
        try:
            out.append(matched_task(task, work, rounds))
        except RuntimeError as exc:
            print(f"{task.key} not run: {exc}", file=log, flush=True)
            errors.append(f"{task.key}: {exc}")
    return out
