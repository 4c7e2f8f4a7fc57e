"""DuckDBIO: a table per asset in a DuckDB warehouse file."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import ConfigError, MaterializationError
from assay.io.base import InputKind, StoredOutput, check_output, missing_input
from assay.io.duckdb_columns import fit_table, forget_columns
from assay.io.hashing import data_version
from assay.io.schema_evolution import OnSchemaChange
from assay.io.warehouse import warehouse_for
from assay.keys import AssetKey
from assay.locking import ReadOnlyError, file_lock, foreign_holder
from assay.resources import EnvVar

if TYPE_CHECKING:
    from collections.abc import Sequence

    import duckdb
    import polars as pl
    import pyarrow as pa

    from assay.config import ProjectConfig
    from assay.io.warehouse import Session

WAREHOUSE_LOCK_TIMEOUT_S = 60.0  # a read-only folder's readers: the shared lock
PARTITION_COLUMN = "_partition"
# Which asset key owns each table, kept in the warehouse itself and written in the
# transaction that writes the table. No asset key maps to this name: segments hold
# no '.'.
OWNERS_NAME = "assay.table_owners"
OWNERS_TABLE = f'main."{OWNERS_NAME}"'


@dataclass(frozen=True, slots=True)
class DuckDBIO:
    """Store each asset as a table in a DuckDB file: `sales/orders` -> `sales.orders`.

    The table is the key's last segment; the segments before it, joined by `/`,
    name the schema: `orders` -> `main.orders` (an unprefixed key goes to
    `schema`, default `main`), `sales/orders` -> `sales.orders`, `a/b/c` ->
    `"a/b".c` (quote it in SQL). Segments hold no `/`, so distinct prefixes never
    share a schema. Two keys can still meet in one table only as DuckDB compares
    names without case (`Sales/orders`, `sales/orders`), or as `main/orders`
    meets the unprefixed `orders`; so the warehouse records which asset key owns
    each table (in `main."assay.table_owners"`, written in the transaction that
    writes the table), and writing or reading a table another key owns fails,
    naming both keys. Before this, assay joined the prefix with `_` (`a/b/c` and
    `a_b/c` both in `a_b.c`): a table written then, with no owner recorded, is
    taken over by the key that writes it, unless another key of the warehouse
    was stored there then (that fails too, and says how to start it afresh).

    `path` defaults to `<home>/warehouse.duckdb`; a relative path is taken from the
    project root. The table is replaced in one transaction, so readers see the old
    table or the new one. Partitioned assets share one table with a `_partition`
    column; writing a partition replaces its rows in one transaction.

    When a partitioned asset's columns change, so does its table, for every partition
    (see `assay.io.duckdb_columns`): a run that writes every partition makes the table
    the output's columns (dropping, converting, adding); a run that writes some adds
    new columns and widens types (`INTEGER` to `BIGINT`; older partitions hold NULL
    in an added column), and `on_schema_change` says what it does with a removed or
    retyped column: `"sync_on_full_rewrite"` (the default) refuses the write, naming
    the column and the fix; `"append_new_columns"` keeps a removed column (NULL in the
    partitions written since) and refuses a retyped one; `"sync_all_columns"` drops
    and converts them in every partition; `"fail"` refuses any change, added columns
    too. An unpartitioned asset's table is replaced whole, columns and all.

    Reads and writes do not open the file each time: one process on the machine
    keeps it open while there is work and the others send it theirs; it lets go
    after a second without any, at the end of its run and at its exit (see
    `assay.io.warehouse` for why, and what waits how long).

    Example:
        >>> from assay import AssetKey, DuckDBIO, asset
        >>> @asset(io=DuckDBIO(path="warehouse.duckdb"))
        ... def customers(): ...
        >>> DuckDBIO().table(AssetKey.parse("raw/shop/orders"))
        ('raw/shop', 'orders')
        >>> DuckDBIO(on_schema_change="append_new_columns").on_schema_change
        <OnSchemaChange.APPEND_NEW_COLUMNS: 'append_new_columns'>
    """

    path: Path | None = None
    schema: str = "main"
    on_schema_change: OnSchemaChange = OnSchemaChange.SYNC_ON_FULL_REWRITE

    def __init__(
        self,
        path: str | Path | None = None,
        schema: str = "main",
        on_schema_change: str | OnSchemaChange = OnSchemaChange.SYNC_ON_FULL_REWRITE,
    ) -> None:
        kept = path if path is None or isinstance(path, EnvVar) else Path(path)
        object.__setattr__(self, "path", kept)  # an EnvVar is read when the IO is built
        object.__setattr__(self, "schema", schema)
        object.__setattr__(self, "on_schema_change", OnSchemaChange.parse(on_schema_change))

    @property
    def kind(self) -> str:
        return "duckdb"

    @property
    def stores(self) -> str:
        return "frames"

    def bind(self, config: ProjectConfig) -> DuckDBIO:
        if isinstance(self.path, EnvVar):
            raise ConfigError(
                f"DuckDBIO(path={self.path!r}) was bound before the variable was read: "
                "give it as a resource (Definitions(resources=...), io='name')"
            )
        if isinstance(self.path, str):  # read from an EnvVar
            return replace(self, path=Path(self.path)).bind(config)
        if self.path is None:
            return replace(self, path=config.home / "warehouse.duckdb")
        return replace(self, path=self.path if self.path.is_absolute() else config.root / self.path)

    def table(self, key: AssetKey) -> tuple[str, str]:
        """The (schema, table) an asset is stored in (see the class docstring)."""
        return ("/".join(key.path[:-1]) or self.schema, key.name)

    def legacy_table(self, key: AssetKey) -> tuple[str, str]:
        """Where assay before table ownership stored the asset: the prefix joined by `_`,
        which put `a/b/c` and `a_b/c` in one table."""
        return ("_".join(key.path[:-1]) or self.schema, key.name)

    def lineage_dataset(self, key: AssetKey) -> tuple[str, str]:
        """OpenLineage's name for a DuckDB table: `duckdb://<file>`, `db.schema.table`."""
        path = self._path()
        schema, table = self.table(key)
        return f"duckdb://{path}", f"{path.stem}.{schema}.{table}"

    def write(
        self,
        key: AssetKey,
        partition: str | None,
        value: Any,
        *,
        full_rewrite_run_id: str | None = None,
    ) -> StoredOutput:
        import polars as pl

        check_output(key, value)
        if isinstance(value, pl.LazyFrame):
            value = value.collect()
        elif not isinstance(value, pl.DataFrame):
            value = pl.from_arrow(value)
        assert isinstance(value, pl.DataFrame)
        buffer = io.BytesIO()
        value.write_parquet(buffer)
        schema, table = self.table(key)
        where = f"{self._path()}::{_shown(schema, table)}"
        try:
            warehouse_for(self._path()).run(
                _store, self, key, partition, value.to_arrow(), full_rewrite_run_id
            )
        except Exception as exc:
            if type(exc).__module__.partition(".")[0] != "duckdb":
                raise
            stored = where if partition is None else f"partition {partition!r} to {where}"
            raise MaterializationError(
                f"cannot write {stored} of asset {str(key)!r}: {str(exc).splitlines()[0]}"
            ) from exc
        return StoredOutput(
            location=where if partition is None else f"{where}[{partition}]",
            row_count=value.height,
            byte_size=int(value.estimated_size()),
            data_version=data_version(buffer.getvalue()),
            columns=tuple((name, str(dtype)) for name, dtype in value.schema.items()),
        )

    def load(self, key: AssetKey, partitions: Sequence[str] | None, kind: InputKind) -> Any:
        if not self._path().is_file():
            schema, table = self.table(key)
            raise missing_input(key, f"{self._path()}::{_shown(schema, table)}", partitions or ())
        try:
            frame = warehouse_for(self._path()).run(_fetch, self, key, partitions)
        except ReadOnlyError:  # nobody can write there either: read it on a connection of its own
            with _Connection(self._path(), read_only=True) as con:
                frame = _fetch(con, {}, self, key, partitions)
        if kind is InputKind.LAZY:
            return frame.lazy()
        return frame.to_arrow() if kind is InputKind.ARROW else frame

    def query(self, sql: str, parameters: Sequence[Any] = ()) -> pl.DataFrame:
        """The result of a query on the warehouse, as a polars DataFrame: for an asset
        that receives this IO manager as a resource (`Definitions(resources=
        {"warehouse": DuckDBIO(...)})`, a parameter named `warehouse`). It runs on the
        connection the machine's processes share, so it never waits for a writer of
        this run; pass values as `parameters` (`?` in `sql`), never in the text.

        Raises:
            MaterializationError: the warehouse file does not exist yet, or the query
                failed (DuckDB's message).
        """
        if not self._path().is_file():
            raise MaterializationError(
                f"the warehouse {self._path()} does not exist yet: materialize an asset "
                "stored there first"
            )
        try:
            result: pl.DataFrame = warehouse_for(self._path()).run(_query, sql, list(parameters))
        except ReadOnlyError:
            with _Connection(self._path(), read_only=True) as con:
                result = _query(con, {}, sql, list(parameters))
        return result

    def exists(self, key: AssetKey, partitions: Sequence[str] | None) -> list[bool]:
        """Whether each partition (None: the unpartitioned asset) has rows in its
        table: for `assay plan --verify` (one query per asset)."""
        if not self._path().is_file():
            return [False] * (1 if partitions is None else len(partitions))
        try:
            return warehouse_for(self._path()).run(_stored, self, key, partitions)
        except ReadOnlyError:
            with _Connection(self._path(), read_only=True) as con:
                return _stored(con, {}, self, key, partitions)

    def _claim(self, con: duckdb.DuckDBPyConnection, key: AssetKey, *, replaced: bool) -> None:
        """Record `key` as the owner of its table, or raise if another key owns it.

        Runs in the write's transaction. A table that exists with no owner was written
        before ownership was recorded: `key` takes it over (`predates` stays true until
        a whole replace, since other partitions' rows are an older assay's).
        """
        schema, table = self.table(key)
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {OWNERS_TABLE} (schema_name VARCHAR NOT NULL, "
            "table_name VARCHAR NOT NULL, asset_key VARCHAR NOT NULL, "
            "predates BOOLEAN NOT NULL, claimed_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        if _exists(con, schema, table):
            owners = _owners(con)
            self._check_owner(key, owners)
            predates = owners.get(_folded(schema, table), (str(key), True))[1] and not replaced
        else:  # a new table (or its owner's was dropped): whoever writes it owns it
            predates = False
        con.execute(
            f"DELETE FROM {OWNERS_TABLE} WHERE lower(schema_name) = lower(?) "
            "AND lower(table_name) = lower(?)",
            [schema, table],
        )
        con.execute(
            f"INSERT INTO {OWNERS_TABLE} (schema_name, table_name, asset_key, predates) "
            "VALUES (?, ?, ?, ?)",
            [schema, table, str(key), predates],
        )

    def _check_owner(self, key: AssetKey, owners: dict[tuple[str, str], tuple[str, bool]]) -> None:
        """Raise when `key`'s (existing) table belongs to another asset, or may hold its
        rows; a table with no owner recorded was written by an older assay."""
        schema, table = self.table(key)
        owner_key, predates = owners.get(_folded(schema, table), (str(key), True))
        if owner_key != str(key):
            raise MaterializationError(
                f"asset {str(key)!r} maps to the table {_shown(schema, table)}, which holds "
                f"asset {owner_key!r}: rename one of them (DuckDB ignores case in names), "
                "or store one with another DuckDBIO(path=...)"
            )
        if not predates:
            return
        for (other_schema, other_table), (other_key, _) in owners.items():
            if other_key == str(key):
                continue
            legacy = self.legacy_table(AssetKey.parse(other_key))
            if _folded(*legacy) == _folded(schema, table):
                raise MaterializationError(
                    f"the table {_shown(schema, table)} of asset {str(key)!r} was written by "
                    f"an older assay, which stored asset {other_key!r} there too (now in "
                    f"{_shown(other_schema, other_table)}): drop it (DROP TABLE "
                    f"{_shown(schema, table)}) and re-materialize "
                    f"(`assay materialize {key} --force`)"
                )

    def _path(self) -> Path:
        if self.path is None:
            raise RuntimeError("DuckDBIO used before bind(): a bug in assay")
        return self.path


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = con.execute(
        "SELECT 1 FROM information_schema.tables "
        "WHERE lower(table_schema) = lower(?) AND lower(table_name) = lower(?)",
        [schema, table],
    ).fetchall()
    return bool(found)


def _owners(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], tuple[str, bool]]:
    """{(schema, table) in lower case: (asset key, predates)}; empty before any claim."""
    if not _exists(con, "main", OWNERS_NAME):
        return {}
    rows = con.execute(
        f"SELECT schema_name, table_name, asset_key, predates FROM {OWNERS_TABLE}"
    ).fetchall()
    return {_folded(s, t): (str(k), bool(p)) for s, t, k, p in rows}


