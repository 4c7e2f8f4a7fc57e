"""The Dask executor: steps run on a Dask distributed cluster.

A thin adapter. The coordinator schedules (dependencies, retries, pools,
batches) exactly as for the other executors; this only ships each `StepTask`
to the cluster and hands back its `StepResult`s. Workers load the project's
definitions themselves, once per run, read inputs from and write outputs to
storage, and build their steps' lineage; the coordinator alone writes the
state store. Without an address, a `LocalCluster` of worker processes (one
thread each) is started for the run and closed after it.

`distributed` is imported only here, and only when the dask executor is chosen.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from assay.errors import ConfigError, ExecutorError
from assay.execution.executors.base import failed_results
from assay.execution.executors.worker import load_for_worker, run_task
from assay.results import StepResult

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from distributed import Client, Future

    from assay.config import ProjectConfig
    from assay.execution.executors.base import Outcome, StepTask
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.keys import AssetKey

CONNECT_TIMEOUT_S = 10.0
WORKER_KILLED = (
    "the Dask worker running this step died (killed, or out of memory), "
    "and so did the workers it was retried on"
)


class DaskExecutor:
    """Runs tasks on a Dask cluster: the one at `address`, else a LocalCluster of
    `workers` processes started here."""

    name = "dask"

    def __init__(self, config: ProjectConfig, *, address: str | None, workers: int) -> None:
        self.config = config
        self.address = address
        self.workers = workers
        self._cluster: Any = None
        self._running: dict[str, tuple[Future[Any], StepTask]] = {}
        self._threads = 0
        self._threads_at = 0.0
        self._lost: str | None = None  # why the scheduler is unusable
        try:
            import distributed  # (it configures its logger when imported)
        except ImportError as exc:
            raise ConfigError(
                f"--executor dask needs Dask distributed ({exc}): pip install 'assay[dask]'"
            ) from None
        # Dask logs a lost scheduler, a dead worker and each retry of it at length;
        # the run reports each of them in one line, so Dask's log stays quiet meanwhile;
        # so do tornado's and asyncio's, where the client's event loop reports a callback
        # that failed on a closed connection ("Exception in callback ...", a traceback).
        self._log_levels = {
            **_silence("distributed"),
            **_silence("tornado"),
            **_silence("asyncio"),
        }
        try:
            self._client = self._connect()
            self._completed = distributed.as_completed(
                loop=self._client.loop, with_results=True, raise_errors=False
            )
        except BaseException:
            _restore(self._log_levels)
            raise

    def _connect(self) -> Client:
        from distributed import Client, LocalCluster

        if self.address is not None:
            # a scheduler's address, or the file `dask scheduler --scheduler-file` writes
            is_file = "://" not in self.address and self.address.endswith(".json")
            if not is_file:
                _check_address(self.address)
            try:
                if is_file:
                    return Client(
                        scheduler_file=self.address, timeout=CONNECT_TIMEOUT_S, set_as_default=False
                    )
                return Client(self.address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
            except (OSError, TimeoutError) as exc:
                raise ExecutorError(
                    f"cannot reach the Dask scheduler at {self.address} ({_reason(exc)}): "
                    "start it (`dask scheduler`), or leave out --dask-address to run on a "
                    "LocalCluster"
                ) from None
            except ValueError as exc:  # a malformed address
                raise ConfigError(f"--dask-address {self.address}: {exc}") from None
        try:
            with _sigint_ignored():  # spawned workers inherit it: Ctrl-C is the coordinator's
                self._cluster = LocalCluster(
                    n_workers=self.workers,
                    threads_per_worker=1,
                    processes=True,
                    # None still binds the default 8787: a second run at once would fail
                    dashboard_address=":0",
                    silence_logs=logging.CRITICAL,
                )
        except Exception as exc:
            main = sys.modules.get("__main__")
            hint = (
                "; a script that starts a run on a LocalCluster must do it under "
                "`if __name__ == '__main__':` (each worker process imports the script)"
                if getattr(main, "__file__", None) and getattr(main, "__spec__", None) is None
                else ""
            )
            raise ExecutorError(
                f"could not start a Dask LocalCluster: {_reason(exc)}{hint}"
            ) from None
        return Client(self._cluster, set_as_default=False)

    @property
    def cluster_address(self) -> str:
        scheduler = getattr(self._client, "scheduler", None)
        return str(getattr(scheduler, "address", "") or self.address or "")

    @property
    def slots(self) -> int:
        # Every worker thread runs one task and has three more queued: a Dask round
        # trip (~10 ms) is longer than a small step, and no worker should idle
        # while its next task travels. The count is refreshed every few seconds:
        # a cluster may scale.
        clock = time.monotonic()
        if clock - self._threads_at > 2.0:
            self._threads_at = clock
            workers = self._client.scheduler_info().get("workers", {})
            self._threads = sum(int(w.get("nthreads", 1)) for w in workers.values())
        return max(self._threads, 1) * 4

    def submit(self, task: StepTask) -> None:
        self._check_scheduler()
        key = f"assay-{task.asset_key.replace('/', '.')}-{task.run_id[:8]}-{task.task_id}"
        future = self._client.submit(
            _run_on_worker, self.config, task, key=key, pure=False, retries=0
        )
        self._running[key] = (future, task)
        self._completed.add(future)

    def wait(self, timeout_s: float) -> list[Outcome]:
        if not self._running:
            return []
        # Results are fetched by the client's event loop as tasks finish, many at
        # once, not by this thread one round trip at a time.
        completed = self._completed
        deadline = time.monotonic() + timeout_s
        with completed.thread_condition:
            while not completed.has_ready() and (left := deadline - time.monotonic()) > 0:
                completed.thread_condition.wait(left)
        outcomes: list[Outcome] = []
        for future, result in completed.next_batch(block=False) if completed.has_ready() else ():
            pair = self._running.pop(str(future.key), None)
            if pair is not None:
                outcome = self._outcome(future, pair[1], result)
                if outcome is not None:
                    outcomes.append(outcome)
        if not outcomes:
            self._check_scheduler()
        return outcomes

    def _outcome(self, future: Future[Any], task: StepTask, result: Any) -> Outcome | None:
        """The task's results; None when the connection to the scheduler was lost."""
        if future.status == "finished" or _are_results(result):
            # (results that arrive as a worker holding them dies are still results)
            return task, result
        if future.status == "cancelled":  # the scheduler forgot it: it restarted or died
            self._lost = "the connection closed and its tasks were canceled"
            return None
        exc = result[1] if isinstance(result, tuple) and len(result) == 3 else result
        if type(exc).__name__ == "KilledWorker":
            return task, failed_results(task, WORKER_KILLED)
        if type(exc).__name__ == "CommClosedError" or isinstance(exc, OSError):
            self._lost = _reason(exc)
            return None
        # the step did not run: the worker could not unpickle the task, say
        return task, failed_results(task, f"the Dask worker failed: {_reason(exc)}")

    def _check_scheduler(self) -> None:
        """Raise ExecutorError once the scheduler is gone: the run ends, and a backfill
        can be resumed later."""
        status = str(getattr(self._client.status, "value", self._client.status))
        if self._lost is None and status not in ("running", "newly-created"):
            self._lost = f"the client is {status}"
        if self._lost is not None:
            raise ExecutorError(
                f"lost the Dask scheduler at {self.cluster_address or self.address}: it stopped, "
                f"or the network failed ({self._lost})"
            )

    def close(self, *, cancel: bool = False) -> None:
        futures = [future for future, _ in self._running.values()]
        self._running.clear()
        with contextlib.suppress(Exception):  # the client of a dead scheduler, say
            if futures and cancel:
                self._client.cancel(futures, force=True)
            self._client.close(timeout=5)
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close(timeout=10)
            self._cluster = None
        _restore(self._log_levels)


