"""Where steps run: one registry of executor names, which the configuration, the
CLI's choices and this factory all read (`assay.config.EXECUTORS`).

    in_process     the coordinator's own thread, one step at a time (the default)
    multiprocess   a pool of spawned worker processes (`in_process.py`, `multiprocess.py`)
    dask           a Dask cluster: a LocalCluster for the run, or one at an address

To add one: a module here with a class that has the `Executor` protocol's
`slots`, `submit`, `wait` and `close`, its name in `config.EXECUTORS`, and its
factory in `_FACTORIES` below.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assay.config import EXECUTORS
from assay.errors import ConfigError
from assay.execution.executors.base import Executor, Outcome, StepTask, failed_steps

if TYPE_CHECKING:
    from assay.config import ProjectConfig
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.keys import AssetKey

__all__ = [
    "EXECUTORS",
    "Executor",
    "ExecutorChoice",
    "Outcome",
    "StepTask",
    "choose_executor",
    "failed_steps",
    "make_executor",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class ExecutorChoice:
    """Which executor a run uses, with how many workers and which Dask scheduler."""

    name: str
    workers: int | None = None
    dask_address: str | None = None


def choose_executor(
    config: ProjectConfig,
    executor: str | None = None,
    workers: int | None = None,
    dask_address: str | None = None,
) -> ExecutorChoice:
    """The arguments, else the configuration (`ASSAY_EXECUTOR`, `[tool.assay]`), else
    `dask` when an address is given, `multiprocess` when workers are, `in_process`.

    Raises:
        ConfigError: an unknown name, or a worker count below 1.
    """
    if executor is None:
        if dask_address is not None:
            executor = "dask"
        elif config.executor is not None:
            executor = config.executor
        else:
            executor = "multiprocess" if workers else "in_process"
    if executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}: use one of {', '.join(EXECUTORS)}")
    if workers is not None and workers < 1:
        raise ConfigError(f"--workers {workers}: give at least 1")
    address = (dask_address or config.dask_address) if executor == "dask" else None
    return ExecutorChoice(name=executor, workers=workers or config.workers, dask_address=address)


def make_executor(
    choice: ExecutorChoice,
    *,
    config: ProjectConfig,
    graph: AssetGraph,
    io_for: Callable[[AssetKey], IOManager],
) -> Executor:
    """The executor a choice names, ready to take tasks.

    Raises:
        ConfigError: Dask is not installed.
        ExecutorError: the Dask scheduler at the address cannot be reached.
    """
    return _FACTORIES[choice.name](choice, config, graph, io_for)


def _workers(choice: ExecutorChoice) -> int:
    return choice.workers or os.cpu_count() or 1


Factory = Callable[
    [ExecutorChoice, "ProjectConfig", "AssetGraph", "Callable[[AssetKey], IOManager]"], Executor
]


def _in_process(
    choice: ExecutorChoice,
    config: ProjectConfig,
    graph: AssetGraph,
    io_for: Callable[[AssetKey], IOManager],
) -> Executor:
    from assay.execution.executors.in_process import InProcessExecutor

    return InProcessExecutor(graph, io_for)


def _multiprocess(
    choice: ExecutorChoice,
    config: ProjectConfig,
    graph: AssetGraph,
    io_for: Callable[[AssetKey], IOManager],
) -> Executor:
    from assay.execution.executors.multiprocess import MultiprocessExecutor

    return MultiprocessExecutor(config, _workers(choice))


def _dask(
    choice: ExecutorChoice,
    config: ProjectConfig,
    graph: AssetGraph,
    io_for: Callable[[AssetKey], IOManager],
) -> Executor:
    from assay.execution.executors.dask import DaskExecutor  # imports distributed when made

    return DaskExecutor(config, address=choice.dask_address, workers=_workers(choice))


# each executor's module is imported when a run chooses it
_FACTORIES: dict[str, Factory] = {
    "in_process": _in_process,
    "multiprocess": _multiprocess,
    "dask": _dask,
}
assert tuple(_FACTORIES) == EXECUTORS, "an executor is missing from config.EXECUTORS"
