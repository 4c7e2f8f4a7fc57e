"""Dynamic partitions: one partition per customer, keys added at run time."""

import os
from datetime import timedelta

import polars as pl

from assay import (
    AllPartitionsMapping,
    AssetIn,
    Definitions,
    DynamicPartitions,
    RunRequest,
    SensorResult,
    asset,
    sensor,
)

customers = DynamicPartitions("customers")


@asset(partitions=customers)
def orders(context) -> pl.DataFrame:
    """Each customer's orders (as many as its name has letters); fails for the
    customers named in CUSTOMERS_FAIL."""
    name = context.partition_key
    if name in os.environ.get("CUSTOMERS_FAIL", "").split(","):
        raise RuntimeError(f"no export for {name}")
    return pl.DataFrame({"customer": [name] * len(name), "amount": list(range(len(name)))})


@asset(partitions=customers)
def order_totals(orders: pl.DataFrame) -> pl.DataFrame:
    """The same partitions as `orders`: the identity mapping."""
    return orders.group_by("customer").agg(pl.col("amount").sum())


@asset(ins={"order_totals": AssetIn(partition_mapping=AllPartitionsMapping())})
def all_customers(order_totals: pl.DataFrame) -> pl.DataFrame:
    """Every customer's total: reads all partitions."""
    return order_totals.sort("customer")


@sensor(selection="orders+", interval=timedelta(seconds=1))
def new_customers(context):
    """A customer per file in `incoming/` (its name), added and run in one tick."""
    names = sorted(p.stem for p in (context.root / "incoming").glob("*.txt"))
    seen = set(context.cursor.split(",")) if context.cursor else set()
    new = [n for n in names if n not in seen]
    if not new:
        return SensorResult(skip_reason="no new customer", cursor=context.cursor)
    return SensorResult(
        dynamic_partitions_requests=[customers.add_request(new)],
        run_requests=[RunRequest(partitions=new, run_key=",".join(new))],
        cursor=",".join(sorted(seen | set(new))),
    )


@sensor(selection="all_customers", interval=timedelta(seconds=1))
def churned(context):
    """Removes the customer of each file in `churned/`, then updates the summary."""
    names = sorted(p.stem for p in (context.root / "churned").glob("*.txt"))
    if not names or context.cursor == ",".join(names):
        return SensorResult(skip_reason="nobody left", cursor=context.cursor)
    return SensorResult(
        dynamic_partitions_requests=[customers.remove_request(names)],
        run_requests=[RunRequest(run_key=",".join(names))],
        cursor=",".join(names),
    )


defs = Definitions(
    assets=[orders, order_totals, all_customers],
    sensors=[new_customers, churned],
)
