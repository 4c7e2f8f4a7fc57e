"""What every executor is: tasks in, results out. The coordinator decides which
tasks and when; an executor only runs them.

A `StepTask` is plain data (picklable), so any executor can ship it to another
process or machine, where `worker.run_task` runs it against the definitions that
worker loaded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from assay.keys import AssetKey
from assay.results import StepError, StepResult, StepStatus

if TYPE_CHECKING:
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
    code_version: str | None = None  # the coordinator's; a worker with other code refuses
    is_full_rewrite: bool = False  # the run writes every partition of the asset
    config: str | None = None  # the asset's configuration, as recorded (JSON)
    # the other outputs of a @multi_asset this call computes: (key, is_full_rewrite)
    siblings: tuple[tuple[str, bool], ...] = ()


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


def failed_results(task: StepTask, error: str) -> tuple[StepResult, ...]:
    """The task's partitions, failed with `error` (the task did not report back), for
    each asset it computes."""
    keys = [task.asset_key, *(key for key, _ in task.siblings)]
    return tuple(
        result
        for key in keys
        for result in failed_steps(AssetKey.parse(key), task.partitions, error)
    )


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
            failure=StepError(message=error),
        )
        for partition in (partitions or (None,))
    )
