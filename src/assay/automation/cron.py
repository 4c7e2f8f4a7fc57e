"""Cron expressions on a timezone's wall clock, with one DST semantic.

A schedule's cron is read on the local wall clock of its timezone, as Debian's
cron reads it (cronsim implements exactly that):

- A schedule whose minute and hour fields are both fixed (`30 1 * * *`, daily;
  `0 6 * * 1`, weekly) fires once per local date it matches: a time that occurs
  twice on a fall-back day fires at its first occurrence only, and a time that
  does not exist on a spring-forward day fires at the first instant after the
  gap (02:30 in New York's gap fires at 03:00).
- A schedule with `*` in its minute or hour field (`0 * * * *`, hourly;
  `*/15 * * * *`) measures real time: it fires at every real instant whose wall
  time matches, both occurrences of a repeated hour included, and never for wall
  times in a gap (they do not happen).

`ticks_between` and `next_tick` are what the daemon, `assay tick` and
`assay schedule preview` use; they are tested against a minute-by-minute
reference of the rules above in many zones (Asia/Kolkata, Australia/Lord_Howe's
30-minute shift, Pacific/Chatham's 45-minute offset among them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from assay.errors import DefinitionError

if TYPE_CHECKING:
    from collections.abc import Iterator


@dataclass(frozen=True, slots=True)
class Cron:
    """A cron expression (five fields, or `@daily`-style) in an IANA timezone."""

    expression: str
    timezone: str = "UTC"
    tz: ZoneInfo = field(init=False, repr=False, compare=False)
    _by_wall_clock: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            tz = ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise DefinitionError(
                f"unknown timezone {self.timezone!r}: use an IANA name like 'Europe/Berlin'"
            ) from None
        object.__setattr__(self, "tz", tz)
        expression = _ALIASES.get(self.expression.strip(), self.expression.strip())
        if len(expression.split()) != 5:
            raise DefinitionError(
                f"cron {self.expression!r} has {len(expression.split())} fields, not 5 "
                "(minute hour day-of-month month day-of-week), nor is it @hourly, @daily, "
                "@weekly, @monthly or @yearly"
            )
        object.__setattr__(self, "expression", expression)
        minute, hour = expression.split()[:2]
        object.__setattr__(
            self, "_by_wall_clock", not minute.startswith("*") and not hour.startswith("*")
        )
        from cronsim import CronSim, CronSimError

        try:
            CronSim(expression, datetime(2024, 1, 1, tzinfo=tz))
        except CronSimError as exc:
            raise DefinitionError(f"cron {self.expression!r} is not valid: {exc}") from None

    @property
    def by_wall_clock(self) -> bool:
        """Minute and hour both fixed: once per matching local date (see the module)."""
        return self._by_wall_clock

    def ticks_after(self, instant: datetime) -> Iterator[datetime]:
        """The ticks strictly after `instant`, in order, as UTC instants.

        cronsim walks the naive wall clock; each wall time it yields becomes the
        real instants it stands for under the rules above (none, one or two), kept
        in a heap until no later wall time can give an earlier instant.

        A later wall time stands for an earlier instant only when the clock falls
        back between the two instants, so most ticks are final at once, without
        looking at the next wall time (for a daily cron, a day ahead): all of them
        by the wall clock (a wall time stands for its first occurrence or its gap's
        end, never earlier than an earlier wall time's), and the others within
        `_MAX_SHIFT` of an instant that the clock does not fall back after."""
        import heapq

        from cronsim import CronSim

        wall_clock = self.by_wall_clock
        # a wall time before the instant's stands for a later instant only when the
        # clock falls back soon after it (a fold is at most a few hours): start early
        # enough to see both occurrences then, and at the instant's own wall time
        # otherwise (a `* * * * *` would walk 180 wall times for nothing)
        local = instant.astimezone(self.tz)
        start = local.replace(tzinfo=None)
        falls_back = self._falls_back_after(instant, local.utcoffset())
        if falls_back:
            start -= _MAX_SHIFT
        final_until = None if falls_back else instant + _MAX_SHIFT
        pending: list[datetime] = []
        last: datetime | None = None
        for wall in CronSim(self.expression, start):
            for at in self._instants(wall, wall_clock=wall_clock):
                heapq.heappush(pending, at)  # none earlier than `first` unless by the wall clock
            first = wall.replace(tzinfo=self.tz, fold=0).astimezone(UTC)
            while pending and (
                wall_clock
                or pending[0] < first  # no later wall time stands for an earlier instant
                or (final_until is not None and pending[0] <= final_until)
            ):
                at = heapq.heappop(pending)
                if at > instant and at != last:
                    last = at
                    yield at

    def _falls_back_after(self, instant: datetime, offset: timedelta | None) -> bool:
        """Whether the zone's offset is lower than `offset` at some point of the
        `_MAX_SHIFT` after `instant` (looked at every hour: no zone shifts twice
        within one)."""
        step = timedelta(hours=1)
        for n in range(1, int(_MAX_SHIFT / step) + 1):
            later = (instant + n * step).astimezone(self.tz).utcoffset()
            if later is None or offset is None or later < offset:
                return True
        return False

    def _instants(self, wall: datetime, *, wall_clock: bool) -> list[datetime]:
        early = wall.replace(tzinfo=self.tz, fold=0)
        late = wall.replace(tzinfo=self.tz, fold=1)
        if early.astimezone(UTC).astimezone(self.tz).replace(tzinfo=None) != wall:
            # in a gap: it does not happen; by the wall clock it fires when the gap ends
            return (
                [self._gap_end(late.astimezone(UTC), early.astimezone(UTC))] if wall_clock else []
            )
        if early.utcoffset() == late.utcoffset() or wall_clock:
            return [early.astimezone(UTC)]
        return [early.astimezone(UTC), late.astimezone(UTC)]  # a repeated hour: both

    def _gap_end(self, low: datetime, high: datetime) -> datetime:
        """The first instant after a gap, between `low` (before it) and `high`."""
        before = low.astimezone(self.tz).utcoffset()
        while high - low > timedelta(seconds=1):
            middle = low + (high - low) / 2
            if middle.astimezone(self.tz).utcoffset() == before:
                low = middle
            else:
                high = middle
        return high.replace(microsecond=0)

    def next_tick(self, instant: datetime) -> datetime:
        """The first tick strictly after `instant`."""
        return next(self.ticks_after(instant))

    def ticks_between(self, after: datetime, until: datetime) -> list[datetime]:
        """The ticks in `(after, until]`."""
        found = []
        for tick in self.ticks_after(after):
            if tick > until:
                break
            found.append(tick)
        return found

    def latest_tick(self, after: datetime, until: datetime) -> datetime | None:
        """The last tick in `(after, until]` (None: none), without listing a long
        downtime's ticks one by one when it can be avoided."""
        latest = None
        for tick in self.ticks_after(max(after, until - _LOOKBACK)):
            if tick > until:
                break
            latest = tick
        if latest is None and until - after > _LOOKBACK:
            ticks = self.ticks_between(after, until)
            return ticks[-1] if ticks else None
        return latest


_MAX_SHIFT = timedelta(hours=3)  # the largest DST shift on record is 2 hours
_LOOKBACK = timedelta(days=400)  # every cron fires within a leap year and a bit
_ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}


def parse_instant(text: str) -> datetime:
    """An instant from ISO text (`2024-03-10T06:00`, `...+01:00`, `...Z`); a time
    without an offset is UTC.

    Raises:
        ValueError: not an ISO date or time.
    """
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00").replace(" ", "T"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
