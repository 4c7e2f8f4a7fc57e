"""Ten days of events, every mapping kind, and a switch to fail one day (FAIL_DAY)."""

import os

import polars as pl

from assay import (
    AssetContext,
    AssetIn,
    DailyPartitions,
    DuckDBIO,
    HourlyPartitions,
    Output,
    TimeWindowMapping,
    asset,
)

DAYS = DailyPartitions(start="2024-01-01", end="2024-01-11")
HOURS = HourlyPartitions(start="2024-01-01", end="2024-01-03")


@asset(partitions=DAYS, group="raw")
def events(context: AssetContext) -> pl.DataFrame:
    day = context.partition_key
    if day == os.environ.get("FAIL_DAY"):
        raise RuntimeError(f"no export for {day}")
    window = context.partition_time_window
    assert window is not None
    assert window.end - window.start == window.end - window.start
    number = int(day[-2:])
    return pl.DataFrame({"day": [day] * 2, "amount": [number, number * 10], "hours": [24, 24]})


@asset(partitions=DAYS)
def daily_totals(events: pl.LazyFrame) -> pl.LazyFrame:
    return events.group_by("day").agg(pl.col("amount").sum())


@asset(
    partitions=DAYS,
    ins={
        "totals": AssetIn(key="daily_totals", partition_mapping=TimeWindowMapping(start_offset=-6))
    },
)
def rolling_week(totals: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"days": [totals.height], "amount": [totals["amount"].sum()]})


@asset(
    partitions=DAYS,
    ins={
        "before": AssetIn(
            key="daily_totals", partition_mapping=TimeWindowMapping(start_offset=-1, end_offset=-1)
        )
    },
)
def day_over_day(before: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"rows_yesterday": [before.height]})


@asset
def summary(daily_totals: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"days": [daily_totals.height], "amount": [daily_totals["amount"].sum()]})


@asset(partitions=DAYS, io=DuckDBIO())
def warehouse_totals(daily_totals: pl.DataFrame) -> Output:
    return Output(daily_totals, data_version=f"v-{daily_totals['day'][0]}")


@asset(partitions=HOURS)
def clicks(context: AssetContext) -> pl.DataFrame:
    return pl.DataFrame({"hour": [context.partition_key], "clicks": [1]})


@asset(partitions=DailyPartitions(start="2024-01-01", end="2024-01-03"))
def daily_clicks(clicks: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"hours": [clicks.height], "clicks": [clicks["clicks"].sum()]})
