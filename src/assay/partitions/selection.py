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
    from assay.partitions.base import PartitionContext, PartitionsDefinition

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

    def resolve(
        self, definition: PartitionsDefinition, context: PartitionContext
    ) -> PartitionSubset:
        """The partitions of `definition` this selection names.

        Raises:
            PartitionKeyError: a key that is not in the definition (naming its range),
                or `--from` after `--to`.
        """
        size = definition.size(context)
        if self.is_everything:
            return PartitionSubset.from_range(0, size)
        if self.keys:
            subset = PartitionSubset()
            for key in self.keys:
                subset = subset | self._one(definition, key, key, context)
            return subset
        assert self.first is not None
        assert self.last is not None
        start, stop = (
            self._one(definition, self.first, self.first, context),
            self._one(definition, self.last, self.last, context),
        )
        if start.ranges[0][0] > stop.ranges[-1][1] - 1:
            raise PartitionKeyError(
                f"--from {self.first!r} comes after --to {self.last!r}: swap them"
            )
        return PartitionSubset.from_range(start.ranges[0][0], stop.ranges[-1][1])

    def _one(
        self, definition: PartitionsDefinition, key: str, shown: str, context: PartitionContext
    ) -> PartitionSubset:
        size = definition.size(context)
        index = definition._parse(key)
        if index is not None and 0 <= index < size:
            return PartitionSubset.from_range(index, index + 1)
        timed = _time_dimension(definition)
        span = None if timed is None else _as_time_span(key, timed, context)
        found = PartitionSubset()
        if span is not None and isinstance(definition, TimeWindowPartitions):
            found = _overlapping(definition, span, size)
        elif span is not None and isinstance(definition, MultiPartitions):
            assert timed is not None
            days = _overlapping(timed, span, timed.size(context))
            minor = definition.minor_size
            found = PartitionSubset(tuple((a * minor, b * minor) for a, b in days.ranges))
        if not found:
            definition.index(shown, context)  # raises, naming the valid range
        return found


def _time_dimension(definition: PartitionsDefinition) -> TimeWindowPartitions | None:
    """The time windows a date or time selects in: the definition's own, or its time
    dimension's; None when dates mean nothing to it (static partitions)."""
    if isinstance(definition, TimeWindowPartitions):
        return definition
    if isinstance(definition, MultiPartitions):
        major = definition.dimensions[definition.major]
        return major if isinstance(major, TimeWindowPartitions) else None
    return None


def _as_time_span(
    text: str, definition: TimeWindowPartitions, context: PartitionContext
) -> tuple[datetime, datetime] | None:
    """The day or hour `text` names (None when it is not shaped like one).

    Raises:
        PartitionKeyError: it is shaped like a date or time that does not exist
            (`2024-02-30`, `2024-01-01 25:00`), naming the definition's keys.
    """
    if not _TIME.match(text):
        return None
    try:
        if len(text) == 10:
            start = datetime.fromisoformat(text)
            return start, start + timedelta(days=1)
        start = datetime.fromisoformat(text[:10] + "T" + text[11:])
        return start, start + timedelta(hours=1)
    except ValueError as exc:
        valid = definition.fold(PartitionSubset.from_range(0, definition.size(context)))
        what = "date" if len(text) == 10 else "date and hour"
        raise PartitionKeyError(
            f"partition key {text!r} is not a real {what} ({exc}); "
            f"{definition.describe()} have keys {valid or 'none yet'}"
        ) from None
    except OverflowError:  # 9999-12-31: its day ends past what datetime holds
        return None


def _overlapping(
    definition: TimeWindowPartitions, span: tuple[datetime, datetime], size: int
) -> PartitionSubset:
    start = definition.index_at(definition._aware(span[0]))
    stop = definition.index_at(definition._aware(span[1]) - timedelta(microseconds=1)) + 1
    start, stop = max(start, 0), min(stop, size)
    return PartitionSubset.from_range(start, stop)
