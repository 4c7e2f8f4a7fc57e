"""Indexing journal records into the state store: one batch, one transaction.

Every line is checked before DuckDB sees it (`records.problem`); one that
cannot be indexed (torn by a crash, not JSON, of a wrong shape) goes to the
`quarantine` table with its journal and byte offset, and everything else is
indexed. Lineage events, the bulk of the bytes, are parsed and checked by
DuckDB's own JSON functions in the same set operation.

The result does not depend on how journals are batched: indexing them one by
one, all at once or in any grouping gives the same tables. Rows keyed by id
are written once; a run's or step's latest record wins; and the current state
of each asset partition touched by a batch is recomputed from its whole
history, ordered by `seq` (see `clock`), never folded from the batch alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from assay.state.bundles import bundle_name, is_bundle
from assay.state.bundles import journals as bundle_journals
from assay.state.journal import complete_lines, journal_name, read_lines
from assay.state.records import (
    CONTROL_TYPES,
    DATASET_FIELDS,
    KIND_NAMES,
    RECORD_TYPES,
    Conflict,
    problem,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import duckdb

    from assay.state.records import Record

TERMINAL_RUN_STATUSES = frozenset({"succeeded", "failed", "died", "canceled"})
LINEAGE_PREFIX = b'{"type":"lineage",'
QUARANTINED_LINE_CHARS = 20_000  # the journal keeps the whole line


@dataclass(slots=True)
class Batch:
    """What is new in a set of journals, checked and ready to insert."""

    rows: dict[str, dict[tuple[Any, ...], Record]] = field(
        default_factory=lambda: {kind: {} for kind in RECORD_TYPES}
    )
    lineage_lines: list[tuple[str, int, str]] = field(default_factory=list)  # journal, offset
    controls: list[Record] = field(default_factory=list)
    quarantined: list[dict[str, Any]] = field(default_factory=list)
    offsets: list[dict[str, Any]] = field(default_factory=list)
    where: dict[tuple[str, tuple[Any, ...]], tuple[str, int]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        """Records in the batch, quarantined ones included."""
        indexed = sum(len(rows) for rows in self.rows.values())
        return indexed + len(self.lineage_lines) + len(self.controls) + len(self.quarantined)

    def quarantine(self, journal: str, offset: int, reason: str, line: bytes | str) -> None:
        text = line if isinstance(line, str) else line.decode("utf-8", errors="replace")
        self.quarantined.append(
            {
                "journal": journal,
                "byte_offset": offset,
                "reason": reason,
                "line": text[:QUARANTINED_LINE_CHARS],
            }
        )


def read_batch(files: list[Path], known: dict[str, int]) -> Batch:
    """Read and check every complete line after each journal's indexed offset.

    `known` maps a journal's name (its file name without `.gz`: journals move to
    `done/`, compressed, and later into bundles) to its indexed byte offset. A
    journal is read once, wherever it is found first (a crash while archiving
    leaves two copies of it).
    """
    batch = Batch()
    seen: set[str] = set()
    for name, lines, end, archived in _journals(batch, files, known):
        if name in seen:
            continue
        seen.add(name)
        finished = archived  # an archived journal was finished when archived
        for offset, line in lines:
            if line.startswith(LINEAGE_PREFIX):
                try:
                    batch.lineage_lines.append((name, offset, line.decode()))
                except UnicodeDecodeError:
                    batch.quarantine(name, offset, "not UTF-8 text", line)
                continue
            if not line.strip():
                continue
            finished |= _add_line(batch, name, offset, line)
        batch.offsets.append({"file": name, "indexed_bytes": end, "is_finished": finished})
    return batch


Lines = list[tuple[int, bytes]]


def _journals(
    batch: Batch, files: list[Path], known: dict[str, int]
) -> Iterator[tuple[str, Lines, int, bool]]:
    """(name, its lines after the indexed offset, the offset after them, archived) of
    each journal to read, the journals of bundles one by one."""
    for path in files:
        if is_bundle(path):
            try:
                held = list(bundle_journals(path))
            except (OSError, ValueError) as exc:
                batch.quarantine(bundle_name(path), 0, f"cannot read this bundle: {exc}", b"")
                continue
            for name, data in held:
                if name not in known:
                    lines, end = complete_lines(data)
                    yield name, lines, end, True
            continue
        name = journal_name(path)
        start = known.get(name, 0)
        if name in known and path.name != name:
            continue  # archived: it was whole and indexed
        try:
            size = path.stat().st_size
            if size <= start and name in known:
                continue
            lines, end = read_lines(path, start)
        except FileNotFoundError:
            continue  # archived by another process since it was listed
        yield name, lines, end, path.name != name


def _add_line(batch: Batch, journal: str, offset: int, line: bytes) -> bool:
    """Add one line to the batch; True when it finishes its journal."""
    try:
        record = orjson.loads(line)  # (several times faster; strict JSON only)
    except orjson.JSONDecodeError:
        try:  # NaN, a lone surrogate, an integer over 64 bits: the checks say what is wrong
            record = json.loads(line)
        except ValueError:
            batch.quarantine(journal, offset, "not valid JSON (a line cut short by a crash?)", line)
            return False
    reason = problem(record)
    if reason is not None:
        batch.quarantine(journal, offset, reason, line)
        return False
    kind = record["type"]
    if kind in CONTROL_TYPES:
        batch.controls.append(record)
        return True
    declared = RECORD_TYPES[kind]
    key: tuple[Any, ...] = tuple(record[k] for k in declared.key)
    if declared.conflict is Conflict.APPEND:
        key = (journal, offset)
    held = batch.rows[kind].get(key)
    if held is not None and _keeps_held(declared.conflict, held, record):
        return False
    batch.rows[kind][key] = record
    batch.where[(kind, key)] = (journal, offset)
    if kind == "backfill_cancel":  # its journal holds nothing else
        return True
    return kind == "run" and record["status"] in TERMINAL_RUN_STATUSES


def _keeps_held(conflict: Conflict, held: Record, record: Record) -> bool:
    """Whether a batch keeps the record it holds over a later one with the same key."""
    if conflict is Conflict.IGNORE:
        return True
    if conflict is Conflict.LATEST:
        return (record.get("seq") or 0) < (held.get("seq") or 0)
    return False


def write_batch(con: duckdb.DuckDBPyConnection, batch: Batch) -> int:
    """Insert a batch (inside the caller's transaction); returns how many of its
    records were quarantined."""
    for kind, rows in batch.rows.items():
        if rows:
            insert(con, kind, list(rows.values()))
    quarantined = len(batch.quarantined)
    if batch.lineage_lines:
        quarantined += _insert_lineage_lines(con, batch)
    touched = [
        {"asset_key": r["asset_key"], "partition_key": r.get("partition_key") or ""}
        for kind in ("materialization", "observation")
        for r in batch.rows.get(kind, {}).values()
    ]
    if touched:
        update_current(con, touched)
    if batch.rows["step"]:
        _index_attempts(con, list(batch.rows["step"].values()))
    for control in batch.controls:
        _apply_control(con, control)
    if batch.quarantined:
        quarantine = {"journal": "str", "byte_offset": "int", "reason": "str", "line": "str"}
        con.execute(
            f"INSERT OR IGNORE INTO quarantine BY NAME SELECT * FROM {rows_source(quarantine)}",
            rows_parameter(batch.quarantined, quarantine),
        )
    return quarantined


def canary(kind: str) -> Record:
    """A well-formed record of `kind`, every field set: what any store must index."""
    samples: dict[str, Any] = {"str": "canary", "int": 0, "time": 0.0, "bool": False}
    samples["datasets"] = [dict.fromkeys(DATASET_FIELDS, "canary")]
    declared = RECORD_TYPES[kind]
    return {"type": kind} | {name: samples[t] for name, t in declared.fields.items()}


def insert(con: duckdb.DuckDBPyConnection, kind: str, rows: list[Record]) -> None:
    """Insert checked records of one type in one statement."""
    declared = RECORD_TYPES[kind]
    columns = declared.fields
    select = ", ".join(
        f'to_timestamp("{name}") AS "{name}"' if t == "time" else f'"{name}"'
        for name, t in columns.items()
    )
    verb = {
        Conflict.REPLACE: "INSERT OR REPLACE",
        Conflict.IGNORE: "INSERT OR IGNORE",
        Conflict.APPEND: "INSERT",
        Conflict.LATEST: "INSERT",
    }[declared.conflict]
    sql = f"{verb} INTO {declared.table} BY NAME SELECT {select} FROM {rows_source(columns)}"
    if declared.conflict is Conflict.LATEST:
        updates = ", ".join(
            f'"{name}" = excluded."{name}"' for name in columns if name not in declared.key
        )
        sql += (
            f" ON CONFLICT ({', '.join(declared.key)}) DO UPDATE SET {updates} "
            f"WHERE coalesce(excluded.seq, 0) >= coalesce({declared.table}.seq, 0)"
        )
    con.execute(sql, rows_parameter(rows, columns))


_JSON_KINDS: dict[str, Any] = {
    "str": "VARCHAR",
    "int": "BIGINT",
    "time": "DOUBLE",
    "bool": "BOOLEAN",
    "datasets": [dict.fromkeys(DATASET_FIELDS, "VARCHAR")],
}


def rows_source(columns: dict[str, str]) -> str:
    """SQL for a relation of the rows `rows_parameter` passes, with `columns`'
    types (name -> a `records` kind).

    DuckDB parses the rows from one JSON parameter: no Arrow table, whose import
    alone costs a run 0.05-0.1 s and ~28 MiB, for ~2 us more per row.
    """
    structure = json.dumps([{name: _JSON_KINDS[kind] for name, kind in columns.items()}])
    return f"(SELECT unnest(r) FROM (SELECT unnest(from_json($rows, '{structure}')) AS r))"


def rows_parameter(rows: list[Record], columns: dict[str, str]) -> dict[str, str]:
    """The parameters of a statement reading `rows_source(columns)`."""
    picked = [{name: row.get(name) for name in columns} for row in rows]
    return {"rows": orjson.dumps(picked).decode()}


_DATASET_STRUCT = f"STRUCT({', '.join(f'{name} VARCHAR' for name in DATASET_FIELDS)})[]"
_LINEAGE = RECORD_TYPES["lineage"]
_JSON_TYPES = {"str": "VARCHAR", "time": "DOUBLE", "datasets": _DATASET_STRUCT}
_LINEAGE_STRUCTURE = json.dumps({name: _JSON_TYPES[t] for name, t in _LINEAGE.fields.items()})


def _insert_lineage_lines(con: duckdb.DuckDBPyConnection, batch: Batch) -> int:
    """Parse lineage lines with DuckDB's JSON functions (several times faster than
    Python for kilobytes of event JSON), indexing the good ones and quarantining
    the rest with the reason, in two set operations."""
    import numpy as np

    lines = {  # noqa: F841 (read by DuckDB: numpy columns are scanned without a copy)
        "journal": np.array([j for j, _, _ in batch.lineage_lines], dtype=object),
        "byte_offset": np.array([o for _, o, _ in batch.lineage_lines], dtype=np.int64),
        "line": np.array([text for _, _, text in batch.lineage_lines], dtype=object),
    }
    required = sorted(_LINEAGE.required)
    missing = " ".join(
        f"WHEN r.{name} IS NULL THEN 'lineage record without {name} "
        f"(or not {KIND_NAMES[_LINEAGE.fields[name]]})'"
        for name in required
    )
    gaps = " OR ".join(f"r.{name} IS NULL" for name in required)
    # Each line is parsed once (`try`: NULL where it cannot be); only the lines it
    # fails on, or that lack a field, are parsed again to say why. (Checking every
    # line's JSON first, as before, cost three parses of each: 2.5x the time.) A
    # line is kept only to be quarantined.
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE lineage_parsed AS
        SELECT journal, byte_offset, r, CASE WHEN reason IS NOT NULL THEN line END AS line,
               reason
        FROM (
            SELECT journal, byte_offset, line, r, CASE
                WHEN r IS NULL OR {gaps} THEN CASE
                    WHEN NOT json_valid(line) THEN 'not valid JSON (a line cut short by a crash?)'
                    WHEN json_type(line) <> 'OBJECT' THEN 'not a JSON object'
                    {missing}
                    ELSE 'a lineage record whose fields are not of their types'
                END
                WHEN NOT isfinite(r.event_time) OR abs(r.event_time) >= 1e11
                    THEN 'lineage record: event_time is not a time in epoch seconds'
                END AS reason
            FROM (
                SELECT journal, byte_offset, line,
                       try(from_json(line, '{_LINEAGE_STRUCTURE}')) AS r
                FROM lines
            )
        )
        """
    )
    select = ", ".join(
        f"to_timestamp(r.{name}) AS {name}" if t == "time" else f"r.{name} AS {name}"
        for name, t in _LINEAGE.fields.items()
    )
    con.execute(
        f"INSERT INTO lineage_events BY NAME SELECT {select} FROM lineage_parsed "
        "WHERE reason IS NULL ORDER BY journal, byte_offset"
    )
    con.execute(
        "INSERT OR IGNORE INTO quarantine BY NAME SELECT journal, byte_offset, reason, "
        f"left(line, {QUARANTINED_LINE_CHARS}) AS line FROM lineage_parsed WHERE reason IS NOT NULL"
    )
    row = con.execute("SELECT count(*) FROM lineage_parsed WHERE reason IS NOT NULL").fetchone()
    con.execute("DROP TABLE lineage_parsed")
    return 0 if row is None else int(row[0])


