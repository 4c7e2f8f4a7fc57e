"""What every partitions definition offers: an ordered, indexable list of keys."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from assay.errors import PartitionKeyError
from assay.partitions.subset import PartitionSubset

if TYPE_CHECKING:
    import polars as pl

    from assay.partitions.keysets import DynamicKeys


@dataclass(frozen=True, slots=True)
class PartitionContext:
    """What a definition's keys depend on beyond the definition itself: the current
    time (time windows grow with it) and the keys of dynamic partitions, as read
    from the state store (`assay.state.dynamic.partition_context`; None: not read).
    A plan, and the run that applies it, pass one context to every call, so that
    every asset sees the same keys.

    >>> PartitionContext.at(datetime(2024, 1, 3, tzinfo=UTC)).now.day
    3
    """

    now: datetime
    dynamic: DynamicKeys | None = None

    @classmethod
    def at(
        cls, now: datetime | None = None, dynamic: DynamicKeys | None = None
    ) -> PartitionContext:
        """The context at `now` (default: the current time, in UTC)."""
        now = now or datetime.now(UTC)
        return cls(now=now if now.tzinfo is not None else now.replace(tzinfo=UTC), dynamic=dynamic)


class PartitionsDefinition(ABC):
    """Partitions are an ordered list of keys; sets of them are index ranges.

    A `PartitionContext` fixes what the keys depend on (the current time, for time
    windows); without one, a definition takes the current time.
    """

    kind: str = "partitions"

    @abstractmethod
    def size(self, context: PartitionContext | None = None) -> int:
        """How many partitions exist in `context` (default: now)."""

    @abstractmethod
    def key(self, index: int) -> str:
        """The key at `index` (no bounds check beyond the definition's shape)."""

    @abstractmethod
    def _parse(self, key: str) -> int | None:
        """The index `key` would have, or None when it is not of this shape."""

    @abstractmethod
    def describe(self) -> str:
        """`daily partitions from 2024-01-01 (Europe/Berlin)`, for messages."""

    def index(self, key: str, context: PartitionContext | None = None) -> int:
        """The index of `key`.

        Raises:
            PartitionKeyError: naming the valid range.
        """
        if not isinstance(key, str):
            raise PartitionKeyError(f"partition key {key!r} must be a string")
        index = self._parse(key)
        size = self.size(context)
        if index is None or not 0 <= index < size:
            raise PartitionKeyError(
                f"partition key {key!r} is not in {self.describe()}: "
                f"valid keys are {self.fold(PartitionSubset.from_range(0, size)) or 'none yet'}"
            )
        return index

    def indices(self, keys: pl.Series, context: PartitionContext | None = None) -> pl.Series:
        """The index of each key (null where it is not a current key), vectorized."""
        import polars as pl

        lookup = self._lookup(self.size(context))
        return keys.replace_strict(lookup, default=None, return_dtype=pl.Int64)

    def _lookup(self, size: int) -> dict[str, int]:
        cached = self.__dict__.get("_lookup_cache")
        if cached is None or cached[0] != size:
            cached = (size, {self.key(i): i for i in range(size)})
            self.__dict__["_lookup_cache"] = cached
        return cached[1]

    def keys(
        self, subset: PartitionSubset | None = None, context: PartitionContext | None = None
    ) -> list[str]:
        """The keys of `subset` (all when None), in order."""
        subset = subset if subset is not None else PartitionSubset.from_range(0, self.size(context))
        return [self.key(i) for i in subset]

    def fold(self, subset: PartitionSubset) -> str:
        """`2024-01-01..2024-03-31 (91), 2024-05-01` for messages and plans."""
        parts = []
        for start, stop in subset.ranges:
            if stop - start == 1:
                parts.append(self.key(start))
            else:
                parts.append(f"{self.key(start)}..{self.key(stop - 1)} ({stop - start})")
        return ", ".join(parts)
