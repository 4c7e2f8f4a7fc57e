"""A 200-day backfill of 3 chained daily assets on Dask, against the multiprocess
executor and a bare polars script, all with 2 workers.

The assets and the baseline are those of `backfill.py` (each day: build a
100-row frame, filter and derive a column, aggregate; every output written to
Parquet and read back). assay runs `backfill start --force` on a fresh state
folder: on the multiprocess executor with 2 workers, and on the dask executor
with a LocalCluster of 2 worker processes that it starts (and stops) itself.
The baseline is a spawn pool of 2 processes over the days. All run as whole
processes, interleaved, in the same run; the ratios are what to compare.
"""

from __future__ import annotations

import shutil
import statistics
import sys
from datetime import date, timedelta

import backfill as chain

DAYS = 200
REPEAT = 3
WORK = chain.WORK.parent / "dask"
LAST = str(date(2024, 1, 1) + timedelta(days=DAYS - 1))


def write_project() -> None:
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    (WORK / "pyproject.toml").write_text('[tool.assay]\nmodule = "chain_dask"\n')
    (WORK / "chain_dask.py").write_text(
        chain.PROJECT.format(
            batch="None",
            raw=chain.RAW.format(day="day"),
            cleaned=chain.CLEANED.format(raw="raw"),
            daily=chain.DAILY.format(cleaned="cleaned"),
        )
    )
    (WORK / "baseline.py").write_text(
        chain.BASELINE.format(
            days=DAYS,
            raw_assign=chain.RAW.format(day="day"),
            cleaned_assign=chain.CLEANED.format(raw="raw"),
            daily_assign=chain.DAILY.format(cleaned="cleaned"),
        )
    )


def backfill(*options: str) -> float:
    shutil.rmtree(WORK / ".assay", ignore_errors=True)
    command = [str(chain.ASSAY), "backfill", "start", "--from", "2024-01-01", "--to", LAST]
    return chain.timed([*command, "--force", "--workers", "2", *options], WORK)


def bare() -> float:
    shutil.rmtree(WORK / "bare", ignore_errors=True)
    return chain.timed([sys.executable, "baseline.py", "bare", "2"], WORK)


def main() -> None:
    write_project()
    steps = 3 * DAYS
    chain.timed([str(chain.ASSAY), "--help"], WORK)  # warm the bytecode cache
    runs: dict[str, list[float]] = {}
    for _ in range(REPEAT):
        for name, run in (
            ("bare 2 procs", bare),
            ("assay multiprocess 2", lambda: backfill("--executor", "multiprocess")),
            ("assay dask LocalCluster(2)", lambda: backfill("--executor", "dask")),
        ):
            runs.setdefault(name, []).append(run())
    t = {name: statistics.median(times) for name, times in runs.items()}
    print(f"backfill 3 assets x {DAYS} days ({steps} asset partitions), median of {REPEAT}:")
    for name, seconds in t.items():
        print(f"  {name:<27} {seconds:6.2f} s")
    base = t["bare 2 procs"]
    for name in ("assay multiprocess 2", "assay dask LocalCluster(2)"):
        per_step = (t[name] - base) / steps * 1000
        print(
            f"  {name}: ratio {t[name] / base:.2f}x vs bare 2 procs; "
            f"overhead {per_step:.2f} ms per asset partition"
        )
    dask_s, pool_s = t["assay dask LocalCluster(2)"], t["assay multiprocess 2"]
    print(
        f"  dask vs multiprocess: ratio {dask_s / pool_s:.2f}x "
        f"({(dask_s - pool_s) / steps * 1000:+.2f} ms per asset partition)"
    )


if __name__ == "__main__":
    main()
