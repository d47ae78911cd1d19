"""The read commands: `rounds`, `round`, `plan` (and `plan --render`), `champion`."""

from __future__ import annotations

import json
import sys
from typing import Any

from retune.errors import InvalidInput, NotFound
from retune.manifest import MANIFEST_MAX_BYTES, Manifest, parse_manifest
from retune.records import DropRecord, RoundRecord, TrialRecord
from retune.store import profile_pk

from retune_cli.context import Context
from retune_cli.errors import CliError
from retune_cli.output import (
    DASH,
    OUTCOMES,
    dump,
    emit_json,
    hyperparameter,
    num,
    package_name,
    plain,
    sparkline,
    table,
    took,
    when,
)


def _rounds(ctx: Context, profile: str) -> list[RoundRecord]:
    """Every round of a profile, oldest first (the trial items under them are skipped)."""
    items = ctx.store.table.query(profile_pk(profile), "ROUND#")
    found = [RoundRecord.model_validate_json(i["doc"]) for i in items if "#TRIAL#" not in i["sk"]]
    return sorted(found, key=lambda r: r.seq)  # round 10,000's key sorts out of order (retune.naming.seq_key)


def _drops(ctx: Context, profile: str) -> list[DropRecord]:
    items = ctx.store.table.query(profile_pk(profile), "DROP#")
    return [DropRecord.model_validate_json(i["doc"]) for i in items]


def decision_text(rnd: RoundRecord) -> str:
    if rnd.decision is None:
        return DASH if rnd.status != "failed" else "failed"
    text = OUTCOMES.get(rnd.decision.outcome, rnd.decision.outcome)
    return text + (" (by hand)" if rnd.decision.decided_by != "retune" else "")


def status_text(rnd: RoundRecord) -> str:
    """The round's status; a round starting with incumbents is training them (its tuning job waits for them)."""
    return "incumbents" if rnd.status == "starting" and rnd.incumbents else rnd.status


def trials_text(rnd: RoundRecord) -> str:
    """Completed/stopped early/failed, of all."""
    counts = rnd.trial_counts
    total = sum(counts.values())
    return f"{counts.get('Completed', 0)}/{rnd.stopped_early}/{counts.get('Failed', 0)} of {total}"


def rounds(ctx: Context) -> int:
    name = ctx.args.profile
    store = ctx.store
    found = _rounds(ctx, name)
    active, queued = store.get_active(name), store.get_queued(name)
    paused, champion = store.get_paused(name), store.get_champion(name)
    if ctx.json:
        emit_json(
            {
                "profile": name,
                "paused": dump(paused),
                "active": dump(active),
                "queued": dump(queued),
                "champion": dump(champion, exclude={"history"}),
                "rounds": [dump(r, exclude={"plan"}) for r in found],
            }
        )
        return 0
    state = [f"{len(found)} round(s)"]
    state.append(
        f"champion {package_name(champion.model_package_arn)} (round {champion.round_seq})"
        if champion
        else "no champion yet"
    )
    state.append(f"round {active.seq} running" if active else "no round running")
    if queued:
        state.append(f"drop {queued.drop_id} queued")
    if paused:
        state.append(f"PAUSED since {when(paused.paused_at)} by {paused.paused_by}")
    print(f"{name}: " + "; ".join(state))
    if not found:
        return 0
    rows = []
    for r in found:
        evaluation = r.evaluation
        rows.append(
            [
                str(r.seq),
                r.drop_id,
                status_text(r),
                trials_text(r),
                str(len(r.incumbents)) if r.incumbents else DASH,
                num(r.best_objective),
                num(evaluation.challenger_score) if evaluation else DASH,
                num(evaluation.champion_score) if evaluation else DASH,
                decision_text(r),
                num(r.compute),
                when(r.started_at),
                took(r.started_at, r.ended_at),
            ]
        )
    print()
    print(
        table(
            [
                "ROUND",
                "DROP",
                "STATUS",
                "TRIALS ok/early/failed",
                "INCUMBENTS",
                "BEST (val)",
                "CHALLENGER",
                "CHAMPION",
                "DECISION",
                "COMPUTE",
                "STARTED",
                "TOOK",
            ],
            rows,
            right=(0, 4, 5, 6, 7, 9),
        )
    )
    return 0


def _ordered_trials(rnd: RoundRecord, trials: list[TrialRecord]) -> list[TrialRecord]:
    """Best first (in the objective's direction), then the trials without a final objective."""
    sign = -1.0 if rnd.objective_type == "Maximize" else 1.0
    scored = [t for t in trials if t.final_objective is not None]
    scored.sort(key=lambda t: (sign * (t.final_objective or 0.0), t.training_job_name))
    rest = sorted((t for t in trials if t.final_objective is None), key=lambda t: t.training_job_name)
    return scored + rest


