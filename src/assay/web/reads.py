"""History reads for pages (runs, steps, checks, backfills) that never make a run
wait: a read-only connection under a short shared lock, opened only when the state
moved since the same read was last made, one at a time per UI process.

Many browsers polling a run page cost one DuckDB open per change of the store,
not one per request; a store that cannot be read now (a run indexing for long, a
notebook holding the file) gives the last answer, said to be from then, or
`Waiting` when there is none.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from assay.errors import StateError

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable
    from pathlib import Path

    from assay.state.reader import StateReader

T = TypeVar("T")
LOCK_WAIT_S = 1.0  # how long a page's read waits for the store's lock
MAX_ENTRIES = 512


class Waiting(Exception):
    """The store cannot be read now, and no earlier answer is kept: `reason` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Answer(Generic[T]):
    """A read's value, read at `read_at` (epoch seconds); `reason` when the store
    could not be read now and this is an earlier answer (or the caller's default)."""

    value: T
    read_at: float
    reason: str | None = None


class Reads:
    """Cached reads of the state at `home`, keyed by what they read and the store's
    fingerprint (its file, write-ahead log and the live runs' claims)."""

    def __init__(self, home: Path, fingerprint: Callable[[], tuple[object, ...]]) -> None:
        from assay.state.reader import StateReader

        self.home = home
        self.reader: StateReader = StateReader(home, index=False, timeout_s=LOCK_WAIT_S)
        self._fingerprint = fingerprint
        self._entries: OrderedDict[Hashable, tuple[tuple[object, ...], float, Any]] = OrderedDict()
        self._lock = threading.Lock()  # one DuckDB read at a time: writers never starve
        self.opened = 0  # reads that reached the store (the rest were answered from cache)

    def get(self, key: Hashable, read: Callable[[StateReader], T]) -> Answer[T]:
        """`read(reader)`, or its last value when the state has not moved since.

        Raises:
            Waiting: the store cannot be read now and there is no earlier value.
        """
        fingerprint = self._fingerprint()
        found = self._entries.get(key)
        if found is not None and found[0] == fingerprint:
            self._entries.move_to_end(key)
            return Answer(found[2], found[1])
        with self._lock:
            found = self._entries.get(key)
            if found is not None and found[0] == fingerprint:
                return Answer(found[2], found[1])
            try:
                self.opened += 1
                value = read(self.reader)
            except StateError as exc:
                if found is None:
                    raise Waiting(str(exc)) from None
                return Answer(found[2], found[1], reason=str(exc))
            self._entries[key] = (fingerprint, time.time(), value)
            self._entries.move_to_end(key)
            while len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
            return Answer(value, time.time())

    def get_or(self, key: Hashable, read: Callable[[StateReader], T], default: T) -> Answer[T]:
        """`get`, or `default` (with the reason) when the store cannot be read now and
        there is no earlier answer: for a part of a page that can wait."""
        try:
            return self.get(key, read)
        except Waiting as waiting:
            return Answer(default, 0.0, reason=waiting.reason)
