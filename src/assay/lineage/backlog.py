"""`assay lineage send`: deliver what runs could not, from their outboxes.

A run that sends lineage keeps an outbox (`outbox`) of the events its target
acknowledged; what the store holds for it and its outbox does not list is
owed, and sent here through the same OpenLineage client configuration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assay.errors import ConfigError
from assay.lineage.compact import full_json
from assay.lineage.delivery import Delivery, configured_client
from assay.lineage.outbox import BACKLOG_PATIENCE_S, OUTBOX_DIR, Outbox
from assay.state.store import StateStore

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path


@dataclass(frozen=True, slots=True, kw_only=True)
class BacklogReport:
    """What `send_backlog` did."""

    target: str
    sent: int = 0
    failed: int = 0
    runs: int = 0  # runs that owed events
    busy: int = 0  # runs still sending (or another send holding them), left alone
    older: int = 0  # events owed, but older than `since`: kept for later
    error: str | None = None

    def describe(self) -> str:
        """One line: `12 events sent to URL, 0 failed (3 runs)`."""
        if not (self.sent or self.failed):
            text = f"nothing to send to {self.target}: every event was delivered"
        else:
            runs = f"{self.runs} run" + ("" if self.runs == 1 else "s")
            text = f"{self.sent} events sent to {self.target}, {self.failed} failed ({runs})"
            if self.failed:
                text += f": {self.error}; run `assay lineage send` again to retry them"
        if self.older:
            text += f"; {self.older} older than --since kept"
        if self.busy:
            text += f"; {self.busy} run(s) still sending, left to themselves"
        return text


def send_backlog(home: Path, *, since: datetime | None = None) -> BacklogReport:
    """Deliver the events runs kept in their outboxes, through the OpenLineage client's
    own configuration; only those recorded at or after `since`, when given.

    Raises:
        ConfigError: the client is configured to send nowhere.
    """
    found = configured_client()
    if found is None:
        raise ConfigError(
            "no OpenLineage target is configured to send to: set OPENLINEAGE_URL, "
            "or name a transport in openlineage.yml (OPENLINEAGE_DISABLED=true turns it off)"
        )
    client, target = found
    boxes: list[Outbox] = []
    busy = 0
    for path in sorted((home / OUTBOX_DIR).glob("*.jsonl")):
        box = Outbox.claim(path)
        if box is None:
            busy += int(path.exists())
        else:
            boxes.append(box)
    try:
        owed, older = _owed(home, boxes, since)
        sent_by = {box.run_id: 0 for box in boxes}
        sent, failed, error = 0, 0, None
        if owed:
            box_of = {event_id: box for box, event_id, _ in owed}

            def delivered(event_id: str) -> None:  # on the sender's thread
                box = box_of[event_id]
                box.delivered(event_id)
                sent_by[box.run_id] += 1

            delivery = Delivery(client, target, on_sent=delivered)
            delivery.send_json((event_id, text) for _, event_id, text in owed)
            report = delivery.close(patience_s=BACKLOG_PATIENCE_S, max_s=math.inf)
            sent, failed, error = report.sent, report.failed, report.error
        owed_by = {box.run_id: 0 for box in boxes}
        for box, _, _ in owed:
            owed_by[box.run_id] += 1
        for box in boxes:
            is_paid = sent_by[box.run_id] == owed_by[box.run_id] and not older.get(box.run_id)
            box.close(is_complete=is_paid)
    finally:
        for box in boxes:
            box.close(is_complete=False)  # kept: nothing is lost when sending stops midway
    return BacklogReport(
        target=target,
        sent=sent,
        failed=failed,
        runs=sum(1 for n in owed_by.values() if n),
        busy=busy,
        older=sum(older.values()),
        error=error,
    )


def _owed(
    home: Path, boxes: list[Outbox], since: datetime | None
) -> tuple[list[tuple[Outbox, str, str]], dict[str, int]]:
    """The events the claimed runs owe, oldest first, as (outbox, event id, JSON);
    and per run how many more are owed but older than `since`."""
    if not boxes:
        return [], {}
    by_run = {box.run_id: box for box in boxes}
    with StateStore(home).reading() as con:
        if con is None:
            return [], {}
        rows = con.execute(
            "SELECT run_id, event_id, event::VARCHAR, "
            "coalesce(event_time >= ?::TIMESTAMPTZ, true) AS is_recent "
            "FROM lineage_events WHERE run_id IN (SELECT unnest(?::VARCHAR[])) "
            "ORDER BY event_time, event_type <> 'START'",
            [since, list(by_run)],
        ).fetchall()
    owed: list[tuple[Outbox, str, str]] = []
    older: dict[str, int] = {}
    for run_id, event_id, text, is_recent in rows:
        box = by_run[run_id]
        if event_id in box.already_delivered:
            continue
        if is_recent:
            owed.append((box, event_id, full_json(text)))  # stored compact, sent whole
        else:
            older[run_id] = older.get(run_id, 0) + 1
    return owed, older
