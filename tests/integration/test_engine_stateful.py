"""Crash safety as a hypothesis state machine over the real engine step and a real store.

Hypothesis picks a graph from a family (sequence, parallel fan-out, cycle, hook + signal, await child, await child
beside a hook that keeps the parent running) and then
interleaves: delivering any live engine or worker message in any order, delivering duplicates of messages
already delivered, and crashing a step after its work but before COMMIT (engine or worker side), plus the
signal at any moment. Each delivery is the engine's or the worker's own handling, stepping the job through
the mesh's Stepper and store/steps.py (hotmesh_actors.testing.schedule drives them; only the choice of
message is the test's). At the end everything is drained, and the job must finish with the same status,
data and error as a crash-free run of the same graph, exactly one message must have closed it (its GUID
ledger's job-closed bit), a child must have notified its parent exactly once, and the semaphore must never
have dipped below zero.
"""

# ruff: noqa: E501  (the YAML family reads best one activity per line)
from __future__ import annotations

import os
from typing import Any

import pytest
import trio
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from hotmesh_actors import HotMesh, Settings, Worker
from hotmesh_actors.core.keys import job_key
from hotmesh_actors.core.ledger import GuidLedger
from hotmesh_actors.core.messages import StreamMessage
from hotmesh_actors.testing.schedule import Deliver, Duplicate, ScheduleOutcome, ScheduleRun, ScheduleRunner, SendSignal

APP = "stateful"
GRAPHS = ["st.seq", "st.par", "st.cycle", "st.hook", "st.await", "st.awaitwait"]

YAML = f"""
app:
  id: {APP}
  version: '1'
  graphs:
    - subscribes: st.seq
      expire: 0
      activities:
        t: {{type: trigger, job: {{maps: {{trail: start}}}}}}
        s1: {{type: worker, topic: st.work, job: {{maps: {{trail: {{'@pipe': [['{{$job.data.trail}}', '-', '{{$self.output.data.name}}'], ['{{@string.concat}}']]}}}}}}}}
        s2: {{type: worker, topic: st.work, job: {{maps: {{trail: {{'@pipe': [['{{$job.data.trail}}', '-', '{{$self.output.data.name}}'], ['{{@string.concat}}']]}}}}}}}}
        s3: {{type: worker, topic: st.work, job: {{maps: {{trail: {{'@pipe': [['{{$job.data.trail}}', '-', '{{$self.output.data.name}}'], ['{{@string.concat}}']]}}}}}}}}
      transitions:
        t: [{{to: s1}}]
        s1: [{{to: s2}}]
        s2: [{{to: s3}}]
    - subscribes: st.par
      expire: 0
      activities:
        pt: {{type: trigger}}
        p1: {{type: worker, topic: st.work, job: {{maps: {{p1: '{{$self.output.data.name}}'}}}}}}
        p2: {{type: worker, topic: st.work, job: {{maps: {{p2: '{{$self.output.data.name}}'}}}}}}
        p3: {{type: worker, topic: st.work, job: {{maps: {{p3: '{{$self.output.data.name}}'}}}}}}
      transitions:
        pt: [{{to: p1}}, {{to: p2}}, {{to: p3}}]
    - subscribes: st.cycle
      expire: 0
      activities:
        ct: {{type: trigger, job: {{maps: {{counter: 0}}}}}}
        pivot: {{type: hook}}
        inc:
          type: worker
          topic: st.work
          input: {{maps: {{n: '{{$job.data.counter}}'}}}}
          job: {{maps: {{counter: '{{$self.output.data.n}}'}}}}
        again: {{type: cycle, ancestor: pivot}}
        done: {{type: hook}}
      transitions:
        ct: [{{to: pivot}}]
        pivot: [{{to: inc}}]
        inc:
          - to: again
            conditions: {{match: [{{expected: true, actual: {{'@pipe': [['{{$job.data.counter}}', 3], ['{{@conditional.less_than}}']]}}}}]}}
          - to: done
            conditions: {{match: [{{expected: false, actual: {{'@pipe': [['{{$job.data.counter}}', 3], ['{{@conditional.less_than}}']]}}}}]}}
    - subscribes: st.hook
      expire: 0
      activities:
        ht: {{type: trigger}}
        waiter: {{type: hook, job: {{maps: {{got: '{{$self.hook.data.v}}'}}}}}}
        after: {{type: worker, topic: st.work, job: {{maps: {{after: '{{$self.output.data.name}}'}}}}}}
      transitions:
        ht: [{{to: waiter}}]
        waiter: [{{to: after}}]
      hooks:
        st.signal:
          - to: waiter
            conditions: {{match: [{{expected: '{{$job.metadata.jid}}', actual: '{{$self.hook.data.id}}'}}]}}
    - subscribes: st.await
      expire: 0
      activities:
        at: {{type: trigger}}
        call: {{type: await, topic: st.child, job: {{maps: {{child: '{{$self.output.data.cv}}'}}}}}}
      transitions:
        at: [{{to: call}}]
    - subscribes: st.awaitwait
      expire: 0
      activities:
        wt: {{type: trigger}}
        wcall: {{type: await, topic: st.child, job: {{maps: {{child: '{{$self.output.data.cv}}'}}}}}}
        wwait: {{type: hook, job: {{maps: {{got: '{{$self.hook.data.v}}'}}}}}}
      transitions:
        wt: [{{to: wcall}}, {{to: wwait}}]
      hooks:
        st.wsignal:
          - to: wwait
            conditions: {{match: [{{expected: '{{$job.metadata.jid}}', actual: '{{$self.hook.data.id}}'}}]}}
    - subscribes: st.child
      expire: 0
      activities:
        kt: {{type: trigger}}
        kw: {{type: worker, topic: st.work, job: {{maps: {{cv: '{{$self.output.data.name}}'}}}}}}
      transitions:
        kt: [{{to: kw}}]
"""


