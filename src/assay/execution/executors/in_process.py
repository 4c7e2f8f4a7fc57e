"""The in-process executor: each task on the coordinator's own thread, one at a time.

A step's new output files are in place when it returns but not yet fsynced
(`assay.io.atomic.deferred_syncs`): a thread of the executor's syncs them while
the next task runs, and the step's results reach the coordinator, which records
them, only once its files are durable. So the wait for the disk overlaps the
next step's work instead of adding to it, and no record ever refers to bytes a
power cut could lose. The executor has two slots for that: the task running and
the one before it whose files are syncing.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
from collections import deque
from typing import TYPE_CHECKING

from assay.execution.executors.worker import run_task
from assay.io.atomic import PendingSyncs, deferred_syncs
from assay.results import StepError, StepStatus

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from assay.execution.executors.base import Outcome, StepTask
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.keys import AssetKey
    from assay.results import StepResult


class InProcessExecutor:
    """Runs each task on the coordinator's own thread, one at a time; the next one
    runs while the files of the one before are synced (see the module docstring)."""

    name = "in_process"

    def __init__(self, graph: AssetGraph, io_for: Callable[[AssetKey], IOManager]) -> None:
        self.graph = graph
        self.io_for = io_for
        self._queue: deque[StepTask] = deque()
        self._syncing: deque[tuple[StepTask, tuple[StepResult, ...], _Sync | None]] = deque()

    @property
    def slots(self) -> int:
        return 2  # one running, one syncing its files

    def submit(self, task: StepTask) -> None:
        self._queue.append(task)

    def wait(self, timeout_s: float) -> list[Outcome]:
        if self._queue:
            task = self._queue.popleft()
            with deferred_syncs() as pending:
                results = run_task(task, self.graph, self.io_for)
            self._syncing.append((task, results, _Sync(pending) if pending.files else None))
        done: list[Outcome] = []
        while self._syncing:
            task, results, sync = self._syncing[0]
            if sync is not None and (self._queue or (done and not sync.is_done())):
                break  # run the next task meanwhile (or let the coordinator give one)
            self._syncing.popleft()
            done.append((task, results if sync is None else _after(results, sync.wait())))
        return done

    def close(self, *, cancel: bool = False) -> None:
        """Forget queued tasks; files still syncing are synced (their outcomes are
        not reported: those new files are unrecorded, as if the process had died)."""
        self._queue.clear()
        while self._syncing:
            _, _, sync = self._syncing.popleft()
            if sync is not None:
                sync.wait()


class _Sync:
    """One task's pending syncs, done in order by the executor's sync thread."""

    _queue: queue.SimpleQueue[_Sync] | None = None
    _lock = threading.Lock()

    def __init__(self, pending: PendingSyncs) -> None:
        self.pending = pending
        self.failed: dict[Path, OSError] = {}
        self._done = threading.Event()
        _Sync._thread_queue().put(self)

    @classmethod
    def _thread_queue(cls) -> queue.SimpleQueue[_Sync]:
        """The queue of the process's sync thread, started on first use (one for
        every executor: the syncs of one disk go one after another anyway)."""
        with cls._lock:
            if cls._queue is None:
                cls._queue = queue.SimpleQueue()
                threading.Thread(
                    target=_sync_forever, args=(cls._queue,), name="assay-output-sync", daemon=True
                ).start()
            return cls._queue

    def is_done(self) -> bool:
        return self._done.is_set()

    def wait(self) -> dict[Path, OSError]:
        """The files whose fsync failed (removed), once every one is done."""
        self._done.wait()
        return self.failed


def _forget_in_child() -> None:
    """A forked child has no sync thread: its first sync starts one of its own."""
    _Sync._queue = None
    _Sync._lock = threading.Lock()


os.register_at_fork(after_in_child=_forget_in_child)


def _sync_forever(work: queue.SimpleQueue[_Sync]) -> None:
    while True:
        sync = work.get()
        try:
            sync.failed = sync.pending.sync()
        finally:
            sync._done.set()


def _after(results: tuple[StepResult, ...], failed: dict[Path, OSError]) -> tuple[StepResult, ...]:
    """The results, those whose file could not be made durable failed with why."""
    if not failed:
        return results
    by_location = {str(path): exc for path, exc in failed.items()}
    out = []
    for result in results:
        location = result.stored.location if result.stored is not None else ""
        exc = by_location.get(location)
        if exc is None:
            out.append(result)
            continue
        message = (
            f"could not store the output: {exc.strerror or exc} ({location}); "
            "free some space or fix the disk and run it again"
        )
        out.append(
            dataclasses.replace(
                result, status=StepStatus.FAILED, stored=None, failure=StepError(message=message)
            )
        )
    return tuple(out)
