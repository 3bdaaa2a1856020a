"""Names HotMesh gives things: job keys, quorum/notification channels, signal keys, timestamps."""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime

NAMESPACE = "hmsh"
PUBLISHED_TOPIC = "*"
"""Quorum topic on which every `publishes` notification of an app is repeated, for pattern subscriptions."""
MAX_CHANNEL_BYTES = 63  # Postgres truncates identifiers (NAMEDATALEN - 1); LISTEN names are identifiers


def job_key(app_id: str, jid: str) -> str:
    """`hmsh:<app>:j:<jid>`: the full key stored in `jobs.key`."""
    return f"{NAMESPACE}:{app_id}:j:{jid}"


def quorum_channel(app_id: str, topic: str = "") -> str:
    """The NOTIFY channel for a quorum topic (`hmsh:<app>:q:<topic>`), hashed when too long for Postgres."""
    channel = f"{NAMESPACE}:{app_id}:q:{topic}"
    if len(channel.encode()) <= MAX_CHANNEL_BYTES:
        return channel
    digest = hashlib.sha256(topic.encode()).hexdigest()
    prefix = f"{NAMESPACE}:{app_id}:QUORUM:"
    return prefix + digest[: max(8, MAX_CHANNEL_BYTES - len(prefix.encode()))]


def signal_key(topic: str, resolved: object) -> str:
    """The `signal_registry.key` of a hook waiting on `topic` for the resolved match value."""
    return f"signals:{topic}:{resolved}"


@functools.lru_cache(maxsize=64)
def compact_timestamp(now_ms: float) -> str:
    """HotMesh's compact time form `YYYYMMDDHHmmss.sss` (UTC). (Cached: a step stamps the same instant
    several times.)"""
    moment = datetime.fromtimestamp(now_ms / 1000, tz=UTC)
    return moment.strftime("%Y%m%d%H%M%S") + f".{moment.microsecond // 1000:03d}"
