"""Atomic file writes: a temporary file, then a rename; and sweeping what a kill left.

A write goes to a temporary file in a scratch folder (ParquetIO: `<root>/.assay-tmp/`,
outside every asset's folder, so no glob over an asset's storage ever sees it, and
on the same filesystem, so the rename is atomic), and is renamed over the target
once complete. While it is written its writer holds an OS lock on it (`flock`,
released by the kernel when the writer dies), so a sweep deletes only temporary
files whose writer is gone: never a live writer's.

A complete file is fsynced before it is renamed over its target, so that a
target is never replaced by bytes a power cut could lose. One exception saves
the fsync's wait on the writer's thread: inside `deferred_syncs()` (the
in-process executor runs each step in one), a write that may be deferred and
whose target does not exist yet is linked into place at once and its fsync is
left to whoever holds the `PendingSyncs` (a thread of the executor's), who must
not record the file as stored before `sync()` says it is durable. Until then
nothing refers to the new file: if the process dies, it is a partition stored
without a record (missing to the planner, written again by the next run); if the
fsync fails, the file is removed.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

SCRATCH_DIR = ".assay-tmp"  # no asset key segment starts with '.'
SUFFIX = ".tmp"
# A temporary file is left alone this long after its last write, whatever its lock
# says: a writer creates its file and locks it in the same moment, never later.
SWEEP_AFTER_S = 60.0
# Where no lock can be taken (a filesystem without flock), only age tells: a day.
UNLOCKABLE_SWEEP_AFTER_S = 86_400.0


@dataclass(slots=True)
class PendingSyncs:
    """New files in place whose fsync is still to come (see the module docstring)."""

    files: list[tuple[int, Path]] = field(default_factory=list)  # open descriptor, path

    def sync(self) -> dict[Path, OSError]:
        """fsync and close every file; those that failed are removed, with why."""
        failed: dict[Path, OSError] = {}
        files, self.files = self.files, []
        for fd, path in files:
            try:
                os.fsync(fd)
            except OSError as exc:
                failed[path] = exc
                _remove_if_same(path, fd)
            finally:
                os.close(fd)
        return failed


_deferring = threading.local()


@contextlib.contextmanager
def deferred_syncs() -> Iterator[PendingSyncs]:
    """Within the block, this thread's deferrable writes of new files leave their
    fsync to the `PendingSyncs` it yields (see the module docstring)."""
    pending = PendingSyncs()
    outer = getattr(_deferring, "pending", None)
    _deferring.pending = pending
    try:
        yield pending
    finally:
        _deferring.pending = outer


def _remove_if_same(path: Path, fd: int) -> None:
    """Remove `path` if it is still the file open as `fd`."""
    with contextlib.suppress(OSError):
        if os.stat(path).st_ino == os.fstat(fd).st_ino:
            os.unlink(path)


@contextlib.contextmanager
def atomic_path(
    final: Path, *, scratch: Path | None = None, may_defer: bool = False
) -> Iterator[Path]:
    """Yield a temporary path; on success it is fsynced and renamed over `final`.

    The temporary file is in `scratch` when given, else beside `final` as
    `.<name>.<hex>.tmp`; folders are created as needed. It is locked while the
    block runs (see the module docstring). On any exception it is removed and
    `final` is untouched. A write costs no `stat` nor `mkdir` where its folders
    exist: they are made when opening or renaming finds one missing, and a
    scratch folder on another filesystem than `final` (a mount point inside the
    root) is found by the rename failing, which then goes through a temporary
    file beside `final`.

    `may_defer`: inside `deferred_syncs()`, a new `final` is linked into place
    before its fsync, which is left to the pending syncs (see the module docstring).
    """
    name = f"{uuid.uuid4().hex[:16]}{SUFFIX}"
    tmp = final.with_name(f".{final.name}.{name}") if scratch is None else scratch / name
    fd = _create(tmp)
    try:
        with contextlib.suppress(OSError):  # no flock here: sweeps go by age alone
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield tmp
        pending: PendingSyncs | None = getattr(_deferring, "pending", None)
        if may_defer and pending is not None and _link_new(tmp, final):
            pending.files.append((fd, final))
            fd = -1  # the pending syncs close it
            return
        os.fsync(fd)  # what the block wrote through any descriptor of this file
        _rename(tmp, final, name)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    finally:
        if fd >= 0:
            os.close(fd)  # and with it the lock


def _link_new(tmp: Path, final: Path) -> bool:
    """Link `tmp` as `final` where no `final` exists yet (atomically: a link never
    replaces), then drop the temporary name. False where `final` exists or no link
    can be made (another filesystem, no hard links): then nothing changed."""
    for attempt in range(2):
        try:
            os.link(tmp, final)
        except FileNotFoundError:
            if attempt or not tmp.exists():
                return False
            final.parent.mkdir(parents=True, exist_ok=True)
            continue
        except OSError:  # it exists; EXDEV, EPERM, ENOTSUP, EMLINK: the usual way
            return False
        with contextlib.suppress(OSError):  # else a stray name of the file, swept later
            tmp.unlink()
        return True
    return False


def _create(path: Path) -> int:
    """Create `path` exclusively (its folder too, if missing); its descriptor."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL
    try:
        return os.open(path, flags, 0o644)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, 0o644)


def _rename(tmp: Path, final: Path, name: str) -> None:
    """Rename `tmp` over `final`, making `final`'s folder if missing; across
    filesystems, by a synced copy beside `final` renamed over it."""
    try:
        os.replace(tmp, final)
        return
    except FileNotFoundError:
        final.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.replace(tmp, final)
            return
        except OSError as error:
            if error.errno != errno.EXDEV:
                raise
    except OSError as error:
        if error.errno != errno.EXDEV:
            raise
    beside = final.with_name(f".{final.name}.{name}")
    try:
        with open(tmp, "rb") as source, open(beside, "xb") as copy:
            shutil.copyfileobj(source, copy)
            copy.flush()
            os.fsync(copy.fileno())
        os.replace(beside, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            beside.unlink()
        raise
    tmp.unlink()


def sweep(folder: Path, pattern: str = f"*{SUFFIX}", *, now: float | None = None) -> int:
    """Delete the temporary files in `folder` whose writer is gone; how many.

    A file goes when it was last written over `SWEEP_AFTER_S` ago and its lock can
    be taken (its writer died: a kill, a crash, a full disk); where no lock can be
    taken at all, when it is over a day old. Files being written are never touched.
    """
    now = time.time() if now is None else now
    removed = 0
    try:
        candidates = list(folder.glob(pattern))
    except OSError:
        return 0
    for path in candidates:
        try:
            age_s = now - path.stat().st_mtime
            if age_s < SWEEP_AFTER_S:
                continue
            fd = os.open(path, os.O_RDWR)
        except OSError:  # gone already, or not ours to open
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # its writer lives
            except OSError:
                if age_s < UNLOCKABLE_SWEEP_AFTER_S:
                    continue
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed += 1
        finally:
            os.close(fd)
    return removed
