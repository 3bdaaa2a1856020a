"""StreamConsumer: the actor that claims a stream's messages, runs a handler on each, and acks.

One consumer serves one stream (an app's engine stream, or one worker topic). Its loop: pass the throttle
gate, take the messages handed to it in memory (rows a step of this process published already leased to it),
claim a batch (SKIP LOCKED, leased), start a handler task per message (bounded by `concurrency`), and when
the stream is drained sleep until a NOTIFY, a hand-off, the next delayed row falling due, or the slow
fallback poll. A handler's success is acked in ONE transaction with the statements it returns, or by the
handler itself through a step (it returns `ACKED`), and only while the lease is still held. A handler that
raises is retried per the message's RetryPolicy as a new delayed row, and dead-lettered (payload kept) when
the policy is exhausted. A message delivered more often than the poison threshold is dead-lettered unseen.
One task renews every in-flight lease, and hands back leases other consumers let go stale (the reaper); the
loop hands them back at once when a stale lease is what it would wake for.
"""

from __future__ import annotations

import enum
import json
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

import asyncpg
import attrs
import trio

from hotmesh_actors.actors import Actor, ThrottleGate
from hotmesh_actors.core.durations import RetryPolicy
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.driver import Listener, RequirementFailed, Statement
from hotmesh_actors.store.streams import ClaimedMessage, StreamStore

log = logging.getLogger("hotmesh_actors.mesh.consumer")

_RECHECK_S = 0.02
"""How soon to claim again when work is due but could not be taken (held by another claim for a moment)."""


class Acked(enum.Enum):
    """A handler's answer when it acked the message itself (through a step of the Stepper)."""

    ACKED = "acked"
    LOST = "lost"
    """The handler found the lease lost (another consumer owns the message now)."""


ACKED = Acked.ACKED

Handler = Callable[[ClaimedMessage], Awaitable["Sequence[Statement] | Acked | None"]]
"""Handles one message; returns statements to commit atomically with its ack (or None), or `Acked` when it
acked the message itself. Raising = failure.

When the last statement is marked `acks` (e.g. `StreamStore.ack_and_publish_statement`), it is the ack."""

RetryPolicyFor = Callable[[ClaimedMessage, BaseException | None], RetryPolicy]
"""Chooses the policy for one message's failure (None: no failure yet, give the widest budget)."""

ExhaustedHook = Callable[[ClaimedMessage, BaseException | None], Awaitable["Sequence[Statement] | Acked"]]
"""Statements to commit with a dead-letter (e.g. publish an error response), or `Acked` when the hook
dead-lettered the message itself (through a step); a None error means poison."""


def new_consumer_id(role: str) -> str:
    """A unique, readable consumer id for `reserved_by`: role, host, pid, random suffix."""
    return f"{role}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@attrs.define
class ConsumerStats:
    """Counters a consumer keeps (for roll call and tests)."""

    claimed: int = 0
    acked: int = 0
    retried: int = 0
    dead_lettered: int = 0
    lost_leases: int = 0
    handed: int = 0
    """Messages taken from memory: published by a step of this process already leased to this consumer."""


@attrs.define
class _Lease:
    """An in-flight message's lease: its handler's cancel scope, and whether the lease was lost."""

    scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    lost: bool = False


@attrs.define
class _AckTicket:
    done: trio.Event = attrs.field(factory=trio.Event)
    acked: bool = False


