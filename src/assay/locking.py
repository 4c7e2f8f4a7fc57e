"""OS file locks beside DuckDB files, so DuckDB's own lock is never contended.

Every process that opens a DuckDB file assay owns first takes a lock on
`<file>.lock`: exclusive to write, shared to read. A process that waits too
long names who holds the lock now, read from the kernel's own table of locks
(`/proc/locks`), not whoever held it last.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING

from assay.errors import StateError, StateLockedError

if TYPE_CHECKING:
    from collections.abc import Iterator

_DUCKDB_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


class ReadOnlyError(StateError):
    """The folder of a DuckDB file cannot be written, so it cannot be locked to write."""


@contextlib.contextmanager
def file_lock(db_path: Path, *, exclusive: bool, timeout_s: float) -> Iterator[None]:
    """Hold the OS lock beside `db_path` for the length of the block.

    A shared lock on a folder that cannot be written is taken on the existing
    lock file opened read-only, or not at all when there is none (nobody can
    write there either).

    Raises:
        StateLockedError: the lock was not free within `timeout_s`.
        ReadOnlyError: an exclusive lock was asked in a folder that cannot be written.
    """
    path = lock_path_for(db_path)
    fd = _open_lock(path, exclusive=exclusive)
    if fd is None:
        yield
        return
    mode = fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH
    deadline = time.monotonic() + timeout_s
    delay_s = 0.001
    try:
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StateLockedError(
                        f"{db_path} is busy: {holders_of(path)} has held it for over "
                        f"{timeout_s:g} s. Wait for it to finish, or stop it if it is stuck."
                    ) from None
                time.sleep(delay_s)
                delay_s = min(delay_s * 2, 0.02)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _open_lock(path: Path, *, exclusive: bool) -> int | None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        if exc.errno not in _READ_ONLY:
            raise StateError(
                f"cannot use {path}: {exc.strerror or exc}. Check the state folder "
                "(ASSAY_HOME or [tool.assay] home)."
            ) from exc
        if exclusive:
            raise ReadOnlyError(
                f"{path.parent} cannot be written ({exc.strerror}): give assay a writable "
                "state folder (ASSAY_HOME or [tool.assay] home)"
            ) from exc
    try:
        return os.open(path, os.O_RDONLY)
    except OSError:
        return None


def holders_of(lock_file: Path) -> str:
    """Who holds the OS lock on `lock_file` now: `assay (PID 4242)`, or, where the
    kernel does not say (no /proc), `another process (unknown)`."""
    try:
        found = os.stat(lock_file)
        table = Path("/proc/locks").read_text()
    except OSError:
        return "another process (unknown)"
    device = f"{os.major(found.st_dev):02x}:{os.minor(found.st_dev):02x}:{found.st_ino}"
    pids = []
    for line in table.splitlines():
        fields = line.split()
        # "1: FLOCK  ADVISORY  WRITE 4242 fe:00:2269584 0 EOF" ("->" marks a waiter)
        if (
            len(fields) >= 6
            and fields[1] == "FLOCK"
            and fields[5] == device
            and fields[4].isdigit()
        ):
            pids.append(int(fields[4]))
    if not pids:
        return "another process (unknown)"
    return ", ".join(f"{_program(pid)} (PID {pid})" for pid in sorted(set(pids)))


def _program(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "a process"
    words = [Path(a.decode(errors="replace")).name for a in argv if a][:3]
    return " ".join(words) or "a process"


def foreign_holder(exc: BaseException) -> str | None:
    """`'python3.11 (PID 123)'` when a DuckDB error says another process holds the file."""
    match = _DUCKDB_HOLDER.search(str(exc))
    if match is None:
        return None
    return f"{Path(match.group('program')).name} (PID {match.group('pid')})"
