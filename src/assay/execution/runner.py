"""The coordinator of a materialization: the selected asset partitions, materialized
in dependency order on an executor, every outcome journaled.

A step starts as soon as every upstream partition it reads that this run also
materializes is done (not after a whole layer). A failed step is retried by its
asset's retry policy; after its last failure, every step that reads it is
skipped, with the reason, and the rest go on. Pools cap how many steps of an
asset, or tag, run at once. What happens is told to the run's hooks (lineage,
progress output, ...); the coordinator itself knows none of them.
"""

from __future__ import annotations

import heapq
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assay.errors import ExecutorError, StateLockedError
from assay.execution.executors import StepTask, failed_steps
from assay.execution.executors.worker import close_resources
from assay.execution.hooks import StepAttempt
from assay.execution.recorder import RecordedRun
from assay.execution.records import log_records, result_records, retry_log, step_record
from assay.execution.taskgraph import (
    build_nodes,
    downstream_of,
    fully_rewritten,
    input_reads,
    provenance_of,
    reads_of,
    target_ranges,
)
from assay.io.atomic import deferred_syncs
from assay.io.warehouse import close_warehouses
from assay.partitions.subset import PartitionSubset
from assay.partitions.time_window import TimeWindow, TimeWindowPartitions
from assay.resources import check_environment
from assay.results import RunKind, RunResult, RunStatus, StepResult, StepStatus
from assay.run_config import by_asset_json, resolve
from assay.versioning import code_parts_json, code_version, inputs_signature

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from assay.config import ProjectConfig
    from assay.definitions import Definitions
    from assay.execution.executors import Executor
    from assay.execution.hooks import InputRead, RunHooks
    from assay.execution.taskgraph import RunTarget, TaskNode
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.keys import AssetKey
    from assay.partitions.base import PartitionContext
    from assay.state.records import Record


def run_materialization(
    *,
    config: ProjectConfig,
    definitions: Definitions,
    targets: Sequence[RunTarget],
    io_for: Callable[[AssetKey], IOManager],
    selection: str,
    context: PartitionContext,
    versions: dict[tuple[str, str], str],
    hooks: RunHooks,
    executor: Executor,
    kind: RunKind = RunKind.MATERIALIZE,
    backfill: Record | None = None,
    should_stop: Callable[[], bool] | None = None,
    run_id: str | None = None,
    run_key: str | None = None,
    in_flight: Mapping[AssetKey, InFlight] | None = None,
) -> RunResult:
    """Materialize the targets on `executor` as one recorded run.

    Partitions `in_flight` (being computed by another live run, named) are skipped,
    with what reads them in this run, saying which run computes them.

    `should_stop` is polled: once it returns True, no new step starts and the
    running ones finish (the run ends `canceled`). `versions` maps (asset,
    partition key or '') to the current data version of every upstream partition
    the run may read; the run updates it as it goes and records, with each
    materialization, the versions its inputs had (provenance).
    """
    check_runnable(definitions, [t.key for t in targets])
    nodes = build_nodes(definitions, targets, context)
    step_keys = tuple(k for node in nodes for k in node.step_keys)
    recorded = RecordedRun(
        config,
        kind=kind,
        selection=selection,
        hooks=hooks,
        step_keys=step_keys,
        backfill=backfill,
        run_id=run_id,
        run_key=run_key,
        targets=target_ranges(definitions.graph, targets),
        config_json=run_config_json(definitions.graph, [t.key for t in targets]),
    )
    with recorded as run:
        coordinator = _Coordinator(
            run=run,
            definitions=definitions,
            nodes=nodes,
            io_for=io_for,
            context=context,
            versions=versions,
            executor=executor,
            full_rewrites=fully_rewritten(definitions.graph, targets, context),
        )
        asked = should_stop or (lambda: False)
        coordinator.skip_in_flight(in_flight or {})
        # In process, a step's new files are synced while the next step runs: their
        # records wait for it in the journal (`assay.io.atomic`); workers elsewhere sync
        # their own, in parallel already.
        deferring = deferred_syncs() if executor.name == "in_process" else nullcontext()
        with deferring:
            status = coordinator.run(lambda: run.cancel_requested() or asked())
        counts = {s: sum(r.status is s for r in coordinator.results) for s in StepStatus}
        run.finish(
            status,
            succeeded_count=counts[StepStatus.SUCCEEDED],
            failed_count=counts[StepStatus.FAILED],
            skipped_count=counts[StepStatus.SKIPPED],
        )
    return RunResult(
        run_id=run.run_id,
        status=status,
        steps=tuple(coordinator.results),
        index=run.index,
        backfill_id=run.info.backfill_id,
        run_key=run_key,
    )


