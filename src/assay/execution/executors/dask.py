"""The Dask executor: steps run on a Dask distributed cluster.

A thin adapter. The coordinator schedules (dependencies, retries, pools,
batches) exactly as for the other executors; this only ships `StepTask`s to
the cluster and hands back their `StepResult`s. Workers load the project's
definitions themselves, once per run, read inputs from and write outputs to
storage, and build their steps' lineage; the coordinator alone writes the
state store. Without an address, a `LocalCluster` of worker processes (one
thread each) is started for the run and closed after it.

A Dask task costs ~2 ms of scheduler and client work in bulk, ~10 ms as a round
trip: more than a small step. So on the LocalCluster it starts, the executor
ships the steps submitted while the workers are busy as *bundles*, several
steps in one Dask task, run in order; each step's results come back as a Dask
event the moment it ends (and again with the bundle's result, should an event be
late), so the coordinator journals every step as it completes. A worker that dies
fails its bundles at once (the cluster is made with `allowed-failures: 0`): the
steps they had not reported are shipped again, and a step that was running when
its worker died is counted, to fail after as many deaths as Dask would allow
(`distributed.scheduler.allowed-failures`, 3). A cluster at an address gets one
step per Dask task, as its own configuration handles worker deaths (it would run
a whole bundle again, its reported steps too).

`distributed` is imported only here, and only when the dask executor is chosen.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import itertools
import logging
import math
import pickle
import signal
import sys
import threading
import time
import uuid
from dataclasses import dataclass
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
BUNDLE_MAX = 8  # steps in one Dask task, at most
QUEUED_PER_THREAD = 8  # steps the coordinator may hand over per worker thread (bundled)
LOW_WATER_PER_THREAD = 3  # bundle what waits once the cluster has fewer left per thread
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
        self._running: dict[str, tuple[Future[Any], tuple[StepTask, ...]]] = {}
        # bundling (the LocalCluster started here): steps waiting to be shipped, steps
        # shipped and not reported (task id -> task, bundle key), step results that
        # came as events, bundles that began, deaths each step was running at
        self._pending: collections.deque[StepTask] = collections.deque()
        self._unreported: dict[int, tuple[StepTask, str]] = {}
        self._events: collections.deque[Any] = collections.deque()
        self._begun: set[str] = set()
        self._deaths: collections.Counter[int] = collections.Counter()
        self._blamed: set[str] = set()  # dead workers whose running step was counted
        self._bundles = itertools.count()
        self._allowed_deaths = 3
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
            # Bundled, each step's results come as an event: a bundle's value is
            # fetched (a round trip) only when some of its events did not come
            self._completed = distributed.as_completed(
                loop=self._client.loop, with_results=not self.is_bundling, raise_errors=False
            )
            self._topic = f"assay-steps-{uuid.uuid4().hex}"
            if self.is_bundling:
                self._client.subscribe_topic(self._topic, self._on_event)
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
        import dask

        self._allowed_deaths = int(dask.config.get("distributed.scheduler.allowed-failures"))
        try:
            with _sigint_ignored(), dask.config.set(_LOCAL_CLUSTER_CONFIG):
                # (spawned workers inherit SIGINT's disposition: Ctrl-C is the coordinator's)
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
    def is_bundling(self) -> bool:
        """Whether steps travel several to a Dask task (on the LocalCluster started here)."""
        return self._cluster is not None

    @property
    def slots(self) -> int:
        # Every worker thread runs one task and has more queued: a Dask round trip
        # (~10 ms) is longer than a small step, and no worker should idle while its
        # next task travels; bundled, the queue is deeper, so that bundles fill.
        # The count is refreshed every few seconds: a cluster may scale.
        clock = time.monotonic()
        if clock - self._threads_at > 2.0:
            self._threads_at = clock
            workers = self._client.scheduler_info().get("workers", {})
            self._threads = sum(int(w.get("nthreads", 1)) for w in workers.values())
        return max(self._threads, 1) * (QUEUED_PER_THREAD if self.is_bundling else 4)

    def submit(self, task: StepTask) -> None:
        self._check_scheduler()
        if self.is_bundling:
            self._pending.append(task)
        else:
            self._ship((task,))

    def _ship(self, tasks: tuple[StepTask, ...]) -> None:
        """One Dask task running `tasks` in order (key: the first one's)."""
        first = tasks[0]
        key = f"assay-{first.asset_key.replace('/', '.')}-{first.run_id[:8]}-{first.task_id}"
        key += f"-{next(self._bundles)}" if self.is_bundling else ""
        topic = self._topic if self.is_bundling else None
        future = self._client.submit(
            _run_on_worker, self.config, tasks, topic, key=key, pure=False, retries=0
        )
        self._running[key] = (future, tasks)
        self._unreported.update((task.task_id, (task, key)) for task in tasks)
        self._completed.add(future)

    def _flush(self) -> None:
        """Bundle the waiting steps once the cluster runs low: in as many bundles as
        there are worker threads, of up to BUNDLE_MAX steps each."""
        threads = max(self._threads, 1)
        shipped = len(self._unreported)
        if not self._pending or shipped >= threads * LOW_WATER_PER_THREAD:
            return
        size = min(BUNDLE_MAX, math.ceil(len(self._pending) / threads))
        while self._pending:
            count = min(size, len(self._pending))
            self._ship(tuple(self._pending.popleft() for _ in range(count)))

    def _on_event(self, event: tuple[float, Any]) -> None:
        """A worker's message (on the client's event loop): wake the coordinator."""
        with self._completed.thread_condition:
            self._events.append(event[1])
            self._completed.thread_condition.notify_all()

    def wait(self, timeout_s: float) -> list[Outcome]:
        if not self._running and not self._pending:
            return []
        self._flush()
        # Results are fetched by the client's event loop as tasks finish, many at
        # once, not by this thread one round trip at a time.
        completed = self._completed
        deadline = time.monotonic() + timeout_s
        with completed.thread_condition:
            while (
                not completed.has_ready()
                and not self._events
                and (left := deadline - time.monotonic()) > 0
            ):
                completed.thread_condition.wait(left)
        batch = completed.next_batch(block=False) if completed.has_ready() else []
        # (after the batch: a bundle's events reach the client before its end does)
        outcomes = self._reported()
        killed: list[_Killed] = []
        for item in batch:
            future, result = item if isinstance(item, tuple) else (item, None)
            pair = self._running.pop(str(future.key), None)
            if pair is not None:
                if result is None and any(t.task_id in self._unreported for t in pair[1]):
                    result = _value(future)  # an event missing: the bundle's own value
                outcomes += self._outcomes(future, pair[1], result, killed)
        outcomes += self._killed(killed)
        if not outcomes:
            self._check_scheduler()
        return outcomes

    def _reported(self) -> list[Outcome]:
        """The steps that workers said they finished, since the last call."""
        outcomes: list[Outcome] = []
        while self._events:
            message = self._events.popleft()
            if "begun" in message:
                self._begun.add(message["begun"])
                continue
            shipped = self._unreported.pop(message["task"], None)
            if shipped is not None:
                outcomes.append((shipped[0], pickle.loads(message["results"])))
        return outcomes

    def _outcomes(
        self, future: Future[Any], tasks: tuple[StepTask, ...], result: Any, killed: list[_Killed]
    ) -> list[Outcome]:
        """The outcomes of a bundle's steps not reported yet; none when the connection
        to the scheduler was lost, or when its worker died (added to `killed`)."""
        left = [task for task in tasks if task.task_id in self._unreported]
        for task in left:
            del self._unreported[task.task_id]
        key = str(future.key)
        begun = key in self._begun
        self._begun.discard(key)
        if not left and (future.status == "finished" or result is None):
            return []  # every step reported by its event
        if future.status == "finished" or _are_results(result):
            # (results that arrive as a worker holding them dies are still results)
            found = dict(result)
            return [(task, found[task.task_id]) for task in left]
        if future.status == "cancelled":  # the scheduler forgot it: it restarted or died
            self._lost = "the connection closed and its tasks were canceled"
            return []
        exc = result[1] if isinstance(result, tuple) and len(result) == 3 else result
        if type(exc).__name__ == "KilledWorker":
            worker = str(getattr(getattr(exc, "last_worker", None), "address", ""))
            shipped = int(key.rsplit("-", 1)[1]) if self.is_bundling else 0
            killed.append(_Killed(tasks=left, has_begun=begun, worker=worker, shipped=shipped))
            return []
        if type(exc).__name__ == "CommClosedError" or isinstance(exc, OSError):
            self._lost = _reason(exc)
            return []
        # the steps did not run: the worker could not unpickle the task, say
        return [
            (task, failed_results(task, f"the Dask worker failed: {_reason(exc)}")) for task in left
        ]

    def _killed(self, killed: list[_Killed]) -> list[Outcome]:
        """Bundles whose worker died. The step that was running is blamed (the first one
        not reported of the bundle that had begun, else of the one shipped first: a
        worker runs its bundles in order) and fails once it has killed too many
        workers; every other step is shipped again. A cluster at an address retried
        its one step itself."""
        outcomes: list[Outcome] = []
        retry: list[StepTask] = []
        for bundle in sorted(killed, key=lambda b: (not b.has_begun, b.shipped)):
            left = bundle.tasks
            if left and (not self.is_bundling or bundle.worker not in self._blamed):
                self._blamed.add(bundle.worker)
                self._deaths[left[0].task_id] += 1
                if not self.is_bundling or self._deaths[left[0].task_id] > self._allowed_deaths:
                    outcomes.append((left[0], failed_results(left[0], WORKER_KILLED)))
                    left = left[1:]
            retry += left
        self._pending.extendleft(reversed(retry))
        return outcomes

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
        self._pending.clear()
        self._unreported.clear()
        with contextlib.suppress(Exception):  # the client of a dead scheduler, say
            if futures and cancel:
                self._client.cancel(futures, force=True)
            self._client.close(timeout=5)
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close(timeout=10)
            self._cluster = None
        _restore(self._log_levels)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Killed:
    """A bundle whose worker died: its steps not reported, whether it had begun."""

    tasks: list[StepTask]
    has_begun: bool
    worker: str  # its address
    shipped: int  # the how-manieth bundle


# Our own LocalCluster: bundles queue on the workers, not the scheduler (no worker
# idles while its next bundle travels); a worker's death fails its bundles at once,
# the executor ships their steps again (Dask would run the reported ones again too);
# the workers do not sample themselves every 10 ms for a dashboard nobody sees, nor
# check their event loop's health every 20 ms, their memory every 100 ms or the
# host every 500 ms (each a wake-up of every process: on a small machine, CPU the
# steps lack); memory limits still hold, checked each second.
_LOCAL_CLUSTER_CONFIG = {
    "distributed.scheduler.allowed-failures": 0,
    "distributed.scheduler.worker-saturation": math.inf,
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.memory.monitor-interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.admin.system-monitor.gil.enabled": False,
}


def _value(future: Future[Any]) -> Any:
    """A finished future's value, or its error (as `as_completed` gives them)."""
    try:
        return future.result(timeout=CONNECT_TIMEOUT_S)
    except Exception as exc:
        return exc


def _are_results(value: Any) -> bool:
    """Whether a bundle's value is its steps' results: (task id, results) pairs."""
    return (
        isinstance(value, tuple)
        and bool(value)
        and all(
            isinstance(item, tuple)
            and len(item) == 2
            and all(isinstance(r, StepResult) for r in item[1])
            for item in value
        )
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


def _run_on_worker(
    config: ProjectConfig, tasks: tuple[StepTask, ...], topic: str | None
) -> tuple[tuple[int, tuple[StepResult, ...]], ...]:
    """A bundle of tasks, in order, on a worker: the definitions are loaded once per
    run and process. With a topic, each task's results are sent as an event as soon
    as it ends; all of them are the bundle's value too."""
    tell = None
    if topic is not None:
        from distributed import get_worker

        worker = get_worker()
        tell = functools.partial(worker.log_event, topic)
        tell({"begun": worker.get_current_task()})
    done = []
    for task in tasks:
        loaded = _definitions(config, task.run_id)
        if isinstance(loaded, str):
            results = failed_results(task, loaded)
        else:
            results = run_task(task, *loaded)
        if tell is not None:
            tell({"task": task.task_id, "results": pickle.dumps(results)})
        done.append((task.task_id, results))
    return tuple(done)


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
