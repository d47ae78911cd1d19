"""Track: mirror retune's rounds, trials and champion into an MLflow tracking server, off the control loop's path.

The mapping: one experiment per profile (`retune/<profile>`), its tags the champion and its latest changes; a parent
run per round (drop, tuning job, plan and its changes with reasons, summary, evaluation, decision, model package); a
child run per trial (hyperparameters, the objective per epoch as a metric series by step, status, compute).

Exactly once in effect: MLflow assigns run ids, so a run is found by its `retune.key` tag. Whatever the stream
record says, the item's current state is read from the table and mirrored, and only what differs from the run is
written: a replayed, reordered or no-op record writes nothing new, and a late old record cannot roll a run back.
Two writers that both find no run both create one; each then searches again and keeps the oldest (its start time is
the server's; ties by run id), deleting the others, so they converge on one run.

MLflow params cannot change once logged, so only what is fixed when a round or trial starts is a param (the
plan's settings, the hyperparameters); everything that moves (status, decision, links) is a tag, numbers are metrics.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol

from pydantic import ValidationError
from retune.errors import AlreadyExists, NotFound, PermanentError, TransientError
from retune.naming import seq_of_key
from retune.plan import Plan
from retune.ports import Clock, MetricsPort
from retune.records import ChampionRecord, RoundRecord, TrialRecord
from retune.store import Store, profile_pk

log = logging.getLogger("retune.track")

KEY_TAG = "retune.key"
EXPERIMENT_PREFIX = "retune/"
# MLflow's longest tag value (MAX_TAG_VAL_LENGTH, 8,000 since MLflow 2; 5,000 before): longer text is cut.
TAG_MAX = 5000
PARAM_MAX = 500  # MLflow before 2.x: what every server takes
RUN_STATUS = {
    "starting": "RUNNING",
    "running": "RUNNING",
    "stopping": "RUNNING",
    "evaluating": "RUNNING",
    "decided": "FINISHED",
    "failed": "FAILED",
    "InProgress": "RUNNING",
    "Completed": "FINISHED",
    "Stopped": "KILLED",
    "Failed": "FAILED",
}
ItemKind = Literal["round", "trial", "champion"]


class UnreadableRecord(PermanentError):
    """An item of a kind Track mirrors whose record does not parse: no retry makes it parse."""


class TrackerPort(Protocol):
    """An MLflow tracking server (retune.adapters.mlflow.MlflowRest)."""

    def get_experiment_by_name(self, name: str) -> dict[str, Any] | None: ...
    def create_experiment(self, name: str, tags: dict[str, str]) -> str: ...
    def set_experiment_tag(self, experiment_id: str, key: str, value: str) -> None: ...
    def search_runs(self, experiment_id: str, filter_string: str) -> list[dict[str, Any]]: ...
    def create_run(self, experiment_id: str, name: str, tags: dict[str, str]) -> dict[str, Any]: ...
    def update_run(self, run_id: str, status: str, end_time: int | None, name: str | None = None) -> None: ...
    def delete_run(self, run_id: str) -> None: ...
    def log_batch(
        self,
        run_id: str,
        *,
        params: dict[str, str] | None = None,
        tags: dict[str, str] | None = None,
        metrics: list[dict[str, Any]] | None = None,
    ) -> None: ...


@dataclass
class TrackDeps:
    store: Store
    tracker: TrackerPort
    metrics: MetricsPort
    clock: Clock
    # "arn:<partition>:sagemaker:<region>:<account>", for the jobs' ARNs; None: names only.
    sagemaker_arn_prefix: str | None = None


class ItemKey(NamedTuple):
    kind: ItemKind
    profile: str
    seq: int | None = None
    training_job: str | None = None


def item_key(pk: str, sk: str) -> ItemKey | None:
    """The kind of a table item Track mirrors, from its key; None for every other kind (drops, the plan, ...)."""
    if not pk.startswith("PROFILE#"):
        return None
    profile = pk.removeprefix("PROFILE#")
    if sk == "CHAMPION":
        return ItemKey("champion", profile)
    parts = sk.split("#")
    if parts[0] != "ROUND" or len(parts) not in (2, 4):
        return None
    try:
        seq = seq_of_key(parts[1])
    except ValueError:
        return None
    if len(parts) == 2:
        return ItemKey("round", profile, seq)
    if parts[2] != "TRIAL" or not parts[3]:
        return None
    return ItemKey("trial", profile, seq, parts[3])


class RunState(NamedTuple):
    """What a run should hold."""

    name: str
    status: str
    end_time: int | None
    params: dict[str, str]
    tags: dict[str, str]
    metrics: dict[str, float]  # one value each (step 0)
    series: dict[
        str, tuple[list[float], int]
    ]  # per-epoch values (steps 1..n) and the first point's timestamp


@dataclass
class Mirror:
    """One batch's (or one resync's) view of the tracking server: the experiments and runs it has found."""

    deps: TrackDeps
    experiments: dict[str, dict[str, Any]] = field(default_factory=dict)
    runs: dict[str, str] = field(default_factory=dict)  # retune.key -> run id

    # the items

    def item(self, key: ItemKey) -> str:
        """Mirrors the item's current state; "gone" when the table no longer holds it."""
        store = self.deps.store
        try:
            if key.kind == "champion":
                champion = store.get_champion(key.profile)
                if champion is None:
                    return "gone"
                self.champion(champion)
            elif key.kind == "round":
                assert key.seq is not None
                rnd = store.get_round(key.profile, key.seq)
                if rnd is None:
                    return "gone"
                self.round(rnd)
            else:
                assert key.seq is not None and key.training_job is not None
                trial = store.get_trial(key.profile, key.seq, key.training_job)
                if trial is None:
                    return "gone"
                self.trial(trial)
        except ValidationError as exc:
            raise UnreadableRecord(
                f"{profile_pk(key.profile)} {key.kind} {key.seq or ''} {key.training_job or ''}: "
                f"the stored record does not parse: {exc.errors(include_url=False)[:3]}"
            ) from exc
        return key.kind

    def champion(self, champion: ChampionRecord) -> None:
        experiment = self.experiment(champion.profile)
        current = {t["key"]: t["value"] for t in experiment.get("tags", [])}
        wanted = _strings(
            {
                "champion.model_package": champion.model_package_arn,
                "champion.model_artifact": champion.model_artifact,
                "champion.round": champion.round_seq,
                "champion.score": champion.score,
                "champion.version": champion.version,
                "champion.history": "\n".join(
                    f"{c.changed_at.isoformat()} round {c.round_seq}: {c.model_package_arn} "
                    f"(score {c.score}, by {c.decided_by}): {c.reason}"
                    for c in reversed(champion.history)
                ),
            }
        )
        for key, value in wanted.items():
            if current.get(key) != value:
                self.deps.tracker.set_experiment_tag(experiment["experiment_id"], key, value)
                current[key] = value
        experiment["tags"] = [{"key": k, "value": v} for k, v in current.items()]

    def round(self, rnd: RoundRecord) -> str:
        key = round_key(rnd.profile, rnd.seq)
        run = self.run(rnd.profile, key, round_state(rnd, self.deps.sagemaker_arn_prefix).name)
        self.apply(run, round_state(rnd, self.deps.sagemaker_arn_prefix))
        return str(run["info"]["run_id"])

    def trial(self, trial: TrialRecord) -> str:
        parent = self.parent(trial.profile, trial.seq)
        state = trial_state(trial, parent, self.deps.sagemaker_arn_prefix)
        run = self.run(trial.profile, trial_key(trial), state.name)
        self.apply(run, state)
        return str(run["info"]["run_id"])

    def parent(self, profile: str, seq: int) -> str | None:
        """The round's run id: a trial's record may be read before its round's (the stream orders each item's
        records, not the items), so the round is mirrored from the table first if it has no run yet."""
        key = round_key(profile, seq)
        if key in self.runs:
            return self.runs[key]
        found = self.find(profile, key)
        if found:
            return self.keep_one(found)
        rnd = self.deps.store.get_round(profile, seq)
        return self.round(rnd) if rnd is not None else None

    # experiments and runs

    def experiment(self, profile: str) -> dict[str, Any]:
        if profile in self.experiments:
            return self.experiments[profile]
        tracker = self.deps.tracker
        name = EXPERIMENT_PREFIX + profile
        experiment = tracker.get_experiment_by_name(name)
        if experiment is None:
            try:
                tracker.create_experiment(name, {"retune.profile": profile})
            except AlreadyExists:
                pass  # another writer made it first: the same experiment
            experiment = tracker.get_experiment_by_name(name)
            if experiment is None:
                raise TransientError(f"MLflow experiment {name} was created but is not found yet")
        if experiment.get("lifecycle_stage") == "deleted":
            raise PermanentError(
                f"MLflow experiment {name} (id {experiment['experiment_id']}) is deleted: restore it "
                "(mlflow experiments restore) or delete it for good, then run `retune track --resync`"
            )
        self.experiments[profile] = experiment
        return experiment

    def find(self, profile: str, key: str) -> list[dict[str, Any]]:
        experiment = self.experiment(profile)
        return self.deps.tracker.search_runs(experiment["experiment_id"], f"tags.`{KEY_TAG}` = '{key}'")

    def keep_one(self, found: list[dict[str, Any]]) -> str:
        """The oldest of the runs holding one key (ties by run id: every writer picks the same); the others,
        made by writers that raced this one, are deleted."""
        survivor = min(found, key=_age)
        for run in found:
            if run is not survivor:
                try:
                    self.deps.tracker.delete_run(run["info"]["run_id"])
                except NotFound:
                    pass  # the other writer deleted it first
                self.deps.metrics.count("TrackDuplicateRunsDeleted")
        key = _tags(survivor).get(KEY_TAG, "")
        self.runs[key] = str(survivor["info"]["run_id"])
        return self.runs[key]

    def run(self, profile: str, key: str, name: str) -> dict[str, Any]:
        found = self.find(profile, key)
        if not found:
            experiment = self.experiment(profile)
            self.deps.tracker.create_run(experiment["experiment_id"], name, {KEY_TAG: key})
            found = self.find(profile, key)
            if not found:
                raise TransientError(f"MLflow run {key} was created but is not found yet")
        run_id = self.keep_one(found)
        return next(r for r in found if r["info"]["run_id"] == run_id)

    def apply(self, run: dict[str, Any], state: RunState) -> None:
        """Writes what the run lacks or holds differently; nothing when it already holds the state."""
        tracker = self.deps.tracker
        run_id = run["info"]["run_id"]
        data = run.get("data") or {}
        params = {p["key"]: p["value"] for p in data.get("params", [])}
        tags = _tags(run)
        latest = {m["key"]: m for m in data.get("metrics", [])}
        new_params = {k: v for k, v in state.params.items() if k not in params}
        new_tags = {k: v for k, v in state.tags.items() if tags.get(k) != v}
        for key in sorted(k for k, v in state.params.items() if k in params and params[k] != v):
            # A param never changes in MLflow: the new value goes beside it, and the log says so.
            log.warning("a param changed: kept as a tag", extra={"run": run_id, "param": key})
            if tags.get(f"retune.param_changed.{key}") != state.params[key]:
                new_tags[f"retune.param_changed.{key}"] = state.params[key]
        now = int(self.deps.clock().timestamp() * 1000)
        metrics = [
            {"key": k, "value": v, "timestamp": now, "step": 0}
            for k, v in state.metrics.items()
            if k not in latest or float(latest[k]["value"]) != v
        ]
        for key, (values, start) in state.series.items():
            last = latest.get(key)
            if values and (
                last is None or int(last.get("step", 0)) != len(values) or float(last["value"]) != values[-1]
            ):
                # The whole series, each point with the same timestamp every time: MLflow keeps one row per
                # (key, step, timestamp, value), so points it has are not added twice.
                metrics += [
                    {"key": key, "value": v, "timestamp": start + i, "step": i + 1}
                    for i, v in enumerate(values)
                ]
        if new_params or new_tags or metrics:
            tracker.log_batch(run_id, params=new_params, tags=new_tags, metrics=metrics)
        info = run["info"]
        if (
            info.get("status") != state.status
            or (state.end_time is not None and int(info.get("end_time") or 0) != state.end_time)
            or info.get("run_name") != state.name
        ):
            tracker.update_run(run_id, state.status, state.end_time, state.name)


