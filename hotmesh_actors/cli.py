"""The `hotmesh` command: run the demo, deploy/activate YAML, start jobs, read and steer them, serve workers,
and run the chaos kit.

Every command takes `--app` (default `orders`), `--dsn` (default HOTMESH_DSN, else the embedded Postgres)
and `--json` (one JSON document on standard output, errors included), before or after the command name.
Long operations (prune, chaos, deploying several files) draw a progress bar when standard error is a
terminal and stay quiet when it is piped. Library log records go to standard error at HMSH_LOGLEVEL
(default warn). Exit status: 0 done, 1 error (or a chaos run that lost or doubled something).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal as signals
import sys
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import trio

from hotmesh_actors.chaos import ChaosPlan, ChaosReport, load_workers, run_chaos
from hotmesh_actors.core.durations import parse_duration
from hotmesh_actors.errors import HotMeshError, InvalidArgumentError
from hotmesh_actors.logs import LIBRARY_LOGGER, LOG_LEVELS, check_log_level
from hotmesh_actors.mesh.hotmesh import HotMesh
from hotmesh_actors.mesh.worker import Worker
from hotmesh_actors.progress import ProgressBar
from hotmesh_actors.timeline import render_mermaid, render_svg

DEMO_GRAPH = resources.files("hotmesh_actors.demo").joinpath("order.yaml")  # shipped in the wheel
STOCK = {"item-123": 7, "item-456": 2}
DEFAULT_APP = "orders"

JSON = Any


class CommandFailed(Exception):
    """A command's own failure (not a library error): its message and the exit status to return."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


# -- the demo ---------------------------------------------------------------------------------------------


async def _check_inventory(msg: Any) -> dict[str, Any]:
    return {"data": {"availableQty": STOCK.get(msg.data["itemId"], 0)}}


async def _reserve_item(msg: Any) -> dict[str, Any]:
    return {"data": {"reservationId": f"res-{msg.data['itemId']}-{msg.data['quantity']}"}}


async def _notify_backorder(msg: Any) -> dict[str, Any]:
    return {"data": {"notified": True}}


DEMO_WORKERS = [Worker("inventory.check", _check_inventory), Worker("inventory.reserve", _reserve_item),
                Worker("inventory.backorder.notify", _notify_backorder)]
"""The demo's workers, importable (`hotmesh chaos --workers hotmesh_actors.cli:DEMO_WORKERS`)."""


async def demo(dsn: str | None) -> int:
    """Run the README's order flow twice: one order in stock, one back-ordered."""
    async with HotMesh.open(app_id="orders", dsn=dsn, workers=DEMO_WORKERS) as mesh:
        with resources.as_file(DEMO_GRAPH) as graph_path:  # a real file even when installed zipped
            await mesh.deploy(str(graph_path))
        await mesh.activate("1")
        for order in ({"itemId": "item-123", "requestedQty": 5}, {"itemId": "item-456", "requestedQty": 5}):
            output = await mesh.pubsub("order.requested", order, timeout=30)
            job_id = output["metadata"]["jid"]
            print(json.dumps({"order": order, "job_id": job_id, "result": output["data"]}))
            timeline = (await mesh.export(job_id))["timeline"]
            print("  steps:", " → ".join(event["activity_id"] for event in timeline if event["event"] == "entered"))
    return 0


# -- commands on an open mesh: each returns (JSON result, human-readable text) ------------------------------

Outcome = tuple[JSON, str]
MeshCommand = Callable[[HotMesh, argparse.Namespace], Awaitable[Outcome]]


def _data(raw: str, what: str = "data") -> dict[str, JSON]:
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as err:
        raise InvalidArgumentError(what, f"{what} must be a JSON object, e.g. '{{\"id\": 1}}': {err}") from None
    if not isinstance(value, dict):
        raise InvalidArgumentError(what, f"{what} must be a JSON object, not {type(value).__name__}")
    return value


def _pretty(value: JSON) -> str:
    return json.dumps(value, indent=2, default=str)


async def _deploy(mesh: HotMesh, args: argparse.Namespace) -> Outcome:
    deployed: list[dict[str, JSON]] = []
    with ProgressBar("deploy", total=len(args.paths), enabled=None if len(args.paths) > 1 else False) as bar:
        for path in args.paths:
            app = await mesh.deploy(path, strict=args.strict or None)
            deployed.append({"path": path, "app_id": app.app_id, "version": app.version,
                             "graphs": [graph.subscribes for graph in app.graphs],
                             "warnings": [str(warning) for warning in app.warnings]})
            bar.advance()
    lines = [f"deployed {item['app_id']} v{item['version']} from {item['path']} "
             f"(graphs: {', '.join(item['graphs'])}" + (f"; {len(item['warnings'])} warnings)" if item["warnings"]
                                                         else ")") for item in deployed]
    return {"deployed": deployed}, "\n".join(lines)


