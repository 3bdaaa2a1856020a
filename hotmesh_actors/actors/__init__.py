"""The actor runtime: actors in nurseries, typed mailboxes, supervision with backoff, throttle gates."""

from __future__ import annotations

from hotmesh_actors.actors.actor import Actor
from hotmesh_actors.actors.mailbox import Mailbox, MailboxFullError
from hotmesh_actors.actors.supervisor import RestartPolicy, Supervisor
from hotmesh_actors.actors.throttle import ThrottleGate

__all__ = ["Actor", "Mailbox", "MailboxFullError", "RestartPolicy", "Supervisor", "ThrottleGate"]
