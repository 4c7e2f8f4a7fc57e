"""Which event keys each target has received, across the processes of one state home.

Before it sends an event to a target, a process takes an OS lock on
`<home>/alerts/<digest of key and target>.json`, and once the target has
acknowledged it, writes `sent_at` into the file. A process that finds the lock
held leaves the event to its holder (who records what came of it); one that
finds `sent_at` sends nothing. The lock goes with its process, so a process
killed mid-send leaves the event owed (its journal says `pending`), and `assay
alerts send` delivers it. Delivery is at least once: a target that
acknowledged an event just as its sender was killed gets it again.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

ALERTS_DIR = "alerts"
_log = logging.getLogger("assay.alerting")


class ClaimState(StrEnum):
    OWED = "owed"  # this process holds it and must send it
    SENT = "sent"  # the target has it: send nothing
    BUSY = "busy"  # another process (or sender) is sending it now


@dataclass(slots=True)
class DeliveryClaim:
    """One (event key, target) pair, as this process found it."""

    state: ClaimState
    path: Path | None
    fd: int | None = None
    sent_at: float | None = None

    def mark_sent(self) -> None:
        """Record that the target acknowledged the event (then release it)."""
        if self.fd is not None:
            with contextlib.suppress(OSError):  # a full disk: it may be sent again
                body = json.dumps({"sent_at": time.time()}).encode()
                os.ftruncate(self.fd, 0)
                os.pwrite(self.fd, body, 0)
                os.fsync(self.fd)
        self.release()

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def claim_delivery(home: Path, event_key: str, target: str) -> DeliveryClaim:
    """Take the pair to send it, or find that it was sent or is being sent.

    A state home that cannot be written gives an unlocked claim (OWED, no file):
    the event is sent, without protection against a second sender.
    """
    folder = home / ALERTS_DIR
    digest = hashlib.sha256(f"{target}\0{event_key}".encode()).hexdigest()[:32]
    path = folder / f"{digest}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        _log.warning("cannot record alert deliveries in %s (%s)", folder, exc.strerror or exc)
        return DeliveryClaim(state=ClaimState.OWED, path=None)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return DeliveryClaim(state=ClaimState.BUSY, path=path)
    sent_at = _sent_at(fd)
    if sent_at is not None:
        os.close(fd)
        return DeliveryClaim(state=ClaimState.SENT, path=path, sent_at=sent_at)
    return DeliveryClaim(state=ClaimState.OWED, path=path, fd=fd)


def _sent_at(fd: int) -> float | None:
    try:
        data = json.loads(os.pread(fd, 4096, 0) or b"{}")
        return float(data["sent_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
