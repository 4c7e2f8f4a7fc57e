"""`RecordedRun`: the life of every recorded run, written once.

A run id, a journal (locked for the run's life), the state home's clock, the
run record at the start and its final state at the end, the hooks told of both,
indexing while it goes (at most every 2 s, never over a fiftieth of the run)
and once at its end. Materializations, backfills, `assay check` and `assay
observe` are all recorded runs; they differ only in what they journal between.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.execution.cancel import CancelWatch, cancel_flag
from assay.execution.hooks import RunInfo
from assay.results import RunKind, RunStatus
from assay.state.clock import Clock
from assay.state.journal import Journal, JournalWriteError
from assay.state.liveness import process_start, this_host
from assay.state.records import make_record
from assay.state.store import IndexReport, StateStore
from assay.version import __version__

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from types import TracebackType

    from assay.config import ProjectConfig
    from assay.execution.hooks import RunHooks
    from assay.state.records import Record

INDEX_INTERVAL_S = 2.0
INDEX_SHARE = 50  # wait at least fifty times the last flush before the next one
FINAL_INDEX_TIMEOUT_S = 10.0


class RecordedRun:
    """A run's journal, records and hooks, from its start to its final index.

    Use it as a context manager; call `finish(status, ...)` when the run is done
    (leaving the block without it records the run `failed`, or `canceled` on a
    second Ctrl-C).
    """

    def __init__(
        self,
        config: ProjectConfig,
        *,
        kind: RunKind,
        selection: str,
        hooks: RunHooks,
        step_keys: tuple[str, ...] = (),
        backfill: Record | None = None,
        run_id: str | None = None,
        run_key: str | None = None,
        targets: Mapping[str, Any] | None = None,
        config_json: str | None = None,
    ) -> None:
        self.config = config
        self.kind = kind
        self.hooks = hooks
        self.backfill = backfill
        self.run_id = run_id or str(uuid.uuid4())
        self.store = StateStore(config.home)
        self._annotations: dict[str, Any] = {}
        self._record = make_record(
            "run",
            run_id=self.run_id,
            kind=kind.value,
            status=RunStatus.RUNNING.value,
            selection=selection,
            command=command_line(),
            started_at=time.time(),
            user_name=current_user(),
            host=this_host(),
            pid=os.getpid(),
            process_start=process_start(os.getpid()),
            git_commit=git_commit(config.root),
            assay_version=__version__,
            step_count=len(step_keys),
            backfill_id=None if backfill is None else backfill["backfill_id"],
            run_key=run_key,
            targets=None if targets is None else json.dumps(targets, separators=(",", ":")),
            config=config_json,
        )
        self.info = RunInfo(
            run_id=self.run_id,
            kind=kind,
            selection=selection,
            started_at=self._record["started_at"],
            step_keys=step_keys,
            backfill_id=self._record["backfill_id"],
            record=self.append,
            annotate=self._annotations.update,
            notice=self.notice,
        )
        self.journal: Journal | None = None
        self.clock = Clock(config.home)
        self.cancel_requested = CancelWatch(cancel_flag(config.home, "run", self.run_id))
        self.status: RunStatus | None = None
        self.index = IndexReport()
        self._indexer = _Indexer(self.store, self)
        self._gathered: list[Record] | None = None  # appends held for one write (`gathered`)
        self._gathered_soon = False

    @property
    def user_name(self) -> str:
        return str(self._record["user_name"])

    @property
    def host(self) -> str:
        return str(self._record["host"])

    @property
    def git_commit(self) -> str | None:
        commit = self._record["git_commit"]
        return None if commit is None else str(commit)

    def __enter__(self) -> RecordedRun:
        self.store.check_home()
        self.journal = Journal(self.store.journal_dir, self.run_id)
        first = [self._record]
        if self.backfill is not None:
            first.insert(0, self._backfill_record("running"))
        try:
            self.journal.append(*first, durable=True)
        except BaseException:
            self._close()
            raise
        self.hooks.run_started(self.info)
        return self

    def append(self, *records: Record, durable: bool = False) -> None:
        assert self.journal is not None, "RecordedRun used outside its block"
        if self._gathered is not None:
            if not durable:
                self._gathered += records
                return
            records, self._gathered = (*self._gathered, *records), []  # in their order
        self.journal.append(*records, durable=durable)

    def append_soon(self, *records: Record) -> None:
        """Append records fsynced within moments, grouped with others (`Journal.append_soon`)."""
        assert self.journal is not None, "RecordedRun used outside its block"
        if self._gathered is not None:
            self._gathered += records
            self._gathered_soon = True
            return
        self.journal.append_soon(*records)

    @contextlib.contextmanager
    def gathered(self) -> Iterator[None]:
        """The records appended in the block (the hooks' too, not durable ones) go to
        the journal in one write as it ends, in the order they came (a step's records
        and its lineage: one system call, not one each). Nested blocks are one."""
        if self._gathered is not None:
            yield
            return
        self._gathered, self._gathered_soon = [], False
        try:
            yield
        except BaseException:
            with contextlib.suppress(JournalWriteError):  # the block's error is the one told
                self._flush_gathered()
            raise
        self._flush_gathered()

    def _flush_gathered(self) -> None:
        records, soon = self._gathered or [], self._gathered_soon
        self._gathered, self._gathered_soon = None, False
        if records:
            (self.append_soon if soon else self.append)(*records)

    def seq(self) -> int:
        """The next value of the state home's clock (it orders records, see `clock`)."""
        return self.clock.next()

    def maybe_index(self) -> None:
        self._indexer.maybe_index()

    def notice(self, message: str) -> None:
        self.hooks.notice(self.info, message)

    def finish(self, status: RunStatus, **counts: int) -> None:
        """Tell the hooks, then journal the run's final record (and its backfill's)."""
        self.status = status
        self.hooks.run_finished(self.info, status)
        final = [{**self._record, **self._annotations, **counts}]
        final[0] |= {"status": status.value, "finished_at": time.time()}
        if self.backfill is not None:
            state = {RunStatus.SUCCEEDED: "completed", RunStatus.FAILED: "failed"}
            final.append(self._backfill_record(state.get(status, "canceled"), finished=True))
        self.append(*final, durable=True)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self.status is None:
                status = RunStatus.CANCELED if kind is KeyboardInterrupt else RunStatus.FAILED
                try:
                    self.finish(status)
                except JournalWriteError:
                    if exc is None:
                        raise
                    # else the error on its way already says why; a later command
                    # finds the run's journal unlocked and marks it died
        finally:
            self._close()
        if exc is None:  # else the next command indexes what the run journaled
            self.index = self._indexer.final()

    def _close(self) -> None:
        try:
            if self.journal is not None:
                self.journal.close()
        finally:
            self.clock.close()
            self.cancel_requested.clear()

    def _backfill_record(self, status: str, *, finished: bool = False) -> Record:
        assert self.backfill is not None
        record = {**self.backfill, "status": status, "last_run_id": self.run_id}
        record["seq"] = self.seq()
        if finished:
            record["finished_at"] = time.time()
        return record


class _Indexer:
    """Indexes the journal into DuckDB while the run goes; says once if it cannot.

    At most once per interval, and never for more than a fiftieth of the run's
    time: a flush costs more as the store grows (DuckDB rewrites the table's last
    row group at each checkpoint), so the interval stretches to fifty times the
    last flush (readers index what is pending themselves; the UI follows a live
    run in its journal). The journal is the truth meanwhile, and the run's end indexes the rest.
    """

    def __init__(self, store: StateStore, run: RecordedRun) -> None:
        self.store = store
        self.run = run
        self.last = time.monotonic()
        self.interval = INDEX_INTERVAL_S
        self.told = False

    def maybe_index(self) -> None:
        started = time.monotonic()
        if started - self.last >= self.interval:
            self._tell(self.store.index_pending(timeout_s=0.05))
            self.last = time.monotonic()
            self.interval = max(INDEX_INTERVAL_S, INDEX_SHARE * (self.last - started))

    def final(self) -> IndexReport:
        report = self.store.index_pending(timeout_s=FINAL_INDEX_TIMEOUT_S)
        if (report.held_by or report.busy) and self.told:  # said during the run: who holds it
            self.run.notice(
                f"the state store {self.store.path} is still not free: the next assay "
                "command indexes this run's records"
            )
        elif report.held_by or report.busy:
            self._tell(report, final=True)
        return report

    def _tell(self, report: IndexReport, *, final: bool = False) -> None:
        if self.told or report.is_complete or report.waiting:
            return  # a store that waits (a full disk) says so itself
        self.told = True
        holder = report.held_by or "another assay process"
        later = (
            "they will be indexed by the next assay command once it is free"
            if final
            else "the run goes on and indexes them when it is free"
        )
        self.run.notice(
            f"the state store {self.store.path} is held by {holder}; "
            f"records are safe in {self.store.journal_dir} and {later}"
        )


def command_line() -> str:
    """The command this process runs, as the user typed it (`assay backfill start ...`)."""
    return " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])


def current_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


def git_commit(root: Path) -> str | None:
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        done = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
        if done.returncode == 0:
            return done.stdout.strip() or None
    return None
