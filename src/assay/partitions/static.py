"""StaticPartitions: a fixed list of keys (regions, customers, sources)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.errors import DefinitionError, PartitionKeyError
from assay.keys import validate_partition_key
from assay.partitions.base import PartitionsDefinition

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from assay.partitions.subset import PartitionSubset


class StaticPartitions(PartitionsDefinition):
    """A fixed, ordered list of partition keys.

    >>> StaticPartitions(["eu", "us"]).keys()
    ['eu', 'us']
    """

    kind = "static"

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = tuple(keys)
        try:
            for key in self._keys:
                validate_partition_key(key)
        except PartitionKeyError as exc:
            raise DefinitionError(f"StaticPartitions: {exc}") from None
        if not self._keys:
            raise DefinitionError("StaticPartitions needs at least one key")
        if len(set(self._keys)) != len(self._keys):
            dupes = sorted({k for k in self._keys if self._keys.count(k) > 1})
            raise DefinitionError(f"StaticPartitions has duplicate keys: {', '.join(dupes)}")
        self._positions = {key: i for i, key in enumerate(self._keys)}

    def size(self, now: datetime | None = None) -> int:
        return len(self._keys)

    def key(self, index: int) -> str:
        return self._keys[index]

    def _parse(self, key: str) -> int | None:
        return self._positions.get(key)

    def describe(self) -> str:
        return f"static partitions ({len(self._keys)} keys)"

    def fold(self, subset: PartitionSubset) -> str:
        keys = [self._keys[i] for i in subset]
        return ", ".join(keys) if len(keys) <= 8 else f"{', '.join(keys[:6])}, … ({len(keys)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, StaticPartitions) and other._keys == self._keys

    def __hash__(self) -> int:
        return hash(self._keys)

    def __repr__(self) -> str:
        return f"StaticPartitions({list(self._keys)!r})"
