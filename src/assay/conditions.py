"""Declarative automation: conditions on asset partitions, and freshness promises.

A condition is a value: `Auto.on_stale()` on an asset (`@asset(automation=...)`)
or on a selection (`Definitions(automation={"group:sales": ...})`), combined
with `&`, `|` and `~`. The daemon (and `assay tick`) evaluates every condition
over whole partition arrays each tick (`assay.planning.conditions`) and
requests the partitions for which the whole expression is true.

Two kinds of parts:

- *triggers* (`stale`, `missing`, `cron_tick_passed`) are true for a partition
  when something happened to it since it was last handled (a run attempted it,
  or the daemon requested it) and since the condition was added: so a failed
  run is not requested again and again, and enabling a condition on history
  launches nothing (`assay automation enable --include-history` says otherwise);
- *states* (`in_progress`, `deps_in_progress`, `deps_missing`, `deps_failed`,
  `failed`, `deps_updated_since_cron`, `freshness_missed`) are true while they
  hold.

Declarations only: nothing heavy is imported, and a cron expression is checked
where the definitions are built.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, ClassVar

from assay.errors import DefinitionError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

# Reasons a partition is stale (assay.planning.staleness.StaleKind values) that
# `stale` reacts to by default: an upstream that is itself stale (or merely ran
# and produced the same data) does not trigger anything.
TRIGGERING_REASONS = frozenset(
    {
        "missing",
        "code changed",
        "dependencies changed",
        "config changed",
        "input changed",
        "source changed",
    }
)
_KNOWN_REASONS = TRIGGERING_REASONS | {"upstream partitions removed", "stored data missing"}
DEFAULT_MAX_PER_TICK = 100


class AutomationCondition:
    """A condition on each partition of an asset; combine with `&`, `|`, `~`."""

    label: ClassVar[str] = "condition"

    def __and__(self, other: AutomationCondition) -> AutomationCondition:
        return All(items=(*_flat(self, All), *_flat(_checked(other), All)))

    def __or__(self, other: AutomationCondition) -> AutomationCondition:
        return Any_(items=(*_flat(self, Any_), *_flat(_checked(other), Any_)))

    def __invert__(self) -> AutomationCondition:
        return self.item if isinstance(self, Not) else Not(item=self)

    def within(
        self, *, latest: int | None = None, span: timedelta | None = None
    ) -> AutomationCondition:
        """Only the latest `latest` partitions, or those whose window ended within
        `span` of now (for unpartitioned assets: the asset itself)."""
        return self & Window(latest=latest, span=span)

    def at_most(self, partitions: int) -> AutomationCondition:
        """At most this many partitions requested per tick (the newest first)."""
        return Capped(item=self, limit=partitions)

    @property
    def children(self) -> tuple[AutomationCondition, ...]:
        return ()

    def describe(self) -> str:
        """The condition in words, as `assay automation list` shows it."""
        return self.label

    def walk(self) -> Iterator[AutomationCondition]:
        """This node and every node under it, depth first."""
        yield self
        for child in self.children:
            yield from child.walk()

    @property
    def fingerprint(self) -> str:
        """Changes when the condition does (a changed condition starts afresh)."""
        return hashlib.sha256(self.describe().encode()).hexdigest()[:12]

    @property
    def max_per_tick(self) -> int:
        """The cap on partitions requested per tick (the outermost `at_most`)."""
        return self.limit if isinstance(self, Capped) else DEFAULT_MAX_PER_TICK


def _checked(value: object) -> AutomationCondition:
    if not isinstance(value, AutomationCondition):
        raise DefinitionError(
            f"cannot combine a condition with {value!r}: use Auto.on_stale(), Auto.missing(), ..."
        )
    return value


def _flat(
    condition: AutomationCondition, kind: type[All] | type[Any_]
) -> tuple[AutomationCondition, ...]:
    return condition.items if isinstance(condition, kind) else (condition,)


# --- triggers --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=True)
class Stale(AutomationCondition):
    """Stale for one of `reasons` (see `TRIGGERING_REASONS`), since last handled."""

    reasons: frozenset[str] = TRIGGERING_REASONS

    def __post_init__(self) -> None:
        unknown = set(self.reasons) - _KNOWN_REASONS
        if unknown:
            raise DefinitionError(
                f"Auto.stale(reasons=...): unknown reason(s) {sorted(unknown)}; "
                f"use {sorted(_KNOWN_REASONS)}"
            )

    def describe(self) -> str:
        if self.reasons == TRIGGERING_REASONS:
            return "stale"
        return f"stale ({', '.join(sorted(self.reasons))})"


@dataclass(frozen=True, slots=True, eq=True)
class Missing(AutomationCondition):
    """Never materialized, since last handled (new time windows; every partition of an
    asset that had no materialization when the condition was added)."""

    def describe(self) -> str:
        return "missing"


@dataclass(frozen=True, slots=True, eq=True)
class CronTickPassed(AutomationCondition):
    """A tick of `cron` passed since the partition was last handled."""

    cron: str
    timezone: str = "UTC"

    def describe(self) -> str:
        return f"cron tick passed ({self.cron} {self.timezone})"


# --- states ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=True)
class DepsUpdatedSinceCron(AutomationCondition):
    """Every partition it reads was updated (materialized or observed) since the latest
    tick of `cron`."""

    cron: str
    timezone: str = "UTC"

    def describe(self) -> str:
        return f"dependencies updated since cron tick ({self.cron} {self.timezone})"


@dataclass(frozen=True, slots=True, eq=True)
class InProgress(AutomationCondition):
    """Being computed by a live run, or requested and not started yet."""

    def describe(self) -> str:
        return "in progress"


@dataclass(frozen=True, slots=True, eq=True)
class DepsInProgress(AutomationCondition):
    """A partition it reads is in progress."""

    def describe(self) -> str:
        return "dependencies in progress"


@dataclass(frozen=True, slots=True, eq=True)
class DepsMissing(AutomationCondition):
    """A partition it reads was never materialized (or a source partition it reads
    does not exist)."""

    def describe(self) -> str:
        return "dependencies missing"


@dataclass(frozen=True, slots=True, eq=True)
class Failed(AutomationCondition):
    """Its latest attempt failed (after its latest materialization)."""

    def describe(self) -> str:
        return "failed"


@dataclass(frozen=True, slots=True, eq=True)
class DepsFailed(AutomationCondition):
    """A partition it reads failed its latest attempt, or a blocking check of it failed."""

    def describe(self) -> str:
        return "dependencies failed"


@dataclass(frozen=True, slots=True, eq=True)
class FreshnessMissed(AutomationCondition):
    """Past the deadline of the asset's `Freshness` and not materialized in time."""

    def describe(self) -> str:
        return "freshness missed"


