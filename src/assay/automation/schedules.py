"""Schedules: run a selection at the ticks of a cron, on a timezone's wall clock.

A schedule on time-partitioned assets runs the partitions whose windows closed
since its previous tick (the partition grid's own windows: ticks and keys never
drift apart); without a cron, it ticks when each window closes. A schedule on
unpartitioned assets runs its selection at each tick. After downtime, an
unpartitioned schedule runs once, for the latest missed tick; a partitioned one
runs the missed windows of the last `catch_up` (7 days by default) as one
backfill, and alerts about older ones instead of running them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from assay.automation.cron import Cron
from assay.automation.requests import RunRequest, SkipReason
from assay.errors import DefinitionError
from assay.keys import check_name

DEFAULT_CATCH_UP = timedelta(days=7)

ScheduleResult = RunRequest | Sequence[RunRequest] | SkipReason | None


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleContext:
    """What a schedule function is told: the tick it evaluates, and the partition
    keys that tick would run (empty for unpartitioned assets)."""

    name: str
    tick: datetime  # the cron instant, UTC
    partitions: tuple[str, ...]


@dataclass(frozen=True, slots=True, eq=False)
class Schedule:
    """Run `selection` at each tick of `cron` in `timezone`.

    Args:
        name: unique among the project's schedules and sensors.
        selection: what to materialize (`"+daily_revenue"`, `["raw", "clean+"]`).
        cron: five fields or `@daily`; None for time-partitioned assets: a tick
            when each window of their partitions closes.
        timezone: an IANA zone; the cron is read on its wall clock.
        only_stale: run only stale partitions of the selection (default: a tick
            runs what it selects, fresh or not, as a scheduler does).
        catch_up: how far back missed windows are run after downtime.
        enabled: the state a new schedule starts in (`assay schedule enable`).
        priority: higher runs first when the run queue is full.
        fn: an optional function of a `ScheduleContext` returning a
            `RunRequest`, a list of them, a `SkipReason` or None (the default run).

    >>> Schedule("nightly", "+daily_revenue", cron="0 6 * * *", timezone="Europe/Berlin").cron
    Cron(expression='0 6 * * *', timezone='Europe/Berlin')
    """

    name: str
    selection: str | Sequence[str]
    cron: Cron | str | None = None
    timezone: str = "UTC"
    only_stale: bool = False
    catch_up: timedelta = DEFAULT_CATCH_UP
    enabled: bool = True
    priority: int = 0
    fn: Callable[[ScheduleContext], ScheduleResult] | None = field(default=None, repr=False)
    description: str | None = None

    def __post_init__(self) -> None:
        where = f"schedule {self.name!r}"
        check_name(self.name, "schedule name", where)
        if isinstance(self.cron, str):
            try:
                object.__setattr__(self, "cron", Cron(self.cron, self.timezone))
            except DefinitionError as exc:
                raise DefinitionError(f"{where}: {exc}") from None
        if not isinstance(self.selection, str | Sequence) or not self.selection:
            raise DefinitionError(f"{where}: give a selection of assets, like '+daily_revenue'")
        if not isinstance(self.catch_up, timedelta) or self.catch_up < timedelta(0):
            raise DefinitionError(f"{where}: catch_up must be a timedelta of 0 or more")

    @property
    def source(self) -> str:
        return f"schedule:{self.name}"

    def evaluate(self, context: ScheduleContext) -> list[RunRequest] | SkipReason:
        """The runs this tick asks for (the default run when there is no function)."""
        if self.fn is None:
            return [RunRequest()]
        return as_requests(self.fn(context), f"schedule {self.name!r}")


def schedule(
    *,
    cron: str | None = None,
    selection: str | Sequence[str],
    timezone: str = "UTC",
    name: str | None = None,
    only_stale: bool = False,
    catch_up: timedelta = DEFAULT_CATCH_UP,
    enabled: bool = True,
    priority: int = 0,
) -> Callable[[Callable[[ScheduleContext], ScheduleResult]], Schedule]:
    """A schedule whose function decides each tick: return a `RunRequest` (with
    partitions or a selection of its own), several, a `SkipReason`, or None.

    >>> @schedule(cron="0 7 * * 1-5", selection="report", timezone="America/New_York")
    ... def weekdays(context):
    ...     return RunRequest(force=True)
    >>> weekdays.name
    'weekdays'
    """

    def decorate(fn: Callable[[ScheduleContext], ScheduleResult]) -> Schedule:
        return Schedule(
            name=name or fn.__name__,
            selection=selection,
            cron=cron,
            timezone=timezone,
            only_stale=only_stale,
            catch_up=catch_up,
            enabled=enabled,
            priority=priority,
            fn=fn,
            description=fn.__doc__,
        )

    return decorate


def as_requests(value: Any, where: str) -> list[RunRequest] | SkipReason:
    """A schedule's or sensor's return value as requests, or its skip reason."""
    if value is None:
        return [RunRequest()]
    if isinstance(value, SkipReason):
        return value
    if isinstance(value, RunRequest):
        return [value]
    if isinstance(value, list | tuple) and all(isinstance(v, RunRequest) for v in value):
        return list(value) if value else SkipReason("no run requested")
    raise DefinitionError(
        f"{where} returned {type(value).__name__}: return a RunRequest, a list of them, "
        "a SkipReason or None"
    )
