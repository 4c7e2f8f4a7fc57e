"""Declarative automation in the daemon: conditions evaluated each tick, incrementally.

The ticker keeps, between ticks, the staleness of every asset in scope, the
latest attempts of their partitions and the previous evaluation. A tick reads
from the state store only the assets with new records since the last one
(`changed_assets`), recomputes their staleness and what reads them (stopping
where nothing moved), and evaluates the conditions of the assets whose facts
moved: their staleness, their attempts, what is in progress for them or for
what they read, their own requests, or the time (a cron tick, a window that
closed, a freshness deadline). So a steady tick costs milliseconds whatever the
size of the project.

What a tick requests is recorded with the tick, in one journal write, before it
is queued: each asset's partitions become one run (a backfill when they are
consecutive time windows) under the run key `automation:<asset>:<tick>`, and go
through the engine's queue like a schedule's.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from assay.automation.requests import RunRequest
from assay.conditions import cron_parts
from assay.keys import AssetKey
from assay.partitions.base import PartitionContext
from assay.planning.conditions import (
    Attempts,
    Baseline,
    Facts,
    conditions_of,
    evaluate_conditions,
    facts_moved,
)
from assay.planning.freshness import FreshnessState, freshness_state
from assay.planning.staleness import StalenessCache, assess_changed, read_arguments
from assay.versioning import code_version, inputs_signature
from assay.versioning.sources import generation

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    import numpy as np

    from assay.conditions import AutomationCondition, Freshness
    from assay.config import ProjectConfig
    from assay.daemon.clock import Clock
    from assay.daemon.launching import Request
    from assay.definitions import Definitions
    from assay.partitions.keysets import DynamicKeys
    from assay.planning.conditions import AssetEvaluation
    from assay.planning.staleness import AssetStaleness
    from assay.state.reader import StateReader

_log = logging.getLogger("assay.daemon")
_US = 1_000_000.0
NAME = "automation"  # the tick name and request name of declarative automation
PERIODIC_S = 30.0  # an evaluation at least this often, even when nothing seems to move
RECHECK_S = 1.0  # after activity, one more evaluation this much later
FULL_EVERY_S = 300.0  # a full one this often: records indexed late, with an older seq


class EngineParts(Protocol):
    """What the ticker uses of the engine (`assay.daemon.engine.Engine`)."""

    config: ProjectConfig
    home: Path
    clock: Clock
    definitions: Definitions
    queue: list[Request]
    launched: dict[str, tuple[int, str]]
    launched_requests: dict[str, Request]
    alert: Callable[[str, str, str, str], None]

    def new_tick_id(self) -> str: ...

    def next_seq(self) -> int: ...

    def append_records(self, *records: dict[str, Any]) -> None: ...

    def make_request(
        self, name: str, tick_id: str, request: RunRequest, *, run_key: str, at: datetime
    ) -> Request: ...

    def record_tick(
        self,
        name: str,
        *,
        tick_at: datetime,
        status: str,
        reason: str | None,
        requests: list[Request],
        cursor: str | None = None,
        kind: str | None = None,
        tick_id: str | None = None,
    ) -> None: ...


def enabled_name(key: AssetKey) -> str:
    """The name under which `assay automation enable/disable` records an asset."""
    return f"automation:{key}"


@dataclass(slots=True)
class TickSummary:
    """What one evaluation of the conditions did."""

    evaluated: int = 0
    requested: dict[AssetKey, list[str] | None] = field(default_factory=dict)
    history: dict[AssetKey, int] = field(default_factory=dict)
    freshness_missed: dict[AssetKey, int] = field(default_factory=dict)
    seconds: float = 0.0


class ConditionTicker:
    """The conditions and freshness promises of one engine's definitions."""

    def __init__(self, engine: EngineParts) -> None:
        self.engine = engine
        self.conditions: dict[AssetKey, AutomationCondition] = {}
        self.freshness: dict[AssetKey, Freshness] = {}
        self.scope: list[AssetKey] = []
        self.baselines: dict[AssetKey, Baseline] = {}
        self.recorded: dict[AssetKey, dict[str, Any]] = {}  # the latest baseline records
        self.enabled: dict[AssetKey, bool] = {}
        self.cache: StalenessCache | None = None
        self.attempts: dict[AssetKey, Attempts] = {}
        self.requested: dict[AssetKey, np.ndarray] = {}
        self.progress: dict[AssetKey, np.ndarray] = {}
        self.last: dict[AssetKey, AssetEvaluation] = {}
        self.last_counts: dict[AssetKey, tuple[tuple[str, int], ...]] = {}
        self.alerted: set[str] = set()
        self.marks = (0, 0)  # the state's seq, partition_attempts' seq: read after them
        self.journal_mark: int | None = None
        self.last_full = 0.0  # monotonic time of the latest full evaluation
        self.last_evaluated = 0.0  # and of the latest evaluation
        self.dynamic: DynamicKeys | None = None  # the keys of dynamic partitions, as last read
        self.recheck_at: float | None = None
        self.next_time: datetime | None = None
        self.pending_keys: set[AssetKey] = set()
        self.facts: Facts | None = None
        # What a tick would otherwise redo for every asset, made once per definitions
        # (or when what they depend on changes), so that a tick costs what changed:
        # per asset, what its baseline is recorded against (sources' generation,
        # condition fingerprint, code), and the assets whose baseline is to be made.
        self.identities: dict[AssetKey, tuple[int, str, str]] = {}
        self.unbaselined: set[AssetKey] = set()
        self.generation = -1
        self.crons: set[tuple[str, str]] = set()  # every cron the conditions name
        self.windows: dict[int, tuple[Any, AssetKey]] = {}  # time definitions, one asset each
        self.scope_set: set[AssetKey] = set()
        self.wanted: set[AssetKey] | None = None  # the enabled conditions (None: to make)
        self.wanted_conditions: dict[AssetKey, AutomationCondition] = {}
        self.unfinished: set[AssetKey] = set()  # requested partitions at their last evaluation
        self.memo: dict[tuple[AssetKey, str], Any] = {}  # Facts.memo, kept from tick to tick
        self.store_mark: tuple[int, ...] | None = None  # the store's files at the last read
        self.store_file: tuple[int, int] | None = None  # the DuckDB file's, as last read

    # --- definitions and state ---------------------------------------------------------

    def use(self, definitions: Definitions) -> None:
        graph = definitions.graph
        self.conditions = conditions_of(definitions)
        self.freshness = {
            key: spec.freshness
            for key, spec in graph.specs.items()
            if spec.freshness is not None and not spec.is_source
        }
        wanted = set(self.conditions) | set(self.freshness)
        self.scope = graph.ordered(wanted | graph.upstream_of(wanted)) if wanted else []
        self.cache = None  # another graph: everything is read again
        self.attempts = {}
        self.last = {}
        self.identities = {}
        self.unbaselined = set(self.conditions)
        self.crons = {part for c in self.conditions.values() for part in cron_parts(c)}
        self.windows = {}
        for key in wanted:
            definition = graph.specs[key].partitions
            if getattr(definition, "kind", None) == "time":
                self.windows.setdefault(id(definition), (definition, key))
        self.scope_set = set(self.scope)
        self.wanted = None
        self.unfinished = set()

    @property
    def active(self) -> bool:
        return bool(self.scope)

    def load(self, reader: Any) -> None:
        """Baselines and enabled flags recorded by earlier sessions."""
        for row in reader.condition_baselines():
            key = AssetKey.parse(str(row["asset_key"]))
            self.recorded[key] = row
            self.baselines.pop(key, None)  # made anew from this row
            self.unbaselined.add(key)
        for name, enabled in reader.enabled().items():
            if str(name).startswith("automation:"):
                self.enabled[AssetKey.parse(str(name).removeprefix("automation:"))] = bool(enabled)
        self.wanted = None

    def refresh_enabled(self, found: dict[str, bool]) -> None:
        for name, enabled in found.items():
            if str(name).startswith("automation:"):
                key = AssetKey.parse(str(name).removeprefix("automation:"))
                if enabled and not self.enabled.get(key, True):
                    self.pending_keys.add(key)
                if self.enabled.get(key) != bool(enabled):
                    self.wanted = None
                self.enabled[key] = bool(enabled)

    def is_enabled(self, key: AssetKey) -> bool:
        return self.enabled.get(key, True)

    # --- when -------------------------------------------------------------------------

    def due(self, now: datetime) -> bool:
        """Something may have moved: new journals or claims, a time boundary, a while."""
        if not self.active:
            return False
        mark = _activity(self.engine.config.journal_dir, self.engine.home)
        clock = time.monotonic()
        if mark != self.journal_mark or self.cache is None:
            # once more a moment later: a run that just ended indexes its last records
            # after its journal moved (what moved the mark)
            self.recheck_at = clock + RECHECK_S
            return True
        if self.recheck_at is not None and clock >= self.recheck_at:
            self.recheck_at = None
            return True
        if self.next_time is not None and now >= self.next_time:
            return True
        return clock - self.last_evaluated >= PERIODIC_S

    # --- one evaluation -----------------------------------------------------------------

    def evaluate(
        self, now: datetime, *, record: bool = True, keep_masks: bool = False
    ) -> TickSummary:
        """Evaluate what moved, record the tick and queue its requests (`record`
        False: a preview, nothing written or queued; `keep_masks`: each part's mask is
        kept, for `assay why --automation`)."""
        from assay.state.dynamic import partition_context
        from assay.state.reader import StateReader

        started = time.perf_counter()
        engine = self.engine
        graph = engine.definitions.graph
        self.journal_mark = _activity(engine.config.journal_dir, engine.home)
        reader = StateReader(engine.home, index=record)
        full = self.cache is None or time.monotonic() - self.last_full >= FULL_EVERY_S
        self.store_file, replaced = reader.store.file_id(self.store_file)
        if replaced:  # its attempts numbered afresh, below the marks: read as the first time
            full, self.marks = True, (0, 0)
        # taken before reading: a write after it is read now, and again next tick
        mark = _store_mark(reader.store.path, reader.store.journal_dir if record else None)
        # nothing indexed since the last read, nothing new to index: nothing to read
        quiet = not full and mark is not None and mark == self.store_mark
        self.store_mark = mark
        context = (
            PartitionContext.at(now, self.dynamic)
            if quiet
            else partition_context(graph, reader, now)
        )
        keys_moved = context.dynamic != self.dynamic  # keys added or removed: read afresh
        self.dynamic = context.dynamic  # the keys of this evaluation, for its later steps
        full = full or keys_moved
        self.last_evaluated = time.monotonic()
        if full:  # read afresh, as the first time (removed partition keys included); the
            # last tick's columns and staleness go first, not after (twice the memory)
            self.cache = self.facts = None
            self.memo = {}
        # an incremental tick's few short reads share one open of the store; a full
        # one does not hold it while it computes
        with contextlib.nullcontext() if full or quiet else reader.held():
            changed_names, seq, attempt = (
                (set(), *self.marks)
                if quiet
                else reader.changed_assets(*((0, 0) if full else self.marks))
            )
            changed: set[AssetKey] | None = None
            if full:
                self.last_full = time.monotonic()
            else:
                changed = {AssetKey.parse(n) for n in changed_names} & self.scope_set
            before = self.cache.found if self.cache is not None else {}
            staleness, self.cache, moved = assess_changed(
                graph,
                self.scope,
                reader,
                context,
                cache=self.cache,
                changed=changed,
                since_seq=None if full else self.marks[0],  # only what is new is read
            )
            attempts_moved = self._load_attempts(reader, staleness, changed, moved, self.marks[1])
            # moved once what they mark was read (a read that fails is made again)
            self.marks = (max(seq, self.marks[0]), max(attempt, self.marks[1]))
        progress = self._progress(graph, context, staleness)
        progress_moved = {
            key
            for key in set(progress) | set(self.progress)
            if not _same_mask(progress.get(key), self.progress.get(key))
        }
        self.progress = {key: mask.copy() for key, mask in progress.items()}
        time_moved = self.next_time is not None and now >= self.next_time
        new_records = self._baselines(graph, staleness, now)
        freshness = {
            key: freshness_state(policy, graph.specs[key].partitions, staleness[key], context)
            for key, policy in self.freshness.items()
        }
        wanted = self._wanted()
        if full or time_moved:
            dirty = set(wanted)
        else:
            # an asset's condition reads its own staleness and attempts, and what it
            # reads: their materializations, attempts and what of them is in progress
            own, for_readers = set(), set()
            for key in moved:
                mine, theirs = (
                    facts_moved(before[key], staleness[key]) if key in before else (True, True)
                )
                if mine:
                    own.add(key)
                if theirs:
                    for_readers.add(key)
            touched = own | attempts_moved | progress_moved
            readers = for_readers | attempts_moved | progress_moved
            touched |= {d for k in readers for d in graph.downstream.get(k, ())}
            dirty = (touched | self.pending_keys) & wanted
        self.pending_keys = set()
        # an asset that requested partitions is evaluated again once its requests are
        # recorded (`_record`: they are handled then); until then what it requested
        # stands, and is in progress for what reads it
        standing = {k: self.last[k].requested for k in self.unfinished if k not in dirty}
        facts = Facts(
            graph=graph,
            context=context,
            staleness=staleness,
            attempts=self.attempts,
            in_progress=progress,
            requested=self.requested,
            baselines=self.baselines,
            freshness_missed={k: f.missed for k, f in freshness.items()},
            state_now=time.time() * _US,
            real_clock=engine.clock.is_real,
            memo=self.memo,
        )
        evaluations = evaluate_conditions(
            self.wanted_conditions,
            facts,
            keys=dirty,
            keep_masks=keep_masks,
            previous=self.last,
            position=self.cache.position,
            standing=standing,
        )
        self.facts = facts
        self.last.update(evaluations)
        for key, evaluation in evaluations.items():
            if evaluation.requested or evaluation.capped:
                self.unfinished.add(key)
            else:
                self.unfinished.discard(key)
        self.next_time = self._next_time(now, staleness)
        summary = TickSummary(evaluated=len(evaluations))
        for key, evaluation in evaluations.items():
            if evaluation.history:
                summary.history[key] = evaluation.history
        for key, state in freshness.items():
            if state.missed.any():
                summary.freshness_missed[key] = int(state.missed.sum())
        requests = [e for e in evaluations.values() if e.requested]
        for evaluation in requests:
            definition = graph.specs[evaluation.key].partitions
            summary.requested[evaluation.key] = (
                None if definition is None else definition.keys(evaluation.requested, context)
            )
        summary.seconds = time.perf_counter() - started
        if record:
            self._record(now, evaluations, requests, new_records, summary, staleness)
            self._alert_freshness(freshness, graph, context)
        return summary

    def _wanted(self) -> set[AssetKey]:
        """The assets whose condition is enabled (made again when that changes); the
        evaluations of the others are dropped."""
        if self.wanted is None:
            self.wanted = {k for k in self.conditions if self.is_enabled(k)}
            self.wanted_conditions = {k: self.conditions[k] for k in self.wanted}
            for key in set(self.last) - self.wanted:
                del self.last[key]
            self.unfinished &= self.wanted
        return self.wanted

    def _load_attempts(
        self,
        reader: StateReader,
        staleness: dict[AssetKey, AssetStaleness],
        changed: set[AssetKey] | None,
        moved_staleness: set[AssetKey],
        since: int,
    ) -> set[AssetKey]:
        """The latest attempts of the assets that changed (all, the first time), and
        of those whose partitions grew (their staleness moved). Of a changed asset
        whose attempts are held for the same partitions, only the attempts that moved
        after `since` (the last tick's mark) are read and laid over them."""
        import numpy as np

        graph = self.engine.definitions.graph
        candidates = self.scope if changed is None else changed | moved_staleness
        held = self.attempts
        whole: list[AssetKey] = []
        over: list[AssetKey] = []
        for k in candidates:
            if changed is None or k not in held or len(held[k].attempted) != staleness[k].size:
                whole.append(k)
            elif k in changed:
                over.append(k)
        if not whole and not over:
            return set()
        context = PartitionContext.at(self.engine.clock.now(), self.dynamic)
        found: dict[AssetKey, Attempts] = {}
        if whole:
            assets, keysets = read_arguments(graph, whole, context)
            columns = reader.attempt_columns(assets, keysets)
            found.update(Attempts.split(columns, whole, [staleness[k].size for k in whole]))
        if over:
            assets, keysets = read_arguments(graph, over, context)
            columns = reader.attempt_columns(assets, keysets, since=since)
            found.update(Attempts.laid_over(columns, over, [held[k] for k in over]))
        moved = set()
        for key, attempts in found.items():
            before = self.attempts.get(key)
            if before is None or not (
                before is attempts
                or (
                    np.array_equal(before.attempted, attempts.attempted, equal_nan=True)
                    and np.array_equal(before.failed, attempts.failed)
                    and np.array_equal(before.blocked, attempts.blocked)
                )
            ):
                moved.add(key)
            self.attempts[key] = attempts
        return moved

    def _progress(
        self,
        graph: Any,
        context: PartitionContext,
        staleness: dict[AssetKey, AssetStaleness],
    ) -> dict[AssetKey, np.ndarray]:
        """What live runs compute and requests not started yet ask for, per asset."""
        import numpy as np

        from assay.execution.taskgraph import in_flight
        from assay.state.claims import live_claims

        found: dict[AssetKey, np.ndarray] = {}

        def mark(key: AssetKey, indices: Any) -> None:
            if key not in staleness:
                return
            mask = found.setdefault(key, np.zeros(staleness[key].size, dtype=bool))
            if indices is None:
                mask[:] = True
            else:
                for index in indices:
                    if 0 <= index < len(mask):
                        mask[index] = True

        for key, (subset, _run) in in_flight(graph, live_claims(self.engine.home), context).items():
            mark(key, None if subset is None else list(subset))
        engine = self.engine
        launched = [
            engine.launched_requests[r] for r in engine.launched if r in engine.launched_requests
        ]
        for request in [*engine.queue, *launched]:
            for name, keys in request.targets.items():
                key = AssetKey.parse(name)
                definition = graph.specs[key].partitions if key in graph.specs else None
                if definition is None or keys is None:
                    mark(key, None)
                else:
                    lookup = definition._lookup(staleness[key].size) if key in staleness else {}
                    mark(key, [lookup[k] for k in keys if k in lookup])
        return found

    def _baselines(
        self, graph: Any, staleness: dict[AssetKey, AssetStaleness], now: datetime
    ) -> list[dict[str, Any]]:
        """Each condition's baseline: recorded when the condition (or the code version of
        its asset) is first seen; returns the records to write. An asset whose condition
        and code are those its baseline was made with costs a lookup."""
        import numpy as np

        records = []
        now_us = int(now.timestamp() * _US)
        state_us = int(time.time() * _US)
        current = generation()
        if current != self.generation:  # sources captured anew: code versions may move
            self.generation = current
            self.unbaselined = set(self.conditions)
        for key in [k for k in self.unbaselined if k in self.conditions]:
            condition = self.conditions[key]
            identity = self.identities.get(key)
            if identity is None or identity[0] != current:
                spec = graph.specs[key]
                code = f"{code_version(spec)};{inputs_signature(graph, key)}"
                identity = (current, condition.fingerprint, code)
                self.identities[key] = identity
            _, fingerprint, code = identity
            row = self.recorded.get(key)
            if (
                row is not None
                and key in self.baselines
                and row.get("condition") == fingerprint
                and row.get("code") == code
            ):
                continue
            if row is None or row.get("condition") != fingerprint:
                s = staleness[key]
                had_history = bool(s.started is not None and (~np.isnan(s.started)).any())
                row = {
                    "type": "automation_asset",
                    "asset_key": str(key),
                    "condition": fingerprint,
                    "code": code,
                    "since": now_us,
                    "since_seq": state_us,
                    "code_since": state_us,
                    "had_history": had_history,
                    "crons": "[]",
                }
                records.append(row)
            elif row.get("code") != code:
                row = {**row, "type": "automation_asset", "code": code, "code_since": state_us}
                records.append(row)
            self.recorded[key] = row
            self.baselines[key] = _baseline(row)
        self.unbaselined = set()
        return records

    def _moved_cursors(self, evaluations: dict[AssetKey, AssetEvaluation]) -> list[dict[str, Any]]:
        """Baseline records for the assets whose cron cursors moved."""
        records = []
        for key, evaluation in evaluations.items():
            baseline = self.baselines.get(key)
            if (
                baseline is None
                or not evaluation.crons
                or dict(baseline.crons) == dict(evaluation.crons)
            ):
                continue
            crons = json.dumps(
                [
                    [cron, zone, c.tick, c.seen, c.done if c.done != float("-inf") else None]
                    for (cron, zone), c in sorted(evaluation.crons.items())
                ]
            )
            row = {**self.recorded[key], "type": "automation_asset", "crons": crons}
            self.recorded[key] = row
            self.baselines[key] = _baseline(row)
            records.append(row)
        return records

    def _next_time(
        self, now: datetime, staleness: dict[AssetKey, AssetStaleness]
    ) -> datetime | None:
        """The next instant something time-based moves: a cron tick of a condition or
        deadline, a window closing, a freshness deadline (at most a day ahead). Each
        cron and each partitions definition (at its size) is looked at once, whatever
        the number of assets that share it."""
        from assay.planning.conditions import cron_of

        graph = self.engine.definitions.graph
        soonest = now + timedelta(days=1)
        for cron, timezone in self.crons:
            soonest = min(soonest, cron_of(cron, timezone).next_tick(now))
        for definition, key in self.windows.values():
            closes = definition.time_window(staleness[key].size).end
            if closes > now:  # a definition that ended long ago closes nothing more
                soonest = min(soonest, closes)
        for key, policy in self.freshness.items():
            definition = graph.specs[key].partitions
            if getattr(definition, "kind", None) == "time" and policy.lag is not None:
                index = definition.index_at(now - policy.lag)  # type: ignore[union-attr]
                due = definition.time_window(max(index, 0)).end + policy.lag  # type: ignore[union-attr]
                if due > now:
                    soonest = min(soonest, due)
            if policy.deadline is not None:
                soonest = min(soonest, cron_of(policy.deadline, policy.timezone).next_tick(now))
        return soonest

    # --- records, requests, alerts -------------------------------------------------------

    def _record(
        self,
        now: datetime,
        evaluations: dict[AssetKey, AssetEvaluation],
        requests: list[AssetEvaluation],
        baselines: list[dict[str, Any]],
        summary: TickSummary,
        staleness: dict[AssetKey, AssetStaleness],
    ) -> None:
        import numpy as np

        engine = self.engine
        graph = engine.definitions.graph
        context = PartitionContext.at(now, self.dynamic)
        tick_id = engine.new_tick_id()
        at = time.time()
        baselines = [*baselines, *self._moved_cursors(evaluations)]
        if baselines:
            engine.append_records(*({**r, "at": at, "seq": engine.next_seq()} for r in baselines))
        shown = []
        for key, evaluation in evaluations.items():
            if self.last_counts.get(key) == evaluation.counts and not evaluation.requested:
                continue
            self.last_counts[key] = evaluation.counts
            definition = graph.specs[key].partitions
            shown.append(
                {
                    "type": "automation_evaluation",
                    "tick_id": tick_id,
                    "asset_key": str(key),
                    "requested": ""
                    if definition is None or not evaluation.requested
                    else definition.fold(evaluation.requested),
                    "requested_count": len(evaluation.requested),
                    "counts": json.dumps(evaluation.counts),
                    "capped": evaluation.capped,
                    "history": evaluation.history,
                    "evaluated_at": at,
                    "seq": engine.next_seq(),
                }
            )
        made = []
        for evaluation in requests:
            key = evaluation.key
            definition = graph.specs[key].partitions
            keys = [] if definition is None else definition.keys(evaluation.requested, context)
            stale = staleness[key].stale
            force = bool((evaluation.requested.to_mask(len(stale)) & ~stale).any())
            made.append(
                engine.make_request(
                    NAME,
                    tick_id,
                    RunRequest(selection=str(key), partitions=keys, force=force),
                    run_key=f"automation:{key}:{tick_id}",
                    at=now,
                )
            )
            mask = evaluation.requested.to_mask(staleness[key].size)
            values = self.requested.get(key)
            if values is None or len(values) != len(mask):
                values = np.full(len(mask), np.nan)
            values[mask] = now.timestamp() * _US
            self.requested[key] = values
            self.pending_keys.add(key)  # handled now: evaluated again next tick
        if shown:
            engine.append_records(*shown)
        if made or shown:
            reason = None if made else "nothing requested"
            engine.record_tick(
                NAME,
                tick_at=now,
                status="requested" if made else "skipped",
                reason=reason,
                requests=made,
                kind=NAME,
                tick_id=tick_id,
            )
        if made:
            _log.info(
                "automation requested %s",
                ", ".join(f"{e.key} ({len(e.requested)})" for e in requests),
            )

    def _alert_freshness(
        self, freshness: dict[AssetKey, FreshnessState], graph: Any, context: PartitionContext
    ) -> None:
        """One alert per asset and newly missed deadline (after the policy was first seen;
        a restart sends nothing twice: the key is the deadline's)."""
        import numpy as np

        for key, state in freshness.items():
            if not state.missed.any():
                continue
            baseline = self.baselines.get(key)
            since = baseline.since if baseline is not None else context.now.timestamp() * _US
            with np.errstate(invalid="ignore"):
                new = state.missed & (state.due > since)
            if not new.any():
                continue
            index = int(np.flatnonzero(new)[-1])
            definition = graph.specs[key].partitions
            partition = "" if definition is None else definition.key(index)
            due = state.due_of(index)
            event = f"freshness_missed:{key}:{partition}:{int(state.due[index])}"
            if event in self.alerted:
                continue
            self.alerted.add(event)
            count = int(new.sum())
            where = f" {partition}" if partition else ""
            more = f" ({count} partitions)" if count > 1 else ""
            self.engine.alert(
                "freshness_missed",
                event,
                f"{key}{where} missed its freshness",
                f"{key}{where}{more} was due by {due:%Y-%m-%d %H:%M %Z} "
                f"({state.policy.describe()}) and is not materialized"
                if due is not None
                else f"{key}{where}{more} is older than {state.policy.describe()}",
            )


