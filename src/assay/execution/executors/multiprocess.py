"""The multiprocess executor: a pool of `spawn`ed worker processes.

A `fork`ed child deadlocks in polars once the parent has used polars
(DESIGN.md), so workers are spawned; each loads the project's definitions once.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from assay.execution.executors.base import WORKER_DIED, failed_results
from assay.execution.executors.worker import init_pool_worker, run_in_pool_worker

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

    from assay.config import ProjectConfig
    from assay.execution.executors.base import Outcome, StepTask
    from assay.results import StepResult


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
                initializer=init_pool_worker,
                initargs=(self.config, os.getpid()),
            )
        return self._pool

    def submit(self, task: StepTask) -> None:
        from concurrent.futures.process import BrokenProcessPool

        try:
            future = self._ensure_pool().submit(run_in_pool_worker, task)
        except BrokenProcessPool:
            self._replace_pool()
            future = self._ensure_pool().submit(run_in_pool_worker, task)
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
