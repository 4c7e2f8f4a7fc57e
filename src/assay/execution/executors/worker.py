"""The worker side of every executor: load the project once, run tasks against it.

In the coordinator's own process (`in_process`), in a spawned pool worker
(`multiprocess`) or on a Dask worker, a task runs through `run_task`: it checks
that the worker has the code the coordinator planned with, loads the inputs
through the IO managers, calls the asset and returns its `StepResult`s. Workers
never touch the state store.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from assay.definitions import load_definitions
from assay.execution.executors.base import failed_results
from assay.execution.step import StepInput, execute_step
from assay.keys import AssetKey
from assay.partitions.mapping import IdentityMapping, LastPartitionMapping
from assay.versioning import code_version

if TYPE_CHECKING:
    from collections.abc import Callable

    from assay.config import ProjectConfig
    from assay.execution.executors.base import StepTask
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.results import StepResult

Loaded = tuple["AssetGraph", "Callable[[AssetKey], IOManager]"]


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
        mapping = graph.mappings.get(key, {}).get(up)
        inputs[param] = StepInput(
            key=up,
            io=io_for(up),
            kind=spec.input_kinds[param],
            partitions=partitions,
            is_single=isinstance(mapping, IdentityMapping | LastPartitionMapping),
        )
    return execute_step(
        spec,
        run_id=task.run_id,
        partitions=task.partitions,
        inputs=inputs,
        io=io_for(key),
        time_window=task.time_window,
        checks=graph.checks.get(key, ()),
        failures_dir=None if task.failures_dir is None else Path(task.failures_dir),
        is_full_rewrite=task.is_full_rewrite,
    )


def _other_code(task: StepTask, found: str | None) -> str:
    have = "no such asset" if found is None else f"code version {found}"
    return (
        f"the worker has other code for asset {task.asset_key!r} ({have}; the run planned "
        f"code version {task.code_version}): give every worker the project's current code"
    )


def load_for_worker(config: ProjectConfig, who: str) -> Loaded | str:
    """The graph and IO managers a worker runs tasks with; when the project cannot be
    loaded, the reason, which each of its tasks then reports (so the user sees it per
    step)."""
    try:
        definitions = load_definitions(config)
    except Exception as exc:
        return f"{who} could not load the project: {type(exc).__name__}: {exc}"
    return definitions.graph, definitions.io_resolver(config)


# --- in a process-pool worker --------------------------------------------------------

_WORKER: Loaded | str | None = None


def init_pool_worker(config: ProjectConfig, parent_pid: int) -> None:
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


def run_in_pool_worker(task: StepTask) -> tuple[StepResult, ...]:
    if isinstance(_WORKER, str) or _WORKER is None:
        return failed_results(task, _WORKER or "the worker was not initialized")
    graph, io_for = _WORKER
    return run_task(task, graph, io_for)