def refused(key: ItemKey, error: PermanentError, deps: TrackDeps) -> None:
    """A record the server refuses as invalid (or that does not parse) would be refused again on every retry and
    hold its shard: logged with MLflow's error and counted (the TrackRefused alarm alerts), and skipped;
    `retune track --resync` mirrors it once the cause is fixed."""
    log.error(
        "record not tracked",
        extra={"profile": key.profile, "kind": key.kind, "round": key.seq, "error": str(error)},
    )
    deps.metrics.count("TrackRecordsRefused")


# ---------------------------------------------------------------- what a run holds


def round_key(profile: str, seq: int) -> str:
    return f"round/{profile}/{seq}"


def trial_key(trial: TrialRecord) -> str:
    return f"trial/{trial.profile}/{trial.seq}/{trial.training_job_name}"


def round_state(rnd: RoundRecord, arn_prefix: str | None) -> RunState:
    plan = rnd.plan
    params = {f"plan.{name}": _text(plan.setting(name).value) for name in Plan.SETTINGS if name != "ranges"}
    params |= {
        "objective_metric": rnd.objective_metric,
        "objective_type": rnd.objective_type,
        "profile_version": rnd.profile_version,
    }
    evaluation, decision = rnd.evaluation, rnd.decision
    tags: dict[str, Any] = {
        KEY_TAG: round_key(rnd.profile, rnd.seq),
        "retune.kind": "round",
        "retune.profile": rnd.profile,
        "retune.round": rnd.seq,
        "drop": rnd.drop_id,
        "status": rnd.status,
        "tuning_job.name": rnd.tuning_job_name,
        "tuning_job.arn": _arn(arn_prefix, "hyper-parameter-tuning-job", rnd.tuning_job_name),
        "tuning_job.status": rnd.tuning_status,
        "failure_reason": rnd.failure_reason,
        "best_training_job": rnd.best_training_job,
        "best_model_artifact": rnd.best_model_artifact,
        "plan.ranges": "\n".join(_interval(r) for r in plan.ranges.value),
        "plan.changes": "\n".join(_change(c) for c in plan.changes()) or "none: the plan is the profile's",
        "mlflow.note.content": _note(rnd),
    }
    if evaluation is not None:
        tags |= {
            "evaluation.job_name": evaluation.job_name,
            "evaluation.status": evaluation.status,
            "evaluation.attempt": evaluation.attempt,
            "evaluation.champion_model_package": evaluation.champion_model_package,
            "evaluation.failure_reason": evaluation.failure_reason,
        }
    if decision is not None:
        tags |= {
            "decision.outcome": decision.outcome,
            "decision.reason": decision.reason,
            "decision.decided_by": decision.decided_by,
            "decision.decided_at": decision.decided_at.isoformat(),
            "model_package.arn": decision.model_package_arn,
        }
    if rnd.deployment is not None:
        tags["deployment.status"] = rnd.deployment.get("status")
    metrics: dict[str, Any] = {
        "best_objective": rnd.best_objective,
        "compute": rnd.compute,
        "billable_seconds": rnd.billable_seconds if rnd.ended_at is not None else None,
        "trials.stopped_early": rnd.stopped_early if rnd.ended_at is not None else None,
        "budget_max_jobs": rnd.budget_max_jobs,
    }
    metrics |= {f"trials.{status.lower()}": count for status, count in rnd.trial_counts.items()}
    if evaluation is not None:
        metrics |= {
            "evaluation.challenger_score": evaluation.challenger_score,
            "evaluation.champion_score": evaluation.champion_score,
        }
    return RunState(
        name=f"round {rnd.seq} · {rnd.drop_id}",
        status=RUN_STATUS[rnd.status],
        end_time=_ms(rnd.ended_at) if rnd.status in ("decided", "failed") else None,
        params=_strings(params, PARAM_MAX),
        tags=_strings(tags),
        metrics={k: float(v) for k, v in metrics.items() if v is not None},
        series={},
    )


