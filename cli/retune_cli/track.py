"""`retune track --resync [PROFILE]`: rebuild the MLflow runs from the table, as Track mirrors the stream.

What the stream could not deliver (an outage parked its range; records older than its 24 hours; history from before
the stack had a tracking server) is mirrored again from the items themselves, by the same use case: a run that
exists is completed, never duplicated.
"""

from __future__ import annotations

import os
import sys

from retune_cli.context import Context
from retune_cli.errors import CliError, UsageError
from retune_cli.output import emit_json

PROFILE_FILE = "profiles/"


def tracking_server(ctx: Context) -> str:
    """--tracking-server, else RETUNE_TRACKING_SERVER, else the stack's `TrackingServer` output."""
    given = getattr(ctx.args, "tracking_server", None) or os.environ.get("RETUNE_TRACKING_SERVER")
    if given:
        return str(given)
    try:
        return ctx.target.resource("TrackingServer")
    except CliError:
        raise CliError(
            "no tracking server: the stack has none (its TrackingServer parameter is empty); "
            "pass --tracking-server ARN|URI or set RETUNE_TRACKING_SERVER"
        ) from None


def profiles(ctx: Context) -> list[str]:
    """Every profile with a file in the bucket (profiles/<name>.json)."""
    keys = ctx.bucket.keys(ctx.target.bucket, PROFILE_FILE)
    return sorted(
        k.removeprefix(PROFILE_FILE).removesuffix(".json")
        for k in keys
        if k.endswith(".json") and "/" not in k.removeprefix(PROFILE_FILE)
    )


def track(ctx: Context) -> int:
    from retune.adapters.mlflow import MlflowRest  # noqa: PLC0415
    from retune.use_cases.track import resync  # noqa: PLC0415

    if not ctx.args.resync:
        raise UsageError("retune track: say --resync (rebuild the MLflow runs from the table)")
    server = tracking_server(ctx)
    try:
        credentials = ctx.target.session.get_credentials() if server.startswith("arn:") else None
        tracker = MlflowRest(server, credentials)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    caller = ctx.target.who().split(":")  # arn:<partition>:iam::<account>:...
    prefix = f"arn:{caller[1]}:sagemaker:{ctx.target.region}:{caller[4]}"
    names = [ctx.args.profile] if ctx.args.profile else profiles(ctx)
    deps = ctx.composition.track(tracker, prefix)

    def progress(line: str) -> None:
        print(line, file=sys.stderr if ctx.json else sys.stdout, flush=True)

    report = resync(names, deps, progress)
    if ctx.json:
        emit_json({"tracking_server": server, **report._asdict()})
    else:
        print(
            f"resynced {report.profiles} profile(s), {report.rounds} round(s), {report.trials} trial(s) "
            f"into {server}"
        )
    return 0