async def _callback(message: StreamMessage) -> dict[str, Any]:
    """A deterministic worker: names the activity, increments `n`."""
    n = message.data.get("n")
    return {"data": {"name": message.metadata.aid, "n": (n if isinstance(n, int) else 0) + 1}}


SIGNALS = {"st.hook": [("st.signal", lambda jid: {"id": jid, "v": "signalled"})],
           "st.awaitwait": [("st.wsignal", lambda jid: {"id": jid, "v": "signalled"})]}


def machine_for(runner: ScheduleRunner) -> type[RuleBasedStateMachine]:
    """A state machine whose rules drive `runner` (from a thread: trio.from_thread calls into the test's run)."""
    references: dict[str, ScheduleOutcome] = {}

    def call(fn: Any, *args: Any) -> Any:
        return trio.from_thread.run(fn, *args)

    class EngineCrashMachine(RuleBasedStateMachine):
        """See the module docstring."""

        def __init__(self) -> None:
            super().__init__()
            self.topic = ""
            self.run: ScheduleRun | None = None

        @initialize(topic=st.sampled_from(GRAPHS))
        def start(self, topic: str) -> None:
            self.topic = topic
            if topic not in references:
                references[topic] = call(lambda: runner.reference(topic, {}, signals=SIGNALS.get(topic, ())))
            self.run = call(lambda: runner.begin(topic, {}, signals=SIGNALS.get(topic, ())))

        @rule(index=st.integers(min_value=0, max_value=50), crash=st.booleans())
        def deliver_engine(self, index: int, crash: bool) -> None:
            assert self.run is not None
            call(self.run.apply, Deliver("engine", index, crash))

        @rule(index=st.integers(min_value=0, max_value=50), crash=st.booleans())
        def deliver_worker(self, index: int, crash: bool) -> None:
            assert self.run is not None
            call(self.run.apply, Deliver("worker", index, crash))

        @rule(index=st.integers(min_value=0, max_value=50), now=st.booleans())
        def redeliver_a_processed_message(self, index: int, now: bool) -> None:
            assert self.run is not None
            call(self.run.apply, Duplicate(index, now))

        @precondition(lambda self: self.run is not None and bool(self.run.signals))
        @rule()
        def send_signal(self) -> None:
            assert self.run is not None
            call(self.run.apply, SendSignal())

        @invariant()
        def semaphore_never_below_zero(self) -> None:
            if self.run is not None:
                assert call(runner.mesh.get_status, self.run.job_id) >= 0

        def teardown(self) -> None:
            if self.run is None:
                return
            outcome = call(self.run.finish)
            assert outcome.result == references[self.topic].result
            job = call(runner.mesh.jobs.load, job_key(runner.mesh.app_id, self.run.job_id))
            closed = [guid for guid, value in job.ledgers.items() if GuidLedger(value).job_closed]
            assert len(closed) == 1, "exactly one message closed the job and ran its completion tasks"
            results = {row.message for row in runner.delivered
                       if row.msg_type == "result" and row.jid == self.run.job_id}
            assert len(results) == (1 if self.topic in ("st.await", "st.awaitwait") else 0), \
                "a child notifies its parent once"

    return EngineCrashMachine


@pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
async def test_engine_survives_crashes_duplicates_and_any_delivery_order(pg_dsn: str) -> None:
    examples = int(os.environ.get("HOTMESH_STATEFUL_EXAMPLES", "100"))
    async with HotMesh.open(app_id=APP, dsn=pg_dsn, engine=False, settings=Settings(fidelity_seconds=1)) as mesh:
        await mesh.deploy(YAML)
        await mesh.activate("1")
        runner = ScheduleRunner(mesh, [Worker("st.work", _callback)])
        machine = machine_for(runner)
        await trio.to_thread.run_sync(lambda: run_state_machine_as_test(
            machine, settings=settings(max_examples=examples, stateful_step_count=25, deadline=None,
                                       suppress_health_check=list(HealthCheck))))
