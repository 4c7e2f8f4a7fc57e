"""MultiPartitions: the product of two partitions definitions, keys `2024-01-01|eu`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.errors import DefinitionError
from assay.keys import MAX_KEY_BYTES
from assay.partitions.base import PartitionsDefinition
from assay.partitions.dynamic import DynamicPartitions
from assay.partitions.time_window import TimeWindowPartitions

if TYPE_CHECKING:
    from collections.abc import Mapping

    from assay.partitions.base import PartitionContext

SEPARATOR = "|"


class MultiPartitions(PartitionsDefinition):
    """Two dimensions, e.g. `{"date": DailyPartitions(...), "region": StaticPartitions(...)}`.

    Keys join the dimension keys in the order given: `2024-01-01|eu`. Indices
    run over the time dimension first (when there is one), so they stay put as
    time adds partitions.
    """

    kind = "multi"

    def __init__(self, dimensions: Mapping[str, PartitionsDefinition]) -> None:
        if len(dimensions) != 2:
            raise DefinitionError(
                f"MultiPartitions takes exactly two dimensions, got {len(dimensions)}"
            )
        for name, definition in dimensions.items():
            if isinstance(definition, MultiPartitions) or not isinstance(
                definition, PartitionsDefinition
            ):
                raise DefinitionError(
                    f"MultiPartitions dimension {name!r} must be a static or time partitions "
                    "definition"
                )
            if isinstance(definition, DynamicPartitions):
                raise DefinitionError(
                    f"MultiPartitions dimension {name!r}: a DynamicPartitions cannot be a "
                    "dimension yet; partition the asset by the DynamicPartitions alone"
                )
        self.dimensions = dict(dimensions)
        self.names = tuple(dimensions)
        time_dims = [n for n, d in dimensions.items() if isinstance(d, TimeWindowPartitions)]
        self.major = time_dims[0] if time_dims else self.names[0]
        self.minor = next(n for n in self.names if n != self.major)
        if isinstance(self.dimensions[self.minor], TimeWindowPartitions):
            raise DefinitionError("MultiPartitions supports at most one time dimension")
        self._check_key_length()

    def _check_key_length(self) -> None:
        """Each dimension's keys fit; their join must too (it is one folder name)."""
        longest = {name: _longest_key(d) for name, d in self.dimensions.items()}
        size = sum(len(k.encode("utf-8")) for k in longest.values()) + len(SEPARATOR)
        if size > MAX_KEY_BYTES:
            widest = max(longest, key=lambda name: len(longest[name].encode("utf-8")))
            example = SEPARATOR.join(longest[n] for n in self.names)
            shown = example if len(example) <= 40 else example[:40] + "…"
            raise DefinitionError(
                f"MultiPartitions: keys like {shown!r} are {size} bytes long (UTF-8); the "
                f"limit is {MAX_KEY_BYTES} bytes, as a key becomes the folder "
                f"`partition=<key>`: shorten the keys of {widest!r}"
            )

    @property
    def minor_size(self) -> int:
        return self.dimensions[self.minor].size()

    def size(self, context: PartitionContext | None = None) -> int:
        return self.dimensions[self.major].size(context) * self.minor_size

    def split(self, index: int) -> dict[str, int]:
        """Per-dimension indices of a multi index."""
        major, minor = divmod(index, self.minor_size)
        return {self.major: major, self.minor: minor}

    def key(self, index: int) -> str:
        parts = self.split(index)
        return SEPARATOR.join(self.dimensions[n].key(parts[n]) for n in self.names)

    def _parse(self, key: str) -> int | None:
        pieces = key.split(SEPARATOR)
        if len(pieces) != 2:
            return None
        found = {n: self.dimensions[n]._parse(p) for n, p in zip(self.names, pieces, strict=True)}
        if any(v is None for v in found.values()):
            return None
        return found[self.major] * self.minor_size + found[self.minor]  # type: ignore[operator]

    def describe(self) -> str:
        dims = ", ".join(f"{n}: {d.describe()}" for n, d in self.dimensions.items())
        return f"multi partitions ({dims}) with keys like {self.key(0)!r}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MultiPartitions) and other.dimensions == self.dimensions

    def __hash__(self) -> int:
        return hash(tuple(self.dimensions.items()))

    def __repr__(self) -> str:
        return f"MultiPartitions({self.dimensions!r})"


def _longest_key(definition: PartitionsDefinition) -> str:
    """The longest key of a static definition; a time definition's first (they are all
    about as long)."""
    if isinstance(definition, TimeWindowPartitions):
        return definition.key(0)
    return max(definition.keys(), key=lambda k: len(k.encode("utf-8")))
