"""A run: the selected assets, materialized in dependency order, every record journaled.

The runner is the run's coordinator and its only writer: it appends run, step,
materialization and log records to the run's journal (fsynced at each step's
end) and indexes them into the state store in batches, at most once a second
while the run goes and once at its end. A failing step marks every step
downstream of it skipped, with the reason.
"""

from __future__ import annotations

import getpass
import heapq
import json
import logging
import os
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from assay.errors import ExecutorError
from assay.execution.emission import RunLineage
from assay.execution.step import StepResult, StepStatus, describe_exception, step_key
from assay.io.warehouse import close_warehouses  # wiring: DuckDBIO lets go at a run's end
from assay.lineage.events import LISTED_PARTITIONS, RUN_JOB, StepLineage, new_run_id
from assay.partitions.subset import PartitionSubset
from assay.partitions.time_window import TimeWindow, TimeWindowPartitions
from assay.state.clock import Clock
from assay.state.journal import Journal, JournalWriteError
from assay.state.liveness import process_start, this_host
from assay.state.store import IndexReport, StateStore
from assay.version import __version__
from assay.versioning import code_version, inputs_signature

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping, Sequence
    from datetime import datetime

    from assay.config import ProjectConfig
    from assay.definitions import Definitions
    from assay.execution.executors import Executor, StepTask
    from assay.execution.quality import CheckOutcome
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.keys import AssetKey
    from assay.lineage.events import DatasetRef
    from assay.partitions.base import PartitionsDefinition
    from assay.state.records import Record

INDEX_INTERVAL_S = 1.0
INDEX_SHARE = 10  # wait at least ten times the last flush before the next one
FINAL_INDEX_TIMEOUT_S = 10.0
_log = logging.getLogger("assay")


class RunReporter(Protocol):
    """Receives progress; the CLI prints it, the Python API logs it."""

    def run_started(
        self, run_id: str, step_keys: Sequence[str], backfill_id: str | None = None
    ) -> None: ...

    def step_started(self, step_keys: Sequence[str]) -> None: ...

    def step_retried(self, results: Sequence[StepResult], retry: int, wait_s: float) -> None:
        """A step (its partitions, several for a batch) failed and is retried."""
        ...

    def step_finished(self, result: StepResult) -> None: ...

    def notice(self, message: str) -> None: ...


class LoggingReporter:
    """Reports through the `assay` logger (the default for the Python API)."""

    def run_started(
        self, run_id: str, step_keys: Sequence[str], backfill_id: str | None = None
    ) -> None:
        what = f"backfill {backfill_id}, " if backfill_id else ""
        _log.info("%srun %s: %d steps", what, run_id, len(step_keys))

    def step_started(self, step_keys: Sequence[str]) -> None:
        _log.debug("started %s", ", ".join(step_keys))

    def step_retried(self, results: Sequence[StepResult], retry: int, wait_s: float) -> None:
        first = results[0]
        _log.warning(
            "%s failed (%s); retry %d in %.1f s", first.step_key, first.error, retry, wait_s
        )

    def step_finished(self, result: StepResult) -> None:
        _log.info("%s %s", result.step_key, result.status)

    def notice(self, message: str) -> None:
        _log.warning(message)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """The outcome of a run. `success` is False when any step failed or was skipped."""

    run_id: str
    status: str
    steps: tuple[StepResult, ...]
    index: IndexReport
    backfill_id: str | None = None

    @property
    def success(self) -> bool:
        return self.status == "succeeded"

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys([s.value for s in StepStatus if s != StepStatus.RUNNING], 0)
        for step in self.steps:
            counts[step.status.value] += 1
        return counts


@dataclass(frozen=True, slots=True, kw_only=True)
class RunTarget:
    """One asset of a run and the partitions to materialize (None: unpartitioned)."""

    key: AssetKey
    partitions: PartitionSubset | None = None


