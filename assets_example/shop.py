"""An online shop: daily order exports land in a folder; assay turns them into revenue.

    landing/orders-<day>.csv ─▶ raw/orders ─▶ cleaned_orders ─▶ daily_revenue ─▶ rolling_revenue_7d
    landing/customers.csv ───▶ raw/customers ──────────────┴──▶ customer_lifetime_value

`python -m assets_example.generate` writes the exports (deterministically);
`assay observe` notices new or changed files; `assay plan` says what is stale.
Run from the repository root: pyproject.toml points `[tool.assay] module` here.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import pandera.polars as pa
import polars as pl

from assay import (
    AssetContext,
    AssetIn,
    DailyPartitions,
    Definitions,
    DuckDBIO,
    RetryPolicy,
    TimeWindowMapping,
    asset,
    asset_check,
    source_asset,
)
from assay.versioning import data_version

SEED = 20240101
CUSTOMER_COUNT = 500
FIRST_DAY = date(2024, 1, 1)
LAST_DAY = date(2024, 2, 29)
DAYS = DailyPartitions(start=FIRST_DAY.isoformat(), end="2024-03-01")


def landing_folder() -> Path:
    """Where the shop drops its exports (SHOP_LANDING, else assets_example/data/landing)."""
    default = Path(__file__).parent / "data" / "landing"
    return Path(os.environ.get("SHOP_LANDING", default))


# --- sources: files assay does not produce, watched for changes ------------------------


@source_asset(partitions=DAYS, group="landing", owners=["team:platform"])
def order_exports() -> dict[str, str]:
    """The shop's daily order exports, one CSV per day; a file's content is its version."""
    return {
        path.stem.removeprefix("orders-"): data_version(path.read_bytes())
        for path in sorted(landing_folder().glob("orders-*.csv"))
    }


@source_asset(group="landing", owners=["team:platform"])
def customer_export() -> str:
    """The customer list the CRM exports (one file, replaced whole)."""
    path = landing_folder() / "customers.csv"
    return data_version(path.read_bytes()) if path.exists() else "missing"


# --- raw: the exports as they are, typed -------------------------------------------------


@asset(
    key_prefix="raw",
    partitions=DAYS,
    deps=[order_exports],
    group="raw",
    owners=["team:platform"],
    tags={"source": "shop-export"},
    retry_policy=RetryPolicy(max_retries=2, delay=0.5),
)
def orders(context: AssetContext) -> pl.DataFrame:
    """One day's export, typed, exactly as delivered (duplicates and refunds included)."""
    path = landing_folder() / f"orders-{context.partition_key}.csv"
    if not path.exists():
        raise FileNotFoundError(
            f"no export for {context.partition_key} at {path}: "
            "run `python -m assets_example.generate`"
        )
    return pl.read_csv(
        path,
        schema={
            "order_id": pl.Int64,
            "customer_id": pl.Int64,
            "ordered_at": pl.Datetime("us"),
            "amount": pl.Float64,
            "channel": pl.String,
            "status": pl.String,
        },
    )


@asset(
    key_prefix="raw",
    deps=[customer_export],
    group="raw",
    owners=["team:platform"],
    tags={"source": "crm-export"},
)
def customers() -> pl.DataFrame:
    """The customer list, typed."""
    return pl.read_csv(
        landing_folder() / "customers.csv",
        schema={
            "customer_id": pl.Int64,
            "name": pl.String,
            "country": pl.String,
            "signup_date": pl.Date,
        },
    )


# --- staging: cleaned, validated --------------------------------------------------------


class CleanOrders(pa.DataFrameModel):
    """What every cleaned order satisfies; a violating day is not stored."""

    order_id: int = pa.Field(unique=True)
    customer_id: int = pa.Field(ge=1)
    order_date: date
    amount: float = pa.Field(gt=0)
    channel: str = pa.Field(isin=["web", "app", "marketplace"])


