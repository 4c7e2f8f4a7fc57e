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

`python bench/state_size.py [DAYS]` (default 365); target: state <= 1x outputs.
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


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def report(home: Path, label: str) -> float:
    import duckdb

    outputs = size_of(home / "storage")
    parts = {
        "assay.duckdb": size_of(home / "assay.duckdb") + size_of(home / "assay.duckdb.wal"),
        "journal/": size_of(home / "journal"),
        "failures/": size_of(home / "failures"),
        "other": 0,
    }
    known = {"assay.duckdb", "assay.duckdb.wal", "journal", "failures", "storage"}
    parts["other"] = sum(size_of(p) for p in home.iterdir() if p.name not in known)
    state = sum(parts.values())
    con = duckdb.connect(str(home / "assay.duckdb"), read_only=True)
    try:
        events, mean = con.execute(
            "SELECT count(*), coalesce(avg(strlen(event::VARCHAR)), 0) FROM lineage_events"
        ).fetchone() or (0, 0)
        runs = con.execute("SELECT count(*) FROM runs").fetchone()
    finally:
        con.close()
    mib = 2**20
    shown = ", ".join(f"{name} {size / mib:.1f}" for name, size in parts.items())
    print(f"{label}:")
    print(f"  outputs (storage/): {outputs / mib:.1f} MiB")
    print(f"  state: {state / mib:.1f} MiB ({shown})")
    print(f"  state / outputs: {state / outputs:.2f}x (target <= 1x)")
    print(f"  lineage events: {events:,}, {mean:,.0f} bytes each as stored (target <= 1,500)")
    print(f"  runs: {runs[0] if runs else 0:,}")
    return state / outputs


def main(days: int = DAYS) -> None:
    import assay

    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    (WORK / "pyproject.toml").write_text('[tool.assay]\nmodule = "flights_year"\n')
    (WORK / "flights_year.py").write_text(PROJECT.format(first=FIRST))
    sys.path.insert(0, str(WORK))
    project = assay.load(module="flights_year", home=WORK / ".assay")
    started = time.perf_counter()
    cutoff: datetime | None = None
    for i in range(days):
        day = FIRST + timedelta(days=i)
        now = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(days=1, hours=2)
        if i == days - RETAIN_DAYS:
            cutoff = datetime.now(UTC)  # what `--older-than 30d` means at the year's end
        done = project.materialize(partitions=[str(day)], now=now, hooks=[])
        assert done.success, done
        project.check(partitions=[str(day)], now=now, hooks=[])
    print(f"{days} days: {time.perf_counter() - started:.1f} s")
    home = WORK / ".assay"
    project.state.runs(limit=1)  # index what is pending
    report(home, "after the year")
    prune = _prune()
    if prune is None or cutoff is None:
        return
    started = time.perf_counter()
    prune(home, cutoff)
    print(f"prune: {time.perf_counter() - started:.2f} s")
    report(home, f"after prune (runs before the last {RETAIN_DAYS} days)")


def _prune():  # type: ignore[no-untyped-def]
    try:
        from assay.state.prune import prune_state
    except ImportError:
        return None

    def run(home: Path, cutoff: datetime) -> None:
        result = prune_state(home, before=cutoff)
        print(f"  {result.describe()}")

    return run


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else DAYS)
