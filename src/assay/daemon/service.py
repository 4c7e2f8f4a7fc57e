"""The daemon process: one per state home, a heartbeat, reloads, a clean stop.

It holds an OS lock on `<home>/daemon.lock` for its life (a second daemon, or an
`assay tick`, is refused and told which process holds it), writes its heartbeat
to `<home>/daemon.json` about once a second (`assay daemon status`, `assay
daemon check --max-age 30s`), reloads the definitions when a file of the project
changes (a module that fails to import keeps the previous definitions running,
says so and alerts), and on SIGTERM or SIGINT stops evaluating and exits: the
runs it launched go on in their own processes.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from assay.daemon.engine import Engine, TickReport
from assay.daemon.launching import alive
from assay.errors import AssayError, StateError
from assay.version import __version__

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from assay.config import ProjectConfig
    from assay.daemon.clock import Clock
    from assay.definitions import Definitions

_log = logging.getLogger("assay.daemon")

LOCK = "daemon.lock"
HEARTBEAT = "daemon.json"
HEARTBEAT_EVERY_S = 1.0
RELOAD_CHECK_S = 1.0
STATE_CHECK_S = 2.0


class DaemonRunningError(StateError):
    """Another process evaluates this state home's schedules."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonStatus:
    """What `<home>/daemon.json` says, and whether its process still holds the lock."""

    running: bool
    pid: int | None
    session: str | None
    started_at: datetime | None
    heartbeat_at: datetime | None
    version: str | None
    schedules: int
    sensors: int
    queued: int
    launched: int
    definitions_error: str | None

    def age_s(self, now: datetime | None = None) -> float | None:
        if self.heartbeat_at is None:
            return None
        return ((now or datetime.now(UTC)) - self.heartbeat_at).total_seconds()


def daemon_status(home: Path) -> DaemonStatus:
    """The daemon of `home`, as its heartbeat file and its lock say."""
    data: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        data = json.loads((home / HEARTBEAT).read_text(encoding="utf-8"))
    running = _lock_is_held(home / LOCK)

    def when(name: str) -> datetime | None:
        value = data.get(name)
        return datetime.fromtimestamp(float(value), UTC) if value is not None else None

    return DaemonStatus(
        running=running,
        pid=data.get("pid"),
        session=data.get("session"),
        started_at=when("started_at"),
        heartbeat_at=when("heartbeat_at"),
        version=data.get("version"),
        schedules=int(data.get("schedules", 0)),
        sensors=int(data.get("sensors", 0)),
        queued=int(data.get("queued", 0)),
        launched=int(data.get("launched", 0)),
        definitions_error=data.get("definitions_error"),
    )


@contextlib.contextmanager
def evaluator_lock(home: Path, what: str) -> Iterator[None]:
    """Hold `<home>/daemon.lock` for the block: one evaluator per state home.

    Raises:
        DaemonRunningError: another process holds it (named, with how to stop it).
    """
    home.mkdir(parents=True, exist_ok=True)
    path = home / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise StateError(
            f"cannot open {path}: {exc.strerror or exc}; give assay a writable home"
        ) from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            raise DaemonRunningError(
                f"cannot start {what}: a daemon already runs for {home} ({holder}); "
                "stop it first (kill -TERM its pid), or let it evaluate the schedules"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}, {what}".encode(), 0)
        yield
    finally:
        os.close(fd)


def _lock_is_held(path: Path) -> bool:
    from assay.state.journal import is_abandoned

    return path.exists() and not is_abandoned(path)


