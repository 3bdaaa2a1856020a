"""The Engine actor: consumes the app's engine stream and hands each message to the Stepper.

What still travels on the engine stream is what cannot be decided where it arises: timers falling due,
signals (routed through the signal registry to the hook that waits), a parent's `await` (start the child),
a child's result to its parent, interrupts of other jobs, and replies of workers in processes without an
engine. A worker's reply in a process with an engine never comes here: its step runs in the worker's own
transaction (mesh/worker.py). Each message becomes a step of its job (mesh/stepper.py), which acks it in
the same transaction; the collation ledger refuses replays.
"""

from __future__ import annotations

import logging

import trio

from hotmesh_actors.actors import ThrottleGate
from hotmesh_actors.clock import system_env
from hotmesh_actors.core.activities.hook import signal_lookup
from hotmesh_actors.core.messages import MessageType
from hotmesh_actors.core.step import routed_signal
from hotmesh_actors.errors import NotActivatedError
from hotmesh_actors.mesh.consumer import ACKED, Acked, StreamConsumer, new_consumer_id
from hotmesh_actors.mesh.stepper import Inbound, Result, Stepper
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.apps import VersionCache
from hotmesh_actors.store.driver import Listener
from hotmesh_actors.store.jobs import JobStore, pending_ttl
from hotmesh_actors.store.steps import Ack
from hotmesh_actors.store.streams import ClaimedMessage, StreamKind

log = logging.getLogger("hotmesh_actors.mesh.engine")


class Engine(StreamConsumer):
    """Consumes one app's engine stream; see the module docstring."""

    def __init__(self, *, jobs: JobStore, versions: VersionCache, stepper: Stepper, settings: Settings,
                 listener: Listener | None = None, gate: ThrottleGate | None = None,
                 concurrency: int | None = None) -> None:
        super().__init__(store=jobs.engine_streams, stream_name=jobs.app_id, handler=self._handle_message,
                         settings=settings, listener=listener, gate=gate, concurrency=concurrency,
                         consumer_id=new_consumer_id("engine"), on_exhausted=self._park)
        self.jobs = jobs
        self.versions = versions
        self.stepper = stepper

    @property
    def app_id(self) -> str:
        return self.jobs.app_id

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Consume until stopped; before a version of the app is active, wait for one (started already)."""
        try:
            await self.versions.active()
        except NotActivatedError:
            task_status.started()
            task_status = trio.TASK_STATUS_IGNORED
            while not self.stopping:
                with self.cancel_on_stop(), trio.move_on_after(min(1.0, self.settings.fallback_poll_s)):
                    await self._wake.wait()
                self._wake = trio.Event()
                try:
                    await self.versions.refresh()
                    await self.versions.active()
                    break
                except NotActivatedError:
                    continue
        if not self.stopping:
            await super().run(task_status=task_status)

    async def _handle_message(self, claimed: ClaimedMessage) -> Acked:
        message = claimed.message
        ack = Ack(StreamKind.ENGINE, claimed.id, self.consumer_id)
        if message.type is MessageType.AWAIT:
            result = await self.stepper.start_child(message, ack)
            return Acked.LOST if result is Result.LOST else ACKED
        inbound = Inbound(message=message, ack=ack)
        if message.type is MessageType.WEBHOOK and not message.metadata.jid:
            app = await self.versions.active()
            key = signal_lookup(app, system_env(self.settings.fidelity_seconds), message.metadata.topic,
                                dict(message.data))
            if key is None:
                log.warning("signal on %r matches no hook rule; dead-lettered", message.metadata.topic,
                            extra={"app_id": self.app_id, "topic": message.metadata.topic})
                return await self._park(claimed, None)
            registration = await self.jobs.route_signal(
                key, message, pending_ttl(message, self.settings.pending_signal_expire_s))
            if registration is None:  # stored until its hook registers (SPEC §2.8)
                return ACKED if await self.store.ack(self.app_id, [claimed.id], self.consumer_id) else Acked.LOST
            routed = routed_signal(message, registration)
            inbound = Inbound(message=routed, ack=ack, signal_check=(key, registration))
        result = await self.stepper.submit(inbound, inbound.message.metadata.jid if inbound.message else "")
        return Acked.LOST if result is Result.LOST else ACKED

    async def _park(self, claimed: ClaimedMessage, failure: BaseException | None) -> Acked:
        """Dead-letter a message the engine cannot use (retries spent, poison, or addressed to nothing)."""
        parked = await self.store.dead_letter(self.app_id, [claimed.id])
        return ACKED if parked else Acked.LOST


__all__ = ["Engine"]
