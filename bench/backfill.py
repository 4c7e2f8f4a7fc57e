"""`assay backfill` of 3 chained daily assets x 365 days, against bare polars scripts.

Each day, `raw` builds a 100-row frame, `cleaned` filters and derives a column,
`daily` aggregates. The baselines do the same per day, reading each input back
from Parquet and writing each output: one process serially, and a spawn pool of
2 processes over the days. assay runs the backfill in process, on the
multiprocess executor with 2 workers, and with the three assets batched by
month (`BatchPolicy(max_partitions=31)`). All run as whole processes in the
same run; the ratios are what to compare.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

DAYS = 365
REPEAT = 3
WORK = Path(__file__).resolve().parent / ".work" / "backfill"
ASSAY = Path(sys.executable).parent / "assay"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

RAW = """pl.DataFrame({{"day": [{day}] * 100, "i": list(range(100))}}).with_columns(
        amount=(pl.col("i") * 7 % 13).cast(pl.Float64))"""
CLEANED = """{raw}.filter(pl.col("amount") > 2).with_columns(net=pl.col("amount") * 0.8)"""
DAILY = """{cleaned}.group_by("day").agg(pl.col("net").sum(), pl.len().alias("orders"))"""

PROJECT = """
import polars as pl

from assay import AssetContext, BatchPolicy, DailyPartitions, asset

DAYS = DailyPartitions(start="2024-01-01", end="2025-01-01")
BATCH = {batch}


@asset(partitions=DAYS, backfill_policy=BATCH)
def raw(context: AssetContext) -> pl.DataFrame:
    frames = [
        {raw}
        for day in context.partition_keys
    ]
    return pl.concat(frames)


@asset(partitions=DAYS, backfill_policy=BATCH)
def cleaned(raw: pl.DataFrame) -> pl.DataFrame:
    return {cleaned}


@asset(partitions=DAYS, backfill_policy=BATCH)
def daily(cleaned: pl.DataFrame) -> pl.DataFrame:
    return {daily}
"""

BASELINE = """
import sys
from datetime import date, timedelta
from multiprocessing import get_context
from pathlib import Path

import polars as pl

OUT = Path(sys.argv[1])
DAYS = [str(date(2024, 1, 1) + timedelta(days=i)) for i in range({days})]


def one_day(day: str) -> None:
    folder = OUT / day
    folder.mkdir(parents=True, exist_ok=True)
    {raw_assign}.write_parquet(folder / "raw.parquet")
    raw = pl.read_parquet(folder / "raw.parquet")
    {cleaned_assign}.write_parquet(folder / "cleaned.parquet")
    cleaned = pl.read_parquet(folder / "cleaned.parquet")
    {daily_assign}.write_parquet(folder / "daily.parquet")


if __name__ == "__main__":
    workers = int(sys.argv[2])
    if workers == 1:
        for day in DAYS:
            one_day(day)
    else:
        with get_context("spawn").Pool(workers) as pool:
            pool.map(one_day, DAYS, chunksize=8)
"""


def write_projects() -> None:
    if WORK.exists():
        shutil.rmtree(WORK)
    for name, batch in (
        ("perday", "None"),
        ("batched", 'BatchPolicy(max_partitions=31, partition_column="day")'),
    ):
        folder = WORK / name
        folder.mkdir(parents=True)
        (folder / "pyproject.toml").write_text(f'[tool.assay]\nmodule = "chain_{name}"\n')
        (folder / f"chain_{name}.py").write_text(
            PROJECT.format(
                batch=batch,
                raw=RAW.format(day="day"),
                cleaned=CLEANED.format(raw="raw"),
                daily=DAILY.format(cleaned="cleaned"),
            )
        )
    (WORK / "baseline.py").write_text(
        BASELINE.format(
            days=DAYS,
            raw_assign=RAW.format(day="day"),
            cleaned_assign=CLEANED.format(raw="raw"),
            daily_assign=DAILY.format(cleaned="cleaned"),
        )
    )


def timed(cmd: list[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env=ENV)
    return time.perf_counter() - start


def backfill(project: str, *extra: str) -> float:
    folder = WORK / project
    shutil.rmtree(folder / ".assay", ignore_errors=True)
    command = [str(ASSAY), "backfill", "start", "--from", "2024-01-01", "--to", "2024-12-30"]
    return timed([*command, "--force", *extra], folder)


def bare(workers: int) -> float:
    shutil.rmtree(WORK / "bare", ignore_errors=True)
    return timed([sys.executable, "baseline.py", "bare", str(workers)], WORK)


def main() -> None:
    write_projects()
    steps = 3 * DAYS
    timed([str(ASSAY), "--help"], WORK)  # warm the bytecode cache
    runs: dict[str, list[float]] = {}
    for _ in range(REPEAT):
        for name, run in (
            ("bare serial", lambda: bare(1)),
            ("bare 2 procs", lambda: bare(2)),
            ("assay in_process", lambda: backfill("perday")),
            ("assay multiprocess 2", lambda: backfill("perday", "--workers", "2")),
            ("assay batched (31)", lambda: backfill("batched")),
        ):
            runs.setdefault(name, []).append(run())
    t = {name: statistics.median(times) for name, times in runs.items()}
    print(f"backfill 3 assets x {DAYS} days ({steps} asset partitions), median of {REPEAT}:")
    for name, seconds in t.items():
        print(f"  {name:<22} {seconds:6.2f} s")

    def overhead(assay_s: float, bare_s: float) -> str:
        return f"{(assay_s - bare_s) / steps * 1000:.2f} ms per asset partition"

    serial, parallel = t["assay in_process"], t["assay multiprocess 2"]
    print(
        f"  serial:    ratio {serial / t['bare serial']:.2f}x vs bare serial; "
        f"overhead {overhead(serial, t['bare serial'])}"
    )
    print(
        f"  2 workers: ratio {parallel / t['bare 2 procs']:.2f}x vs bare 2 procs; "
        f"overhead {overhead(parallel, t['bare 2 procs'])}"
    )
    print(
        f"  batched:   ratio {t['assay batched (31)'] / t['bare serial']:.2f}x vs bare serial "
        f"({serial / t['assay batched (31)']:.1f}x faster than per-day in_process)"
    )


if __name__ == "__main__":
    main()
