"""Atomic file writes: a temporary file, then a rename; and sweeping what a kill left.

A write goes to a temporary file in a scratch folder (ParquetIO: `<root>/.assay-tmp/`,
outside every asset's folder, so no glob over an asset's storage ever sees it, and
on the same filesystem, so the rename is atomic), and is renamed over the target
once complete. While it is written its writer holds an OS lock on it (`flock`,
released by the kernel when the writer dies), so a sweep deletes only temporary
files whose writer is gone: never a live writer's.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import uuid
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


@contextlib.contextmanager
def atomic_path(final: Path, *, scratch: Path | None = None) -> Iterator[Path]:
    """Yield a temporary path; on success it is fsynced and renamed over `final`.

    The temporary file is in `scratch` (created if needed) when that is on the
    filesystem of `final`'s folder, else beside `final` as `.<name>.<hex>.tmp`. It
    is locked while the block runs (see the module docstring). On any exception it
    is removed and `final` is untouched.
    """
    if not final.parent.is_dir():
        final.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temporary(final, scratch)
    fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with contextlib.suppress(OSError):  # no flock here: sweeps go by age alone
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        yield tmp
        os.fsync(fd)  # what the block wrote through any descriptor of this file
        os.replace(tmp, final)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
    finally:
        os.close(fd)  # and with it the lock


def _temporary(final: Path, scratch: Path | None) -> Path:
    name = f"{uuid.uuid4().hex[:16]}{SUFFIX}"
    if scratch is not None:
        scratch.mkdir(parents=True, exist_ok=True)
        if scratch.stat().st_dev == final.parent.stat().st_dev:
            return scratch / name
    return final.with_name(f".{final.name}.{name}")


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
