"""What every asset partition is (fresh, stale, missing, failed, running, waiting),
kept up to date in the background so that no page waits for the planner.

A `HealthKeeper` evaluates the whole project once, then follows the store: each
refresh asks which assets have records since its marks and recomputes only those
and what reads them (`assess_changed`, as the daemon's condition ticker does), so a
backfill writing a partition a second costs the UI a few milliseconds, not a plan.
Pages read the latest `Health`; they never open the store for it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from assay.errors import AssayError
from assay.keys import AssetKey
from assay.planning.staleness import StaleKind, assess_changed, read_arguments

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np

    from assay.graph import AssetGraph
    from assay.partitions.base import PartitionContext
    from assay.partitions.keysets import DynamicKeys
    from assay.partitions.subset import PartitionSubset
    from assay.planning.staleness import AssetStaleness, StalenessCache
    from assay.state.reader import StateReader

# the codes of a partition's health, in the order the bars name them
FRESH, STALE, MISSING, FAILED, RUNNING, WAITING = range(6)
STATUS_NAMES = ("fresh", "stale", "missing", "failed", "running", "waiting")
FULL_EVERY_S = 300.0  # a full evaluation now and then: removed partition keys are seen
MAX_BEHIND_S = 5.0  # the health follows the store at most this far behind
log = logging.getLogger("assay.web")


@dataclass(frozen=True, slots=True)
class AssetHealth:
    """One asset: its status, a health code per partition, and the runs computing it."""

    key: AssetKey
    status: str  # fresh, stale, missing, failed, running, source, unknown
    codes: np.ndarray  # int8 per partition (one for an unpartitioned asset)
    staleness: AssetStaleness
    running_in: str | None  # a run computing some of it
    running: PartitionSubset | None  # what of it is being computed (None: all, if running_in)

    def count(self, code: int) -> int:
        return int((self.codes == code).sum())


@dataclass(frozen=True, slots=True)
class Health:
    """The project's health at `at` (UTC), evaluated in `seconds`."""

    at: datetime
    context: PartitionContext
    assets: dict[AssetKey, AssetHealth]
    seconds: float
    full: bool

    def status(self, key: AssetKey) -> str:
        found = self.assets.get(key)
        return "unknown" if found is None else found.status


@dataclass(slots=True)
class _Marks:
    seq: int = 0
    attempt: int = 0  # partition_attempts.seq read up to
    last_full: float = 0.0
    file: tuple[int, int] | None = None  # the store's DuckDB file, as last read
    cache: StalenessCache | None = None
    failed: dict[AssetKey, np.ndarray] = field(default_factory=dict)


