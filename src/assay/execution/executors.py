"""Executors: where steps run. The coordinator schedules; an executor only runs tasks.

A `StepTask` is plain data (picklable), so any executor can ship it: the
in-process executor runs it on the coordinator's thread, the multiprocess
executor in a pool of `spawn`ed workers (a `fork`ed child deadlocks in polars,
DESIGN.md). Workers load the project's definitions themselves, read inputs and
write outputs through the IO managers, and return `StepResult`s; they never
touch the state store.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from assay.config import EXECUTORS
from assay.execution.step import (
    StepInput,
    StepResult,
    StepStatus,
    describe_exception,
    execute_step,
)
from assay.keys import AssetKey
from assay.versioning import code_version

if TYPE_CHECKING:
    from collections.abc import Callable
    from concurrent.futures import Future, ProcessPoolExecutor

    from assay.config import ProjectConfig
    from assay.definitions import Definitions
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.lineage.events import StepLineage
    from assay.partitions.time_window import TimeWindow

WORKER_DIED = "the worker process running this step died (killed, or out of memory)"


@dataclass(frozen=True, slots=True, kw_only=True)
class StepTask:
    """One call of an asset function, as plain data a worker process can receive."""

    task_id: int
    run_id: str
    asset_key: str
    partitions: tuple[str, ...] | None  # None: unpartitioned; several: a batch
    inputs: tuple[tuple[str, str, tuple[str, ...] | None], ...]  # param, upstream, partitions
    time_window: TimeWindow | None = None
    failures_dir: str | None = None  # where failed schema cases are kept
    lineage: tuple[StepLineage, ...] | None = None  # per partition; None: lineage is off
    code_version: str | None = None  # the coordinator's; a worker with other code refuses


class IOResolver:
    """Each asset's IO manager, bound to the project once (its own, the default, or Parquet)."""

    def __init__(self, definitions: Definitions, config: ProjectConfig) -> None:
        self.definitions = definitions
        self.config = config
        self._bound: dict[int, IOManager] = {}

    def __call__(self, key: AssetKey) -> IOManager:
        chosen = self.definitions.graph.specs[key].io or self.definitions.io
        slot = 0 if chosen is None else id(chosen)
        if slot not in self._bound:
            if chosen is None:
                from assay.io.parquet import ParquetIO

                chosen = ParquetIO()
            self._bound[slot] = chosen.bind(self.config)
        return self._bound[slot]


def run_task(
    task: StepTask, graph: AssetGraph, io_for: Callable[[AssetKey], IOManager]
) -> tuple[StepResult, ...]:
    """Run one task against loaded definitions: the body of every executor."""
    key = AssetKey.parse(task.asset_key)
    spec = graph.specs.get(key)
    if spec is None or (task.code_version and code_version(spec) != task.code_version):
        return failed_results(task, _other_code(task, None if spec is None else code_version(spec)))
    inputs = {}
    for param, upstream, partitions in task.inputs:
        up = AssetKey.parse(upstream)
        inputs[param] = StepInput(
            key=up, io=io_for(up), kind=spec.input_kinds[param], partitions=partitions
        )
    results = execute_step(
        spec,
        run_id=task.run_id,
        partitions=task.partitions,
        inputs=inputs,
        io=io_for(key),
        time_window=task.time_window,
        checks=graph.checks.get(key, ()),
        failures_dir=None if task.failures_dir is None else Path(task.failures_dir),
    )
    if task.lineage is None:
        return results
    plans = {plan.partition: plan for plan in task.lineage}
    return tuple(_with_lineage(result, plans[result.partition]) for result in results)


def _other_code(task: StepTask, found: str | None) -> str:
    have = "no such asset" if found is None else f"code version {found}"
    return (
        f"the worker has other code for asset {task.asset_key!r} ({have}; the run planned "
        f"code version {task.code_version}): give every worker the project's current code"
    )


def _with_lineage(result: StepResult, plan: StepLineage) -> StepResult:
    """The result with its terminal event and its checks' run, built here, where it ran."""
    from assay.lineage.events import check_events, step_end

    try:
        events = [step_end(plan, result)]
        checked = plan.output
        if result.stored is not None:
            checked = replace(checked, version=result.stored.data_version)
        events += check_events(
            plan.job, checked, plan.partition, result.checks, plan.parent, plan.root
        )
    except Exception as exc:  # emission never changes a step's outcome
        return replace(result, lineage_error=describe_exception(exc))
    return replace(result, lineage=tuple(events))


def failed_results(task: StepTask, error: str) -> tuple[StepResult, ...]:
    """The task's partitions, failed with `error` (the task did not report back)."""
    return failed_steps(AssetKey.parse(task.asset_key), task.partitions, error)


def failed_steps(
    key: AssetKey, partitions: tuple[str, ...] | None, error: str
) -> tuple[StepResult, ...]:
    """Each partition (None: the unpartitioned asset) failed now with `error`."""
    now = time.time()
    return tuple(
        StepResult(
            key=key,
            partition=partition,
            status=StepStatus.FAILED,
            started_at=now,
            finished_at=now,
            error=error,
        )
        for partition in (partitions or (None,))
    )


def load_for_worker(
    config: ProjectConfig, who: str
) -> tuple[AssetGraph, Callable[[AssetKey], IOManager]] | str:
    """The graph and IO managers a worker runs tasks with; when the project cannot be
    loaded, the reason, which each of its tasks then reports (so the user sees it per
    step)."""
    try:
        from assay.definitions import load_definitions

        definitions = load_definitions(config)
    except Exception as exc:
        return f"{who} could not load the project: {type(exc).__name__}: {exc}"
    return definitions.graph, IOResolver(definitions, config)


