"""Partition mappings: which upstream partitions each downstream partition reads.

Every mapping lowers to one of four edge shapes, and one vectorized reduction
per shape answers "for each downstream partition, the max over the upstream
partitions it reads" — how the planner moves staleness along an edge without
a Python loop over partitions:

    Shift(offset, low, high)   d reads [d+offset+low, d+offset+high]  (identity, lags, windows)
    Broadcast(start, stop)     every d reads [start, stop)            (all, last)
    Table(starts, stops)       d reads [starts[d], stops[d])          (granularity, multi -> one)
    Pairs(down, up)            explicit (d, u) pairs                  (static maps, multi minor)

An unpartitioned asset counts as one partition, index 0.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import timedelta
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from assay.errors import DefinitionError
from assay.partitions.base import PartitionsDefinition
from assay.partitions.multi import MultiPartitions
from assay.partitions.static import StaticPartitions
from assay.partitions.subset import PartitionSubset
from assay.partitions.time_window import TimeWindowPartitions

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    import numpy as np

    from assay.partitions.base import PartitionContext


Definition = PartitionsDefinition | None
_EPSILON = timedelta(microseconds=1)


@dataclass(frozen=True, slots=True)
class Shift:
    offset: int
    low: int = 0
    high: int = 0


@dataclass(frozen=True, slots=True)
class Broadcast:
    start: int
    stop: int


@dataclass(frozen=True, slots=True)
class Table:
    starts: Sequence[int] | np.ndarray
    stops: Sequence[int] | np.ndarray


@dataclass(frozen=True, slots=True)
class Pairs:
    """Explicit pairs, sorted by `down`."""

    down: Sequence[int] | np.ndarray
    up: Sequence[int] | np.ndarray


Edges = Shift | Broadcast | Table | Pairs


def size_of(definition: Definition, context: PartitionContext | None) -> int:
    return 1 if definition is None else definition.size(context)


class PartitionMapping(ABC):
    """Says which upstream partitions a downstream partition reads."""

    @abstractmethod
    def check(self, up: Definition, down: Definition) -> None:
        """Raise DefinitionError when this mapping cannot join these definitions."""

    @abstractmethod
    def edges(self, up: Definition, down: Definition, context: PartitionContext | None) -> Edges:
        """The mapping for these definitions at `now`, as one edge shape."""

    def cached_edges(
        self, up: Definition, down: Definition, context: PartitionContext | None
    ) -> Edges:
        """`edges`, built once per (mapping, definitions, context): a plan asks per step,
        staleness per asset and edge (the same objects again: found by identity, not by
        hashing each)."""
        ident = (id(self), id(up), id(down), id(context))
        held = _EDGES_BY_ID.get(ident)
        if (
            held is not None
            and held[0] is self
            and held[1] is up
            and held[2] is down
            and held[3] is context
        ):
            return held[4]
        found = _edges(self, up, down, context)
        if len(_EDGES_BY_ID) >= 4096:
            _EDGES_BY_ID.clear()
        _EDGES_BY_ID[ident] = (self, up, down, context, found)
        return found

    def upstream_for(
        self, index: int, up: Definition, down: Definition, context: PartitionContext | None
    ) -> PartitionSubset:
        """The upstream partitions that downstream partition `index` reads."""
        edges = self.cached_edges(up, down, context)
        n_up = size_of(up, context)
        if isinstance(edges, Shift):
            base = index + edges.offset
            start, stop = max(base + edges.low, 0), min(base + edges.high + 1, n_up)
            return PartitionSubset.from_range(start, stop)
        if isinstance(edges, Broadcast):
            return PartitionSubset.from_range(edges.start, edges.stop)
        if isinstance(edges, Table):
            start, stop = int(edges.starts[index]), int(edges.stops[index])
            return PartitionSubset.from_range(start, min(stop, n_up))
        first, last = bisect_left(edges.down, index), bisect_right(edges.down, index)
        return PartitionSubset.from_indices(int(u) for u in edges.up[first:last] if u < n_up)

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(vars(self).items(), key=str))))


class IdentityMapping(PartitionMapping):
    """Each partition reads the upstream partition with the same key (the default
    between equal definitions, and between time windows of one cadence)."""

    def check(self, up: Definition, down: Definition) -> None:
        if up is None and down is None:
            return
        if up is None or down is None or not _same_keys(up, down):
            raise DefinitionError(
                f"IdentityMapping needs the same partitions on both sides, got {_name(up)} "
                f"upstream and {_name(down)} downstream"
            )

    def edges(self, up: Definition, down: Definition, context: PartitionContext | None) -> Edges:
        if up is None or down is None or up == down:
            return Shift(0)
        if isinstance(up, TimeWindowPartitions) and isinstance(down, TimeWindowPartitions):
            return Shift(_time_offset(up, down))
        lookup = up._lookup(size_of(up, context))
        pairs = [(d, lookup[k]) for d, k in enumerate(down.keys(context=context)) if k in lookup]
        return Pairs(tuple(d for d, _ in pairs), tuple(u for _, u in pairs))


class AllPartitionsMapping(PartitionMapping):
    """Each partition reads every upstream partition (the default into an unpartitioned asset)."""

    def check(self, up: Definition, down: Definition) -> None:
        return None

    def edges(self, up: Definition, down: Definition, context: PartitionContext | None) -> Edges:
        return Broadcast(0, size_of(up, context))


class LastPartitionMapping(PartitionMapping):
    """Each partition reads the upstream's last partition (e.g. the latest snapshot)."""

    def check(self, up: Definition, down: Definition) -> None:
        return None

    def edges(self, up: Definition, down: Definition, context: PartitionContext | None) -> Edges:
        n_up = size_of(up, context)
        return Broadcast(max(n_up - 1, 0), n_up)