def _multi_groups(graph: AssetGraph, nodes: Sequence[TaskNode]) -> dict[int, list[int]]:
    """For each node of a @multi_asset output, the nodes of its siblings for the same
    partitions: one call computes them together."""
    groups: dict[tuple[int, tuple[int, ...] | None], list[int]] = {}
    for node in nodes:
        multi = graph.specs[node.key].multi
        if multi is not None:  # one MultiInfo per @multi_asset, shared by its outputs
            groups.setdefault((id(multi), node.indices), []).append(node.id)
    return {
        member: [other for other in members if other != member]
        for members in groups.values()
        if len(members) > 1
        for member in members
    }


def check_runnable(definitions: Definitions, keys: Sequence[AssetKey]) -> None:
    """Refuse a run, before anything of it runs, whose assets lack a configuration
    value or read an environment variable that is not set.

    Raises:
        ConfigError: naming the field or the variable.
    """
    graph = definitions.graph
    unconfigured = [k for k in keys if graph.specs[k].config_type and k not in graph.configs]
    if unconfigured:
        resolve({k: graph.specs[k] for k in unconfigured}, ())  # raises, naming the field
    check_environment(definitions.resources, definitions.resources_used(keys))


def run_config_json(graph: AssetGraph, keys: Sequence[AssetKey]) -> str | None:
    """The configuration of the run's configured targets, as recorded with the run:
    `{"scored": {"threshold": 0.1}}` (None: no target takes any)."""
    return by_asset_json({str(k): graph.configs[k].json for k in keys if k in graph.configs})


InFlight = tuple["PartitionSubset | None", str]  # partitions (None: unpartitioned), run id


