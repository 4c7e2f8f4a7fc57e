"""A @multi_asset with two outputs (one in DuckDB, one with a schema), and one that
computes only what a run selects."""

import os
from pathlib import Path

import pandera.polars as pa
import polars as pl

from assay import (
    AssetOut,
    DailyPartitions,
    DuckDBIO,
    RetryPolicy,
    asset,
    asset_check,
    multi_asset,
)

CALLS = Path(os.environ.get("MULTI_CALLS", "calls.log"))
days = DailyPartitions(start="2024-01-01", end="2024-01-04")


def called(what: str) -> None:
    with CALLS.open("a") as out:
        out.write(f"{what} {os.getpid()}\n")


class Prices(pa.DataFrameModel):
    sku: str
    price: float = pa.Field(gt=0)


@asset(partitions=days)
def raw(context) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "sku": ["a", "b"],
            "price": [1.0, -2.0 if os.environ.get("NEGATIVE") == context.partition_key else 2.0],
            "currency": ["EUR", "USD"],
        }
    )


@multi_asset(
    outs={
        "prices": AssetOut(schema=Prices),
        "currencies": AssetOut(group="reference", io=DuckDBIO("warehouse.duckdb")),
    },
    partitions=days,
    retry_policy=RetryPolicy(max_retries=1, delay=0),
)
def split(context, raw: pl.DataFrame):
    """Prices and the currencies they are in, from one read of the raw export."""
    called(f"split {context.partition_key}")
    flaky = Path(os.environ.get("FLAKY", "-"))
    if flaky.name != "-" and not flaky.exists():
        flaky.write_text("failed once")
        raise TimeoutError("the export was not ready")
    shape = os.environ.get("SPLIT_RETURNS", "dict")
    prices = raw.select("sku", "price")
    currencies = raw.select("currency").sort("currency")
    if shape == "tuple":
        return prices, currencies
    if shape == "short":
        return (prices,)
    if shape == "missing":
        return {"prices": prices}
    return {"prices": prices, "currencies": currencies}


@asset_check(asset="currencies")
def known_currencies(currencies: pl.DataFrame) -> bool:
    return currencies["currency"].is_in(["EUR", "USD"]).all()


@multi_asset(outs={"small": AssetOut(), "large": AssetOut()}, can_subset=True)
def sizes(context):
    called("sizes " + ",".join(context.selected_outputs))
    values = {
        "small": pl.DataFrame({"n": [1]}),
        "large": pl.DataFrame({"n": list(range(100))}),
    }
    return {name: values[name] for name in context.selected_outputs}


@asset(partitions=days)
def report(prices: pl.DataFrame, currencies: pl.DataFrame) -> pl.DataFrame:
    return prices.join(currencies, how="cross")
