"""Staleness of every asset partition, computed per asset on whole columns.

The stored state of every asset partition in scope comes back from DuckDB as
numeric columns (one query: keys are turned into partition indices by a join
with each definition's key table, code versions and dependency lists compared
there). Per asset, in dependency order, those become dense numpy arrays
indexed by partition, and each reason is one vector expression; along an edge,
the mapping's `reduce_max` gives each downstream partition the newest change
(or any staleness) among the upstream partitions it reads. No loop runs per
asset partition, so millions stay interactive.

Two facts need more than those columns, and are read only where they can
matter: partition keys removed from a definition (stored partitions outside
it: the readers' provenance says how many partitions they read), and stored
data deleted outside assay (IO managers that can tell, see `verify`).

A partition that reads a source partition never observed, or observed absent,
is *waiting for source*: shown, never planned (it would fail every time).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from assay.partitions.dynamic import DynamicPartitions
from assay.partitions.mapping import Broadcast, Shift, Table, reduce_any, reduce_max, size_of
from assay.partitions.subset import PartitionSubset
from assay.versioning import code_version, inputs_signature, split_signature

if TYPE_CHECKING:
    from collections.abc import Iterable

    import numpy as np

    from assay.graph import AssetGraph
    from assay.keys import AssetKey
    from assay.partitions.base import PartitionContext, PartitionsDefinition
    from assay.partitions.mapping import Edges
    from assay.planning.source import PlanningState
    from assay.planning.verify import Verification
    from assay.state.models import StateMark
    from assay.state.snapshot import PlanningSnapshot


class StaleKind(StrEnum):
    MISSING = "missing"
    CODE_CHANGED = "code changed"
    DEPS_CHANGED = "dependencies changed"
    CONFIG_CHANGED = "config changed"
    INPUT_CHANGED = "input changed"
    SOURCE_CHANGED = "source changed"
    PARTITIONS_REMOVED = "upstream partitions removed"
    DATA_MISSING = "stored data missing"
    UPSTREAM_STALE = "upstream stale"
    WAITING = "waiting for source"
    SIBLING = "computed with its multi-asset"
    FORCED = "forced"


# WAITING at a source itself: why its partitions do not exist (StaleReason.new)
NEVER_OBSERVED = "never observed"
ABSENT = "absent"


@dataclass(frozen=True, slots=True, kw_only=True)
class StaleReason:
    """Why some partitions of an asset are stale (or, WAITING, cannot run yet).

    `upstream` names the input for INPUT_CHANGED, SOURCE_CHANGED,
    PARTITIONS_REMOVED, UPSTREAM_STALE and WAITING; `old` and `new` hold code
    versions or dependency lists (for WAITING at a source, `new` says
    `never observed` or `absent`); `upstream_partitions` the upstream partitions
    that changed, are stale, were removed, or are waited for.
    """

    kind: StaleKind
    partitions: PartitionSubset
    upstream: AssetKey | None = None
    old: str | None = None
    new: str | None = None
    upstream_partitions: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class AssetStaleness:
    """One asset's partitions: which are stale, which wait for a source, why, and the
    columns downstream needs."""

    key: AssetKey
    size: int
    stale: np.ndarray  # bool per partition
    changed_at: np.ndarray  # per partition, the clock `seq` when its data last changed; NaN: never
    reasons: tuple[StaleReason, ...]
    waiting: np.ndarray  # bool per partition: reads a source partition that does not exist
    started: np.ndarray | None = None  # `seq` before the current materialization read; NaN
    updated: np.ndarray | None = None  # `seq` of the current record (materialized, observed)
    input_cause: np.ndarray | None = None  # newest input change behind INPUT_CHANGED; NaN
    source_cause: np.ndarray | None = None  # the same, for SOURCE_CHANGED
    newest_input: np.ndarray | None = None  # per partition, the newest change of what it reads
    # per partition, stale for a cause of its own (missing, code, dependencies, an input
    # changed, upstream keys removed): `stale` without what upstream staleness adds and
    # before what waits is taken out; None: not known (a source, stored data verified)
    own: np.ndarray | None = None

    @property
    def stale_subset(self) -> PartitionSubset:
        return _subset(self.stale)

    @property
    def waiting_subset(self) -> PartitionSubset:
        return _subset(self.waiting)


@dataclass(frozen=True, slots=True)
class _Columns:
    started: np.ndarray
    changed: np.ndarray
    updated: np.ndarray
    code_ok: np.ndarray
    sig_ok: np.ndarray
    absent: np.ndarray


@dataclass(slots=True)
class StalenessCache:
    """What `assess_changed` keeps between calls: each asset's stored columns and
    staleness, the keys in order (and where each stands in it), and the assets of
    each partitions definition with the number of partitions it had."""

    columns: dict[AssetKey, _Columns]
    found: dict[AssetKey, AssetStaleness]
    ordered: list[AssetKey]
    position: dict[AssetKey, int]
    groups: dict[int, tuple[PartitionsDefinition | None, int, list[AssetKey]]]  # by id()
    given: object = None  # the keys asked for: the same collection again needs no check


def assess_changed(
    graph: AssetGraph,
    keys: Iterable[AssetKey],
    state: PlanningState | None,
    context: PartitionContext,
    *,
    cache: StalenessCache | None,
    changed: set[AssetKey] | None,
    since_seq: int | None = None,
) -> tuple[dict[AssetKey, AssetStaleness], StalenessCache, set[AssetKey]]:
    """`assess`, again after `cache`: only `changed` assets (new records; None: all)
    are read from `state`, and only they, those whose partitions grew and what reads
    them are recomputed, in dependency order; an asset whose result did not move
    does not make its readers recomputed, so the cost follows what changed, not the
    number of assets. `since_seq`: `cache` holds every record of the changed assets
    up to it, so only the partitions recorded after it are read (not every
    partition of each). Returns the staleness, the cache, and the assets whose
    staleness moved (all, the first time).

    Removed partition keys (`upstream partitions removed`) are seen only by a full
    pass (`cache` None), and stored data is not verified.
    """
    import heapq

    given = keys
    if cache is None or changed is None or given is not cache.given:
        keys = list(keys)
        if cache is None or changed is None or set(keys) != set(cache.position):
            everything = _assess_all(graph, graph.ordered(keys), state, context, cache)
            everything[1].given = given
            return everything
    groups = dict(cache.groups)
    grew: set[AssetKey] = set()
    for ident, (definition, size, members) in cache.groups.items():
        now = size_of(definition, context)
        if now != size:
            grew.update(members)
            groups[ident] = (definition, now, members)
    position = cache.position
    changed = {k for k in changed if k in position}
    if since_seq is None:
        reload, patch = sorted(changed | grew, key=position.__getitem__), []
    else:
        reload = sorted(grew, key=position.__getitem__)
        patch = sorted(changed - grew, key=position.__getitem__)
    columns = dict(cache.columns)
    if reload:
        loaded, _, _ = _load(graph, reload, state, context)
        columns.update(zip(reload, loaded, strict=True))
    if patch:
        base = [columns[k] for k in patch]
        patched, _, _ = _load(graph, patch, state, context, base=base, since_seq=since_seq)
        columns.update(zip(patch, patched, strict=True))
    previous = cache.found
    found = dict(previous)
    moved: set[AssetKey] = set()
    heap = [(position[k], k) for k in {*reload, *patch}]
    heapq.heapify(heap)
    done: set[AssetKey] = set()
    while heap:  # in dependency order: what an asset reads is recomputed before it
        _, key = heapq.heappop(heap)
        if key in done:
            continue
        done.add(key)
        column = columns[key]
        result: AssetStaleness | None
        if graph.specs[key].is_source:
            result = _source(graph, key, column)
        else:
            result = quiet_staleness(graph, key, column, found, {}, context)
            if result is None and column is cache.columns[key]:  # its own columns as they were
                result = _restale(graph, key, previous[key], found, previous, context)
            if result is None:
                result = _asset(graph, key, column, found, state, context, {}, None)
        found[key] = result
        if not _same(previous[key], result):
            moved.add(key)
        if not _same_for_readers(previous[key], result):
            for reader in graph.downstream.get(key, ()):
                if reader in position and reader not in done:
                    heapq.heappush(heap, (position[reader], reader))
    cache = StalenessCache(
        columns=columns,
        found=found,
        ordered=cache.ordered,
        position=position,
        groups=groups,
        given=given,
    )
    return found, cache, moved


def _assess_all(
    graph: AssetGraph,
    ordered: list[AssetKey],
    state: PlanningState | None,
    context: PartitionContext,
    cache: StalenessCache | None,
) -> tuple[dict[AssetKey, AssetStaleness], StalenessCache, set[AssetKey]]:
    """`assess_changed` reading every asset (what moved: against `cache`, if any)."""
    import numpy as np

    loaded, _, rows = _load(graph, ordered, state, context)
    columns = dict(zip(ordered, loaded, strict=True))
    outside = (
        _outside_keys(
            graph,
            ordered,
            state,
            np.array([int((~np.isnan(columns[k].started)).sum()) for k in ordered]),
            None,
            context,
            rows=rows,
        )
        if cache is None
        else {}
    )
    previous = cache.found if cache is not None else {}
    moved: set[AssetKey] = set()
    found: dict[AssetKey, AssetStaleness] = {}
    groups: dict[int, tuple[PartitionsDefinition | None, int, list[AssetKey]]] = {}
    newest: dict[AssetKey, float] = {}
    for key in ordered:
        column = columns[key]
        if graph.specs[key].is_source:
            result = _source(graph, key, column)
        elif not any(up in outside for up in graph.upstream[key]):
            result = quiet_staleness(graph, key, column, found, newest, context) or _asset(
                graph, key, column, found, state, context, outside, None
            )
        else:
            result = _asset(graph, key, column, found, state, context, outside, None)
        found[key] = result
        before = previous.get(key)
        if before is None or not _same(before, result):
            moved.add(key)
        definition = graph.specs[key].partitions
        groups.setdefault(id(definition), (definition, result.size, []))[2].append(key)
    position = {key: i for i, key in enumerate(ordered)}
    cache = StalenessCache(
        columns=columns, found=found, ordered=ordered, position=position, groups=groups
    )
    return found, cache, moved


def _same(a: AssetStaleness, b: AssetStaleness) -> bool:
    """The same staleness, as conditions use it."""
    return a.reasons == b.reasons and _same_arrays(
        a,
        b,
        ("stale", "waiting", "changed_at", "started", "updated", "input_cause", "source_cause"),
    )


def _same_for_readers(a: AssetStaleness, b: AssetStaleness) -> bool:
    """The same staleness, as the assets that read it see it (`_asset` reads of an
    upstream its size, stale, waiting and changed_at only)."""
    return _same_arrays(a, b, ("stale", "waiting", "changed_at"))


def _same_arrays(a: AssetStaleness, b: AssetStaleness, names: tuple[str, ...]) -> bool:
    import numpy as np

    if a.size != b.size:
        return False
    for name in names:
        x, y = getattr(a, name), getattr(b, name)
        if x is y:  # a column not read again is the same array
            continue
        if x is None or y is None:
            if x is not y:
                return False
        elif not np.array_equal(x, y, equal_nan=True):
            return False
    return True


def assess(
    graph: AssetGraph,
    keys: Iterable[AssetKey],
    state: PlanningState | None,
    context: PartitionContext,
    *,
    mark: StateMark | None = None,
    verify: Verification | None = None,
) -> dict[AssetKey, AssetStaleness]:
    """Staleness of `keys` (which must include everything upstream of them), in graph order.

    `state` None means nothing is stored (every partition is missing). `mark`, the
    state's mark over `keys`, saves a query; `verify` asks IO managers whether
    stored partitions are still there.
    """
    import numpy as np

    ordered = graph.ordered(keys)
    columns, matched, rows = _load(graph, ordered, state, context)
    outside = _outside_keys(graph, ordered, state, matched, mark, context, rows=rows)
    materialized_counts = {
        key: int((~np.isnan(c.started)).sum())
        for key, c in zip(ordered, columns, strict=True)
        if not graph.specs[key].is_source
    }
    checked = verify.chosen(materialized_counts) if verify is not None else set()
    found: dict[AssetKey, AssetStaleness] = {}
    newest: dict[AssetKey, float] = {}
    for key, column in zip(ordered, columns, strict=True):
        if graph.specs[key].is_source:
            found[key] = _source(graph, key, column)
            continue
        quiet = (
            None
            if key in checked or any(up in outside for up in graph.upstream[key])
            else quiet_staleness(graph, key, column, found, newest, context)
        )
        found[key] = quiet or _asset(
            graph,
            key,
            column,
            found,
            state,
            context,
            outside,
            verify if key in checked else None,
        )
    return found


def quiet_staleness(
    graph: AssetGraph,
    key: AssetKey,
    column: _Columns,
    found: dict[AssetKey, AssetStaleness],
    newest: dict[AssetKey, float],
    context: PartitionContext,
) -> AssetStaleness | None:
    """The staleness of a quiet asset, the bulk at scale: every partition materialized
    with the current code and dependencies, every upstream neither stale nor waiting,
    and nothing it reads changed since it was read. Told from whole-array reductions
    (one `min` of its start, one `max` of each upstream's changes, kept in `newest`),
    without the per-input work of `_asset`; None when it is not quiet (`_asset` says
    why). Its arrays are shared and read-only; `newest_input` is None when every
    upstream's newest change predates its oldest start (nothing is missing, so
    nothing needs it), else as `_asset` gives it.

    The caller keeps it for assets with no stored data to verify and no removed
    upstream keys (`_asset` looks at both).
    """
    import numpy as np

    started = column.started
    n = len(started)
    if n == 0 or np.count_nonzero(column.code_ok) < n or np.count_nonzero(column.sig_ok) < n:
        return None
    total = np.add.reduce(started)  # NaN if any partition is missing
    if total != total:
        return None
    oldest = np.minimum.reduce(started)
    upstreams = graph.upstream[key]
    is_older = True
    for up in upstreams:
        upstream = found[up]
        if not (_is_shared(upstream.stale) or not np.count_nonzero(upstream.stale)):
            return None
        if not (_is_shared(upstream.waiting) or not np.count_nonzero(upstream.waiting)):
            return None
        top = newest.get(up)
        if top is None:
            top = newest[up] = (
                float(np.fmax.reduce(upstream.changed_at)) if upstream.size else np.nan
            )
        is_older = is_older and not (top > oldest)  # NaN: nothing upstream ever changed
    newest_input = None
    if not is_older:  # the exact test: what each partition reads, against its start
        definition = graph.specs[key].partitions
        newest_input = np.full(n, np.nan)
        for up in upstreams:
            edges = graph.mappings[key][up].cached_edges(
                graph.specs[up].partitions, definition, context
            )
            reads = reduce_max(edges, found[up].changed_at, n)
            with np.errstate(invalid="ignore"):
                if (reads > started).any():
                    return None
            np.fmax(newest_input, reads, out=newest_input)
    return AssetStaleness(
        key=key,
        size=n,
        stale=_shared(n, "zeros"),
        changed_at=column.changed,
        reasons=(),
        waiting=_shared(n, "zeros"),
        started=started,
        updated=column.updated,
        input_cause=_shared(n, "nans"),
        source_cause=_shared(n, "nans"),
        newest_input=newest_input,
        own=_shared(n, "zeros"),
    )


_SHARED: dict[tuple[int, str], np.ndarray] = {}


def _is_shared(array: np.ndarray) -> bool:
    """`array` is one of `_shared`'s (all False, or all NaN), known without a look."""
    return _SHARED.get((len(array), "zeros")) is array


