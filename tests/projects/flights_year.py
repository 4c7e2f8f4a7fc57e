"""A year of daily flights: a Pandera schema, a blocking and a warn check, a 7-day
window and a monthly rollup; switches the year-scale output tests turn.

FAIL_DAYS=a,b     `flights` raises on those days (its readers are skipped)
LATE_DAYS=a,b     `routes` has a mean delay of 300 minutes on those days (the warn
                  check `delays_reasonable` fails)
EMPTY_DAYS=a,b    `routes` has a route without flights on those days (the error
                  check `no_empty_routes` fails; it does not block)
"""

import os

import numpy as np
import pandera.polars as pa
import polars as pl

from assay import (
    AssetContext,
    AssetIn,
    CheckResult,
    DailyPartitions,
    MonthlyPartitions,
    TimeWindowMapping,
    asset,
    asset_check,
)

DAYS = DailyPartitions(start="2023-01-01", end="2024-01-01")
MONTHS = MonthlyPartitions(start="2023-01-01", end="2024-01-01")
CARRIERS = ["AA", "DL", "UA", "WN"]
AIRPORTS = ["ATL", "DFW", "DEN", "ORD", "LAX", "JFK"]


def _days(name: str) -> set[str]:
    return set(filter(None, os.environ.get(name, "").split(",")))


class Flights(pa.DataFrameModel):
    flight_id: int = pa.Field(unique=True)
    carrier: str = pa.Field(isin=CARRIERS)
    origin: str = pa.Field(isin=AIRPORTS)
    dest: str = pa.Field(isin=AIRPORTS)
    delay_min: float = pa.Field(ge=-60, le=1440)


@asset(partitions=DAYS, schema=Flights, group="flights")
def flights(context: AssetContext) -> pl.DataFrame:
    """The day's departures."""
    day = context.partition_key
    if day in _days("FAIL_DAYS"):
        raise RuntimeError(f"no export for {day} yet")
    seed = int(day.replace("-", ""))
    rng = np.random.default_rng(seed)
    n = 40
    return pl.DataFrame(
        {
            "flight_id": np.arange(n) + seed * 100,
            "carrier": rng.choice(CARRIERS, n),
            "origin": rng.choice(AIRPORTS, n),
            "dest": rng.choice(AIRPORTS, n),
            "delay_min": np.round(rng.uniform(-10, 60, n), 1),
        }
    )


@asset(partitions=DAYS, group="flights")
def routes(context: AssetContext, flights: pl.DataFrame) -> pl.DataFrame:
    """Delays per route."""
    out = flights.group_by("origin", "dest").agg(
        pl.len().alias("flights"), pl.col("delay_min").mean().alias("mean_delay")
    )
    if context.partition_key in _days("LATE_DAYS"):
        out = out.with_columns(pl.lit(300.0).alias("mean_delay"))
    if context.partition_key in _days("EMPTY_DAYS"):
        out = out.with_columns(pl.lit(0, dtype=pl.UInt32).alias("flights"))
    return out.sort("origin", "dest")


@asset_check(asset=routes)
def no_empty_routes(routes: pl.DataFrame) -> CheckResult:
    return CheckResult(passed=routes["flights"].min() > 0, metadata={"routes": routes.height})


@asset_check(asset=routes, severity="warn")
def delays_reasonable(routes: pl.DataFrame) -> bool:
    return bool(routes["mean_delay"].max() < 240)


@asset(
    partitions=DAYS,
    ins={"week": AssetIn(key="routes", partition_mapping=TimeWindowMapping(start_offset=-6))},
)
def delays_7d(week: pl.DataFrame) -> pl.DataFrame:
    """The mean delay over the last seven days."""
    return pl.DataFrame({"mean_delay": [week["mean_delay"].mean()], "routes": [week.height]})


@asset(partitions=MONTHS)
def monthly(routes: pl.DataFrame) -> pl.DataFrame:
    """Flights per month."""
    return pl.DataFrame({"flights": [routes["flights"].sum()]})
