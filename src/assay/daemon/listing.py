"""Schedules and sensors as people see them (`assay schedule list`, the UI): when
each ticks, whether it is on, its next and last tick; and switching one on or off."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from assay.errors import AssayError, UnknownAutomationError

if TYPE_CHECKING:
    from datetime import timedelta

    from assay.config import ProjectConfig
    from assay.daemon.engine import Automation
    from assay.definitions import Definitions
    from assay.graph import AssetGraph


def automation_items(definitions: Definitions) -> dict[str, Automation]:
    """Every schedule and sensor of the definitions, by name."""
    from assay.daemon.engine import automation_of

    return automation_of(definitions)


def find_item(definitions: Definitions, name: str, kind: str) -> Automation:
    """The schedule (`kind` "schedule") or sensor named `name`.

    Raises:
        UnknownAutomationError: there is none of that kind by that name.
    """
    from assay.automation.schedules import Schedule
    from assay.errors import did_you_mean

    found = {
        n: item
        for n, item in automation_items(definitions).items()
        if isinstance(item, Schedule) == (kind == "schedule")
    }
    if name not in found:
        hint = did_you_mean(name, list(found)).strip()
        listing = f"`assay {kind} list` lists them"
        raise UnknownAutomationError(f"no {kind} named {name!r}; {listing}. {hint}".rstrip(". "))
    return found[name]


def listing(
    definitions: Definitions, home: Any, kind: str, *, index: bool = True
) -> list[dict[str, Any]]:
    """A row per schedule (`kind` "schedule") or sensor: name, kind, enabled, when,
    next (its next tick, when enabled), last_tick, last_status, last_reason. With
    `index` False, from what is indexed."""
    from assay.automation.schedules import Schedule
    from assay.state.automation import AutomationReader

    reader = AutomationReader(home, index=index)
    overrides = reader.enabled()
    latest = reader.latest_ticks()
    now = datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    for name, item in automation_items(definitions).items():
        if isinstance(item, Schedule) != (kind == "schedule"):
            continue
        tick = latest.get(name, {})
        enabled = overrides.get(name, item.enabled)
        rows.append(
            {
                "name": name,
                "kind": "schedule" if isinstance(item, Schedule) else item.kind,
                "enabled": enabled,
                "when": when_text(item),
                "next": upcoming_tick(item, definitions.graph, now) if enabled else None,
                "last_tick": tick.get("tick_at"),
                "last_status": tick.get("status"),
                "last_reason": tick.get("reason"),
            }
        )
    return rows


def when_text(item: Automation) -> str:
    """`0 6 * * * (Europe/Paris)`, `when each window closes`, `every 30 s`."""
    from assay.automation.schedules import Schedule

    if isinstance(item, Schedule):
        if item.cron is None:
            return "when each window closes"
        return f"{item.cron.expression} ({item.cron.timezone})"  # type: ignore[union-attr]
    return f"every {_seconds(item.interval)}"


def _seconds(interval: timedelta) -> str:
    seconds = interval.total_seconds()
    if seconds % 3600 == 0:
        return f"{seconds / 3600:.0f} h"
    if seconds % 60 == 0:
        return f"{seconds / 60:.0f} min"
    return f"{seconds:g} s"


def upcoming_tick(item: Automation, graph: AssetGraph, now: datetime) -> datetime | None:
    """A schedule's next tick after `now` (None for a sensor, or a schedule that has none)."""
    from assay.automation.schedules import Schedule
    from assay.daemon.windows import next_tick, window_definition

    if not isinstance(item, Schedule):
        return None
    try:
        return next_tick(item, window_definition(item, graph), now)
    except (AssayError, StopIteration):
        return None


def set_enabled(
    config: ProjectConfig, definitions: Definitions, kind: str, name: str, enabled: bool
) -> None:
    """Switch the schedule or sensor `name` on or off (journaled, then indexed): a
    running daemon sees it at its next tick; missed history is not run.

    Raises:
        UnknownAutomationError: there is none of that kind by that name.
    """
    from assay.state.journal import Journal
    from assay.state.store import StateStore

    find_item(definitions, name, kind)
    with Journal(config.journal_dir, f"automation-{uuid.uuid4().hex[:12]}") as journal:
        journal.append(
            {"type": "automation", "name": name, "kind": kind, "enabled": enabled,
             "at": time.time(), "seq": time.time_ns()},
            {"type": "journal_closed", "journal": journal.path.stem, "at": time.time()},
            durable=True,
        )  # fmt: skip
    StateStore(config.home).index_pending()
