"""The daemon's clock: the system's, or one read from a file (tests and previews
cover days of schedules in seconds; the processes it launches get `--at`)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from assay.automation.cron import parse_instant

if TYPE_CHECKING:
    from pathlib import Path


class Clock(Protocol):
    def now(self) -> datetime: ...

    def sleep(self, seconds: float) -> None: ...

    @property
    def is_real(self) -> bool: ...


class SystemClock:
    is_real = True

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds))


class FileClock:
    """The instant written in a file (ISO text), read at each call: a test moves time
    by rewriting it. Sleeps are short real sleeps, so that a moved clock is seen."""

    is_real = False

    def __init__(self, path: Path) -> None:
        self.path = path

    def now(self) -> datetime:
        return parse_instant(self.path.read_text(encoding="utf-8"))

    def sleep(self, seconds: float) -> None:
        time.sleep(min(max(0.0, seconds), 0.05))


class FixedClock:
    """One instant (`assay tick --at`)."""

    is_real = False

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at

    def sleep(self, seconds: float) -> None:
        time.sleep(min(max(0.0, seconds), 0.05))