def update_current(
    con: duckdb.DuckDBPyConnection,
    touched: list[dict[str, str]] | None,
    *,
    counted: bool = True,
) -> None:
    """Recompute `asset_partitions` for the touched (asset, partition) pairs (None:
    every one) from their whole history of materializations and observations,
    ordered by `seq` (records from before the clock by their wall time, in the
    same microseconds).

    The current row is the latest record; `changed_seq` (and `version_changed_at`)
    is where its data version last changed: a re-materialization with the same
    content changes nothing downstream (early cut-off), whatever the batching.

    Each call is one pass of `store_passes`: the rows it writes carry its number
    (`index_pass`), so the planning snapshot reads only what came after it
    (`counted` False: a migration before the schema had them).
    """
    parameters = None
    if touched is None:
        where = ""
    else:
        pairs = {"asset_key": "str", "partition_key": "str"}
        unique = list({(t["asset_key"], t["partition_key"]): t for t in touched}.values())
        parameters = rows_parameter(unique, pairs)
        where = (
            "WHERE (asset_key, coalesce(partition_key, '')) IN "
            f"(SELECT (asset_key, partition_key) FROM {rows_source(pairs)})"
        )
    con.execute(
        f"""
        INSERT OR REPLACE INTO asset_partitions BY NAME
        WITH history AS (
            SELECT asset_key, coalesce(partition_key, '') AS partition_key, materialization_id,
                   run_id, started_at, finished_at, data_version, code_version,
                   inputs_signature, provenance,
                   coalesce(seq, epoch_us(finished_at)) AS seq,
                   coalesce(started_seq, epoch_us(started_at)) AS started_seq
            FROM materializations {where}
            UNION ALL
            SELECT asset_key, coalesce(partition_key, ''), observation_id, run_id, observed_at,
                   observed_at, data_version, 'source', '', NULL,
                   coalesce(seq, epoch_us(observed_at)), coalesce(seq, epoch_us(observed_at))
            FROM observations {where}
        ), marked AS (
            SELECT *,
                   row_number() OVER w = 1
                       OR data_version IS DISTINCT FROM lag(data_version) OVER w AS is_change,
                   row_number() OVER (
                       PARTITION BY asset_key, partition_key
                       ORDER BY seq DESC, materialization_id DESC
                   ) AS latest
            FROM history
            WINDOW w AS (PARTITION BY asset_key, partition_key ORDER BY seq, materialization_id)
        ), changes AS (
            SELECT asset_key, partition_key,
                   max(seq) FILTER (WHERE is_change) AS changed_seq,
                   arg_max(finished_at, seq) FILTER (WHERE is_change) AS version_changed_at
            FROM marked GROUP BY asset_key, partition_key
        )
        SELECT m.asset_key, m.partition_key, m.materialization_id, m.run_id, m.started_at,
               m.finished_at, m.data_version, m.code_version, m.inputs_signature,
               m.provenance, c.version_changed_at, m.seq, m.started_seq, c.changed_seq
               {", (SELECT passes + 1 FROM store_passes) AS index_pass" if counted else ""}
        FROM marked m JOIN changes c USING (asset_key, partition_key)
        WHERE m.latest = 1
        """,
        parameters,
    )
    if not counted:
        return
    con.execute(
        "UPDATE store_passes SET passes = passes + 1, "
        "store_id = coalesce(store_id, gen_random_uuid()::VARCHAR)"
    )


