"""The state store's one writer: indexes journal records into DuckDB in batches.

"Journal, then index" (DESIGN.md): runs append records to their journal, the
durable truth; this module reads what is new in each journal and inserts it as
Arrow batches, holding the DuckDB file only for one flush, under an exclusive
OS lock. Indexing is idempotent: each journal's indexed byte offset is stored
in the same transaction as its records, so a killed indexer loses nothing and
the next one starts where the last commit ended.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import StateError, StateLockedError
from assay.locking import file_lock, foreign_holder
from assay.state.journal import Record, append_records, read_complete_lines
from assay.state.liveness import is_alive, this_host
from assay.state.migrations import migrate

if TYPE_CHECKING:
    from collections.abc import Iterator

    import duckdb

TERMINAL_RUN_STATUSES = frozenset({"succeeded", "failed", "died", "canceled"})
DONE_FOLDER = "done"

# record type -> (table, key columns, on conflict: replace / ignore / None for a plain
# append, {column: type})
_TABLES: dict[str, tuple[str, tuple[str, ...], bool | None, dict[str, str]]] = {
    "run": (
        "runs",
        ("run_id",),
        True,
        {
            "run_id": "str",
            "status": "str",
            "selection": "str",
            "command": "str",
            "started_at": "time",
            "finished_at": "time",
            "user_name": "str",
            "host": "str",
            "pid": "int",
            "process_start": "str",
            "git_commit": "str",
            "assay_version": "str",
            "step_count": "int",
            "succeeded_count": "int",
            "failed_count": "int",
            "skipped_count": "int",
            "backfill_id": "str",
            "lineage_events": "int",
            "lineage_errors": "int",
            "lineage_target": "str",
            "lineage_sent": "int",
            "lineage_failed": "int",
            "lineage_error": "str",
        },
    ),
    "step": (
        "steps",
        ("run_id", "step_key"),
        True,
        {
            "run_id": "str",
            "step_key": "str",
            "asset_key": "str",
            "partition_key": "str",
            "status": "str",
            "started_at": "time",
            "finished_at": "time",
            "error": "str",
            "traceback": "str",
            "skip_reason": "str",
            "attempts": "int",
        },
    ),
    "backfill": (
        "backfills",
        ("backfill_id",),
        True,
        {
            "backfill_id": "str",
            "status": "str",
            "selection": "str",
            "partitions": "str",
            "is_forced": "bool",
            "executor": "str",
            "workers": "int",
            "targets": "str",
            "asset_count": "int",
            "partition_count": "int",
            "created_at": "time",
            "finished_at": "time",
            "last_run_id": "str",
            "user_name": "str",
            "command": "str",
        },
    ),
    "materialization": (
        "materializations",
        ("materialization_id",),
        False,
        {
            "materialization_id": "str",
            "run_id": "str",
            "asset_key": "str",
            "partition_key": "str",
            "started_at": "time",
            "finished_at": "time",
            "row_count": "int",
            "byte_size": "int",
            "location": "str",
            "io": "str",
            "data_version": "str",
            "code_version": "str",
            "user_name": "str",
            "host": "str",
            "git_commit": "str",
            "inputs_signature": "str",
            "provenance": "str",
        },
    ),
    "observation": (
        "observations",
        ("observation_id",),
        False,
        {
            "observation_id": "str",
            "run_id": "str",
            "asset_key": "str",
            "partition_key": "str",
            "data_version": "str",
            "observed_at": "time",
        },
    ),
    "check": (
        "check_results",
        ("check_result_id",),
        False,
        {
            "check_result_id": "str",
            "run_id": "str",
            "asset_key": "str",
            "partition_key": "str",
            "check_name": "str",
            "status": "str",
            "passed": "bool",
            "severity": "str",
            "blocking": "bool",
            "description": "str",
            "metadata": "str",
            "error": "str",
            "failures_path": "str",
            "materialization_id": "str",
            "data_version": "str",
            "checked_at": "time",
        },
    ),
    "lineage": (
        "lineage_events",
        ("event_id",),
        None,  # appended: no key constraint (see migration 6)
        {
            "event_id": "str",
            "run_id": "str",
            "event_type": "str",
            "event_time": "time",
            "kind": "str",
            "ol_run_id": "str",
            "job_namespace": "str",
            "job_name": "str",
            "asset_key": "str",
            "partition_key": "str",
            "parent_run_id": "str",
            "inputs": "datasets",
            "outputs": "datasets",
            "event": "str",
        },
    ),
    "log": (
        "step_logs",
        ("run_id", "step_key", "seq"),
        False,
        {
            "run_id": "str",
            "step_key": "str",
            "seq": "int",
            "logged_at": "time",
            "level": "str",
            "logger": "str",
            "message": "str",
        },
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class IndexReport:
    """What one indexing pass did."""

    records: int = 0
    held_by: str | None = None  # a process outside assay holds the DuckDB file
    busy: bool = False  # another assay process held the lock for longer than we waited
    unreadable_lines: int = 0

    @property
    def is_complete(self) -> bool:
        return self.held_by is None and not self.busy


class StateStore:
    """`<home>/assay.duckdb` and `<home>/journal/`."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self.path = home / "assay.duckdb"
        self.journal_dir = home / "journal"

    def has_pending(self) -> bool:
        """True when a journal may hold records not yet indexed (or no store exists yet)."""
        if not self.path.exists():
            return self.journal_dir.is_dir()
        return any(self.journal_dir.glob("*.jsonl"))

    def index_pending(self, *, timeout_s: float = 30.0) -> IndexReport:
        """Index every journal record not yet in DuckDB; safe to call from any process.

        Never raises for a busy store: the report says whether it was held, and by whom.
        """
        if not self.has_pending():
            return IndexReport()
        try:
            with file_lock(self.path, exclusive=True, timeout_s=timeout_s):
                return self._index_locked()
        except StateLockedError:
            return IndexReport(busy=True)
        except _HeldByForeignProcess as held:
            return IndexReport(held_by=held.holder)

    @contextlib.contextmanager
    def reading(self, *, timeout_s: float = 30.0) -> Iterator[duckdb.DuckDBPyConnection | None]:
        """A read-only connection under a shared lock, after indexing pending records.

        Yields None when no state store exists yet.

        Raises:
            StateLockedError: a process outside assay holds the file open.
        """
        report = self.index_pending(timeout_s=timeout_s)
        if report.held_by:
            raise _held_error(self.path, report.held_by)
        if not self.path.exists():
            yield None
            return
        with file_lock(self.path, exclusive=False, timeout_s=timeout_s):
            try:
                con = _connect(self.path, read_only=True)
            except _HeldByForeignProcess as held:
                raise _held_error(self.path, held.holder) from None
            try:
                yield con
            finally:
                con.close()

    def _index_locked(self) -> IndexReport:
        is_new = not self.path.exists()
        con = _connect(self.path, read_only=False)
        try:
            found_version = migrate(con)
            files = self._journal_files(include_done=is_new or found_version == 0)
            report = self._ingest(con, files)
            died = self._close_dead_runs(con)
            if died:
                report = _add(report, self._ingest(con, died))
            finished = [
                Path(row[0])
                for row in con.execute(
                    "SELECT file FROM journal_files WHERE is_finished AND file NOT LIKE ?",
                    [f"%/{DONE_FOLDER}/%"],
                ).fetchall()
            ]
            moves = self._archive(finished)
            if moves:
                con.executemany("UPDATE journal_files SET file = ? WHERE file = ?", moves)
        finally:
            con.close()
        return report

    def _journal_files(self, *, include_done: bool) -> list[Path]:
        if not self.journal_dir.is_dir():
            return []
        files = sorted(self.journal_dir.glob("*.jsonl"))
        if include_done:
            files += sorted((self.journal_dir / DONE_FOLDER).glob("*.jsonl"))
        return files

    def _ingest(self, con: duckdb.DuckDBPyConnection, files: list[Path]) -> IndexReport:
        known: dict[str, int] = {
            file: int(size)
            for file, size in con.execute(
                "SELECT file, indexed_bytes FROM journal_files"
            ).fetchall()
        }
        batches: dict[str, dict[tuple[Any, ...], Record]] = {kind: {} for kind in _TABLES}
        raw_lineage: list[bytes] = []
        deaths: list[Record] = []
        offsets: list[dict[str, Any]] = []
        unreadable = 0
        count = 0
        for path in files:
            name = str(path)
            start = known.get(name, known.get(_other_place(path), 0))
            size = path.stat().st_size
            if size <= start and name in known:
                continue
            records, end, bad, raw = read_complete_lines(path, start, raw_prefix=_LINEAGE_PREFIX)
            raw_lineage += raw
            count += len(raw)
            unreadable += bad
            finished = False
            for record in records:
                kind = record.get("type")
                if kind in ("run_died", "backfill_cancel"):
                    deaths.append(record)
                    finished = True
                elif kind in _TABLES:
                    table_keys = _TABLES[kind][1]
                    batches[kind][tuple(record.get(k) for k in table_keys)] = record
                    if kind == "run" and record.get("status") in TERMINAL_RUN_STATUSES:
                        finished = True
            count += len(records)
            offsets.append({"file": name, "indexed_bytes": end, "is_finished": finished})
        if not offsets:
            return IndexReport(unreadable_lines=unreadable)
        con.execute("BEGIN")
        try:
            for kind, rows in batches.items():
                if rows:
                    _insert(con, kind, list(rows.values()))
            if raw_lineage:
                self._insert_raw_lineage(con, raw_lineage)
            for kind, id_column, source in (
                ("materialization", "materialization_id", _FROM_MATERIALIZATIONS),
                ("observation", "observation_id", _FROM_OBSERVATIONS),
            ):
                if batches[kind]:
                    ids = [row[id_column] for row in batches[kind].values()]
                    _update_current(con, ids, source)
            for death in deaths:
                _record_death(con, death)
            _upsert_offsets(con, offsets)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return IndexReport(records=count, unreadable_lines=unreadable)

    def _insert_raw_lineage(self, con: duckdb.DuckDBPyConnection, lines: list[bytes]) -> None:
        """Insert lineage records (kept as raw JSON lines) with DuckDB's own JSON reader:
        ~3x faster than parsing kilobytes of event JSON in Python."""
        scratch = self.home / f".lineage-{os.getpid()}-{threading.get_ident()}.jsonl"
        scratch.write_bytes(b"\n".join(lines) + b"\n")
        try:
            columns = ", ".join(f"'{name}': '{kind}'" for name, kind in _LINEAGE_JSON_COLUMNS)
            select = ", ".join(
                f"to_timestamp({name}) AS {name}" if kind == "DOUBLE" else name
                for name, kind in _LINEAGE_JSON_COLUMNS
            )
            con.execute(
                f"INSERT INTO lineage_events BY NAME SELECT {select} FROM read_json("
                f"?, format = 'newline_delimited', columns = {{{columns}}})",
                [str(scratch)],
            )
        finally:
            scratch.unlink(missing_ok=True)

    def _close_dead_runs(self, con: duckdb.DuckDBPyConnection) -> list[Path]:
        """Append `run_died` to the journal of every run whose process is gone."""
        rows = con.execute(
            "SELECT r.run_id, r.pid, r.process_start, j.file FROM runs r "
            "JOIN journal_files j ON j.file LIKE '%/' || r.run_id || '.jsonl' "
            "WHERE r.status = 'running' AND r.host = ? AND NOT j.is_finished",
            [this_host()],
        ).fetchall()
        died = []
        for run_id, pid, started, file in rows:
            if pid is None or is_alive(int(pid), started or ""):
                continue
            path = Path(file)
            if path.exists():
                append_records(path, {"type": "run_died", "run_id": run_id, "at": time.time()})
                died.append(path)
        return died

    def _archive(self, finished: list[Path]) -> list[tuple[str, str]]:
        """Move fully indexed journals of finished runs to `journal/done/`.

        Runs after the commit: a crash between the move and the offsets update is
        repaired by the next pass, which finds the file already moved.
        """
        done = self.journal_dir / DONE_FOLDER
        moves = []
        for path in finished:
            done.mkdir(parents=True, exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.replace(done / path.name)
            moves.append((str(done / path.name), str(path)))
        return moves


class _HeldByForeignProcess(Exception):
    def __init__(self, holder: str) -> None:
        super().__init__(holder)
        self.holder = holder


def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    import duckdb

    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.Error as exc:
        holder = foreign_holder(exc)
        if holder:
            raise _HeldByForeignProcess(holder) from exc
        first_line = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise StateError(
            f"the state store {path} cannot be opened: {first_line}. Every record is also in "
            f"{path.parent / 'journal'}: move {path.name} aside and run `assay runs` to rebuild it."
        ) from exc


def _held_error(path: Path, holder: str) -> StateLockedError:
    return StateLockedError(
        f"the state store {path} is held open by {holder}, which is not assay: "
        "close that connection (assay never keeps it open) and retry"
    )


def _other_place(path: Path) -> str:
    """The same journal's name in the other folder (it moves to done/ once finished)."""
    if path.parent.name == DONE_FOLDER:
        return str(path.parent.parent / path.name)
    return str(path.parent / DONE_FOLDER / path.name)


def _insert(con: duckdb.DuckDBPyConnection, kind: str, rows: list[Record]) -> None:
    import pyarrow as pa

    table, _keys, replace, columns = _TABLES[kind]
    arrow_types = {
        "str": pa.string(),
        "int": pa.int64(),
        "time": pa.float64(),
        "bool": pa.bool_(),
        "datasets": pa.list_(pa.struct([(name, pa.string()) for name in _DATASET_FIELDS])),
    }
    schema = pa.schema([(name, arrow_types[t]) for name, t in columns.items()])
    batch = pa.Table.from_pylist(  # noqa: F841 (read by DuckDB's replacement scan)
        [{name: row.get(name) for name in columns} for row in rows], schema=schema
    )
    select = ", ".join(
        f"to_timestamp({name}) AS {name}" if t == "time" else name for name, t in columns.items()
    )
    verb = {True: "INSERT OR REPLACE", False: "INSERT OR IGNORE", None: "INSERT"}[replace]
    con.execute(f"{verb} INTO {table} BY NAME SELECT {select} FROM batch")


_DATASET_FIELDS = ("namespace", "name", "asset_key", "version", "partitions")
_LINEAGE_PREFIX = b'{"type":"lineage",'
_DATASET_STRUCT = f"STRUCT({', '.join(f'{name} VARCHAR' for name in _DATASET_FIELDS)})[]"
_LINEAGE_JSON_COLUMNS = [
    (name, {"time": "DOUBLE", "datasets": _DATASET_STRUCT}.get(kind, "VARCHAR"))
    for name, kind in _TABLES["lineage"][3].items()
]

_FROM_MATERIALIZATIONS = """
    SELECT asset_key, coalesce(partition_key, '') AS partition_key, materialization_id,
           run_id, started_at, finished_at, data_version, code_version, inputs_signature,
           provenance, finished_at AS version_changed_at
    FROM materializations
    WHERE materialization_id IN (SELECT unnest(?::VARCHAR[]))
"""
_FROM_OBSERVATIONS = """
    SELECT asset_key, coalesce(partition_key, '') AS partition_key,
           observation_id AS materialization_id, run_id, observed_at AS started_at,
           observed_at AS finished_at, data_version, 'source' AS code_version,
           '' AS inputs_signature, NULL AS provenance, observed_at AS version_changed_at
    FROM observations
    WHERE observation_id IN (SELECT unnest(?::VARCHAR[]))
"""


def _update_current(con: duckdb.DuckDBPyConnection, ids: list[str], source: str) -> None:
    """Fold new materializations (or observations) into `asset_partitions`.

    One row per asset partition. `version_changed_at` moves only when the data
    version differs from the one stored before: a re-materialization with the
    same content changes nothing downstream (early cut-off).
    """
    con.execute(
        f"""
        INSERT INTO asset_partitions BY NAME
        SELECT * FROM ({source})
        QUALIFY row_number() OVER (
            PARTITION BY asset_key, partition_key ORDER BY finished_at DESC
        ) = 1
        ON CONFLICT (asset_key, partition_key) DO UPDATE SET
            version_changed_at = CASE
                WHEN asset_partitions.data_version IS NOT DISTINCT FROM excluded.data_version
                THEN asset_partitions.version_changed_at ELSE excluded.version_changed_at END,
            materialization_id = excluded.materialization_id,
            run_id = excluded.run_id,
            started_at = excluded.started_at,
            finished_at = excluded.finished_at,
            data_version = excluded.data_version,
            code_version = excluded.code_version,
            inputs_signature = excluded.inputs_signature,
            provenance = excluded.provenance
        WHERE excluded.finished_at >= asset_partitions.finished_at
        """,
        [ids],
    )


def _record_death(con: duckdb.DuckDBPyConnection, death: Record) -> None:
    """A run whose process died, or a backfill canceled from another process."""
    if death.get("type") == "backfill_cancel":
        con.execute(
            "UPDATE backfills SET status = ?, finished_at = coalesce(finished_at, to_timestamp(?)) "
            "WHERE backfill_id = ? AND status IN ('running', 'canceling', 'failed')",
            [death.get("status"), death.get("at"), death.get("backfill_id")],
        )
        return
    at, run_id = death.get("at"), death.get("run_id")
    con.execute(
        "UPDATE runs SET status = 'died', finished_at = to_timestamp(?) "
        "WHERE run_id = ? AND status = 'running'",
        [at, run_id],
    )
    con.execute(
        "UPDATE steps SET status = 'died', finished_at = to_timestamp(?), "
        "error = 'the run process died during this step' "
        "WHERE run_id = ? AND status = 'running'",
        [at, run_id],
    )
    _fail_open_lineage_runs(con, str(run_id), float(at or time.time()))


_ERROR_FACET_SCHEMA = (
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
)


def _fail_open_lineage_runs(con: duckdb.DuckDBPyConnection, run_id: str, at: float) -> None:
    """Give each OpenLineage run the dead run left open (a START, no terminal event)
    its FAIL: the START's event with the death's time and the reason."""
    import json
    import uuid
    from datetime import UTC, datetime

    rows = con.execute(
        "SELECT any_value(event::VARCHAR) FILTER (WHERE event_type = 'START'), "
        "any_value(kind), any_value(ol_run_id), any_value(job_namespace), any_value(job_name), "
        "any_value(asset_key), any_value(partition_key), any_value(parent_run_id), "
        "any_value(inputs), any_value(outputs) "
        "FROM lineage_events WHERE run_id = ? AND ol_run_id IS NOT NULL GROUP BY ol_run_id "
        "HAVING count(*) FILTER (WHERE event_type <> 'START') = 0 "
        "AND count(*) FILTER (WHERE event_type = 'START') = 1",
        [run_id],
    ).fetchall()
    records = []
    for start, kind, ol_run, namespace, job, asset, partition, parent, ins, outs in rows:
        event = json.loads(start)
        event["eventType"] = "FAIL"
        event["eventTime"] = datetime.fromtimestamp(at, UTC).isoformat()
        event["run"]["facets"] = {
            name: facet for name, facet in event["run"]["facets"].items() if name == "parent"
        }
        event["run"]["facets"]["errorMessage"] = {
            "_producer": event["producer"],
            "_schemaURL": _ERROR_FACET_SCHEMA,
            "message": "the run process died during this run",
            "programmingLanguage": "python",
        }
        records.append(
            {
                "event_id": str(uuid.uuid4()),
                "run_id": run_id,
                "event_type": "FAIL",
                "event_time": at,
                "kind": kind,
                "ol_run_id": ol_run,
                "job_namespace": namespace,
                "job_name": job,
                "asset_key": asset,
                "partition_key": partition,
                "parent_run_id": parent,
                "inputs": ins,
                "outputs": outs,
                "event": json.dumps(event, separators=(",", ":")),
            }
        )
    if records:
        _insert(con, "lineage", records)


def _upsert_offsets(con: duckdb.DuckDBPyConnection, offsets: list[dict[str, Any]]) -> None:
    import pyarrow as pa

    batch = pa.Table.from_pylist(offsets)  # noqa: F841
    con.execute(
        "INSERT INTO journal_files BY NAME SELECT * FROM batch ON CONFLICT (file) DO UPDATE SET "
        "indexed_bytes = excluded.indexed_bytes, "
        "is_finished = journal_files.is_finished OR excluded.is_finished"
    )


def _add(a: IndexReport, b: IndexReport) -> IndexReport:
    return IndexReport(
        records=a.records + b.records, unreadable_lines=a.unreadable_lines + b.unreadable_lines
    )