async def _activate(mesh: HotMesh, args: argparse.Namespace) -> Outcome:
    if not await mesh.activate(args.version):
        raise CommandFailed(f"version {args.version!r} of app {mesh.app_id!r} was never deployed: deploy it first")
    return {"activated": args.version}, f"activated {mesh.app_id} v{args.version}"


async def _pub(mesh: HotMesh, args: argparse.Namespace) -> Outcome:
    job_id = await mesh.pub(args.topic, _data(args.data), job_id=args.job_id)
    return {"job_id": job_id}, job_id


async def _pubsub(mesh: HotMesh, args: argparse.Namespace) -> Outcome:
    output = await mesh.pubsub(args.topic, _data(args.data), timeout=args.timeout, job_id=args.job_id)
    return output, _pretty(output)


def _status_word(status: int) -> str:
    if status > 0:
        return "running"
    if status == 0:
        return "completed"
    return "interrupted" if status < -100_000_000 else "pending"


async def _status(mesh: HotMesh, args: argparse.Namespace) -> Outcome:
    status = await mesh.get_status(args.job_id)
    return {"job_id": args.job_id, "status": status}, f"{args.job_id} {status} ({_status_word(status)})"


async def _state(mesh: HotMesh, args: argparse.Namespace) -> Outcome:
    state = await mesh.get_state(args.topic or "", args.job_id)
    return state, _pretty(state)


async def _raw(mesh: HotMesh, args: argparse.Namespace) -> Outcome:
    raw = await mesh.get_raw(args.job_id)
    return raw, "\n".join(f"{field}\t{value}" for field, value in sorted(raw.items()))


async def _query(mesh: HotMesh, args: argparse.Namespace) -> Outcome:
    found = await mesh.get_query_state(args.job_id, args.fields)
    return found, _pretty(found)


async def _export(mesh: HotMesh, args: argparse.Namespace) -> Outcome:
    export = await mesh.export(args.job_id)
    return export, _pretty(export)


async def _signal(mesh: HotMesh, args: argparse.Namespace) -> Outcome:
    guid = await mesh.signal(args.topic, _data(args.data))
    return {"signal": guid}, guid


async def _interrupt(mesh: HotMesh, args: argparse.Namespace) -> Outcome:
    await mesh.interrupt(args.topic, args.job_id, reason=args.reason)
    return {"interrupted": args.job_id}, f"interrupted {args.job_id}"


async def _scrub(mesh: HotMesh, args: argparse.Namespace) -> Outcome:
    await mesh.scrub(args.job_id)
    return {"scrubbed": args.job_id}, f"scrubbed {args.job_id}"


async def _prune(mesh: HotMesh, args: argparse.Namespace) -> Outcome:
    try:
        parse_duration(args.retention)  # refuse a bad duration before deleting anything
    except ValueError as err:
        raise InvalidArgumentError("retention", f"--retention: {err}") from None
    parts = [name for name, wanted in (("jobs", args.jobs), ("streams", args.streams), ("signals", args.signals))
             if wanted]
    counts = {"jobs": 0, "engine_streams": 0, "worker_streams": 0, "signals": 0}
    with ProgressBar("prune", total=len(parts)) as bar:
        for part in parts:  # one facade call per part, so the bar moves between them
            found = await mesh.prune(args.retention, jobs=part == "jobs", streams=part == "streams",
                                     signals=part == "signals")
            counts = {name: counts[name] + found.get(name, 0) for name in counts}
            bar.advance()
    return counts, "pruned " + ", ".join(f"{name} {value}" for name, value in counts.items())


MESH_COMMANDS: dict[str, MeshCommand] = {
    "deploy": _deploy, "activate": _activate, "pub": _pub, "pubsub": _pubsub, "status": _status,
    "state": _state, "raw": _raw, "query": _query, "export": _export, "signal": _signal,
    "interrupt": _interrupt, "scrub": _scrub, "prune": _prune,
}


async def _with_mesh(args: argparse.Namespace) -> int:
    # pubsub runs an engine here, so it completes even where no other process serves the app's engine
    async with HotMesh.open(app_id=_app(args), dsn=args.dsn, engine=args.command == "pubsub") as mesh:
        result, text = await MESH_COMMANDS[args.command](mesh, args)
    print(json.dumps(result, default=str) if args.json else text)
    return 0


# -- commands with a shape of their own --------------------------------------------------------------------


