"""Declarative automation over a small shop, for the automation tests: orders arrive
each day; revenue and margins read them; report reads both, with a freshness promise.

ORDERS_VERSION=v    what orders holds (another value: new data)
FAIL_REVENUE=path   revenue raises while this file exists
SLOW_REVENUE=s      revenue takes that long
ALERT_HOOK_URL      where alerts go (run_failed, freshness_missed), when set
"""

import os
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

from assay import Alert, AssetContext, Auto, DailyPartitions, Definitions, Freshness, Webhook, asset

DAYS = DailyPartitions(start="2024-01-01", end="2024-02-01")


@asset(partitions=DAYS, automation=Auto.on_missing())
def orders(context: AssetContext) -> pl.DataFrame:
    version = os.environ.get("ORDERS_VERSION", "1")
    return pl.DataFrame({"day": [context.partition_key], "amount": [10], "version": [version]})


@asset(partitions=DAYS, automation=Auto.on_stale())
def revenue(orders: pl.DataFrame) -> pl.DataFrame:
    time.sleep(float(os.environ.get("SLOW_REVENUE", "0")))
    failing = os.environ.get("FAIL_REVENUE")
    if failing and Path(failing).exists():
        raise RuntimeError("revenue fails while FAIL_REVENUE's file exists")
    return orders.select("day", "amount", "version")


@asset(partitions=DAYS, automation=Auto.on_stale())
def margins(orders: pl.DataFrame) -> pl.DataFrame:
    return orders.select("day", (pl.col("amount") * 0.3).alias("margin"))


@asset(
    partitions=DAYS,
    automation=Auto.on_stale(),
    freshness=Freshness(lag=timedelta(hours=6)),
)
def report(revenue: pl.DataFrame, margins: pl.DataFrame) -> pl.DataFrame:
    return revenue.join(margins, on="day")


hook = os.environ.get("ALERT_HOOK_URL")
defs = Definitions(
    assets=[orders, revenue, margins, report],
    alerts=[
        Alert(
            on=["run_failed", "freshness_missed"],
            to=[Webhook(name="hook", url_env="ALERT_HOOK_URL")],
        )
    ]
    if hook
    else [],
)
