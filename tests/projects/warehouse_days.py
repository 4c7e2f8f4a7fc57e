"""Thirty days kept in a DuckDB warehouse, read back by a rolling window and a total."""

import polars as pl

from assay import AssetContext, AssetIn, DailyPartitions, DuckDBIO, TimeWindowMapping, asset

DAYS = DailyPartitions(start="2024-01-01", end="2024-01-31")


@asset(partitions=DAYS, io=DuckDBIO())
def daily(context: AssetContext) -> pl.DataFrame:
    day = context.partition_key
    return pl.DataFrame({"day": [day], "amount": [int(day[-2:])]})


@asset(
    partitions=DAYS,
    io=DuckDBIO(),
    ins={"week": AssetIn(key="daily", partition_mapping=TimeWindowMapping(start_offset=-6))},
)
def rolling(context: AssetContext, week: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"day": [context.partition_key], "amount": [week["amount"].sum()]})


@asset
def total(rolling: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"days": [rolling.height], "amount": [rolling["amount"].sum()]})
