"""Five days through a small chain, with switches the state tests turn.

VALUE=n           the root's values (another VALUE is new content; the same is not)
FEED=a            the version the `feed` source observes for every day
FAIL_DAY=day      `daily` fails on that day
KILL_DAY=day      `daily` SIGKILLs its own process on that day
SLOW=s            `daily` sleeps that long per partition
"""

import os
import signal
import time

import polars as pl

from assay import AssetContext, DailyPartitions, asset, asset_check, source_asset

DAYS = DailyPartitions(start="2024-01-01", end="2024-01-06")


@source_asset(partitions=DAYS)
def feed() -> dict[str, str]:
    """What an upstream system exports, by day."""
    version = os.environ.get("FEED", "a")
    return dict.fromkeys(DAYS.keys(), version)


@asset(partitions=DAYS, deps=[feed])
def root(context: AssetContext) -> pl.DataFrame:
    return pl.DataFrame({"day": [context.partition_key], "v": [int(os.environ.get("VALUE", "1"))]})


@asset(partitions=DAYS)
def daily(context: AssetContext, root: pl.DataFrame) -> pl.DataFrame:
    day = context.partition_key
    time.sleep(float(os.environ.get("SLOW", "0")))
    if day == os.environ.get("KILL_DAY"):
        os.kill(os.getpid(), signal.SIGKILL)
    if day == os.environ.get("FAIL_DAY"):
        raise RuntimeError(f"no export for {day}")
    return root.with_columns(v=pl.col("v") * 10)


@asset
def total(daily: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"v": [daily["v"].sum()]})


@asset_check(asset="daily")
def positive(daily: pl.DataFrame) -> bool:
    return bool((daily["v"] > 0).all())
