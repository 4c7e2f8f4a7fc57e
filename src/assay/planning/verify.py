"""Is stored data still there? A table dropped or a file deleted outside assay leaves
the state saying "fresh" while the data is gone.

An IO manager answers with an optional `exists(key, partitions)` method (the
same `partitions` as `load`: None for an unpartitioned asset; it returns one
bool per partition). IO managers without it are not verified. `assay plan
--verify` asks every IO manager that can tell, for every stored partition the
plan would otherwise call fresh; without it, only local ones (`is_local`: a
file's stat, about a microsecond) are asked, on plans with at most
`AUTO_VERIFY_LIMIT` such partitions, so that a deleted file is noticed on a
small project at no cost worth measuring, and a large one plans as fast as
before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    import numpy as np

    from assay.io.base import IOManager
    from assay.keys import AssetKey
    from assay.partitions.base import PartitionsDefinition

AUTO_VERIFY_LIMIT = 5_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Verification:
    """How a plan checks that stored partitions exist (see the module docstring)."""

    io_for: Callable[[AssetKey], IOManager]
    requested: bool = False  # `--verify`: every IO manager that can tell, any size

    def chosen(self, materialized: Mapping[AssetKey, int]) -> set[AssetKey]:
        """The assets to verify, given how many partitions of each are stored."""
        if self.requested:
            return {key for key, count in materialized.items() if count and self._exists(key)}
        local: set[AssetKey] = set()
        total = 0
        for key, count in materialized.items():
            if not count or not getattr(self.io_for(key), "is_local", False):
                continue
            if not self._exists(key):
                continue
            total += count
            if total > AUTO_VERIFY_LIMIT:  # too many to ask: none is (a large plan stays fast)
                return set()
            local.add(key)
        return local

    def missing(
        self, key: AssetKey, definition: PartitionsDefinition | None, candidates: np.ndarray
    ) -> np.ndarray:
        """Which of the candidate partitions (a bool mask) have no stored data."""
        import numpy as np

        gone = np.zeros(len(candidates), dtype=bool)
        indices = np.flatnonzero(candidates)
        exists = self._exists(key)
        if not len(indices) or exists is None:
            return gone
        partitions = None if definition is None else [definition.key(int(i)) for i in indices]
        found = np.asarray(list(exists(key, partitions)), dtype=bool)
        gone[indices] = ~found
        return gone

    def _exists(self, key: AssetKey) -> Callable[..., Any] | None:
        exists = getattr(self.io_for(key), "exists", None)
        return exists if callable(exists) else None