class TimeWindowMapping(PartitionMapping):
    """Time windows read the upstream windows they overlap, widened by offsets.

    Offsets count upstream partitions: `TimeWindowMapping(start_offset=-6)` makes
    a daily partition read its day and the six before it (a 7-day rolling
    window); `TimeWindowMapping(start_offset=-1, end_offset=-1)` reads yesterday.
    Windows are clipped to the partitions that exist.
    """

    def __init__(self, start_offset: int = 0, end_offset: int = 0) -> None:
        if start_offset > end_offset:
            raise DefinitionError(
                f"TimeWindowMapping: start_offset {start_offset} is after end_offset {end_offset}"
            )
        self.start_offset = start_offset
        self.end_offset = end_offset

    def check(self, up: Definition, down: Definition) -> None:
        if not (isinstance(up, TimeWindowPartitions) and isinstance(down, TimeWindowPartitions)):
            raise DefinitionError(
                f"TimeWindowMapping joins time partitions, got {_name(up)} upstream and "
                f"{_name(down)} downstream"
            )

    def edges(self, up: Definition, down: Definition, context: PartitionContext | None) -> Edges:
        assert isinstance(up, TimeWindowPartitions)
        assert isinstance(down, TimeWindowPartitions)
        if _same_grid(up, down):
            return Shift(_time_offset(up, down), self.start_offset, self.end_offset)
        starts, stops = _overlaps(up, down, size_of(down, context))
        return Table(
            tuple(max(s + self.start_offset, 0) for s in starts),
            tuple(max(s + self.end_offset, 0) for s in stops),
        )