@dataclass(frozen=True, slots=True, eq=True)
class Window(AutomationCondition):
    """The latest `latest` partitions, or those whose window ended within `span`."""

    latest: int | None = None
    span: timedelta | None = None

    def __post_init__(self) -> None:
        if (self.latest is None) == (self.span is None):
            raise DefinitionError("within(...): give latest=N or span=timedelta(...), not both")
        if self.latest is not None and (not isinstance(self.latest, int) or self.latest < 1):
            raise DefinitionError(f"within(latest={self.latest!r}): give a whole number >= 1")
        if self.span is not None and (
            not isinstance(self.span, timedelta) or self.span <= timedelta(0)
        ):
            raise DefinitionError(f"within(span={self.span!r}): give a positive timedelta")

    def describe(self) -> str:
        if self.latest is not None:
            return "latest partition" if self.latest == 1 else f"latest {self.latest} partitions"
        return f"window ended within {self.span}"


# --- combinations ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, eq=True)
class All(AutomationCondition):
    items: tuple[AutomationCondition, ...]

    @property
    def children(self) -> tuple[AutomationCondition, ...]:
        return self.items

    def describe(self) -> str:
        return " & ".join(_grouped(item) for item in self.items)


@dataclass(frozen=True, slots=True, eq=True)
class Any_(AutomationCondition):
    items: tuple[AutomationCondition, ...]

    @property
    def children(self) -> tuple[AutomationCondition, ...]:
        return self.items

    def describe(self) -> str:
        return " | ".join(_grouped(item) for item in self.items)


