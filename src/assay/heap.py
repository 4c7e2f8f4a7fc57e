"""Long-lived heaps kept out of the garbage collector's full passes.

Python's cyclic collector walks every object it tracks at each full collection,
so a process that builds many objects and keeps them pays for walking them again
and again, though none is garbage. A project of 10,000 assets holds ~300,000
objects for its definitions (~530,000 with a daemon's columns and staleness);
collections that found nothing took 0.3-0.45 s of a 10,000-asset plan in a fresh
process, and 280-336 ms of whichever daemon tick they landed in.

Freezing (`gc.freeze`) is a decision for the whole process, so library code never
makes it for someone else's:

- `loading()` (around `assay.load`): no collection while a project's definitions
  are built, as what is made is kept; then, in assay's own process (`own_process()`,
  said by the CLI's entry point, never under a caller's `CliRunner`), whose
  commands keep their definitions to the end, everything is frozen before the
  collector is back (else its next young collection walks all that the load made).
  Elsewhere the collector is only put back as it was.
- `LongLivedHeap`: the daemon's loop. `renew` (after the first evaluation, each
  full one and each reload of the definitions) unfreezes, collects everything
  and freezes what is left; `keep` (each turn of the loop), once a full collection
  has run since the last freeze, collects the young generations (their dead
  cycles go) and freezes the rest, in milliseconds. Nothing dead is frozen; a
  frozen object that is dropped is freed by its reference count as ever, and only
  a cycle among frozen objects waits for the next `renew` (every few minutes).
"""

from __future__ import annotations

import contextlib
import gc
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator


_process = {"owned": False}


def own_process() -> None:
    """Say that this process is assay's own program (the CLI's entry point, not a
    caller's `CliRunner`): `loading` may then freeze its heap."""
    _process["owned"] = True


@contextlib.contextmanager
def loading() -> Iterator[None]:
    """No collection inside the block; after it, in assay's own process, what it
    holds frozen (see the module's text); the collector as it was before."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
        if _process["owned"]:
            gc.freeze()
    finally:
        if was_enabled:
            gc.enable()


class LongLivedHeap:
    """What the daemon keeps, frozen (see the module's text)."""

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