@asset(
    partitions=DAYS,
    ins={"orders": AssetIn(key="raw/orders")},
    schema=CleanOrders,
    group="staging",
    owners=["team:analytics"],
    tags={"tier": "silver"},
)
def cleaned_orders(context: AssetContext, orders: pl.DataFrame) -> pl.DataFrame:
    """Paid orders, each once, with a customer and a positive amount."""
    cleaned = (
        orders.unique("order_id", keep="first", maintain_order=True)
        .filter(
            (pl.col("status") == "paid")
            & pl.col("customer_id").is_not_null()
            & (pl.col("amount") > 0)
        )
        .select(
            "order_id",
            "customer_id",
            pl.col("ordered_at").dt.date().alias("order_date"),
            "amount",
            "channel",
        )
    )
    context.log.info("%s: kept %d of %d rows", context.partition_key, cleaned.height, orders.height)
    return cleaned


# --- marts ------------------------------------------------------------------------------


@asset(
    partitions=DAYS,
    ins={"orders": AssetIn(key="cleaned_orders")},
    io=DuckDBIO(),
    group="marts",
    owners=["team:finance"],
    tags={"tier": "gold"},
)
def daily_revenue(context: AssetContext, orders: pl.DataFrame) -> pl.DataFrame:
    """Revenue and orders of one day, in the DuckDB warehouse (`main.daily_revenue`)."""
    return pl.DataFrame(
        {
            "order_date": [date.fromisoformat(str(context.partition_key))],
            "revenue": [round(float(orders["amount"].sum()), 2)],
            "order_count": [orders.height],
        }
    )


@asset(
    partitions=DAYS,
    ins={"daily": AssetIn(key="daily_revenue", partition_mapping=TimeWindowMapping(-6))},
    group="marts",
    owners=["team:finance"],
    tags={"tier": "gold"},
)
def rolling_revenue_7d(context: AssetContext, daily: pl.DataFrame) -> pl.DataFrame:
    """Revenue of the seven days ending on this one (fewer at the start of the data)."""
    return pl.DataFrame(
        {
            "order_date": [date.fromisoformat(str(context.partition_key))],
            "revenue_7d": [round(float(daily["revenue"].sum()), 2)],
            "days": [daily.height],
        }
    )


@asset(group="marts", owners=["team:finance", "team:crm"], tags={"tier": "gold"})
def customer_lifetime_value(cleaned_orders: pl.LazyFrame, customers: pl.LazyFrame) -> pl.DataFrame:
    """Revenue per customer over every day of orders, with first and last order dates."""
    per_customer = cleaned_orders.group_by("customer_id").agg(
        lifetime_value=pl.col("amount").sum().round(2),
        order_count=pl.len(),
        first_order=pl.col("order_date").min(),
        last_order=pl.col("order_date").max(),
    )
    return (
        customers.select("customer_id", "name", "country")
        .join(per_customer, on="customer_id", how="left")
        .with_columns(pl.col("lifetime_value").fill_null(0.0), pl.col("order_count").fill_null(0))
        .sort("lifetime_value", descending=True)
        .collect()
    )


# --- checks -----------------------------------------------------------------------------


@asset_check(
    asset=daily_revenue, blocking=True, description="a day with no sales is a broken export"
)
def has_sales(daily_revenue: pl.DataFrame) -> bool:
    return bool((daily_revenue["order_count"] > 0).all())


@asset_check(asset=rolling_revenue_7d, severity="warn", description="a full week of data")
def full_week(rolling_revenue_7d: pl.DataFrame) -> bool:
    return bool((rolling_revenue_7d["days"] == 7).all())


@asset_check(asset=customer_lifetime_value, description="every customer appears once")
def one_row_per_customer(customer_lifetime_value: pl.DataFrame) -> bool:
    return customer_lifetime_value["customer_id"].is_unique().all() and (
        customer_lifetime_value.height == CUSTOMER_COUNT
    )


defs = Definitions(
    assets=[
        order_exports,
        customer_export,
        orders,
        customers,
        cleaned_orders,
        daily_revenue,
        rolling_revenue_7d,
        customer_lifetime_value,
    ],
    checks=[has_sales, full_week, one_row_per_customer],
)
