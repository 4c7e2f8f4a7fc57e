"""The state store's one writer: indexes journal records into DuckDB in batches.

"Journal, then index" (DESIGN.md): runs append records to their journal, the
durable truth; this module reads what is new in each journal and inserts it as
Arrow batches, holding the DuckDB file only for one flush, under an exclusive
OS lock. Indexing is idempotent: each journal's indexed byte offset is stored
in the same transaction as its records, so a killed indexer loses nothing and
the next one starts where the last commit ended.

Nothing stored can make the state unreadable for good: a record that cannot be
indexed is quarantined (`indexer`); a DuckDB file that cannot be read is
reported in one line, and `assay state rebuild` makes a new one from the
journals; a full disk or a read-only home leaves reads answering from what is
indexed, with a note that indexing waits.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from assay.errors import StateError, StateLockedError
from assay.locking import ReadOnlyError, file_lock, foreign_holder
from assay.state import bundles
from assay.state.attachments import close_read, open_read
from assay.state.indexer import (
    Batch,
    canary,
    read_batch,
    rows_parameter,
    rows_source,
    write_batch,
)
from assay.state.journal import (
    JournalWriteError,
    append_if_abandoned,
    archive,
    is_no_space,
)
from assay.state.liveness import this_host
from assay.state.migrations import migrate
from assay.state.snapshot import name_store
from assay.state.template import place_new_store

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import duckdb

DONE_FOLDER = "done"
_log = logging.getLogger("assay.state")


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexReport:
    """What one indexing pass did."""

    records: int = 0
    held_by: str | None = None  # a process outside assay holds the DuckDB file
    busy: bool = False  # another assay process held the lock for longer than we waited
    quarantined: int = 0  # records that could not be indexed, kept aside
    waiting: str | None = None  # why nothing could be indexed now (a full disk, read-only)

    @property
    def is_complete(self) -> bool:
        return self.held_by is None and not self.busy and self.waiting is None


class StateStore:
    """`<home>/assay.duckdb` and `<home>/journal/`."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / "assay.duckdb"
        self.journal_dir = home / "journal"

    def check_home(self) -> None:
        """Raise unless the home is a folder (or does not exist yet).

        Raises:
            StateError: it is a file (or a device).
        """
        if self.home.exists() and not self.home.is_dir():
            raise StateError(
                f"the state folder {self.home} is not a folder: point ASSAY_HOME (or "
                "[tool.assay] home) at a folder, or remove the file"
            )

    def has_pending(self) -> bool:
        """True when a journal may hold records not yet indexed (or no store exists yet)."""
        if not self.path.exists():
            return self.journal_dir.is_dir()
        return any(self.journal_dir.glob("*.jsonl"))

    def index_pending(self, *, timeout_s: float = 30.0) -> IndexReport:
        """Index every journal record not yet in DuckDB; safe to call from any process.

        Never raises for a busy store, a full disk or a read-only home: the report
        says why nothing was indexed (and, for a held file, by whom).

        Raises:
            StateError: the DuckDB file cannot be read (corrupt): `assay state rebuild`.
        """
        self.check_home()
        if not self.has_pending():
            return IndexReport()
        try:
            with file_lock(self.path, exclusive=True, timeout_s=timeout_s):
                return self._index_locked()
        except StateLockedError:
            return IndexReport(busy=True)
        except _HeldByForeignProcess as held:
            return IndexReport(held_by=held.holder)
        except ReadOnlyError:
            return self._waiting(f"{self.home} cannot be written")
        except _NoSpace:
            return self._waiting("the disk is full")

    def file_id(self, last: tuple[int, int] | None) -> tuple[tuple[int, int] | None, bool]:
        """The DuckDB file's device and inode (`last` when there is no file), and
        whether it is another file than `last`'s. A file put in its place (`rebuild`,
        `assay state prune`, a restored copy) numbers its records afresh: a reader
        that keeps marks of them (`changed_assets`) reads it whole again."""
        try:
            stat = self.path.stat()
        except OSError:
            return last, False
        found = (stat.st_dev, stat.st_ino)
        return found, last is not None and found != last

    def rebuild(self, *, timeout_s: float = 30.0) -> tuple[Path | None, IndexReport]:
        """Move the DuckDB file aside (to `assay.duckdb.broken-<time>`) and index every
        journal, `done/` included, into a new one. Returns where the old file went
        (None when there was none) and what was indexed.

        Raises:
            StateLockedError: another process holds the store for longer than `timeout_s`.
            StateError: the new store cannot be written (a full disk, a read-only home).
        """
        self.check_home()
        try:
            with file_lock(self.path, exclusive=True, timeout_s=timeout_s):
                aside = None
                if self.path.exists():
                    aside = self.path.with_name(
                        f"{self.path.name}.broken-{time.strftime('%Y%m%dT%H%M%S')}"
                    )
                    self.path.replace(aside)
                    wal = self.path.with_name(self.path.name + ".wal")
                    if wal.exists():
                        wal.replace(aside.with_name(aside.name + ".wal"))
                return aside, self._index_locked()
        except _NoSpace as exc:
            raise StateError(
                f"cannot rebuild {self.path}: the disk is full ({exc}); free some space and "
                "run `assay state rebuild` again (the journals are untouched)"
            ) from exc

    @contextlib.contextmanager
    def locked(self, *, timeout_s: float = 30.0) -> Iterator[None]:
        """Hold the store's exclusive lock for the block: no other assay process reads,
        indexes or writes it meanwhile (maintenance such as `assay state prune`).

        Raises:
            StateLockedError: another process held it for longer than `timeout_s`.
        """
        self.check_home()
        with file_lock(self.path, exclusive=True, timeout_s=timeout_s):
            yield

    def connect_locked(self) -> duckdb.DuckDBPyConnection:
        """A read-write connection, its schema migrated, for a caller inside `locked()`.

        Raises:
            StateLockedError: a process outside assay holds the file open.
            StateError: the file cannot be read.
        """
        try:
            con = _connect(self.path, read_only=False)
        except _HeldByForeignProcess as held:
            raise _held_error(self.path, held.holder) from None
        try:
            migrate(con)
        except BaseException:
            con.close()
            raise
        return con

    def _waiting(self, why: str) -> IndexReport:
        _log.warning(
            "%s: new records wait in %s to be indexed, and what is shown may miss them",
            why,
            self.journal_dir,
        )
        return IndexReport(waiting=why)

    @contextlib.contextmanager
    def reading(
        self, *, timeout_s: float = 30.0, index: bool = True, private: bool = False
    ) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A read-only connection under a shared lock, after indexing pending records
        (with `index=False`, what is indexed, never waiting for the exclusive lock).

        The connection is a cursor of the process's one instance (`attachments`);
        `private`: a DuckDB instance of its own, for SQL assay did not write (a
        user's `SET`, `ATTACH` or `DETACH` then dies with it).

        Yields None when no state store exists yet.

        Raises:
            StateLockedError: a process outside assay holds the file open.
            StateError: the file cannot be read (corrupt, unreadable).
        """
        report = self.index_pending(timeout_s=timeout_s) if index else IndexReport()
        if report.held_by:
            raise _held_error(self.path, report.held_by)
        if not self.path.exists():
            yield None
            return
        import duckdb

        with file_lock(self.path, exclusive=False, timeout_s=timeout_s):
            try:
                con = _connect(self.path, read_only=True) if private else open_read(self.path)
            except _HeldByForeignProcess as held:
                raise _held_error(self.path, held.holder) from None
            except duckdb.Error as exc:
                holder = foreign_holder(exc)
                if holder:
                    raise _held_error(self.path, holder) from None
                raise unreadable(self.path, exc) from exc
            try:
                yield con
            except duckdb.Error as exc:
                raise unreadable(self.path, exc) from exc
            finally:
                if private:
                    con.close()
                else:
                    close_read(con)

    def _index_locked(self) -> IndexReport:
        import duckdb

        is_new = not self.path.exists()
        if is_new:
            place_new_store(self.path, NEW_FILE_CONFIG)  # else the chain of migrations makes it
        try:
            con = _connect(self.path, read_only=False)
        except StateError:
            if is_new:  # a file half created on a full disk, say: nothing of value in it
                self._discard_new()
            raise
        try:
            found_version = migrate(con)
            if is_new or found_version == 0:
                name_store(con)
            files = self._journal_files(include_done=is_new or found_version == 0)
            report = self._ingest(con, files)
            died = self._close_dead_runs(con)
            if died:
                more = self._ingest(con, died)
                report = replace(
                    report,
                    records=report.records + more.records,
                    quarantined=report.quarantined + more.quarantined,
                )
            self._archive(con)
        except duckdb.Error as exc:
            if is_no_space(exc):
                raise _NoSpace(_first_line(exc)) from exc
            raise unreadable(self.path, exc) from exc
        finally:
            con.close()
        return report

    def _discard_new(self) -> None:
        for leftover in (self.path, self.path.with_name(self.path.name + ".wal")):
            with contextlib.suppress(OSError):
                leftover.unlink()

    def _journal_files(self, *, include_done: bool) -> list[Path]:
        if not self.journal_dir.is_dir():
            return []
        files = sorted(self.journal_dir.glob("*.jsonl"))
        if include_done:  # live ones first: the indexer reads a journal once, where first found
            done = self.journal_dir / DONE_FOLDER
            files += bundles.bundles(done)
            files += sorted([*done.glob("*.jsonl"), *done.glob("*.jsonl.gz")])
        return files

    def _ingest(self, con: duckdb.DuckDBPyConnection, files: list[Path]) -> IndexReport:
        known: dict[str, int] = dict(
            con.execute("SELECT file, indexed_bytes FROM journal_files").fetchall()
        )
        batch = read_batch(files, known)
        if not batch.offsets:
            return IndexReport()
        try:
            quarantined = _commit(con, batch)
        except Exception as exc:
            # The checks let no record fail its insert; should one still do so, it
            # is found and set aside rather than blocking every other.
            if is_no_space(exc) or not _set_aside_failing(con, batch):
                raise
            quarantined = _commit(con, batch)
        if quarantined:
            say_quarantined(quarantined)
        return IndexReport(records=batch.count, quarantined=quarantined)

    def _close_dead_runs(self, con: duckdb.DuckDBPyConnection) -> list[Path]:
        """Append `run_died` to every unfinished journal of this host that no live
        process holds (its writer finished badly or was killed)."""
        rows = con.execute(
            "SELECT j.file, r.host FROM journal_files j "
            "LEFT JOIN runs r ON j.file = r.run_id || '.jsonl' "
            "WHERE NOT j.is_finished ORDER BY j.file"
        ).fetchall()
        died = []
        host = this_host()
        for name, run_host in rows:
            if run_host is not None and run_host != host:
                continue  # another host's process: its own assay closes it
            path = self.journal_dir / name
            run_id = name.removesuffix(".jsonl")
            try:
                closed = append_if_abandoned(
                    path, {"type": "run_died", "run_id": run_id, "at": time.time()}
                )
            except JournalWriteError as exc:
                if is_no_space(exc):
                    raise _NoSpace(str(exc)) from exc
                _log.warning("%s; the run stays `running` until it can be closed", exc)
                continue
            if closed:
                died.append(path)
        return died

    def _archive(self, con: duckdb.DuckDBPyConnection) -> None:
        """Compress fully indexed journals of finished runs into `journal/done/`
        (`<run id>.jsonl.gz`: a tenth of the bytes, and what a rebuild reads).

        Runs after the commit; a journal is known by its name in either folder,
        compressed or not, so a crash between the two loses nothing.
        """
        done = self.journal_dir / DONE_FOLDER
        finished = con.execute("SELECT file FROM journal_files WHERE is_finished").fetchall()
        for (name,) in finished:
            path = self.journal_dir / name
            if not path.exists():
                continue
            try:
                done.mkdir(parents=True, exist_ok=True)
                archive(path, done)
            except FileNotFoundError:
                continue  # moved by another process meanwhile
            except OSError as exc:  # a read-only or full folder: it stays where it is
                if not is_no_space(exc):  # a full disk says so itself
                    _log.warning("cannot move finished journals to %s: %s", done, exc.strerror)
                return
        self._gather(done)

    def _gather(self, done: Path) -> None:
        """Bundle the journals archived alone once there are enough (`bundles`);
        the checkpoints of `assay state prune` stay apart (it replaces them)."""
        loose = [
            path
            for path in done.glob("*.jsonl.gz")
            if not path.name.startswith(bundles.CHECKPOINT_PREFIX)
        ]
        if len(loose) < bundles.BUNDLE_AT:
            return
        loose.sort(key=_modified)
        try:
            bundles.gather(done, loose)
        except OSError as exc:  # a read-only or full folder: they stay as they are
            if not is_no_space(exc):
                _log.warning("cannot bundle finished journals in %s: %s", done, exc.strerror)


def say_quarantined(count: int) -> None:
    """Log (the CLI prints it as a note) that records are set aside, and where to look."""
    _log.warning(
        "%d journal record(s) could not be indexed and are set aside: "
        "`assay state doctor` lists them",
        count,
    )


def _commit(con: duckdb.DuckDBPyConnection, batch: Batch) -> int:
    """Index the batch and its journals' new offsets in one transaction; returns how
    many of its records were quarantined."""

    con.execute("BEGIN")
    try:
        quarantined = write_batch(con, batch)
        offsets = {"file": "str", "indexed_bytes": "int", "is_finished": "bool"}
        con.execute(
            f"INSERT INTO journal_files BY NAME SELECT * FROM {rows_source(offsets)} "
            "ON CONFLICT (file) DO UPDATE SET indexed_bytes = excluded.indexed_bytes, "
            "is_finished = journal_files.is_finished OR excluded.is_finished",
            rows_parameter(batch.offsets, offsets),
        )
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise
    return quarantined


def _set_aside_failing(con: duckdb.DuckDBPyConnection, batch: Batch) -> bool:
    """Try each record of a batch that failed alone, in a transaction that is rolled
    back, and move those that fail to its quarantine. True when one was found.

    A record of a kind whose well-formed canary fails too is not the cause (the
    store is): nothing of that kind is set aside.
    """
    found = False
    for kind, rows in batch.rows.items():
        if not rows or _dry_run(con, Batch(rows={kind: {("canary",): canary(kind)}})):
            continue
        for key, record in list(rows.items()):
            error = _dry_run(con, Batch(rows={kind: {key: record}}))
            if error is not None:
                del rows[key]
                journal, offset = batch.where[(kind, key)]
                batch.quarantine(journal, offset, error, json.dumps(record, default=str))
                found = True
    line = json.dumps(canary("lineage"), separators=(",", ":"))
    if batch.lineage_lines and not _dry_run(con, Batch(lineage_lines=[("canary", 0, line)])):
        for item in list(batch.lineage_lines):
            error = _dry_run(con, Batch(lineage_lines=[item]))
            if error is not None:
                batch.lineage_lines.remove(item)
                batch.quarantine(item[0], item[1], error, item[2])
                found = True
    return found


def _dry_run(con: duckdb.DuckDBPyConnection, batch: Batch) -> str | None:
    con.execute("BEGIN")
    try:
        write_batch(con, batch)
    except Exception as exc:
        return f"cannot be indexed: {_first_line(exc)}"
    finally:
        con.execute("ROLLBACK")
    return None


class _HeldByForeignProcess(Exception):
    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


class _NoSpace(Exception):
    """Indexing could not write: the disk is full."""


# A new state file's blocks: 64 KiB, not DuckDB's 256 KiB, since the store is many
# small tables (each takes a block at least): a small project's store is 1.5 MB, not
# 7, and planning reads as fast. A file keeps the block size it was made with.
BLOCK_SIZE = 65_536
NEW_FILE_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "default_block_size": str(BLOCK_SIZE)
}


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    import duckdb

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        return duckdb.connect(str(path), read_only=read_only, config=NEW_FILE_CONFIG)
    except duckdb.Error as exc:
        holder = foreign_holder(exc)
        if holder:
            raise _HeldByForeignProcess(holder) from exc
        if is_no_space(exc):
            raise _NoSpace(_first_line(exc)) from exc
        raise unreadable(path, exc) from exc


def unreadable(path: Path, exc: BaseException) -> StateError:
    """The one-line error for a state file DuckDB cannot read, and the way out."""
    return StateError(
        f"the state store {path} cannot be read ({_first_line(exc)}). Every record is also "
        f"in {path.parent / 'journal'}: move {path.name} aside and run `assay runs` to rebuild "
        "it from the journals (`assay state rebuild` does both)"
    )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else type(exc).__name__
    return first if len(first) <= 200 else first[:197] + "..."


def _held_error(path: Path, holder: str) -> StateLockedError:
    return StateLockedError(
        f"the state store {path} is held open by {holder}, which is not assay: "
        "close that connection (assay never keeps it open) and retry"
    )
