"""Deterministic stand-ins for randomness inside workflows: values seeded by (workflow id, dimension, index).

`wf.random()` and `wf.uuid4()` take a history index like every durable call; their value is a function of the
workflow id, the dimension (the continue-as-new generation) and that index, so it is the same on every replay
and different between workflows and generations. No entropy is read.
"""

from __future__ import annotations

import hashlib


def _seed_bytes(workflow_id: str, dimension: str, index: int, purpose: str) -> bytes:
    material = "\x1f".join((purpose, workflow_id, dimension, str(index)))
    return hashlib.sha256(material.encode("utf-8", "surrogatepass")).digest()


def seeded_random(workflow_id: str, dimension: str, index: int) -> float:
    """A float in [0, 1) with 53 random bits, fixed by the seed."""
    bits = int.from_bytes(_seed_bytes(workflow_id, dimension, index, "random")[:8], "big") >> 11
    return bits / float(1 << 53)


def seeded_uuid4(workflow_id: str, dimension: str, index: int) -> str:
    """A version-4 UUID string (RFC 4122 variant), fixed by the seed."""
    raw = bytearray(_seed_bytes(workflow_id, dimension, index, "uuid4")[:16])
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
