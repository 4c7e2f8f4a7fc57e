"""Schedules and sensors over daily partitions, for the daemon's tests.

HANG=1          the `hangs` sensor sleeps forever (killed at its timeout)
SLOW_SUMMARY=s  `summary` takes that long
INCOMING=path   the folder the file sensor watches (default: incoming/)
"""

import os
import time
from datetime import timedelta
from pathlib import Path

import polars as pl

from assay import (
    AssetContext,
    DailyPartitions,
    Definitions,
    RunRequest,
    Schedule,
    SkipReason,
    asset,
    file_sensor,
    run_status_sensor,
    schedule,
    sensor,
    source_asset,
)

DAYS = DailyPartitions(start="2024-01-01", timezone="America/New_York")


@asset(partitions=DAYS)
def events(context: AssetContext) -> pl.DataFrame:
    day = context.partition_key
    incoming = Path(os.environ.get("INCOMING", "incoming")) / f"events_{day}.csv"
    if incoming.exists():
        return pl.read_csv(incoming)
    return pl.DataFrame({"day": [day], "n": [1]})


@asset(partitions=DAYS)
def daily_totals(events: pl.DataFrame) -> pl.DataFrame:
    return events.group_by("day").agg(pl.col("n").sum())


@asset
def summary() -> pl.DataFrame:
    if os.environ.get("FAIL_SUMMARY") and Path(os.environ["FAIL_SUMMARY"]).exists():
        raise RuntimeError("summary fails while FAIL_SUMMARY's file exists")
    time.sleep(float(os.environ.get("SLOW_SUMMARY", "0")))
    return pl.DataFrame({"at": [time.time()]})


@source_asset(observe_every=timedelta(seconds=1))
def prices() -> str:
    """A price list whose version is what the file PRICES holds (missing: 'none')."""
    path = Path(os.environ.get("PRICES", "prices.txt"))
    return path.read_text() if path.exists() else "none"


@asset(deps=[prices])
def priced() -> pl.DataFrame:
    return pl.DataFrame({"v": [1]})


@schedule(cron="0 9 * * *", selection="summary", timezone="Asia/Kolkata", enabled=False)
def morning(context):
    """Runs the summary at 09:00 in Kolkata, except on Sundays."""
    if context.tick.astimezone().weekday() == 6:
        return SkipReason("not on Sundays")
    return RunRequest(force=True, run_key=f"morning-{context.tick.date()}")


@sensor(selection="summary", interval=timedelta(seconds=1), timeout=timedelta(seconds=2))
def hangs(context):
    if os.environ.get("HANG"):
        time.sleep(3600)
    return SkipReason("nothing to do")


@sensor(selection="summary", interval=timedelta(seconds=1), enabled=False)
def every_call(context):
    count = int(context.cursor or 0) + 1
    context.update_cursor(str(count))
    return RunRequest(run_key=f"call-{count}", force=True)


defs = Definitions(
    assets=[events, daily_totals, summary, prices, priced],
    schedules=[
        Schedule("nightly", "events daily_totals"),  # when each New York day closes
        Schedule("hourly_summary", "summary", cron="0 * * * *", enabled=False),
        morning,
    ],
    sensors=[
        hangs,
        every_call,
        file_sensor(
            "arrivals",
            glob=os.environ.get("INCOMING", "incoming") + "/events_*.csv",
            selection="events+",
            interval=timedelta(seconds=1),
        ),
        run_status_sensor(
            "after_failure",
            status="failed",
            watch="summary",
            selection="events",
            interval=timedelta(seconds=1),
        ),
    ],
)