def _are_results(value: Any) -> bool:
    return (
        isinstance(value, tuple)
        and bool(value)
        and all(isinstance(item, StepResult) for item in value)
    )


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _silence(prefix: str) -> dict[str, int]:
    """Silence every logger under `prefix` (a child's own level decides, not its
    parent's); return their levels to restore."""
    manager = logging.getLogger().manager
    names = [prefix] + [n for n in list(manager.loggerDict) if n.startswith(prefix + ".")]
    levels = {}
    for name in names:
        logger = logging.getLogger(name)
        levels[name] = logger.level
        logger.setLevel(logging.CRITICAL + 1)
    return levels


def _restore(levels: dict[str, int]) -> None:
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)


def _reason(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


# --- on a Dask worker ----------------------------------------------------------------

_LOADED: dict[tuple[Any, ...], tuple[AssetGraph, Callable[[AssetKey], IOManager]] | str] = {}
_LOADING = threading.Lock()


def _run_on_worker(config: ProjectConfig, task: StepTask) -> tuple[StepResult, ...]:
    """One task, on a worker: the definitions are loaded once per run and process."""
    loaded = _definitions(config, task.run_id)
    if isinstance(loaded, str):
        return failed_results(task, loaded)
    graph, io_for = loaded
    return run_task(task, graph, io_for)


def _definitions(
    config: ProjectConfig, run_id: str
) -> tuple[AssetGraph, Callable[[AssetKey], IOManager]] | str:
    # Once per run, not once per process: a long-lived worker of a cluster sees the
    # project's code as it is now (a changed module is reloaded), not as it was.
    key = (config.root, config.module, config.file, config.home, run_id)
    with _LOADING:
        if key not in _LOADED:
            if len(_LOADED) >= 4:  # runs sharing the cluster: keep the latest few
                _LOADED.pop(next(iter(_LOADED)))
            _LOADED[key] = load_for_worker(config, "the Dask worker")
        return _LOADED[key]


def _check_address(address: str) -> None:
    """Refuse a malformed scheduler address before a Client is made of it: a Client
    that fails to parse its address still waits out its timeout when collected."""
    from distributed.comm.addressing import get_address_host_port

    try:
        get_address_host_port(address)
    except ValueError as exc:
        raise ConfigError(
            f"--dask-address {address!r} is not a scheduler address ({exc}): give one like "
            "'tcp://host:8786', or the JSON file of `dask scheduler --scheduler-file`"
        ) from None