def _shared(n: int, kind: str) -> np.ndarray:
    """A read-only array of `n` False (`zeros`) or NaN (`nans`), made once per size."""
    import numpy as np

    found = _SHARED.get((n, kind))
    if found is None:
        found = np.zeros(n, dtype=bool) if kind == "zeros" else np.full(n, np.nan)
        found.flags.writeable = False
        _SHARED[(n, kind)] = found
    return found


def _source(graph: AssetGraph, key: AssetKey, column: _Columns) -> AssetStaleness:
    """Observed, never materialized: only its changes matter, and which partitions
    exist (once an observable source has been observed, its partitions exist once
    observed, until observed absent; one never observed at all is taken as it is)."""
    import numpy as np

    n = len(column.started)
    waiting = np.zeros(n, dtype=bool)
    reasons = []
    if graph.specs[key].is_observable and n and not np.isnan(column.started).all():
        never = np.isnan(column.started)
        absent = column.absent & ~never
        for mask, why in ((never, NEVER_OBSERVED), (absent, ABSENT)):
            if mask.any():
                waits = StaleReason(kind=StaleKind.WAITING, partitions=_subset(mask), new=why)
                reasons.append(waits)
        waiting = never | absent
    return AssetStaleness(
        key=key,
        size=n,
        stale=np.zeros(n, dtype=bool),
        changed_at=column.changed,
        reasons=tuple(reasons),
        waiting=waiting,
        started=column.started,
        updated=column.updated,
    )