class _Coordinator:
    """Schedules one run's nodes on an executor and journals every outcome."""

    def __init__(
        self,
        *,
        run: RecordedRun,
        definitions: Definitions,
        nodes: list[TaskNode],
        io_for: Callable[[AssetKey], IOManager],
        context: PartitionContext,
        versions: dict[tuple[str, str], str],
        executor: Executor,
        full_rewrites: frozenset[AssetKey] = frozenset(),
    ) -> None:
        self.run_ = run
        self.definitions = definitions
        self.graph = definitions.graph
        self.nodes = nodes
        self.io_for = io_for
        self.context = context
        self.versions = versions
        self.executor = executor
        self.full_rewrites = full_rewrites  # assets this run writes every partition of
        self.hooks = run.hooks
        self.results: list[StepResult] = []
        self.log_seq: dict[str, int] = {}
        self.ready: list[tuple[tuple[int, int], int]] = []  # (priority, node id)
        self.retry_at: list[tuple[float, int]] = []  # (monotonic time, node id)
        self.last_failure: dict[int, Sequence[StepResult]] = {}
        self.running: dict[int, TaskNode] = {}
        self.attempts: dict[int, StepAttempt] = {}  # node id -> its current attempt
        self.reads: dict[int, dict[str | None, tuple[InputRead, ...]]] = {}
        self.in_use: dict[str, int] = dict.fromkeys(definitions.pools, 0)
        self.pooled: set[int] = set()  # running nodes that hold their pools' slots
        self.fused: dict[int, list[TaskNode]] = {}  # a task's id -> the siblings it computes
        self.siblings = _multi_groups(self.graph, nodes)
        self.stopping = False
        self.lost: str | None = None  # the executor went away: why
        self.failures_dir = str(run.config.home / "failures" / run.run_id)
        self._versions: dict[AssetKey, _Versions] = {}

    def skip_in_flight(self, in_flight: Mapping[AssetKey, InFlight]) -> None:
        """Skip the nodes another live run computes, and what reads them here."""
        for node in self.nodes:
            held = in_flight.get(node.key)
            if held is None or node.done:
                continue
            subset, run_id = held
            if subset is not None and not any(i in subset for i in node.indices or ()):
                continue
            self._skip(node, f"being computed by run {run_id[:8]}, which is still going")
            self._skip_downstream(node, "is being computed by another run")
        count = sum(len(n.partitions or (None,)) for n in self.nodes if n.done)
        if count:
            self.run_.notice(
                f"{count} asset partition(s) are being computed by another run, or read what it "
                "computes: skipped here (materialize again once it is done)"
            )

    def _skip(self, node: TaskNode, reason: str) -> None:
        parts = node.partitions or (None,)
        self._finish(node, None, [_skipped(node.key, p, reason) for p in parts])

    def _skip_downstream(self, node: TaskNode, what: str) -> None:
        for skipped, reason in downstream_of(self.nodes, node, what):
            self._skip(skipped, reason)

    def run(self, should_stop: Callable[[], bool]) -> RunStatus:
        for node in self.nodes:
            if node.waiting == 0 and not node.done:
                heapq.heappush(self.ready, (node.priority, node.id))
        try:
            self._loop(should_stop)
        except BaseException:
            self.executor.close(cancel=True)
            raise
        finally:
            self.executor.close()
            close_warehouses()  # nothing keeps the warehouse file open after a run
            for failure in close_resources(self.run_.run_id):  # those built in this process
                self.run_.notice(failure)
        if self.lost or any(r.status is not StepStatus.SUCCEEDED for r in self.results):
            failed = RunStatus.FAILED
        else:
            failed = RunStatus.SUCCEEDED
        unfinished = any(not node.done for node in self.nodes)
        return RunStatus.CANCELED if unfinished and not self.lost else failed

    def _loop(self, should_stop: Callable[[], bool]) -> None:
        while self.ready or self.retry_at or self.running:
            if not self.stopping and should_stop():
                self.stopping = True
                self.run_.notice(
                    f"stopping: {len(self.running)} running step(s) finish, nothing new starts"
                )
            clock = time.monotonic()
            if self.stopping:
                for _, node_id in self.retry_at:  # retries that will not happen
                    node = self.nodes[node_id]
                    self._finish(node, self.attempts.get(node_id), self.last_failure[node_id])
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
                    self._on_task_outcome(task, outcome)
            except ExecutorError as exc:
                self._executor_lost(str(exc))
            self.run_.maybe_index()

    def _executor_lost(self, reason: str) -> None:
        """The executor cannot run anything more. Its running steps fail with the
        reason (their dependents are not skipped: they stay to do), nothing new
        starts, and the run ends failed; a backfill resumes where it stopped."""
        self.lost = reason
        if not self.stopping:
            self.stopping = True
            self.run_.notice(
                f"{reason}: {len(self.running)} running step(s) failed, nothing new starts"
            )
        self.fused.clear()
        for node in list(self.running.values()):
            del self.running[node.id]
            self._release(node)
            failed = failed_steps(node.key, node.partitions, f"interrupted: {reason}")
            self._finish(node, self.attempts.get(node.id), failed)

    def _dispatch(self) -> None:
        """Start ready nodes, oldest partition first, while slots and pools allow."""
        held: list[tuple[tuple[int, int], int]] = []
        while self.ready and len(self.running) < self.executor.slots:
            item = heapq.heappop(self.ready)
            node = self.nodes[item[1]]
            if node.id in self.running or node.done:  # computed with a sibling
                continue
            if any(self.in_use[p] >= self.definitions.pools[p] for p in node.pools):
                held.append(item)
                continue
            for pool in node.pools:
                self.in_use[pool] += 1
            self.pooled.add(node.id)
            fused = [
                self.nodes[i]
                for i in self.siblings.get(node.id, ())
                if not self.nodes[i].done and self.nodes[i].waiting == 0 and i not in self.running
            ]
            if fused:
                self.fused[node.id] = fused
                taken = {n.id for n in fused}  # a sibling waiting to retry goes now, with it
                self.retry_at = [item for item in self.retry_at if item[1] not in taken]
                heapq.heapify(self.retry_at)
            with self.run_.gathered():  # the step records and the hooks' in one write
                for member in (node, *fused):
                    self.running[member.id] = member
                    member.started_seq = self.run_.seq()
                    attempt = self._attempt(member)
                    self.run_.append(
                        *(
                            step_record(
                                self.run_.run_id, member.key, p, StepStatus.RUNNING, time.time()
                            )
                            for p in member.partitions or (None,)
                        )
                    )
                    self.hooks.step_dispatched(self.run_.info, attempt)
            try:
                self.executor.submit(self._task(node, fused))
            except ExecutorError as exc:
                self._executor_lost(str(exc))
                break
        for item in held:
            heapq.heappush(self.ready, item)

    def _attempt(self, node: TaskNode) -> StepAttempt:
        """The node's next attempt: what each of its partitions reads (computed at its
        first dispatch: every upstream partition of this run is done by then)."""
        spec = self.graph.specs[node.key]
        if node.id not in self.reads:
            self.reads[node.id] = {
                partition: input_reads(self.graph, node.key, index, self.versions, self.context)
                for index, partition in zip(
                    node.indices or (None,), node.partitions or (None,), strict=True
                )
            }
        reads = self.reads[node.id]
        windows: tuple[TimeWindow | None, ...] = ()
        if isinstance(spec.partitions, TimeWindowPartitions) and node.indices:
            windows = tuple(map(spec.partitions.time_window, node.indices))
        attempt = StepAttempt(
            key=node.key,
            partitions=node.partitions,
            indices=node.indices,
            attempt=node.attempt + 1,
            dispatched_at=time.time(),
            time_windows=windows,
            reads=reads,
            provenance={p: provenance_of(self.graph, r) for p, r in reads.items()},
            config=None
            if node.key not in self.graph.configs
            else self.graph.configs[node.key].json,
        )
        self.attempts[node.id] = attempt
        return attempt

    def _task(self, node: TaskNode, fused: Sequence[TaskNode] = ()) -> StepTask:
        spec = self.graph.specs[node.key]
        config = self.graph.configs.get(node.key)
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
                    read = read | reads_of(self.graph, node.key, up, index, self.context)
                keys = tuple(definition.key(i) for i in read)
            inputs.append((param, str(up), keys))
        return StepTask(
            task_id=node.id,
            run_id=self.run_.run_id,
            asset_key=str(node.key),
            partitions=node.partitions,
            inputs=tuple(inputs),
            time_window=window,
            failures_dir=self.failures_dir,
            code_version=self._versions_of(node.key).code_version,
            is_full_rewrite=node.key in self.full_rewrites,
            config=None if config is None else config.json,
            siblings=tuple((str(n.key), n.key in self.full_rewrites) for n in fused),
        )

    def _on_task_outcome(self, task: StepTask, outcome: Sequence[StepResult]) -> None:
        """A task's results, to the node of each asset it computed."""
        node = self.running.pop(task.task_id)
        fused = self.fused.pop(task.task_id, [])
        if not fused:
            self._on_outcome(node, outcome)
            return
        by_key: dict[AssetKey, list[StepResult]] = {}
        for result in outcome:
            by_key.setdefault(result.key, []).append(result)
        for member in (node, *fused):
            self.running.pop(member.id, None)
            found = by_key.get(member.key)
            if not found:  # the task failed before it could say: fail it the same way
                error = next((r.failure.message for r in outcome if r.failure), "no result")
                found = list(failed_steps(member.key, member.partitions, error))
            self._on_outcome(member, found)

    def _release(self, node: TaskNode) -> None:
        if node.id in self.pooled:
            self.pooled.discard(node.id)
            for pool in node.pools:
                self.in_use[pool] -= 1

    def _on_outcome(self, node: TaskNode, outcome: Sequence[StepResult]) -> None:
        self._release(node)
        node.attempt += 1
        attempt = self.attempts.get(node.id)
        if all(r.status is StepStatus.SUCCEEDED for r in outcome):
            self._finish(node, attempt, outcome)
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
            if attempt is not None:
                self.hooks.step_retried(self.run_.info, attempt, outcome, wait_s)
            self.last_failure[node.id] = outcome
            heapq.heappush(self.retry_at, (time.monotonic() + wait_s, node.id))
            return
        self._finish(node, attempt, outcome)
        blocked = sorted({c.name for r in outcome for c in r.checks if c.blocks})
        what = f"failed check {', '.join(map(repr, blocked))}" if blocked else "failed"
        for skipped, reason in downstream_of(self.nodes, node, what):
            self._finish(
                skipped,
                None,
                [_skipped(skipped.key, p, reason) for p in skipped.partitions or (None,)],
            )

    def _finish(
        self, node: TaskNode, attempt: StepAttempt | None, outcome: Sequence[StepResult]
    ) -> None:
        """Journal a node's final outcome (tell the hooks first: what they journal
        lands in the same write); the nodes that only follow it may start."""
        with self.run_.gathered():
            self._finished(node, attempt, outcome)

    def _finished(
        self, node: TaskNode, attempt: StepAttempt | None, outcome: Sequence[StepResult]
    ) -> None:
        node.done = True
        self._release_followers(node, outcome)
        self.hooks.step_finished(self.run_.info, attempt, outcome)
        records: list[Record] = []
        stored = [r for r in outcome if r.stored is not None]
        seq = self.run_.seq() if stored or any(r.checks for r in outcome) else None
        for result in outcome:
            materialization = None
            if result.stored is not None:
                assert attempt is not None  # a stored output came from a dispatched attempt
                self.versions[(str(node.key), result.partition or "")] = result.stored.data_version
                versions = self._versions_of(node.key)
                materialization = {
                    "io": versions.io,
                    "code_version": versions.code_version,
                    "inputs_signature": versions.inputs_signature,
                    "provenance": attempt.provenance.get(result.partition),
                    "started_seq": node.started_seq,
                    "user_name": self.run_.user_name,
                    "host": self.run_.host,
                    "git_commit": self.run_.git_commit,
                    "code_parts": versions.code_parts,
                    "config": versions.config,
                }
            records += result_records(
                self.run_.run_id,
                result,
                attempts=node.attempt,
                materialization=materialization,
                seq=seq,
                log_seq=self.log_seq,
            )
        self.run_.append_soon(*records)  # outputs are synced; the record follows within moments
        self.results.extend(outcome)

    def _versions_of(self, key: AssetKey) -> _Versions:
        """What each materialization of `key` in this run records of its code (the same
        for all of them: worked out once)."""
        found = self._versions.get(key)
        if found is None:
            spec = self.graph.specs[key]
            config = self.graph.configs.get(key)
            found = self._versions[key] = _Versions(
                io=self.io_for(key).kind,
                code_version=code_version(spec),
                code_parts=code_parts_json(spec),
                inputs_signature=inputs_signature(self.graph, key),
                config=None if config is None else config.json,
            )
        return found

    def _release_followers(self, node: TaskNode, outcome: Sequence[StepResult]) -> None:
        """Start the nodes that follow this one (`build_nodes`), or, when it stored
        nothing, hand them to the next node of its asset still to do: they need
        some partition of it stored, not this one."""
        if not node.followers:
            return
        if not any(r.stored is not None for r in outcome):
            heir = next(
                (n for n in self.nodes[node.id + 1 :] if n.key == node.key and not n.done), None
            )
            if heir is not None:
                heir.followers += node.followers
                node.followers = []
                return
        for follower_id in node.followers:
            follower = self.nodes[follower_id]
            follower.waiting -= 1
            if follower.waiting == 0 and not follower.done:
                heapq.heappush(self.ready, (follower.priority, follower_id))
        node.followers = []

    def _journal_retry(self, outcome: Sequence[StepResult], attempt: int, wait_s: float) -> None:
        """Keep a failed attempt's logs and error with the step, then say it is retried."""
        records: list[Record] = []
        for result in outcome:
            logs = [*result.logs, retry_log(attempt, result.message, wait_s)]
            records += log_records(self.run_.run_id, result.step_key, logs, self.log_seq)
        self.run_.append(*records)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Versions:
    """What a run records of an asset's code with each of its materializations."""

    io: str
    code_version: str
    code_parts: str | None
    inputs_signature: str
    config: str | None


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


def prefetch_versions(
    read: Callable[[list[tuple[str, str]]], Mapping[tuple[str, str], str]],
    wanted: list[tuple[str, str]],
) -> dict[tuple[str, str], str]:
    """The current data versions of what a run will read; none when the store is held
    (a run never waits for, nor fails on, a held store: provenance then counts the
    input versions it could not know)."""
    try:
        return dict(read(wanted))
    except StateLockedError:
        return {}
