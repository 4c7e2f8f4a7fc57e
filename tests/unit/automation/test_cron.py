"""The schedules' one DST semantic (assay.automation.cron), against a reference
that walks real time minute by minute and applies the documented rules."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from assay.automation.cron import Cron, parse_instant
from assay.errors import DefinitionError

ZONES = [
    "America/New_York",
    "Europe/London",
    "Europe/Berlin",
    "Asia/Kolkata",  # +05:30, no DST
    "Asia/Kathmandu",  # +05:45
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Pacific/Chatham",  # +12:45 / +13:45
    "America/Santiago",  # DST in the southern hemisphere, at midnight
    "America/Havana",  # DST at midnight (00:00 does not exist on the spring day)
    "UTC",
]
EXPRESSIONS = [
    "30 1 * * *",  # daily, in the fall-back fold of most zones
    "30 2 * * *",  # daily, in the spring-forward gap of most zones
    "0 0 * * *",  # daily at midnight: Santiago's and Havana's gap
    "15 2 * * 0",  # weekly
    "0 * * * *",  # hourly
    "*/20 * * * *",
    "45 */2 * * *",
    "0 9 1 * *",  # monthly
]


def _matches(fields: list[set[int]], wall: datetime) -> bool:
    minute, hour, day, month, weekday = fields
    return (
        wall.minute in minute
        and wall.hour in hour
        and wall.day in day
        and wall.month in month
        and (wall.isoweekday() % 7) in weekday
    )


def _field(text: str, low: int, high: int) -> set[int]:
    values: set[int] = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/")
            step = int(step_text)
        if part == "*":
            first, last = low, high
        elif "-" in part:
            first, last = map(int, part.split("-"))
        else:
            first = last = int(part)
        values.update(range(first, last + 1, step))
    return values


def reference(expression: str, zone: str, start: datetime, end: datetime) -> list[datetime]:
    """The rules of the module docstring, applied to every real minute in [start, end)."""
    text = expression.split()
    fields = [
        _field(text[0], 0, 59),
        _field(text[1], 0, 23),
        _field(text[2], 1, 31),
        _field(text[3], 1, 12),
        _field(text[4], 0, 6),
    ]
    by_wall_clock = not text[0].startswith("*") and not text[1].startswith("*")
    tz = ZoneInfo(zone)
    ticks: list[datetime] = []
    at = start
    previous_wall: datetime | None = None
    while at < end:
        local = at.astimezone(tz)
        wall = local.replace(tzinfo=None)
        due = _matches(fields, wall)
        if by_wall_clock:
            if due and local.fold == 1 and _is_repeated(wall, tz):
                due = False  # its first occurrence fired
            if (
                not due
                and previous_wall is not None
                and wall - previous_wall > timedelta(minutes=1)
            ):  # a gap: wall times skipped between the previous minute and this one
                skipped = previous_wall + timedelta(minutes=1)
                while skipped < wall:
                    if _matches(fields, skipped):
                        due = True
                        break
                    skipped += timedelta(minutes=1)
        if due:
            ticks.append(at)
        previous_wall = wall
        at += timedelta(minutes=1)
    return ticks


def _is_repeated(wall: datetime, tz: ZoneInfo) -> bool:
    first = wall.replace(tzinfo=tz, fold=0).utcoffset()
    second = wall.replace(tzinfo=tz, fold=1).utcoffset()
    return first != second


def _transitions(zone: str, year: int) -> list[datetime]:
    """The UTC instants in `year` where the zone's offset changes (to the hour)."""
    tz = ZoneInfo(zone)
    found = []
    at = datetime(year, 1, 1, tzinfo=UTC)
    offset = at.astimezone(tz).utcoffset()
    while at.year == year:
        nxt = at + timedelta(hours=1)
        if nxt.astimezone(tz).utcoffset() != offset:
            found.append(nxt)
            offset = nxt.astimezone(tz).utcoffset()
        at = nxt
    return found


@pytest.mark.parametrize("zone", ZONES)
def test_ticks_equal_the_minute_by_minute_reference_around_every_transition(zone: str) -> None:
    rng = random.Random(zone)
    windows = [t - timedelta(days=2) for t in _transitions(zone, 2024)]
    windows.append(datetime(2024, 1, 1, tzinfo=UTC) + timedelta(days=rng.randrange(360)))
    for expression in EXPRESSIONS:
        cron = Cron(expression, zone)
        for start in windows:
            end = start + timedelta(days=4)
            expected = reference(expression, zone, start, end)
            got = cron.ticks_between(start - timedelta(microseconds=1), end - timedelta(minutes=1))
            assert got == expected, (zone, expression, start)


@pytest.mark.parametrize("zone", ZONES)
def test_the_next_ticks_from_any_instant_near_a_transition_equal_the_reference(zone: str) -> None:
    # the walk starts early only when the clock falls back soon after the instant
    starts = [
        transition + timedelta(minutes=m)
        for transition in _transitions(zone, 2024) or [datetime(2024, 6, 1, tzinfo=UTC)]
        for m in range(-245, 125, 35)
    ]
    for expression in EXPRESSIONS[:6]:
        cron = Cron(expression, zone)
        for start in starts:
            instant = start + timedelta(seconds=17)
            end = instant + timedelta(hours=6)
            expected = [t for t in reference(expression, zone, start, end) if t > instant]
            assert cron.ticks_between(instant, end) == expected, (zone, expression, instant)


@pytest.mark.parametrize("zone", [z for z in ZONES if _transitions(z, 2024)])
def test_a_daily_schedule_fires_once_per_local_date_on_transition_days(zone: str) -> None:
    tz = ZoneInfo(zone)
    for transition in _transitions(zone, 2024):
        for expression in ("30 1 * * *", "30 2 * * *", "0 0 * * *", "59 23 * * *"):
            start = transition - timedelta(days=3)
            ticks = Cron(expression, zone).ticks_between(start, start + timedelta(days=6))
            dates = [t.astimezone(tz).date() for t in ticks]
            assert len(dates) == len(set(dates)), (zone, expression, ticks)  # never twice
            every_date = [dates[0] + timedelta(days=n) for n in range(len(dates))]
            assert dates == every_date, (zone, expression, ticks)  # never skipped


def test_an_hourly_schedule_fires_once_per_real_hour_across_fall_back() -> None:
    start = datetime(2024, 11, 3, 3, tzinfo=UTC)  # New York: 01:00 happens twice
    ticks = Cron("0 * * * *", "America/New_York").ticks_between(start, start + timedelta(hours=6))
    assert [t - start for t in ticks] == [timedelta(hours=h) for h in range(1, 7)]


def test_bad_crons_and_zones_are_definition_errors() -> None:
    with pytest.raises(DefinitionError, match="5"):
        Cron("* * *")
    with pytest.raises(DefinitionError, match="not valid"):
        Cron("61 * * * *")
    with pytest.raises(DefinitionError, match="unknown timezone"):
        Cron("0 0 * * *", "Mars/Olympus")
    assert Cron("@daily").expression == "0 0 * * *"


def test_instants_without_an_offset_are_utc() -> None:
    assert parse_instant("2024-03-10T06:00") == datetime(2024, 3, 10, 6, tzinfo=UTC)
    assert parse_instant("2024-03-10 06:00Z") == datetime(2024, 3, 10, 6, tzinfo=UTC)
