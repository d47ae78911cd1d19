"""The commands that act: `promote`, `pause`, `resume`, `stop`, `retry`.

Each goes through retune's own use cases and store writes, with their conditions, so a command and the functions
can act at the same time without one undoing the other.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

from retune.adapters.errors import translated
from retune.errors import NotFound
from retune.records import DropRecord, PausedRecord
from retune.table import ConditionFailed

from retune_cli.context import Context
from retune_cli.errors import CliError
from retune_cli.output import dump, emit_json, package_name, when


def promote(ctx: Context) -> int:
    """A manual promotion or a rollback, through Promote's own code path (`promote_by_hand`)."""
    from retune.use_cases.by_hand import promote_by_hand  # noqa: PLC0415

    name, arn = ctx.args.profile, ctx.args.model_package
    before = ctx.store.get_champion(name)
    try:
        result = promote_by_hand(name, arn, ctx.target.who(), ctx.promote_deps())
    except ConditionFailed:
        raise CliError(
            f"the champion of {name} changed while promoting; look at `retune champion {name}` and run again"
        ) from None
    after = ctx.store.get_champion(name)
    ok = result.status in ("champion_set", "duplicate")
    if ctx.json:
        emit_json(
            {
                "profile": name,
                "status": result.status,
                "model_package_arn": arn,
                "round": result.seq,
                "detail": result.detail,
                "previous": before.model_package_arn if before else None,
                "champion": dump(after, exclude={"history"}),
            }
        )
        return 0 if ok else 1
    if not ok:
        raise CliError(f"cannot promote {arn} for {name}: {result.detail}")
    if result.status == "duplicate":
        print(f"{name}: {package_name(arn)} is already the champion; nothing changed")
        return 0
    assert after is not None
    was = f"was {package_name(before.model_package_arn)}" if before else "the first champion"
    print(
        f"{name}: champion is now {package_name(arn)} (round {result.seq or '-'}), {was}; champion version "
        f"{after.version}, {result.detail}. Approved in the model registry; alert sent."
    )
    return 0


def _profile_exists(ctx: Context, name: str) -> None:
    from retune.profile import profile_key  # noqa: PLC0415

    try:
        with translated("s3"):
            ctx.client("s3").head_object(Bucket=ctx.target.bucket, Key=profile_key(name))
    except NotFound:
        raise CliError(
            f"no profile {name}: s3://{ctx.target.bucket}/{profile_key(name)} does not exist"
        ) from None


def pause(ctx: Context) -> int:
    name = ctx.args.profile
    _profile_exists(ctx, name)
    record = PausedRecord(profile=name, paused_at=datetime.now(tz=UTC), paused_by=ctx.target.who())
    paused = ctx.store.pause(record)
    current = ctx.store.get_paused(name) or record
    active = ctx.store.get_active(name)
    if ctx.json:
        emit_json({"profile": name, "paused": dump(current), "changed": paused})
        return 0
    if not paused:
        print(f"{name} was already paused (since {when(current.paused_at)} by {current.paused_by})")
        return 0
    running = (
        f"; round {active.seq} carries on (stop it with `retune stop {name} {active.seq}`)" if active else ""
    )
    print(f"{name} paused: new drops queue (the newest waits) until `retune resume {name}`{running}")
    return 0


def resume(ctx: Context) -> int:
    from retune.use_cases.finish import announce_queued_drop  # noqa: PLC0415

    name = ctx.args.profile
    resumed = ctx.store.resume(name)
    queued = ctx.store.get_queued(name)
    # The queued drop's "Drop Ready", as at the end of a round (nothing when a round is running: its end does it).
    announced = announce_queued_drop(ctx.store, ctx.event_bus, name)
    if ctx.json:
        emit_json(
            {
                "profile": name,
                "changed": resumed,
                "announced": queued.drop_id if announced and queued else None,
            }
        )
        return 0
    head = f"{name} resumed" if resumed else f"{name} was not paused"
    if announced and queued:
        tail = f"queued drop {queued.drop_id} announced (Drop Ready): StartRound starts it"
    elif queued:
        tail = f"drop {queued.drop_id} waits for the running round"
    else:
        tail = "no drop was waiting"
    print(f"{head}; {tail}")
    return 0