Outcome = tuple[StepTask, tuple[StepResult, ...]]


class Executor(Protocol):
    """Runs tasks; the coordinator decides which and when."""

    name: str

    @property
    def slots(self) -> int:
        """How many tasks may run at once."""
        ...

    def submit(self, task: StepTask) -> None: ...

    def wait(self, timeout_s: float) -> list[Outcome]:
        """Tasks finished since the last call, waiting up to `timeout_s` for one."""
        ...

    def close(self, *, cancel: bool = False) -> None:
        """Release workers; with `cancel`, stop running tasks now."""
        ...


class InProcessExecutor:
    """Runs each task on the coordinator's own thread, one at a time."""

    name = "in_process"

    def __init__(self, graph: AssetGraph, io_for: Callable[[AssetKey], IOManager]) -> None:
        self.graph = graph
        self.io_for = io_for
        self._queue: list[StepTask] = []

    @property
    def slots(self) -> int:
        return 1

    def submit(self, task: StepTask) -> None:
        self._queue.append(task)

    def wait(self, timeout_s: float) -> list[Outcome]:
        if not self._queue:
            return []
        task = self._queue.pop(0)
        return [(task, run_task(task, self.graph, self.io_for))]

    def close(self, *, cancel: bool = False) -> None:
        self._queue.clear()


class MultiprocessExecutor:
    """A pool of `workers` spawned processes, each with the project's definitions loaded."""

    name = "multiprocess"

    def __init__(self, config: ProjectConfig, workers: int) -> None:
        self.config = config
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        self._running: dict[Future[tuple[StepResult, ...]], StepTask] = {}

    @property
    def slots(self) -> int:
        # One task queued per worker beyond the one it runs, so that no worker
        # idles while the coordinator journals the result it just returned.
        return self.workers * 2

    def _ensure_pool(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.config, os.getpid()),
            )
        return self._pool

    def submit(self, task: StepTask) -> None:
        from concurrent.futures.process import BrokenProcessPool

        try:
            future = self._ensure_pool().submit(_run_in_worker, task)
        except BrokenProcessPool:
            self._replace_pool()
            future = self._ensure_pool().submit(_run_in_worker, task)
        self._running[future] = task

    def wait(self, timeout_s: float) -> list[Outcome]:
        from concurrent.futures import FIRST_COMPLETED
        from concurrent.futures import wait as wait_futures
        from concurrent.futures.process import BrokenProcessPool

        if not self._running:
            return []
        done, _ = wait_futures(self._running, timeout=timeout_s, return_when=FIRST_COMPLETED)
        outcomes: list[Outcome] = []
        broken = False
        for future in done:
            task = self._running.pop(future)
            try:
                outcomes.append((task, future.result()))
            except BrokenProcessPool:
                broken = True
                outcomes.append((task, failed_results(task, WORKER_DIED)))
            except Exception as exc:  # a result that could not be pickled, say
                outcomes.append((task, failed_results(task, f"{type(exc).__name__}: {exc}")))
        if broken:
            self._replace_pool()
        return outcomes

    def _replace_pool(self) -> None:
        """A dead worker breaks the whole pool: fail what ran in it and start a new one."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None

    def close(self, *, cancel: bool = False) -> None:
        if self._pool is None:
            return
        if cancel:
            for process in list(getattr(self._pool, "_processes", {}).values()):
                process.terminate()
        self._pool.shutdown(wait=True, cancel_futures=cancel)
        self._pool = None
        self._running.clear()


def make_executor(
    name: str,
    *,
    workers: int | None,
    config: ProjectConfig,
    graph: AssetGraph,
    io_for: Callable[[AssetKey], IOManager],
    dask_address: str | None = None,
) -> Executor:
    """The executor called `name` (`in_process`, `multiprocess` or `dask`).

    Raises:
        ConfigError: an unknown name, a bad worker count, or Dask is not installed.
        ExecutorError: the Dask scheduler at `dask_address` cannot be reached.
    """
    from assay.errors import ConfigError

    if name not in EXECUTORS:
        raise ConfigError(f"unknown executor {name!r}: use one of {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers}: give at least 1")
    if name == "in_process":
        return InProcessExecutor(graph, io_for)
    count = workers or os.cpu_count() or 1
    if name == "multiprocess":
        return MultiprocessExecutor(config, count)
    from assay.execution.dask_executor import DaskExecutor

    return DaskExecutor(config, address=dask_address, workers=count)


# --- inside a worker process ---------------------------------------------------------

_WORKER: tuple[AssetGraph, Callable[[AssetKey], IOManager]] | str | None = None


def _init_worker(config: ProjectConfig, parent_pid: int) -> None:
    """Load the definitions once per worker; exit if the coordinator goes away."""
    global _WORKER
    # Ctrl-C reaches the whole process group: the coordinator decides, workers finish.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    _WORKER = load_for_worker(config, "the worker")


def _watch_parent(parent_pid: int) -> None:
    """A killed coordinator must not leave workers behind (they would hold no lock,
    but they would keep writing outputs nobody records)."""
    while True:
        time.sleep(0.5)
        if os.getppid() != parent_pid:
            os._exit(3)


def _run_in_worker(task: StepTask) -> tuple[StepResult, ...]:
    if isinstance(_WORKER, str) or _WORKER is None:
        return failed_results(task, _WORKER or "the worker was not initialized")
    graph, io_for = _WORKER
    return run_task(task, graph, io_for)
