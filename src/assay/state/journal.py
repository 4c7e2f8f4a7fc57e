"""A run's append-only journal: one JSON record per line, the durable truth.

The coordinator appends records as the run goes and flushes them to the OS at
once (so a killed process loses nothing it wrote) and to disk (fsync) at each
step's end. The state store indexes journals into DuckDB later, in batches.

The writer holds an exclusive OS lock on its journal for as long as it lives,
and the journal appears under its name only once locked: a journal whose lock
is free has no live writer (it finished, or its process died), which is how
the store tells a dead run from a slow one, on the same host, PID reuse and
clock changes included. A write that fails (a full disk) is cut back to the
last whole record, so a line is never torn by assay itself; a line torn by a
kill is terminated before anything else is appended to that journal.

Records never claim data that is not on disk: an append takes the output files
written unsynced since the last one (`assay.io.atomic.deferred_syncs`), and its
records, and every record appended after them, are held in order until those
files are synced by the journal's thread. A file that cannot be synced is
removed, and its records and all held after it are dropped; the next append
raises why.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import threading
from collections import deque
from typing import TYPE_CHECKING

import orjson

from assay.errors import StateError
from assay.io import atomic

if TYPE_CHECKING:
    from collections.abc import Iterable
    from pathlib import Path

    from assay.state.records import Record


class JournalWriteError(StateError):
    """A record could not be written to a journal (a full disk, a read-only folder)."""

    def __init__(self, message: str, *, no_space: bool = False) -> None:
        super().__init__(message)
        self.no_space = no_space


class Journal:
    """Appends records to `<journal_dir>/<run_id>.jsonl`, locked while it is open."""

    def __init__(self, journal_dir: Path, run_id: str) -> None:
        self.path = journal_dir / f"{run_id}.jsonl"
        hidden = journal_dir / f".{run_id}.jsonl.new"
        done = journal_dir / "done"
        archived = done / (self.path.name + ARCHIVED_SUFFIX)  # indexed, then compressed
        if (done / self.path.name).exists() or archived.exists():
            raise JournalWriteError(
                f"run {run_id} ran before (its journal is in {journal_dir / 'done'}): a run id "
                "is used once"
            )
        try:
            journal_dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(hidden, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o644)
        except OSError as exc:
            raise _write_error(self.path, exc, "create") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.link(hidden, self.path)  # exclusive: a run id is journaled once
        except FileExistsError:
            os.close(fd)
            hidden.unlink(missing_ok=True)
            raise JournalWriteError(
                f"run {run_id} was started before (its journal {self.path} exists): a run "
                "id is used once"
            ) from None
        except OSError as exc:
            os.close(fd)
            with contextlib.suppress(OSError):
                hidden.unlink()
            raise _write_error(self.path, exc, "create") from exc
        hidden.unlink(missing_ok=True)
        self._fd: int | None = fd
        self._size = 0
        self._syncer: _Syncer | None = None
        self._sync_failure: OSError | None = None
        self._lock = threading.Lock()  # the writes, and what is held
        self._held: deque[_Held] = deque()  # records waiting for their files' syncs
        self._data_failure: JournalWriteError | None = None

    def append(self, *records: Record, durable: bool = False) -> None:
        """Write records; with `durable`, fsync them before returning.

        Raises:
            JournalWriteError: they could not be written (or an earlier `append_soon`
                could not be synced); the journal still ends with its last whole record.
        """
        held = self._write_or_hold(records, durable=durable)
        if held is not None and durable:
            try:
                held.wait()
            except JournalWriteError as exc:
                if exc is self._data_failure:  # said here: not again
                    self._data_failure = None
                raise

    def append_soon(self, *records: Record) -> None:
        """Write records now and fsync them within moments, on a thread of the journal's
        own: appends that come meanwhile share one fsync (a group commit), and the
        caller goes on at once. A killed process loses none of them (they are with
        the OS); a power cut loses at most those of the last fsync's moments.

        Raises:
            JournalWriteError: as `append`; a failed background fsync is raised here
                (and by `close`) afterwards.
        """
        if self._write_or_hold(records) is None:
            self._syncer_started().request()

    def _write_or_hold(self, records: tuple[Record, ...], *, durable: bool = False) -> _Held | None:
        """Write (and with `durable` fsync) the records, or hold them behind output
        files still to sync and behind what is held already: the hold, or None."""
        if self._fd is None:
            raise JournalWriteError(f"the journal {self.path} is closed: a bug in assay")
        self._raise_sync_failure()
        files = atomic.take_unsynced()
        with self._lock:
            if files or self._held:
                held = _Held(files, encode(records))
                self._held.append(held)
            else:
                before = self._size
                self._write(encode(records))
                if durable:
                    self._fsync_or_cut(before)
                return None
        self._syncer_started().request()
        return held

    def _syncer_started(self) -> _Syncer:
        if self._syncer is None:
            self._syncer = _Syncer(self)
        return self._syncer

    def _write(self, data: bytes) -> None:
        """Append encoded records (the lock held)."""
        assert self._fd is not None
        try:
            _write_all(self._fd, data)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, self._size)
            raise _write_error(self.path, exc, "write") from exc
        self._size += len(data)

    def _fsync_or_cut(self, before: int) -> None:
        """fsync (the lock held); what is not on disk is cut back to `before`."""
        assert self._fd is not None
        try:
            os.fsync(self._fd)
        except OSError as exc:  # not on disk: cut back to what was
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, before)
            self._size = before
            raise _write_error(self.path, exc, "write") from exc

    def _write_held(self) -> bool:
        """On the syncer's thread: sync the held records' files, write the records in
        order, fsync once, and release whoever waits for them. False: none held.

        From a file that cannot be synced on, held records are dropped (said once,
        by the next append): each may describe, or have read, what is not on disk.
        """
        done: list[_Held] = []
        start = self._size
        while True:
            with self._lock:
                if not self._held:
                    break
                held = self._held[0]
            failure = atomic.sync_files(held.files)
            held.files = []
            with self._lock:
                self._held.popleft()
                done.append(held)
                if failure is not None and self._data_failure is None:
                    path, exc = failure
                    self._data_failure = JournalWriteError(
                        f"cannot sync the output {path} to disk ({exc.strerror or exc}): it is "
                        "removed and the steps since are not recorded; check the disk, then "
                        "materialize again",
                        no_space=is_no_space(exc),
                    )
                if self._data_failure is None:
                    try:
                        self._write(held.data)
                    except JournalWriteError as exc:
                        self._data_failure = exc
                held.failure = self._data_failure
        if not done:
            return False
        with self._lock:
            if self._size > start and self._fd is not None:
                try:
                    self._fsync_or_cut(start)
                except JournalWriteError as exc:
                    self._data_failure = self._data_failure or exc
                    for held in done:
                        held.failure = held.failure or exc
            for held in done:
                held.written.set()
        return True

    def _raise_sync_failure(self) -> None:
        failure, self._sync_failure = self._sync_failure, None
        if failure is not None:
            raise _write_error(self.path, failure, "write") from failure
        data_failure, self._data_failure = self._data_failure, None
        if data_failure is not None:
            raise data_failure

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """fsync and release the journal (its lock goes with it).

        Raises:
            JournalWriteError: a background fsync of `append_soon` records failed.
        """
        if self._fd is None:
            return
        if self._syncer is not None:
            self._syncer.stop()
            self._syncer = None
        fd, self._fd = self._fd, None
        try:
            os.fsync(fd)
        except OSError:
            pass  # whatever was written stays; the last durable append was fsynced
        finally:
            os.close(fd)
        self._raise_sync_failure()


class _Held:
    """Encoded records waiting for output files to be synced (`Journal`)."""

    def __init__(self, files: list[atomic.UnsyncedFile], data: bytes) -> None:
        self.files = files
        self.data = data
        self.written = threading.Event()
        self.failure: JournalWriteError | None = None

    def wait(self) -> None:
        """Until written and fsynced.

        Raises:
            JournalWriteError: a file could not be synced, or the journal written.
        """
        self.written.wait()
        if self.failure is not None:
            raise self.failure


class _Syncer:
    """fsyncs a journal soon after each request, on a daemon thread; requests made
    during an fsync are covered by the next one."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._wanted = threading.Condition()
        self._pending = False
        self._stopping = False
        self._thread = threading.Thread(target=self._work, name="assay-journal-sync", daemon=True)
        self._thread.start()

    def request(self) -> None:
        with self._wanted:
            if self._pending:  # the next fsync is asked for already: it covers this too
                return
            self._pending = True
            self._wanted.notify()

    def stop(self) -> None:
        """After a last pass (what is held is written)."""
        with self._wanted:
            self._stopping = True
            self._pending = True
            self._wanted.notify()
        self._thread.join()

    def _work(self) -> None:
        while True:
            with self._wanted:
                while not self._pending and not self._stopping:
                    self._wanted.wait()
                if not self._pending:
                    return
                self._pending = False
            fd = self.journal._fd
            if fd is None:
                return
            if self.journal._write_held():
                continue  # fsynced with them
            try:
                os.fsync(fd)
            except OSError as exc:
                self.journal._sync_failure = exc


