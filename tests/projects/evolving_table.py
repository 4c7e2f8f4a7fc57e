"""Three days of orders in a DuckDB warehouse, and what reads them all: tests edit the
columns of `orders` between runs, as a user would."""

import polars as pl

from assay import AssetContext, DailyPartitions, DuckDBIO, asset

DAYS = DailyPartitions(start="2024-01-01", end="2024-01-04")


@asset(partitions=DAYS, io=DuckDBIO())
def orders(context: AssetContext) -> pl.DataFrame:
    day = context.partition_key
    return pl.DataFrame({"day": [day], "amount": [float(day[-2:])]})


@asset
def shape(orders: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"columns": [",".join(orders.columns)], "rows": [orders.height]})
