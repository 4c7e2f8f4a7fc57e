"""Time-window partitions: hourly, daily, weekly, monthly, in a timezone.

Partition `i` is the window from the i-th step of a local wall-clock grid to
the next (`start + i days`, at local midnight, for daily), so keys and indices
convert by arithmetic, never by a search. Across daylight-saving changes the
windows still tile time without gap or overlap: a local time that does not
exist (spring forward) resolves to the instant the clocks jump to, so its
hourly window is empty, and the repeated hour (fall back) belongs to the first
window, which then lasts two hours. Days, weeks and months start at local
midnight.

The last partition is the last *complete* window (its end is in the past),
unless `include_open_window=True` adds the one that contains now.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assay.errors import DefinitionError
from assay.partitions.base import PartitionContext, PartitionsDefinition

if TYPE_CHECKING:
    from assay.partitions.subset import PartitionSubset

_CADENCES = ("hourly", "daily", "weekly", "monthly")
_REMEMBERED = ("_size_at", "_lookup_cache")  # what a definition remembers: not pickled


@dataclass(frozen=True, slots=True)
class TimeWindow:
    """A half-open window `[start, end)` of timezone-aware datetimes."""

    start: datetime
    end: datetime


class TimeWindowPartitions(PartitionsDefinition):
    """Partitions that are consecutive time windows of one cadence."""

    kind = "time"
    cadence: ClassVar[str] = "daily"
    default_fmt: ClassVar[str] = "%Y-%m-%d"

    def __init__(
        self,
        start: str | date | datetime,
        *,
        end: str | date | datetime | None = None,
        timezone: str = "UTC",
        fmt: str | None = None,
        include_open_window: bool = False,
    ) -> None:
        name = type(self).__name__
        try:
            self.tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise DefinitionError(
                f"{name}: unknown timezone {timezone!r}; use an IANA name like 'Europe/Berlin'"
            ) from None
        self.timezone = timezone
        self.fmt = fmt or self.default_fmt
        self.start = self._align(_parse_time(start, f"{name} start"), name)
        self.end = None if end is None else _parse_time(end, f"{name} end")
        if self.end is not None and self.end <= self.start:
            raise DefinitionError(f"{name}: end {end!r} must come after start {start!r}")
        self.include_open_window = include_open_window
        if self.key(0) != self.start.strftime(self.fmt) or self._parse(self.key(1)) != 1:
            raise DefinitionError(
                f"{name}: fmt {self.fmt!r} cannot tell {self.cadence} windows apart; "
                f"use one like {self.default_fmt!r}"
            )

    # --- the grid -------------------------------------------------------------

    def _align(self, start: datetime, name: str) -> datetime:
        if self.cadence == "hourly":
            return start.replace(minute=0, second=0, microsecond=0)
        if start.time() != datetime.min.time():
            raise DefinitionError(f"{name}: start {start} must be at midnight (a date)")
        if self.cadence == "monthly" and start.day != 1:
            raise DefinitionError(
                f"{name}: start {start.date()} must be the first day of a month "
                f"(say {start.date().replace(day=1)})"
            )
        return start

    def _local(self, index: int) -> datetime:
        """The naive local start of window `index`."""
        if self.cadence == "hourly":
            return self.start + timedelta(hours=index)
        if self.cadence == "daily":
            return self.start + timedelta(days=index)
        if self.cadence == "weekly":
            return self.start + timedelta(days=7 * index)
        months = self.start.month - 1 + index
        return self.start.replace(year=self.start.year + months // 12, month=months % 12 + 1)

    def _index_of_local(self, local: datetime) -> int:
        """The index of the window whose grid step contains a naive local time."""
        delta = local - self.start
        if self.cadence == "hourly":
            return int(delta // timedelta(hours=1))
        if self.cadence == "daily":
            return delta.days
        if self.cadence == "weekly":
            return delta.days // 7
        return (local.year - self.start.year) * 12 + local.month - self.start.month

    def _aware(self, local: datetime) -> datetime:
        """A naive local time as an instant; a missing time becomes the jump's end."""
        first = local.replace(tzinfo=self.tz, fold=0)
        resolved = first.astimezone(UTC).astimezone(self.tz)
        # a missing time, read with the offset before the jump, lands where clocks jump to
        return resolved if resolved.replace(tzinfo=None) != local else first

    def time_window(self, index: int) -> TimeWindow:
        """The window of partition `index`, in the definition's timezone.

        The latest few thousand windows asked for are remembered, in the process (a
        run asks for each of its partitions' windows several times: its steps, their
        inputs, their lineage; each costs timezone arithmetic)."""
        return _window(self, index)

    def _window(self, index: int) -> TimeWindow:
        return TimeWindow(self._aware(self._local(index)), self._aware(self._local(index + 1)))

    def index_at(self, instant: datetime) -> int:
        """The index of the window that contains `instant` (may be out of range)."""
        local = instant.astimezone(self.tz).replace(tzinfo=None)
        index = self._index_of_local(local)
        # a missing local hour maps onto the window after it; step back past empty ones
        while index > 0 and self.time_window(index).start > instant.astimezone(self.tz):
            index -= 1
        return index

    # --- PartitionsDefinition ------------------------------------------------

    def size(self, context: PartitionContext | None = None) -> int:
        now = (context or PartitionContext.at()).now
        cached = self.__dict__.get("_size_at")
        if cached is not None and cached[0] == now:  # (a run asks at one `now`, often)
            return int(cached[1])
        count = self._count_at(now)
        self.__dict__["_size_at"] = (now, count)
        return count

    def _count_at(self, now: datetime) -> int:
        is_open = self.end is None or now < self._aware(self.end)
        cutoff = now if self.end is None else min(now, self._aware(self.end))
        count = self.index_at(cutoff)  # windows before the one containing cutoff are complete
        if self.include_open_window and is_open and self.time_window(count).start < cutoff:
            count += 1
        return max(count, 0)

    def keys(
        self, subset: PartitionSubset | None = None, context: PartitionContext | None = None
    ) -> list[str]:
        """The keys of `subset` (all when None), in order; every key at once when the
        format is the cadence's default (a million daily keys in under a second)."""
        if subset is not None or not self._has_grid_keys:
            return super().keys(subset, context)
        return _grid_keys(self.cadence, self.start, self.size(context))

    def _lookup(self, size: int) -> dict[str, int]:
        cached = self.__dict__.get("_lookup_cache")
        if cached is None or cached[0] != size:
            keys = _grid_keys(self.cadence, self.start, size) if self._has_grid_keys else None
            found = dict(zip(keys, range(size), strict=True)) if keys is not None else None
            cached = (size, found if found is not None else super()._lookup(size))
            self.__dict__["_lookup_cache"] = cached
        return cached[1]

    @property
    def _has_grid_keys(self) -> bool:
        """Whether numpy formats every key as `key()` does: the default format, years of
        four digits."""
        return self.fmt == self.default_fmt and self.start.year >= 1000

    def key(self, index: int) -> str:
        return self._local(index).strftime(self.fmt)

    def _parse(self, key: str) -> int | None:
        try:
            local = datetime.strptime(key, self.fmt)
        except ValueError:
            return None
        index = self._index_of_local(local)
        return index if index >= 0 and self.key(index) == key else None

    def describe(self) -> str:
        end = f" to {self.end:%Y-%m-%d %H:%M}" if self.end else ""
        return f"{self.cadence} partitions from {self.key(0)}{end} ({self.timezone})"

    def __getstate__(self) -> dict[str, Any]:
        """What pickles: the definition, not what it remembered."""
        return {k: v for k, v in self.__dict__.items() if k not in _REMEMBERED}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TimeWindowPartitions) and self._identity == other._identity

    def __hash__(self) -> int:
        return hash(self._identity)

    @property
    def _identity(self) -> tuple[object, ...]:
        return (
            self.cadence,
            self.start,
            self.end,
            self.timezone,
            self.fmt,
            self.include_open_window,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(start={self.key(0)!r}, timezone={self.timezone!r})"


class HourlyPartitions(TimeWindowPartitions):
    """One partition per local hour: keys `2024-01-01-00:00`."""

    cadence = "hourly"
    default_fmt = "%Y-%m-%d-%H:%M"


class DailyPartitions(TimeWindowPartitions):
    """One partition per local day: keys `2024-01-01`.

    >>> DailyPartitions(start="2024-01-01", end="2024-01-04").keys()
    ['2024-01-01', '2024-01-02', '2024-01-03']
    """

    cadence = "daily"


class WeeklyPartitions(TimeWindowPartitions):
    """One partition per 7 days from `start`: keys are each week's first day."""

    cadence = "weekly"


class MonthlyPartitions(TimeWindowPartitions):
    """One partition per calendar month: keys are each month's first day, `2024-01-01`."""

    cadence = "monthly"


_GRID: dict[str, tuple[Literal["h", "D", "M"], int]] = {
    "hourly": ("h", 1),
    "daily": ("D", 1),
    "weekly": ("D", 7),
    "monthly": ("M", 1),
}


def _grid_keys(cadence: str, start: datetime, count: int) -> list[str]:
    """The default keys of `count` windows from the naive local `start`, as numpy
    computes them (the same as strftime of each, without a Python call per key)."""
    import numpy as np

    unit, step = _GRID[cadence]
    first = np.datetime64(start, unit)
    grid = first + np.arange(count, dtype=np.int64) * np.timedelta64(step, unit)
    if cadence == "hourly":
        text = np.char.replace(np.datetime_as_string(grid, unit="m"), "T", "-")
    else:
        text = np.datetime_as_string(grid.astype("datetime64[D]"), unit="D")
    keys: list[str] = text.tolist()
    return keys


def _parse_time(value: str | date | datetime, what: str) -> datetime:
    if isinstance(value, datetime):
        return value.replace(tzinfo=None)
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    if isinstance(value, str) and re.fullmatch(
        r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2})?)?", value
    ):
        return datetime.fromisoformat(value)
    raise DefinitionError(f"{what} {value!r} must be a date or datetime, like '2024-01-01'")


@functools.lru_cache(maxsize=8192)
def _window(definition: TimeWindowPartitions, index: int) -> TimeWindow:
    """`time_window`, remembered (definitions that are equal share their windows)."""
    return definition._window(index)
