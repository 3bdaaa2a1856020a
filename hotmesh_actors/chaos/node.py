"""One process of a chaos run: a HotMesh (engine + the user's workers, each wrapped to fill the effect log)
serving until it is killed or interrupted.

    python -m hotmesh_actors.chaos.node --dsn DSN --app APP --workers MODULE:ATTR --run-id RUN [--lease S]

It writes `ready` on standard output once its mesh is open (the fleet waits for that line), and its log
records (level from HMSH_LOGLEVEL, default warn) on standard error. This is a program, not library code:
`run_chaos` starts it; nothing else should need to.
"""

from __future__ import annotations

import argparse
import logging
import sys

import trio

from hotmesh_actors.chaos.effects import activate, deactivate, load_workers, with_effect_log
from hotmesh_actors.chaos.fleet import READY_LINE
from hotmesh_actors.logs import LIBRARY_LOGGER
from hotmesh_actors.mesh.hotmesh import HotMesh
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.chaos import EffectLog
from hotmesh_actors.store.driver import Database


def node_settings(lease_s: float) -> Settings:
    """A chaos node's settings: short leases (a killed node's claims come back within `lease_s`), a 1 s
    fallback poll and timer fidelity; every other HMSH_* variable is honoured."""
    return Settings.from_env(reservation_timeout_s=lease_s, fallback_poll_s=1.0, fidelity_seconds=1.0, pool_size=6)


async def serve(dsn: str, app_id: str, workers_spec: str, run_id: str, lease_s: float) -> None:
    """Serve the app with the wrapped workers until cancelled."""
    log = EffectLog(app_id, run_id)
    async with Database.open(dsn, pool_size=2) as effects_db:
        activate(log, effects_db)
        try:
            workers = [with_effect_log(worker, log, effects_db) for worker in load_workers(workers_spec)]
            async with HotMesh.open(app_id=app_id, dsn=dsn, workers=workers, settings=node_settings(lease_s)):
                sys.stdout.write(READY_LINE + "\n")
                sys.stdout.flush()
                await trio.sleep_forever()
        finally:
            deactivate()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hotmesh_actors.chaos.node", description=__doc__)
    parser.add_argument("--dsn", required=True)
    parser.add_argument("--app", required=True)
    parser.add_argument("--workers", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--lease", type=float, default=3.0)
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    library = logging.getLogger(LIBRARY_LOGGER)
    library.addHandler(handler)
    library.setLevel(logging.WARNING)  # HMSH_LOGLEVEL, applied when the mesh opens, wins
    try:
        trio.run(serve, args.dsn, args.app, args.workers, args.run_id, args.lease)
    except KeyboardInterrupt:
        pass  # SIGINT is the fleet's clean stop
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
