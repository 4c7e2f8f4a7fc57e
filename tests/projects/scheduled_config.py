"""A schedule whose requests carry run configuration."""

import os
from dataclasses import dataclass

import polars as pl

from assay import Definitions, RunRequest, asset, schedule


@dataclass
class Sample:
    rows: int = 1
    label: str = "default"


@asset
def sample(config: Sample) -> pl.DataFrame:
    return pl.DataFrame({"n": list(range(config.rows)), "label": [config.label] * config.rows})


@schedule(cron="0 6 * * *", selection="sample")
def morning(context):
    rows = os.environ.get("SAMPLE_ROWS", "3")
    return RunRequest(
        force=True,
        config={"sample": {"rows": int(rows) if rows.isdigit() else rows, "label": "scheduled"}},
    )


defs = Definitions(assets=[sample], schedules=[morning])