def _folded(schema: str, table: str) -> tuple[str, str]:
    return schema.lower(), table.lower()


def _shown(schema: str, table: str) -> str:
    """`sales.orders`, `"a/b".c`: as it is written in SQL."""
    return ".".join(
        n if n.replace("_", "").isalnum() and not n[0].isdigit() else f'"{n}"'
        for n in (schema, table)
    )


def _store(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    io: DuckDBIO,
    key: AssetKey,
    partition: str | None,
    rows: pa.Table,
    full_rewrite_run_id: str | None = None,
) -> None:
    """Write `rows` as `key`'s table (`partition` None) or as one partition of it, in one
    transaction with the table's owner and the changes of its columns
    (`assay.io.duckdb_columns`; `full_rewrite_run_id`: the run writes every partition).

    The first write of a table in a connection's session claims it and creates it; the
    next ones of the same key only replace rows (the session remembers: its keeper is
    the only one writing the file, see assay.io.warehouse).
    """
    schema, table = io.table(key)
    name = f'"{schema}"."{table}"'
    ready = session.setdefault("ready", set())
    written = (_folded(schema, table), str(key), partition is None)
    arrow_value = rows  # noqa: F841 (read by DuckDB's replacement scan)
    con.execute("BEGIN")
    try:
        if written not in ready:
            io._claim(con, key, replaced=partition is None)
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        if partition is None:
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM arrow_value")
            forget_columns(session, (schema, table))
        else:
            if written not in ready:
                con.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} AS "
                    f"SELECT *, ''::VARCHAR AS {PARTITION_COLUMN} FROM arrow_value LIMIT 0"
                )
            fit_table(
                con,
                session,
                key=key,
                table=(schema, table),
                shown=_shown(schema, table),
                partition_column=PARTITION_COLUMN,
                rows=rows,
                policy=io.on_schema_change,
                full_rewrite_run_id=full_rewrite_run_id,
            )
            con.execute(f"DELETE FROM {name} WHERE {PARTITION_COLUMN} = ?", [partition])
            try:
                con.execute(
                    f"INSERT INTO {name} BY NAME "
                    f"SELECT *, ?::VARCHAR AS {PARTITION_COLUMN} FROM arrow_value",
                    [partition],
                )
            except Exception as exc:
                raise MaterializationError(
                    f"partition {partition!r} of {str(key)!r} does not fit the table "
                    f"{_shown(schema, table)}: {str(exc).splitlines()[0]}"
                ) from exc
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise
    ready.add(written)
    session.setdefault("readable", {})[written[0]] = str(key)