async def timeline(args: argparse.Namespace) -> int:
    """`hotmesh timeline JOB_ID`: draw the job as Mermaid (stdout, the default) or as an SVG file.

    `--svg FILE` writes the SVG (`--svg -` prints it); `--json` prints `{job_id, app, format, path | text}`
    instead, and on failure `{error: {type, message}}`. A live job's running bars reach the present.
    """
    fmt = "svg" if args.svg is not None else "mermaid"
    async with HotMesh.open(app_id=_app(args), dsn=args.dsn, engine=False) as mesh:
        export = await mesh.export(args.job_id)
    now = datetime.now(UTC)
    text = render_svg(export, now=now) if fmt == "svg" else render_mermaid(export, now=now)
    result: dict[str, Any] = {"job_id": args.job_id, "app": _app(args), "format": fmt}
    if fmt == "svg" and args.svg != "-":
        path = Path(args.svg)
        path.write_text(text, "utf-8")
        result["path"] = str(path.resolve())
        print(json.dumps(result) if args.json else result["path"])
    elif args.json:
        print(json.dumps({**result, "text": text}))
    else:
        sys.stdout.write(text)
    return 0


async def serve(args: argparse.Namespace) -> int:
    """`hotmesh serve --workers MODULE:ATTR`: run the app's engine and workers until SIGINT or SIGTERM."""
    workers = load_workers(args.workers) if args.workers else []
    with trio.open_signal_receiver(signals.SIGINT, signals.SIGTERM) as received:
        async with HotMesh.open(app_id=_app(args), dsn=args.dsn, workers=workers,
                                engine=not args.no_engine) as mesh:
            topics = [worker.topic for worker in workers]
            ready = {"serving": mesh.app_id, "guid": mesh.guid, "engine": mesh.engine is not None, "workers": topics}
            print(json.dumps(ready) if args.json else
                  f"serving {mesh.app_id}: {'engine, ' if mesh.engine is not None else ''}workers "
                  f"{', '.join(topics) or '(none)'}; SIGINT or SIGTERM stops", flush=True)
            async for signum in received:
                logging.getLogger("hotmesh_actors.cli").info("signal %d: stopping", signum,
                                                             extra={"app_id": mesh.app_id})
                break
    return 0


async def chaos(args: argparse.Namespace) -> int:
    """`hotmesh chaos`: the chaos kit on the user's graph and workers (see hotmesh_actors.chaos)."""
    plan = ChaosPlan(graph=args.graph, workers=args.workers, app_id=args.app, topic=args.topic,
                     data=_data(args.data), jobs=args.jobs, kills=args.kills, processes=args.processes,
                     seed=args.seed, kill_interval_s=args.interval, deadline_s=args.deadline, dsn=args.dsn,
                     log_dir=args.log_dir)
    with ProgressBar("jobs completed", total=args.jobs) as bar:
        report = await run_chaos(plan, progress=bar.update)
    print(json.dumps(report.to_json(), default=str, indent=None if args.json else 2))
    if not args.json:
        print(_verdict(report), file=sys.stderr)
    return 0 if report.ok else 1


def _verdict(report: ChaosReport) -> str:
    verdict = "OK" if report.ok else "FAILED"
    return (f"chaos {verdict}: {report.jobs_completed}/{report.jobs_started} jobs completed, {report.jobs_lost} "
            f"lost, {report.effects_doubled} steps with a doubled effect, {report.kills} kills, "
            f"{len(report.crashed)} crashed nodes, {report.seconds} s (seed {report.seed}; logs in "
            f"{report.log_dir})")


# -- the parser --------------------------------------------------------------------------------------------


def _app(args: argparse.Namespace) -> str:
    app: str | None = args.app
    return app or DEFAULT_APP


