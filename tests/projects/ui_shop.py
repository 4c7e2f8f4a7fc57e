"""A small shop for the UI's tests: a month of daily events, their totals, a summary.

UI_FAIL_DAYS=a,b   `events` fails on those days (a failed range on its health bar)
UI_STEP_S=seconds  each `events` step sleeps that long (a run to watch while it goes)
UI_LOW_DAYS=a,b    `daily_totals` of those days warns its check
"""

import os
import time

import polars as pl

from assay import (
    AssetContext,
    DailyPartitions,
    Definitions,
    ParquetIO,
    Schedule,
    asset,
    asset_check,
)
from assay.checks import CheckResult

DAYS = DailyPartitions(start="2024-01-01", end="2024-02-01")


@asset(
    partitions=DAYS,
    group="ingest",
    owners=("team:data",),
    tags={"source": "api"},
    description="Events of one day, from the shop's API.",
)
def events(context: AssetContext) -> pl.DataFrame:
    day = context.partition_key
    time.sleep(float(os.environ.get("UI_STEP_S", "0")))
    if day in os.environ.get("UI_FAIL_DAYS", "").split(","):
        raise RuntimeError(f"the API refused {day}")
    return pl.DataFrame({"day": [day] * 3, "amount": [1.0, 2.0, 3.0]})


@asset(partitions=DAYS, group="marts", description="Totals of one day.")
def daily_totals(events: pl.DataFrame) -> pl.DataFrame:
    return events.group_by("day").agg(pl.col("amount").sum())


@asset_check(asset="daily_totals", severity="warn", description="totals are not tiny")
def not_tiny(daily_totals: pl.DataFrame, context: AssetContext) -> CheckResult:
    low = context.partition_key in os.environ.get("UI_LOW_DAYS", "").split(",")
    return CheckResult(passed=not low, metadata={"total": float(daily_totals["amount"].sum())})


# storage options hold credentials: a page never shows them
@asset(group="marts", io=ParquetIO(storage_options={"secret": "hunter2-not-shown"}))
def summary(daily_totals: pl.DataFrame) -> pl.DataFrame:
    return daily_totals.select(pl.col("amount").sum())


defs = Definitions(
    assets=[events, daily_totals, summary],
    checks=[not_tiny],
    schedules=[Schedule("nightly", "summary", cron="0 6 * * *")],
)