def _stored(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    io: DuckDBIO,
    key: AssetKey,
    partitions: Sequence[str] | None,
) -> list[bool]:
    schema, table = io.table(key)
    if not _exists(con, schema, table):
        return [False] * (1 if partitions is None else len(partitions))
    if partitions is None:
        return [True]
    stored = {
        row[0]
        for row in con.execute(
            f'SELECT DISTINCT {PARTITION_COLUMN} FROM "{schema}"."{table}" '
            f"WHERE {PARTITION_COLUMN} IN (SELECT unnest(?::VARCHAR[]))",
            [list(partitions)],
        ).fetchall()
    }
    return [p in stored for p in partitions]


def _query(
    con: duckdb.DuckDBPyConnection, session: Session, sql: str, parameters: list[Any]
) -> pl.DataFrame:
    import duckdb

    try:
        found: pl.DataFrame = con.sql(sql, params=parameters or None).pl()
        return found
    except duckdb.Error as exc:
        raise MaterializationError(f"the warehouse query failed: {exc}") from None


def _fetch(
    con: duckdb.DuckDBPyConnection,
    session: Session,
    io: DuckDBIO,
    key: AssetKey,
    partitions: Sequence[str] | None,
) -> pl.DataFrame:
    """`key`'s table, or those of its partitions (all of them, or a MaterializationError
    naming the missing ones), in one query once the session knows the table is `key`'s."""
    schema, table = io.table(key)
    name = f'"{schema}"."{table}"'
    readable = session.setdefault("readable", {})
    if readable.get(_folded(schema, table)) != str(key):
        if not _exists(con, schema, table):
            legacy = io.legacy_table(key)
            if legacy != (schema, table) and _exists(con, *legacy):
                raise MaterializationError(
                    f"asset {str(key)!r} has no table {_shown(schema, table)} yet: an older "
                    f"assay stored it in {_shown(*legacy)}, shared with "
                    f"{legacy[0] + '/' + legacy[1]!r}; re-materialize it "
                    f"(`assay materialize {key} --force`)"
                )
            raise missing_input(key, f"{io._path()}::{_shown(schema, table)}", partitions or ())
        io._check_owner(key, _owners(con))
        readable[_folded(schema, table)] = str(key)
    if partitions is None:
        whole: pl.DataFrame = con.sql(f"SELECT * FROM {name}").pl()
        return whole
    import polars as pl
    import pyarrow.compute as pc

    # One query, its partition column checked in Arrow (a polars operation on the frame
    # would cost a query plan of its own), then dropped.
    rows = con.sql(
        f"SELECT * FROM {name} WHERE {PARTITION_COLUMN} IN (SELECT unnest(?::VARCHAR[]))",
        params=[list(partitions)],
    ).to_arrow_table()
    stored = set(pc.unique(rows[PARTITION_COLUMN]).to_pylist())
    missing = [p for p in partitions if p not in stored]
    if missing:
        raise missing_input(key, f"{io._path()}::{_shown(schema, table)}", missing)
    frame = pl.from_arrow(rows.drop_columns([PARTITION_COLUMN]), rechunk=False)
    assert isinstance(frame, pl.DataFrame)
    return frame


class _Connection:
    """A DuckDB connection held only inside a `with`, under the file lock: how a warehouse
    in a folder that cannot be written is read (no process can keep it there)."""

    def __init__(self, path: Path, *, read_only: bool) -> None:
        self.path = path
        self.read_only = read_only
        self._lock = file_lock(path, exclusive=not read_only, timeout_s=WAREHOUSE_LOCK_TIMEOUT_S)
        self._con: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        import duckdb

        self._lock.__enter__()
        try:
            self._con = duckdb.connect(str(self.path), read_only=self.read_only)
        except duckdb.Error as exc:
            self._lock.__exit__(None, None, None)
            holder = foreign_holder(exc)
            if holder:
                raise MaterializationError(
                    f"the warehouse {self.path} is held open by {holder}; "
                    "close that connection and retry"
                ) from exc
            raise MaterializationError(f"cannot open the warehouse {self.path}: {exc}") from exc
        return self._con

    def __exit__(self, *exc_info: object) -> None:
        try:
            if self._con is not None:
                self._con.close()
        finally:
            self._lock.__exit__(None, None, None)