def append_if_abandoned(path: Path, *records: Record) -> bool:
    """Append records to a journal that no live process writes (its lock is free):
    how a dead run's journal is closed. A line torn by the dead writer is ended
    first, so the new records never merge with it. Returns False, appending
    nothing, when a writer holds the journal.

    Raises:
        JournalWriteError: the records could not be written.
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_APPEND)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise _write_error(path, exc, "write") from exc
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        size = os.fstat(fd).st_size
        torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        try:
            _write_all(fd, (b"\n" if torn else b"") + encode(records))
            os.fsync(fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, size)
            raise _write_error(path, exc, "write") from exc
        return True
    finally:
        os.close(fd)


def is_abandoned(path: Path) -> bool:
    """True when no live process holds the journal (see the module docstring)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing releases the probe's lock
    return True


# orjson writes a record ~15x faster than json (a step's records and lineage events
# are kilobytes); what it does not take itself goes through str(), as json's
# default did (datetimes and dataclasses included, so the text is json's).
_ORJSON = (
    orjson.OPT_APPEND_NEWLINE
    | orjson.OPT_NON_STR_KEYS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
)


def encode(records: tuple[Record, ...] | list[Record]) -> bytes:
    """Records as JSON lines (what `json.loads` reads back as the same values)."""
    try:
        return b"".join(orjson.dumps(r, default=str, option=_ORJSON) for r in records)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, say
        return b"".join(
            json.dumps(r, separators=(",", ":"), default=str).encode() + b"\n" for r in records
        )


