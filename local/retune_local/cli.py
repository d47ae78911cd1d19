"""The local stack's commands: `serve` (the whole stack in the foreground) and `invoke` (the no-Docker stand-in for
`sam local invoke`). See docs/local-mode.md."""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from retune_local.images import ImageSpec
from retune_local.lambda_runtime import FunctionRuntime
from retune_local.snapshot import StateError
from retune_local.stack import Endpoints, LocalStack, function_environment, tracking_available
from retune_local.template import functions, load_template


def read_env_vars(path: str | None) -> dict[str, dict[str, str]]:
    """`env.json` as `sam local invoke --env-vars` takes it: {"Parameters": {...}, "<LogicalId>": {...}}."""
    if not path:
        return {}
    data = json.loads(Path(path).read_text())
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise SystemExit(f'{path}: expected {{"Parameters": {{...}}, "<LogicalId>": {{...}}}}')
    return {k: {n: str(v) for n, v in vars_.items()} for k, vars_ in data.items()}


def stack_images(images: dict[str, ImageSpec]) -> dict[str, ImageSpec]:
    """The images `serve` maps: those given (--image) over the defaults (the sequence trainer, demo.serve_images)."""
    from retune_local.demo import serve_images  # noqa: PLC0415 (the demo's module reads the market data's modules)

    return {**serve_images(), **images}


def serve(args: argparse.Namespace, images: dict[str, ImageSpec]) -> int:
    images = stack_images(images)
    stop = threading.Event()
    fire = threading.Event()

    def ending(*_: object) -> None:
        stop.set()
        fire.set()  # wakes the loop below at once

    signal.signal(signal.SIGINT, ending)
    signal.signal(signal.SIGTERM, ending)
    signal.signal(signal.SIGUSR1, lambda *_: fire.set())  # fire the schedules now
    state_dir = Path(args.state_dir or tempfile.mkdtemp(prefix="retune-local-"))
    stack = LocalStack(
        state_dir,
        images,
        event_log=Path(args.event_log) if args.event_log else None,
        env_overrides=read_env_vars(args.env_vars),
        deterministic=not args.real_time,
        # A state directory of one's own is kept across restarts: moto's state is saved there when serve ends
        # (Ctrl-C, SIGTERM) and restored on the next start, beside the local SageMaker's.
        persist=args.state_dir is not None,
        tracking=tracking_available() if args.tracking is None else args.tracking,
    )
    try:
        with stack:
            stack.write_endpoints(Path(args.endpoints_file))
            assert stack.endpoints is not None
            print(
                json.dumps(
                    {
                        "ready": True,
                        "endpoints_file": args.endpoints_file,
                        **stack.endpoints.as_json()["endpoints"],
                    }
                ),
                flush=True,
            )
            while not stop.is_set():
                # Wakes on a signal (SIGUSR1: fire now) or when the schedule's period has passed.
                fire.wait(timeout=args.schedule_seconds)
                if stop.is_set():
                    break
                fire.clear()
                assert stack.router is not None
                stack.router.fire_schedule()
    except StateError as exc:
        raise SystemExit(f"retune_local serve: {exc}") from exc
    return 0


def invoke(args: argparse.Namespace, images: dict[str, ImageSpec]) -> int:
    event = json.loads(Path(args.event).read_text())
    overrides = read_env_vars(args.env_vars)
    if args.endpoints_file:
        endpoints = Endpoints.read(Path(args.endpoints_file))
        template = load_template()
        specs = functions(template, endpoints.resolver(template))
        spec = _spec(specs, args.logical_id)
        runtime = FunctionRuntime(
            spec,
            function_environment(
                spec, endpoints, overrides, endpoints.resources.get(spec.logical_id, spec.logical_id)
            ),
        )
        try:
            outcome = runtime.invoke_sync(event)
        finally:
            runtime.close()
    else:
        with LocalStack(
            Path(tempfile.mkdtemp(prefix="retune-invoke-")), images, env_overrides=overrides
        ) as stack:
            outcome = stack.runtimes[_spec(stack.functions, args.logical_id).logical_id].invoke_sync(event)
    if outcome.ok:
        print(json.dumps(outcome.result, indent=2, default=str))
        return 0
    error: dict[str, Any] = outcome.error or {}
    print(
        json.dumps({"errorType": error.get("errorType"), "errorMessage": error.get("errorMessage")}, indent=2)
    )
    for line in error.get("stackTrace") or []:
        print(line, end="", file=sys.stderr)
    return 1


def _spec(specs: dict[str, Any], logical_id: str) -> Any:
    if logical_id not in specs:
        raise SystemExit(
            f"no function {logical_id!r} in template.yaml; functions: {', '.join(sorted(specs))}"
        )
    return specs[logical_id]


def add_commands(commands: Any, parents: list[argparse.ArgumentParser]) -> None:
    s = commands.add_parser("serve", parents=parents, help="run the local stack in the foreground")
    s.add_argument("--endpoints-file", required=True, help="written once the stack is ready")
    s.add_argument("--event-log", help="every routed event, one JSON object a line")
    s.add_argument(
        "--state-dir",
        help="where state lives, kept across restarts (default: a new temporary folder, not kept)",
    )
    s.add_argument("--env-vars", help="env.json overrides, as for sam local invoke")
    s.add_argument("--real-time", action="store_true", help="real time instead of the deterministic mode")
    s.add_argument(
        "--tracking",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="run MLflow's tracking server (.venv-tools/mlflow) on the state directory and feed it the state "
        "table's stream (default: on once template.yaml has a Track function and the mlflow venv exists; "
        "docs/local-mode.md, 'Tracking in MLflow, locally')",
    )
    s.add_argument(
        "--schedule-seconds",
        type=float,
        default=300.0,
        help="how often the scheduled rules fire (default 300; SIGUSR1 fires them now)",
    )
    i = commands.add_parser(
        "invoke", parents=parents, help="invoke one function with an event file (no Docker)"
    )
    i.add_argument("logical_id", help="the function's logical id in template.yaml, e.g. StartRoundFunction")
    i.add_argument("--event", required=True, help="an event file, e.g. events/start_round/drop_ready.json")
    i.add_argument("--env-vars", help="env.json overrides")
    i.add_argument("--endpoints-file", help="a running `serve`'s endpoints file (default: a fresh stack)")
