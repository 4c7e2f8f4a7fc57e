"""Asking a running process to stop, from another process: a flag file it polls.

A run's coordinator (and a backfill's driver) checks its flag every 0.2 s: once
the file exists, running steps finish and nothing new starts, and the run ends
`canceled`. The flag is removed when the run ends; a backfill's also when a
run of it starts (a request made of an earlier run asks nothing of this one),
a run's never (one launched and canceled at once is canceled before it starts).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

POLL_S = 0.2


def cancel_flag(home: Path, kind: str, ident: str) -> Path:
    """The file whose existence asks the process driving run (or backfill) `ident` to stop."""
    folder = "backfills" if kind == "backfill" else "runs"
    return home / folder / f"{ident}.cancel"


def request_stop(flag: Path) -> None:
    flag.parent.mkdir(parents=True, exist_ok=True)
    flag.write_text(f"{time.time()}\n", encoding="utf-8")


class CancelWatch:
    """Polled by a coordinator: True once its cancel flag exists."""

    def __init__(self, flag: Path, *, clear_stale: bool = False) -> None:
        self.flag = flag
        if clear_stale:  # a backfill's earlier run was asked to stop, not this one
            self.flag.unlink(missing_ok=True)
        self.last_check = 0.0
        self.requested = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.requested and now - self.last_check >= POLL_S:
            self.last_check = now
            self.requested = self.flag.exists()
        return self.requested

    def clear(self) -> None:
        self.flag.unlink(missing_ok=True)