class StaticMapping(PartitionMapping):
    """Static keys read named upstream keys: `StaticMapping({"eu": ["de", "fr"]})`
    maps upstream key to downstream key(s)."""

    def __init__(self, mapping: Mapping[str, str | Iterable[str]]) -> None:
        self.mapping = {
            up: (down,) if isinstance(down, str) else tuple(down) for up, down in mapping.items()
        }

    def check(self, up: Definition, down: Definition) -> None:
        if not (isinstance(up, StaticPartitions) and isinstance(down, StaticPartitions)):
            raise DefinitionError(
                f"StaticMapping joins static partitions, got {_name(up)} upstream and "
                f"{_name(down)} downstream"
            )
        for up_key, down_keys in self.mapping.items():
            if up._parse(up_key) is None:
                raise DefinitionError(f"StaticMapping names upstream key {up_key!r}, not in {up!r}")
            for down_key in down_keys:
                if down._parse(down_key) is None:
                    raise DefinitionError(
                        f"StaticMapping names downstream key {down_key!r}, not in {down!r}"
                    )

    def edges(self, up: Definition, down: Definition, context: PartitionContext | None) -> Edges:
        assert isinstance(up, StaticPartitions)
        assert isinstance(down, StaticPartitions)
        pairs = sorted(
            (down.index(d), up.index(u)) for u, downs in self.mapping.items() for d in downs
        )
        return Pairs(tuple(d for d, _ in pairs), tuple(u for _, u in pairs))

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.mapping.items())))


class _DimensionMapping(PartitionMapping):
    """Between a MultiPartitions and one of its dimensions (the default there)."""

    def __init__(self, dimension: str) -> None:
        self.dimension = dimension

    def check(self, up: Definition, down: Definition) -> None:
        return None

    def edges(self, up: Definition, down: Definition, context: PartitionContext | None) -> Edges:
        import numpy as np

        if isinstance(down, MultiPartitions):  # each multi partition reads its dimension's key
            minor, every = down.minor_size, np.arange(size_of(down, context))
            own = every // minor if self.dimension == down.major else every % minor
            return Table(own, own + 1)
        assert isinstance(up, MultiPartitions)
        minor, every = up.minor_size, np.arange(size_of(down, context))
        if self.dimension == up.major:  # a day reads every region of that day
            return Table(every * minor, every * minor + minor)
        # a region reads that region on every day: pairs sorted by the region
        majors = np.arange(up.dimensions[up.major].size(context))
        return Pairs(np.repeat(every, len(majors)), np.add.outer(every, majors * minor).ravel())


# (ids of mapping, up, down, context) -> those objects (kept alive: ids stay theirs) and
# their edges
_EDGES_BY_ID: dict[tuple[int, int, int, int], tuple[Any, Any, Any, Any, Edges]] = {}


@lru_cache(maxsize=512)
def _edges(
    mapping: PartitionMapping, up: Definition, down: Definition, context: PartitionContext | None
) -> Edges:
    return mapping.edges(up, down, context)


def default_mapping(up: Definition, down: Definition) -> PartitionMapping:
    """The mapping an input gets when none is given.

    Raises:
        DefinitionError: the definitions have no sensible default.
    """
    if up is None or down is None:
        return IdentityMapping() if up is None and down is None else AllPartitionsMapping()
    if up == down or _same_keys(up, down):
        return IdentityMapping()
    if isinstance(up, TimeWindowPartitions) and isinstance(down, TimeWindowPartitions):
        return TimeWindowMapping()
    if isinstance(down, MultiPartitions):
        for name, dimension in down.dimensions.items():
            if dimension == up:
                return _DimensionMapping(name)
    if isinstance(up, MultiPartitions):
        for name, dimension in up.dimensions.items():
            if dimension == down:
                return _DimensionMapping(name)
    raise DefinitionError(
        f"no default partition mapping from {_name(up)} to {_name(down)}: give the input "
        "AssetIn(partition_mapping=...) (StaticMapping, AllPartitionsMapping, ...)"
    )