def trial_state(trial: TrialRecord, parent: str | None, arn_prefix: str | None) -> RunState:
    tags: dict[str, Any] = {
        KEY_TAG: trial_key(trial),
        "retune.kind": "trial",
        "retune.profile": trial.profile,
        "retune.round": trial.seq,
        "mlflow.parentRunId": parent,
        "status": trial.status,
        "secondary_status": trial.secondary_status,
        "stopped_early": "true" if trial.stopped_early else "false",
        "training_job.name": trial.training_job_name,
        "training_job.arn": _arn(arn_prefix, "training-job", trial.training_job_name),
        "model_artifact": trial.model_artifact,
        "failure_reason": trial.failure_reason,
        # Issue 20's trials carry where they come from (a tuning job's, or the incumbent re-scored).
        "retune.source": getattr(trial, "source", None),
    }
    metrics: dict[str, Any] = {
        "final_objective": trial.final_objective,
        "epochs": trial.epochs,
        "compute": trial.compute,
        "billable_seconds": trial.billable_seconds,
        "training_seconds": trial.training_seconds,
        "cpu_seconds": trial.cpu_seconds,
    }
    return RunState(
        name=trial.training_job_name,
        status=RUN_STATUS[trial.status],
        end_time=_ms(trial.ended_at) if trial.terminal and trial.ended_at is not None else None,
        params=_strings(trial.hyperparameters, PARAM_MAX),
        tags=_strings(tags),
        metrics={k: float(v) for k, v in metrics.items() if v is not None},
        series={"objective": (list(trial.objective_series), _ms(trial.started_at) or 0)},
    )