def _asset(
    graph: AssetGraph,
    key: AssetKey,
    column: _Columns,
    found: dict[AssetKey, AssetStaleness],
    state: PlanningState | None,
    context: PartitionContext,
    outside: dict[AssetKey, list[str]],
    verify: Verification | None,
) -> AssetStaleness:
    import numpy as np

    definition = graph.specs[key].partitions
    started = column.started
    n = len(started)
    materialized = ~np.isnan(started)
    reasons: list[StaleReason] = []
    stale = ~materialized
    waiting = np.zeros(n, dtype=bool)
    # made on the first change of an input (or source) they record: most assets have none
    input_cause: np.ndarray | None = None
    source_cause: np.ndarray | None = None
    newest_input: np.ndarray | None = None
    upstream_stale: np.ndarray | None = None  # what reads a stale upstream partition
    if np.count_nonzero(stale):
        reasons.append(StaleReason(kind=StaleKind.MISSING, partitions=_subset(stale)))
    code_changed = materialized & ~column.code_ok
    deps_changed = materialized & ~column.sig_ok
    if np.count_nonzero(code_changed) or np.count_nonzero(deps_changed):
        stale = stale | code_changed | deps_changed
        reasons.extend(_version_reasons(graph, key, state, code_changed, deps_changed, context))
    for up in graph.upstream[key]:
        upstream = found[up]
        up_definition = graph.specs[up].partitions
        mapping = graph.mappings[key][up]
        edges = mapping.cached_edges(up_definition, definition, context)
        newest = reduce_max(edges, upstream.changed_at, n)  # a new array: kept as it is
        newest_input = newest if newest_input is None else np.fmax(newest_input, newest)
        input_changed = materialized & (newest > started)  # NaN compares False, silently
        if np.count_nonzero(input_changed):
            stale = stale | input_changed
            # the upstream partitions behind it: each stale partition's newest input
            behind = newest[input_changed]
            if len(behind) <= 4:  # the usual few: a comparison each, not a sort
                up_changed = upstream.changed_at == behind[0]
                for value in behind[1:]:
                    up_changed |= upstream.changed_at == value
            else:
                up_changed = np.isin(upstream.changed_at, behind)
            is_source = graph.specs[up].is_source
            changes = np.where(input_changed, newest, np.nan)
            if is_source:
                source_cause = changes if source_cause is None else np.fmax(source_cause, changes)
            else:
                input_cause = changes if input_cause is None else np.fmax(input_cause, changes)
            reasons.append(
                StaleReason(
                    kind=StaleKind.SOURCE_CHANGED if is_source else StaleKind.INPUT_CHANGED,
                    partitions=_subset(input_changed),
                    upstream=up,
                    upstream_partitions=_fold(up_definition, up_changed),
                )
            )
        if up in outside and state is not None:
            removed = materialized & _reads_more_than_now(
                state, key, definition, up, edges, upstream.size, n
            )
            if removed.any():
                stale = stale | removed
                reasons.append(
                    StaleReason(
                        kind=StaleKind.PARTITIONS_REMOVED,
                        partitions=_subset(removed),
                        upstream=up,
                        upstream_partitions=_shown_keys(outside[up]),
                    )
                )
        if np.count_nonzero(upstream.stale):
            reads_stale = reduce_any(edges, upstream.stale, n)
            if np.count_nonzero(reads_stale):
                upstream_stale = (
                    reads_stale if upstream_stale is None else upstream_stale | reads_stale
                )
                reasons.append(
                    StaleReason(
                        kind=StaleKind.UPSTREAM_STALE,
                        partitions=_subset(reads_stale),
                        upstream=up,
                        upstream_partitions=_fold(up_definition, upstream.stale),
                    )
                )
        if np.count_nonzero(upstream.waiting):
            reads_waiting = reduce_any(edges, upstream.waiting, n)
            if np.count_nonzero(reads_waiting):
                waiting = waiting | reads_waiting
                reasons.append(
                    StaleReason(
                        kind=StaleKind.WAITING,
                        partitions=_subset(reads_waiting),
                        upstream=up,
                        upstream_partitions=_fold(up_definition, upstream.waiting),
                    )
                )
    own: np.ndarray | None = stale
    if upstream_stale is not None:
        stale = stale | upstream_stale
    if verify is not None:
        gone = verify.missing(key, definition, materialized & ~stale & ~waiting)
        if np.count_nonzero(gone):
            stale = stale | gone
            own = None
            reasons.append(StaleReason(kind=StaleKind.DATA_MISSING, partitions=_subset(gone)))
    if np.count_nonzero(waiting):  # cannot run yet: not stale, whatever else is true of it
        stale = stale & ~waiting
        reasons = [r for r in (_narrowed(reason, waiting) for reason in reasons) if r is not None]
    return AssetStaleness(
        key=key,
        size=n,
        stale=stale,
        changed_at=column.changed,
        reasons=tuple(reasons),
        waiting=waiting,
        started=started,
        updated=column.updated,
        input_cause=_shared(n, "nans") if input_cause is None else input_cause,
        source_cause=_shared(n, "nans") if source_cause is None else source_cause,
        newest_input=np.full(n, np.nan) if newest_input is None else newest_input,
        own=own,
    )


