"""A small shop that uses everything lineage reports on.

A watched drop folder (source), daily orders with a schema and a retry policy,
a 3-day rolling revenue (time-window mapping), a customer table stored in
DuckDB that reads every day (40 days: a subset given as ranges), and checks.

FLAKY_DIR=path   `orders` fails the first attempt of each day (counted in files)
BAD_DAY=day      `orders` writes a negative amount that day: the schema fails
BIG=n            `rolling_revenue_bounded` (blocking) fails above n
NAMELESS_IO=1    `customers` uses an IO manager that cannot name its dataset
"""

import os
from pathlib import Path
from typing import Any

import pandera.polars as pa
import polars as pl

from assay import (
    AssetContext,
    AssetIn,
    DailyPartitions,
    DuckDBIO,
    RetryPolicy,
    TimeWindowMapping,
    asset,
    asset_check,
    source_asset,
)
from assay.io.parquet import ParquetIO

DAYS = DailyPartitions(start="2024-01-01", end="2024-02-10")


class NamelessIO(ParquetIO):
    """Parquet storage whose lineage name cannot be worked out."""

    def lineage_dataset(self, key: Any) -> tuple[str, str]:
        raise RuntimeError("no name for you")


class Orders(pa.DataFrameModel):
    order_id: int = pa.Field(unique=True)
    amount: float = pa.Field(ge=0)


@source_asset(partitions=DAYS, group="raw")
def drops() -> dict[str, str]:
    """Files the shop drops, one per day."""
    return {p.stem: p.read_text() for p in sorted(Path("drop").glob("*.txt"))}


@asset(
    partitions=DAYS,
    deps=[drops],
    schema=Orders,
    retry_policy=RetryPolicy(max_retries=2),
    owners=["ada@shop.example"],
    tags={"domain": "sales"},
    description="Orders of one day.",
    group="sales",
)
def orders(context: AssetContext) -> pl.DataFrame:
    day = context.partition_key
    assert day is not None
    if os.environ.get("FLAKY_DIR"):
        counter = Path(os.environ["FLAKY_DIR"]) / day
        attempts = int(counter.read_text()) + 1 if counter.exists() else 1
        counter.write_text(str(attempts))
        if attempts == 1:
            raise ConnectionError(f"API timeout for {day}")
    sign = -1.0 if day == os.environ.get("BAD_DAY") else 1.0
    number = int(day[-2:])
    return pl.DataFrame({"order_id": [1, 2], "amount": [sign * number, 2.0], "day": [day, day]})


@asset(
    partitions=DAYS,
    ins={"orders": AssetIn(partition_mapping=TimeWindowMapping(start_offset=-2))},
    group="sales",
)
def rolling_revenue(orders: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"days": [orders["day"].n_unique()], "revenue": [orders["amount"].sum()]})


@asset_check(asset=rolling_revenue, blocking=True)
def rolling_revenue_bounded(rolling_revenue: pl.DataFrame) -> bool:
    return bool(rolling_revenue["revenue"].max() <= float(os.environ.get("BIG", "inf")))


@asset_check(asset="rolling_revenue", severity="warn")
def three_days(rolling_revenue: pl.DataFrame) -> bool:
    return bool(rolling_revenue["days"].min() == 3)


@asset(
    io=NamelessIO() if os.environ.get("NAMELESS_IO") else DuckDBIO(path="warehouse.duckdb"),
    group="crm",
)
def customers(orders: pl.LazyFrame) -> pl.DataFrame:
    """Every day's orders, summed."""
    return orders.select(pl.col("amount").sum().alias("lifetime")).collect()