# ---------------------------------------------------------------- resync


class ResyncReport(NamedTuple):
    profiles: int
    rounds: int
    trials: int


def resync(profiles: Iterable[str], deps: TrackDeps, progress: Callable[[str], None]) -> ResyncReport:
    """Rebuilds every profile's runs from the table, as the stream would have: the same mirror, so a run that
    exists is completed, not duplicated. Backfills a stack whose history predates Track."""
    rounds = trials = count = 0
    for profile in profiles:
        mirror = Mirror(deps)
        count += 1
        last = deps.store.last_round_seq(profile)
        history = deps.store.history(profile, last) if last else []
        progress(f"{profile}: {len(history)} round(s)")
        for entry in history:
            mirror.round(entry.round)
            for trial in entry.trials:
                mirror.trial(trial)
            rounds += 1
            trials += len(entry.trials)
            progress(f"{profile}: round {entry.round.seq}, {len(entry.trials)} trial(s)")
        champion = deps.store.get_champion(profile)
        if champion is not None:
            mirror.champion(champion)
            progress(f"{profile}: champion {champion.model_package_arn}")
    return ResyncReport(count, rounds, trials)


# ---------------------------------------------------------------- helpers


def _age(run: dict[str, Any]) -> tuple[int, str]:
    info = run["info"]
    return int(info.get("start_time") or 0), str(info["run_id"])


