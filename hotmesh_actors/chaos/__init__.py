"""The chaos kit: run your own graph and workers in several processes, SIGKILL them at random, and count
what was lost and which step's effect happened twice.

    report = await run_chaos(ChaosPlan(graph="graphs/order.yaml", workers="myapp.workers:WORKERS"))

or from a shell, `hotmesh chaos --graph graphs/order.yaml --workers myapp.workers:WORKERS`. Inside a
worker, `record_effect(msg)` / `effect_statements(msg)` mark where its own effect happens (no-ops outside a
chaos run). docs/testing.md is the guide.
"""

from __future__ import annotations

from hotmesh_actors.chaos.effects import effect_statements, load_workers, record_effect
from hotmesh_actors.chaos.fleet import Crash, FleetStartError
from hotmesh_actors.chaos.run import ChaosPlan, ChaosReport, run_chaos
from hotmesh_actors.store.chaos import DoubledStep

__all__ = ["ChaosPlan", "ChaosReport", "Crash", "DoubledStep", "FleetStartError", "effect_statements",
           "load_workers", "record_effect", "run_chaos"]
