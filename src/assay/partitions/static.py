"""StaticPartitions: a fixed list of keys (regions, customers, sources)."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import TYPE_CHECKING

from assay.errors import DefinitionError, PartitionKeyError
from assay.keys import validate_partition_key
from assay.partitions.base import PartitionsDefinition
from assay.partitions.subset import PartitionSubset

if TYPE_CHECKING:
    from collections.abc import Iterable

    from assay.partitions.base import PartitionContext


class StaticPartitions(PartitionsDefinition):
    """A fixed, ordered list of partition keys.

    >>> StaticPartitions(["eu", "us"]).keys()
    ['eu', 'us']
    """

    kind = "static"

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = tuple(keys)
        _validate_all(self._keys)
        if not self._keys:
            raise DefinitionError("StaticPartitions needs at least one key")
        self._positions = dict(zip(self._keys, range(len(self._keys)), strict=True))
        if len(self._positions) != len(self._keys):
            counts = Counter(self._keys)
            dupes = sorted(k for k, n in counts.items() if n > 1)
            raise DefinitionError(f"StaticPartitions has duplicate keys: {', '.join(dupes)}")
        # Definitions are dict and cache keys in the planner; a tuple does not cache
        # its hash, and hashing every key at each lookup made planning quadratic.
        self._hash = hash(self._keys)

    def size(self, context: PartitionContext | None = None) -> int:
        return len(self._keys)

    def key(self, index: int) -> str:
        return self._keys[index]

    def _parse(self, key: str) -> int | None:
        return self._positions.get(key)

    def describe(self) -> str:
        return f"static partitions ({len(self._keys)} keys)"

    def fold(self, subset: PartitionSubset) -> str:
        count = len(subset)
        shown = [self._keys[i] for i in itertools.islice(subset, 8 if count <= 8 else 6)]
        return ", ".join(shown) if count <= 8 else f"{', '.join(shown)}, … ({count})"

    def _lookup(self, size: int) -> dict[str, int]:
        return self._positions

    def keys(
        self, subset: PartitionSubset | None = None, context: PartitionContext | None = None
    ) -> list[str]:
        if subset is None:
            return list(self._keys)
        return [self._keys[i] for i in subset]

    def __eq__(self, other: object) -> bool:
        if other is self:
            return True
        return (
            isinstance(other, StaticPartitions)
            and other._hash == self._hash
            and other._keys == self._keys
        )

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        if len(self._keys) <= 8:
            return f"StaticPartitions({list(self._keys)!r})"
        return f"StaticPartitions([{self.fold(PartitionSubset.from_range(0, len(self._keys)))}])"


def _validate_all(keys: tuple[str, ...]) -> None:
    """Validate every key; one check over all of them first (a million keys one by one
    took a second), and key by key only to name the first bad one."""
    try:
        # no key has a forbidden character unless their concatenation has one
        validate_partition_key("".join(keys))
        is_valid = not {"", ".", ".."}.intersection(keys)
    except (TypeError, PartitionKeyError):  # a key that is not a string, or a bad character
        is_valid = False
    if is_valid:
        return
    try:
        for key in keys:
            validate_partition_key(key)
    except PartitionKeyError as exc:
        raise DefinitionError(f"StaticPartitions: {exc}") from None
