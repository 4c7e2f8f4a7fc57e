"""A week of daily partitions in a diamond, with a rolling window, a lag, an
unpartitioned config, an hourly feed and an unpartitioned total. Environment
variables change data (ROOT_CHANGE=day,day; CONFIG; CLICK_CHANGE=hour) and
code (ROOT_CODE) between runs."""

import os

import polars as pl

from assay import (
    AssetContext,
    AssetIn,
    DailyPartitions,
    HourlyPartitions,
    TimeWindowMapping,
    asset,
)

DAYS = DailyPartitions(start="2024-01-01", end="2024-01-08")
HOURS = HourlyPartitions(start="2024-01-01", end="2024-01-08")


@asset(partitions=DAYS, code_version=os.environ.get("ROOT_CODE", "1"))
def root(context: AssetContext) -> pl.DataFrame:
    day = context.partition_key
    bump = 100 if day in os.environ.get("ROOT_CHANGE", "").split(",") else 0
    return pl.DataFrame({"day": [day], "v": [int(day[-2:]) + bump]})


@asset(partitions=DAYS)
def left(root: pl.DataFrame) -> pl.DataFrame:
    return root.with_columns(v=pl.col("v") + 1)


@asset(partitions=DAYS)
def right(root: pl.DataFrame) -> pl.DataFrame:
    return root.with_columns(v=pl.col("v") * 2)


@asset(partitions=DAYS)
def joined(left: pl.DataFrame, right: pl.DataFrame) -> pl.DataFrame:
    return left.join(right, on="day")


@asset(partitions=DAYS, ins={"root": AssetIn(partition_mapping=TimeWindowMapping(start_offset=-2))})
def rolling(root: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"v": [root["v"].sum()]})


@asset
def config() -> pl.DataFrame:
    return pl.DataFrame({"factor": [int(os.environ.get("CONFIG", "1"))]})


@asset(partitions=DAYS)
def configured(root: pl.DataFrame, config: pl.DataFrame) -> pl.DataFrame:
    return root.with_columns(v=pl.col("v") * config["factor"][0])


@asset
def total(joined: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"v": [joined["v"].sum()]})


@asset(partitions=HOURS)
def clicks(context: AssetContext) -> pl.DataFrame:
    hour = context.partition_key
    return pl.DataFrame({"n": [2 if hour == os.environ.get("CLICK_CHANGE") else 1]})


@asset(partitions=DAYS)
def daily_clicks(clicks: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"n": [clicks["n"].sum()]})