def _common_options(parser: argparse.ArgumentParser, *, top: bool) -> None:
    """`--app`, `--dsn`, `--json`; on a subcommand they default to what was given before its name."""
    default: Any = None if top else argparse.SUPPRESS
    parser.add_argument("--app", default=default, help=f"app id (default: {DEFAULT_APP}; chaos: the graph's)")
    parser.add_argument("--dsn", default=default, help="Postgres DSN (default: HOTMESH_DSN, else embedded)")
    parser.add_argument("--json", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="print one JSON document (errors too) instead of text")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotmesh", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    _common_options(parser, top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _common_options(sub, top=False)
        return sub

    command("demo", "run the order-flow demo")
    deploy = command("deploy", "compile and store YAML apps (a progress bar for several files)")
    deploy.add_argument("paths", nargs="+", metavar="PATH")
    deploy.add_argument("--strict", action="store_true", help="refuse keys HotMesh ignores instead of warning")
    command("activate", "activate a deployed version").add_argument("version")
    for name in ("pub", "pubsub"):
        sub = command(name, "start a job" if name == "pub" else "start a job and wait for its output")
        sub.add_argument("topic")
        sub.add_argument("data", nargs="?", default="{}", help="the job's input, a JSON object")
        sub.add_argument("--job-id", default=None)
        if name == "pubsub":
            sub.add_argument("--timeout", type=float, default=10.0)
    for name, help_text in (("status", "a job's status (semaphore)"), ("export", "a job's full export"),
                            ("raw", "every stored field of a job"), ("scrub", "delete a job and its state")):
        command(name, help_text).add_argument("job_id")
    state = command("state", "a job's {metadata, data}")
    state.add_argument("job_id")
    state.add_argument("--topic", default="")
    query = command("query", "a job's searchable fields")
    query.add_argument("job_id")
    query.add_argument("fields", nargs="+", metavar="FIELD")
    signal = command("signal", "signal a waiting hook")
    signal.add_argument("topic")
    signal.add_argument("data", help="the signal's payload, a JSON object")
    interrupt = command("interrupt", "interrupt a job")
    interrupt.add_argument("topic")
    interrupt.add_argument("job_id")
    interrupt.add_argument("--reason", default=None)
    prune = command("prune", "delete expired jobs, acked stream rows and expired signals")
    prune.add_argument("--retention", default="7 days", help="keep what expired less than this long ago")
    for part in ("jobs", "streams", "signals"):
        prune.add_argument(f"--no-{part}", dest=part, action="store_false", help=f"leave {part} alone")
    _add_timeline(command("timeline", "draw a job's timeline (Mermaid gantt by default, or SVG)"))
    serve_cmd = command("serve", "run the app's engine and workers until SIGINT/SIGTERM")
    serve_cmd.add_argument("--workers", metavar="MODULE:ATTR", default=None,
                           help="the Workers to serve (MODULE:ATTR or FILE.py:ATTR)")
    serve_cmd.add_argument("--no-engine", action="store_true", help="serve the workers only")
    _add_chaos(command("chaos", "run the chaos kit on your graph and workers (SIGKILLs processes)"))
    return parser


def _add_timeline(sub: argparse.ArgumentParser) -> None:
    sub.description = timeline.__doc__
    sub.add_argument("job_id")
    output = sub.add_mutually_exclusive_group()
    output.add_argument("--svg", metavar="FILE", default=None, help="write a standalone SVG to FILE ('-': stdout)")
    output.add_argument("--mermaid", action="store_true", help="print a Mermaid gantt (the default)")


def _add_chaos(sub: argparse.ArgumentParser) -> None:
    sub.add_argument("--graph", required=True, help="the YAML app to run")
    sub.add_argument("--workers", required=True, metavar="MODULE:ATTR", help="its Workers (or FILE.py:ATTR)")
    sub.add_argument("--jobs", type=int, default=100, help="jobs to start (100)")
    sub.add_argument("--kills", type=int, default=5, help="SIGKILLs to deliver (5)")
    sub.add_argument("--processes", type=int, default=3, help="node processes (3)")
    sub.add_argument("--seed", type=int, default=None, help="seed of the victims and kill times (random)")
    sub.add_argument("--topic", default=None, help="topic to publish on (the first graph's)")
    sub.add_argument("--data", default="{}", help="each job's input, a JSON object")
    sub.add_argument("--interval", type=float, default=2.0, help="seconds between kills, ±50%% (2)")
    sub.add_argument("--deadline", type=float, default=120.0,
                     help="seconds after the last job to wait for completion (120)")
    sub.add_argument("--log-dir", default=None, help="where node logs go (a new temporary directory)")


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]  # generic only in typeshed
    """The command's handler: writes to whatever sys.stderr is when a record comes (tests swap it)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def _configure_logging() -> None:
    """Library records to stderr, at HMSH_LOGLEVEL (default warn); once per process, however often main runs."""
    level = check_log_level(os.environ.get("HMSH_LOGLEVEL", "").strip() or "warn")
    library = logging.getLogger(LIBRARY_LOGGER)
    if not any(isinstance(handler, _StderrHandler) for handler in library.handlers):
        library.addHandler(_StderrHandler())
    library.setLevel(LOG_LEVELS[level])


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `hotmesh` and `python -m hotmesh_actors`."""
    args = build_parser().parse_args(argv)
    runners: dict[str, Callable[[argparse.Namespace], Awaitable[int]]] = {
        "timeline": timeline, "serve": serve, "chaos": chaos}
    try:
        _configure_logging()
        if args.command == "demo":
            return trio.run(demo, args.dsn)
        return trio.run(runners.get(args.command, _with_mesh), args)
    except (HotMeshError, CommandFailed) as err:
        status = err.status if isinstance(err, CommandFailed) else 1
        if args.json:
            failure: dict[str, JSON] = {"error": {"type": type(err).__name__, "message": str(err)}}
            if getattr(args, "job_id", None) is not None:
                failure["job_id"] = args.job_id
            print(json.dumps(failure))
        else:
            print(f"error: {err}", file=sys.stderr)
        return status
    except KeyboardInterrupt:
        return 130


__all__ = ["build_parser", "main"]
