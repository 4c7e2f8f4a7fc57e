"""Schedules' arithmetic: the ticks of a schedule, and the windows of its assets'
time partitions that closed between two instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from assay.automation.requests import selection_args
from assay.errors import DefinitionError
from assay.partitions.time_window import TimeWindowPartitions
from assay.selection import parse_selection

if TYPE_CHECKING:
    from assay.automation.schedules import Schedule
    from assay.graph import AssetGraph


def window_definition(item: Schedule, graph: AssetGraph) -> TimeWindowPartitions | None:
    """The one time-window partitions definition of the schedule's assets (None: they
    are not time-partitioned).

    Raises:
        DefinitionError: they have several, or some are time-partitioned and some not,
            or none is and there is no cron.
    """
    keys = parse_selection(list(selection_args(item.selection))).resolve(graph)
    windows = {
        graph.specs[k].partitions
        for k in keys
        if isinstance(graph.specs[k].partitions, TimeWindowPartitions)
    }
    others = [
        str(k) for k in keys if not isinstance(graph.specs[k].partitions, TimeWindowPartitions)
    ]
    if len(windows) > 1:
        raise DefinitionError(
            f"schedule {item.name!r} selects assets with {len(windows)} different time "
            "partitions: make one schedule per partitions definition"
        )
    if windows and others:
        raise DefinitionError(
            f"schedule {item.name!r} selects time-partitioned assets and others "
            f"({', '.join(others[:3])}): make a schedule for each"
        )
    if not windows and item.cron is None:
        raise DefinitionError(
            f"schedule {item.name!r}: its assets are not time-partitioned, so give it a cron"
        )
    found = next(iter(windows), None)
    assert found is None or isinstance(found, TimeWindowPartitions)
    return found


def schedule_ticks(
    item: Schedule, window: TimeWindowPartitions | None, after: datetime, until: datetime
) -> tuple[list[datetime], datetime | None]:
    """The ticks in `(after, until]`, and the first after `until` when it was seen on
    the way (None: a cron not looked at so far). A long downtime's ticks are not all
    listed: the first, the count being what matters, and the latest."""
    if item.cron is not None:
        assert not isinstance(item.cron, str)
        bound = min(until, after + timedelta(days=3))
        ticks: list[datetime] = []
        for tick in item.cron.ticks_after(after):  # one walk: a schedule is due or not
            if tick > bound:
                if tick > until:
                    return ticks, tick
                break
            ticks.append(tick)
        latest = item.cron.latest_tick(after, until)
        if latest is not None and (not ticks or ticks[-1] != latest):
            ticks.append(latest)
        return ticks, None
    assert window is not None
    first = max(window.index_at(after), 0)
    last = window.index_at(until)
    ends = [window.time_window(i).end.astimezone(UTC) for i in range(first, last)]
    upcoming = window.time_window(max(last, 0)).end.astimezone(UTC)  # the open window's
    return [end for end in ends if end > after][-2:], upcoming


def next_tick(item: Schedule, window: TimeWindowPartitions | None, now: datetime) -> datetime:
    if item.cron is not None:
        assert not isinstance(item.cron, str)
        return item.cron.next_tick(now)
    assert window is not None
    return window.time_window(max(window.index_at(now), 0)).end.astimezone(UTC)


def closed_windows(
    window: TimeWindowPartitions, after: datetime, tick: datetime, catch_up: timedelta
) -> tuple[list[str], list[str]]:
    """Keys of the windows that closed in `(after, tick]`: those within `catch_up` of
    the tick, and the older ones (left out)."""
    first = max(window.index_at(after), 0)
    last = window.index_at(tick)
    recent: list[str] = []
    old: list[str] = []
    for index in range(first, last):
        end = window.time_window(index).end
        if end <= after or end > tick:
            continue
        (recent if end >= tick - catch_up else old).append(window.key(index))
    return recent, old