@dataclass(frozen=True, slots=True, eq=True)
class Not(AutomationCondition):
    item: AutomationCondition

    @property
    def children(self) -> tuple[AutomationCondition, ...]:
        return (self.item,)

    def describe(self) -> str:
        return f"not {_grouped(self.item)}"


@dataclass(frozen=True, slots=True, eq=True)
class Capped(AutomationCondition):
    item: AutomationCondition
    limit: int

    def __post_init__(self) -> None:
        if not isinstance(self.limit, int) or self.limit < 1:
            raise DefinitionError(f"at_most({self.limit!r}): give a whole number >= 1")

    @property
    def children(self) -> tuple[AutomationCondition, ...]:
        return (self.item,)

    def describe(self) -> str:
        return f"{self.item.describe()}, at most {self.limit} per tick"


def _grouped(condition: AutomationCondition) -> str:
    text = condition.describe()
    return f"({text})" if isinstance(condition, All | Any_ | Capped) else text


# --- the public vocabulary -------------------------------------------------------------


def _guards() -> AutomationCondition:
    return ~InProgress() & ~DepsInProgress() & ~DepsMissing() & ~DepsFailed()


def _windowed(
    condition: AutomationCondition,
    latest: int | None,
    span: timedelta | None,
    max_per_tick: int | None,
) -> AutomationCondition:
    if latest is not None or span is not None:
        condition = condition.within(latest=latest, span=span)
    return condition.at_most(max_per_tick) if max_per_tick is not None else condition


class Auto:
    """The conditions, ready to use (`on_*`) and as parts to combine.

    >>> Auto.on_stale().describe().split(" & ")[:3]
    ['stale', 'not in progress', 'not dependencies in progress']
    >>> print((Auto.missing() & ~Auto.deps_failed()).within(latest=7).describe())
    missing & not dependencies failed & latest 7 partitions
    """

    @staticmethod
    def on_stale(
        *,
        reasons: Iterable[str] | None = None,
        latest: int | None = None,
        span: timedelta | None = None,
        max_per_tick: int | None = None,
    ) -> AutomationCondition:
        """Request a partition when it becomes stale for a reason that matters (missing,
        code changed, dependencies changed, an input's data really changed, a source
        changed), once nothing it reads is being computed, missing or failed."""
        return _windowed(Auto.stale(reasons) & _guards(), latest, span, max_per_tick)

    @staticmethod
    def on_missing(
        *,
        latest: int | None = None,
        span: timedelta | None = None,
        max_per_tick: int | None = None,
    ) -> AutomationCondition:
        """Request a partition that does not exist yet (a new time window), once what
        it reads exists and is not being computed or failed."""
        return _windowed(Missing() & _guards(), latest, span, max_per_tick)

    @staticmethod
    def on_cron(
        cron: str,
        timezone: str = "UTC",
        *,
        latest: int | None = 1,
        max_per_tick: int | None = None,
    ) -> AutomationCondition:
        """After each tick of `cron`, request the latest partition (`latest=N`: the
        latest N) once every partition it reads was updated since that tick."""
        condition = (
            CronTickPassed(cron, timezone)
            & DepsUpdatedSinceCron(cron, timezone)
            & ~InProgress()
            & ~DepsInProgress()
            & ~DepsFailed()
        )
        return _windowed(condition, latest, None, max_per_tick)

    @staticmethod
    def on_freshness_missed(*, max_per_tick: int | None = None) -> AutomationCondition:
        """Request a partition whose freshness deadline passed, once what it reads is
        ready."""
        return _windowed(FreshnessMissed() & _guards(), None, None, max_per_tick)

    # parts
    @staticmethod
    def stale(reasons: Iterable[str] | None = None) -> AutomationCondition:
        return Stale(TRIGGERING_REASONS if reasons is None else frozenset(reasons))

    @staticmethod
    def missing() -> AutomationCondition:
        return Missing()

    @staticmethod
    def cron_tick_passed(cron: str, timezone: str = "UTC") -> AutomationCondition:
        return CronTickPassed(cron, timezone)

    @staticmethod
    def deps_updated_since_cron(cron: str, timezone: str = "UTC") -> AutomationCondition:
        return DepsUpdatedSinceCron(cron, timezone)

    @staticmethod
    def in_progress() -> AutomationCondition:
        return InProgress()

    @staticmethod
    def deps_in_progress() -> AutomationCondition:
        return DepsInProgress()

    @staticmethod
    def deps_missing() -> AutomationCondition:
        return DepsMissing()

    @staticmethod
    def failed() -> AutomationCondition:
        return Failed()

    @staticmethod
    def deps_failed() -> AutomationCondition:
        return DepsFailed()

    @staticmethod
    def freshness_missed() -> AutomationCondition:
        return FreshnessMissed()


