"""A run's task graph: its nodes (an asset partition, or a batch of partitions of
one asset), what each waits for, what each partition reads, and its provenance."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from assay.execution.hooks import InputRead
from assay.keys import AssetKey
from assay.partitions.subset import PartitionSubset
from assay.results import step_key

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from assay.definitions import Definitions
    from assay.graph import AssetGraph
    from assay.partitions.base import PartitionContext
    from assay.state.claims import LiveClaim, Ranges


@dataclass(frozen=True, slots=True, kw_only=True)
class RunTarget:
    """One asset of a run and the partitions to materialize (None: unpartitioned)."""

    key: AssetKey
    partitions: PartitionSubset | None = None


@dataclass(slots=True, kw_only=True)
class TaskNode:
    """One task of the run: an asset partition, or a batch of partitions of one asset."""

    id: int
    key: AssetKey
    indices: tuple[int, ...] | None
    partitions: tuple[str, ...] | None
    priority: tuple[int, int]
    pools: tuple[str, ...]
    waiting: int = 0
    dependents: list[int] = field(default_factory=list)
    followers: list[int] = field(default_factory=list)  # wait for it, whatever its outcome
    attempt: int = 0
    done: bool = False
    started_seq: int | None = None  # the clock when its latest attempt was dispatched

    @property
    def step_keys(self) -> list[str]:
        return [step_key(self.key, p) for p in (self.partitions or (None,))]


def target_ranges(graph: AssetGraph, targets: Iterable[RunTarget]) -> Ranges:
    """Targets as key ranges per asset (None: unpartitioned)."""
    out: Ranges = {}
    for target in targets:
        definition = graph.specs[target.key].partitions
        if target.partitions is None or definition is None:
            out[str(target.key)] = None
            continue
        out[str(target.key)] = [
            [definition.key(start), definition.key(stop - 1)]
            for start, stop in target.partitions.ranges
        ]
    return out


def fully_rewritten(
    graph: AssetGraph, targets: Iterable[RunTarget], context: PartitionContext
) -> frozenset[AssetKey]:
    """The assets of which the targets cover every partition (an unpartitioned asset is
    always whole): a run writing them may change the schema their partitions share."""
    whole = set()
    for target in targets:
        definition = graph.specs[target.key].partitions
        if target.partitions is None or definition is None:
            whole.add(target.key)
            continue
        every = PartitionSubset.from_range(0, definition.size(context))
        if not every - target.partitions:
            whole.add(target.key)
    return frozenset(whole)


def decode_ranges(
    graph: AssetGraph,
    ranges: Mapping[str, list[list[str]] | None],
    context: PartitionContext | None = None,
) -> dict[AssetKey, PartitionSubset | None]:
    """Key ranges per asset back to partitions (None: the unpartitioned asset, or all
    of it). Assets and keys this project no longer has are left out."""
    found: dict[AssetKey, PartitionSubset | None] = {}
    for name, pairs in ranges.items():
        key = AssetKey.parse(name)
        spec = graph.specs.get(key)
        if spec is None:
            continue
        definition = spec.partitions
        if definition is None or pairs is None:
            found[key] = None
            continue
        size = definition.size(context)
        subset = PartitionSubset()
        for first, last in pairs:
            a, b = definition._parse(first), definition._parse(last)
            if a is not None and b is not None and max(a, 0) < min(b + 1, size):
                subset = subset | PartitionSubset(((max(a, 0), min(b + 1, size)),))
        found[key] = subset
    return found


def in_flight(
    graph: AssetGraph, claims: Sequence[LiveClaim], context: PartitionContext
) -> dict[AssetKey, tuple[PartitionSubset | None, str]]:
    """What other live runs compute, per asset of this project: the partitions (None:
    the unpartitioned asset) and a run that holds them."""
    found: dict[AssetKey, tuple[PartitionSubset | None, str]] = {}
    for claim in claims:
        for key, subset in decode_ranges(graph, claim.targets, context).items():
            held = found.get(key)
            if held is not None and held[0] is not None and subset is not None:
                subset = subset | held[0]
            found[key] = (subset, claim.run_id)
    return found


def build_nodes(
    definitions: Definitions, targets: Sequence[RunTarget], context: PartitionContext
) -> list[TaskNode]:
    """The run's nodes (batches where the asset has a BatchPolicy) and their dependencies:
    a node waits for every node of this run that holds a partition it reads.

    A node that reads no partition of an upstream this run materializes (the day
    before the first, through a window) still reads it: as an empty frame, with the
    columns of a stored partition. So it follows the upstream's first node of the
    run (or the next one, should that store nothing: `_Coordinator`), and what it
    reads does not depend on how the executor happened to order them.
    """
    graph = definitions.graph
    order = {key: i for i, key in enumerate(graph.order)}
    nodes: list[TaskNode] = []
    node_of: dict[tuple[AssetKey, int | None], int] = {}
    first_of: dict[AssetKey, int] = {}
    targeted = {t.key for t in targets}
    for target in sorted(targets, key=lambda t: order[t.key]):
        spec = graph.specs[target.key]
        pools = definitions.pools_of(spec)
        if target.partitions is None or spec.partitions is None:
            groups: list[tuple[int, ...] | None] = [None]
        else:
            size = spec.backfill_policy.max_partitions if spec.backfill_policy else 1
            groups = [
                tuple(range(start, min(start + size, stop)))
                for start, stop in target.partitions.ranges
                for start in range(start, stop, size)
            ]
        for group in groups:
            node = TaskNode(
                id=len(nodes),
                key=target.key,
                indices=group,
                partitions=None
                if group is None or spec.partitions is None
                else tuple(spec.partitions.key(i) for i in group),
                priority=(group[0] if group else -1, order[target.key]),
                pools=pools,
            )
            nodes.append(node)
            first_of.setdefault(target.key, node.id)
            for index in group or (None,):
                node_of[(target.key, index)] = node.id
            waits_for: set[int] = set()
            follows: set[int] = set()
            for up in graph.upstream[target.key]:
                if up not in targeted:
                    continue
                up_partitioned = graph.specs[up].partitions is not None
                reads_any = False
                for index in group or (None,):
                    if not up_partitioned:
                        found = node_of.get((up, None))
                        if found is not None:
                            waits_for.add(found)
                        continue
                    for read in reads_of(graph, target.key, up, index, context):
                        reads_any = True
                        found = node_of.get((up, read))
                        if found is not None:
                            waits_for.add(found)
                if up_partitioned and not reads_any and up in first_of:
                    follows.add(first_of[up])
            follows -= waits_for
            node.waiting = len(waits_for) + len(follows)
            for upstream_id in waits_for:
                nodes[upstream_id].dependents.append(node.id)
            for upstream_id in follows:
                nodes[upstream_id].followers.append(node.id)
    return nodes


def downstream_of(
    nodes: Sequence[TaskNode], failed: TaskNode, what: str
) -> Iterator[tuple[TaskNode, str]]:
    """Every node not yet done that depends, directly or not, on `failed`, with the reason:
    the upstream step it reads that failed (`what`) or was skipped."""
    queue = [(failed, what)]
    while queue:
        upstream, what = queue.pop(0)
        where = f"{str(upstream.key)!r}"
        if upstream.partitions:
            shown = upstream.partitions[0]
            if len(upstream.partitions) > 1:
                shown += f"..{upstream.partitions[-1]}"
            where += f" partition {shown}"
        for dependent_id in upstream.dependents:
            dependent = nodes[dependent_id]
            if dependent.done:
                continue
            dependent.done = True  # claimed here; the coordinator records it
            yield dependent, f"upstream {where} {what}"
            queue.append((dependent, "skipped"))


def reads_of(
    graph: AssetGraph, key: AssetKey, up: AssetKey, index: int | None, context: PartitionContext
) -> PartitionSubset:
    """The partitions of `up` that partition `index` of `key` reads."""
    return graph.mappings[key][up].upstream_for(
        index or 0, graph.specs[up].partitions, graph.specs[key].partitions, context
    )


def upstream_reads(
    graph: AssetGraph, targets: Sequence[RunTarget], context: PartitionContext
) -> list[tuple[str, str]]:
    """Every (upstream asset, partition key or '') that the targets' steps will read."""
    wanted: set[tuple[str, str]] = set()
    for target in targets:
        indices = [None] if target.partitions is None else list(target.partitions)
        for up in graph.upstream[target.key]:
            definition = graph.specs[up].partitions
            read = PartitionSubset()
            for index in indices:
                read = read | reads_of(graph, target.key, up, index, context)
            keys = [""] if definition is None else [definition.key(i) for i in read]
            wanted.update((str(up), key) for key in keys)
    return sorted(wanted)


