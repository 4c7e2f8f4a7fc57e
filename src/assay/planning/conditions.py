"""Declarative automation evaluated: every asset's condition over whole partition arrays.

`evaluate_conditions` takes what the planner computed (`assess`: staleness, the
causes behind it, when each partition was last recorded), what runs attempted
(`attempt_columns`: the latest step of each partition, failed or not, blocking
checks that failed), what is being computed now (claims of live runs and
requests not started yet) and when each condition was first seen, and gives,
per asset, the partitions to request and how many partitions each part of its
condition held for. Each part is one vector expression over the asset's
partitions; along an edge, the mapping's `reduce_max` tells each partition what
the partitions it reads are. Assets are visited in dependency order, so a
partition requested this tick counts as in progress for what reads it.

A trigger is true for a partition whose cause (the newest input change behind
its staleness, the code version's first sighting, a new time window closing, a
cron tick) is newer than both the condition's first sighting (`Baseline.since`:
enabling on history launches nothing) and the partition's last handling (a step
that started, a materialization, a request of the daemon's): so a run that
failed is not requested again until something new happens.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeAlias

from assay.conditions import (
    All,
    Any_,
    AutomationCondition,
    Capped,
    CronTickPassed,
    DepsFailed,
    DepsInProgress,
    DepsMissing,
    DepsUpdatedSinceCron,
    Failed,
    FreshnessMissed,
    InProgress,
    Missing,
    Not,
    Stale,
    Window,
    cron_parts,
)
from assay.partitions.mapping import reduce_any
from assay.partitions.subset import PartitionSubset
from assay.planning.staleness import StaleKind

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    import numpy as np

    from assay.automation.cron import Cron
    from assay.definitions import Definitions
    from assay.graph import AssetGraph
    from assay.keys import AssetKey
    from assay.partitions.base import PartitionContext
    from assay.planning.staleness import AssetStaleness

    # A mask, or the constant it is for every partition (True: all, False: none).
    Mask: TypeAlias = np.ndarray | bool

_US = 1_000_000.0
_LOOKBACK = timedelta(days=400)  # how far back the latest cron tick is looked for


@dataclass(frozen=True, slots=True, kw_only=True)
class CronCursor:
    """One cron of an asset's condition: its latest tick seen (on the evaluation's clock,
    epoch µs), the state clock when that tick was first seen (what dependencies must
    be newer than), and the latest tick the asset was requested for."""

    tick: float
    seen: float
    done: float = float("-inf")


@dataclass(frozen=True, slots=True, kw_only=True)
class Baseline:
    """When automation first saw an asset's condition, in epoch µs: `since` on the
    evaluation's clock (for time windows and cron ticks), `since_seq` on the state's
    clock (for recorded changes); `code_since` when its current code version was first
    seen (state clock); `had_history`: it had a materialization then (its missing
    partitions are history, not new); `crons`: where each cron of it stands."""

    since: float
    since_seq: float
    code_since: float
    had_history: bool = True
    crons: Mapping[tuple[str, str], CronCursor] = field(default_factory=dict)

    @classmethod
    def everything(cls) -> Baseline:
        """History included: every cause counts (`--include-history`)."""
        return cls(since=0.0, since_seq=0.0, code_since=0.0, had_history=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempts:
    """Per partition of an asset: when its latest step started (epoch µs, NaN: never),
    whether it failed after the current materialization, whether a blocking check
    failed on the current materialization."""

    attempted: np.ndarray
    failed: np.ndarray
    blocked: np.ndarray

    @classmethod
    def none(cls, n: int) -> Attempts:
        """No attempt of any of `n` partitions: one read-only instance per size (most
        assets have no attempt on record)."""
        found = _NO_ATTEMPTS.get(n)
        if found is None:
            found = cls._blank(n)
            for array in (found.attempted, found.failed, found.blocked):
                array.flags.writeable = False
            _NO_ATTEMPTS[n] = found
        return found

    @classmethod
    def _blank(cls, n: int) -> Attempts:
        import numpy as np

        return cls(
            attempted=np.full(n, np.nan), failed=np.zeros(n, bool), blocked=np.zeros(n, bool)
        )

    @classmethod
    def split(
        cls, found: Mapping[str, np.ndarray], keys: list[AssetKey], sizes: list[int]
    ) -> dict[AssetKey, Attempts]:
        """Each of `keys`' attempts from `StateReader.attempt_columns`' rows (whose
        `ordinal` is the key's place in `keys`; `sizes`: each key's partition count):
        every row placed at once in arrays laid end to end, each key's a slice of
        them (at 10,000 assets, a loop over the keys placing their rows took 0.8 s).
        A key without a row gets the shared `none`."""
        import numpy as np

        counts = np.asarray(sizes, dtype=np.int64)
        starts = np.zeros(len(keys) + 1, dtype=np.int64)
        np.cumsum(counts, out=starts[1:])
        ordinal, idx = found["ordinal"], found["idx"]
        keep = idx < counts[ordinal]
        at = starts[ordinal[keep]] + idx[keep]
        whole = cls._blank(int(starts[-1]))
        whole.attempted[at] = found["attempted"][keep]
        whole.failed[at] = found["failed"][keep]
        whole.blocked[at] = found["blocked"][keep]
        present = np.zeros(len(keys), dtype=np.bool_)
        present[ordinal[keep]] = True
        result: dict[AssetKey, Attempts] = {}
        for i, (key, n) in enumerate(zip(keys, sizes, strict=True)):
            if not present[i]:
                result[key] = cls.none(n)
                continue
            lo, hi = int(starts[i]), int(starts[i + 1])
            result[key] = cls(
                attempted=whole.attempted[lo:hi],
                failed=whole.failed[lo:hi],
                blocked=whole.blocked[lo:hi],
            )
        return result

    @classmethod
    def laid_over(
        cls, found: Mapping[str, np.ndarray], keys: list[AssetKey], before: list[Attempts]
    ) -> dict[AssetKey, Attempts]:
        """`before` (each of `keys`' attempts, as held) with what `attempt_columns` read
        `since` their mark laid over: a partition whose attempt moved takes its new
        one; a partition with a blocking check takes its `blocked` (read whole, since
        a check's latest result can clear or set it without a new attempt). A key
        with no row keeps its instance."""
        result: dict[AssetKey, Attempts] = {}
        for key, held, pick in zip(keys, before, _rows_of(found, len(keys)), strict=True):
            n = len(held.attempted)
            idx = found["idx"][pick]
            keep = idx < n
            if not keep.any():
                result[key] = held
                continue
            attempts = cls(
                attempted=held.attempted.copy(),
                failed=held.failed.copy(),
                blocked=held.blocked.copy(),
            )
            at, rows = idx[keep], pick[keep]
            attempts.blocked[at] = found["blocked"][rows]
            moved = found["moved"][rows]
            attempts.attempted[at[moved]] = found["attempted"][rows[moved]]
            attempts.failed[at[moved]] = found["failed"][rows[moved]]
            result[key] = attempts
        return result


def _rows_of(found: Mapping[str, np.ndarray], count: int) -> list[np.ndarray]:
    """The rows of each ordinal 0..count-1 of `found` (indices into its columns), by
    one sort of the rows, not a scan of them per asset."""
    import numpy as np

    order = np.argsort(found["ordinal"], kind="stable")
    bounds = np.searchsorted(found["ordinal"][order], np.arange(count + 1))
    return [order[bounds[i] : bounds[i + 1]] for i in range(count)]


_NO_ATTEMPTS: dict[int, Attempts] = {}


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetEvaluation:
    """One asset's condition this tick: what it requests, and why."""

    key: AssetKey
    condition: AutomationCondition
    requested: PartitionSubset
    counts: tuple[tuple[str, int], ...]  # each part of the condition (depth first): true for
    capped: int = 0  # partitions left for later ticks by the cap
    history: int = 0  # stale partitions whose cause predates the condition: reported only
    masks: tuple[np.ndarray, ...] = ()  # each part's mask, when asked (`explain`)
    crons: Mapping[tuple[str, str], CronCursor] = field(default_factory=dict)  # as moved on

    @property
    def size(self) -> int:
        return len(self.requested)


@dataclass(slots=True, kw_only=True)
class Facts:
    """Everything conditions read, for one tick."""

    graph: AssetGraph
    context: PartitionContext
    staleness: Mapping[AssetKey, AssetStaleness]
    attempts: Mapping[AssetKey, Attempts] = field(default_factory=dict)
    in_progress: dict[AssetKey, np.ndarray] = field(default_factory=dict)  # bool per partition
    requested: Mapping[AssetKey, np.ndarray] = field(default_factory=dict)  # µs, NaN: never
    baselines: Mapping[AssetKey, Baseline] = field(default_factory=dict)
    freshness_missed: Mapping[AssetKey, np.ndarray] = field(default_factory=dict)
    state_now: float | None = None  # the state clock now, epoch µs (default: the wall's)
    real_clock: bool = True  # the evaluation's clock is the wall's (not a test's or --at)
    # per asset, what a guard of its readers makes of a column, with that column (the
    # same column again: the same mask; a ticker keeps it from tick to tick)
    memo: dict[tuple[AssetKey, str], tuple[object, Mask]] = field(default_factory=dict)

    @property
    def now_us(self) -> float:
        return self.context.now.timestamp() * _US

    @property
    def state_now_us(self) -> float:
        import time

        return self.state_now if self.state_now is not None else time.time() * _US

    def cron_cursor(self, key: AssetKey, cron: str, timezone: str, tick: float) -> CronCursor:
        """Where `cron` stands for `key` at its latest tick `tick`: the recorded cursor,
        moved on to this tick when it is new (first seen now)."""
        baseline = self.baselines.get(key)
        cursor = None if baseline is None else baseline.crons.get((cron, timezone))
        if cursor is not None and cursor.tick >= tick:
            return cursor
        seen = min(self.state_now_us, tick) if self.real_clock else self.state_now_us
        return CronCursor(tick=tick, seen=seen, done=cursor.done if cursor else float("-inf"))


def facts_moved(before: AssetStaleness, after: AssetStaleness) -> tuple[bool, bool]:
    """Whether what conditions read of an asset's staleness moved: for its own condition,
    and for the conditions of the assets that read it. `upstream stale` is no part's
    concern (no trigger reacts to it): a staleness that moved only there, as it spreads
    down from a change, moves nothing."""
    import numpy as np

    def same(x: np.ndarray | None, y: np.ndarray | None) -> bool:
        if x is y:  # a column not read again is the same array
            return True
        if x is None or y is None:
            return x is None and y is None
        return bool(np.array_equal(x, y, equal_nan=True))

    if before.size != after.size:
        return True, True
    for_readers = not (same(before.started, after.started) and same(before.updated, after.updated))
    if for_readers:
        return True, True

    def concerns(staleness: AssetStaleness) -> list[Any]:
        return [r for r in staleness.reasons if r.kind is not StaleKind.UPSTREAM_STALE]

    own = not (
        concerns(before) == concerns(after)
        and same(before.waiting, after.waiting)
        and same(before.input_cause, after.input_cause)
        and same(before.source_cause, after.source_cause)
    )
    return own, False


def conditions_of(definitions: Definitions) -> dict[AssetKey, AutomationCondition]:
    """Each materializable asset's condition: its own, else the first of
    `Definitions(automation={selection: condition})` whose selection holds it."""
    from assay.selection import parse_selection

    graph = definitions.graph
    found = {
        key: spec.automation
        for key, spec in graph.specs.items()
        if spec.automation is not None and not spec.is_source
    }
    for selection, condition in definitions.automation.items():
        for key in parse_selection(selection.split()).resolve(graph):
            if key not in found and not graph.specs[key].is_source:
                found[key] = condition
    return found


def evaluate_conditions(
    conditions: Mapping[AssetKey, AutomationCondition],
    facts: Facts,
    *,
    keys: set[AssetKey] | None = None,
    keep_masks: bool = False,
    previous: Mapping[AssetKey, AssetEvaluation] | None = None,
    position: Mapping[AssetKey, int] | None = None,
    standing: Mapping[AssetKey, PartitionSubset] | None = None,
) -> dict[AssetKey, AssetEvaluation]:
    """Evaluate `conditions` (of `keys` only, when given) in dependency order; a
    partition requested here counts as in progress for the assets that read it, so
    with `keys` and `previous` (the evaluations as they stand), the readers of an
    asset whose requests are not its previous ones are evaluated too. `position`:
    where each asset with a condition stands in dependency order, so that `keys` are
    visited without a pass over every asset. `standing`: the requests of assets not
    evaluated again (their last evaluation stands), in progress for what reads them
    as they would be in a full evaluation (an asset evaluated after all drops its
    own)."""
    import heapq

    import numpy as np

    graph = facts.graph
    wanted = None if keys is None else set(keys)
    crons: dict[tuple[str, str], float] = {}
    found: dict[AssetKey, AssetEvaluation] = {}
    by_heap = wanted is not None and position is not None
    heap = [(position[k], k) for k in wanted or () if k in position] if position else []
    heapq.heapify(heap)

    def from_heap() -> Iterator[AssetKey]:
        while heap:
            yield heapq.heappop(heap)[1]

    own = {key: facts.in_progress.get(key) for key in standing or ()}
    for key, subset in (standing or {}).items():
        mask = subset.to_mask(facts.staleness[key].size)
        held = own[key]
        facts.in_progress[key] = mask if held is None else held | mask
    for key in from_heap() if by_heap else graph.order:
        if key not in conditions or (wanted is not None and key not in wanted):
            continue
        if key in found:
            continue
        if key in own:  # evaluated after all: its standing requests go
            held = own.pop(key)
            if held is None:
                del facts.in_progress[key]
            else:
                facts.in_progress[key] = held
        view = _View(key, facts, crons)
        condition = conditions[key]
        labels, cron_list = _shape_of(condition)
        counts: list[tuple[str, int]] = []
        masks: list[np.ndarray] = []
        found_mask = view.evaluate(condition, labels, counts, masks if keep_masks else None)
        limit = condition.max_per_tick
        capped = 0
        requested = PartitionSubset()
        if found_mask is not False:  # most assets, most ticks: nothing to request
            # never a partition that cannot run
            mask = _array(found_mask, view.n) & ~view.staleness.waiting
            chosen_indices = np.flatnonzero(mask)
            if len(chosen_indices) > limit:  # the newest first
                capped = len(chosen_indices) - limit
                mask = np.zeros(view.n, dtype=bool)
                mask[chosen_indices[-limit:]] = True
            if len(chosen_indices):
                requested = PartitionSubset.from_mask(mask)
                progress = facts.in_progress.get(key)
                facts.in_progress[key] = mask if progress is None else progress | mask
        if wanted is not None and previous is not None:
            before = previous.get(key)
            if before is None or before.requested != requested:
                for reader in graph.downstream.get(key, ()):
                    if reader not in wanted:
                        wanted.add(reader)
                        if by_heap and position is not None and reader in position:
                            heapq.heappush(heap, (position[reader], reader))
        cursors = {}
        for cron, timezone in cron_list:
            tick = view._cron_tick(cron, timezone)
            if tick is not None:
                cursor = facts.cron_cursor(key, cron, timezone, tick)
                if requested:
                    cursor = CronCursor(tick=cursor.tick, seen=cursor.seen, done=tick)
                cursors[(cron, timezone)] = cursor
        found[key] = AssetEvaluation(
            key=key,
            condition=condition,
            requested=requested,
            counts=tuple(counts),
            capped=capped,
            history=view.history(),
            masks=tuple(masks),
            crons=cursors,
        )
    return found


_SHAPES: dict[AutomationCondition, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {}
# the same, by the condition's identity (hashing a condition walks it): id -> (it, shape)
_SHAPES_BY_ID: dict[
    int, tuple[AutomationCondition, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]]
] = {}


def _shape_of(
    condition: AutomationCondition,
) -> tuple[tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Each part's description (depth first, as `evaluate` visits them) and the crons a
    condition names: made once per distinct condition, not per asset and tick."""
    held = _SHAPES_BY_ID.get(id(condition))
    if held is not None and held[0] is condition:
        return held[1]
    shape = _SHAPES.get(condition)
    if shape is None:
        if len(_SHAPES) > 10_000:  # conditions of definitions loaded long ago
            _SHAPES.clear()
        shape = (tuple(n.describe() for n in condition.walk()), tuple(cron_parts(condition)))
        _SHAPES[condition] = shape
    if len(_SHAPES_BY_ID) > 10_000:
        _SHAPES_BY_ID.clear()
    _SHAPES_BY_ID[id(condition)] = (condition, shape)
    return shape


class _View:
    """One asset as its condition sees it."""

    def __init__(self, key: AssetKey, facts: Facts, crons: dict[tuple[str, str], float]) -> None:

        self.key = key
        self.facts = facts
        self.graph = facts.graph
        self.crons = crons
        self.staleness = facts.staleness[key]
        self.n = self.staleness.size
        self.definition = self.graph.specs[key].partitions
        self.baseline = facts.baselines.get(key) or Baseline(
            since=facts.now_us, since_seq=facts.state_now_us, code_since=facts.state_now_us
        )
        self._attempts = facts.attempts.get(key)
        self._handled: np.ndarray | None = None
        self._history = 0

    @property
    def attempts(self) -> Attempts:
        if self._attempts is None:
            self._attempts = Attempts.none(self.n)
        return self._attempts

    @property
    def handled(self) -> np.ndarray:
        """When each partition was last handled: a step started, a materialization, a
        request of the daemon's (-inf: never)."""
        import numpy as np

        if self._handled is None:
            handled = np.full(self.n, -np.inf)
            for values in (
                self.staleness.started,
                self.attempts.attempted,
                self.facts.requested.get(self.key),
            ):
                if values is not None and len(values) == self.n:
                    handled = np.fmax(handled, values)
            self._handled = handled
        return self._handled

    # --- the parts ---------------------------------------------------------------------

    def evaluate(
        self,
        node: AutomationCondition,
        labels: tuple[str, ...],
        counts: list[tuple[str, int]],
        masks: list[np.ndarray] | None,
    ) -> Mask:
        """`node`'s mask; appends its part's count (`labels`: each part's description,
        in the order parts are visited) and mask, then those of the parts under it.
        A part true (or false) for every partition is the constant, not an array: the
        guards of most assets hold for nothing, and cost no array then."""
        slot = len(counts)
        counts.append((labels[slot], 0))
        if masks is not None:
            masks.append(_array(False, 0))
        mask: Mask
        if isinstance(node, All):
            mask = True
            for item in node.items:
                mask = _and(mask, self.evaluate(item, labels, counts, masks))
        elif isinstance(node, Not):
            mask = _not(self.evaluate(node.item, labels, counts, masks))
        elif isinstance(node, Any_):
            mask = False
            for item in node.items:
                mask = _or(mask, self.evaluate(item, labels, counts, masks))
        elif isinstance(node, Capped):
            # the cap applies to the result
            mask = self.evaluate(node.item, labels, counts, masks)
        else:  # a leaf: its evaluation by its type, not a chain of tests
            leaf = _LEAVES.get(type(node))
            if leaf is None:
                raise TypeError(f"unknown condition {node!r}")
            mask = leaf(self, node)
        counts[slot] = (labels[slot], _count(mask, self.n))
        if masks is not None:
            masks[slot] = _array(mask, self.n)
        return mask

    # --- the leaves (`_LEAVES`: by the type of the part) --------------------------------

    def _on_stale(self, node: Stale) -> Mask:
        return self._stale(node.reasons)

    def _on_missing(self, node: Missing) -> Mask:
        return self._stale(_MISSING)

    def _on_cron_tick(self, node: CronTickPassed) -> Mask:
        tick = self._cron_tick(node.cron, node.timezone)
        if tick is None or tick <= self.baseline.since:
            return False
        cursor = self.facts.cron_cursor(self.key, node.cron, node.timezone, tick)
        return bool(cursor.done < tick)

    def _on_deps_updated(self, node: DepsUpdatedSinceCron) -> Mask:
        tick = self._cron_tick(node.cron, node.timezone)
        if tick is None:
            return True
        seen = self.facts.cron_cursor(self.key, node.cron, node.timezone, tick).seen
        return _not(self._deps(lambda up: _older(up.updated, seen), sources="observed"))

    def _on_in_progress(self, node: InProgress) -> Mask:
        return self._progress(self.key)

    def _on_deps_in_progress(self, node: DepsInProgress) -> Mask:
        progress = self.facts.in_progress
        if not progress:  # nothing runs, nothing is requested: the usual tick
            return False
        return self._deps(lambda up: self._progress(up.key), sources="all")

    def _on_deps_missing(self, node: DepsMissing) -> Mask:
        return _or(_some(self.staleness.waiting), self._deps(self._never_of, sources="none"))

    def _on_failed(self, node: Failed) -> Mask:
        return _some(self.attempts.failed)

    def _on_deps_failed(self, node: DepsFailed) -> Mask:
        return self._deps(self._failed_of, sources="none")

    def _on_freshness_missed(self, node: FreshnessMissed) -> Mask:
        missed = self.facts.freshness_missed.get(self.key)
        return False if missed is None else _some(missed)

    def _stale(self, reasons: frozenset[str]) -> Mask:
        """Stale for one of `reasons`, with a cause newer than the baseline and than the
        partition's last handling. A missing partition triggers when it is new (and was
        never tried) or when what it reads changed after it was last tried."""
        import numpy as np

        s = self.staleness
        matching = [reason for reason in s.reasons if reason.kind.value in reasons]
        if not matching:  # most assets, most ticks: nothing to trigger, no history
            return False
        cause = np.full(self.n, -np.inf)  # on the state clock
        missing = np.zeros(self.n, dtype=bool)
        for reason in matching:
            kind = reason.kind
            mask = reason.partitions.to_mask(self.n)
            if kind is StaleKind.MISSING:
                missing |= mask
            elif kind in (StaleKind.CODE_CHANGED, StaleKind.DEPS_CHANGED, StaleKind.CONFIG_CHANGED):
                cause = np.where(mask, np.fmax(cause, self.baseline.code_since), cause)
            elif kind is StaleKind.INPUT_CHANGED and s.input_cause is not None:
                cause = np.where(mask, np.fmax(cause, s.input_cause), cause)
            elif kind is StaleKind.SOURCE_CHANGED and s.source_cause is not None:
                cause = np.where(mask, np.fmax(cause, s.source_cause), cause)
            elif kind in (StaleKind.PARTITIONS_REMOVED, StaleKind.DATA_MISSING):
                cause = np.where(mask, np.fmax(cause, self.baseline.since_seq + 1), cause)
        changed = s.stale & np.isfinite(cause)
        new = changed & (cause > self.baseline.since_seq)
        missing &= s.stale
        new_missing = self._new_missing(missing)
        self._history = max(
            self._history, int((changed & ~new).sum() + (missing & ~new_missing).sum())
        )
        if missing.any() and s.newest_input is not None:  # what it reads changed since
            newest = np.nan_to_num(s.newest_input, nan=-np.inf)
            fed = missing & (newest > np.fmax(self.handled, self.baseline.since_seq))
        else:
            fed = np.zeros(self.n, dtype=bool)
        triggered: np.ndarray = (
            (new & (cause > self.handled)) | (new_missing & np.isneginf(self.handled)) | fed
        )
        return _some(triggered)

    def _new_missing(self, missing: np.ndarray) -> np.ndarray:
        """Missing partitions that are new since the baseline: time windows that closed
        after it; every partition of an asset that had no materialization then. (Those
        never attempted nor requested trigger; a failed attempt handles one.)"""
        import numpy as np

        if not missing.any():
            return missing
        definition = self.definition
        if getattr(definition, "kind", None) == "time":
            instant = datetime.fromtimestamp(max(self.baseline.since, 0.0) / _US, UTC)
            first = max(definition.index_at(instant), 0)  # type: ignore[union-attr]
            new = np.zeros(self.n, dtype=bool)
            new[first:] = True
            result: np.ndarray = missing & new
            return result
        if not self.baseline.had_history:
            return missing
        return np.zeros(self.n, dtype=bool)

    def history(self) -> int:
        return self._history

    def _cron_tick(self, expression: str, timezone: str) -> float | None:
        """The latest tick of the cron at or before now (epoch µs), cached per tick."""
        key = (expression, timezone)
        if key not in self.crons:
            now = self.facts.context.now
            tick = cron_of(expression, timezone).latest_tick(now - _LOOKBACK, now)
            self.crons[key] = float("nan") if tick is None else tick.timestamp() * _US
        value = self.crons[key]
        return None if value != value else value

    def _progress(self, key: AssetKey) -> Mask:
        found = self.facts.in_progress.get(key)
        return False if found is None else _some(found)

    def _failed_of(self, up: AssetStaleness) -> Mask:
        """Its latest attempt failed, or a blocking check (made once per `Attempts`)."""
        attempts = self.facts.attempts.get(up.key)
        if attempts is None or attempts is _NO_ATTEMPTS.get(up.size):
            return False
        memo = self.facts.memo
        held = memo.get((up.key, "failed"))
        if held is None or held[0] is not attempts:
            held = memo[(up.key, "failed")] = (attempts, _some(attempts.failed | attempts.blocked))
        return held[1]

    def _never_of(self, up: AssetStaleness) -> Mask:
        """Never materialized (made once per `started` column)."""
        memo = self.facts.memo
        held = memo.get((up.key, "never"))
        if held is None or held[0] is not up.started:
            held = memo[(up.key, "never")] = (up.started, _some(_never(up.started)))
        return held[1]

    def _deps(self, value_of: Callable[[AssetStaleness], Mask], *, sources: str) -> Mask:
        """Partitions reading at least one upstream partition for which `value_of` is
        true. `sources`: "all" upstreams, "none" (sources left out), or "observed"
        (sources only once they have been observed)."""
        import numpy as np

        found: Mask = False
        facts = self.facts
        graph = self.graph
        sourced = _sources_of(graph)
        for up in graph.upstream[self.key]:
            upstream = facts.staleness[up]
            if up in sourced:
                if sources == "none":
                    continue
                if sources == "observed" and (
                    upstream.started is None or np.isnan(upstream.started).all()
                ):
                    continue
            values = value_of(upstream)
            if values is False:
                continue
            edges = graph.mappings[self.key][up].cached_edges(
                graph.specs[up].partitions, self.definition, facts.context
            )
            found = _or(found, _some(reduce_any(edges, _array(values, upstream.size), self.n)))
        return found

    def _window(self, node: Window) -> Mask:
        import numpy as np

        if node.latest is not None:
            first = max(self.n - node.latest, 0)
        elif getattr(self.definition, "kind", None) != "time" or node.span is None:
            return True
        else:
            at = self.facts.context.now - node.span
            first = max(self.definition.index_at(at), 0)  # type: ignore[union-attr]
        if first == 0:
            return True
        mask = np.zeros(self.n, dtype=bool)
        mask[first:] = True
        return _some(mask)


_MISSING = frozenset({"missing"})


def _sources_of(graph: AssetGraph) -> frozenset[AssetKey]:
    """The graph's source assets."""
    return graph.derived(
        "sources", lambda g: frozenset(k for k, spec in g.specs.items() if spec.is_source)
    )


_LEAVES: dict[type, Callable[[_View, Any], Mask]] = {
    Stale: _View._on_stale,
    Missing: _View._on_missing,
    CronTickPassed: _View._on_cron_tick,
    DepsUpdatedSinceCron: _View._on_deps_updated,
    InProgress: _View._on_in_progress,
    DepsInProgress: _View._on_deps_in_progress,
    DepsMissing: _View._on_deps_missing,
    Failed: _View._on_failed,
    DepsFailed: _View._on_deps_failed,
    FreshnessMissed: _View._on_freshness_missed,
    Window: _View._window,
}


def _some(mask: np.ndarray) -> Mask:
    """`mask`, or False when it holds for no partition."""
    import numpy as np

    return mask if np.count_nonzero(mask) else False


def _array(mask: Mask, n: int) -> np.ndarray:
    import numpy as np

    if mask is True or mask is False:
        return np.full(n, mask, dtype=bool)
    return mask


def _and(a: Mask, b: Mask) -> Mask:
    if a is False or b is False:
        return False
    if a is True:
        return b
    if b is True:
        return a
    return a & b  # a new array: a part's mask is never changed in place


def _or(a: Mask, b: Mask) -> Mask:
    if a is True or b is True:
        return True
    if a is False:
        return b
    if b is False:
        return a
    return a | b


def _not(a: Mask) -> Mask:
    if a is True or a is False:
        return not a
    return ~a


def _count(mask: Mask, n: int) -> int:
    import numpy as np

    if mask is True or mask is False:
        return n if mask else 0
    return int(np.count_nonzero(mask))


def _older(values: np.ndarray | None, tick: float) -> np.ndarray:
    """Never recorded, or recorded before `tick`."""
    import numpy as np

    if values is None:
        return np.zeros(0, dtype=bool)
    with np.errstate(invalid="ignore"):
        older: np.ndarray = np.isnan(values) | (values < tick)
    return older


def _never(values: np.ndarray | None) -> np.ndarray:
    import numpy as np

    if values is None:
        return np.zeros(0, dtype=bool)
    never: np.ndarray = np.isnan(values)
    return never


_CRONS: dict[tuple[str, str], Cron] = {}


def cron_of(expression: str, timezone: str) -> Cron:
    from assay.automation.cron import Cron

    key = (expression, timezone)
    if key not in _CRONS:
        _CRONS[key] = Cron(expression, timezone)
    return _CRONS[key]


def explain_partition(
    evaluation: AssetEvaluation,
    facts: Facts,
    index: int,
    holders: Mapping[AssetKey, list[tuple[PartitionSubset | None, str]]] | None = None,
) -> list[str]:
    """Each part of the asset's condition for one partition, true or not, with what
    made a guard true (which partition it reads is in progress, in which run; which
    one failed or is missing); `evaluation` must hold its masks (`keep_masks`)."""
    graph = facts.graph
    key = evaluation.key
    holders = holders or {}
    lines = []
    nodes = list(with_depth(evaluation.condition))
    for (depth, node), mask in zip(nodes, evaluation.masks, strict=True):
        value = bool(mask[index]) if len(mask) > index else False
        mark = "yes" if value else "no "
        text = f"{'  ' * depth}{mark}  {node.describe()}"
        if value and isinstance(node, DepsInProgress | DepsMissing | DepsFailed | InProgress):
            text += _guard_detail(node, graph, facts, key, index, holders)
        lines.append(text)
    return lines


def with_depth(node: AutomationCondition, depth: int = 0) -> list[tuple[int, AutomationCondition]]:
    found = [(depth, node)]
    for child in node.children:
        found += with_depth(child, depth + 1)
    return found


def _guard_detail(
    node: AutomationCondition,
    graph: AssetGraph,
    facts: Facts,
    key: AssetKey,
    index: int,
    holders: Mapping[AssetKey, list[tuple[PartitionSubset | None, str]]],
) -> str:
    """`: orders 2024-03-02 is running in run 7c1a2b3c`."""
    import numpy as np

    def run_of(asset: AssetKey, partition: int) -> str:
        for subset, run_id in holders.get(asset, []):
            if subset is None or partition in subset:
                return f" in run {run_id[:8]}"
        return " (requested, not started)"

    def name(asset: AssetKey, partition: int) -> str:
        definition = graph.specs[asset].partitions
        return str(asset) if definition is None else f"{asset} {definition.key(partition)}"

    if isinstance(node, InProgress):
        return ": being computed" + run_of(key, index)
    definition = graph.specs[key].partitions
    for up in graph.upstream[key]:
        upstream = facts.staleness[up]
        up_definition = graph.specs[up].partitions
        mapping = graph.mappings[key][up]
        reads = list(mapping.upstream_for(index, up_definition, definition, facts.context))
        for partition in reads:
            if isinstance(node, DepsInProgress):
                progress = facts.in_progress.get(up)
                if progress is not None and progress[partition]:
                    return f": {name(up, partition)} is being computed{run_of(up, partition)}"
            elif isinstance(node, DepsMissing):
                if graph.specs[up].is_source:
                    if upstream.waiting[partition]:
                        return f": source {name(up, partition)} does not exist (waiting for it)"
                elif upstream.started is not None and np.isnan(upstream.started[partition]):
                    return f": {name(up, partition)} was never materialized"
            elif isinstance(node, DepsFailed):
                attempts = facts.attempts.get(up)
                if attempts is not None and attempts.failed[partition]:
                    return f": {name(up, partition)} failed its latest run"
                if attempts is not None and attempts.blocked[partition]:
                    return f": a blocking check of {name(up, partition)} failed"
    if isinstance(node, DepsMissing) and facts.staleness[key].waiting[index]:
        return ": it waits for a source partition that does not exist"
    return ""