# Of one asset partition's steps, the latest attempt: the latest started (ties: the
# greatest run id, then step key, whatever order the journals are indexed in).
_LATEST_FIRST = "ORDER BY started_at DESC, run_id DESC, step_key DESC"
_ATTEMPT_COLUMNS = {
    "asset_key": "str",
    "partition_key": "str",
    "run_id": "str",
    "step_key": "str",
    "status": "str",
    "started_at": "time",
}


def _index_attempts(con: duckdb.DuckDBPyConnection, steps: list[Record]) -> None:
    """Lay a batch's step records over `partition_attempts`: a partition's row moves
    to a later attempt, or to the same step's later record (its status moved on)."""
    started = [r for r in steps if r.get("status") != "skipped" and r.get("started_at")]
    if not started:
        return
    con.execute(
        f"""
        INSERT INTO partition_attempts BY NAME
        SELECT *, nextval('partition_attempts_seq') AS seq FROM (
            SELECT asset_key, coalesce(partition_key, '') AS partition_key, run_id, step_key,
                   status, to_timestamp(started_at) AS started_at
            FROM {rows_source(_ATTEMPT_COLUMNS)}
            QUALIFY row_number() OVER (
                PARTITION BY asset_key, coalesce(partition_key, '') {_LATEST_FIRST}
            ) = 1
        )
        ON CONFLICT (asset_key, partition_key) DO UPDATE SET
            run_id = excluded.run_id, step_key = excluded.step_key, status = excluded.status,
            started_at = excluded.started_at, seq = excluded.seq
        WHERE (excluded.run_id = partition_attempts.run_id
               AND excluded.step_key = partition_attempts.step_key)
           OR excluded.started_at > partition_attempts.started_at
           OR (excluded.started_at = partition_attempts.started_at
               AND (excluded.run_id, excluded.step_key)
                   > (partition_attempts.run_id, partition_attempts.step_key))
        """,
        rows_parameter(started, _ATTEMPT_COLUMNS),
    )


