"""The collation ledgers: 15-digit integers that make every step of a job idempotent (SPEC §1.6).

Two ledgers, read left to right as positions 1..15:

- the **activity ledger**, one per (job, activity, dimension): finalize flag (pos 1), Leg-1 attempt counter
  (pos 2-3), Leg-1 done (pos 4), Leg-2 entry counter (pos 8-15);
- the **GUID ledger**, one per Leg-2 (or Category B/D) message: job-closed snapshot (pos 4), step 1 / 2 / 3
  done (pos 5 / 6 / 7), and the ordinal of the activity's Leg-2 counter when the message first arrived.

Every digit has a name below; the engine never does digit arithmetic of its own. Verification answers with a
:class:`CollationFault` (HotMesh's `CollationFaultType`) telling the engine to ack silently, retry, or treat a
duplicate Leg-1 as a cycle re-entry.
"""

from __future__ import annotations

import enum
from typing import Final

import attrs

# -- activity ledger weights ------------------------------------------------------------------------
FINALIZE: Final = 200_000_000_000_000
"""Pos 1 := 2: the activity is closed to new Leg-2 messages (set by job-completion step 3)."""
AUTHORIZED: Final = 100_000_000_000_000
"""Pos 1 := 1: the trigger's seed ('authorized')."""
LEG1_ATTEMPT: Final = 1_000_000_000_000
"""Pos 2-3: +1 per Leg-1 entry (0..99)."""
LEG1_DONE: Final = 100_000_000_000
"""Pos 4: Leg-1 work committed."""
LEG2_ENTRY: Final = 1
"""Pos 8-15: +1 per Leg-2 entry (0..99,999,999)."""
LEG2_MASK: Final = 100_000_000

TRIGGER_SEED: Final = AUTHORIZED + LEG1_ATTEMPT + LEG1_DONE + LEG2_ENTRY
"""`101100000000001`: a trigger is born authorized, entered, done and with one Leg-2 entry."""

# -- GUID ledger weights ----------------------------------------------------------------------------
JOB_CLOSED: Final = 100_000_000_000
"""Pos 4: this message drove the semaphore to its threshold (the job closed because of it)."""
STEP1_DONE: Final = 10_000_000_000
"""Pos 5: the activity/job state was saved."""
STEP2_DONE: Final = 1_000_000_000
"""Pos 6: children published and the semaphore delta applied."""
STEP3_DONE: Final = 100_000_000
"""Pos 7: job-completion tasks done."""

MAX_LEG1_ATTEMPTS: Final = 99
MAX_LEG2_ENTRIES: Final = 99_999_999


class CollationFault(enum.StrEnum):
    """Why a message may not run now (names as in HotMesh)."""

    MISSING = "missing"
    """The ledger has no entry where one must exist."""
    DUPLICATE = "duplicate"
    """Leg 1 already committed: a replayed transition (ack and drop; a cycle target re-enters instead)."""
    INACTIVE = "inactive"
    """The activity is finalized, or this message was fully processed: ack silently."""
    INVALID = "invalid"
    """A counter would overflow its digits."""
    FORBIDDEN = "forbidden"
    """Leg 2 arrived before Leg 1 committed: retry later, never drop."""


