"""How the columns of a partitioned `DuckDBIO` table follow its asset's outputs.

A partition is written into a table that holds every partition, so an output whose
columns differ from the table's changes the table for all of them. The rules (also
in `DuckDBIO` and docs/assets.md):

- The first write of a run that writes every partition of the asset (a *full
  rewrite*) makes the table's columns the output's, in its order and types: a
  removed column is dropped, a retyped one converted (`TRY_CAST`; the partitions
  not yet written hold NULL where a value does not convert, until their turn). The
  run is recorded in `main."assay.full_rewrites"`, so its later writes do not do it
  again (they would drop what its earlier ones stored).
- Any other write goes by the table's `OnSchemaChange` policy.

A column the output holds in a type the table's column holds (`INTEGER` into
`BIGINT`, an all-null column) is no change under any policy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.errors import MaterializationError
from assay.io.schema_evolution import (
    NULL_TYPE,
    ColumnChanges,
    OnSchemaChange,
    column_changes,
    holds,
    quoted,
)

if TYPE_CHECKING:
    import duckdb
    import pyarrow as pa

    from assay.io.warehouse import Session
    from assay.keys import AssetKey

REWRITES_NAME = "assay.full_rewrites"
REWRITES_TABLE = f'main."{REWRITES_NAME}"'

Columns = dict[str, str]  # column name -> DuckDB type name, in the table's order


def fit_table(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    *,
    key: AssetKey,
    table: tuple[str, str],
    shown: str,
    partition_column: str,
    rows: pa.Table,
    policy: OnSchemaChange,
    full_rewrite_run_id: str | None,
) -> None:
    """Change the columns of the (existing) partitioned `table` so that `rows` can be
    written as one partition, in the caller's transaction.

    Raises:
        MaterializationError: the policy refuses the change; the message names the
            columns and how to apply it.
    """
    schema, name = table
    sql_name = f'"{schema}"."{name}"'
    folded = (schema.lower(), name.lower())
    starts_rewrite = full_rewrite_run_id is not None and _starts_rewrite(
        con, session, table, full_rewrite_run_id
    )
    stored = _stored_columns(con, session, sql_name, folded, partition_column)
    output = _output_columns(con, session, rows)
    by_name = {column.lower(): kind for column, kind in stored.items()}
    if starts_rewrite:
        target = {
            column: by_name.get(column.lower(), kind) if kind == NULL_TYPE else kind
            for column, kind in output.items()
        }
        if list(target.items()) != list(stored.items()):
            _rebuild(con, sql_name, stored, target, partition_column)
            session["columns"][folded] = target
        return
    changes = column_changes(stored, output)
    if not changes:
        return
    refused = _refused(changes, policy)
    if refused:
        raise MaterializationError(
            _refusal(
                key,
                shown,
                refused,
                stored,
                output,
                policy,
                in_full_rewrite=full_rewrite_run_id is not None,
            )
        )
    if policy is OnSchemaChange.SYNC_ALL_COLUMNS and (changes.removed or changes.retyped):
        target = {}
        for column, kind in output.items():
            old = by_name.get(column.lower())
            target[column] = old if old is not None and holds(old, kind) else kind
        _rebuild(con, sql_name, stored, target, partition_column)
        session["columns"][folded] = target
        return
    updated = dict(stored)
    for column in changes.added:
        con.execute(f"ALTER TABLE {sql_name} ADD COLUMN {quoted(column)} {output[column]}")
        updated[column] = output[column]
    for column in changes.widened:
        old_name = _stored_name(stored, column)
        con.execute(f"ALTER TABLE {sql_name} ALTER COLUMN {quoted(old_name)} TYPE {output[column]}")
        updated[old_name] = output[column]
    session["columns"][folded] = updated


def forget_columns(session: Session, table: tuple[str, str]) -> None:
    """The table was replaced whole: what the session knew of its columns is stale."""
    session.get("columns", {}).pop((table[0].lower(), table[1].lower()), None)


def _starts_rewrite(
    con: duckdb.DuckDBPyConnection, session: Session, table: tuple[str, str], run_id: str
) -> bool:
    """Whether this is the first write of the full rewrite `run_id` into `table`, which
    is then recorded as the table's latest full rewrite."""
    seen = session.setdefault("rewrites", set())
    folded = (table[0].lower(), table[1].lower())
    if (folded, run_id) in seen:
        return False
    con.execute(
        f"CREATE TABLE IF NOT EXISTS {REWRITES_TABLE} (schema_name VARCHAR NOT NULL, "
        "table_name VARCHAR NOT NULL, run_id VARCHAR NOT NULL, "
        "started_at TIMESTAMPTZ NOT NULL DEFAULT now())"
    )
    where = "WHERE lower(schema_name) = lower(?) AND lower(table_name) = lower(?)"
    latest = con.execute(f"SELECT run_id FROM {REWRITES_TABLE} {where}", list(table)).fetchall()
    starts = not latest or latest[0][0] != run_id
    if starts:
        con.execute(f"DELETE FROM {REWRITES_TABLE} {where}", list(table))
        con.execute(
            f"INSERT INTO {REWRITES_TABLE} (schema_name, table_name, run_id) VALUES (?, ?, ?)",
            [*table, run_id],
        )
    seen.add((folded, run_id))
    return starts


