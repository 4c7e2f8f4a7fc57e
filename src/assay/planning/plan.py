"""`build_plan`: what must be materialized, and why, for a selection."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.partitions.subset import PartitionSubset
from assay.planning.staleness import StaleKind, StaleReason, assess
from assay.versioning import code_version, inputs_signature

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    import polars as pl

    from assay.graph import AssetGraph
    from assay.keys import AssetKey
    from assay.partitions.base import PartitionContext, PartitionsDefinition
    from assay.partitions.selection import PartitionSelection
    from assay.planning.source import PlanningState
    from assay.planning.staleness import AssetStaleness
    from assay.planning.verify import Verification
    from assay.state.models import StateMark


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedStep:
    """An asset and the partitions of it to materialize (None: unpartitioned), with reasons."""

    key: AssetKey
    partitions: PartitionSubset | None
    reasons: tuple[StaleReason, ...]
    definition: PartitionsDefinition | None

    @property
    def count(self) -> int:
        return 1 if self.partitions is None else len(self.partitions)

    def shown_reasons(self) -> list[tuple[StaleReason, PartitionSubset]]:
        """Each reason with the partitions of this step it holds for: clipped to the
        step's partitions (the selection), and an upstream that is stale left out where
        the partition is missing anyway (it is built whatever its upstream)."""
        whole = self.partitions or PartitionSubset.from_range(0, 1)
        missing = PartitionSubset()
        for reason in self.reasons:
            if reason.kind is StaleKind.MISSING:
                missing = missing | (reason.partitions & whole)
        shown = []
        for reason in self.reasons:
            partitions = reason.partitions & whole
            if reason.kind is StaleKind.UPSTREAM_STALE:
                partitions = partitions - missing
            if partitions:
                shown.append((reason, partitions))
        return shown

    def describe(
        self,
        reason: StaleReason,
        partitions: PartitionSubset | None = None,
        *,
        upstream: str | None = None,
    ) -> str:
        """`2024-01-01..2024-03-31 (91): upstream raw_orders changed in 2024-01-03`.

        `partitions` (default: the reason's, clipped to the step's) are the step's
        partitions it holds for; `upstream` replaces the reason's upstream partitions
        (see `Plan.upstream_partitions`)."""
        if partitions is None:
            partitions = reason.partitions & (self.partitions or reason.partitions)
        where = "" if self.definition is None else f"{fold_text(self.definition, partitions)}: "
        return where + describe_reason(reason, upstream=upstream)


FOLDED_RANGES = 6  # ranges a description shows before saying how many more
FOLDED_CHARS = 120


def fold_text(definition: PartitionsDefinition, subset: PartitionSubset) -> str:
    """`definition.fold(subset)` for people: the first FOLDED_RANGES ranges, then how
    many partitions more (in how many ranges)."""
    if len(subset.ranges) <= FOLDED_RANGES:
        return definition.fold(subset)
    rest = PartitionSubset(subset.ranges[FOLDED_RANGES:])
    shown = definition.fold(PartitionSubset(subset.ranges[:FOLDED_RANGES]))
    return f"{shown}, … and {len(rest):,} more in {len(rest.ranges):,} ranges"


def describe_reason(reason: StaleReason, *, upstream: str | None = None) -> str:
    """A reason in words; an upstream's partitions are said to be its own
    (`upstream events changed in 2024-01-03`)."""
    kind = reason.kind
    if kind is StaleKind.CODE_CHANGED:
        return f"code version changed ({_short(reason.old)} → {_short(reason.new)})"
    if kind is StaleKind.CONFIG_CHANGED:
        from assay.run_config import changes as config_changes

        return f"config changed ({config_changes(reason.old, reason.new)})"
    if kind is StaleKind.DEPS_CHANGED:
        old = set(filter(None, (reason.old or "").split(",")))
        new = set(filter(None, (reason.new or "").split(",")))
        changes = [f"+{k}" for k in sorted(new - old)] + [f"-{k}" for k in sorted(old - new)]
        return f"dependencies changed ({', '.join(changes)})"
    up_where = _upstream_where(upstream if upstream is not None else reason.upstream_partitions)
    if kind is StaleKind.INPUT_CHANGED:
        return f"upstream {reason.upstream} changed{up_where}"
    if kind is StaleKind.SOURCE_CHANGED:
        return f"source {reason.upstream} changed{up_where}"
    if kind is StaleKind.UPSTREAM_STALE:
        return f"upstream {reason.upstream} is stale{up_where}"
    # keys that are gone, or a source's partitions: named in parentheses (whose is clear)
    given = upstream if upstream is not None else reason.upstream_partitions
    named = f" ({given})" if given else ""
    if kind is StaleKind.PARTITIONS_REMOVED:
        return f"upstream {reason.upstream} no longer has partitions it read{named}"
    if kind is StaleKind.SIBLING:
        return (
            f"computed with {reason.upstream} (@multi_asset {reason.new} stores every "
            "output of a step: it cannot compute a subset)"
        )
    if kind is StaleKind.DATA_MISSING:
        return "stored data missing (deleted outside assay)"
    if kind is StaleKind.WAITING:
        if reason.upstream is None:  # the source itself
            if reason.new == "absent":
                return "observed absent (its observe function no longer returns it)"
            return "never observed (run `assay observe`)"
        return f"waiting for source {reason.upstream}{named}"
    return kind.value


def _upstream_where(partitions: str | None) -> str:
    """` in 2024-01-03..2024-01-05 (3)`, or ` in 1,234 of its partitions`."""
    if not partitions:
        return ""
    count = partitions.removesuffix(" partitions")
    if count != partitions and count.replace(",", "").isdigit():
        return f" in {count} of its partitions"
    return f" in {partitions}"


_NARROWED_MAX = 10_000  # shown partitions beyond which a reason keeps its own upstream text


def _short(version: str | None) -> str:
    if version is None:
        return "none"
    return version[:8] if len(version) > 12 else version


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """The ordered asset partitions to materialize, each with its reasons: the thing
    `Project.materialize` applies.

    `mark` and `code` say what it was made against (the stored state, the code
    versions and dependencies of every asset in scope): a plan applied later is
    refused if either moved since.
    """

    steps: tuple[PlannedStep, ...]
    context: PartitionContext
    staleness: Mapping[AssetKey, AssetStaleness]
    selection: str = "*"
    partitions: PartitionSelection | None = None
    force: bool = False
    mark: StateMark | None = None  # None: made without reading the state (forced, store held)
    code: str = ""
    scope: tuple[AssetKey, ...] = ()
    waiting: tuple[PlannedStep, ...] = ()  # selected partitions that wait for a source: not run
    # the configuration of each configured asset in scope (JSON): what applying it uses
    config: Mapping[str, str] = field(default_factory=dict)

    @property
    def now(self) -> datetime:
        """When the plan was made, for time partitions."""
        return self.context.now

    @property
    def is_empty(self) -> bool:
        return not self.steps

    @property
    def partition_count(self) -> int:
        return sum(step.count for step in self.steps)

    def to_dicts(self) -> list[dict[str, Any]]:
        """One entry per step, JSON-ready (what `assay plan --json` prints): each
        reason with the step's partitions it holds for (`shown_reasons`)."""
        return [
            {
                "asset": str(step.key),
                "partitions": None
                if step.definition is None or step.partitions is None
                else step.definition.fold(step.partitions),
                "count": step.count,
                "reasons": sorted({r.kind.value for r, _ in step.shown_reasons()}),
                "details": [
                    {
                        "kind": r.kind.value,
                        "partitions": None
                        if step.definition is None
                        else step.definition.fold(partitions),
                        "upstream": None if r.upstream is None else str(r.upstream),
                        "old": r.old,
                        "new": r.new,
                        "description": describe_reason(r),
                    }
                    for r, partitions in step.shown_reasons()
                ],
            }
            for step in self.steps
        ]

    def upstream_partitions(
        self, graph: AssetGraph, key: AssetKey, reason: StaleReason, shown: PartitionSubset
    ) -> str | None:
        """The upstream partitions behind `reason` that the `shown` partitions of `key`
        read, folded; None to keep the reason's own (they are the same, or the plan
        holds no staleness to narrow them with).

        The reason's own are those behind all of the asset's stale partitions; once
        the selection keeps fewer (or `assay why` asks about one), these are the ones
        behind the kept ones: the upstream's stale (or waiting) partitions they read,
        or (changed) the newest change each reads.
        """
        import numpy as np

        up = reason.upstream
        assessed = None if up is None else self.staleness.get(up)
        whole = reason.partitions
        if up is None or assessed is None or shown == whole or len(shown) > _NARROWED_MAX:
            return None
        if reason.kind not in (
            StaleKind.UPSTREAM_STALE,
            StaleKind.WAITING,
            StaleKind.INPUT_CHANGED,
            StaleKind.SOURCE_CHANGED,
        ):
            return None
        up_definition = graph.specs[up].partitions
        if up_definition is None:
            return None
        mapping = graph.mappings[key][up]
        definition = graph.specs[key].partitions
        found: set[int] = set()
        for index in shown:
            reads = list(mapping.upstream_for(index, up_definition, definition, self.context))
            if not reads:
                continue
            if reason.kind in (StaleKind.UPSTREAM_STALE, StaleKind.WAITING):
                mask = (
                    assessed.stale if reason.kind is StaleKind.UPSTREAM_STALE else assessed.waiting
                )
                found.update(u for u in reads if mask[u])
                continue
            changed = assessed.changed_at[reads]
            if np.isnan(changed).all():
                continue
            newest = np.nanmax(changed)
            found.update(u for u, at in zip(reads, changed, strict=True) if at == newest)
        subset = PartitionSubset.from_indices(found)
        text = fold_text(up_definition, subset)
        return text if len(text) <= FOLDED_CHARS else f"{len(subset):,} partitions"

    def to_polars(self) -> pl.DataFrame:
        """One row per (asset, reason), with the partitions folded into ranges."""
        import polars as pl

        rows = [
            {**{k: v for k, v in step.items() if k != "details"}, **detail}
            for step in self.to_dicts()
            for detail in step["details"]
        ]
        return pl.DataFrame(rows)


