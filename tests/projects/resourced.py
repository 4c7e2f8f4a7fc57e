"""A project whose assets take resources (one with a secret) and configuration."""

import enum
import os
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from assay import DailyPartitions, Definitions, DuckDBIO, EnvVar, Resource, asset

LOG = Path(os.environ.get("RESOURCE_LOG", "resource.log"))


def note(line: str) -> None:
    with LOG.open("a") as out:
        out.write(f"{line} {os.getpid()}\n")


@dataclass
class Shop(Resource):
    """An API client: its token is a secret read from the environment."""

    url: str
    token: str = EnvVar("SHOP_TOKEN")

    def setup(self) -> None:
        note(f"setup {self.url}")

    def teardown(self) -> None:
        note("teardown")


class Tier(enum.Enum):
    GOLD = "gold"
    SILVER = "silver"


@dataclass
class ScoreConfig:
    threshold: float = 0.05
    region: str = "eu"
    tiers: list[Tier] = field(default_factory=lambda: [Tier.GOLD])
    since: date = date(2024, 1, 1)


@asset(partitions=DailyPartitions(start="2024-01-01", end="2024-01-04"))
def orders(context, shop: Shop) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "day": [context.partition_key] * 3,
            "amount": [0.01, 0.2, 0.5],
            "token_length": [len(shop.token)] * 3,
        }
    )


@asset(partitions=DailyPartitions(start="2024-01-01", end="2024-01-04"))
def scored(orders: pl.DataFrame, config: ScoreConfig) -> pl.DataFrame:
    if config.region == "broken" and orders["day"][0] == "2024-01-02":
        raise ValueError("no scores for that day")
    return orders.filter(pl.col("amount") > config.threshold).with_columns(
        region=pl.lit(config.region),
        tiers=pl.lit(",".join(t.value for t in config.tiers)),
        since=pl.lit(config.since.isoformat()),
    )


@asset(io="warehouse")
def totals(scored: pl.DataFrame) -> pl.DataFrame:
    return scored.group_by("day").agg(pl.col("amount").sum()).sort("day")


@asset(deps=[totals])
def report(warehouse: DuckDBIO) -> pl.DataFrame:
    return warehouse.query("SELECT count(*) AS days, sum(amount) AS amount FROM main.totals")


defs = Definitions(
    assets=[orders, scored, totals, report],
    resources={"shop": Shop("http://127.0.0.1:9"), "warehouse": DuckDBIO("warehouse.duckdb")},
)