def reduce_max(edges: Edges, values: np.ndarray, n_down: int) -> np.ndarray:
    """For each downstream partition, the max of `values` over the partitions it reads.

    `values` is a float array indexed by upstream partition, NaN where there is
    no value; the result has `n_down` entries, NaN where a partition reads
    nothing with a value.
    """
    import numpy as np

    values = np.asarray(values, dtype=np.float64)
    n_up = len(values)
    out = np.full(n_down, np.nan)
    if isinstance(edges, Broadcast):
        window = values[edges.start : edges.stop]
        if len(window):
            out[:] = np.fmax.reduce(window)
        return out
    if isinstance(edges, Shift):
        width = edges.high - edges.low + 1
        if width == 1:  # one upstream partition each, `shift` away: two slices
            return _shifted(out, values, edges.offset + edges.low)
        firsts = np.arange(n_down) + edges.offset + edges.low
        padded = np.concatenate([np.full(width, np.nan), values, np.full(width, np.nan)])
        windows = np.fmax.reduce(np.lib.stride_tricks.sliding_window_view(padded, width), axis=1)
        starts = firsts + width
        valid = (starts >= 0) & (starts < len(windows))
        out[valid] = windows[starts[valid]]
        return out
    if isinstance(edges, Table):
        starts = np.asarray(edges.starts[:n_down], dtype=np.int64)
        stops = np.minimum(np.asarray(edges.stops[:n_down], dtype=np.int64), n_up)
        lengths = np.maximum(stops - starts, 0)
        down = np.repeat(np.arange(len(starts)), lengths)
        run_starts = np.repeat(np.cumsum(lengths) - lengths, lengths)
        up = np.repeat(starts, lengths) + np.arange(len(down)) - run_starts
    else:
        down = np.asarray(edges.down, dtype=np.int64)
        up = np.asarray(edges.up, dtype=np.int64)
        keep = (up < n_up) & (down < n_down)
        down, up = down[keep], up[keep]
    np.fmax.at(out, down, values[up])
    return out


def reduce_any(edges: Edges, mask: np.ndarray, n_down: int) -> np.ndarray:
    """For each downstream partition, whether `mask` (bool, by upstream partition)
    holds for any partition it reads: `reduce_max(edges, mask, n_down) > 0`, without
    the float round trip where an edge reads one partition each."""
    import numpy as np

    if isinstance(edges, Shift) and edges.high == edges.low:
        return _shifted(np.zeros(n_down, dtype=bool), mask, edges.offset + edges.low)
    if isinstance(edges, Broadcast):
        return np.full(n_down, bool(mask[edges.start : edges.stop].any()))
    found: np.ndarray = reduce_max(edges, mask.astype(np.float64), n_down) > 0
    return found


def _shifted(out: np.ndarray, values: np.ndarray, shift: int) -> np.ndarray:
    """`out` with each downstream partition i given upstream partition i + `shift`'s
    value, where that partition exists (the rest left as `out` had them)."""
    low, high = max(0, -shift), min(len(out), len(values) - shift)
    if high > low:
        out[low:high] = values[low + shift : high + shift]
    return out


def _name(definition: Definition) -> str:
    return "no partitions" if definition is None else definition.describe()


def _same_keys(up: PartitionsDefinition, down: PartitionsDefinition) -> bool:
    if up == down:
        return True
    if isinstance(up, TimeWindowPartitions) and isinstance(down, TimeWindowPartitions):
        return _same_grid(up, down)
    return False


def _same_grid(up: TimeWindowPartitions, down: TimeWindowPartitions) -> bool:
    """Same cadence, timezone and key format (starts may differ)."""
    return (up.cadence, up.timezone, up.fmt) == (down.cadence, down.timezone, down.fmt)


def _time_offset(up: TimeWindowPartitions, down: TimeWindowPartitions) -> int:
    """The upstream index of downstream partition 0, on a shared grid."""
    return up._index_of_local(down._local(0))


def _overlaps(
    up: TimeWindowPartitions, down: TimeWindowPartitions, n_down: int
) -> tuple[list[int], list[int]]:
    """For each downstream window, the upstream index range it overlaps in time."""
    starts: list[int] = []
    stops: list[int] = []
    for d in range(n_down):
        window = down.time_window(d)
        if window.start == window.end:
            starts.append(0)
            stops.append(0)
            continue
        first = up.index_at(window.start)
        last = up.index_at(window.end - _EPSILON)
        starts.append(max(first, 0))
        stops.append(max(last + 1, 0))
    return starts, stops
