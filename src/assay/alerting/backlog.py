"""`assay alerts send`: deliver what is owed.

An event is owed to a target when its deliveries are recorded (`pending`, then
attempts) and none of them is `sent`: every attempt failed, its budget ran out,
or its process died between recording it and sending it. Each is sent again to
the target of that name as the project defines it now (its URL read from the
environment now), oldest first; once one fails for a target, that target's
other events wait for the next `assay alerts send`. Test messages are never
owed. What the target had already acknowledged (its record was lost with a
killed process) is recorded sent, not sent again.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from assay.alerting.delivery import AlertJournal, DeliveryStatus, Dispatcher, delivery_record
from assay.alerting.events import AlertEvent
from assay.state.store import StateStore

if TYPE_CHECKING:
    from collections.abc import Mapping
    from pathlib import Path

    from assay.automation.alerts import Target
    from assay.config import ProjectConfig


@dataclass(frozen=True, slots=True, kw_only=True)
class BacklogReport:
    """What `send_backlog` did."""

    sent: int = 0
    failed: int = 0
    waiting: int = 0  # not tried: their target failed just before
    busy: int = 0  # another process is sending them now
    unknown: dict[str, int] = field(default_factory=dict)  # by target name no longer defined
    errors: dict[str, str] = field(default_factory=dict)  # the last reason, by target

    def describe(self) -> str:
        """One line: `2 alerts sent, 1 failed (ops: HTTP 500 ...)`."""
        if not (self.sent or self.failed or self.waiting or self.busy or self.unknown):
            return "Nothing to send: every alert was delivered."
        text = f"{self.sent} alert(s) sent, {self.failed} failed"
        if self.errors:
            text += " (" + "; ".join(f"{t}: {e}" for t, e in sorted(self.errors.items())) + ")"
        if self.waiting:
            text += f"; {self.waiting} not tried after their target failed"
        if self.failed or self.waiting:
            text += "; run `assay alerts send` again to retry them"
        if self.busy:
            text += f"; {self.busy} being sent by another process"
        for name, count in sorted(self.unknown.items()):
            text += f"; {count} for target {name!r}, which the project no longer defines, kept"
        return text + "."


def owed(home: Path) -> list[tuple[str, str, AlertEvent]]:
    """What is owed, oldest first: (target name, event key, event)."""
    with StateStore(home).reading() as con:
        if con is None:
            return []
        rows = con.execute(
            "SELECT target, event_key, any_value(event) FILTER (WHERE event IS NOT NULL) "
            "FROM alert_deliveries WHERE event_kind <> 'test' GROUP BY target, event_key "
            "HAVING NOT bool_or(status = 'sent') ORDER BY min(recorded_at), event_key, target"
        ).fetchall()
    return [(t, k, AlertEvent.from_json(e)) for t, k, e in rows if e is not None]


def send_backlog(config: ProjectConfig, targets: Mapping[str, Target]) -> BacklogReport:
    """Deliver every owed event to its target (see the module docstring).

    Raises:
        StateError: the state store or the journal cannot be read or written.
    """
    pending = owed(config.home)
    if not pending:
        return BacklogReport()
    journal = AlertJournal(config.home)
    dispatcher = Dispatcher(config, journal.append)
    sent = failed = waiting = busy = 0
    unknown: dict[str, int] = {}
    errors: dict[str, str] = {}
    try:
        for name, _key, event in pending:
            target = targets.get(name)
            if target is None:
                unknown[name] = unknown.get(name, 0) + 1
                continue
            if name in errors:
                waiting += 1
                continue
            result = dispatcher.deliver(event, target)
            if result.status is DeliveryStatus.DUPLICATE:  # acknowledged, record lost
                journal.append(delivery_record(event, target, "sent", 0))
                sent += 1
            elif result.status is DeliveryStatus.SENT:
                sent += 1
            elif result.status is DeliveryStatus.IN_FLIGHT:
                busy += 1
            else:
                failed += 1
                errors[name] = result.error or "failed"
    finally:
        journal.close()
    return BacklogReport(
        sent=sent, failed=failed, waiting=waiting, busy=busy, unknown=unknown, errors=errors
    )
