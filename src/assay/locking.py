"""OS file locks beside DuckDB files, so DuckDB's own lock is never contended.

Every process that opens a DuckDB file assay owns first takes a lock on
`<file>.lock`: exclusive to write, shared to read. The exclusive holder writes
its PID and program into the lock file so a waiting process can say who it is.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from assay.errors import StateLockedError

if TYPE_CHECKING:
    from collections.abc import Iterator

_DUCKDB_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


@contextlib.contextmanager
def file_lock(db_path: Path, *, exclusive: bool, timeout_s: float) -> Iterator[None]:
    """Hold the OS lock beside `db_path` for the length of the block.

    Raises:
        StateLockedError: the lock was not free within `timeout_s`.
    """
    path = lock_path_for(db_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
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
                        f"{db_path} is busy: {_last_holder(path)} has held it for over "
                        f"{timeout_s:g} s. Wait for it to finish, or stop it if it is stuck."
                    ) from None
                time.sleep(delay_s)
                delay_s = min(delay_s * 2, 0.02)
        if exclusive:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()} {Path(sys.argv[0]).name}\n".encode(), 0)
        yield
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def _last_holder(lock_file: Path) -> str:
    try:
        pid, _, program = lock_file.read_text().strip().partition(" ")
    except OSError:
        return "another process"
    return f"{program or 'a process'} (PID {pid})" if pid else "another process"


def foreign_holder(exc: BaseException) -> str | None:
    """`'python3.11 (PID 123)'` when a DuckDB error says another process holds the file."""
    match = _DUCKDB_HOLDER.search(str(exc))
    if match is None:
        return None
    return f"{Path(match.group('program')).name} (PID {match.group('pid')})"
