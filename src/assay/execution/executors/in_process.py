"""The in-process executor: each task on the coordinator's own thread, one at a time."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.execution.executors.worker import run_task

if TYPE_CHECKING:
    from collections.abc import Callable

    from assay.execution.executors.base import Outcome, StepTask
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.keys import AssetKey


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
