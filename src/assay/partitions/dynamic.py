"""DynamicPartitions: keys added and removed at run time (customers, tenants, files).

A dynamic definition names a key set kept in the state store; `assay partitions
add|remove`, `Project.add_partitions` and sensors change it, and each plan reads it
once into its `PartitionContext` (with the current time), so the plan and the run
that applies it see the same keys. Keys are in the order they were added.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assay.errors import PartitionKeyError
from assay.keys import check_name, validate_partition_key
from assay.partitions.base import PartitionsDefinition
from assay.partitions.keysets import EMPTY, KeySet

if TYPE_CHECKING:
    from collections.abc import Iterable

    from assay.partitions.base import PartitionContext
    from assay.partitions.subset import PartitionSubset


class DynamicPartitions(PartitionsDefinition):
    """Partition keys that appear at run time, kept in the state store under `name`.

    Add keys with `assay partitions add customers acme globex`,
    `project.add_partitions("customers", [...])`, or from a sensor
    (`SensorResult(dynamic_partitions_requests=[customers.add_request([...])])`).
    Two assets on definitions of the same name share the keys (and the identity
    mapping).

    >>> customers = DynamicPartitions("customers")
    >>> customers.describe()
    "dynamic partitions 'customers'"
    """

    kind = "dynamic"

    def __init__(self, name: str) -> None:
        self.name = check_name(name, "dynamic partitions name", "DynamicPartitions")
        # `key(index)` and `_parse(key)` take no context (a time window's do not need
        # one): they answer from the keys of the last context this definition was
        # given, which every planning call passes to `size` or `keys` first.
        self._seen = EMPTY

    def key_set(self, context: PartitionContext | None = None) -> KeySet:
        """The keys in `context` (without one, or one that did not read the state:
        those of the last context given)."""
        if context is not None and context.dynamic is not None:
            found = context.dynamic.get(self.name, EMPTY)
            if found is not self._seen:
                self._seen = found
        return self._seen

    def size(self, context: PartitionContext | None = None) -> int:
        return len(self.key_set(context).keys)

    def key(self, index: int) -> str:
        return self._seen.keys[index]

    def _parse(self, key: str) -> int | None:
        return self._seen.positions.get(key)

    def _lookup(self, size: int) -> dict[str, int]:
        return self._seen.positions

    def index(self, key: str, context: PartitionContext | None = None) -> int:
        self.key_set(context)
        return super().index(key, context)

    def keys(
        self, subset: PartitionSubset | None = None, context: PartitionContext | None = None
    ) -> list[str]:
        found = self.key_set(context).keys
        return list(found) if subset is None else [found[i] for i in subset]

    def describe(self) -> str:
        return f"dynamic partitions {self.name!r}"

    def fold(self, subset: PartitionSubset) -> str:
        count = len(subset)
        shown = [self._seen.keys[i] for i in itertools.islice(subset, 8 if count <= 8 else 6)]
        return ", ".join(shown) if count <= 8 else f"{', '.join(shown)}, … ({count})"

    def add_request(self, keys: Iterable[str]) -> DynamicPartitionsRequest:
        """A sensor's request to add `keys` (applied before its runs launch)."""
        return DynamicPartitionsRequest(name=self.name, keys=tuple(keys), is_add=True)

    def remove_request(self, keys: Iterable[str]) -> DynamicPartitionsRequest:
        """A sensor's request to remove `keys`."""
        return DynamicPartitionsRequest(name=self.name, keys=tuple(keys), is_add=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DynamicPartitions) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("dynamic", self.name))

    def __repr__(self) -> str:
        return f"DynamicPartitions({self.name!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class DynamicPartitionsRequest:
    """Keys to add to (or remove from) the dynamic partitions `name`.

    >>> DynamicPartitions("customers").add_request(["acme"]).keys
    ('acme',)
    """

    name: str
    keys: tuple[str, ...]
    is_add: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.keys, str):
            object.__setattr__(self, "keys", (self.keys,))
        object.__setattr__(self, "keys", validate_keys(self.keys))


def validate_keys(keys: Iterable[str]) -> tuple[str, ...]:
    """The keys, each checked as every partition key is, without repeats, in order.

    Raises:
        PartitionKeyError: naming the first bad key.
    """
    found = tuple(dict.fromkeys(keys))
    for key in found:
        validate_partition_key(key)
    if not found:
        raise PartitionKeyError("give at least one partition key")
    return found