def _restale(
    graph: AssetGraph,
    key: AssetKey,
    before: AssetStaleness,
    found: dict[AssetKey, AssetStaleness],
    previous: dict[AssetKey, AssetStaleness],
    context: PartitionContext,
) -> AssetStaleness | None:
    """`_asset` again for an asset whose own columns did not move and whose upstreams
    moved only in which partitions are stale (the bulk of a tick: what lies downstream
    of a change): its own causes stand, only `upstream stale` is made again, in the
    place `_asset` gives it. None when more moved (`_asset` then)."""
    import numpy as np

    own = before.own
    if own is None or before.newest_input is None:  # quiet before: `_asset` makes it all
        return None
    n = before.size
    ups = graph.upstream[key]
    for up in ups:
        now, then = found[up], previous[up]
        if now.size != then.size or not (
            (
                now.changed_at is then.changed_at
                or np.array_equal(now.changed_at, then.changed_at, equal_nan=True)
            )
            and (now.waiting is then.waiting or np.array_equal(now.waiting, then.waiting))
        ):
            return None
    definition = graph.specs[key].partitions
    waiting = before.waiting
    free = ~waiting if np.count_nonzero(waiting) else None
    stale = own
    reasons = [r for r in before.reasons if r.upstream is None]  # missing, versions: first
    for up in ups:
        # its reasons in `_asset`'s order: input, removed, upstream stale, waiting
        of_up = [r for r in before.reasons if r.upstream == up]
        upstream = found[up]
        reads_stale = None
        if np.count_nonzero(upstream.stale):
            up_definition = graph.specs[up].partitions
            edges = graph.mappings[key][up].cached_edges(up_definition, definition, context)
            reads_stale = reduce_any(edges, upstream.stale, n)
        if reads_stale is None or not np.count_nonzero(reads_stale):
            reasons.extend(r for r in of_up if r.kind is not StaleKind.UPSTREAM_STALE)
            continue
        stale = stale | reads_stale
        was = previous[up].stale
        if upstream.stale is was or np.array_equal(upstream.stale, was):
            reasons.extend(of_up)  # the same upstream partitions stale: as it was
            continue
        of_up = [r for r in of_up if r.kind is not StaleKind.UPSTREAM_STALE]
        shown = reads_stale if free is None else reads_stale & free
        if np.count_nonzero(shown):
            at = len([r for r in of_up if r.kind is not StaleKind.WAITING])
            of_up.insert(
                at,
                StaleReason(
                    kind=StaleKind.UPSTREAM_STALE,
                    partitions=_subset(shown),
                    upstream=up,
                    upstream_partitions=_fold(up_definition, upstream.stale),
                ),
            )
        reasons.extend(of_up)
    if free is not None:
        stale = stale & free
    return AssetStaleness(  # not `replace`: it costs three times as much
        key=key,
        size=n,
        stale=stale,
        changed_at=before.changed_at,
        reasons=tuple(reasons),
        waiting=waiting,
        started=before.started,
        updated=before.updated,
        input_cause=before.input_cause,
        source_cause=before.source_cause,
        newest_input=before.newest_input,
        own=own,
    )


