"""Run hooks: what happens during a run, told to whoever subscribes.

The coordinator, `assay check` and `assay observe` call one `CompositeHooks`;
lineage emission, the CLI's progress output and the Python API's logging are
subscribers, and so is anything a later feature adds (alerts, a UI's live
feed): one more subscriber, nothing else touched. A subscriber implements the
methods it needs on top of `Hooks` (every method a no-op); one that raises is
reported once and never changes the run (but a journal that cannot be written,
by a subscriber or not, stops it).

Order within a run: `run_started`, then per step attempt `step_dispatched` and
either `step_retried` or `step_finished` (skipped steps get `step_finished`
without a dispatch), `checks_judged` and `observed` for the checks and the
observations a run records, `notice` at any time, and `run_finished` last.
Hooks are called before the records they describe are flushed to disk, so a
subscriber may journal records of its own with them (`RunInfo.record`), add
fields to the run's final record (`RunInfo.annotate`, in `run_finished`) or
tell every subscriber something (`RunInfo.notice`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from assay.errors import StateError
from assay.results import StepStatus, step_key

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from assay.keys import AssetKey
    from assay.partitions.subset import PartitionSubset
    from assay.partitions.time_window import TimeWindow
    from assay.results import CheckOutcome, RunKind, RunStatus, StepResult

_log = logging.getLogger("assay")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInfo:
    """The run a hook is told about, and what a subscriber may add to its records."""

    run_id: str
    kind: RunKind
    selection: str
    started_at: float
    step_keys: tuple[str, ...] = ()  # the planned steps (none for check and observe)
    backfill_id: str | None = None
    record: Callable[..., None] = field(repr=False, default=lambda *records: None)
    annotate: Callable[..., None] = field(repr=False, default=lambda **fields: None)
    notice: Callable[[str], None] = field(repr=False, default=lambda message: None)


@dataclass(frozen=True, slots=True, kw_only=True)
class InputRead:
    """What one partition of a step reads of one upstream asset."""

    upstream: AssetKey
    partitions: PartitionSubset | None  # None: the upstream is unpartitioned
    keys: tuple[str, ...]  # the partition keys read ('' for unpartitioned)
    version: str | None  # the one version read, or the digest of several
    digest: str  # of every partition key read and its version
    unknown: int = 0  # partitions whose version the run did not know


@dataclass(frozen=True, slots=True, kw_only=True)
class StepAttempt:
    """One attempt of a step: an asset partition, or a batch of partitions of one asset."""

    key: AssetKey
    partitions: tuple[str, ...] | None  # None: unpartitioned
    indices: tuple[int, ...] | None
    attempt: int  # 1 for the first
    dispatched_at: float
    time_windows: tuple[TimeWindow | None, ...] = ()  # per partition
    reads: Mapping[str | None, tuple[InputRead, ...]] = field(default_factory=dict)
    provenance: Mapping[str | None, str] = field(default_factory=dict)  # per partition, JSON
    config: str | None = None  # the asset's run configuration, JSON (None: it takes none)

    @property
    def step_keys(self) -> list[str]:
        return [step_key(self.key, p) for p in (self.partitions or (None,))]


@dataclass(frozen=True, slots=True, kw_only=True)
class Observed:
    """A source asset partition observed with a data version."""

    key: AssetKey
    partition: str | None
    data_version: str
    at: float


class RunHooks(Protocol):
    """What a subscriber to runs can be told (see the module docstring)."""

    def run_started(self, run: RunInfo) -> None: ...

    def step_dispatched(self, run: RunInfo, attempt: StepAttempt) -> None: ...

    def step_retried(
        self, run: RunInfo, attempt: StepAttempt, results: Sequence[StepResult], wait_s: float
    ) -> None: ...

    def step_finished(
        self, run: RunInfo, attempt: StepAttempt | None, results: Sequence[StepResult]
    ) -> None: ...

    def checks_judged(
        self,
        run: RunInfo,
        key: AssetKey,
        partition: str | None,
        outcomes: Sequence[CheckOutcome],
        data_version: str | None,
    ) -> None: ...

    def observed(self, run: RunInfo, observations: Sequence[Observed]) -> None: ...

    def notice(self, run: RunInfo | None, message: str) -> None: ...

    def run_finished(self, run: RunInfo, status: RunStatus) -> None: ...


class Hooks:
    """A subscriber that does nothing: subclass it and implement what you need."""

    def run_started(self, run: RunInfo) -> None:
        return None

    def step_dispatched(self, run: RunInfo, attempt: StepAttempt) -> None:
        return None

    def step_retried(
        self, run: RunInfo, attempt: StepAttempt, results: Sequence[StepResult], wait_s: float
    ) -> None:
        return None

    def step_finished(
        self, run: RunInfo, attempt: StepAttempt | None, results: Sequence[StepResult]
    ) -> None:
        return None

    def checks_judged(
        self,
        run: RunInfo,
        key: AssetKey,
        partition: str | None,
        outcomes: Sequence[CheckOutcome],
        data_version: str | None,
    ) -> None:
        return None

    def observed(self, run: RunInfo, observations: Sequence[Observed]) -> None:
        return None

    def notice(self, run: RunInfo | None, message: str) -> None:
        return None

    def run_finished(self, run: RunInfo, status: RunStatus) -> None:
        return None


class CompositeHooks(Hooks):
    """Tells every subscriber, in order. A subscriber that raises is logged once (with
    what it raised) and the run goes on: no subscriber changes a run's outcome."""

    def __init__(self, subscribers: Iterable[RunHooks]) -> None:
        self.subscribers = tuple(subscribers)
        self._failed: set[int] = set()

    def _call(self, name: str, *args: Any) -> None:
        for subscriber in self.subscribers:
            try:
                getattr(subscriber, name)(*args)
            except StateError:
                raise  # the run's own journal cannot be written: the run must stop
            except Exception as exc:
                if id(subscriber) not in self._failed:
                    self._failed.add(id(subscriber))
                    _log.warning(
                        "run hook %s.%s raised %s: %s (the run goes on)",
                        type(subscriber).__name__,
                        name,
                        type(exc).__name__,
                        exc,
                    )

    def run_started(self, run: RunInfo) -> None:
        self._call("run_started", run)

    def step_dispatched(self, run: RunInfo, attempt: StepAttempt) -> None:
        self._call("step_dispatched", run, attempt)

    def step_retried(
        self, run: RunInfo, attempt: StepAttempt, results: Sequence[StepResult], wait_s: float
    ) -> None:
        self._call("step_retried", run, attempt, results, wait_s)

    def step_finished(
        self, run: RunInfo, attempt: StepAttempt | None, results: Sequence[StepResult]
    ) -> None:
        self._call("step_finished", run, attempt, results)

    def checks_judged(
        self,
        run: RunInfo,
        key: AssetKey,
        partition: str | None,
        outcomes: Sequence[CheckOutcome],
        data_version: str | None,
    ) -> None:
        self._call("checks_judged", run, key, partition, outcomes, data_version)

    def observed(self, run: RunInfo, observations: Sequence[Observed]) -> None:
        self._call("observed", run, observations)

    def notice(self, run: RunInfo | None, message: str) -> None:
        self._call("notice", run, message)

    def run_finished(self, run: RunInfo, status: RunStatus) -> None:
        self._call("run_finished", run, status)


class LoggingHooks(Hooks):
    """Reports through the `assay` logger: what the Python API does without other hooks."""

    def run_started(self, run: RunInfo) -> None:
        what = f"backfill {run.backfill_id}, " if run.backfill_id else ""
        _log.info("%s%s run %s: %d steps", what, run.kind, run.run_id, len(run.step_keys))

    def step_dispatched(self, run: RunInfo, attempt: StepAttempt) -> None:
        _log.debug("started %s", ", ".join(attempt.step_keys))

    def step_retried(
        self, run: RunInfo, attempt: StepAttempt, results: Sequence[StepResult], wait_s: float
    ) -> None:
        first = results[0]
        _log.warning(
            "%s failed (%s); retry %d in %.1f s",
            first.step_key,
            first.message,
            attempt.attempt,
            wait_s,
        )

    def step_finished(
        self, run: RunInfo, attempt: StepAttempt | None, results: Sequence[StepResult]
    ) -> None:
        for result in results:
            level = logging.INFO if result.status is StepStatus.SUCCEEDED else logging.WARNING
            _log.log(level, "%s %s", result.step_key, result.status)

    def notice(self, run: RunInfo | None, message: str) -> None:
        _log.warning(message)