def _tags(run: dict[str, Any]) -> dict[str, str]:
    return {t["key"]: t["value"] for t in (run.get("data") or {}).get("tags", [])}


def _ms(moment: datetime | None) -> int | None:
    return int(moment.timestamp() * 1000) if moment is not None else None


def _arn(prefix: str | None, kind: str, name: str) -> str | None:
    # SageMaker's ARNs carry job names in lowercase.
    return f"{prefix}:{kind}/{name.lower()}" if prefix else None


def _text(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) or "none"
    return "none" if value is None else str(value)


def _strings(values: dict[str, Any], limit: int = TAG_MAX) -> dict[str, str]:
    return {k: str(v)[:limit] for k, v in values.items() if v is not None}


def _interval(r: Any) -> str:
    if r.type == "categorical":
        return f"{r.name} ∈ {{{', '.join(r.values)}}}"
    return f"{r.name} ∈ [{r.min_value}, {r.max_value}] ({r.scaling})"


def _change(change: Any) -> str:
    before, after = change.from_, change.to
    if change.setting == "ranges":
        before = "; ".join(_range_text(r) for r in before or [])
        after = "; ".join(_range_text(r) for r in after or [])
    return f"{change.setting}: {_text(before)} → {_text(after)} ({change.reason})"


def _range_text(r: dict[str, Any]) -> str:
    if r.get("type") == "categorical":
        return f"{r['name']} ∈ {{{', '.join(r.get('values', []))}}}"
    return f"{r['name']} ∈ [{r.get('min_value')}, {r.get('max_value')}]"


def _note(rnd: RoundRecord) -> str:
    """The run's description in MLflow's UI: the plan's changes with their reasons, the decision."""
    lines = [f"Round {rnd.seq} of {rnd.profile} on drop {rnd.drop_id} ({rnd.tuning_job_name})."]
    changes = rnd.plan.changes()
    lines += ["", "Plan changes:"] + [f"- {_change(c)}" for c in changes] if changes else []
    if rnd.decision is not None:
        lines += ["", f"Decision: {rnd.decision.outcome}: {rnd.decision.reason}"]
    return "\n".join(lines)
