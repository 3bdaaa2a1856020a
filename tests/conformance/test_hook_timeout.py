"""Conformance with HotMesh's tests/functional/hook-timeout: a hook with both `sleep` and a signal.

Whichever Leg 2 comes first wins (SPEC §2.7): a signal disarms the timer, a timer that fires deletes the
signal registration, and the job completes exactly once. `sleep` may be a pipe; one that resolves to
nothing (null, ≤ 0) arms no timer, leaving a plain web hook.
"""

from __future__ import annotations

from typing import Any

import trio

from tests.integration.activities_kit import Recorder, app_yaml, registry, stream_rows
from tests.integration.conformance_kit import deploy_and_activate, keep_stream_history, open_mesh, wait_until

JSON = Any

GRAPHS = """
- subscribes: gate.static
  publishes: gate.static.done
  expire: 60
  activities:
    static_start:
      type: trigger
      stats:
        id: '{$self.input.data.job_id}'
      job:
        maps:
          signaled: false
    static_wait:
      type: hook
      sleep: '{static_start.output.data.seconds}'
      hook:
        type: object
        properties:
          done:
            type: boolean
      job:
        maps:
          signaled:
            '@pipe':
              - ['{$self.hook.data.done}', false]
              - ['{@conditional.nullish}']
          note:
            '@pipe':
              - ['{$self.hook.data.note}', 'timed out']
              - ['{@conditional.nullish}']
    static_end:
      type: hook
  transitions:
    static_start:
      - to: static_wait
    static_wait:
      - to: static_end
  hooks:
    gate.static.open:
      - to: static_wait
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'

- subscribes: gate.fixed
  publishes: gate.fixed.done
  expire: 60
  activities:
    fixed_start:
      type: trigger
      stats:
        id: '{$self.input.data.job_id}'
      job:
        maps:
          signaled: false
    fixed_wait:
      type: hook
      sleep: 1
      hook:
        type: object
        properties:
          done:
            type: boolean
      job:
        maps:
          signaled:
            '@pipe':
              - ['{$self.hook.data.done}', false]
              - ['{@conditional.nullish}']
  transitions:
    fixed_start:
      - to: fixed_wait
  hooks:
    gate.fixed.open:
      - to: fixed_wait
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'

- subscribes: gate.dynamic
  publishes: gate.dynamic.done
  expire: 60
  activities:
    dynamic_start:
      type: trigger
      stats:
        id: '{$self.input.data.job_id}'
      job:
        maps:
          signaled: false
    dynamic_wait:
      type: hook
      sleep:
        '@pipe':
          - ['{dynamic_start.output.data.timeout}']
      hook:
        type: object
        properties:
          done:
            type: boolean
      job:
        maps:
          signaled:
            '@pipe':
              - ['{$self.hook.data.done}', false]
              - ['{@conditional.nullish}']
          note:
            '@pipe':
              - ['{$self.hook.data.note}', 'timed out']
              - ['{@conditional.nullish}']
  transitions:
    dynamic_start:
      - to: dynamic_wait
  hooks:
    gate.dynamic.open:
      - to: dynamic_wait
        conditions:
          match:
            - expected: '{$job.metadata.jid}'
              actual: '{$self.hook.data.id}'
"""

BOUND_S = 20.0
"""A generous upper bound for a 1-2 s timer at 1 s fidelity on a loaded machine."""


async def _registered(mesh: Any, topic: str, jid: str) -> None:
    async def holds() -> bool:
        value = (await registry(mesh)).get(f"signals:{topic}:{jid}")
        return value is not None and not value.startswith("$pending::")

    await wait_until(holds, timeout=BOUND_S, what=f"hook registration of {jid}")


async def _timers(mesh: Any, jid: str) -> list[Any]:
    """The job's timer rows, live and removed (a timer that fired and was consumed, or was disarmed, is
    deleted: `removed_at` says when; the test installed `keep_stream_history` before the traffic)."""
    return await stream_rows(mesh, "engine", "jid = $1 AND msg_type = 'timehook'", jid, removed=True)


async def _run(mesh: Any, publishes: str, jid: str) -> Recorder:
    recorder = Recorder()
    await mesh.sub(f"{publishes}.{jid}", recorder)
    return recorder


async def test_signal_before_the_timeout_wins_and_disarms_the_timer(pg_dsn: str, app_id: str) -> None:
    """HotMesh 'completes with signal data when signal arrives before timeout': the job's data holds the
    signal's values, and the timer it armed is disarmed (its row removed, undelivered, long before its due
    time) rather than left to fire."""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await keep_stream_history(mesh)
        await deploy_and_activate(mesh, app_yaml(app_id, GRAPHS), "1")
        seen = await _run(mesh, "gate.static.done", "sig-first")
        await mesh.pub("gate.static", {"job_id": "sig-first", "seconds": 30})
        await _registered(mesh, "gate.static.open", "sig-first")
        await mesh.signal("gate.static.open", {"id": "sig-first", "done": True, "note": "signal-arrived"})
        (_topic, output), = await seen.wait_count(1, timeout=BOUND_S)
        assert output["data"]["signaled"] is True
        assert output["data"]["note"] == "signal-arrived"
        timers = await _timers(mesh, "sig-first")
        assert len(timers) == 1 and timers[0]["removed_at"] is not None and timers[0]["due_in_s"] > 20
        assert timers[0]["reserved_at"] is None and timers[0]["dead_lettered_at"] is None  # never delivered