# --- freshness -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Freshness:
    """A promise of when data exists.

    - `lag`: for time-partitioned assets, each partition is due `lag` after its
      window closes (`Freshness(lag=timedelta(hours=6))` on a daily asset:
      yesterday's partition by 06:00).
    - `max_age`: each partition (or the unpartitioned asset) must have been
      materialized within `max_age` of now.
    - `deadline` (a cron, in `timezone`): by each tick of it, the asset must have
      been materialized since the tick before (or within `max_age` of the tick).

    A partition past its deadline and not materialized in time is *freshness
    missed*: shown by `assay list`, `assay check` and the daemon, alerted once
    (`Alert(on=["freshness_missed"])`), and usable as a trigger
    (`Auto.on_freshness_missed()`). `severity="error"` makes `assay check` fail.

    >>> Freshness(lag=timedelta(hours=6)).describe()
    'due 6:00:00 after its window closes'
    """

    lag: timedelta | None = None
    max_age: timedelta | None = None
    deadline: str | None = None
    timezone: str = "UTC"
    severity: str = "warn"

    def __post_init__(self) -> None:
        given = [n for n in ("lag", "max_age", "deadline") if getattr(self, n) is not None]
        if not given:
            raise DefinitionError(
                "Freshness(): give lag= (time partitions), max_age= or deadline= (a cron)"
            )
        if self.lag is not None and (self.max_age is not None or self.deadline is not None):
            raise DefinitionError("Freshness(lag=...) stands alone: drop max_age= and deadline=")
        for name in ("lag", "max_age"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, timedelta) or value < timedelta(0)):
                raise DefinitionError(f"Freshness({name}={value!r}): give a timedelta >= 0")
        if self.severity not in ("warn", "error"):
            raise DefinitionError(f"Freshness(severity={self.severity!r}): give 'warn' or 'error'")

    def describe(self) -> str:
        if self.lag is not None:
            return f"due {self.lag} after its window closes"
        if self.deadline is not None:
            within = f" (within {self.max_age})" if self.max_age is not None else ""
            return f"materialized by each {self.deadline} {self.timezone}{within}"
        return f"materialized within the last {self.max_age}"


def cron_parts(condition: AutomationCondition | None) -> list[tuple[str, str]]:
    """Every (cron, timezone) a condition names, to check where definitions are built."""
    if condition is None:
        return []
    return [
        (node.cron, node.timezone)
        for node in condition.walk()
        if isinstance(node, CronTickPassed | DepsUpdatedSinceCron)
    ]
