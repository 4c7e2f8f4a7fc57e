"""A schedule whose requests carry run configuration; another configured asset needs a
value only pyproject.toml gives."""

import os
from dataclasses import dataclass

import polars as pl

from assay import Definitions, EnvVar, RunRequest, Schedule, asset, schedule


@dataclass
class Sample:
    rows: int = 1
    label: str = "default"


@dataclass
class Region:
    name: str  # no default: [tool.assay.config.regional] gives it


@asset
def sample(config: Sample) -> pl.DataFrame:
    return pl.DataFrame({"n": list(range(config.rows)), "label": [config.label] * config.rows})


@asset
def regional(config: Region) -> pl.DataFrame:
    return pl.DataFrame({"region": [config.name]})


@schedule(cron="0 6 * * *", selection="sample")
def morning(context):
    rows = os.environ.get("SAMPLE_ROWS", "3")
    values = {"rows": int(rows) if rows.isdigit() else rows, "label": "scheduled"}
    return RunRequest(force=True, config={"sample": values})


@asset
def secret_sample(api: dict) -> pl.DataFrame:
    return pl.DataFrame({"n": [len(api["token"])]})


defs = Definitions(
    assets=[sample, regional, secret_sample],
    schedules=[
        morning,
        Schedule(
            "with_secret",
            "secret_sample",
            cron="0 6 * * *",
            enabled=os.environ.get("WITH_SECRET") == "1",
        ),
    ],
    resources={"api": {"token": EnvVar("API_TOKEN")}},
)