def digit(value: int, position: int) -> int:
    """The decimal digit at `position` (1..15, left to right) of a 15-digit ledger."""
    if not 1 <= position <= 15:
        raise ValueError(f"ledger positions are 1..15, got {position}")
    return int(value // 10 ** (15 - position)) % 10


def as_text(value: int) -> str:
    """The ledger as the 15-character string HotMesh shows (zero-padded)."""
    return f"{value:015d}"


@attrs.frozen
class ActivityLedger:
    """The activity ledger of one (job, activity, dimension)."""

    value: int = 0

    @property
    def finalized(self) -> bool:
        return digit(self.value, 1) >= 2

    @property
    def leg1_attempts(self) -> int:
        return (self.value // LEG1_ATTEMPT) % 100

    @property
    def leg1_done(self) -> bool:
        return digit(self.value, 4) == 1

    @property
    def leg2_entries(self) -> int:
        return self.value % LEG2_MASK

    def enter_leg1(self) -> tuple[ActivityLedger, CollationFault | None]:
        """Count a Leg-1 entry; a fault says the entry must not run (its count is still recorded)."""
        if self.leg1_attempts >= MAX_LEG1_ATTEMPTS:
            return self, CollationFault.INVALID
        entered = ActivityLedger(self.value + LEG1_ATTEMPT)
        if entered.leg1_attempts == 0:
            return entered, CollationFault.MISSING
        if self.leg1_done:
            return entered, CollationFault.DUPLICATE
        return entered, None

    def complete_leg1(self) -> ActivityLedger:
        """Mark Leg 1 committed (bundled with the Leg-1 work)."""
        return self if self.leg1_done else ActivityLedger(self.value + LEG1_DONE)

    def enter_leg2(self) -> tuple[ActivityLedger, CollationFault | None]:
        """Count a Leg-2 entry; FORBIDDEN before Leg 1 committed, INACTIVE once finalized."""
        if not self.leg1_done:
            return self, CollationFault.FORBIDDEN
        if self.finalized:
            return self, CollationFault.INACTIVE
        if self.leg2_entries >= MAX_LEG2_ENTRIES:
            return self, CollationFault.INVALID
        return ActivityLedger(self.value + LEG2_ENTRY), None

    def finalize(self) -> ActivityLedger:
        """Close the activity to further Leg-2 messages (job-completion step 3)."""
        return self if self.finalized else ActivityLedger(self.value + FINALIZE)

    def __str__(self) -> str:
        return as_text(self.value)


@attrs.frozen
class GuidLedger:
    """The ledger of one Leg-2 (or Category B/D) message guid."""

    value: int = 0

    @classmethod
    def seeded(cls, ordinal: int) -> GuidLedger:
        """A new message's ledger, remembering the activity's Leg-2 counter when it arrived."""
        return cls(ordinal % LEG2_MASK)

    @property
    def ordinal(self) -> int:
        return self.value % LEG2_MASK

    @property
    def job_closed(self) -> bool:
        return digit(self.value, 4) == 1

    def step_done(self, step: int) -> bool:
        """True when protocol step 1, 2 or 3 has committed for this message."""
        return digit(self.value, 4 + step) == 1

    def mark(self, step: int) -> GuidLedger:
        """Record protocol step 1, 2 or 3 as done (idempotent)."""
        weight = {1: STEP1_DONE, 2: STEP2_DONE, 3: STEP3_DONE}[step]
        return self if self.step_done(step) else GuidLedger(self.value + weight)

    def close_job(self) -> GuidLedger:
        """Record that this message drove the semaphore to the threshold."""
        return self if self.job_closed else GuidLedger(self.value + JOB_CLOSED)

    def replay_fault(self) -> CollationFault | None:
        """INACTIVE when this message was already fully processed (so a redelivery is acked silently)."""
        if self.step_done(3):
            return CollationFault.INACTIVE
        if self.step_done(2) and not self.job_closed:
            return CollationFault.INACTIVE
        return None

    def __str__(self) -> str:
        return as_text(self.value)


@attrs.frozen
class SemaphoreUpdate:
    """The outcome of applying a delta to the job semaphore: HotMesh's setStatusAndCollateGuid."""

    status: int
    hit: bool


def apply_semaphore(status: int, delta: int, threshold: int = 0) -> SemaphoreUpdate:
    """Add `delta` to the job status; `hit` is True when this delta lands exactly on the threshold."""
    new_status = status + delta
    return SemaphoreUpdate(status=new_status, hit=new_status == threshold)


INTERRUPTED_OFFSET: Final = -1_000_000_000
"""Added to the semaphore when a job is interrupted."""


def was_interrupted(status: int) -> bool:
    """True for a semaphore moved into the interrupted range."""
    return status < -100_000_000