def update_attempts(con: duckdb.DuckDBPyConnection, runs: str | None) -> None:
    """Derive `partition_attempts` from `steps`: every row (None), or again the rows
    whose attempt was in a run of the table `runs` (its `run_id`s: runs whose steps
    were just deleted), from the steps that remain."""
    where = ""
    if runs is not None:
        moved = f"run_id IN (SELECT run_id FROM {runs})"
        where = (
            "AND (asset_key, coalesce(partition_key, '')) IN "
            f"(SELECT (asset_key, partition_key) FROM partition_attempts WHERE {moved})"
        )
    derived = f"""
        SELECT *, nextval('partition_attempts_seq') AS seq FROM (
            SELECT asset_key, coalesce(partition_key, '') AS partition_key, run_id, step_key,
                   status, started_at
            FROM steps
            WHERE status <> 'skipped' AND started_at IS NOT NULL {where}
            QUALIFY row_number() OVER (
                PARTITION BY asset_key, coalesce(partition_key, '') {_LATEST_FIRST}
            ) = 1
        )
    """
    if runs is None:
        con.execute("DELETE FROM partition_attempts")
        con.execute(f"INSERT INTO partition_attempts BY NAME {derived}")
        return
    con.execute(f"CREATE OR REPLACE TEMP TABLE rederived_attempts AS {derived}")
    con.execute(f"DELETE FROM partition_attempts WHERE {moved}")
    con.execute("INSERT OR REPLACE INTO partition_attempts BY NAME FROM rederived_attempts")
    con.execute("DROP TABLE rederived_attempts")


