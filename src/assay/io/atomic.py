"""Atomic file writes: a temporary file, then a rename; and sweeping what a kill left.

A write goes to a temporary file in a scratch folder (ParquetIO: `<root>/.assay-tmp/`,
outside every asset's folder, so no glob over an asset's storage ever sees it, and
on the same filesystem, so the rename is atomic), and is renamed over the target
once complete. While it is written its writer holds an OS lock on it (`flock`,
released by the kernel when the writer dies), so a sweep deletes only temporary
files whose writer is gone: never a live writer's.

A file is synced before its rename, so a crash never leaves a torn file under
the final name. Inside `deferred_syncs()` a *new* file (nothing under its final
name yet) may instead be renamed at once and synced later, by whoever records
it: the journal takes the files deferred so far (`take_unsynced`) with each
append, and writes the records only once those files are synced. Readers of the
process see the file at once (the page cache is the file); a crash before the
sync leaves at worst a new file that no record claims, which the next plan
materializes again (over it, synced first). A file that replaces another is
always synced before its rename: the record of the old one still claims it.
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
from dataclasses import dataclass
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


@dataclass
class UnsyncedFile:
    """A new file renamed into place before its data was synced (`deferred_syncs`)."""

    fd: int
    path: Path


class _Deferred:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.files: list[UnsyncedFile] = []


_DEFERRED = _Deferred()
_fsync_data = os.fsync  # (a test makes it fail: no disk here fails an fsync on demand)


@contextlib.contextmanager
def deferred_syncs() -> Iterator[None]:
    """While the block runs, `atomic_path(..., defer=True)` renames new files into
    place unsynced (see the module docstring); those no one took by its end are
    synced then."""
    with _DEFERRED.lock:
        _DEFERRED.depth += 1
    try:
        yield
    finally:
        with _DEFERRED.lock:
            _DEFERRED.depth -= 1
            left = _DEFERRED.files if _DEFERRED.depth == 0 else []
            if left:
                _DEFERRED.files = []
        sync_files(left)


def take_unsynced() -> list[UnsyncedFile]:
    """The files deferred since the last call: the caller syncs them (`sync_files`)."""
    if not _DEFERRED.files:  # (read without the lock: a list is swapped whole)
        return []
    with _DEFERRED.lock:
        taken, _DEFERRED.files = _DEFERRED.files, []
    return taken


def sync_files(files: list[UnsyncedFile]) -> tuple[Path, OSError] | None:
    """fsync and close each file; at the first that fails, remove it (what it holds
    on disk is unknown), close the rest unsynced and return it with the error."""
    failure: tuple[Path, OSError] | None = None
    for file in files:
        try:
            if failure is None:
                try:
                    _fsync_data(file.fd)
                except OSError as exc:
                    failure = (file.path, exc)
                    with contextlib.suppress(OSError):
                        file.path.unlink()
        finally:
            os.close(file.fd)
    return failure


@contextlib.contextmanager
def atomic_path(final: Path, *, scratch: Path | None = None, defer: bool = False) -> Iterator[Path]:
    """Yield a temporary path; on success it is fsynced and renamed over `final`.

    The temporary file is in `scratch` when given, else beside `final` as
    `.<name>.<hex>.tmp`; folders are created as needed. It is locked while the
    block runs (see the module docstring). On any exception it is removed and
    `final` is untouched. A write costs no `stat` nor `mkdir` where its folders
    exist: they are made when opening or renaming finds one missing, and a
    scratch folder on another filesystem than `final` (a mount point inside the
    root) is found by the rename failing, which then goes through a temporary
    file beside `final`.

    `defer` (the caller knows nothing is at `final`): inside `deferred_syncs()`,
    rename first and leave the sync to whoever records the file.
    """
    name = f"{uuid.uuid4().hex[:16]}{SUFFIX}"
    tmp = final.with_name(f".{final.name}.{name}") if scratch is None else scratch / name
    fd = _create(tmp)
    try:
        with contextlib.suppress(OSError):  # no flock here: sweeps go by age alone
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield tmp
        if defer and _DEFERRED.depth:
            if not _rename(tmp, final, name):  # (a copy across filesystems is synced)
                with _DEFERRED.lock:
                    _DEFERRED.files.append(UnsyncedFile(fd, final))
                fd = -1  # closed once synced
        else:
            _fsync_data(fd)  # what the block wrote through any descriptor of this file
            _rename(tmp, final, name)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    finally:
        if fd >= 0:
            os.close(fd)  # and with it the lock


def _create(path: Path) -> int:
    """Create `path` exclusively (its folder too, if missing); its descriptor."""
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL
    try:
        return os.open(path, flags, 0o644)
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, flags, 0o644)


def _rename(tmp: Path, final: Path, name: str) -> bool:
    """Rename `tmp` over `final`, making `final`'s folder if missing; across
    filesystems, by a synced copy beside `final` renamed over it (True)."""
    try:
        _replace(tmp, final)
        return False
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
    return True


def _replace(tmp: Path, final: Path) -> None:
    """`os.replace`, making `final`'s folder when it is missing."""
    try:
        os.replace(tmp, final)
    except FileNotFoundError:
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(tmp, final)


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
