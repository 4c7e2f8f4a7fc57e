"""A window that reads no partition of its upstream on the first day (FAIL_DAY fails one)."""

import os
import time

import polars as pl

from assay import AssetContext, AssetIn, DailyPartitions, TimeWindowMapping, asset

DAYS = DailyPartitions(start="2024-01-01", end="2024-01-04")


@asset(partitions=DAYS)
def totals(context: AssetContext) -> pl.DataFrame:
    time.sleep(0.5)  # long enough for a free worker to start the reader meanwhile
    if context.partition_key == os.environ.get("FAIL_DAY"):
        raise RuntimeError(f"no totals for {context.partition_key}")
    return pl.DataFrame({"day": [context.partition_key], "amount": [1]})


@asset(
    partitions=DAYS,
    ins={
        "before": AssetIn(
            key="totals", partition_mapping=TimeWindowMapping(start_offset=-1, end_offset=-1)
        )
    },
)
def day_over_day(before: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"columns": [",".join(before.columns)], "rows": [before.height]})