class Daemon:
    """Evaluates a project's schedules and sensors and launches what they request.

    `load` returns the project's definitions (called again when its files change);
    `clock` is the system's unless a test gives its own.
    """

    def __init__(
        self,
        config: ProjectConfig,
        load: Callable[[], Definitions],
        *,
        clock: Clock | None = None,
        max_concurrent_runs: int = 10,
        alert: Callable[[str, str, str, str], None] | None = None,
    ) -> None:
        from assay.daemon.clock import SystemClock

        self.config = config
        self.load = load
        self.clock = clock or SystemClock()
        self.max_concurrent_runs = max_concurrent_runs
        self.alert = alert
        self.session = f"daemon-{uuid.uuid4().hex[:12]}"
        self._stop = False
        self._files: dict[str, int] = {}
        self._definitions_error: str | None = None

    def stop(self, *_: object) -> None:
        self._stop = True

    def _engine(self, session: str) -> Engine:
        definitions = self.load()
        self._files = _project_files(self.config)
        return Engine(
            self.config,
            definitions,
            clock=self.clock,
            session=session,
            max_concurrent_runs=self.max_concurrent_runs,
            alert=self.alert,
        )

    def tick(self, *, wait: bool = False) -> TickReport:
        """One evaluation of every schedule, sensor and condition (what is due now by the
        clock), its requests launched, then return (`assay tick`); `wait`: once the
        runs it launched have ended."""
        session = f"tick-{uuid.uuid4().hex[:12]}"
        with evaluator_lock(self.config.home, "assay tick"):
            engine = self._engine(session)
            try:
                engine.load_state()
                report = TickReport()
                engine.evaluate_due()
                engine.collect(wait=True)
                engine.launch_queued(report)
                report.queued = len(engine.queue)
                while wait and any(alive(*proc) for proc in engine.launched.values()):
                    time.sleep(0.05)
                report.ticks = [
                    {"name": name, "status": known.status} for name, known in engine.known.items()
                ]
                return report
            finally:
                engine.close(clean=True)

    def run(self, *, install_signals: bool = True) -> None:
        """Evaluate until stopped (SIGTERM, SIGINT, or `stop()`)."""
        if install_signals:
            signal.signal(signal.SIGTERM, self.stop)
            signal.signal(signal.SIGINT, self.stop)
        with evaluator_lock(self.config.home, f"daemon {self.session}"):
            engine = self._engine(self.session)
            started = time.time()
            clean = False
            try:
                engine.load_state()
                _log.info(
                    "daemon %s: %d schedule(s) and sensor(s) for %s",
                    self.session,
                    len(engine.automation),
                    self.config.home,
                )
                self._loop(engine, started)
                clean = True
            finally:
                engine.close(clean=clean)
                self._heartbeat(engine, started, stopped=True)

    def _loop(self, engine: Engine, started: float) -> None:
        from assay.heap import LongLivedHeap

        last_beat = last_reload = last_state = 0.0
        journal_mtime = _mtime(self.config.journal_dir)
        heap = LongLivedHeap()
        try:
            heap.renew()  # the definitions: kept until a reload
            full_at = engine.conditions.last_full
            while not self._stop:
                now = time.monotonic()
                if now - last_reload >= RELOAD_CHECK_S:
                    last_reload = now
                    if self._reload_if_changed(engine):
                        heap.renew()
                if now - last_state >= STATE_CHECK_S:
                    mtime = _mtime(self.config.journal_dir)
                    if mtime != journal_mtime:
                        journal_mtime = mtime
                        last_state = now
                        engine.refresh_enabled()
                engine.collect()
                engine.evaluate_due()
                engine.collect()
                engine.launch_queued()
                if engine.conditions.last_full != full_at:  # a full evaluation: kept anew
                    full_at = engine.conditions.last_full
                    heap.renew()
                else:
                    heap.keep()
                if now - last_beat >= HEARTBEAT_EVERY_S:
                    last_beat = now
                    self._heartbeat(engine, started)
                engine.clock.sleep(min(engine.next_wakeup(engine.clock.now()), 1.0))
        finally:
            heap.close()

    def _reload_if_changed(self, engine: Engine) -> bool:
        """Whether the project's files changed (a reload was tried: what the old
        definitions, or a failed import, leave is garbage)."""
        if _stat_all(self._files) == self._files:
            return False
        _forget_project_modules(self.config)
        try:
            definitions = self.load()
            engine.use(definitions)
            self._files = _project_files(self.config)
        except (AssayError, Exception) as exc:
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            message = f"the definitions failed to load, the previous ones keep running: {first}"
            _log.error("%s", message)
            if self._definitions_error != first:
                engine.alert(
                    "definitions_failed",
                    f"definitions_failed:{hash(first)}",
                    "assay: the definitions failed to load",
                    message,
                )
            self._definitions_error = first
            self._files = _stat_all(self._files)  # try again when they change again
            return True
        if self._definitions_error is not None:
            _log.info("the definitions load again")
        self._definitions_error = None
        _log.info("definitions reloaded: %d schedule(s) and sensor(s)", len(engine.automation))
        return True

    def _heartbeat(self, engine: Engine, started: float, *, stopped: bool = False) -> None:
        from assay.automation.schedules import Schedule

        data = {
            "pid": os.getpid(),
            "session": self.session,
            "started_at": started,
            "heartbeat_at": time.time(),
            "version": __version__,
            "clock": engine.clock.now().isoformat(),
            "schedules": sum(isinstance(i, Schedule) for i in engine.automation.values()),
            "sensors": sum(not isinstance(i, Schedule) for i in engine.automation.values()),
            "conditions": len(engine.conditions.conditions),
            "queued": len(engine.queue),
            "launched": len(engine.launched),
            "definitions_error": self._definitions_error,
            "stopped": stopped,
        }
        path = self.config.home / HEARTBEAT
        temporary = path.with_name(f".{HEARTBEAT}.{os.getpid()}")
        try:
            temporary.write_text(json.dumps(data), encoding="utf-8")
            os.replace(temporary, path)
        except OSError as exc:
            _log.warning("cannot write the heartbeat %s: %s", path, exc.strerror or exc)


def _project_files(config: ProjectConfig) -> dict[str, int]:
    """The modification times of the project's imported Python files."""
    from assay.versioning.sources import in_project

    roots = [config.root.resolve()]
    if config.file is not None:
        roots.append(config.file.resolve().parent)
    found = {}
    for module in list(sys.modules.values()):
        origin = getattr(module, "__file__", None)
        if origin and any(in_project(origin, root) for root in roots):
            with contextlib.suppress(OSError):
                found[origin] = os.stat(origin).st_mtime_ns
    return found


def _stat_all(files: dict[str, int]) -> dict[str, int]:
    found = {}
    for path in files:
        with contextlib.suppress(OSError):
            found[path] = os.stat(path).st_mtime_ns
    return found


def _forget_project_modules(config: ProjectConfig) -> None:
    """Drop the project's modules from the import cache, so the next load reads them
    again (helpers included, not only the module that has the Definitions)."""
    from assay.versioning.sources import in_project

    roots = [config.root.resolve()]
    if config.file is not None:
        roots.append(config.file.resolve().parent)
    for name, module in list(sys.modules.items()):
        origin = getattr(module, "__file__", None)
        if origin and any(in_project(origin, root) for root in roots):
            del sys.modules[name]


def _mtime(path: Path) -> int:
    try:
        return os.stat(path).st_mtime_ns + sum(
            os.stat(path / "done").st_mtime_ns for _ in [0] if (path / "done").exists()
        )
    except OSError:
        return 0