def round_(ctx: Context) -> int:
    name, seq = ctx.args.profile, ctx.args.seq
    rnd = ctx.store.get_round(name, seq)
    if rnd is None:
        last = ctx.store.last_round_seq(name)
        have = f"its rounds are 1 to {last}" if last else "it has no rounds yet"
        raise CliError(f"no round {seq} of {name}: {have}")
    trials = _ordered_trials(rnd, ctx.store.trials(name, seq))
    if ctx.json:
        emit_json({"round": dump(rnd), "trials": [dump(t) for t in trials]})
        return 0
    counts = rnd.trial_counts
    plan = rnd.plan
    lines = [
        f"Round {rnd.seq} of {rnd.profile}: {status_text(rnd)}",
        f"  drop        {rnd.drop_id}",
        f"  tuning job  {rnd.tuning_job_name} ({rnd.tuning_status or 'running'})"
        + (f": {rnd.failure_reason}" if rnd.failure_reason else ""),
        f"  started     {when(rnd.started_at)}, took {took(rnd.started_at, rnd.ended_at)}",
        f"  trials      {sum(counts.values())}: {counts.get('Completed', 0)} completed, "
        f"{rnd.stopped_early} stopped early, {counts.get('Failed', 0)} failed; "
        f"compute {num(rnd.compute)}, billable {rnd.billable_seconds} s",
        f"  plan        {plan.strategy.value}, {plan.max_jobs.value} trials, "
        f"{plan.max_parallel_jobs.value} in parallel, early stopping {plan.early_stopping.value}, "
        f"warm start from {plain(plan.warm_start_parents.value)}",
        f"  best trial  {rnd.best_training_job or DASH} ({rnd.objective_metric} {num(rnd.best_objective)} "
        "on validation)",
    ]
    for i in rnd.incumbents:
        origin = "the champion's configuration" if i.why == "champion" else "the best configuration"
        lines.append(f"  incumbent   {i.job_name}: {origin}, from round {i.from_round} ({i.from_job})")
    if rnd.evaluation is not None:
        e = rnd.evaluation
        lines.append(
            f"  evaluation  {e.job_name} {e.status}: challenger {num(e.challenger_score)}, "
            f"champion {num(e.champion_score)} (test data)"
            + (f": {e.failure_reason}" if e.failure_reason else "")
        )
    if rnd.decision is not None:
        d = rnd.decision
        lines.append(f"  decision    {decision_text(rnd)}: {d.reason}")
        if d.model_package_arn:
            lines.append(f"  package     {d.model_package_arn}")
    if rnd.deployment:
        lines.append(f"  deployment  {rnd.deployment.get('endpoint')}: {rnd.deployment.get('status')}")
    changes = plan.changes()
    if changes:
        lines.append("  plan changes for this round:")
        lines.extend(f"    {c.setting}: {plain(c.from_)} -> {plain(c.to)} ({c.reason})" for c in changes)
    print("\n".join(lines))
    if not trials:
        print("\nno trials recorded yet")
        return 0
    values = [v for t in trials for v in t.objective_series]
    lo, hi = (min(values), max(values)) if values else (None, None)
    searched = [r.name for r in plan.ranges.value]
    rows = []
    for t in trials:
        rows.append(
            [
                t.training_job_name
                + (" (incumbent)" if t.source == "incumbent" else "")
                + (" *" if t.training_job_name == rnd.best_training_job else ""),
                t.status + (" (early)" if t.stopped_early else ""),
                num(t.final_objective),
                DASH if t.epochs is None else str(t.epochs),
                num(t.compute),
                sparkline(t.objective_series, lo, hi),
                *[hyperparameter(t.hyperparameters.get(h, DASH)) for h in searched],
            ]
        )
    print()
    print(
        table(
            ["TRIAL", "STATUS", rnd.objective_metric, "EPOCHS", "COMPUTE", "CURVE", *searched],
            rows,
            right=(2, 3, 4),
        )
    )
    legend = "* the best trial. " if rnd.best_training_job else ""
    if lo is not None and hi is not None and hi > lo:
        legend += (
            f"CURVE: {rnd.objective_metric} per epoch, one scale for the round "
            f"({sparkline([lo], lo, hi)} {num(lo)} to {sparkline([hi], lo, hi)} {num(hi)})"
        )
    elif lo is not None:
        legend += f"CURVE: {rnd.objective_metric} per epoch (all {num(lo)})"
    if legend:
        print(f"\n{legend}")
    return 0


