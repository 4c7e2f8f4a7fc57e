"""Staleness of every asset partition, computed per asset on whole columns.

For each asset, in dependency order, its stored state becomes dense columns
indexed by partition (materialized? when started, code version, inputs
signature, when its data version last changed). Each reason is then one vector
expression; along an edge, the mapping's `reduce_max` tells each downstream
partition the newest change (or any staleness) among the upstream partitions it
reads. No loop runs per asset partition, so millions stay interactive.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from assay.partitions.mapping import reduce_max, size_of
from assay.partitions.subset import PartitionSubset
from assay.versioning import code_version, inputs_signature

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping
    from datetime import datetime

    import polars as pl

    from assay.graph import AssetGraph
    from assay.keys import AssetKey
    from assay.partitions.base import PartitionsDefinition
    from assay.partitions.mapping import Edges, PartitionMapping


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

    `upstream` names the input for INPUT_CHANGED and UPSTREAM_STALE; `old` and
    `new` hold code versions or dependency lists; `upstream_partitions` the
    upstream partitions that changed or are stale.
    """

    kind: StaleKind
    partitions: PartitionSubset
    upstream: AssetKey | None = None
    old: str | None = None
    new: str | None = None
    upstream_partitions: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetStaleness:
    """One asset's partitions: which are stale, why, and the columns downstream needs."""

    key: AssetKey
    size: int
    stale: pl.Series  # bool per partition
    changed_at: pl.Series  # float epoch per partition: when its data version last changed
    reasons: tuple[StaleReason, ...]

    @property
    def stale_subset(self) -> PartitionSubset:
        return _subset(self.stale)


def assess(
    graph: AssetGraph,
    keys: Iterable[AssetKey],
    states: Mapping[str, pl.DataFrame],
    now: datetime,
) -> dict[AssetKey, AssetStaleness]:
    """Staleness of `keys` (which must include everything upstream of them), in graph order.

    `states` holds, per asset key, its rows of `asset_partitions` (partition_key,
    started, changed, code_version, inputs_signature).
    """
    import polars as pl

    edges_cache: dict[tuple[PartitionMapping, object, object], Edges] = {}
    found: dict[AssetKey, AssetStaleness] = {}
    for key in graph.ordered(keys):
        spec = graph.specs[key]
        definition = spec.partitions
        n = size_of(definition, now)
        columns = _dense(states.get(str(key)), definition, n, now)
        if spec.is_source:  # observed, never materialized: only its changes matter
            found[key] = AssetStaleness(
                key=key,
                size=n,
                stale=pl.repeat(False, n, eager=True),
                changed_at=columns["changed"],
                reasons=(),
            )
            continue
        materialized = columns["started"].is_not_null()
        reasons: list[StaleReason] = []
        stale = ~materialized
        if not materialized.all():
            reasons.append(StaleReason(kind=StaleKind.MISSING, partitions=_subset(~materialized)))
        current_code = code_version(spec)
        code_changed = materialized & (columns["code_version"] != current_code)
        if code_changed.any():
            stale = stale | code_changed
            for old in code_changed_olds(columns["code_version"], code_changed):
                mask = code_changed & (columns["code_version"] == old)
                reasons.append(
                    StaleReason(
                        kind=StaleKind.CODE_CHANGED,
                        partitions=_subset(mask),
                        old=old,
                        new=current_code,
                    )
                )
        signature = inputs_signature(graph, key)
        deps_changed = materialized & (columns["inputs_signature"] != signature)
        if deps_changed.any():
            stale = stale | deps_changed
            old_signature = columns["inputs_signature"].filter(deps_changed)[0]
            reasons.append(
                StaleReason(
                    kind=StaleKind.DEPS_CHANGED,
                    partitions=_subset(deps_changed),
                    old=old_signature,
                    new=signature,
                )
            )
        for up in graph.upstream[key]:
            upstream = found[up]
            mapping = graph.mappings[key][up]
            cache_key = (mapping, graph.specs[up].partitions, definition)
            if cache_key not in edges_cache:
                edges_cache[cache_key] = mapping.edges(graph.specs[up].partitions, definition, now)
            edges = edges_cache[cache_key]
            newest = reduce_max(edges, upstream.changed_at, n)
            changed = materialized & (newest > columns["started"]).fill_null(False)
            if changed.any():
                stale = stale | changed
                first_start = columns["started"].filter(changed).min()
                up_changed = upstream.changed_at > first_start
                kind = (
                    StaleKind.SOURCE_CHANGED
                    if graph.specs[up].is_source
                    else StaleKind.INPUT_CHANGED
                )
                reasons.append(
                    StaleReason(
                        kind=kind,
                        partitions=_subset(changed),
                        upstream=up,
                        upstream_partitions=_fold(graph.specs[up].partitions, up_changed),
                    )
                )
            if upstream.stale.any():
                reads_stale = reduce_max(edges, upstream.stale.cast(pl.Int8), n).fill_null(0) > 0
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
            key=key,
            size=n,
            stale=stale,
            changed_at=columns["changed"],
            reasons=tuple(reasons),
        )
    return found


def code_changed_olds(codes: pl.Series, mask: pl.Series) -> list[str]:
    """The distinct old code versions among changed partitions (usually one)."""
    return sorted(codes.filter(mask).unique().drop_nulls().to_list())


def _dense(
    rows: pl.DataFrame | None, definition: PartitionsDefinition | None, n: int, now: datetime
) -> pl.DataFrame:
    """The asset's stored state as one row per partition index (nulls where never stored)."""
    import polars as pl

    schema = {
        "started": pl.Float64,
        "changed": pl.Float64,
        "code_version": pl.String,
        "inputs_signature": pl.String,
    }
    empty = pl.DataFrame({name: pl.Series(name, [None] * n, dtype=t) for name, t in schema.items()})
    if rows is None or rows.is_empty():
        return empty
    if definition is None:
        index = pl.Series([0 if k == "" else None for k in rows["partition_key"]], dtype=pl.Int64)
    else:
        index = definition.indices(rows["partition_key"], now)
    keep = index.is_not_null() & (index < n)
    index = index.filter(keep)
    rows = rows.filter(keep)
    return pl.DataFrame(
        {name: empty[name].scatter(index, rows[name].cast(t)) for name, t in schema.items()}
    )


def _subset(mask: pl.Series) -> PartitionSubset:
    if mask.all():
        return PartitionSubset.from_range(0, len(mask))
    return PartitionSubset.from_mask(mask)


def _fold(definition: PartitionsDefinition | None, mask: pl.Series) -> str | None:
    if definition is None:
        return None
    subset = _subset(mask.fill_null(False))
    text = definition.fold(subset)
    return text if len(text) <= 120 else f"{len(subset)} partitions"
