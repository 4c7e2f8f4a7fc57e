"""Lineage for 10,000 steps: what OpenLineage emission adds to a run, and how fast
events are stored.

1. A backfill of 4 chained daily assets x 2,500 days (10,000 steps, 20,000 step
   events plus the run's own), run as whole `assay` processes with lineage on and
   with `ASSAY_LINEAGE=off`, interleaved, against a bare polars script doing the
   same reads and writes. The difference per step is what lineage adds.
2. Building one step's START and COMPLETE and journaling them (written to a real
   journal file, as a run does; its fsync is the step's), in process.
3. Storing: the lineage records of that backfill (raw JSON and columns) indexed
   from a journal into a fresh state store, in Arrow batches: events per second.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from datetime import date, timedelta
from pathlib import Path

DAYS = 2500
ASSETS = 4
STEPS = DAYS * ASSETS
REPEAT = 2
WORK = Path(__file__).resolve().parent / ".work" / "lineage"
ASSAY = Path(sys.executable).parent / "assay"
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHONDONTWRITE", "OPENLINEAGE"))}
FIRST = date(2018, 1, 1)
LAST = FIRST + timedelta(days=DAYS - 1)

PROJECT = f"""
import polars as pl

from assay import AssetContext, DailyPartitions, asset

DAYS = DailyPartitions(start="{FIRST}", end="{LAST + timedelta(days=1)}")


@asset(partitions=DAYS)
def a(context: AssetContext) -> pl.DataFrame:
    return pl.DataFrame({{"day": [context.partition_key] * 10, "n": list(range(10))}})


@asset(partitions=DAYS)
def b(a: pl.DataFrame) -> pl.DataFrame:
    return a.with_columns(m=pl.col("n") * 2)


@asset(partitions=DAYS)
def c(b: pl.DataFrame) -> pl.DataFrame:
    return b.filter(pl.col("n") > 2)


@asset(partitions=DAYS)
def d(c: pl.DataFrame) -> pl.DataFrame:
    return c.group_by("day").agg(pl.col("m").sum())
"""

BASELINE = f"""
import sys
from datetime import date, timedelta
from pathlib import Path

import polars as pl

OUT = Path(sys.argv[1])
for i in range({DAYS}):
    day = str(date({FIRST.year}, {FIRST.month}, {FIRST.day}) + timedelta(days=i))
    folder = OUT / day
    folder.mkdir(parents=True, exist_ok=True)
    pl.DataFrame({{"day": [day] * 10, "n": list(range(10))}}).write_parquet(folder / "a.parquet")
    a = pl.read_parquet(folder / "a.parquet")
    a.with_columns(m=pl.col("n") * 2).write_parquet(folder / "b.parquet")
    b = pl.read_parquet(folder / "b.parquet")
    b.filter(pl.col("n") > 2).write_parquet(folder / "c.parquet")
    c = pl.read_parquet(folder / "c.parquet")
    c.group_by("day").agg(pl.col("m").sum()).write_parquet(folder / "d.parquet")
"""


def timed(cmd: list[str], cwd: Path, **env: str) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, env={**ENV, **env})
    return time.perf_counter() - start


def backfill(lineage: str) -> float:
    shutil.rmtree(WORK / "project" / ".assay", ignore_errors=True)
    command = [str(ASSAY), "backfill", "start", "--from", str(FIRST), "--to", str(LAST)]
    return timed([*command, "--force"], WORK / "project", ASSAY_LINEAGE=lineage)


def bare() -> float:
    shutil.rmtree(WORK / "bare", ignore_errors=True)
    return timed([sys.executable, "baseline.py", "bare"], WORK)


def build_cost() -> float:
    """Milliseconds to build one step's START and COMPLETE and journal them (in this
    process)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from assay.io.base import StoredOutput
    from assay.keys import AssetKey
    from assay.lineage.events import AssetJob, DatasetRef, RunRef, StepLineage, step_end, step_start
    from assay.results import StepResult, StepStatus

    run = RunRef(run_id="6f1c4a8e-8a43-4c56-9d1e-2f1d3c4b5a69", namespace="bench", name="run")
    job = AssetJob(namespace="bench", asset_key="b", code_version="1")
    stored = StoredOutput(
        location="/x", row_count=10, byte_size=900, data_version="v", columns=(("n", "Int64"),)
    )
    plans, results = [], []
    for i in range(2000):
        day = str(FIRST + timedelta(days=i))
        plans.append(
            StepLineage(
                run_id=f"6f1c4a8e-8a43-4c56-9d1e-{i:012d}",
                job=job,
                partition=day,
                parent=run,
                root=run,
                inputs=(
                    DatasetRef(
                        namespace="file",
                        name="/a",
                        asset_key="a",
                        version="v",
                        partitions=day,
                        keys=(day,),
                    ),
                ),
                output=DatasetRef(
                    namespace="file", name="/b", asset_key="b", partitions=day, keys=(day,)
                ),
                provenance='{"a":{"partitions":"","count":1,"versions":"x","unknown":0}}',
                nominal=(f"{day}T00:00:00+00:00", f"{day}T00:00:00+00:00"),
            )
        )
        results.append(
            StepResult(
                key=AssetKey.parse("b"),
                partition=day,
                status=StepStatus.SUCCEEDED,
                started_at=0.0,
                finished_at=1.0,
                stored=stored,
            )
        )
    from assay.state.journal import Journal

    step_start(plans[0], 0.0)  # fill the caches
    folder = WORK / "journal"
    shutil.rmtree(folder, ignore_errors=True)
    with Journal(folder, "bench") as journal:
        start = time.perf_counter()
        for plan, result in zip(plans, results, strict=True):
            events = (step_start(plan, 0.0), step_end(plan, result))
            journal.append(*(event.record("bench") for event in events))
        seconds = time.perf_counter() - start
    return seconds / len(plans) * 1000