class StreamConsumer(Actor):
    """Claims and handles the messages of one stream until stopped; see the module docstring."""

    def __init__(
        self,
        *,
        store: StreamStore,
        stream_name: str,
        handler: Handler,
        settings: Settings,
        listener: Listener | None = None,
        gate: ThrottleGate | None = None,
        concurrency: int | None = None,
        consumer_id: str | None = None,
        on_exhausted: ExhaustedHook | None = None,
        retry_policy: RetryPolicy | RetryPolicyFor | None = None,
    ) -> None:
        super().__init__(f"{store.kind.value}:{stream_name}")
        self.store = store
        self.stream_name = stream_name
        self.handler = handler
        self.settings = settings
        self.listener = listener
        self.gate = gate or ThrottleGate()
        # Twice the batch: the next claim can start while the previous batch's group ack is in flight.
        self.concurrency = concurrency or 2 * settings.batch_size
        self.consumer_id = consumer_id or new_consumer_id(store.kind.value)
        self.on_exhausted = on_exhausted
        self.retry_policy = retry_policy
        """When set, failures follow this policy (or the one it chooses per failure) instead of the one
        stored with each message."""
        self.stats = ConsumerStats()
        self._in_flight = 0
        self._busy: set[int] = set()
        """Messages holding a slot of `concurrency` (see `free_slot`)."""
        self._reserved = 0
        """Slots promised to messages a step of this process is publishing to us (the hand-off)."""
        self._handed: list[ClaimedMessage] = []
        self._wake = trio.Event()
        self._stream_changed = True
        """Set by a NOTIFY, a timer or a poll: the table may hold work to claim (a hand-off alone does not)."""
        self._capacity = trio.Event()
        self._due: float | None = None
        self._poll_at = 0.0
        """trio time of the next claim without a wake-up (a delayed row or stale lease falls due, or the
        fallback poll)."""
        """trio time when a delayed row falls due (told by a NOTIFY), to claim then."""
        self._pending_acks: list[tuple[int, _AckTicket]] = []
        self._leases: dict[int, _Lease] = {}
        self._acks_wanted = trio.Event()

    def _notified(self, _channel: str, payload: str | None) -> None:
        if payload and '"due"' in payload:
            try:
                due_epoch = float(json.loads(payload)["due"])
            except (ValueError, KeyError, TypeError):
                due_epoch = None
            if due_epoch is not None:
                self.wake_at(due_epoch)
                return
        self.wake()

    def wake(self) -> None:
        """Claim again now (as a NOTIFY would)."""
        self._stream_changed = True
        self._wake.set()

    def wake_at(self, epoch_s: float) -> None:
        """Claim again when wall-clock time `epoch_s` comes (a delayed row falls due then)."""
        due = trio.current_time() + max(0.0, epoch_s - time.time())
        if self._due is None or due < self._due:
            self._due = due
            self._wake.set()  # re-arm the loop's sleep for the earlier due time

    # -- the in-process hand-off (see mesh/stepper.py) --------------------------------------------------

    def reserve(self) -> bool:
        """Promise a slot to a message a step of this process is about to publish to this consumer.

        Refused when full, and while the stream may hold rows waiting to be claimed: those go first, so a
        busy process cannot keep its hand-offs ahead of work published elsewhere (or when it was full).
        """
        if (self.stopping or self._stream_changed
                or self._in_flight + self._reserved + len(self._handed) >= self.concurrency):
            return False
        self._reserved += 1
        return True

    def release(self) -> None:
        """The promised message was not published after all."""
        self._reserved = max(0, self._reserved - 1)
        if self._stream_changed:
            self._wake.set()

    def deliver(self, claimed: ClaimedMessage) -> None:
        """Take a message whose row was inserted already leased to this consumer."""
        self._reserved = max(0, self._reserved - 1)
        self._handed.append(claimed)
        self.stats.handed += 1
        self._wake.set()

    # -- the loop ------------------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Consume until stopped; in-flight handlers finish before this returns (the drain)."""
        channel = self.store.kind.channel(self.stream_name)
        if self.listener is not None:
            await self.listener.add(channel, self._notified)
        try:
            async with trio.open_nursery() as support:
                support.start_soon(self._flush_acks)
                support.start_soon(self._keep_leases)
                async with trio.open_nursery() as handlers:
                    task_status.started()
                    await self._loop(handlers)
                # every handler has returned, so every ack it queued is flushed
                support.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await self._release_handed()
                if self.listener is not None:
                    await self.listener.remove(channel, self._notified)

    async def _loop(self, handlers: trio.Nursery) -> None:
        lease_s = self.settings.reservation_timeout_s
        while not self.stopping:
            if self.gate.delay_ms != 0 or self._in_flight >= self.concurrency:
                with self.cancel_on_stop():
                    await self.gate.wait()
                    while self._in_flight >= self.concurrency:
                        self._capacity = trio.Event()
                        await self._capacity.wait()
                if self.stopping:
                    break
            self._wake = trio.Event()  # a NOTIFY or hand-off during the claim must not be lost
            while self._handed and self._in_flight < self.concurrency:
                self._start(handlers, self._handed.pop(0))
            if self._due is not None and self._due <= trio.current_time():
                self._due = None
                self._stream_changed = True
            wanted = min(self.settings.batch_size, self.concurrency - self._in_flight - self._reserved)
            if wanted > 0 and self._stream_changed:
                self._stream_changed = False
                batch = await self.store.claim(self.stream_name, self.consumer_id, batch_size=wanted)
                self.stats.claimed += len(batch)
                for claimed in batch:
                    self._start(handlers, claimed)
                if len(batch) == wanted:
                    self._stream_changed = True  # there may be more
                    continue
                due = await self.store.next_wake(self.stream_name, lease_s)
                if due == 0.0:
                    # Work is claimable by now, yet the claim left room: a dead consumer's lease went stale
                    # (the claim skips leased rows), so hand it back now rather than poll until the reaper
                    # runs; else it is a due row another claim holds for a moment, or a signal waiting
                    # behind an older one: look again shortly, without spinning.
                    if await self.store.reap(self.stream_name, lease_s):
                        self._stream_changed = True
                        continue
                    due = _RECHECK_S
                self._poll_at = trio.current_time() + min(self.settings.fallback_poll_s,
                                                          math.inf if due is None else due + 0.002)
            room = self.concurrency - self._in_flight
            if (self._handed and room > 0) or (self._stream_changed and room - self._reserved > 0):
                continue
            deadline = self._poll_at if self._due is None else min(self._poll_at, self._due)
            with self.cancel_on_stop(), trio.move_on_at(deadline) as sleep:
                await self._wake.wait()
            if sleep.cancelled_caught and not self.stopping:
                self._stream_changed = True  # the fallback poll or a due time came

    async def _release_handed(self) -> None:
        """Stopping: rows handed to this consumer and not started go back to the table for the others."""
        handed, self._handed = self._handed, []
        if not handed:
            return
        with trio.move_on_after(5):
            try:
                await self.store.release(self.stream_name, [claimed.id for claimed in handed], self.consumer_id)
            except (OSError, asyncpg.PostgresError) as err:  # the leases run out instead
                log.warning("could not hand back %d messages at stop (%s); their leases will expire",
                            len(handed), err, extra={"app_id": self.store.app_id, "topic": self.stream_name})

    def _start(self, handlers: trio.Nursery, claimed: ClaimedMessage) -> None:
        self._in_flight += 1
        self._busy.add(claimed.id)
        self._leases[claimed.id] = _Lease()
        handlers.start_soon(self.handle, claimed)

    def free_slot(self, message_id: int) -> None:
        """The handler of this message is past its costly part (a worker's callback returned): its slot of
        `concurrency` is free for the next message, while its commit finishes."""
        if message_id in self._busy:
            self._busy.discard(message_id)
            self._in_flight -= 1
            self._capacity.set()
            if self._stream_changed:
                self._wake.set()  # rows wait in the table: claim them now that there is room

    async def handle(self, claimed: ClaimedMessage) -> None:
        """Handle one claimed (leased) message as the loop does: run it, then ack, retry or park it.

        Public for test runners that deliver messages one by one (hotmesh_actors.testing.schedule).
        """
        if claimed.id not in self._leases:
            self._in_flight += 1
            self._busy.add(claimed.id)
            self._leases[claimed.id] = _Lease()
        try:
            await self._process(claimed)
        except RequirementFailed:
            self.stats.lost_leases += 1
            log.warning("lease lost before ack; message left for its new holder",
                        extra=self._log_fields(claimed))
        finally:
            self._leases.pop(claimed.id, None)
            self.free_slot(claimed.id)

    def _log_fields(self, claimed: ClaimedMessage) -> dict[str, object]:
        """The `extra=` fields of a record about one claimed message (hotmesh_actors.logs names them)."""
        meta = claimed.message.metadata
        return {"app_id": self.store.app_id, "topic": self.stream_name, "job_id": meta.jid,
                "activity_id": meta.aid, "message_id": claimed.id}

    def _policy(self, claimed: ClaimedMessage, failure: BaseException | None) -> RetryPolicy:
        if self.retry_policy is None:
            return claimed.retry_policy
        if isinstance(self.retry_policy, RetryPolicy):
            return self.retry_policy
        return self.retry_policy(claimed, failure)

    async def _process(self, claimed: ClaimedMessage) -> None:
        policy = self._policy(claimed, None)
        threshold = max(policy.maximum_attempts, self.settings.poison_threshold)
        if claimed.delivery_count > threshold or claimed.retry_attempt >= threshold:
            log.error("poison message dead-lettered (%d deliveries, retry %d)", claimed.delivery_count,
                      claimed.retry_attempt,
                      extra=self._log_fields(claimed))
            await self._dead_letter(claimed, None)
            return
        failure: Exception | None = None
        outcome: Sequence[Statement] | Acked | None = None
        lease = self._leases[claimed.id]
        with lease.scope:  # cancelled by the heartbeat task if this consumer loses the lease
            try:
                outcome = await self.handler(claimed)
            except Exception as err:  # a failing callback must never drop its message: retry or park it
                failure = err
        if lease.lost or outcome is Acked.LOST:
            self.stats.lost_leases += 1
            return
        if failure is None:
            if outcome is Acked.ACKED:
                pass
            elif outcome and outcome[-1].acks:
                await self.store.db.transaction(list(outcome))  # the handler's statements ack the message
            elif outcome:
                await self.store.db.transaction(
                    [*outcome, self.store.ack_statement(self.stream_name, [claimed.id], self.consumer_id)]
                )
            elif not await self._ack_in_group(claimed.id):
                raise RequirementFailed(0, self.store.ack_statement(self.stream_name, [claimed.id], ""))
            self.stats.acked += 1
            return
        policy = self._policy(claimed, failure)
        if policy.should_retry(claimed.retry_attempt):
            delay = policy.delay(claimed.retry_attempt)
            meta = claimed.message.metadata
            retried = attrs.evolve(claimed.message, metadata=attrs.evolve(meta, attempt=meta.attempt + 1))
            log.info("handler failed; retry %d in %.3fs: %s", claimed.retry_attempt + 1, delay, failure,
                     extra=self._log_fields(claimed))
            await self.store.db.transaction(
                [self.store.retry_statement(claimed, self.consumer_id, retried, delay, policy)]
            )
            self.stats.retried += 1
            self.wake_at(time.time() + delay)  # the delayed row sent no wake-up here: claim it when due
            return
        log.error("handler failed %d times; dead-lettered: %s", claimed.retry_attempt + 1, failure,
                  extra=self._log_fields(claimed))
        await self._dead_letter(claimed, failure)

    async def _ack_in_group(self, message_id: int) -> bool:
        """Queue a plain ack for the next group flush; True once acked, False if the lease was lost."""
        ticket = _AckTicket()
        self._pending_acks.append((message_id, ticket))
        self._acks_wanted.set()
        await ticket.done.wait()
        return ticket.acked

    async def _flush_acks(self) -> None:
        """Group commit: ack every queued id in one statement; acks queued meanwhile ride the next one."""
        while True:
            await self._acks_wanted.wait()
            self._acks_wanted = trio.Event()
            pending, self._pending_acks = self._pending_acks, []
            if not pending:
                continue
            acked: set[int] = set()
            try:
                acked = await self.store.ack(self.stream_name, [mid for mid, _ in pending], self.consumer_id)
            finally:  # on failure every waiter learns "not acked"; its row is reclaimed after the lease
                for mid, ticket in pending:
                    ticket.acked = mid in acked
                    ticket.done.set()

    async def _dead_letter(self, claimed: ClaimedMessage, failure: BaseException | None) -> None:
        extra = await self.on_exhausted(claimed, failure) if self.on_exhausted else ()
        if extra is Acked.ACKED or extra is Acked.LOST:
            self.stats.dead_lettered += extra is Acked.ACKED
            return
        await self.store.db.transaction(
            [*extra, self.store.dead_letter_statement(self.stream_name, [claimed.id])]
        )
        self.stats.dead_lettered += 1

    async def _keep_leases(self) -> None:
        """Renew every held lease in one statement per interval (abandoning the ones lost), and hand back
        the stale leases of consumers that died."""
        while True:
            await trio.sleep(self.settings.heartbeat_s)
            held_ids = [*self._leases, *(claimed.id for claimed in self._handed)]
            if held_ids:
                held = await self.store.heartbeat(self.stream_name, held_ids, self.consumer_id)
                for message_id in held_ids:
                    lease = self._leases.get(message_id)
                    if lease is not None and message_id not in held:
                        log.warning("lease lost while handling; abandoning",
                                    extra={"app_id": self.store.app_id, "topic": self.stream_name,
                                           "message_id": message_id})
                        lease.lost = True
                        lease.scope.cancel()
                self._handed = [claimed for claimed in self._handed if claimed.id in held]
            await self.store.reap(self.stream_name, self.settings.reservation_timeout_s)  # (its NOTIFY wakes us)
