"""Orders with a Pandera schema and revenue with checks; switches the quality tests turn.

BAD_DAYS=a,b      `orders` returns a negative amount and a null customer on those days
BIG=n             `revenue_not_too_big` (blocking) fails when a day's revenue exceeds n
FEW=n             `enough_orders` (warn) fails when a day has fewer than n orders
EXPLODE=1         `explodes` raises
"""

import os

import pandera.polars as pa
import polars as pl

from assay import AssetContext, CheckResult, DailyPartitions, RetryPolicy, asset, asset_check

DAYS = DailyPartitions(start="2024-01-01", end="2024-01-06")


class Orders(pa.DataFrameModel):
    order_id: int = pa.Field(unique=True)
    amount: float = pa.Field(ge=0)
    customer: str = pa.Field(nullable=False)


@asset(partitions=DAYS, schema=Orders, retry_policy=RetryPolicy(max_retries=3))
def orders(context: AssetContext) -> pl.LazyFrame:
    bad = context.partition_key in os.environ.get("BAD_DAYS", "").split(",")
    return pl.LazyFrame(
        {
            "order_id": [1, 2, 3],
            "amount": [10.0, -5.0 if bad else 5.0, 1.0],
            "customer": ["ada", None if bad else "bob", "cy"],
        }
    )


@asset(partitions=DAYS)
def revenue(context: AssetContext, orders: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame(
        {"day": [context.partition_key], "revenue": [orders["amount"].sum()], "orders": [3]}
    )


@asset_check(asset=revenue, blocking=True)
def revenue_not_too_big(revenue: pl.DataFrame) -> CheckResult:
    """A day's revenue stays under BIG (default: no limit)."""
    limit = float(os.environ.get("BIG", "inf"))
    top = revenue["revenue"].max()
    return CheckResult(passed=top <= limit, metadata={"max_revenue": top, "limit": limit})


@asset_check(asset="revenue", severity="warn", description="At least FEW orders a day.")
def enough_orders(revenue: pl.LazyFrame) -> bool:
    return revenue.select(pl.col("orders").min()).collect().item() >= int(
        os.environ.get("FEW", "0")
    )


@asset_check(asset="revenue")
def explodes(context: AssetContext, revenue: pl.DataFrame) -> bool:
    if os.environ.get("EXPLODE"):
        raise ValueError(f"cannot judge {context.partition_key}")
    return True


@asset(partitions=DAYS)
def report(revenue: pl.DataFrame) -> pl.DataFrame:
    return revenue.select("day", "revenue")