def _narrowed(reason: StaleReason, waiting: np.ndarray) -> StaleReason | None:
    """A staleness reason without the partitions that wait (None when none is left)."""
    if reason.kind is StaleKind.WAITING:
        return reason
    left = reason.partitions - _subset(waiting)
    return replace(reason, partitions=left) if left else None


def read_arguments(
    graph: AssetGraph, keys: list[AssetKey], context: PartitionContext
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The `assets` and `keysets` arguments of the state's column reads for `keys`: a
    row per asset (asset_key, ordinal, keyset), and every distinct partitions
    definition's keys once, as columns (keyset, partition_key, idx)."""
    import numpy as np

    keysets: dict[PartitionsDefinition | None, int] = {}
    assets: list[dict[str, Any]] = []
    names: list[str] = []  # every keyset's keys, one after the other
    ids: list[np.ndarray] = []
    idx: list[np.ndarray] = []
    after: list[np.ndarray] = []  # what is stored of a key counts if recorded after this
    for ordinal, key in enumerate(keys):
        definition = graph.specs[key].partitions
        if definition not in keysets:
            keysets[definition] = len(keysets)
            found = [""] if definition is None else definition.keys(context=context)
            names += found
            ids.append(np.full(len(found), keysets[definition], dtype=np.int64))
            idx.append(np.arange(len(found), dtype=np.int64))
            removed = (
                definition.key_set(context).removed
                if isinstance(definition, DynamicPartitions)
                else {}
            )
            if removed:  # keys removed and added again: new again
                after.append(np.array([removed.get(k, -1) for k in found], dtype=np.int64))
            else:
                after.append(np.full(len(found), -1, dtype=np.int64))
        assets.append({"asset_key": str(key), "ordinal": ordinal, "keyset": keysets[definition]})
    empty = np.zeros(0, dtype=np.int64)
    columns = {
        "keyset": np.concatenate(ids) if ids else empty,
        "partition_key": names,
        "idx": np.concatenate(idx) if idx else empty,
        "after": np.concatenate(after) if after else empty,
    }
    return assets, columns


def _load(
    graph: AssetGraph,
    ordered: list[AssetKey],
    state: PlanningState | None,
    context: PartitionContext,
    *,
    base: list[_Columns] | None = None,
    since_seq: int | None = None,
) -> tuple[list[_Columns], np.ndarray, int | None]:
    """Per asset: started, changed (float, NaN when never), code_ok, sig_ok, absent (bool)
    arrays; how many stored partitions of each asset matched a current key; and how
    many are stored of these assets, when the read tells (from the planning snapshot;
    else None). With `base` (the columns as they were) and `since_seq`, only the
    partitions recorded after it are read, into copies of `base` (and the counts are
    of those)."""
    import numpy as np

    if base is None and since_seq is None and state is not None:
        held = getattr(state, "planning_snapshot", None)
        found = held() if held is not None else None
        if found is not None:
            return _load_snapshot(graph, ordered, found, context)
    assets, key_columns = read_arguments(graph, ordered, context)
    sizes = []
    for row, key in zip(assets, ordered, strict=True):
        spec = graph.specs[key]
        sizes.append(size_of(spec.partitions, context))
        row["code_version"] = code_version(spec)
        row["inputs_signature"] = inputs_signature(graph, key)
        row["is_source"] = spec.is_source
    # One flat array per column, each asset a slice of it: one scatter fills all.
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    if base is not None:
        started, changed, updated, code_ok, sig_ok, absent = (
            np.concatenate([getattr(c, name) for c in base])
            for name in ("started", "changed", "updated", "code_ok", "sig_ok", "absent")
        )
    else:
        started, changed = np.full(offsets[-1], np.nan), np.full(offsets[-1], np.nan)
        updated = np.full(offsets[-1], np.nan)
        code_ok, sig_ok = np.ones(offsets[-1], dtype=bool), np.ones(offsets[-1], dtype=bool)
        absent = np.zeros(offsets[-1], dtype=bool)
    matched = np.zeros(len(ordered), dtype=np.int64)
    if state is not None:
        stored = (
            state.planning_columns(assets, key_columns)
            if since_seq is None
            else state.planning_columns(assets, key_columns, since_seq=since_seq)
        )
        at = offsets[stored["ordinal"]] + stored["idx"]
        started[at], changed[at] = stored["started"], stored["changed"]
        updated[at] = stored.get("updated", stored["started"])
        code_ok[at], sig_ok[at] = stored["code_ok"], stored["sig_ok"]
        absent[at] = stored["absent"]
        matched = np.bincount(stored["ordinal"], minlength=len(ordered))
    columns = [
        _Columns(started[a:b], changed[a:b], updated[a:b], code_ok[a:b], sig_ok[a:b], absent[a:b])
        for a, b in itertools.pairwise(offsets)
    ]
    return columns, matched, None


def _load_snapshot(
    graph: AssetGraph,
    ordered: list[AssetKey],
    snapshot: PlanningSnapshot,
    context: PartitionContext,
) -> tuple[list[_Columns], np.ndarray, int]:
    """`_load` from the planning snapshot: the same columns as `planning_columns`
    gives, each asset's read in place where its stored partitions are exactly its
    keys in order (the usual case: no copy), else scattered as `_load` does."""
    import numpy as np

    keymaps: dict[PartitionsDefinition | None, tuple[np.ndarray, np.ndarray, int]] = {}
    identity: dict[PartitionsDefinition | None, bool] = {}
    codes, sigs = snapshot.ids("codes"), snapshot.ids("sigs")
    columns: list[_Columns] = []
    matched = np.zeros(len(ordered), dtype=np.int64)
    rows = 0  # stored partitions of these assets, whatever their keys
    for ordinal, key in enumerate(ordered):
        spec = graph.specs[key]
        definition = spec.partitions
        if definition not in keymaps:
            keymaps[definition] = _keymap(definition, snapshot, context)
            keymap, after, n = keymaps[definition]
            identity[definition] = bool(
                len(keymap) >= n and (keymap[:n] == np.arange(n)).all() and (after == -1.0).all()
            )
        keymap, after, n = keymaps[definition]
        segment = snapshot.segment(str(key))
        if segment is None or not len(segment):
            columns.append(_nothing_stored(n))
            continue
        rows += len(segment)
        code_ok = segment.code == codes.get(code_version(spec), -2)
        sig_ok = segment.sig == sigs.get(inputs_signature(graph, key), -2)
        absent = segment.empty if spec.is_source else np.zeros(len(segment), dtype=bool)
        # A segment's key ids rise strictly: n of them from 0 to n - 1 are 0..n-1, which
        # are the definition's keys in order where its map is the identity on them.
        if (
            identity[definition]
            and len(segment) == n
            and segment.key[0] == 0
            and segment.key[-1] == n - 1
            and not np.isnan(segment.updated).any()  # recorded at no seq: not counted
        ):
            matched[ordinal] = n
            columns.append(
                _Columns(segment.started, segment.changed, segment.updated, code_ok, sig_ok, absent)
            )
            continue
        idx = keymap[segment.key]
        keep = (idx >= 0) & (segment.updated > after[np.maximum(idx, 0)])
        matched[ordinal] = int(np.count_nonzero(keep))
        at = idx[keep]
        column = _nothing_stored(n)
        for name, values in (
            ("started", segment.started),
            ("changed", segment.changed),
            ("updated", segment.updated),
            ("code_ok", code_ok),
            ("sig_ok", sig_ok),
            ("absent", absent),
        ):
            getattr(column, name)[at] = values[keep]
        columns.append(column)
    return columns, matched, rows


def _keymap(
    definition: PartitionsDefinition | None, snapshot: PlanningSnapshot, context: PartitionContext
) -> tuple[np.ndarray, np.ndarray, int]:
    """Per partition key of the snapshot (by id): its index in `definition` (-1: not
    one of its keys); per index, the `seq` a stored partition must be recorded after to
    count (a dynamic key removed and added again); and how many keys there are."""
    import numpy as np

    found = [""] if definition is None else definition.keys(context=context)
    index = {k: i for i, k in enumerate(found)}
    keymap = np.array([index.get(k, -1) for k in snapshot.keys], dtype=np.int64)
    removed = (
        definition.key_set(context).removed if isinstance(definition, DynamicPartitions) else {}
    )
    after = np.full(max(len(found), 1), -1.0)
    for k, at in removed.items():
        if k in index:
            after[index[k]] = at
    return keymap, after, len(found)


def _nothing_stored(n: int) -> _Columns:
    import numpy as np

    return _Columns(
        np.full(n, np.nan),
        np.full(n, np.nan),
        np.full(n, np.nan),
        np.ones(n, dtype=bool),
        np.ones(n, dtype=bool),
        np.zeros(n, dtype=bool),
    )


def _outside_keys(
    graph: AssetGraph,
    ordered: list[AssetKey],
    state: PlanningState | None,
    matched: np.ndarray,
    mark: StateMark | None,
    context: PartitionContext,
    *,
    rows: int | None = None,
) -> dict[AssetKey, list[str]]:
    """Stored partition keys no longer in their asset's definition (a key removed, a
    time range shortened), for assets that something in scope reads. Costs one count
    when there are none (the usual case), none when `rows` (how many partitions of
    these assets are stored) or `mark` says it."""
    if state is None:
        return {}
    names = [str(k) for k in ordered]
    if mark is not None:
        rows = mark.rows
    elif rows is None:
        rows = state.state_mark(names).rows
    if rows <= int(matched.sum()):
        return {}
    read = {up for key in ordered for up in graph.upstream[key]}
    counts = state.stored_counts(names)
    found: dict[AssetKey, list[str]] = {}
    for ordinal, key in enumerate(ordered):
        if key not in read or counts.get(str(key), 0) <= matched[ordinal]:
            continue
        definition = graph.specs[key].partitions
        current = {""} if definition is None else set(definition.keys(context=context))
        stored = [partition for partition, _, _ in state.stored_versions(str(key))]
        gone = sorted(p for p in stored if p not in current)
        if gone:
            found[key] = gone
    return found


def _reads_more_than_now(
    state: PlanningState,
    key: AssetKey,
    definition: PartitionsDefinition | None,
    up: AssetKey,
    edges: Edges,
    n_up: int,
    n: int,
) -> np.ndarray:
    """Per partition of `key`: did its materialization read more partitions of `up`
    (its provenance's count) than the mapping gives it now?"""
    import numpy as np

    partition_keys, counts = state.read_counts(str(key), str(up))
    stored = np.full(n, np.nan)
    lookup = {"": 0} if definition is None else definition._lookup(n)
    indices = np.array([lookup.get(p, -1) for p in partition_keys], dtype=np.int64)
    keep = indices >= 0
    stored[indices[keep]] = np.asarray(counts, dtype=np.float64)[keep]
    with np.errstate(invalid="ignore"):
        return stored > read_counts(edges, n_up, n)


def read_counts(edges: Edges, n_up: int, n_down: int) -> np.ndarray:
    """For each downstream partition, how many upstream partitions it reads now."""
    import numpy as np

    if isinstance(edges, Broadcast):
        return np.full(n_down, max(0, min(edges.stop, n_up) - edges.start), dtype=np.float64)
    if isinstance(edges, Shift):
        base = np.arange(n_down) + edges.offset
        low = np.clip(base + edges.low, 0, n_up)
        high = np.clip(base + edges.high + 1, 0, n_up)
        counts: np.ndarray = np.maximum(high - low, 0).astype(np.float64)
        return counts
    out = np.zeros(n_down, dtype=np.float64)
    if isinstance(edges, Table):
        starts = np.asarray(edges.starts[:n_down], dtype=np.int64)
        stops = np.minimum(np.asarray(edges.stops[:n_down], dtype=np.int64), n_up)
        out[: len(starts)] = np.maximum(stops - starts, 0)
        return out
    down = np.asarray(edges.down, dtype=np.int64)
    up = np.asarray(edges.up, dtype=np.int64)
    keep = (up < n_up) & (down < n_down)
    return np.bincount(down[keep], minlength=n_down)[:n_down].astype(np.float64)


def _version_reasons(
    graph: AssetGraph,
    key: AssetKey,
    state: PlanningState | None,
    code_changed: np.ndarray,
    deps_changed: np.ndarray,
    context: PartitionContext,
) -> list[StaleReason]:
    """Code and dependency reasons, with the stored versions (read only for this asset)."""
    definition = graph.specs[key].partitions
    lookup = {"": 0} if definition is None else definition._lookup(size_of(definition, context))
    old_code: dict[str, list[int]] = {}
    old_deps: dict[str, list[int]] = {}
    for partition, code, signature in state.stored_versions(str(key)) if state else []:
        index = lookup.get(partition)
        if index is None:
            continue
        if code_changed[index]:
            old_code.setdefault(code or "none", []).append(index)
        if deps_changed[index]:
            old_deps.setdefault(signature or "", []).append(index)
    current = code_version(graph.specs[key])
    signature_now = inputs_signature(graph, key)
    reasons = [
        StaleReason(
            kind=StaleKind.CODE_CHANGED,
            partitions=PartitionSubset.from_indices(indices),
            old=old,
            new=current,
        )
        for old, indices in sorted(old_code.items())
    ]
    deps_now, config_now = split_signature(signature_now)
    configs: dict[str, list[int]] = {}
    for old, indices in sorted(old_deps.items()):
        deps_then, config_then = split_signature(old)
        if deps_then != deps_now or config_then == config_now:
            reasons.append(
                StaleReason(
                    kind=StaleKind.DEPS_CHANGED,
                    partitions=PartitionSubset.from_indices(indices),
                    old=deps_then,
                    new=deps_now,
                )
            )
        else:
            configs.setdefault(config_then or "", []).extend(indices)
    if configs and state is not None:
        recorded = state.stored_configs(str(key))
        by_index = {lookup[p]: text for p, text in recorded.items() if p in lookup}
        current_config = graph.configs.get(key)
        for indices in configs.values():
            reasons.append(
                StaleReason(
                    kind=StaleKind.CONFIG_CHANGED,
                    partitions=PartitionSubset.from_indices(sorted(indices)),
                    old=by_index.get(indices[0]),
                    new=None if current_config is None else current_config.json,
                )
            )
    return reasons


def _subset(mask: np.ndarray) -> PartitionSubset:
    import numpy as np

    count = np.count_nonzero(mask)
    if not count:  # the usual case at scale: nothing stale, nothing waiting
        return PartitionSubset()
    if count == len(mask):
        return PartitionSubset.from_range(0, len(mask))
    return PartitionSubset.from_mask(mask)


def _fold(definition: PartitionsDefinition | None, mask: np.ndarray) -> str | None:
    if definition is None:
        return None
    # an upstream's stale (or waiting) mask is folded for each asset that reads it
    held = _FOLDS.get(id(mask))
    if held is not None and held[0] is mask and held[1] is definition:
        return held[2]
    subset = _subset(mask)
    text = definition.fold(subset)
    text = text if len(text) <= 120 else f"{len(subset)} partitions"
    if len(_FOLDS) >= 16_384:
        _FOLDS.clear()
    _FOLDS[id(mask)] = (mask, definition, text)
    return text


# id(mask) -> (the mask, its definition, its fold): masks are never changed in place
_FOLDS: dict[int, tuple[np.ndarray, PartitionsDefinition, str]] = {}


def _shown_keys(keys: list[str]) -> str:
    shown = ", ".join(keys[:8])
    return shown if len(keys) <= 8 else f"{shown}, … ({len(keys)})"
