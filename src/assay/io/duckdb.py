"""DuckDBIO: a table per asset in a DuckDB warehouse file."""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.assets import InputKind
from assay.errors import MaterializationError
from assay.io.base import StoredOutput, check_output, missing_input
from assay.locking import file_lock, foreign_holder
from assay.versioning import data_version

if TYPE_CHECKING:
    from collections.abc import Sequence

    import duckdb

    from assay.config import ProjectConfig
    from assay.keys import AssetKey

WAREHOUSE_LOCK_TIMEOUT_S = 60.0
PARTITION_COLUMN = "_partition"


@dataclass(frozen=True, slots=True)
class DuckDBIO:
    """Store each asset as a table in a DuckDB file: `sales/orders` -> `sales.orders`.

    `path` defaults to `<home>/warehouse.duckdb`; a relative path is taken from the
    project root. The table is replaced in one transaction, so readers see the old
    table or the new one. An unprefixed key goes to `schema` (default `main`).
    Partitioned assets share one table with a `_partition` column; writing a
    partition replaces its rows in one transaction.

    Example:
        >>> from assay import asset, DuckDBIO
        >>> @asset(io=DuckDBIO(path="warehouse.duckdb"))
        ... def customers(): ...
    """

    path: Path | None = None
    schema: str = "main"

    def __init__(self, path: str | Path | None = None, schema: str = "main") -> None:
        object.__setattr__(self, "path", None if path is None else Path(path))
        object.__setattr__(self, "schema", schema)

    @property
    def kind(self) -> str:
        return "duckdb"

    def bind(self, config: ProjectConfig) -> DuckDBIO:
        if self.path is None:
            return replace(self, path=config.home / "warehouse.duckdb")
        return replace(self, path=self.path if self.path.is_absolute() else config.root / self.path)

    def table(self, key: AssetKey) -> tuple[str, str]:
        """The (schema, table) an asset is stored in."""
        return ("_".join(key.path[:-1]) or self.schema, key.name)

    def lineage_dataset(self, key: AssetKey) -> tuple[str, str]:
        """OpenLineage's name for a DuckDB table: `duckdb://<file>`, `db.schema.table`."""
        path = self._path()
        schema, table = self.table(key)
        return f"duckdb://{path}", f"{path.stem}.{schema}.{table}"

    def write(self, key: AssetKey, partition: str | None, value: Any) -> StoredOutput:
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
        name = f'"{schema}"."{table}"'
        arrow_value = value.to_arrow()  # noqa: F841 (read by DuckDB's replacement scan)
        with self._connect(read_only=False) as con:
            con.execute("BEGIN")
            con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
            if partition is None:
                con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT * FROM arrow_value")
            else:
                con.execute(
                    f"CREATE TABLE IF NOT EXISTS {name} AS "
                    f"SELECT *, ''::VARCHAR AS {PARTITION_COLUMN} FROM arrow_value LIMIT 0"
                )
                con.execute(f"DELETE FROM {name} WHERE {PARTITION_COLUMN} = ?", [partition])
                try:
                    con.execute(
                        f"INSERT INTO {name} BY NAME "
                        f"SELECT *, ?::VARCHAR AS {PARTITION_COLUMN} FROM arrow_value",
                        [partition],
                    )
                except Exception as exc:
                    con.execute("ROLLBACK")
                    raise MaterializationError(
                        f"partition {partition!r} of {str(key)!r} does not fit the table "
                        f"{schema}.{table}: {str(exc).splitlines()[0]}"
                    ) from exc
            con.execute("COMMIT")
        where = f"{self._path()}::{schema}.{table}"
        return StoredOutput(
            location=where if partition is None else f"{where}[{partition}]",
            row_count=value.height,
            byte_size=int(value.estimated_size()),
            data_version=data_version(buffer.getvalue()),
            columns=tuple((name, str(dtype)) for name, dtype in value.schema.items()),
        )

    def load(self, key: AssetKey, partitions: Sequence[str] | None, kind: InputKind) -> Any:
        schema, table = self.table(key)
        where = f"{self._path()}::{schema}.{table}"
        if not self._path().is_file():
            raise missing_input(key, where, partitions or ())
        name = f'"{schema}"."{table}"'
        with self._connect(read_only=True) as con:
            found = con.execute(
                "SELECT 1 FROM information_schema.tables WHERE table_schema = ? AND table_name = ?",
                [schema, table],
            ).fetchall()
            if not found:
                raise missing_input(key, where, partitions or ())
            if partitions is None:
                frame = con.sql(f"SELECT * FROM {name}").pl()
            else:
                stored = {
                    row[0]
                    for row in con.execute(
                        f"SELECT DISTINCT {PARTITION_COLUMN} FROM {name} "
                        f"WHERE {PARTITION_COLUMN} IN (SELECT unnest(?::VARCHAR[]))",
                        [list(partitions)],
                    ).fetchall()
                }
                missing = [p for p in partitions if p not in stored]
                if missing:
                    raise missing_input(key, where, missing)
                frame = con.sql(
                    f"SELECT * EXCLUDE ({PARTITION_COLUMN}) FROM {name} "
                    f"WHERE {PARTITION_COLUMN} IN (SELECT unnest(?::VARCHAR[]))",
                    params=[list(partitions)],
                ).pl()
        if kind is InputKind.LAZY:
            return frame.lazy()
        return frame.to_arrow() if kind is InputKind.ARROW else frame

    def _path(self) -> Path:
        if self.path is None:
            raise RuntimeError("DuckDBIO used before bind(): a bug in assay")
        return self.path

    def _connect(self, *, read_only: bool) -> _Connection:
        return _Connection(self._path(), read_only=read_only)


class _Connection:
    """A DuckDB connection held only inside a `with`, under the file lock."""

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
