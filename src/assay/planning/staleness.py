"""Staleness of every asset partition, computed per asset on whole columns.

The stored state of every asset partition in scope comes back from DuckDB as
numeric columns (one query: keys are turned into partition indices by a join
with each definition's key table, code versions and dependency lists compared
there). Per asset, in dependency order, those become dense numpy arrays
indexed by partition, and each reason is one vector expression; along an edge,
the mapping's `reduce_max` gives each downstream partition the newest change
(or any staleness) among the upstream partitions it reads. No loop runs per
asset partition, so millions stay interactive.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from assay.partitions.mapping import reduce_max, size_of
from assay.partitions.subset import PartitionSubset
from assay.versioning import code_version, inputs_signature

if TYPE_CHECKING:
    from collections.abc import Iterable

    import numpy as np

    from assay.graph import AssetGraph
    from assay.keys import AssetKey
    from assay.partitions.base import PartitionContext, PartitionsDefinition
    from assay.planning.source import PlanningState


class StaleKind(StrEnum):
    MISSING = "missing"
    CODE_CHANGED = "code changed"
    DEPS_CHANGED = "dependencies changed"
    INPUT_CHANGED = "input changed"
    SOURCE_CHANGED = "source changed"
    UPSTREAM_STALE = "upstream stale"
    FORCED = "forced"


@dataclass(frozen=True, slots=True, kw_only=True)
class StaleReason:
    """Why some partitions of an asset are stale.

    `upstream` names the input for INPUT_CHANGED, SOURCE_CHANGED and
    UPSTREAM_STALE; `old` and `new` hold code versions or dependency lists;
    `upstream_partitions` the upstream partitions that changed or are stale.
    """

    kind: StaleKind
    partitions: PartitionSubset
    upstream: AssetKey | None = None
    old: str | None = None
    new: str | None = None
    upstream_partitions: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class AssetStaleness:
    """One asset's partitions: which are stale, why, and the columns downstream needs."""

    key: AssetKey
    size: int
    stale: np.ndarray  # bool per partition
    changed_at: np.ndarray  # per partition, the clock `seq` when its data last changed; NaN: never
    reasons: tuple[StaleReason, ...]

    @property
    def stale_subset(self) -> PartitionSubset:
        return _subset(self.stale)


def assess(
    graph: AssetGraph,
    keys: Iterable[AssetKey],
    state: PlanningState | None,
    context: PartitionContext,
) -> dict[AssetKey, AssetStaleness]:
    """Staleness of `keys` (which must include everything upstream of them), in graph order.

    `state` None means nothing is stored (every partition is missing).
    """
    import numpy as np

    ordered = graph.ordered(keys)
    columns = _load(graph, ordered, state, context)
    found: dict[AssetKey, AssetStaleness] = {}
    for key, (started, changed, code_ok, sig_ok) in zip(ordered, columns, strict=True):
        spec = graph.specs[key]
        definition = spec.partitions
        n = len(started)
        if spec.is_source:  # observed, never materialized: only its changes matter
            found[key] = AssetStaleness(
                key=key, size=n, stale=np.zeros(n, dtype=bool), changed_at=changed, reasons=()
            )
            continue
        materialized = ~np.isnan(started)
        reasons: list[StaleReason] = []
        stale = ~materialized
        if stale.any():
            reasons.append(StaleReason(kind=StaleKind.MISSING, partitions=_subset(stale)))
        code_changed = materialized & ~code_ok
        deps_changed = materialized & ~sig_ok
        if code_changed.any() or deps_changed.any():
            stale = stale | code_changed | deps_changed
            reasons.extend(_version_reasons(graph, key, state, code_changed, deps_changed, context))
        for up in graph.upstream[key]:
            upstream = found[up]
            mapping = graph.mappings[key][up]
            edges = mapping.cached_edges(graph.specs[up].partitions, definition, context)
            newest = reduce_max(edges, upstream.changed_at, n)
            with np.errstate(invalid="ignore"):
                input_changed = materialized & (newest > started)
            if input_changed.any():
                stale = stale | input_changed
                # the upstream partitions behind it: each stale partition's newest input
                up_changed = np.isin(upstream.changed_at, newest[input_changed])
                is_source = graph.specs[up].is_source
                reasons.append(
                    StaleReason(
                        kind=StaleKind.SOURCE_CHANGED if is_source else StaleKind.INPUT_CHANGED,
                        partitions=_subset(input_changed),
                        upstream=up,
                        upstream_partitions=_fold(graph.specs[up].partitions, up_changed),
                    )
                )
            if upstream.stale.any():
                reads_stale = reduce_max(edges, upstream.stale.astype(np.float64), n) > 0
                if reads_stale.any():
                    stale = stale | reads_stale
                    reasons.append(
                        StaleReason(
                            kind=StaleKind.UPSTREAM_STALE,
                            partitions=_subset(reads_stale),
                            upstream=up,
                            upstream_partitions=_fold(graph.specs[up].partitions, upstream.stale),
                        )
                    )
        found[key] = AssetStaleness(
            key=key, size=n, stale=stale, changed_at=changed, reasons=tuple(reasons)
        )
    return found


