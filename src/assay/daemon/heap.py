"""The daemon's long-lived heap, kept out of the garbage collector's full passes.

A daemon holds, for its whole life, the definitions and the last evaluation's
columns and staleness: at 10,000 assets about half a million objects, which each
full collection of Python's cyclic collector walks again (250-330 ms, pausing
whatever tick it lands in) though none of them is garbage. So the daemon freezes
what it keeps (`gc.freeze`): a full collection then walks only what was made
since.

Freezing is a decision for the whole process, which is why only the daemon's own
loop makes it (an engine built in someone else's process never freezes their
heap), and it is made so that nothing dead stays frozen:

- `renew` (after the first evaluation, a full one, and a reload of the
  definitions): unfreeze, collect everything, freeze what is left;
- `keep` (each turn of the loop): once a full collection has run since the last
  freeze, collect the young generations (their dead cycles go, the rest joins
  the old generation) and freeze again, which costs milliseconds.

Objects frozen and later dropped are freed by their reference counts as ever;
only a cycle among them waits for the next `renew` (every few minutes).
"""

from __future__ import annotations

import gc
import time
from typing import Any


class LongLivedHeap:
    """Freezes what the daemon keeps; see the module's text."""

    def __init__(self) -> None:
        self._full_collections = 0
        self._frozen_after = 0
        self.renewed_s = 0.0  # what the last `renew` took
        gc.callbacks.append(self._seen)

    def _seen(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "stop" and info["generation"] == 2:
            self._full_collections += 1

    def renew(self) -> None:
        """Collect everything, then freeze what is alive."""
        started = time.perf_counter()
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._frozen_after = self._full_collections
        self.renewed_s = time.perf_counter() - started

    def keep(self) -> None:
        """Freeze again what a full collection found alive since the last freeze."""
        if self._full_collections == self._frozen_after:
            return
        gc.collect(1)
        gc.freeze()
        self._frozen_after = self._full_collections

    def close(self) -> None:
        """Hand the heap back to the collector as it was."""
        if self._seen in gc.callbacks:
            gc.callbacks.remove(self._seen)
        gc.unfreeze()
