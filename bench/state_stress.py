"""Stress the state store: 4 processes journal and index thousands of records each,
at the same time, 20 times over; every record must be in DuckDB (lost rows: 0)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

PROCESSES = 4
RECORDS = 2_500
FLUSH_EVERY = 100
REPETITIONS = 20
WORK = Path(__file__).resolve().parent / ".work" / "state"


def worker(home: str, run_id: str) -> None:
    """One coordinator: journal RECORDS step records, indexing every FLUSH_EVERY."""
    from assay.state.journal import Journal
    from assay.state.store import StateStore

    store = StateStore(Path(home))
    with Journal(store.journal_dir, run_id) as journal:
        journal.append({"type": "run", "run_id": run_id, "status": "running"}, durable=True)
        for i in range(RECORDS):
            journal.append(
                {
                    "type": "step",
                    "run_id": run_id,
                    "step_key": f"asset_{i}",
                    "asset_key": f"asset_{i}",
                    "status": "succeeded",
                    "started_at": time.time(),
                    "finished_at": time.time(),
                },
                durable=(i + 1) % FLUSH_EVERY == 0,
            )
            if (i + 1) % FLUSH_EVERY == 0:
                store.index_pending(timeout_s=0.05)
        journal.append({"type": "run", "run_id": run_id, "status": "succeeded"}, durable=True)
    store.index_pending(timeout_s=30)


def main() -> None:
    import duckdb

    lost_total = 0
    start = time.perf_counter()
    for rep in range(REPETITIONS):
        home = WORK / f"rep{rep}"
        shutil.rmtree(home, ignore_errors=True)
        procs = [
            subprocess.Popen([sys.executable, __file__, "worker", str(home), f"run{p}"])
            for p in range(PROCESSES)
        ]
        for proc in procs:
            if proc.wait() != 0:
                raise SystemExit(f"worker failed with {proc.returncode}")
        con = duckdb.connect(str(home / "assay.duckdb"), read_only=True)
        stored = con.execute("SELECT count(*) FROM steps").fetchall()[0][0]
        con.close()
        lost_total += PROCESSES * RECORDS - stored
        shutil.rmtree(home)
    elapsed = time.perf_counter() - start
    total = PROCESSES * RECORDS * REPETITIONS
    print(f"state store: {PROCESSES} processes x {RECORDS} records x {REPETITIONS} repetitions")
    print(f"  lost rows: {lost_total} (must be 0); {total / elapsed:,.0f} records/s overall")
    if lost_total:
        raise SystemExit(1)


if __name__ == "__main__":
    if sys.argv[1:2] == ["worker"]:
        worker(sys.argv[2], sys.argv[3])
    else:
        main()
