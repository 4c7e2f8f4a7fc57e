"""A 200-day backfill of 3 chained daily assets on Dask, against the multiprocess
executor and a bare polars script, all with 2 workers.

The assets and the baseline are those of `backfill.py` (each day: build a
100-row frame, filter and derive a column, aggregate; every output written to
Parquet and read back). assay runs `backfill start --force` on a fresh state
folder: on the multiprocess executor with 2 workers, and on the dask executor
with a LocalCluster of 2 worker processes that it starts (and stops) itself.
The baseline is a spawn pool of 2 processes over the days. All run as whole
processes, interleaved, in the same run; the ratios are what to compare. The CPU
of each run's whole process tree (workers and the cluster's processes included)
is printed too: on a busy machine it says more than the wall time.
`ASSAY_SRC=<a src folder>` runs another copy of assay's source (a before/after).
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta

import backfill as chain

DAYS = 200
REPEAT = 3
WORK = chain.WORK.parent / "dask"
LAST = str(date(2024, 1, 1) + timedelta(days=DAYS - 1))


# Dask's own floor, whole process: import distributed, start the LocalCluster the
# executor starts (2 worker processes, one thread each, the executor's Dask
# settings), run one no-op task per step in bulk, close it. What a run on a
# LocalCluster of its own pays before any step does any work.
FLOOR = """
import logging
import sys

import dask
from distributed import Client, LocalCluster

from assay.execution.executors.dask import _LOCAL_CLUSTER_CONFIG

if __name__ == "__main__":
    steps = int(sys.argv[1])
    with dask.config.set(_LOCAL_CLUSTER_CONFIG), LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0",
        silence_logs=logging.CRITICAL,
    ) as cluster, Client(cluster) as client:
        client.gather(client.map(abs, range(steps), pure=False))
"""


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
    (WORK / "dask_floor.py").write_text(FLOOR)
    (WORK / "baseline.py").write_text(
        chain.BASELINE.format(
            days=DAYS,
            raw_assign=chain.RAW.format(day="day"),
            cleaned_assign=chain.CLEANED.format(raw="raw"),
            daily_assign=chain.DAILY.format(cleaned="cleaned"),
        )
    )


CPU: dict[str, list[float]] = {}  # CPU seconds of each run's process tree


def timed(name: str, cmd: list[str]) -> float:
    """Wall seconds; the CPU of the process and every process it started goes to CPU."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(cmd, cwd=WORK, check=True, capture_output=True, env=ENV)
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    CPU.setdefault(name, []).append(cpu)
    return seconds


ENV = {
    **chain.ENV,
    **({"PYTHONPATH": os.environ["ASSAY_SRC"]} if "ASSAY_SRC" in os.environ else {}),
}


def backfill(name: str, *options: str) -> float:
    shutil.rmtree(WORK / ".assay", ignore_errors=True)
    command = [str(chain.ASSAY), "backfill", "start", "--from", "2024-01-01", "--to", LAST]
    return timed(name, [*command, "--force", "--workers", "2", *options])


def bare() -> float:
    shutil.rmtree(WORK / "bare", ignore_errors=True)
    return timed("bare 2 procs", [sys.executable, "baseline.py", "bare", "2"])


def main() -> None:
    write_project()
    steps = 3 * DAYS
    timed("help", [str(chain.ASSAY), "--help"])  # warm the bytecode cache
    runs: dict[str, list[float]] = {}
    for _ in range(REPEAT):
        for name, run in (
            ("bare 2 procs", bare),
            (
                "assay multiprocess 2",
                lambda: backfill("assay multiprocess 2", "--executor", "multiprocess"),
            ),
            (
                "assay dask LocalCluster(2)",
                lambda: backfill("assay dask LocalCluster(2)", "--executor", "dask"),
            ),
            (
                "Dask floor",
                lambda: timed("Dask floor", [sys.executable, "dask_floor.py", str(steps)]),
            ),
        ):
            runs.setdefault(name, []).append(run())
    t = {name: statistics.median(times) for name, times in runs.items()}
    cpu = {name: statistics.median(CPU[name]) for name in runs}
    print(f"backfill 3 assets x {DAYS} days ({steps} asset partitions), median of {REPEAT}:")
    for name, seconds in t.items():
        print(f"  {name:<27} {seconds:6.2f} s   CPU {cpu[name]:6.2f} s")
    base = t["bare 2 procs"]
    for name in ("assay multiprocess 2", "assay dask LocalCluster(2)"):
        per_step = (t[name] - base) / steps * 1000
        cpu_step = (cpu[name] - cpu["bare 2 procs"]) / steps * 1000
        print(
            f"  {name}: ratio {t[name] / base:.2f}x vs bare 2 procs; overhead "
            f"{per_step:.2f} ms per asset partition (wall), {cpu_step:.2f} ms of CPU"
        )
    floor = t["Dask floor"]
    print(
        f"  Dask floor (start a LocalCluster(2), {steps} no-op tasks, close): {floor:.2f} s, "
        f"{floor / steps * 1000:.2f} ms per step before any work; assay on Dask beyond it and "
        f"the bare work: {(t['assay dask LocalCluster(2)'] - floor - base) / steps * 1000:.2f} ms"
    )
    dask_s, pool_s = t["assay dask LocalCluster(2)"], t["assay multiprocess 2"]
    print(
        f"  dask vs multiprocess: ratio {dask_s / pool_s:.2f}x "
        f"({(dask_s - pool_s) / steps * 1000:+.2f} ms per asset partition)"
    )


if __name__ == "__main__":
    main()
