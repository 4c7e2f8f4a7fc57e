"""Freshness promises checked: which partitions are past their deadline and not there.

- `Freshness(lag=...)` (time partitions): partition i is due `lag` after its
  window closes; it is *missed* once that passed and it was never materialized.
  With `index_at`, "due before now" is one comparison of indices, not a loop.
- `Freshness(max_age=...)`: a partition is missed when its latest record is older
  than `max_age` (or it has none).
- `Freshness(deadline=cron)`: at the latest tick D of the cron, the asset must
  have been recorded since the tick before D (or since D - `max_age`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from assay.partitions.subset import PartitionSubset

if TYPE_CHECKING:
    import numpy as np

    from assay.conditions import Freshness
    from assay.partitions.base import PartitionContext, PartitionsDefinition
    from assay.planning.staleness import AssetStaleness

_US = 1_000_000.0


@dataclass(frozen=True, slots=True, kw_only=True)
class FreshnessState:
    """An asset's freshness now: the partitions missed, and for each missed partition
    when it was due (`due_of`)."""

    policy: Freshness
    missed: np.ndarray  # bool per partition
    due: np.ndarray  # epoch µs per partition when it was (or is) due; NaN: not yet known

    @property
    def missed_subset(self) -> PartitionSubset:
        return PartitionSubset.from_mask(self.missed) if self.missed.any() else PartitionSubset()

    def due_of(self, index: int) -> datetime | None:
        value = float(self.due[index])
        return None if value != value else datetime.fromtimestamp(value / _US, UTC)


def freshness_state(
    policy: Freshness,
    definition: PartitionsDefinition | None,
    staleness: AssetStaleness,
    context: PartitionContext,
) -> FreshnessState:
    """Which partitions of one asset missed `policy` at `context.now`."""
    import numpy as np

    n = staleness.size
    now = context.now
    updated = staleness.updated if staleness.updated is not None else np.full(n, np.nan)
    due = np.full(n, np.nan)
    if policy.lag is not None and getattr(definition, "kind", None) == "time":
        overdue = min(max(definition.index_at(now - policy.lag), 0), n)  # type: ignore[union-attr]
        missed = np.zeros(n, dtype=bool)
        missed[:overdue] = True
        missed &= np.isnan(updated)
        for index in np.flatnonzero(missed)[-1000:]:  # the newest thousand say when
            end = definition.time_window(int(index)).end  # type: ignore[union-attr]
            due[index] = (end + policy.lag).timestamp() * _US
        return FreshnessState(policy=policy, missed=missed, due=due)
    lower = None
    if policy.deadline is not None:
        from assay.planning.conditions import cron_of

        cron = cron_of(policy.deadline, policy.timezone)
        tick = cron.latest_tick(now - timedelta(days=400), now)
        if tick is None:
            return FreshnessState(policy=policy, missed=np.zeros(n, dtype=bool), due=due)
        before = cron.latest_tick(tick - timedelta(days=400), tick - timedelta(microseconds=1))
        floor = tick - policy.max_age if policy.max_age is not None else before
        lower = None if floor is None else floor.timestamp() * _US
        due[:] = tick.timestamp() * _US
    elif policy.max_age is not None:
        lower = (now - policy.max_age).timestamp() * _US
        with np.errstate(invalid="ignore"):
            due = updated + policy.max_age.total_seconds() * _US
    if lower is None:
        return FreshnessState(policy=policy, missed=np.zeros(n, dtype=bool), due=due)
    with np.errstate(invalid="ignore"):
        missed = np.isnan(updated) | (updated < lower)
    return FreshnessState(policy=policy, missed=missed, due=due)