def input_reads(
    graph: AssetGraph,
    key: AssetKey,
    index: int | None,
    versions: Mapping[tuple[str, str], str],
    context: PartitionContext,
) -> tuple[InputRead, ...]:
    """What partition `index` of `key` reads of each upstream, with the data versions
    it reads (one version, or a digest of several: so a later plan, and lineage,
    can tell whether any of them changed)."""
    import xxhash

    found = []
    for up in graph.upstream[key]:
        definition = graph.specs[up].partitions
        subset = reads_of(graph, key, up, index, context) if definition is not None else None
        keys = ("",) if subset is None or definition is None else tuple(map(definition.key, subset))
        digest = xxhash.xxh3_64()
        unknown = 0
        for partition in keys:
            version = versions.get((str(up), partition))
            unknown += version is None
            digest.update(f"{partition}={version}\n".encode())
        single = versions.get((str(up), keys[0])) if len(keys) == 1 else None
        found.append(
            InputRead(
                upstream=up,
                partitions=subset,
                keys=keys,
                version=single if len(keys) == 1 else digest.hexdigest(),
                digest=digest.hexdigest(),
                unknown=unknown,
            )
        )
    return tuple(found)


def provenance_of(graph: AssetGraph, reads: Sequence[InputRead]) -> str:
    """A materialization's provenance: per upstream asset, the partitions it read
    (folded), how many, and the digest of their data versions."""
    out = {}
    for read in reads:
        definition = graph.specs[read.upstream].partitions
        out[str(read.upstream)] = {
            "partitions": ""
            if definition is None or read.partitions is None
            else definition.fold(read.partitions),
            "count": len(read.keys),
            "versions": read.digest,
            "unknown": read.unknown,
        }
    return json.dumps(out, separators=(",", ":"), sort_keys=True)
