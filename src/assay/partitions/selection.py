"""`--partition KEY` and `--from A --to B`: which partitions of each asset to act on.

One selection applies to assets of different definitions: a key or bound that
is not one of a definition's own keys is read as a time (a date covers the
whole day), and selects the windows that overlap it. So `--from 2024-01-01 --to
2024-01-31` picks January's days of a daily asset, its hours of an hourly one,
and January of a monthly one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from assay.errors import PartitionKeyError
from assay.keys import validate_partition_key
from assay.partitions.multi import MultiPartitions
from assay.partitions.subset import PartitionSubset
from assay.partitions.time_window import TimeWindowPartitions

if TYPE_CHECKING:
    from assay.partitions.base import PartitionsDefinition

_TIME = re.compile(r"\d{4}-\d{2}-\d{2}([ T-]\d{2}:\d{2})?\Z")


@dataclass(frozen=True, slots=True, kw_only=True)
class PartitionSelection:
    """Explicit keys, or an inclusive range; empty means every partition."""

    keys: tuple[str, ...] = ()
    first: str | None = None
    last: str | None = None

    def __post_init__(self) -> None:
        if self.keys and (self.first or self.last):
            raise PartitionKeyError("give either --partition or --from/--to, not both")
        if (self.first is None) != (self.last is None):
            raise PartitionKeyError("--from and --to go together: give both")
        for key in (*self.keys, self.first, self.last):
            if key is not None:
                validate_partition_key(key)

    @property
    def is_everything(self) -> bool:
        return not self.keys and self.first is None

    def __str__(self) -> str:
        if self.keys:
            return ", ".join(self.keys)
        return f"{self.first}..{self.last}" if self.first else "all partitions"

    def resolve(self, definition: PartitionsDefinition, now: datetime) -> PartitionSubset:
        """The partitions of `definition` this selection names.

        Raises:
            PartitionKeyError: a key that is not in the definition (naming its range),
                or `--from` after `--to`.
        """
        size = definition.size(now)
        if self.is_everything:
            return PartitionSubset.from_range(0, size)
        if self.keys:
            subset = PartitionSubset()
            for key in self.keys:
                subset = subset | self._one(definition, key, key, now)
            return subset
        assert self.first is not None
        assert self.last is not None
        start, stop = (
            self._one(definition, self.first, self.first, now),
            self._one(definition, self.last, self.last, now),
        )
        if start.ranges[0][0] > stop.ranges[-1][1] - 1:
            raise PartitionKeyError(
                f"--from {self.first!r} comes after --to {self.last!r}: swap them"
            )
        return PartitionSubset.from_range(start.ranges[0][0], stop.ranges[-1][1])

    def _one(
        self, definition: PartitionsDefinition, key: str, shown: str, now: datetime
    ) -> PartitionSubset:
        size = definition.size(now)
        index = definition._parse(key)
        if index is not None and 0 <= index < size:
            return PartitionSubset.from_range(index, index + 1)
        span = _as_time_span(key)
        found = PartitionSubset()
        if span is not None and isinstance(definition, TimeWindowPartitions):
            found = _overlapping(definition, span, size)
        elif span is not None and isinstance(definition, MultiPartitions):
            major = definition.dimensions[definition.major]
            if isinstance(major, TimeWindowPartitions):
                days = _overlapping(major, span, major.size(now))
                minor = definition.minor_size
                found = PartitionSubset(tuple((a * minor, b * minor) for a, b in days.ranges))
        if not found:
            definition.index(shown, now)  # raises, naming the valid range
        return found


def _as_time_span(text: str) -> tuple[datetime, datetime] | None:
    if not _TIME.match(text):
        return None
    if len(text) == 10:
        start = datetime.fromisoformat(text)
        return start, start + timedelta(days=1)
    start = datetime.fromisoformat(text[:10] + "T" + text[11:])
    return start, start + timedelta(hours=1)


def _overlapping(
    definition: TimeWindowPartitions, span: tuple[datetime, datetime], size: int
) -> PartitionSubset:
    start = definition.index_at(definition._aware(span[0]))
    stop = definition.index_at(definition._aware(span[1]) - timedelta(microseconds=1)) + 1
    start, stop = max(start, 0), min(stop, size)
    return PartitionSubset.from_range(start, stop)
