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
from typing import TYPE_CHECKING, Any

from assay.definitions import load_definitions
from assay.errors import AssayError, ConfigError
from assay.execution.executors.base import failed_results
from assay.execution.step import StepInput, StepOutput, execute_step
from assay.keys import AssetKey
from assay.partitions.mapping import IdentityMapping, LastPartitionMapping
from assay.resources import ResourceScope
from assay.run_config import from_json
from assay.versioning import code_version

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

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
    if any(AssetKey.parse(sibling) not in graph.specs for sibling, _ in task.siblings):
        return failed_results(task, _other_code(task, code_version(spec)))
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
    try:
        extra = _resources(task, graph.resources.get(key, ()), io_for)
        if spec.config_type is not None:
            extra["config"] = _config(spec.config_type, task.config, graph, key)
    except Exception as exc:
        shown = str(exc) if isinstance(exc, AssayError) else f"{type(exc).__name__}: {exc}"
        return failed_results(task, shown)
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
        extra=extra,
        resources=lambda name: _resources(task, (name,), io_for)[name],
        siblings=[
            StepOutput(
                spec=graph.specs[sibling],
                io=io_for(sibling),
                checks=graph.checks.get(sibling, ()),
                is_full_rewrite=whole,
            )
            for sibling, whole in ((AssetKey.parse(k), w) for k, w in task.siblings)
        ],
    )


# --- resources and configuration, per process ----------------------------------------

_SCOPES: dict[str, ResourceScope] = {}  # run id -> the resources built for it here
_SCOPES_LOCK = threading.Lock()
_KEPT_SCOPES = 4  # runs sharing a long-lived worker (a Dask cluster): the latest few


def _resources(
    task: StepTask, names: tuple[str, ...], io_for: Callable[[AssetKey], IOManager]
) -> dict[str, Any]:
    """The resources a step receives, built in this process for its run."""
    if not names:
        return {}
    declared: Mapping[str, Any] = getattr(io_for, "resources", {})
    with _SCOPES_LOCK:
        scope = _SCOPES.get(task.run_id)
        if scope is None:
            if not _SCOPES:
                _at_exit(close_all_resources)
            while len(_SCOPES) >= _KEPT_SCOPES:
                _report(_SCOPES.pop(next(iter(_SCOPES))).close())
            bind = getattr(io_for, "bound", None)
            scope = _SCOPES[task.run_id] = ResourceScope(
                declared, task.run_id, bind=bind if callable(bind) else None
            )
    return {name: scope.get(name) for name in names}


def close_resources(run_id: str) -> list[str]:
    """Tear down the resources this process built for a run (its end); the failures."""
    with _SCOPES_LOCK:
        scope = _SCOPES.pop(run_id, None)
    return [] if scope is None else scope.close()


def close_all_resources() -> None:
    """Tear down every resource this process built (it is exiting)."""
    with _SCOPES_LOCK:
        scopes = list(_SCOPES.values())
        _SCOPES.clear()
    for scope in scopes:
        _report(scope.close())


def _at_exit(function: Callable[[], None]) -> None:
    """Call `function` when this process exits: a script's, or a pool or Dask worker's
    (multiprocessing's children exit without running `atexit`)."""
    import atexit
    import multiprocessing.util

    atexit.register(function)
    multiprocessing.util.Finalize(None, function, exitpriority=10)


def _report(failures: list[str]) -> None:
    import logging

    for failure in failures:
        logging.getLogger("assay.resources").warning(failure)


_CONFIGS: dict[tuple[type, str], Any] = {}


def _config(cls: type, text: str | None, graph: AssetGraph, key: AssetKey) -> Any:
    """The asset's configuration for this step: from the task (the run's), else the
    graph's (an in-process run is given its configured graph)."""
    found = graph.configs.get(key)
    if text is None or (found is not None and found.json == text):
        if found is None:
            raise ConfigError(f"asset {str(key)!r} was given no configuration")
        return found.value  # the run's own value, in the coordinator's process
    cached = _CONFIGS.get((cls, text))
    if cached is None:
        if len(_CONFIGS) > 256:
            _CONFIGS.clear()
        cached = _CONFIGS[(cls, text)] = from_json(cls, text)
    return cached


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