def _stored_columns(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    sql_name: str,
    folded: tuple[str, str],
    partition_column: str,
) -> Columns:
    known: dict[tuple[str, str], Columns] = session.setdefault("columns", {})
    if folded not in known:
        relation = con.sql(f"SELECT * FROM {sql_name} LIMIT 0")
        known[folded] = {
            column: str(kind)
            for column, kind in zip(relation.columns, relation.dtypes, strict=True)
            if column.lower() != partition_column.lower()
        }
    return known[folded]


def _output_columns(con: duckdb.DuckDBPyConnection, session: Session, rows: pa.Table) -> Columns:
    """The DuckDB types the rows would be stored as (remembered per Arrow schema: an
    asset's partitions share one, and binding a relation costs a millisecond)."""
    known: dict[pa.Schema, Columns] = session.setdefault("outputs", {})
    if rows.schema not in known:
        relation = con.from_arrow(rows.schema.empty_table())
        types = zip(relation.columns, relation.dtypes, strict=True)
        known[rows.schema] = {column: str(kind) for column, kind in types}
    return known[rows.schema]


def _rebuild(
    con: duckdb.DuckDBPyConnection,
    sql_name: str,
    stored: Columns,
    target: Columns,
    partition_column: str,
) -> None:
    """Replace the table by its rows with `target`'s columns: dropped, converted
    (values that do not convert become NULL) or added (NULL)."""
    exprs = []
    for column, kind in target.items():
        old = _stored_name(stored, column) if column.lower() in _folded(stored) else None
        if old is None:
            exprs.append(f"CAST(NULL AS {kind}) AS {quoted(column)}")
        elif stored[old] == kind:
            exprs.append(f"{quoted(old)} AS {quoted(column)}")
        else:
            exprs.append(f"TRY_CAST({quoted(old)} AS {kind}) AS {quoted(column)}")
    exprs.append(quoted(partition_column))
    con.execute(f"CREATE OR REPLACE TABLE {sql_name} AS SELECT {', '.join(exprs)} FROM {sql_name}")


def _folded(columns: Columns) -> set[str]:
    return {column.lower() for column in columns}


def _stored_name(stored: Columns, column: str) -> str:
    """The table's spelling of an output column (DuckDB names ignore case)."""
    return next(name for name in stored if name.lower() == column.lower())


def _refused(changes: ColumnChanges, policy: OnSchemaChange) -> ColumnChanges:
    """The changes `policy` does not make outside a full rewrite."""
    if policy is OnSchemaChange.FAIL:
        return changes
    if policy is OnSchemaChange.SYNC_ALL_COLUMNS:
        return ColumnChanges()
    if policy is OnSchemaChange.APPEND_NEW_COLUMNS:
        return ColumnChanges(retyped=changes.retyped)
    return ColumnChanges(removed=changes.removed, retyped=changes.retyped)


def _refusal(
    key: AssetKey,
    shown: str,
    refused: ColumnChanges,
    stored: Columns,
    output: Columns,
    policy: OnSchemaChange,
    *,
    in_full_rewrite: bool,
) -> str:
    """One line: what the output changes in the table, and the ways to apply it."""

    def names(columns: tuple[str, ...]) -> str:
        return ("column " if len(columns) == 1 else "columns ") + ", ".join(map(repr, columns))

    what = []
    if refused.added:
        what.append(f"adds {names(refused.added)}")
    if refused.removed:
        what.append(f"no longer returns {names(refused.removed)}")
    for column in (*refused.widened, *refused.retyped):
        old = stored[_stored_name(stored, column)]
        what.append(f"returns column {column!r} as {output[column]} instead of {old}")
    changes = f"asset {str(key)!r} {' and '.join(what)}"
    if in_full_rewrite:
        return (
            f"{changes}, unlike the partitions this run wrote before into its table {shown}: "
            "return the same columns from every partition"
            + (
                ", or keep missing ones with DuckDBIO(on_schema_change='append_new_columns')"
                if refused.removed and not refused.retyped and policy is not OnSchemaChange.FAIL
                else ""
            )
        )
    force = f"`assay materialize {key} --force`"
    if policy is OnSchemaChange.FAIL:
        return (
            f"{changes}, unlike the other partitions of its table {shown}, and its "
            f"DuckDBIO(on_schema_change='fail') refuses changes: materialize every partition "
            f"to apply them ({force})"
        )
    other = (
        "convert the stored values with DuckDBIO(on_schema_change='sync_all_columns')"
        if refused.retyped
        else "keep it with DuckDBIO(on_schema_change='append_new_columns')"
    )
    return (
        f"{changes}, unlike the other partitions of its table {shown}: materialize every "
        f"partition to apply that ({force}), or {other}"
    )
