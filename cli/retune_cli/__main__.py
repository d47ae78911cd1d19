"""`retune`: the command line. Exit codes: 0 success, 1 a failed operation, 2 a usage error.

Errors are one line on stderr, never a traceback (RETUNE_DEBUG=1 shows it).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence

from retune_cli.errors import EXIT_FAILED, EXIT_USAGE, CliError

PROFILE_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")  # retune.profile.PROFILE_NAME_PATTERN


def _profile_name(text: str) -> str:
    if not PROFILE_PATTERN.match(text) or len(text) > 48:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a profile name: lowercase letters, digits and '-', at most 48"
        )
    return text


def _seq(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a round number (1, 2, ...)")
    return int(text)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    return value


def _common(default: object) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name (`retune --json rounds x` or
    `retune rounds x --json`). On the subcommands their default is SUPPRESS, so a value given before the
    command name is not overwritten."""
    common = argparse.ArgumentParser(add_help=False)
    where = common.add_argument_group("where retune runs")
    where.add_argument(
        "--stack", default=default, metavar="NAME", help="a deployed stack (its outputs); or set RETUNE_STACK"
    )
    where.add_argument(
        "--endpoints-file",
        default=default,
        metavar="PATH",
        help="a running `python -m retune_local serve`'s endpoints file; or set RETUNE_ENDPOINTS_FILE",
    )
    where.add_argument("--region", default=default, help="the stack's AWS region (default: the AWS config's)")
    where.add_argument("--aws-profile", default=default, metavar="NAME", help="a profile of the AWS config")
    common.add_argument("--json", action="store_true", default=default, help="JSON instead of a table")
    return common


def parser() -> argparse.ArgumentParser:
    from retune_cli import control, profiles, reads, redrive, track, upload  # noqa: PLC0415

    top = argparse.ArgumentParser(
        prog="retune",
        parents=[_common(None)],
        description="Operate retune: read its rounds, trials, plans and champions; promote, pause, resume, "
        "stop, retry, redrive, drop. Against a deployed stack (--stack) or the local stack (--endpoints-file).",
        epilog="Exit codes: 0 success, 1 a failed operation, 2 a usage error.",
    )
    commands = top.add_subparsers(dest="command", metavar="COMMAND", required=True)
    common = [_common(argparse.SUPPRESS)]

    def command(name: str, run: Callable[..., int], help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, parents=common, help=help_text, description=help_text)
        sub.set_defaults(run=run)
        return sub

    c = command("rounds", reads.rounds, "the rounds of a profile, newest last")
    c.add_argument("profile", type=_profile_name)
    c = command("round", reads.round_, "one round: its plan, evaluation, decision, trials and their curves")
    c.add_argument("profile", type=_profile_name)
    c.add_argument("seq", type=_seq, metavar="SEQ")
    c = command("plan", reads.plan, "the next round's plan, each setting with its reason")
    c.add_argument("profile", type=_profile_name)
    c.add_argument(
        "--render",
        action="store_true",
        help="print the exact CreateHyperParameterTuningJob request StartRound would send (not sent)",
    )
    c.add_argument(
        "--drop", metavar="DROP", help="with --render: the drop (default: the queued, else newest)"
    )
    c = command("champion", reads.champion, "the champion and its history")
    c.add_argument("profile", type=_profile_name)
    c = command(
        "promote", control.promote, "make a model package the champion (manual promotion or rollback)"
    )
    c.add_argument("profile", type=_profile_name)
    c.add_argument("--model-package", required=True, metavar="ARN", help="the model package's ARN")
    c = command("pause", control.pause, "pause a profile: its drops queue until it is resumed")
    c.add_argument("profile", type=_profile_name)
    c = command("resume", control.resume, "resume a paused profile and start its queued drop")
    c.add_argument("profile", type=_profile_name)
    c = command("stop", control.stop, "stop a running round: its tuning job, or its incumbents before it")
    c.add_argument("profile", type=_profile_name)
    c.add_argument("seq", type=_seq, metavar="SEQ")
    c = command("retry", control.retry, "re-run a failed drop (a new version of its manifest)")
    c.add_argument("profile", type=_profile_name)
    c.add_argument("drop", metavar="DROP")
    c.add_argument(
        "--wait", type=_positive, default=0.0, metavar="SECONDS", help="wait for StartRound's verdict"
    )
    c = command("redrive", redrive.redrive, "replay the events parked on on-failure and dead-letter queues")
    c.add_argument("--dry-run", action="store_true", help="list them, replay nothing")
    c.add_argument(
        "--max", type=int, default=1000, metavar="N", help="replay at most N events (default 1000)"
    )
    c = command("drop", upload.drop, "upload a drop: the manifest's files, then the manifest")
    c.add_argument("profile", type=_profile_name)
    c.add_argument("dir", metavar="DIR", help="a folder with manifest.json and the files it lists")
    c.add_argument("--drop-id", metavar="ID", help="the drop's id (default: the folder's name)")
    c = command(
        "track", track.track, "mirror rounds and trials into MLflow: --resync rebuilds them from the table"
    )
    c.add_argument("profile", nargs="?", type=_profile_name, help="one profile (default: every profile)")
    c.add_argument(
        "--resync",
        action="store_true",
        help="rebuild the runs from the table (what the stream parked or never had); runs that exist are completed",
    )
    c.add_argument(
        "--tracking-server",
        metavar="ARN|URI",
        help="the MLflow tracking server (default: the stack's TrackingServer output, or RETUNE_TRACKING_SERVER)",
    )
    c = command("profile", lambda ctx: 0, "tuning profiles")
    actions = c.add_subparsers(dest="action", metavar="ACTION", required=True)
    v = actions.add_parser(
        "validate",
        parents=common,
        help="check a profile file; errors name the field and the fix",
        description="check a profile file as StartRound would; errors name the field and the fix",
    )
    v.set_defaults(run=profiles.validate)
    v.add_argument("file", metavar="FILE")
    v.add_argument("--name", help="its name in the bucket (default: the file's name without .json)")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    from botocore.exceptions import BotoCoreError, ClientError  # noqa: PLC0415
    from retune.errors import RetuneError  # noqa: PLC0415

    from retune_cli.context import Context  # noqa: PLC0415

    # Powertools' idempotency (the alerts) asks for a Lambda context to time out an interrupted publish; a
    # command has none, and its publish is not interrupted by Lambda's clock.
    warnings.filterwarnings("ignore", message="Couldn't determine the remaining time left")
    try:
        args = parser().parse_args(argv)
    except SystemExit as exc:  # argparse: 0 after --help, 2 after its one-line usage error
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    try:
        return int(args.run(Context(args)))
    except CliError as exc:
        return _fail(str(exc), exc.exit_code)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        return _fail(f"{exc.operation_name}: {error.get('Code')}: {error.get('Message')}")
    except (RetuneError, BotoCoreError) as exc:
        return _fail(str(exc))
    except BrokenPipeError:
        # The reader went away (`retune rounds x | head`): not an error worth a word.
        sys.stderr.close()
        return EXIT_FAILED
    except KeyboardInterrupt:
        return _fail("interrupted", 130)
    except Exception as exc:  # noqa: BLE001 - the last line of defence: one line, not a traceback
        return _fail(f"internal error: {type(exc).__name__}: {exc} (RETUNE_DEBUG=1 shows where)")


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    if os.environ.get("RETUNE_DEBUG"):
        traceback.print_exc()
    print(f"retune: error: {' '.join(message.split())}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())

__all__ = ["EXIT_USAGE", "main", "parser"]