def _baseline(row: dict[str, Any]) -> Baseline:
    from assay.planning.conditions import CronCursor

    crons = {}
    for cron, zone, tick, seen, done in json.loads(row.get("crons") or "[]"):
        crons[(cron, zone)] = CronCursor(
            tick=float(tick), seen=float(seen), done=float("-inf") if done is None else float(done)
        )
    since = float(row["since"])
    return Baseline(
        since=since,
        since_seq=float(row.get("since_seq") or since),
        code_since=float(row.get("code_since") or row.get("since_seq") or since),
        had_history=bool(row.get("had_history", True)),
        crons=crons,
    )


def _same_mask(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    import numpy as np

    if a is None or b is None:
        return (a is None or not a.any()) and (b is None or not b.any())
    return bool(np.array_equal(a, b))


def _store_mark(path: Path, journal_dir: Path | None) -> tuple[Any, ...] | None:
    """What the DuckDB file and its WAL look like (any write changes one of them), and
    the journals waiting to be indexed (`journal_dir`; None: the reads do not index);
    None when it cannot tell: no store yet, or a file written so recently that a write
    in the same tick of the file system's clock would leave it the same time."""
    found: list[Any] = []
    now = time.time_ns()
    names = [path, path.with_name(path.name + ".wal")]
    if journal_dir is not None:
        try:
            names += sorted(
                journal_dir / e.name for e in os.scandir(journal_dir) if e.name.endswith(".jsonl")
            )
        except FileNotFoundError:
            pass
        except OSError:
            return None
    for name in names:
        try:
            stat = os.stat(name)
        except FileNotFoundError:
            found.append((name, 0))
            continue
        except OSError:
            return None
        if now - stat.st_mtime_ns < 100_000_000:  # 0.1 s
            return None
        found.append((name, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns))
    return None if len(found[0]) < 5 else tuple(found)


def _activity(journal_dir: Any, home: Any) -> int:
    """Changes when a run starts or ends, or a claim is taken or let go."""
    total = 0
    for folder in (journal_dir, journal_dir / "done", home / "claims"):
        try:
            total += os.stat(folder).st_mtime_ns
        except OSError:
            continue
    return total
