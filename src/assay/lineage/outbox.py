"""The lineage outbox: which of a run's events reached the configured OpenLineage target.

A run that sends its lineage keeps `<home>/lineage-outbox/<run id>.jsonl` while
it runs: a first line naming the run and the target, then one line per event
delivered, written by the sender as each is acknowledged. The run holds an OS
lock on the file while it lives (the kernel drops it when the run is killed). At
the run's end the file is deleted when every event was delivered, and kept when
some were not. A kept file's run still owes the target its events in the state
store (`lineage_events`) that the file does not list: those that failed, those a
killed run never got to send, and the FAIL events the store records for a run
that died. `send_backlog` (`assay lineage send`) delivers them, listing each in
the file, and deletes the file once nothing is owed, so a second call sends
nothing.

Nothing is owed for a run that had no target configured: its events were never
meant to leave the state store. Delivery is at least once: an event acknowledged
as its run was killed, or after its run's end stopped waiting, is sent again.
The state store's tables are read, never changed.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import math
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assay.errors import ConfigError

if TYPE_CHECKING:
    from datetime import datetime
    from pathlib import Path

OUTBOX_DIR = "lineage-outbox"
# A backlog is sent by a command that can wait for a slow endpoint; it gives up
# after this long without an answer, or at once after an attempt has failed.
BACKLOG_PATIENCE_S = 10.0
_log = logging.getLogger("assay.lineage")


class Outbox:
    """One run's outbox file, open and locked by the process sending its events."""

    def __init__(self, path: Path, fd: int, run_id: str, delivered: set[str]) -> None:
        self.path = path
        self.run_id = run_id
        self.already_delivered = frozenset(delivered)
        self._fd: int | None = fd

    @classmethod
    def open(cls, home: Path, run_id: str, target: str) -> Outbox | None:
        """Start a run's file; None (and a warning) when the home cannot be written.

        It is written and locked under a temporary name and renamed into place, so a
        `send_backlog` never finds the file of a live run unlocked.
        """
        folder = home / OUTBOX_DIR
        final = folder / f"{run_id}.jsonl"
        tmp = folder / f".{run_id}.tmp"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o644)
        except OSError as exc:
            _log.warning("OpenLineage: cannot keep the outbox %s (%s)", final, exc)
            return None
        try:
            with contextlib.suppress(OSError):  # no flock here: a backlog may race the run
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            header = {"run_id": run_id, "target": target, "started_at": time.time()}
            os.write(fd, (json.dumps(header) + "\n").encode())
            os.replace(tmp, final)
        except OSError as exc:
            os.close(fd)
            _log.warning("OpenLineage: cannot keep the outbox %s (%s)", final, exc)
            return None
        return cls(final, fd, run_id, set())

    @classmethod
    def claim(cls, path: Path) -> Outbox | None:
        """Lock a kept file for sending its run's backlog; None while its run (or
        another `assay lineage send`) holds it, or once it is gone."""
        try:
            fd = os.open(path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino != os.stat(path).st_ino:  # deleted and made anew
                raise FileNotFoundError(path)
        except OSError:
            os.close(fd)
            return None
        run_id, delivered = _read(path)
        return cls(path, fd, run_id, delivered)

    def delivered(self, event_id: str) -> None:
        """Record one delivered event (a line appended in one write)."""
        if self._fd is None:
            return
        with contextlib.suppress(OSError):  # a full disk: the event may be sent again
            os.write(self._fd, (json.dumps({"sent": event_id}) + "\n").encode())

    def close(self, *, is_complete: bool) -> None:
        """Release the file; delete it when the run owes nothing more."""
        if self._fd is None:
            return
        try:
            if is_complete:
                with contextlib.suppress(FileNotFoundError):
                    self.path.unlink()
        finally:
            os.close(self._fd)
            self._fd = None


def _read(path: Path) -> tuple[str, set[str]]:
    """The run id and the ids of the events delivered, from a file (a torn last line,
    written as its run was killed, is skipped)."""
    run_id = path.stem
    delivered: set[str] = set()
    with path.open(encoding="utf-8", errors="replace") as lines:
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict):
                continue
            if "sent" in record:
                delivered.add(str(record["sent"]))
            elif "run_id" in record:
                run_id = str(record["run_id"])
    return run_id, delivered


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
    from assay.lineage.delivery import Delivery, configured_client

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
    from assay.state.store import StateStore

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
            owed.append((box, event_id, text))
        else:
            older[run_id] = older.get(run_id, 0) + 1
    return owed, older
