"""`python -m retune_local`: the local stand-ins' commands.

    python -m retune_local serve --endpoints-file out/local/endpoints.json --event-log out/local/events.jsonl \\
        [--state-dir DIR] [--image NAME=COMMAND ...] [--preload NAME=MOD,MOD ...]
        the whole local stack (moto, the local SageMaker, the router and the functions) in the foreground
    python -m retune_local invoke StartRoundFunction --event events/start_round/drop_ready.json \\
        [--env-vars events/env.json] [--endpoints-file out/local/endpoints.json]
        the no-Docker stand-in for `sam local invoke`
    python -m retune_local sagemaker --state-dir .retune-local --aws-endpoint http://127.0.0.1:5000 \\
        --image retune-xgb='python trainers/xgb.py train' --preload retune-xgb=numpy,pandas,xgboost
        the local SageMaker alone; prints its endpoint URL on its first line
"""

from __future__ import annotations

import argparse
import json
import shlex
import signal
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from retune_local.api import LocalSageMaker, default_state_dir
from retune_local.http import SageMakerHTTPServer
from retune_local.images import DEFAULT_SECONDS_PER_EPOCH, ImageSpec


def _pairs(values: Sequence[str], option: str) -> dict[str, str]:
    pairs = {}
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name:
            raise SystemExit(f"{option} takes NAME=VALUE, got {value!r}")
        pairs[name] = rest
    return pairs


def _images(args: argparse.Namespace) -> dict[str, ImageSpec]:
    commands = _pairs(args.image, "--image")
    preloads = _pairs(args.preload, "--preload")
    speeds = _pairs(args.seconds_per_epoch, "--seconds-per-epoch")
    images = {}
    for name, command in commands.items():
        argv = shlex.split(command)
        if argv and argv[0] in ("python", "python3"):
            argv[0] = sys.executable  # the venv's interpreter, which has the trainers' packages
        # Jobs run in their own directory: files named relative to here are made absolute.
        argv = [argv[0], *(str(Path(a).resolve()) if Path(a).is_file() else a for a in argv[1:])]
        preload = tuple(m for m in preloads.get(name, "").split(",") if m)
        spe = float(speeds.get(name, DEFAULT_SECONDS_PER_EPOCH))
        images[name] = ImageSpec(argv=tuple(argv), preload=preload, seconds_per_epoch=spe)
    return images


def _clients(endpoint: str | None, region: str) -> tuple[Any, Any, Any]:
    if endpoint is None:
        return None, None, None
    import boto3  # noqa: PLC0415

    options: dict[str, Any] = {
        "endpoint_url": endpoint,
        "region_name": region,
        "aws_access_key_id": "local",
        "aws_secret_access_key": "local",
    }
    return (
        boto3.client("s3", **options),
        boto3.client("cloudwatch", **options),
        boto3.client("logs", **options),
    )


def serve(args: argparse.Namespace) -> int:
    s3, cloudwatch, logs = _clients(args.aws_endpoint, args.region)
    sink = None
    events_file = None
    if args.events:
        events_file = Path(args.events).open("a", buffering=1)  # noqa: SIM115 - open for the server's lifetime

        def sink(event: dict[str, Any]) -> None:
            assert events_file is not None
            events_file.write(json.dumps(event) + "\n")

    service = LocalSageMaker(
        args.state_dir,
        _images(args),
        sink=sink,
        s3=s3,
        cloudwatch=cloudwatch,
        logs=logs,
        deterministic=not args.real_time,
        max_concurrent_tuning_jobs=args.max_concurrent_tuning_jobs,
        region=args.region,
        warm=not args.cold,
    )
    server = SageMakerHTTPServer(service, args.host, args.port).start()
    print(server.url, flush=True)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    stop.wait()
    server.stop()
    service.close()
    if events_file is not None:
        events_file.close()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    from retune_local import cli  # noqa: PLC0415 (the stack's imports are heavier than the service's)

    images = argparse.ArgumentParser(add_help=False)
    images.add_argument(
        "--image", action="append", default=[], metavar="NAME=COMMAND", help="a training image's command"
    )
    images.add_argument(
        "--preload", action="append", default=[], metavar="NAME=MOD,MOD", help="modules to preload"
    )
    images.add_argument("--seconds-per-epoch", action="append", default=[], metavar="NAME=SECONDS")
    parser = argparse.ArgumentParser(prog="python -m retune_local", description="retune's local stand-ins")
    commands = parser.add_subparsers(dest="command", required=True)
    cli.add_commands(commands, parents=[images])
    run = commands.add_parser("sagemaker", parents=[images], help="serve the SageMaker JSON API on 127.0.0.1")
    run.add_argument("--state-dir", type=Path, default=default_state_dir())
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=0, help="0 picks a free port")
    run.add_argument("--aws-endpoint", help="moto server URL for S3 and CloudWatch")
    run.add_argument("--region", default="us-east-1")
    run.add_argument("--events", help="append every EventBridge event to this JSON-lines file")
    run.add_argument("--real-time", action="store_true", help="real-time mode instead of deterministic")
    run.add_argument("--cold", action="store_true", help="no warm runner: a fresh process per job")
    run.add_argument("--max-concurrent-tuning-jobs", type=int, default=100)
    args = parser.parse_args(argv)
    if args.command == "serve":
        return cli.serve(args, _images(args))
    if args.command == "invoke":
        return cli.invoke(args, _images(args))
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