def build_plan(
    graph: AssetGraph,
    keys: Sequence[AssetKey],
    state: PlanningState | None,
    partitions: PartitionSelection,
    context: PartitionContext,
    *,
    force: bool = False,
    selection: str = "*",
    verify: Verification | None = None,
) -> Plan:
    """Compute which asset partitions of `keys` are stale, and why, without running anything.

    Staleness is transitive: an asset partition that reads a stale upstream
    partition is stale too, whether or not that upstream is selected. Partitions
    that wait for a source are not planned (`Plan.waiting` holds them).
    `verify` checks that stored partitions still exist (`planning.verify`).
    """
    scope = graph.ordered(set(keys) | graph.upstream_of(keys))
    snapshot = getattr(state, "planning_snapshot", None)
    if snapshot is not None:
        snapshot()  # read once for the whole plan, the mark included
    mark = None if state is None else state.state_mark([str(k) for k in scope])
    staleness = assess(graph, scope, state, context, mark=mark, verify=verify)
    steps = []
    waiting = []
    resolved: dict[PartitionsDefinition, PartitionSubset] = {}  # assets share definitions
    for key in graph.ordered(keys):
        if graph.specs[key].is_source:
            continue  # observed, not materialized
        definition = graph.specs[key].partitions
        assessed = staleness[key]
        if definition is None:
            chosen = PartitionSubset.from_range(0, 1)
        else:
            held = resolved.get(definition)
            if held is None:
                held = resolved[definition] = partitions.resolve(definition, context)
            chosen = held
        if not force and (waits := assessed.waiting_subset & chosen):
            waiting.append(
                PlannedStep(
                    key=key,
                    partitions=None if definition is None else waits,
                    reasons=tuple(
                        r
                        for r in assessed.reasons
                        if r.kind is StaleKind.WAITING and r.partitions & waits
                    ),
                    definition=definition,
                )
            )
        wanted = chosen if force else assessed.stale_subset & chosen
        if not wanted:
            continue
        reasons = tuple(reason for reason in assessed.reasons if reason.partitions & wanted)
        if force and (rest := wanted - assessed.stale_subset):
            reasons = (*reasons, StaleReason(kind=StaleKind.FORCED, partitions=rest))
        steps.append(
            PlannedStep(
                key=key,
                partitions=None if definition is None else wanted,
                reasons=reasons,
                definition=definition,
            )
        )
    steps = _with_siblings(graph, steps, context)
    return Plan(
        steps=tuple(steps),
        context=context,
        staleness=staleness,
        selection=selection,
        partitions=partitions,
        force=force,
        mark=mark,
        code=code_fingerprint(graph, scope),
        scope=tuple(scope),
        waiting=tuple(waiting),
        config={str(k): graph.configs[k].json for k in scope if k in graph.configs},
    )


