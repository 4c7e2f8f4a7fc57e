"""Schedules that share a cron or a partition grid, for the engine's tests."""

import polars as pl

from assay import DailyPartitions, Definitions, Schedule, asset

DAYS = DailyPartitions(start="2024-01-01")


@asset
def flat() -> pl.DataFrame:
    return pl.DataFrame({"x": [1]})


@asset(partitions=DAYS)
def daily(context) -> pl.DataFrame:
    return pl.DataFrame({"day": [context.partition_key]})


hourly = {
    name: Schedule(name, "flat", cron="0 * * * *", timezone="America/New_York")
    for name in ("a", "b", "c")
}
days = [Schedule(f"days_{n}", "daily") for n in range(2)]
defs = Definitions(assets=[flat, daily], schedules=[*hourly.values(), *days])
