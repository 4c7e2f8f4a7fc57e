"""What the state reader returns: typed read models, not rows of dicts."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class StateMark:
    """Where the stored state of some assets stood: the latest `seq` of their current
    asset partitions, and how many there were. A plan records the mark it was made
    against; once the mark moves, the plan is out of date."""

    seq: int = 0
    rows: int = 0
