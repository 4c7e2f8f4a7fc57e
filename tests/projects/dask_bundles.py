"""Daily steps for the Dask executor's bundles (several steps to a Dask task).

TASKS=path          each `step` appends "day dask-task-key pid": which Dask task ran it
WAIT_FOR_JOURNAL=1  each `step` after the first day waits (up to 30 s) until the
                    coordinator has journaled the previous day's step succeeded
"""

import json
import os
import time
from datetime import date, timedelta
from pathlib import Path

import polars as pl

from assay import AssetContext, DailyPartitions, asset

DAYS = DailyPartitions(start="2024-01-01", end="2024-02-01")


def journaled(day: str) -> bool:
    for path in Path(".assay", "journal").glob("*.jsonl"):
        for line in path.read_text(encoding="utf-8").splitlines():
            try:
                record = json.loads(line)
            except ValueError:  # a line being written
                continue
            found = (record.get("type"), record.get("partition_key"), record.get("status"))
            if found == ("step", day, "succeeded"):
                return True
    return False


@asset(partitions=DAYS)
def step(context: AssetContext) -> pl.DataFrame:
    day = context.partition_key
    assert day is not None
    if os.environ.get("WAIT_FOR_JOURNAL") and day != "2024-01-01":
        previous = str(date.fromisoformat(day) - timedelta(days=1))
        deadline = time.monotonic() + 30
        while not journaled(previous):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{previous} was not journaled while {day} ran")
            time.sleep(0.02)
    if os.environ.get("TASKS"):
        from distributed import get_worker

        with open(os.environ["TASKS"], "a", encoding="utf-8") as out:
            out.write(f"{day} {get_worker().get_current_task()} {os.getpid()}\n")
    return pl.DataFrame({"day": [day]})
