"""Every output type and input annotation, and one asset in a DuckDB warehouse."""

import polars as pl
import pyarrow as pa

from assay import AssetIn, DuckDBIO, asset


@asset(key_prefix="sales")
def eager() -> pl.DataFrame:
    return pl.DataFrame({"k": ["a", "b", "c"], "v": [1, 2, 3]})


@asset(key_prefix="sales")
def lazy(eager: pl.LazyFrame) -> pl.LazyFrame:
    return eager.filter(pl.col("v") > 1)


@asset(key_prefix="sales")
def arrow(lazy: pa.Table) -> pa.Table:
    assert isinstance(lazy, pa.Table)
    return lazy.append_column("w", pa.array([10] * lazy.num_rows))


@asset(io=DuckDBIO(), ins={"source": AssetIn(key="sales/arrow")})
def warehouse(source: pl.DataFrame) -> pl.LazyFrame:
    return source.lazy().with_columns(total=pl.col("v") + pl.col("w"))


@asset
def reader(warehouse: pl.LazyFrame) -> pl.DataFrame:
    return warehouse.collect()