def stop(ctx: Context) -> int:
    """Stop a round through retune's own use case (`stop_round`): a running round's tuning job; a round still
    training its incumbents becomes `stopping` and its incumbents are stopped (no tuning job will start)."""
    from retune.errors import Refused  # noqa: PLC0415
    from retune.use_cases.stop_round import stop_round  # noqa: PLC0415

    name, seq = ctx.args.profile, ctx.args.seq
    try:
        result = stop_round(name, seq, ctx.target.who(), ctx.composition.stop_round)
    except Refused as exc:
        rnd = ctx.store.get_round(name, seq)
        job = rnd.tuning_job_name if rnd else f"round {seq}"
        raise CliError(f"SageMaker did not stop {job}: {exc}") from None
    if result.status == "not_found":
        raise CliError(f"no round {seq} of {name}")
    if result.status == "not_running":
        raise CliError(f"{result.detail}: nothing to stop")
    rnd = ctx.store.get_round(name, seq)
    stopping_incumbents = rnd is not None and rnd.status == "stopping"
    if ctx.json:
        emit_json(
            {
                "profile": name,
                "round": seq,
                "tuning_job": result.tuning_job,
                "stopping": True,
                "incumbents": list(result.incumbents) if stopping_incumbents else None,
            }
        )
        return 0
    if stopping_incumbents:
        asked = ", ".join(result.incumbents) or "none still running"
        print(
            f"stopping round {seq} of {name} while it trains its incumbents (stopping {asked}); its tuning job "
            f"{result.tuning_job} will not start. Reconcile closes the round as stopped once they have ended. "
            f"Follow it with `retune round {name} {seq}`"
        )
        return 0
    print(
        f"stopping {result.tuning_job} (round {seq} of {name}): SageMaker stops its trials; CloseRound "
        f"closes the round once the job is Stopped. Follow it with `retune round {name} {seq}`"
    )
    return 0


def retry(ctx: Context) -> int:
    """Re-run a failed drop: copy its manifest onto itself. The bucket is versioned, so the copy is a new version
    of the manifest, and its "Object Created" event reaches StartRound as a new upload, the documented retry."""
    name, drop_id = ctx.args.profile, ctx.args.drop
    drop = ctx.store.get_drop(name, drop_id)
    if drop is None:
        raise CliError(f"no drop {drop_id} of {name} is recorded")
    if drop.state != "failed":
        why = {
            "started": f"it started round {drop.round_seq}",
            "queued": "it is queued and starts after the running round",
            "superseded": "a newer drop superseded it; upload it again under a new drop id to run it",
            "received": "StartRound is deciding it right now",
        }[drop.state]
        raise CliError(f"drop {drop_id} of {name} is {drop.state}, not failed: {why}")
    bucket = ctx.target.bucket
    s3 = ctx.client("s3")
    with translated("s3"):
        head = s3.head_object(Bucket=bucket, Key=drop.manifest_key)
        copied = s3.copy_object(
            Bucket=bucket,
            Key=drop.manifest_key,
            CopySource={"Bucket": bucket, "Key": drop.manifest_key},
            MetadataDirective="REPLACE",
            ContentType=head.get("ContentType") or "application/json",
            Metadata={**head.get("Metadata", {}), "retune-retry": datetime.now(tz=UTC).isoformat()},
        )
    version = copied.get("VersionId") or copied.get("CopyObjectResult", {}).get("ETag", "").strip('"')
    outcome = _wait_for_drop(ctx, name, drop_id, drop.version, ctx.args.wait) if ctx.args.wait else None
    if ctx.json:
        emit_json(
            {
                "profile": name,
                "drop_id": drop_id,
                "manifest": f"s3://{bucket}/{drop.manifest_key}",
                "version": version,
                "previous_errors": drop.errors,
                "drop": dump(outcome),
            }
        )
        return 0 if outcome is None or outcome.state != "failed" else 1
    print(
        f"drop {drop_id} of {name}: manifest copied onto itself (version {version}); "
        "StartRound validates the drop again"
    )
    if outcome is None:
        print(f"follow it with `retune rounds {name}`")
        return 0
    if outcome.state == "failed":
        raise CliError(f"drop {drop_id} failed again: {'; '.join(outcome.errors)}")
    print(
        f"drop {drop_id} is {outcome.state}" + (f": round {outcome.round_seq}" if outcome.round_seq else "")
    )
    return 0


def _wait_for_drop(ctx: Context, name: str, drop_id: str, old_version: str, seconds: float) -> DropRecord:
    """The drop once StartRound decided the new version, or a failure after `seconds`."""
    deadline = time.monotonic() + seconds
    while True:
        drop = ctx.store.get_drop(name, drop_id)
        if drop is not None and drop.version != old_version and drop.state != "received":
            return drop
        if time.monotonic() > deadline:
            raise CliError(
                f"drop {drop_id} of {name}: StartRound did not take the new manifest within {seconds:g} s"
            )
        time.sleep(0.25)
