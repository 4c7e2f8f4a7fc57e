"""An online shop: generated customers and orders, cleaned, then revenue per day and customer.

Run it from the repository root (pyproject.toml points `[tool.assay] module` here):

    assay list
    assay materialize
    assay materialize +daily_revenue
"""

from __future__ import annotations

import random
from datetime import date, timedelta

import polars as pl

from assay import AssetContext, AssetIn, Definitions, DuckDBIO, asset

SEED = 20240101
CUSTOMER_COUNT = 500
ORDER_COUNT = 20_000
FIRST_DAY = date(2024, 1, 1)
DAYS = 90
COUNTRIES = ("DE", "FR", "NL", "SE", "PL", "US")


@asset(
    key_prefix="raw",
    group="raw",
    owners=["team:platform"],
    tags={"source": "generated"},
    code_version="1",
)
def customers() -> pl.DataFrame:
    """Customers of the shop, generated deterministically (same seed, same rows)."""
    rng = random.Random(SEED)
    ids = list(range(1, CUSTOMER_COUNT + 1))
    return pl.DataFrame(
        {
            "customer_id": ids,
            "name": [f"customer-{i:04d}" for i in ids],
            "country": [rng.choice(COUNTRIES) for _ in ids],
            "signup_date": [FIRST_DAY - timedelta(days=rng.randrange(0, 720)) for _ in ids],
        }
    )


@asset(
    key_prefix="raw",
    group="raw",
    owners=["team:platform"],
    tags={"source": "generated"},
    code_version="1",
)
def orders() -> pl.DataFrame:
    """Orders as the shop's export delivers them: a few are broken (no customer, bad amount)."""
    rng = random.Random(SEED + 1)
    rows = []
    for order_id in range(1, ORDER_COUNT + 1):
        amount = round(rng.lognormvariate(3.5, 0.8), 2)
        if rng.random() < 0.01:
            amount = -amount  # refunds exported as orders by mistake
        customer = rng.randrange(1, CUSTOMER_COUNT + 1) if rng.random() > 0.005 else None
        rows.append(
            {
                "order_id": order_id,
                "customer_id": customer,
                "order_date": FIRST_DAY + timedelta(days=rng.randrange(DAYS)),
                "amount": amount,
                "status": rng.choices(["paid", "cancelled"], weights=[95, 5])[0],
            }
        )
    return pl.DataFrame(rows)


@asset(group="staging", owners=["team:analytics"], tags={"tier": "silver"})
def cleaned_orders(
    context: AssetContext, orders: pl.LazyFrame, customers: pl.LazyFrame
) -> pl.LazyFrame:
    """Paid orders with a known customer and a positive amount, with the customer's country."""
    context.log.info("dropping unpaid orders and orders without a valid customer or amount")
    return (
        orders.filter(
            (pl.col("status") == "paid")
            & pl.col("customer_id").is_not_null()
            & (pl.col("amount") > 0)
        )
        .join(customers.select("customer_id", "country"), on="customer_id", how="inner")
        .select("order_id", "customer_id", "country", "order_date", "amount")
        .sort("order_id")
    )


@asset(
    group="marts",
    owners=["team:finance"],
    tags={"tier": "gold"},
    io=DuckDBIO(),
    ins={"orders": AssetIn(key="cleaned_orders")},
)
def daily_revenue(orders: pl.DataFrame) -> pl.DataFrame:
    """Revenue and order count per day, in the DuckDB warehouse (`marts.daily_revenue`)."""
    return (
        orders.group_by("order_date")
        .agg(revenue=pl.col("amount").sum().round(2), order_count=pl.len())
        .sort("order_date")
    )


@asset(group="marts", owners=["team:finance"], tags={"tier": "gold"})
def customer_revenue(cleaned_orders: pl.LazyFrame, customers: pl.LazyFrame) -> pl.LazyFrame:
    """Lifetime revenue per customer, with first and last order dates."""
    per_customer = cleaned_orders.group_by("customer_id").agg(
        revenue=pl.col("amount").sum().round(2),
        order_count=pl.len(),
        first_order=pl.col("order_date").min(),
        last_order=pl.col("order_date").max(),
    )
    return (
        customers.select("customer_id", "name", "country")
        .join(per_customer, on="customer_id", how="left")
        .with_columns(pl.col("revenue").fill_null(0.0), pl.col("order_count").fill_null(0))
        .sort("revenue", descending=True)
    )


defs = Definitions(assets=[customers, orders, cleaned_orders, daily_revenue, customer_revenue])
