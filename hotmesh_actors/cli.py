"""The `hotmesh` command: run the demo, deploy/activate YAML, start jobs, read and steer them.

Every command takes `--app` and `--dsn` (default: HOTMESH_DSN, else the embedded Postgres).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import trio

from hotmesh_actors.errors import HotMeshError
from hotmesh_actors.mesh.hotmesh import HotMesh
from hotmesh_actors.mesh.worker import Worker
from hotmesh_actors.timeline import render_mermaid, render_svg

DEMO_GRAPH = resources.files("hotmesh_actors.demo").joinpath("order.yaml")  # shipped in the wheel
STOCK = {"item-123": 7, "item-456": 2}


async def _check_inventory(msg: Any) -> dict[str, Any]:
    return {"data": {"availableQty": STOCK.get(msg.data["itemId"], 0)}}


async def _reserve_item(msg: Any) -> dict[str, Any]:
    return {"data": {"reservationId": f"res-{msg.data['itemId']}-{msg.data['quantity']}"}}


async def _notify_backorder(msg: Any) -> dict[str, Any]:
    return {"data": {"notified": True}}


async def demo(dsn: str | None) -> int:
    """Run the README's order flow twice: one order in stock, one back-ordered."""
    workers = [Worker("inventory.check", _check_inventory), Worker("inventory.reserve", _reserve_item),
               Worker("inventory.backorder.notify", _notify_backorder)]
    async with HotMesh.open(app_id="orders", dsn=dsn, workers=workers) as mesh:
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


async def _with_mesh(args: argparse.Namespace) -> int:
    async with HotMesh.open(app_id=args.app, dsn=args.dsn, engine=args.command == "pubsub") as mesh:
        result: object
        if args.command == "deploy":
            app = await mesh.deploy(args.path)
            result = {"app_id": app.app_id, "version": app.version, "graphs": [g.subscribes for g in app.graphs]}
        elif args.command == "activate":
            result = {"activated": await mesh.activate(args.version)}
        elif args.command == "pub":
            result = {"job_id": await mesh.pub(args.topic, json.loads(args.data))}
        elif args.command == "pubsub":
            result = await mesh.pubsub(args.topic, json.loads(args.data), timeout=args.timeout)
        elif args.command == "status":
            result = {"job_id": args.job_id, "status": await mesh.get_status(args.job_id)}
        elif args.command == "state":
            result = await mesh.get_state(args.topic or "", args.job_id)
        elif args.command == "export":
            result = await mesh.export(args.job_id)
        elif args.command == "signal":
            result = {"signal": await mesh.signal(args.topic, json.loads(args.data))}
        elif args.command == "interrupt":
            await mesh.interrupt(args.topic, args.job_id, reason=args.reason)
            result = {"interrupted": args.job_id}
        else:  # pragma: no cover - argparse restricts the choices
            raise AssertionError(args.command)
    print(json.dumps(result, indent=2, default=str))
    return 0


async def timeline(args: argparse.Namespace) -> int:
    """`hotmesh timeline JOB_ID`: draw the job as Mermaid (stdout, the default) or as an SVG file.

    `--svg FILE` writes the SVG (`--svg -` prints it); `--json` prints `{job_id, app, format, path | text}`
    instead, and on failure `{error: {type, message}}`. A live job's running bars reach the present.
    """
    fmt = "svg" if args.svg is not None else "mermaid"
    try:
        async with HotMesh.open(app_id=args.app, dsn=args.dsn, engine=False) as mesh:
            export = await mesh.export(args.job_id)
    except HotMeshError as err:
        if not args.json:
            raise
        print(json.dumps({"error": {"type": type(err).__name__, "message": str(err)}, "job_id": args.job_id}))
        return 1
    now = datetime.now(UTC)
    text = render_svg(export, now=now) if fmt == "svg" else render_mermaid(export, now=now)
    result: dict[str, Any] = {"job_id": args.job_id, "app": args.app, "format": fmt}
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


def _add_timeline(commands: Any) -> None:
    """The `timeline` subcommand; `--app`, `--dsn`, `--json` may follow it (they default to the global ones)."""
    sub = commands.add_parser("timeline", help="draw a job's timeline (Mermaid gantt by default, or SVG)",
                              description=timeline.__doc__)
    sub.add_argument("job_id")
    output = sub.add_mutually_exclusive_group()
    output.add_argument("--svg", metavar="FILE", default=None, help="write a standalone SVG to FILE ('-': stdout)")
    output.add_argument("--mermaid", action="store_true", help="print a Mermaid gantt (the default)")
    sub.add_argument("--app", default=argparse.SUPPRESS, help="app id (default: the global --app)")
    sub.add_argument("--dsn", default=argparse.SUPPRESS, help="Postgres DSN (default: the global --dsn)")
    sub.add_argument("--json", action="store_true", help="print a JSON object instead of the bare output")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="hotmesh", description=__doc__)
    parser.add_argument("--dsn", default=None, help="Postgres DSN (default: HOTMESH_DSN, else embedded)")
    parser.add_argument("--app", default="orders", help="app id (default: orders)")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the order-flow demo")
    commands.add_parser("deploy", help="compile and store a YAML app").add_argument("path")
    commands.add_parser("activate", help="activate a deployed version").add_argument("version")
    for name in ("pub", "pubsub"):
        sub = commands.add_parser(name, help=f"{name} a job")
        sub.add_argument("topic")
        sub.add_argument("data", nargs="?", default="{}")
        if name == "pubsub":
            sub.add_argument("--timeout", type=float, default=10.0)
    for name in ("status", "export"):
        commands.add_parser(name, help=f"job {name}").add_argument("job_id")
    state = commands.add_parser("state", help="job state")
    state.add_argument("job_id")
    state.add_argument("--topic", default="")
    signal = commands.add_parser("signal", help="signal a waiting hook")
    signal.add_argument("topic")
    signal.add_argument("data")
    interrupt = commands.add_parser("interrupt", help="interrupt a job")
    interrupt.add_argument("topic")
    interrupt.add_argument("job_id")
    interrupt.add_argument("--reason", default=None)
    _add_timeline(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of `hotmesh` and `python -m hotmesh_actors`."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            return trio.run(demo, args.dsn)
        if args.command == "timeline":
            return trio.run(timeline, args)
        return trio.run(_with_mesh, args)
    except HotMeshError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