async def test_timeout_fires_when_no_signal_comes(pg_dsn: str, app_id: str) -> None:
    """HotMesh 'completes with timeout indicator when no signal arrives' (static `sleep`): the timer
    fires, the job completes with the defaults, and the hook's signal registration is gone."""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, GRAPHS), "1")
        seen = await _run(mesh, "gate.fixed.done", "no-signal")
        await mesh.pub("gate.fixed", {"job_id": "no-signal"})
        (_topic, output), = await seen.wait_count(1, timeout=BOUND_S)
        assert output["data"]["signaled"] is False
        assert "signals:gate.fixed.open:no-signal" not in await registry(mesh)


async def test_exactly_one_path_completes_when_signal_and_timer_are_close(pg_dsn: str, app_id: str) -> None:
    """HotMesh 'exactly one path completes when signal and timeout are close': a signal sent just before
    a 1 s timer is due wins, and after the timer's due time has long passed the job has still published
    its completion exactly once."""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await keep_stream_history(mesh)
        await deploy_and_activate(mesh, app_yaml(app_id, GRAPHS), "1")
        seen = await _run(mesh, "gate.static.done", "race")
        await mesh.pub("gate.static", {"job_id": "race", "seconds": 1})
        await _registered(mesh, "gate.static.open", "race")
        await mesh.signal("gate.static.open", {"id": "race", "done": True, "note": "race-signal"})
        await seen.wait_count(1, timeout=BOUND_S)
        timers = await _timers(mesh, "race")
        assert len(timers) == 1

        async def timer_settled() -> bool:  # fired-and-refused or disarmed: either way its row is removed
            rows = await _timers(mesh, "race")
            return rows[0]["removed_at"] is not None

        await wait_until(timer_settled, timeout=BOUND_S, what="the timer row to be settled")
        await trio.sleep(2.5)  # past the due time plus fidelity: a second completion would have arrived
        assert len(seen.seen) == 1
        output = seen.seen[0][1]
        assert output["data"]["signaled"] is True
        assert output["data"]["note"] == "race-signal"
        assert output["metadata"]["js"] == 0


async def test_dynamic_sleep_resolving_to_null_is_a_web_hook_only(pg_dsn: str, app_id: str) -> None:
    """HotMesh 'completes via signal when sleep resolves to null': no timer is armed at all, and the
    signal resumes the job with its data."""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await keep_stream_history(mesh)  # so "no timer" also covers one armed and removed already
        await deploy_and_activate(mesh, app_yaml(app_id, GRAPHS), "1")
        seen = await _run(mesh, "gate.dynamic.done", "dyn-null")
        await mesh.pub("gate.dynamic", {"job_id": "dyn-null"})
        await _registered(mesh, "gate.dynamic.open", "dyn-null")
        assert await _timers(mesh, "dyn-null") == []
        await mesh.signal("gate.dynamic.open", {"id": "dyn-null", "done": True, "note": "no-timeout-signal"})
        (_topic, output), = await seen.wait_count(1, timeout=BOUND_S)
        assert output["data"]["signaled"] is True
        assert output["data"]["note"] == "no-timeout-signal"


async def test_dynamic_sleep_resolving_to_a_number_times_out(pg_dsn: str, app_id: str) -> None:
    """HotMesh 'completes via timeout when sleep resolves to a number': the pipe's value arms the timer,
    which fires with no signal; the defaults apply."""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await keep_stream_history(mesh)
        await deploy_and_activate(mesh, app_yaml(app_id, GRAPHS), "1")
        seen = await _run(mesh, "gate.dynamic.done", "dyn-2s")
        await mesh.pub("gate.dynamic", {"job_id": "dyn-2s", "timeout": 2})
        (_topic, output), = await seen.wait_count(1, timeout=BOUND_S)
        assert output["data"]["signaled"] is False
        assert output["data"]["note"] == "timed out"
        [timer] = await _timers(mesh, "dyn-2s")  # the one timer the pipe's value armed …
        assert timer["delay_s"] >= 2.0
        assert timer["removed_at"] is not None and timer["removed_at"] >= timer["visible_at"]  # … consumed when due


async def test_dynamic_sleep_signal_first_wins(pg_dsn: str, app_id: str) -> None:
    """HotMesh 'signal wins when sleep resolves to a number and signal arrives first'."""
    async with open_mesh(app_id, pg_dsn) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, GRAPHS), "1")
        seen = await _run(mesh, "gate.dynamic.done", "dyn-sig")
        await mesh.pub("gate.dynamic", {"job_id": "dyn-sig", "timeout": 30})
        await _registered(mesh, "gate.dynamic.open", "dyn-sig")
        await mesh.signal("gate.dynamic.open", {"id": "dyn-sig", "done": True, "note": "beat-the-clock"})
        (_topic, output), = await seen.wait_count(1, timeout=BOUND_S)
        assert output["data"]["signaled"] is True
        assert output["data"]["note"] == "beat-the-clock"


async def test_static_timeout_fires_on_time_with_default_settings(pg_dsn: str, app_id: str) -> None:
    """HotMesh's timeout graph under the default engine settings (5 s fidelity, 30 s fallback poll): a
    timer armed by `pub` itself reaches an engine when due, not at the next fallback poll."""
    from hotmesh_actors.settings import Settings

    async with open_mesh(app_id, pg_dsn, settings=Settings()) as mesh:
        await deploy_and_activate(mesh, app_yaml(app_id, GRAPHS), "1")
        seen = await _run(mesh, "gate.fixed.done", "defaults")
        await mesh.pub("gate.fixed", {"job_id": "defaults"})
        (_topic, output), = await seen.wait_count(1, timeout=25)  # 1 s + ≤ 5 s fidelity, well under 30 s
        assert output["data"]["signaled"] is False