ARCHIVED_SUFFIX = ".gz"  # a finished journal, compressed once indexed (`archive`)


def journal_name(path: Path) -> str:
    """What a journal is known by, wherever it is: `<run id>.jsonl` (compressed or not)."""
    return path.name.removesuffix(ARCHIVED_SUFFIX)


def archive(path: Path, folder: Path) -> Path:
    """Compress a finished, indexed journal into `folder` (`<name>.gz`, written under a
    temporary name, fsynced, then renamed) and remove it. A crash leaves the journal
    where it was, or both (archived again at the next pass, to the same bytes).

    Raises:
        OSError: it could not be written (the journal stays where it was).
    """
    with open(path, "rb") as source:
        chunks = iter(lambda: source.read(1 << 20), b"")
        target = write_compressed(folder / (path.name + ARCHIVED_SUFFIX), chunks)
    path.unlink()
    return target


def write_compressed(
    target: Path, chunks: Iterable[bytes], *, xz_preset: int | None = None
) -> Path:
    """Write `chunks` gzip-compressed (xz with `xz_preset`) to `target`: under a
    temporary name beside it, fsynced, then renamed, so that `target` is whole or
    absent whatever happens; nothing is left behind on failure.

    Raises:
        OSError: it could not be written.
    """
    import gzip
    import lzma

    scratch = target.with_name(f".{target.name}.tmp")
    try:
        with open(scratch, "wb") as raw:
            with (
                # level 6, not gzip's 9: half the CPU, 4% larger (a year's journal)
                gzip.GzipFile(
                    filename=target.stem, mode="wb", fileobj=raw, mtime=0, compresslevel=6
                )
                if xz_preset is None
                else lzma.LZMAFile(raw, "wb", preset=xz_preset)
            ) as compressed:
                for chunk in chunks:
                    compressed.write(chunk)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(scratch, target)
    except BaseException:
        with contextlib.suppress(OSError):
            scratch.unlink()
        raise
    return target


def read_lines(path: Path, offset: int) -> tuple[list[tuple[int, bytes]], int]:
    """The complete lines after `offset`, each with its byte offset, and the offset
    after the last of them. A line still being written (no newline yet) is left.
    An archived journal (`.gz`) is read as the journal it was."""
    if path.name.endswith(ARCHIVED_SUFFIX):
        import gzip

        with gzip.open(path, "rb") as archived:
            data = archived.read()[offset:]
    else:
        with open(path, "rb") as file:
            file.seek(offset)
            data = file.read()
    return complete_lines(data, offset)


def complete_lines(data: bytes, offset: int = 0) -> tuple[list[tuple[int, bytes]], int]:
    """The complete lines of `data` (a journal's bytes from `offset` on), each with its
    byte offset in the journal, and the offset after the last of them."""
    end = data.rfind(b"\n") + 1
    lines = []
    at = 0
    while at < end:
        stop = data.index(b"\n", at)
        if stop > at:
            lines.append((offset + at, data[at:stop]))
        at = stop + 1
    return lines, offset + end


def is_no_space(exc: BaseException) -> bool:
    """True for a full disk or quota, as an OSError or as DuckDB's message of one."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return True
    if isinstance(exc, JournalWriteError):
        return exc.no_space
    text = str(exc)
    return "No space left on device" in text or "Disk quota exceeded" in text


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _write_error(path: Path, exc: OSError, verb: str) -> JournalWriteError:
    if is_no_space(exc):
        why = "the disk is full"
        fix = "free some space, then run the command again (what was journaled is kept)"
    elif exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        why = exc.strerror or "permission denied"
        fix = "give assay a writable state folder (ASSAY_HOME or [tool.assay] home)"
    else:
        why = exc.strerror or str(exc)
        fix = "check the state folder (ASSAY_HOME or [tool.assay] home)"
    return JournalWriteError(
        f"cannot {verb} the journal {path}: {why}; {fix}", no_space=is_no_space(exc)
    )
