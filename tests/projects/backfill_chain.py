"""A leap year of days through chained assets, with switches the backfill tests turn.

SLOW=seconds        each `raw` step sleeps that long
FAIL_DAYS=a,b       `raw` fails on those days
FLAKY_DIR=path      `raw` fails the first FLAKY_TIMES attempts of each day (counted in files)
RETRIES=n           `raw` retries n times (no delay)
API_POOL=n          at most n `raw` steps at once (pool "api"); unset: no limit
INTERVALS=path      `raw` appends "day start end pid" lines (to check overlaps)
CALLS=path          `batched` appends the number of partitions of each call
BAD_BATCH=1         `batched` returns a row outside its batch
KILL_DAYS=a,b       `raw` SIGKILLs its own process on those days: once per day (marked in
                    KILL_MARKS=path), or every time with KILL_ALWAYS=1
"""

import os
import signal
import time
from pathlib import Path

import polars as pl

from assay import AssetContext, BatchPolicy, DailyPartitions, Definitions, RetryPolicy, asset

DAYS = DailyPartitions(start="2024-01-01", end="2025-01-01")


@asset(
    partitions=DAYS,
    pool="api",
    tags={"source": "api"},
    retry_policy=RetryPolicy(max_retries=int(os.environ.get("RETRIES", "0"))),
)
def raw(context: AssetContext) -> pl.DataFrame:
    day = context.partition_key
    assert day is not None
    started = time.time()
    time.sleep(float(os.environ.get("SLOW", "0")))
    if day in os.environ.get("KILL_DAYS", "").split(","):
        marker = Path(os.environ["KILL_MARKS"]) / day
        if os.environ.get("KILL_ALWAYS") or not marker.exists():
            marker.touch()
            os.kill(os.getpid(), signal.SIGKILL)
    if day in os.environ.get("FAIL_DAYS", "").split(","):
        raise RuntimeError(f"the export for {day} is missing")
    if os.environ.get("FLAKY_DIR"):
        counter = Path(os.environ["FLAKY_DIR"]) / day
        attempts = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(attempts))
        if attempts <= int(os.environ.get("FLAKY_TIMES", "1")):
            context.log.info("attempt %d for %s", attempts, day)
            raise ConnectionError(f"API timeout on attempt {attempts}")
    if os.environ.get("INTERVALS"):
        with open(os.environ["INTERVALS"], "a", encoding="utf-8") as out:
            out.write(f"{day} {started} {time.time()} {os.getpid()}\n")
    return pl.DataFrame({"day": [day] * 3, "amount": [1, 2, int(day[-2:])]})


@asset(partitions=DAYS)
def cleaned(raw: pl.DataFrame) -> pl.DataFrame:
    return raw.with_columns(pl.col("amount") * 2)


@asset(partitions=DAYS)
def report(cleaned: pl.DataFrame) -> pl.DataFrame:
    return cleaned.group_by("day").agg(pl.col("amount").sum())


@asset(
    partitions=DAYS,
    backfill_policy=BatchPolicy(max_partitions=31, partition_column="date"),
)
def batched(context: AssetContext, cleaned: pl.LazyFrame) -> pl.LazyFrame:
    if os.environ.get("CALLS"):
        with open(os.environ["CALLS"], "a", encoding="utf-8") as out:
            out.write(f"{len(context.partition_keys)}\n")
    window = context.partition_time_window
    assert window is not None
    frame = cleaned.with_columns(pl.col("day").str.to_date().alias("date"))
    if os.environ.get("BAD_BATCH"):
        frame = frame.with_columns(pl.col("date").dt.offset_by("400d"))
    return frame


pools = {"api": int(os.environ["API_POOL"])} if os.environ.get("API_POOL") else {}
defs = Definitions(assets=[raw, cleaned, report, batched], pools=pools)