@dataclass(slots=True, kw_only=True)
class _Node:
    """One task of the run: an asset partition, or a batch of partitions of one asset."""

    id: int
    key: AssetKey
    indices: tuple[int, ...] | None
    partitions: tuple[str, ...] | None
    priority: tuple[int, int]
    pools: tuple[str, ...]
    waiting: int = 0
    dependents: list[int] = field(default_factory=list)
    attempt: int = 0
    done: bool = False
    provenance: dict[str | None, str] | None = None  # per partition, set at first dispatch
    started_seq: int | None = None  # the clock when its latest attempt was dispatched

    @property
    def step_keys(self) -> list[str]:
        return [step_key(self.key, p) for p in (self.partitions or (None,))]


def run_materialization(
    *,
    config: ProjectConfig,
    definitions: Definitions,
    targets: Sequence[RunTarget],
    io_for: Callable[[AssetKey], IOManager],
    selection: str,
    now: datetime,
    versions: dict[tuple[str, str], str],
    reporter: RunReporter | None = None,
    executor: Executor | None = None,
    backfill: Mapping[str, Any] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Materialize the targets on an executor (default: in this process).

    A step starts as soon as every upstream partition it reads that this run
    also materializes is done (not after a whole layer). A failed step is retried
    by its asset's retry policy; after its last failure, every step that reads it
    is skipped, with the reason, and the rest go on. `should_stop` is polled: once
    it returns True, no new step starts and the running ones finish (the run ends
    `canceled`). Pools cap how many steps of an asset, or tag, run at once.

    `versions` maps (asset, partition key or '') to the current data version of
    every upstream partition the run may read; the run updates it as it goes and
    records, with each materialization, the versions its inputs had (provenance).
    """
    from assay.execution.executors import InProcessExecutor

    coordinator = _Coordinator(
        config=config,
        definitions=definitions,
        nodes=_build_nodes(definitions, targets, now),
        io_for=io_for,
        now=now,
        versions=versions,
        reporter=reporter or LoggingReporter(),
        executor=executor or InProcessExecutor(definitions.graph, io_for),
        backfill=backfill,
    )
    return coordinator.run(selection, should_stop or (lambda: False))


class _Coordinator:
    """Schedules one run's nodes on an executor and journals every outcome."""

    def __init__(
        self,
        *,
        config: ProjectConfig,
        definitions: Definitions,
        nodes: list[_Node],
        io_for: Callable[[AssetKey], IOManager],
        now: datetime,
        versions: dict[tuple[str, str], str],
        reporter: RunReporter,
        executor: Executor,
        backfill: Mapping[str, Any] | None,
    ) -> None:
        self.config = config
        self.definitions = definitions
        self.graph = definitions.graph
        self.nodes = nodes
        self.io_for = io_for
        self.now = now
        self.versions = versions
        self.reporter = reporter
        self.executor = executor
        self.backfill = backfill
        self.run_id = str(uuid.uuid4())
        self.store = StateStore(config.home)
        self.store.check_home()
        self.journal = Journal(self.store.journal_dir, self.run_id)
        self.clock = Clock(config.home)
        self.results: list[StepResult] = []
        self.log_seq: dict[str, int] = {}
        self.ready: list[tuple[tuple[int, int], int]] = []  # (priority, node id)
        self.retry_at: list[tuple[float, int]] = []  # (monotonic time, node id)
        self.last_failure: dict[int, Sequence[StepResult]] = {}
        self.running: dict[int, _Node] = {}
        self.in_use: dict[str, int] = dict.fromkeys(definitions.pools, 0)
        self.stopping = False
        self.lost: str | None = None  # the executor went away: why
        self.lineage = RunLineage(
            config=config,
            graph=self.graph,
            io_for=io_for,
            run_id=self.run_id,
            job=RUN_JOB,
            journal=self.journal,
            backfill_id=None if backfill is None else str(backfill["backfill_id"]),
        )
        self.plans: dict[int, tuple[StepLineage, ...]] = {}  # node id -> its attempt's plans

    def run(self, selection: str, should_stop: Callable[[], bool]) -> RunResult:
        step_keys = [k for node in self.nodes for k in node.step_keys]
        run = run_record(self.run_id, selection, self.config.root, len(step_keys))
        self.run_record = run
        first: list[Record] = [run]
        if self.backfill is not None:
            run["backfill_id"] = self.backfill["backfill_id"]
            first.insert(
                0,
                {
                    **self.backfill,
                    "status": "running",
                    "last_run_id": self.run_id,
                    "seq": self.clock.next(),
                },
            )
        try:
            self.journal.append(*first, durable=True)
        except BaseException:
            self.journal.close()
            raise
        self.lineage.started(run["started_at"])
        self.reporter.run_started(
            self.run_id, step_keys, None if self.backfill is None else self.backfill["backfill_id"]
        )
        indexer = _Indexer(self.store, self.reporter)
        for node in self.nodes:
            if node.waiting == 0:
                heapq.heappush(self.ready, (node.priority, node.id))
        status = "canceled"
        try:
            self._loop(should_stop, indexer)
            unfinished = any(not node.done for node in self.nodes)
            bad = any(r.status is not StepStatus.SUCCEEDED for r in self.results)
            status = "canceled" if unfinished else "failed" if bad else "succeeded"
            if self.lost:
                status = "failed"
        except BaseException as exc:
            # a second Ctrl-C cancels; anything else (a full disk, say) fails the run
            status = "canceled" if isinstance(exc, KeyboardInterrupt) else "failed"
            self.executor.close(cancel=True)
            raise
        finally:
            self.executor.close()
            close_warehouses()  # wiring: nothing keeps the warehouse file open after a run
            failing = sys.exc_info()[1] is not None
            try:
                self._abort_unreported()
                self._journal_end(status)
            except JournalWriteError:
                if not failing:  # else the error already on its way says it
                    raise
            finally:
                self.journal.close()
                self.clock.close()
        report = indexer.final()
        if self.lineage.delivery_problem:
            self.reporter.notice(self.lineage.delivery_problem)
        return RunResult(
            run_id=self.run_id,
            status=status,
            steps=tuple(self.results),
            index=report,
            backfill_id=None if self.backfill is None else str(self.backfill["backfill_id"]),
        )

    def _loop(self, should_stop: Callable[[], bool], indexer: _Indexer) -> None:
        while self.ready or self.retry_at or self.running:
            if not self.stopping and should_stop():
                self.stopping = True
                self.reporter.notice(
                    f"stopping: {len(self.running)} running step(s) finish, nothing new starts"
                )
            clock = time.monotonic()
            if self.stopping:
                for _, node_id in self.retry_at:  # retries that will not happen
                    self._finish(self.nodes[node_id], self.last_failure[node_id])
                self.retry_at.clear()
                if not self.running:
                    return
            else:
                while self.retry_at and self.retry_at[0][0] <= clock:
                    node_id = heapq.heappop(self.retry_at)[1]
                    heapq.heappush(self.ready, (self.nodes[node_id].priority, node_id))
                self._dispatch()
            if not self.running:
                if self.retry_at:
                    time.sleep(min(max(self.retry_at[0][0] - clock, 0.0), 0.2))
                    continue
                return
            timeout = 0.2
            if self.retry_at:
                timeout = min(timeout, max(self.retry_at[0][0] - clock, 0.0))
            try:
                for task, outcome in self.executor.wait(timeout):
                    self._on_outcome(self.running.pop(task.task_id), outcome)
            except ExecutorError as exc:
                self._executor_lost(str(exc))
            indexer.maybe_index()

    def _executor_lost(self, reason: str) -> None:
        """The executor cannot run anything more. Its running steps fail with the
        reason (their dependents are not skipped: they stay to do), nothing new
        starts, and the run ends failed; a backfill resumes where it stopped."""
        self.lost = reason
        if not self.stopping:
            self.stopping = True
            self.reporter.notice(
                f"{reason}: {len(self.running)} running step(s) failed, nothing new starts"
            )
        from assay.execution.executors import failed_steps

        for node in list(self.running.values()):
            del self.running[node.id]
            for pool in node.pools:
                self.in_use[pool] -= 1
            failed = failed_steps(node.key, node.partitions, f"interrupted: {reason}")
            self._record_lineage(node, failed)
            self._finish(node, failed)

    def _dispatch(self) -> None:
        """Start ready nodes, oldest partition first, while slots and pools allow."""
        held: list[tuple[tuple[int, int], int]] = []
        while self.ready and len(self.running) < self.executor.slots:
            item = heapq.heappop(self.ready)
            node = self.nodes[item[1]]
            if any(self.in_use[p] >= self.definitions.pools[p] for p in node.pools):
                held.append(item)
                continue
            for pool in node.pools:
                self.in_use[pool] += 1
            self.running[node.id] = node
            node.started_seq = self.clock.next()
            started = time.time()
            self.journal.append(
                *(
                    _step_record(self.run_id, node.key, p, StepStatus.RUNNING, started)
                    for p in node.partitions or (None,)
                )
            )
            task = self._task(node)
            if task.lineage:
                from assay.lineage.events import step_start

                self.plans[node.id] = task.lineage
                for plan in task.lineage:
                    self.lineage.build(step_start, plan, started)
            try:
                self.executor.submit(task)
            except ExecutorError as exc:
                self.reporter.step_started(node.step_keys)
                self._executor_lost(str(exc))
                break
            self.reporter.step_started(node.step_keys)
        for item in held:
            heapq.heappush(self.ready, item)

    def _task(self, node: _Node) -> StepTask:
        from assay.execution.executors import StepTask

        spec = self.graph.specs[node.key]
        window = None
        if isinstance(spec.partitions, TimeWindowPartitions) and node.indices:
            first = spec.partitions.time_window(node.indices[0])
            last = spec.partitions.time_window(node.indices[-1])
            window = TimeWindow(first.start, last.end)
        inputs = []
        for param, up in self.graph.inputs[node.key].items():
            definition = self.graph.specs[up].partitions
            keys = None
            if definition is not None:
                read = PartitionSubset()
                for index in node.indices or (None,):
                    read = read | _reads(self.graph, node.key, up, index, self.now)
                keys = tuple(definition.key(i) for i in read)
            inputs.append((param, str(up), keys))
        if node.provenance is None:
            node.provenance = {
                partition: _provenance(self.graph, node.key, index, self.versions, self.now)
                for index, partition in zip(
                    node.indices or (None,), node.partitions or (None,), strict=True
                )
            }
        return StepTask(
            task_id=node.id,
            run_id=self.run_id,
            asset_key=str(node.key),
            partitions=node.partitions,
            inputs=tuple(inputs),
            time_window=window,
            failures_dir=str(self.config.home / "failures" / self.run_id),
            code_version=code_version(spec),
            lineage=self._lineage_plans(node, spec.partitions) if self.lineage.enabled else None,
        )

    def _lineage_plans(
        self, node: _Node, partitions: PartitionsDefinition | None
    ) -> tuple[StepLineage, ...] | None:
        """The node's lineage plans; None (and counted) when they cannot be made, for
        example when a custom IO manager cannot name its dataset."""
        try:
            return self._plans_of(node, partitions)
        except Exception as exc:
            self.lineage.failed(describe_exception(exc))
            return None

    def _plans_of(
        self, node: _Node, partitions: PartitionsDefinition | None
    ) -> tuple[StepLineage, ...]:
        """One plan per partition of the node: this attempt's run id, what it reads
        (versions and partitions) and writes, its parent and root runs."""
        assert node.provenance is not None
        plans = []
        job = self.lineage.job(node.key)
        for index, partition in zip(
            node.indices or (None,), node.partitions or (None,), strict=True
        ):
            nominal = None
            if isinstance(partitions, TimeWindowPartitions) and index is not None:
                window = partitions.time_window(index)
                nominal = (window.start.isoformat(), window.end.isoformat())
            plans.append(
                StepLineage(
                    run_id=new_run_id(),
                    job=job,
                    partition=partition,
                    parent=self.lineage.run,
                    root=self.lineage.root,
                    inputs=tuple(self._inputs_read(node.key, index, node.provenance[partition])),
                    output=self.lineage.dataset(
                        node.key,
                        partitions=partition,
                        keys=None if partition is None else (partition,),
                    ),
                    provenance=node.provenance[partition],
                    nominal=nominal,
                )
            )
        return tuple(plans)

    def _inputs_read(
        self, key: AssetKey, index: int | None, provenance: str
    ) -> Iterator[DatasetRef]:
        read = json.loads(provenance)
        for up in self.graph.upstream[key]:
            definition = self.graph.specs[up].partitions
            if definition is None:
                yield self.lineage.dataset(up, version=self.versions.get((str(up), "")))
                continue
            subset = _reads(self.graph, key, up, index, self.now)
            listed = len(subset) <= LISTED_PARTITIONS
            keys = [definition.key(i) for i in subset] if listed else None
            if keys is not None and len(keys) == 1:
                version = self.versions.get((str(up), keys[0]))
            else:  # several partitions: the digest of their versions the provenance holds
                version = read[str(up)]["versions"]
            yield self.lineage.dataset(
                up,
                version=version,
                partitions=definition.fold(subset),
                keys=keys,
                ranges=()
                if listed
                else [(definition.key(a), definition.key(b - 1)) for a, b in subset.ranges],
            )

    def _on_outcome(self, node: _Node, outcome: Sequence[StepResult]) -> None:
        for pool in node.pools:
            self.in_use[pool] -= 1
        node.attempt += 1
        self._record_lineage(node, outcome)
        if all(r.status is StepStatus.SUCCEEDED for r in outcome):
            self._finish(node, outcome)
            for dependent_id in node.dependents:
                dependent = self.nodes[dependent_id]
                dependent.waiting -= 1
                if dependent.waiting == 0 and not dependent.done:
                    heapq.heappush(self.ready, (dependent.priority, dependent_id))
            return
        policy = self.definitions.retry_policy_of(self.graph.specs[node.key])
        retryable = all(r.retryable for r in outcome)
        if retryable and node.attempt <= policy.max_retries and not self.stopping:
            wait_s = policy.wait_before(node.attempt)
            self._journal_retry(outcome, node.attempt, wait_s)
            self.reporter.step_retried(outcome, node.attempt, wait_s)
            self.last_failure[node.id] = outcome
            heapq.heappush(self.retry_at, (time.monotonic() + wait_s, node.id))
            return
        self._finish(node, outcome)
        blocked = sorted({c.name for r in outcome for c in r.checks if c.blocks})
        what = f"failed check {', '.join(map(repr, blocked))}" if blocked else "failed"
        for skipped, reason in _downstream_of(self.nodes, node, what):
            self._finish(
                skipped, [_skipped(skipped.key, p, reason) for p in skipped.partitions or (None,)]
            )

    def _record_lineage(self, node: _Node, outcome: Sequence[StepResult]) -> None:
        """Journal the events the worker built. A step that reported none (its worker
        died, or could not build them) gets its terminal event built here."""
        plans = {plan.partition: plan for plan in self.plans.pop(node.id, ())}
        for result in outcome:
            if result.lineage:
                self.lineage.record(result.lineage)
                continue
            if result.lineage_error:
                self.lineage.failed(result.lineage_error)
            plan = plans.get(result.partition)
            if plan is not None:
                from assay.lineage.events import step_end

                self.lineage.build(step_end, plan, result)

    def _abort_unreported(self) -> None:
        """ABORT the attempts still running when the run stops short (a second Ctrl-C)."""
        if not self.plans:
            return
        from assay.lineage.events import step_abort

        at = time.time()
        for plans in self.plans.values():
            for plan in plans:
                self.lineage.build(step_abort, plan, at, "the run was interrupted")
        self.plans.clear()

    def _finish(self, node: _Node, outcome: Sequence[StepResult]) -> None:
        node.done = True
        records: list[Record] = []
        seq = self.clock.next() if any(r.stored or r.checks for r in outcome) else None
        for result in outcome:
            provenance = None
            if result.stored is not None:
                assert node.provenance is not None  # set when the node was dispatched
                provenance = node.provenance[result.partition]
                self.versions[(str(node.key), result.partition or "")] = result.stored.data_version
            records += _result_records(
                self.run_id,
                result,
                self.graph,
                self.run_record,
                self.io_for(node.key).kind,
                provenance,
                node.attempt,
                self.log_seq,
                seq=seq,
                started_seq=node.started_seq,
            )
        self.journal.append(*records, durable=True)
        for result in outcome:
            self.results.append(result)
            self.reporter.step_finished(result)

    def _journal_retry(self, outcome: Sequence[StepResult], attempt: int, wait_s: float) -> None:
        """Keep a failed attempt's logs and error with the step, then say it is retried."""
        records: list[Record] = []
        for result in outcome:
            step = result.step_key
            logs = [*result.logs]
            logs.append(
                {
                    "logged_at": time.time(),
                    "level": "WARNING",
                    "logger": "assay",
                    "message": f"attempt {attempt} failed: {result.error}; "
                    f"retrying in {wait_s:.1f} s",
                }
            )
            records += _log_records(self.run_id, step, logs, self.log_seq)
        self.journal.append(*records)

    def _journal_end(self, status: str) -> None:
        counts = {s: sum(r.status == s for r in self.results) for s in StepStatus}
        at = time.time()
        lineage = self.lineage.finished(status, at)
        final: list[Record] = [
            {
                **self.run_record,
                **lineage,
                "status": status,
                "finished_at": at,
                "succeeded_count": counts[StepStatus.SUCCEEDED],
                "failed_count": counts[StepStatus.FAILED],
                "skipped_count": counts[StepStatus.SKIPPED],
            }
        ]
        if self.backfill is not None:
            final.append(
                {
                    **self.backfill,
                    "status": {"succeeded": "completed", "failed": "failed"}.get(
                        status, "canceled"
                    ),
                    "last_run_id": self.run_id,
                    "finished_at": time.time(),
                    "seq": self.clock.next(),
                }
            )
        self.journal.append(*final, durable=True)


def _build_nodes(
    definitions: Definitions, targets: Sequence[RunTarget], now: datetime
) -> list[_Node]:
    """The run's nodes (batches where the asset has a BatchPolicy) and their dependencies:
    a node waits for every node of this run that holds a partition it reads."""
    graph = definitions.graph
    order = {key: i for i, key in enumerate(graph.order)}
    nodes: list[_Node] = []
    node_of: dict[tuple[AssetKey, int | None], int] = {}
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
            node = _Node(
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
            for index in group or (None,):
                node_of[(target.key, index)] = node.id
            waits_for: set[int] = set()
            for up in graph.upstream[target.key]:
                if up not in targeted:
                    continue
                up_partitioned = graph.specs[up].partitions is not None
                for index in group or (None,):
                    if not up_partitioned:
                        found = node_of.get((up, None))
                        if found is not None:
                            waits_for.add(found)
                        continue
                    for read in _reads(graph, target.key, up, index, now):
                        found = node_of.get((up, read))
                        if found is not None:
                            waits_for.add(found)
            node.waiting = len(waits_for)
            for upstream_id in waits_for:
                nodes[upstream_id].dependents.append(node.id)
    return nodes


def _downstream_of(nodes: Sequence[_Node], failed: _Node, what: str) -> Iterator[tuple[_Node, str]]:
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
            dependent.done = True  # claimed here; _finish records it
            yield dependent, f"upstream {where} {what}"
            queue.append((dependent, "skipped"))


def upstream_reads(
    graph: AssetGraph, targets: Sequence[RunTarget], now: datetime
) -> list[tuple[str, str]]:
    """Every (upstream asset, partition key or '') that the targets' steps will read."""
    wanted: set[tuple[str, str]] = set()
    for target in targets:
        indices = [None] if target.partitions is None else list(target.partitions)
        for up in graph.upstream[target.key]:
            definition = graph.specs[up].partitions
            read = PartitionSubset()
            for index in indices:
                read = read | _reads(graph, target.key, up, index, now)
            keys = [""] if definition is None else [definition.key(i) for i in read]
            wanted.update((str(up), key) for key in keys)
    return sorted(wanted)


def _reads(
    graph: AssetGraph, key: AssetKey, up: AssetKey, index: int | None, now: datetime
) -> PartitionSubset:
    """The partitions of `up` that partition `index` of `key` reads."""
    return graph.mappings[key][up].upstream_for(
        index or 0, graph.specs[up].partitions, graph.specs[key].partitions, now
    )


def _provenance(
    graph: AssetGraph,
    key: AssetKey,
    index: int | None,
    versions: Mapping[tuple[str, str], str],
    now: datetime,
) -> str:
    """What a materialization read: per upstream asset, the partitions and a digest of
    their data versions (so a later plan can tell whether any of them changed)."""
    import xxhash

    read = {}
    for up in graph.upstream[key]:
        definition = graph.specs[up].partitions
        subset = _reads(graph, key, up, index, now)
        keys = [""] if definition is None else [definition.key(i) for i in subset]
        digest = xxhash.xxh3_64()
        missing = 0
        for partition in keys:
            found = versions.get((str(up), partition))
            missing += found is None
            digest.update(f"{partition}={found}\n".encode())
        read[str(up)] = {
            "partitions": "" if definition is None else definition.fold(subset),
            "count": len(keys),
            "versions": digest.hexdigest(),
            "unknown": missing,
        }
    return json.dumps(read, separators=(",", ":"), sort_keys=True)


class _Indexer:
    """Indexes the journal into DuckDB while the run goes; says once if it cannot.

    At most once per interval, and never for more than a tenth of the run's time:
    a flush costs more as the store grows (DuckDB rewrites the table's last row
    group at each checkpoint), so the interval stretches to ten times the last
    flush. The journal is the truth meanwhile, and the run's end indexes the rest.
    """

    def __init__(self, store: StateStore, reporter: RunReporter) -> None:
        self.store = store
        self.reporter = reporter
        self.last = time.monotonic()
        self.interval = INDEX_INTERVAL_S
        self.told = False

    def maybe_index(self) -> None:
        started = time.monotonic()
        if started - self.last >= self.interval:
            self._tell(self.store.index_pending(timeout_s=0.05))
            self.last = time.monotonic()
            self.interval = max(INDEX_INTERVAL_S, INDEX_SHARE * (self.last - started))

    def final(self) -> IndexReport:
        report = self.store.index_pending(timeout_s=FINAL_INDEX_TIMEOUT_S)
        if report.held_by or report.busy:
            self.told = False
            self._tell(report, final=True)
        return report

    def _tell(self, report: IndexReport, *, final: bool = False) -> None:
        if self.told or report.is_complete:
            return
        self.told = True
        holder = report.held_by or "another assay process"
        later = (
            "they will be indexed by the next assay command once it is free"
            if final
            else "the run goes on and indexes them when it is free"
        )
        self.reporter.notice(
            f"the state store {self.store.path} is held by {holder}; "
            f"records are safe in {self.store.journal_dir} and {later}"
        )


def _skipped(key: AssetKey, partition: str | None, reason: str) -> StepResult:
    now = time.time()
    return StepResult(
        key=key,
        partition=partition,
        status=StepStatus.SKIPPED,
        started_at=now,
        finished_at=now,
        skip_reason=reason,
    )


def run_record(run_id: str, selection: str, root: Path, step_count: int) -> Record:
    pid = os.getpid()
    return {
        "type": "run",
        "run_id": run_id,
        "status": "running",
        "selection": selection,
        "command": command_line(),
        "started_at": time.time(),
        "user_name": current_user(),
        "host": this_host(),
        "pid": pid,
        "process_start": process_start(pid),
        "git_commit": _git_commit(root),
        "assay_version": __version__,
        "step_count": step_count,
    }


def _step_record(
    run_id: str, key: AssetKey, partition: str | None, status: StepStatus, started_at: float
) -> Record:
    return {
        "type": "step",
        "run_id": run_id,
        "step_key": step_key(key, partition),
        "asset_key": str(key),
        "partition_key": partition,
        "status": status.value,
        "started_at": started_at,
    }


def _result_records(
    run_id: str,
    result: StepResult,
    graph: AssetGraph,
    run: Mapping[str, Any],
    io_kind: str,
    provenance: str | None,
    attempts: int,
    log_seq: dict[str, int],
    *,
    seq: int | None,
    started_seq: int | None,
) -> list[Record]:
    records: list[Record] = [
        {
            **_step_record(run_id, result.key, result.partition, result.status, result.started_at),
            "finished_at": result.finished_at,
            "error": result.error,
            "traceback": result.traceback,
            "skip_reason": result.skip_reason,
            "attempts": attempts,
        }
    ]
    materialization_id = None if result.stored is None else str(uuid.uuid4())
    if result.stored is not None:
        records.append(
            {
                "type": "materialization",
                "materialization_id": materialization_id,
                "run_id": run_id,
                "asset_key": str(result.key),
                "partition_key": result.partition,
                "started_at": result.started_at,
                "finished_at": result.finished_at,
                "row_count": result.stored.row_count,
                "byte_size": result.stored.byte_size,
                "location": result.stored.location,
                "io": io_kind,
                "data_version": result.stored.data_version,
                "code_version": code_version(graph.specs[result.key]),
                "inputs_signature": inputs_signature(graph, result.key),
                "provenance": provenance,
                "seq": seq,
                "started_seq": started_seq,
                "user_name": run["user_name"],
                "host": run["host"],
                "git_commit": run["git_commit"],
            }
        )
    records += check_records(
        run_id,
        result.key,
        result.partition,
        result.checks,
        materialization_id,
        None if result.stored is None else result.stored.data_version,
        seq,
    )
    records += _log_records(run_id, result.step_key, result.logs, log_seq)
    return records


def check_records(
    run_id: str,
    key: AssetKey,
    partition: str | None,
    outcomes: Sequence[CheckOutcome],
    materialization_id: str | None,
    data_version: str | None,
    seq: int | None,
) -> list[Record]:
    """The journal records of check outcomes on one asset partition (`seq`: the state
    home's clock, which orders them)."""
    return [
        {
            "type": "check",
            "check_result_id": str(uuid.uuid4()),
            "run_id": run_id,
            "asset_key": str(key),
            "partition_key": partition,
            "check_name": outcome.name,
            "status": outcome.status,
            "passed": outcome.passed,
            "severity": outcome.severity,
            "blocking": outcome.blocking,
            "description": outcome.description,
            "metadata": json.dumps(outcome.metadata, default=str, separators=(",", ":")),
            "error": outcome.error,
            "failures_path": outcome.failures_path,
            "materialization_id": materialization_id,
            "data_version": data_version,
            "checked_at": outcome.checked_at,
            "seq": seq,
        }
        for outcome in outcomes
    ]


def _log_records(
    run_id: str, step: str, logs: Sequence[Mapping[str, Any]], log_seq: dict[str, int]
) -> list[Record]:
    """Log records numbered on from the step's earlier attempts."""
    first = log_seq.get(step, 0)
    log_seq[step] = first + len(logs)
    return [
        {"type": "log", "run_id": run_id, "step_key": step, **log, "seq": first + i}
        for i, log in enumerate(logs)
    ]


def command_line() -> str:
    """The command this process runs, as the user typed it (`assay backfill start ...`)."""
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def _git_commit(root: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None