def _with_siblings(
    graph: AssetGraph, steps: list[PlannedStep], context: PartitionContext
) -> list[PlannedStep]:
    """The steps, with the outputs of each multi-asset that cannot subset added where
    a step computes some of them: the step stores them all."""
    by_key = {step.key: step for step in steps}
    whole = PartitionSubset.from_range(0, 1)
    for step in list(steps):
        multi = graph.specs[step.key].multi
        if multi is None or multi.can_subset:
            continue
        for sibling in multi.sibling_keys(step.key):
            wanted = step.partitions or whole
            held = by_key.get(sibling)
            have = (held.partitions or whole) if held is not None else PartitionSubset()
            extra = wanted - have
            if not extra:
                continue
            reason = StaleReason(
                kind=StaleKind.SIBLING,
                partitions=extra,
                upstream=step.key,
                new=multi.name,
            )
            definition = graph.specs[sibling].partitions
            by_key[sibling] = PlannedStep(
                key=sibling,
                partitions=None if definition is None else have | extra,
                reasons=(*(held.reasons if held is not None else ()), reason),
                definition=definition,
            )
    return [by_key[key] for key in graph.ordered(by_key)]


def code_fingerprint(graph: AssetGraph, keys: Sequence[AssetKey]) -> str:
    """A digest of the code versions and dependencies of `keys`: it changes when any
    of their code or inputs does."""
    import hashlib

    digest = hashlib.sha256()
    for key in sorted(keys):
        spec = graph.specs[key]
        digest.update(f"{key}={code_version(spec)};{inputs_signature(graph, key)}\n".encode())
    return digest.hexdigest()[:16]