def store_rate() -> tuple[int, float]:
    """Index the backfill's lineage records into a fresh store: (events, seconds)."""
    import duckdb

    from assay.state.store import StateStore

    source = WORK / "project" / ".assay" / "assay.duckdb"
    with duckdb.connect(str(source), read_only=True) as con:
        cursor = con.execute(
            "SELECT event_id, run_id, event_type, epoch(event_time) AS event_time, kind, "
            "ol_run_id, job_namespace, job_name, asset_key, partition_key, parent_run_id, "
            "inputs, outputs, event::VARCHAR AS event FROM lineage_events"
        )
        names = [c[0] for c in cursor.description]
        rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    home = WORK / "store"
    shutil.rmtree(home, ignore_errors=True)
    store = StateStore(home)
    store.journal_dir.mkdir(parents=True)
    run = {"type": "run", "run_id": "r", "status": "succeeded", "started_at": 0.0}
    (store.journal_dir / "first.jsonl").write_text(json.dumps(run) + "\n")
    store.index_pending()  # create the store and its tables first
    with open(store.journal_dir / "r.jsonl", "w") as out:
        for row in rows:
            out.write(json.dumps({"type": "lineage", **row}, separators=(",", ":")) + "\n")
    start = time.perf_counter()
    report = store.index_pending()
    seconds = time.perf_counter() - start
    # one record more: the indexer closes this journal, which has no final run record
    assert report.records == len(rows) + 1, report
    assert not report.quarantined, report
    return len(rows), seconds


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    (WORK / "project").mkdir(parents=True)
    (WORK / "project" / "pyproject.toml").write_text(
        '[project]\nname = "bench"\n\n[tool.assay]\nmodule = "chain"\n'
    )
    (WORK / "project" / "chain.py").write_text(PROJECT)
    (WORK / "baseline.py").write_text(BASELINE)
    timed([str(ASSAY), "--help"], WORK)  # warm the bytecode cache
    runs: dict[str, list[float]] = {}
    for _ in range(REPEAT):
        runs.setdefault("bare polars", []).append(bare())
        runs.setdefault("assay, lineage off", []).append(backfill("off"))
        runs.setdefault("assay, lineage on", []).append(backfill("on"))
    t = {name: statistics.median(times) for name, times in runs.items()}
    print(f"backfill {ASSETS} assets x {DAYS} days ({STEPS} steps), median of {REPEAT}:")
    for name, seconds in t.items():
        print(
            f"  {name:<20} {seconds:6.2f} s  ratio {seconds / t['bare polars']:.2f}x vs bare polars"
        )
    added = (t["assay, lineage on"] - t["assay, lineage off"]) / STEPS * 1000
    print(f"  lineage adds {added:.3f} ms per step (target: under 1 ms)")
    print(
        f"  building and journaling START + COMPLETE: {build_cost():.3f} ms per step (target 0.3)"
    )
    events, seconds = store_rate()
    print(
        f"  storing {events} events from the journal: {seconds:.2f} s, "
        f"{events / seconds:,.0f} events/s (target: 20,000)"
    )


if __name__ == "__main__":
    main()
