"""The state a year of daily runs leaves behind, against the outputs it records.

A year of daily partitions through three assets (`flights` with a Pandera
schema of six column checks, `routes` with two asset checks, `summary`), run
the way a scheduler runs it: each day one `materialize` of that day and one
`check` of it, in one process through the Python API (`now` set to the next
day, so each day is the newest partition). Reported: the outputs' size
(storage/), the state's (assay.duckdb, the journals, failure files, outboxes),
their ratio, and the stored lineage events (count, mean bytes each). Then
`prune` as `assay state prune --older-than 30d` would run it thirty simulated
days before the end, and the same figures after it.

`python bench/state_size.py [DAYS]` (default 365), or `python bench/run.py state_size`;
the baseline is the outputs' size, the target state <= 1x outputs with default
settings (no retention, nothing pruned).
"""

from __future__ import annotations

import shutil
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

DAYS = 365
FIRST = date(2023, 1, 1)
RETAIN_DAYS = 30
WORK = Path(__file__).resolve().parent / ".work" / "state_size"

PROJECT = '''
import numpy as np
import pandera.polars as pa
import polars as pl

from assay import AssetContext, CheckResult, DailyPartitions, asset, asset_check

DAYS = DailyPartitions(start="{first}")
CARRIERS = ["AA", "DL", "UA", "WN", "B6", "AS"]
AIRPORTS = ["ATL", "DFW", "DEN", "ORD", "LAX", "JFK", "SEA", "SFO", "MIA", "BOS"]


class Flights(pa.DataFrameModel):
    flight_id: int = pa.Field(unique=True)
    carrier: str = pa.Field(isin=CARRIERS)
    origin: str = pa.Field(isin=AIRPORTS)
    dest: str = pa.Field(isin=AIRPORTS)
    delay_min: float = pa.Field(ge=-60, le=1440)
    distance_km: float = pa.Field(gt=0)


@asset(partitions=DAYS, schema=Flights, group="flights")
def flights(context: AssetContext) -> pl.DataFrame:
    """The day's departures."""
    seed = int(context.partition_key.replace("-", ""))
    rng = np.random.default_rng(seed)
    n = 1500
    return pl.DataFrame(
        {{
            "flight_id": np.arange(n) + seed * 1000,
            "carrier": rng.choice(CARRIERS, n),
            "origin": rng.choice(AIRPORTS, n),
            "dest": rng.choice(AIRPORTS, n),
            "delay_min": np.round(rng.gamma(1.5, 12.0, n) - 10, 1),
            "distance_km": np.round(rng.uniform(200, 4000, n), 0),
        }}
    )


@asset(partitions=DAYS, group="flights", owners=["ops@example.com"], tags={{"tier": "gold"}})
def routes(flights: pl.DataFrame) -> pl.DataFrame:
    """Delays per route."""
    return (
        flights.group_by("origin", "dest", "carrier")
        .agg(pl.len().alias("flights"), pl.col("delay_min").mean().alias("mean_delay"))
        .sort("origin", "dest", "carrier")
    )


@asset_check(asset=routes)
def no_empty_routes(routes: pl.DataFrame) -> CheckResult:
    return CheckResult(passed=routes["flights"].min() > 0, metadata={{"routes": routes.height}})


@asset_check(asset=routes, severity="warn")
def delays_reasonable(routes: pl.DataFrame) -> bool:
    return routes["mean_delay"].max() < 240


@asset(partitions=DAYS, group="flights")
def summary(routes: pl.DataFrame) -> pl.DataFrame:
    """One row a day."""
    return routes.select(
        pl.col("flights").sum(), pl.col("mean_delay").mean(), pl.len().alias("routes")
    )
'''


def report(home: Path, label: str) -> float:
    """Print the state's size against the outputs', by part; return their ratio."""
    import duckdb

    from assay.state.size import state_size

    outputs = sum(p.stat().st_size for p in (home / "storage").rglob("*") if p.is_file())
    size = state_size(home)
    con = duckdb.connect(str(home / "assay.duckdb"), read_only=True)
    try:
        events, mean = con.execute(
            "SELECT count(*), coalesce(avg(strlen(event)), 0) FROM lineage_events"
        ).fetchone() or (0, 0)
        (runs,) = con.execute("SELECT count(*) FROM runs").fetchone() or (0,)
        (block,) = con.execute("SELECT block_size FROM pragma_database_size()").fetchone() or (0,)
    finally:
        con.close()
    mib = 2**20
    ratio = size.total / outputs
    print(f"{label}:")
    print(f"  outputs (storage/): {outputs / mib:.2f} MiB")
    print(
        f"  state: {size.total / mib:.2f} MiB (assay.duckdb {size.database / mib:.2f} in "
        f"{block // 1024} KiB blocks, journal/ {size.journals / mib:.2f}, failures/ "
        f"{size.failures / mib:.2f}, other {size.other / mib:.2f})"
    )
    print(f"  ratio {ratio:.2f}x state / outputs (target <= 1x with default settings)")
    print(f"  lineage events: {events:,}, {mean:,.0f} bytes each as stored; runs: {runs:,}")
    return ratio


def main(days: int = DAYS) -> None:
    import assay
    from assay.state.prune import prune_state

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    (WORK / "pyproject.toml").write_text('[tool.assay]\nmodule = "flights_year"\n')
    (WORK / "flights_year.py").write_text(PROJECT.format(first=FIRST))
    sys.path.insert(0, str(WORK))
    project = assay.load(module="flights_year", home=WORK / ".assay")
    started = time.perf_counter()
    cutoff = None
    for i in range(days):
        day = FIRST + timedelta(days=i)
        now = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, hours=2)
        if i == days - RETAIN_DAYS:
            cutoff = datetime.now(UTC)  # what `--older-than 30d` means at the year's end
        done = project.materialize(partitions=[str(day)], now=now, hooks=[])
        assert done.success, done
        checked = project.check(partitions=[str(day)], now=now, hooks=[])
        assert checked.success, checked.failed
    print(f"{days} days (a materialize and a check each): {time.perf_counter() - started:.1f} s")
    home = WORK / ".assay"
    project.state.runs(limit=1)  # index what is pending
    report(home, "after the year, default settings")
    if cutoff is None:
        return
    started = time.perf_counter()
    pruned = prune_state(home, before=cutoff)
    print(f"prune: {time.perf_counter() - started:.2f} s: {pruned.describe()}")
    report(home, f"after `assay state prune` of the runs before the last {RETAIN_DAYS} days")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else DAYS)
