"""StreamConsumer: the actor that claims a stream's messages, runs a handler on each, and acks.

One consumer serves one stream (an app's engine stream, or one worker topic). Its loop: pass the throttle
gate, claim a batch (SKIP LOCKED, leased), start a handler task per message (bounded by `concurrency`),
and when the stream is drained sleep until a NOTIFY, the next delayed row or stale lease falls due, or the
slow fallback poll. A handler's success is acked in ONE transaction with the statements it returns (e.g. a
worker's response publish), and that transaction commits only if the lease is still held. A handler that
raises is retried per the message's RetryPolicy as a new delayed row, and dead-lettered (payload kept) when
the policy is exhausted. A message delivered more often than the poison threshold is dead-lettered unseen.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Sequence

import attrs
import trio

from hotmesh_actors.actors import Actor, ThrottleGate
from hotmesh_actors.core.durations import RetryPolicy
from hotmesh_actors.settings import Settings
from hotmesh_actors.store.driver import Listener, RequirementFailed, Statement
from hotmesh_actors.store.streams import ClaimedMessage, StreamStore

log = logging.getLogger("hotmesh_actors.mesh.consumer")

Handler = Callable[[ClaimedMessage], Awaitable[Sequence[Statement] | None]]
"""Handles one message; returns statements to commit atomically with its ack (or None). Raising = failure.

When the last statement is marked `acks` (e.g. `StreamStore.ack_and_publish_statement`), it is the ack."""

RetryPolicyFor = Callable[[ClaimedMessage, BaseException | None], RetryPolicy]
"""Chooses the policy for one message's failure (None: no failure yet, give the widest budget)."""

ExhaustedHook = Callable[[ClaimedMessage, BaseException | None], Sequence[Statement]]
"""Statements to commit with a dead-letter (e.g. publish an error response); None error means poison."""


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
        self._wake = trio.Event()
        self._capacity = trio.Event()
        self._pending_acks: list[tuple[int, _AckTicket]] = []
        self._leases: dict[int, _Lease] = {}
        self._acks_wanted = trio.Event()

    def _notified(self, _channel: str, _payload: str | None) -> None:
        self._wake.set()

    def wake(self) -> None:
        """Claim again now (as a NOTIFY would)."""
        self._wake.set()

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
            if self.listener is not None:
                with trio.CancelScope(shield=True):
                    await self.listener.remove(channel, self._notified)

    async def _loop(self, handlers: trio.Nursery) -> None:
        lease_s = self.settings.reservation_timeout_s
        while not self.stopping:
            with self.cancel_on_stop():
                await self.gate.wait()
                while self._in_flight >= self.concurrency:
                    self._capacity = trio.Event()
                    await self._capacity.wait()
            if self.stopping:
                break
            wanted = min(self.settings.batch_size, self.concurrency - self._in_flight)
            self._wake = trio.Event()  # a NOTIFY during the claim must not be lost
            batch = await self.store.claim(
                self.stream_name, self.consumer_id, batch_size=wanted, lease_s=lease_s
            )
            self.stats.claimed += len(batch)
            for claimed in batch:
                self._in_flight += 1
                handlers.start_soon(self._handle, claimed)
            if len(batch) == wanted:
                continue
            due = await self.store.next_wake(self.stream_name, lease_s)
            timeout = min(self.settings.fallback_poll_s, math.inf if due is None else due + 0.01)
            with self.cancel_on_stop(), trio.move_on_after(timeout):
                await self._wake.wait()

    async def _handle(self, claimed: ClaimedMessage) -> None:
        try:
            await self._process(claimed)
        except RequirementFailed:
            self.stats.lost_leases += 1
            log.warning("lease lost before ack; message left for its new holder",
                        extra=self._log_fields(claimed))
        finally:
            self._in_flight -= 1
            self._capacity.set()

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
        extra: Sequence[Statement] | None = None
        lease = _Lease()
        self._leases[claimed.id] = lease
        try:
            with lease.scope:  # cancelled by the heartbeat task if this consumer loses the lease
                try:
                    extra = await self.handler(claimed)
                except Exception as err:  # a failing callback must never drop its message: retry or park it
                    failure = err
        finally:
            del self._leases[claimed.id]
        if lease.lost:
            self.stats.lost_leases += 1
            return
        if failure is None:
            if extra and extra[-1].acks:
                await self.store.db.transaction(list(extra))  # the handler's statements ack the message
            elif extra:
                await self.store.db.transaction(
                    [*extra, self.store.ack_statement(self.stream_name, [claimed.id], self.consumer_id)]
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
            self._wake.set()  # the delayed row sent no NOTIFY: let the loop re-read when work falls due
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
        extra = self.on_exhausted(claimed, failure) if self.on_exhausted else ()
        await self.store.db.transaction(
            [*extra, self.store.dead_letter_statement(self.stream_name, [claimed.id])]
        )
        self.stats.dead_lettered += 1

    async def _keep_leases(self) -> None:
        """Renew every in-flight message's lease in one statement per interval; abandon the ones lost."""
        while True:
            await trio.sleep(self.settings.heartbeat_s)
            if not self._leases:
                continue
            ids = list(self._leases)
            held = await self.store.heartbeat(self.stream_name, ids, self.consumer_id)
            for message_id in ids:
                lease = self._leases.get(message_id)
                if lease is not None and message_id not in held:
                    log.warning("lease lost while handling; abandoning",
                                extra={"app_id": self.store.app_id, "topic": self.stream_name,
                                       "message_id": message_id})
                    lease.lost = True
                    lease.scope.cancel()
