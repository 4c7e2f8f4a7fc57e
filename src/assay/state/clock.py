"""A clock that never goes backwards, shared by every process of one state home.

Which materialization of a partition is current, and whether an input changed
after a step read it, must not depend on wall clocks: a host whose clock is an
hour behind would otherwise have its newer output taken for an older one. So
records that are ordered carry a `seq` from this clock, a hybrid logical
clock: microseconds since the epoch, or one more than the last value handed
out to any process of the home, whichever is larger. It moves on under an OS
lock on `<home>/clock` (20 digits, rewritten in place, so a full disk cannot
tear it), and never repeats or decreases, whatever the wall clock does.
Records from before it existed are ordered by their wall time in the same unit.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from typing import TYPE_CHECKING

from assay.errors import StateError

if TYPE_CHECKING:
    from pathlib import Path

_WIDTH = 20


class Clock:
    """Hands out strictly increasing sequence numbers (see the module docstring)."""

    def __init__(self, home: Path) -> None:
        self.path = home / "clock"
        self._fd: int | None = None

    def next(self) -> int:
        """A value larger than every value this home's clock handed out before."""
        return self.reserve(1)

    def reserve(self, count: int) -> int:
        """The first of `count` consecutive values, all larger than every value this
        home's clock handed out before (one lock for a batch of ordered records)."""
        fd = self._open()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            raw = os.pread(fd, _WIDTH, 0).strip()
            last = int(raw) if raw.isdigit() else 0
            value = max(last + 1, time.time_ns() // 1000)
            os.pwrite(fd, str(value + max(count, 1) - 1).rjust(_WIDTH).encode(), 0)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        return value

    def _open(self) -> int:
        if self._fd is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise StateError(
                    f"cannot write {self.path}: {exc.strerror or exc}. Give assay a writable "
                    "state folder (ASSAY_HOME or [tool.assay] home)."
                ) from exc
        return self._fd

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Clock:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
