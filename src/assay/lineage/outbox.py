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
import os
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
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