Columns = tuple["np.ndarray", "np.ndarray", "np.ndarray", "np.ndarray"]


def _load(
    graph: AssetGraph,
    ordered: list[AssetKey],
    state: PlanningState | None,
    context: PartitionContext,
) -> list[Columns]:
    """Per asset: started, changed (float, NaN when never), code_ok, sig_ok (bool) arrays."""
    import numpy as np

    keysets: dict[PartitionsDefinition | None, int] = {}
    assets: list[dict[str, Any]] = []
    names: list[str] = []  # every keyset's keys, one after the other
    ids: list[np.ndarray] = []
    sizes = []
    for ordinal, key in enumerate(ordered):
        definition = graph.specs[key].partitions
        if definition not in keysets:
            keysets[definition] = len(keysets)
            keys = [""] if definition is None else definition.keys(context=context)
            names += keys
            ids.append(np.full(len(keys), keysets[definition], dtype=np.int64))
        sizes.append(size_of(definition, context))
        assets.append(
            {
                "asset_key": str(key),
                "ordinal": ordinal,
                "keyset": keysets[definition],
                "code_version": code_version(graph.specs[key]),
                "inputs_signature": inputs_signature(graph, key),
            }
        )
    # One flat array per column, each asset a slice of it: one scatter fills all.
    offsets = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
    started, changed = np.full(offsets[-1], np.nan), np.full(offsets[-1], np.nan)
    code_ok, sig_ok = np.ones(offsets[-1], dtype=bool), np.ones(offsets[-1], dtype=bool)
    if state is not None:
        keyset = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int64)
        starts = np.flatnonzero(np.concatenate(([True], keyset[1:] != keyset[:-1])))
        idx = np.arange(len(keyset)) - np.repeat(starts, np.diff([*starts, len(keyset)]))
        key_columns = {"keyset": keyset, "partition_key": names, "idx": idx}
        stored = state.planning_columns(assets, key_columns)
        at = offsets[stored["ordinal"]] + stored["idx"]
        started[at], changed[at] = stored["started"], stored["changed"]
        code_ok[at], sig_ok[at] = stored["code_ok"], stored["sig_ok"]
    return [
        (started[a:b], changed[a:b], code_ok[a:b], sig_ok[a:b])
        for a, b in itertools.pairwise(offsets)
    ]


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
    reasons += [
        StaleReason(
            kind=StaleKind.DEPS_CHANGED,
            partitions=PartitionSubset.from_indices(indices),
            old=old,
            new=signature_now,
        )
        for old, indices in sorted(old_deps.items())
    ]
    return reasons


def _subset(mask: np.ndarray) -> PartitionSubset:
    if mask.all():
        return PartitionSubset.from_range(0, len(mask))
    return PartitionSubset.from_mask(mask)


def _fold(definition: PartitionsDefinition | None, mask: np.ndarray) -> str | None:
    if definition is None:
        return None
    subset = _subset(mask)
    text = definition.fold(subset)
    return text if len(text) <= 120 else f"{len(subset)} partitions"
