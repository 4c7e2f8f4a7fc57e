"""The keys of dynamic partitions as a plan sees them: one `KeySet` per definition
name, all of them in a `DynamicKeys` that a `PartitionContext` carries (both
hashable: a context is a cache key of the planner)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping


@dataclass(frozen=True, slots=True, eq=False)
class KeySet:
    """The keys of one dynamic definition, in the order they were added.

    >>> KeySet(("acme", "globex")).positions["globex"]
    1
    """

    keys: tuple[str, ...] = ()
    # per key removed and added again: the state's clock when it was last removed (what
    # was stored of it before does not count: the key is new again)
    removed: Mapping[str, int] = field(default_factory=dict)
    positions: dict[str, int] = field(init=False, repr=False)
    _hash: int = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", {k: i for i, k in enumerate(self.keys)})
        # a context is a cache key of the planner: hashing every key at each lookup
        # would make planning quadratic in the keys
        object.__setattr__(self, "_hash", hash((self.keys, tuple(sorted(self.removed.items())))))

    def __eq__(self, other: object) -> bool:
        return other is self or (
            isinstance(other, KeySet)
            and other._hash == self._hash
            and other.keys == self.keys
            and dict(other.removed) == dict(self.removed)
        )

    def __hash__(self) -> int:
        return self._hash


EMPTY = KeySet()


class DynamicKeys:
    """The key set of each dynamic definition, by name (a hashable, read-only mapping).

    >>> DynamicKeys({"customers": ("acme",)}).get("customers").keys
    ('acme',)
    """

    __slots__ = ("_hash", "_sets")

    def __init__(self, sets: Mapping[str, Iterable[str] | KeySet] | None = None) -> None:
        self._sets = {
            name: keys if isinstance(keys, KeySet) else KeySet(tuple(keys))
            for name, keys in sorted((sets or {}).items())
        }
        self._hash = hash(tuple(self._sets.items()))

    def get(self, name: str, default: KeySet = EMPTY) -> KeySet:
        return self._sets.get(name, default)

    def names(self) -> list[str]:
        return list(self._sets)

    def as_dict(self) -> dict[str, list[str]]:
        """`{"customers": ["acme", ...]}`, as a plan file keeps it."""
        return {name: list(found.keys) for name, found in self._sets.items()}

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, DynamicKeys)
            and other._hash == self._hash
            and (other._sets == self._sets)
        )

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        return f"DynamicKeys({self.as_dict()!r})"
