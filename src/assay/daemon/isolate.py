"""User code of schedules and sensors, evaluated in a forked process of its own:
one that hangs past its timeout is killed and its tick recorded failed, while the
daemon's loop goes on with everything else. The process dies with the daemon (on
Linux): a forked process shares the daemon's open files, `<home>/daemon.lock`
among them, and an orphan would keep a restarted daemon out until it ended."""

from __future__ import annotations

import contextlib
import functools
import multiprocessing
import os
import signal
import sys
import time
import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable
    from multiprocessing.connection import Connection
    from multiprocessing.process import BaseProcess


@dataclass(slots=True)
class Evaluation:
    """A function running in a child process, until it answers or its deadline."""

    name: str
    process: BaseProcess
    conn: Connection
    deadline: float
    payload: Any  # what the caller needs when it answers
    started: float

    def poll(self) -> tuple[bool, Any, str | None]:
        """(done, value, error): done once it answered, died or timed out."""
        try:
            ready = self.conn.poll()
        except (EOFError, OSError):
            ready = True
        if ready:
            try:
                ok, value = self.conn.recv()
            except (EOFError, OSError):
                self._reap()
                return True, None, f"its process died (exit code {self.process.exitcode})"
            self._reap()
            return (True, value, None) if ok else (True, None, str(value))
        if not self.process.is_alive():
            self._reap()
            return True, None, f"its process died (exit code {self.process.exitcode})"
        if time.monotonic() > self.deadline:
            self.kill()
            limit = self.deadline - self.started
            return True, None, f"timed out after {limit:.0f} s; its process was killed"
        return False, None, None

    def kill(self) -> None:
        if self.process.is_alive() and self.process.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
        self._reap()

    def _reap(self) -> None:
        self.process.join(timeout=5)
        self.conn.close()


def start(
    name: str, fn: Callable[[Any], Any], argument: Any, *, timeout_s: float, payload: Any = None
) -> Evaluation:
    """Fork a process that calls `fn(argument)` and sends back its value (or the
    one-line reason it raised)."""
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    _death_signal()  # looked up here, so that the child does not import ctypes
    process = context.Process(
        target=_child, args=(send, fn, argument, os.getpid()), daemon=True, name=name
    )
    process.start()
    send.close()
    now = time.monotonic()
    return Evaluation(
        name=name,
        process=process,
        conn=receive,
        deadline=now + timeout_s,
        payload=payload,
        started=now,
    )


def _child(conn: Connection, fn: Callable[[Any], Any], argument: Any, parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    die_with_parent = _death_signal()
    if die_with_parent is not None:
        die_with_parent()
        if os.getppid() != parent:  # it died before the signal was asked for
            os._exit(1)
    try:
        value = fn(argument)
        conn.send((True, value))
    except BaseException as exc:
        frames = traceback.extract_tb(exc.__traceback__)
        where = next(
            (
                f" ({f.filename}:{f.lineno})"
                for f in reversed(frames)
                if "/assay/" not in f.filename
            ),
            "",
        )
        text = str(exc).splitlines()[0] if str(exc) else ""
        conn.send((False, f"{type(exc).__name__}: {text}{where}"[:500]))
    finally:
        conn.close()
        os._exit(0)


@functools.cache
def _death_signal() -> Callable[[], None] | None:
    """A function that makes the calling process get SIGKILL when its parent dies
    (Linux's prctl(PR_SET_PDEATHSIG)); None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def ask() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)

    return ask