def _apply_control(con: duckdb.DuckDBPyConnection, record: Record) -> None:
    """A run whose process died: the run and its running steps become `died`, and
    its open OpenLineage runs get their FAIL. (`journal_closed` changes nothing: it
    only finishes its journal.)"""
    if record["type"] != "run_died":
        return
    at, run_id = record.get("at") or 0.0, record["run_id"]
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
    con.execute(
        "UPDATE partition_attempts SET status = 'died', seq = nextval('partition_attempts_seq') "
        "WHERE run_id = ? AND status = 'running'",
        [run_id],
    )
    _fail_open_lineage_runs(con, run_id, float(at))


_ERROR_FACET_SCHEMA = (
    "https://openlineage.io/spec/facets/1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet"
)


def _fail_open_lineage_runs(con: duckdb.DuckDBPyConnection, run_id: str, at: float) -> None:
    """Give each OpenLineage run the dead run left open (a START, no terminal event)
    its FAIL: the START's event with the death's time and the reason. The event id
    derives from the OpenLineage run, so that indexing twice never makes two."""
    import uuid
    from datetime import UTC, datetime

    rows = con.execute(
        "SELECT any_value(event::VARCHAR) FILTER (WHERE event_type = 'START'), "
        "any_value(kind), any_value(ol_run_id), any_value(job_namespace), any_value(job_name), "
        "any_value(asset_key), any_value(partition_key), any_value(parent_run_id), "
        "any_value(inputs), any_value(outputs) "
        "FROM lineage_events WHERE run_id = ? AND ol_run_id IS NOT NULL GROUP BY ol_run_id "
        "HAVING count(*) FILTER (WHERE event_type <> 'START') = 0 "
        "AND count(*) FILTER (WHERE event_type = 'START') = 1 ORDER BY ol_run_id",
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
                "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"assay:died:{ol_run}")),
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
        insert(con, "lineage", records)