def plan(ctx: Context) -> int:
    from retune.planning import next_plan  # noqa: PLC0415

    name = ctx.args.profile
    profile, version = ctx.profile(name)
    store = ctx.store
    stored = store.get_plan(name)
    upcoming = next_plan(store, profile, version)
    seq = store.last_round_seq(name) + 1
    active = store.get_active(name)
    source = "stored" if stored is not None and stored.profile_version == version else "computed"
    if ctx.args.render:
        return _render(ctx, profile, upcoming, seq)
    changes = upcoming.changes()
    if ctx.json:
        emit_json(
            {
                "profile": name,
                "round": seq,
                "source": source,
                "profile_version": version,
                "running_round": active.seq if active else None,
                "plan": dump(upcoming),
                "changes": [c.model_dump(mode="json", by_alias=True) for c in changes],
            }
        )
        return 0
    learned = ", ".join(map(str, upcoming.based_on_rounds)) or "none"
    where = (
        "the stored plan"
        if source == "stored"
        else "computed now (no stored plan for this version of the profile)"
    )
    print(f"Next plan for {name}: round {seq}, {where}; learned from rounds: {learned}")
    if active is not None:
        print(f"round {active.seq} is running: the plan is made again when it closes")
    moved = {c.setting for c in changes}
    rows = []
    for setting in upcoming.SETTINGS:
        value = upcoming.setting(setting)
        rows.append(
            [
                "*" if setting in moved else "",
                setting,
                plain(_plain(value.value)),
                plain(_plain(value.previous)),
                value.reason,
            ]
        )
    print()
    print(table(["", "SETTING", "VALUE", "PREVIOUS", "REASON"], rows))
    print(f"\n* moved from the previous round's plan ({len(changes)} setting(s))")
    return 0


def _plain(value: Any) -> Any:
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value.model_dump(mode="json") if hasattr(value, "model_dump") else value


def _render(ctx: Context, profile: Any, upcoming: Any, seq: int) -> int:
    """The exact CreateHyperParameterTuningJob request StartRound would send for the next round, not sent."""
    from retune.naming import round_job_names  # noqa: PLC0415
    from retune.planning import round_request  # noqa: PLC0415
    from retune.validation import request_errors  # noqa: PLC0415

    drop_id, manifest = _drop_for_render(ctx, profile.name)
    # The name StartRound would take: its first choice unless another profile's round holds it.
    names = round_job_names(profile.name, seq)
    chosen = ctx.store.free_job_name(profile.name, seq, names)
    request = round_request(
        profile=profile,
        manifest=manifest,
        plan=upcoming,
        seq=seq,
        drop_id=drop_id,
        data_bucket=ctx.target.bucket,
        role_arn=ctx.target.resource("SageMakerRole"),
        name=chosen[0] if isinstance(chosen, tuple) else names[0],
    )
    print(json.dumps(request, indent=2, default=str))
    errors = request_errors(
        "CreateHyperParameterTuningJob", request, service_model=ctx.client("sagemaker").meta.service_model
    )
    if errors:
        print(
            f"retune: StartRound would fail drop {drop_id} with: " + "; ".join(errors),
            file=sys.stderr,
        )
        return 1
    return 0


def _drop_for_render(ctx: Context, name: str) -> tuple[str, Manifest]:
    """The drop named by --drop; else the queued drop; else the newest drop of the profile."""
    drop_id = ctx.args.drop
    if drop_id is None:
        queued = ctx.store.get_queued(name)
        if queued is not None:
            drop_id = queued.drop_id
        else:
            drops = _drops(ctx, name)
            if not drops:
                raise CliError(f"{name} has no drop to render a request for: name one with --drop")
            drop_id = max(drops, key=lambda d: (d.uploaded_at, d.drop_id)).drop_id
    print(f"retune: the request for drop {drop_id} (not sent)", file=sys.stderr)
    record = ctx.store.get_drop(name, drop_id)
    if record is not None and record.manifest is not None:
        return drop_id, Manifest.model_validate(record.manifest)
    key = record.manifest_key if record else f"datasets/{name}/{drop_id}/manifest.json"
    try:
        stored = ctx.bucket.read(
            ctx.target.bucket, key, record.version_id if record else None, max_bytes=MANIFEST_MAX_BYTES
        )
    except NotFound:
        raise CliError(f"drop {drop_id} of {name}: s3://{ctx.target.bucket}/{key} does not exist") from None
    try:
        return drop_id, parse_manifest(stored.body)
    except InvalidInput as exc:
        raise CliError(
            f"drop {drop_id} of {name}: the manifest is invalid: {'; '.join(exc.errors)}"
        ) from None


def champion(ctx: Context) -> int:
    name = ctx.args.profile
    current = ctx.store.get_champion(name)
    if ctx.json:
        earlier = current.earlier_changes if current else 0
        emit_json({"profile": name, "champion": dump(current), "earlier_changes": earlier})
        return 0
    if current is None:
        print(f"{name} has no champion yet")
        return 0
    print(
        f"Champion of {name}: {package_name(current.model_package_arn)} (round {current.round_seq or DASH}), "
        f"test score {num(current.score)}, version {current.version}"
    )
    print(f"  package  {current.model_package_arn}")
    print(f"  model    {current.model_artifact}")
    rows = [
        [
            when(c.changed_at),
            package_name(c.model_package_arn),
            DASH if c.round_seq is None else str(c.round_seq),
            num(c.score),
            c.decided_by,
            c.reason,
        ]
        for c in reversed(current.history)
    ]
    print()
    print(table(["CHANGED", "PACKAGE", "ROUND", "SCORE", "BY", "REASON"], rows, right=(2, 3)))
    if current.earlier_changes:
        # The champion's item keeps its latest changes; every round keeps its own decision.
        print(
            f"... and {current.earlier_changes} earlier change(s), not kept with the champion; each round's "
            f"decision is in `retune rounds {name}`"
        )
    return 0