class HealthKeeper:
    """Keeps `latest` (a `Health`) current for a project's graph and state home.

    `refresh()` evaluates what changed since the last refresh (everything the first
    time and every FULL_EVERY_S); `start()` refreshes in a thread whenever the state
    store or the run claims move, at most once per `min_interval_s`, spending at
    most a tenth of the time evaluating, and never more than MAX_BEHIND_S behind;
    an unexpected error is logged and said in `waiting`, and the thread goes on.
    A store that cannot be read
    now (a run indexing, a notebook holding the file) keeps the last `Health` and
    says why in `waiting`.
    """

    def __init__(self, graph: AssetGraph, home: Path, *, min_interval_s: float = 1.0) -> None:
        self.graph = graph
        self.home = home
        self.min_interval_s = min_interval_s
        self.latest: Health | None = None
        self.waiting: str | None = None  # why the latest refresh could not read the store
        self._marks = _Marks()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._changed = threading.Event()
        self._poked = False
        self._thread: threading.Thread | None = None
        self._fingerprint: tuple[object, ...] | None = None
        self._dynamic: DynamicKeys | None = None  # the keys of dynamic partitions last read

    def refresh(self, *, now: datetime | None = None, full: bool = False) -> Health | None:
        """Evaluate what moved and return the new `Health` (None and `waiting` set
        when the store cannot be read now)."""
        from assay.state.dynamic import partition_context
        from assay.state.reader import StateReader

        with self._lock:
            marks = self._marks
            full = full or marks.cache is None or time.monotonic() - marks.last_full >= FULL_EVERY_S
            started = time.perf_counter()
            reader = StateReader(self.home, index=False)
            marks.file, replaced = reader.store.file_id(marks.file)
            if replaced:  # a new file, its records numbered afresh: read it whole
                full, marks.seq, marks.attempt = True, 0, 0
            try:
                context = partition_context(self.graph, reader, now or datetime.now(UTC))
                full = full or context.dynamic != self._dynamic  # keys added or removed
                self._dynamic = context.dynamic
                health = self._evaluate(reader, context, full=full)
            except AssayError as exc:
                self.waiting = str(exc)
                return None
            self.waiting = None
            self.latest = Health(
                at=context.now,
                context=context,
                assets=health,
                seconds=time.perf_counter() - started,
                full=full,
            )
            return self.latest

    def _evaluate(
        self, reader: StateReader, context: PartitionContext, *, full: bool
    ) -> dict[AssetKey, AssetHealth]:
        marks = self._marks
        graph = self.graph
        keys = list(graph.order)
        if full:
            marks.cache = None
        with contextlib.nullcontext() if full else reader.held():
            names, seq, attempt = reader.changed_assets(
                *((0, 0) if full else (marks.seq, marks.attempt))
            )
            changed = None if full else {AssetKey.parse(n) for n in names} & set(graph.specs)
            staleness, marks.cache, _moved = assess_changed(
                graph,
                keys,
                reader,
                context,
                cache=marks.cache,
                changed=changed,
                since_seq=None if full else marks.seq,
            )
            wanted = [
                k
                for k in keys
                if changed is None
                or k in changed
                or k not in marks.failed
                or len(marks.failed[k]) != staleness[k].size
            ]
            self._read_failed(reader, wanted, staleness, context)
        if full:
            marks.last_full = time.monotonic()
        marks.seq, marks.attempt = max(seq, marks.seq), max(attempt, marks.attempt)
        running = _in_flight(graph, self.home, context)
        return {
            key: _asset_health(graph, key, staleness[key], marks.failed.get(key), running.get(key))
            for key in keys
        }

    def _read_failed(
        self,
        reader: StateReader,
        keys: list[AssetKey],
        staleness: dict[AssetKey, AssetStaleness],
        context: PartitionContext,
    ) -> None:
        """Which partitions of `keys` failed their latest attempt (after their current
        materialization) or a blocking check of it, from the steps recorded."""
        from assay.planning.conditions import Attempts

        if not keys:
            return
        assets, keysets = read_arguments(self.graph, keys, context)
        found = reader.attempt_columns(assets, keysets)
        split = Attempts.split(found, keys, [staleness[key].size for key in keys])
        for key, attempts in split.items():
            self._marks.failed[key] = attempts.failed | attempts.blocked

    # the background refresher

    def start(self) -> None:
        """Refresh in a daemon thread from now on (the first refresh at once)."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._loop, name="assay-ui-health", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None

    def poke(self) -> None:
        """Refresh soon (an action just launched a run, say)."""
        self._poked = True
        self._changed.set()

    def _loop(self) -> None:
        next_at = 0.0  # no refresh before (monotonic): at most a tenth of the time spent
        while not self._stop.is_set():
            if self._poked:
                self._poked, next_at = False, 0.0
            fingerprint = self.fingerprint()
            moved = fingerprint != self._fingerprint or self._due_full() or self.latest is None
            if moved and time.monotonic() >= next_at:
                try:
                    health = self.refresh()
                except Exception as exc:  # never die: say it, and try again
                    log.warning("the UI could not evaluate the project's health", exc_info=True)
                    self.waiting = f"evaluating the project's health failed: {exc}"
                    health = None
                if health is not None:
                    self._fingerprint = fingerprint
                    # what changed is evaluated again at most every ten times its cost
                    # (a full evaluation's cost says nothing of the next one), and the
                    # health is never more than MAX_BEHIND_S behind the store
                    spent = self.min_interval_s if health.full else 10 * health.seconds
                    next_at = time.monotonic() + min(max(self.min_interval_s, spent), MAX_BEHIND_S)
            self._changed.wait(self.min_interval_s)
            self._changed.clear()

    def _due_full(self) -> bool:
        return time.monotonic() - self._marks.last_full >= FULL_EVERY_S

    def fingerprint(self) -> tuple[object, ...]:
        """What moves when the state does: the store file and its write-ahead log,
        and the folder of live runs' claims."""
        from assay.state.claims import CLAIMS
        from assay.state.store import StateStore

        path = StateStore(self.home).path
        found: list[object] = []
        for each in (path, path.with_name(path.name + ".wal"), self.home / CLAIMS):
            try:
                stat = each.stat()
            except OSError:
                found.append(None)
            else:
                found.append((stat.st_mtime_ns, stat.st_size))
        return tuple(found)


def _in_flight(
    graph: AssetGraph, home: Path, context: PartitionContext
) -> dict[AssetKey, tuple[PartitionSubset | None, str]]:
    from assay.execution.taskgraph import in_flight
    from assay.state.claims import live_claims

    return in_flight(graph, live_claims(home), context)


def _asset_health(
    graph: AssetGraph,
    key: AssetKey,
    staleness: AssetStaleness,
    failed: np.ndarray | None,
    running: tuple[PartitionSubset | None, str] | None,
) -> AssetHealth:
    import numpy as np

    n = staleness.size
    codes = np.zeros(n, dtype=np.int8)
    is_source = graph.specs[key].is_source
    if is_source:
        codes[np.isnan(staleness.changed_at)] = MISSING
    else:
        codes[staleness.stale] = STALE
        for reason in staleness.reasons:
            if reason.kind is StaleKind.MISSING:
                for first, last in reason.partitions.ranges:
                    codes[first:last] = MISSING
        codes[staleness.waiting] = WAITING
        if failed is not None and len(failed) == n:
            codes[failed] = FAILED
    subset, run_id = running if running is not None else (None, None)
    if running is not None:
        if subset is None:
            codes[:] = RUNNING
        else:
            for first, last in subset.ranges:
                codes[first:last] = RUNNING
    return AssetHealth(
        key=key,
        status=_status(codes, is_source=is_source),
        codes=codes,
        staleness=staleness,
        running_in=run_id,
        running=subset,
    )


def _status(codes: np.ndarray, *, is_source: bool) -> str:
    """The asset's one word: running, failed, missing (nothing stored), stale (some
    partition stale or missing), fresh; a source is a source."""
    if is_source:
        return "source"
    if not len(codes):
        return "fresh"
    present = set(codes.tolist()) if len(codes) <= 64 else {int(c) for c in _unique(codes)}
    if RUNNING in present:
        return "running"
    if FAILED in present:
        return "failed"
    if present == {MISSING}:
        return "missing"
    if present - {FRESH}:
        return "stale"
    return "fresh"


def _unique(codes: np.ndarray) -> np.ndarray:
    import numpy as np

    return np.flatnonzero(np.bincount(codes, minlength=len(STATUS_NAMES)))
