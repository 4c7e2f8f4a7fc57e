"""A set of partitions as sorted, disjoint, half-open index ranges."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    import numpy as np


@dataclass(frozen=True, slots=True)
class PartitionSubset:
    """Partition indices as ranges: `PartitionSubset(((0, 90), (120, 121)))`.

    >>> PartitionSubset.from_indices([3, 1, 2, 7]).ranges
    ((1, 4), (7, 8))
    """

    ranges: tuple[tuple[int, int], ...] = ()

    @classmethod
    def from_indices(cls, indices: Iterable[int]) -> PartitionSubset:
        ranges: list[tuple[int, int]] = []
        for index in sorted(set(indices)):
            if ranges and ranges[-1][1] == index:
                ranges[-1] = (ranges[-1][0], index + 1)
            else:
                ranges.append((index, index + 1))
        return cls(tuple(ranges))

    @classmethod
    def from_range(cls, start: int, stop: int) -> PartitionSubset:
        return cls(((start, stop),) if stop > start else ())

    @classmethod
    def from_mask(cls, mask: np.ndarray) -> PartitionSubset:
        """The indices where a boolean array is true, as ranges (vectorized)."""
        import numpy as np

        indices = np.flatnonzero(mask)
        if not len(indices):
            return cls()
        first, last = int(indices[0]), int(indices[-1])
        if last - first + 1 == len(indices):  # one run (the usual: a tail, one partition)
            return cls(((first, last + 1),))
        breaks = np.flatnonzero(indices[1:] != indices[:-1] + 1)
        starts = [first, *(indices[breaks + 1].tolist())]
        stops = [*(indices[breaks] + 1).tolist(), last + 1]
        return cls(tuple(zip(starts, stops, strict=True)))

    def to_mask(self, size: int) -> np.ndarray:
        import numpy as np

        mask = np.zeros(size, dtype=bool)
        for start, stop in self.ranges:
            mask[start:stop] = True
        return mask

    def __len__(self) -> int:
        return sum(stop - start for start, stop in self.ranges)

    def __bool__(self) -> bool:
        return bool(self.ranges)

    def __iter__(self) -> Iterator[int]:
        for start, stop in self.ranges:
            yield from range(start, stop)

    def __contains__(self, index: object) -> bool:
        return any(start <= index < stop for start, stop in self.ranges)  # type: ignore[operator]

    def __or__(self, other: PartitionSubset) -> PartitionSubset:
        merged: list[tuple[int, int]] = []
        for start, stop in sorted(self.ranges + other.ranges):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], stop))
            else:
                merged.append((start, stop))
        return PartitionSubset(tuple(merged))

    def __and__(self, other: PartitionSubset) -> PartitionSubset:
        out: list[tuple[int, int]] = []
        i = j = 0
        while i < len(self.ranges) and j < len(other.ranges):
            start = max(self.ranges[i][0], other.ranges[j][0])
            stop = min(self.ranges[i][1], other.ranges[j][1])
            if start < stop:
                out.append((start, stop))
            if self.ranges[i][1] < other.ranges[j][1]:
                i += 1
            else:
                j += 1
        return PartitionSubset(tuple(out))

    def __sub__(self, other: PartitionSubset) -> PartitionSubset:
        out: list[tuple[int, int]] = []
        for start, stop in self.ranges:
            cursor = start
            for o_start, o_stop in other.ranges:
                if o_stop <= cursor or o_start >= stop:
                    continue
                if o_start > cursor:
                    out.append((cursor, o_start))
                cursor = max(cursor, o_stop)
            if cursor < stop:
                out.append((cursor, stop))
        return PartitionSubset(tuple(out))
