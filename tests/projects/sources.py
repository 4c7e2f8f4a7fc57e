"""A folder of exported files watched as a source; OBSERVE_FAIL makes observing fail."""

import os
from pathlib import Path

import polars as pl

from assay import AssetContext, DailyPartitions, asset, source_asset

DAYS = DailyPartitions(start="2024-01-01", end="2024-01-04")
DROP = Path(os.environ.get("DROP_DIR", "drop"))


@source_asset(group="raw", partitions=DAYS)
def exports(context: AssetContext) -> dict[str, str]:
    """One CSV per day, dropped into a folder by the shop."""
    if os.environ.get("OBSERVE_FAIL"):
        raise OSError("drop folder is not mounted")
    return {p.stem: str(p.stat().st_mtime_ns) for p in sorted(DROP.glob("*.csv"))}


@source_asset
def rates() -> str:
    """A rates file; its content is its version."""
    return (DROP / "rates.txt").read_text().strip()


manual = source_asset("manual_uploads")


@asset(partitions=DAYS, deps=[exports, "rates"])
def loaded(context: AssetContext) -> pl.DataFrame:
    day = context.partition_key
    return pl.read_csv(DROP / f"{day}.csv").with_columns(day=pl.lit(day))
