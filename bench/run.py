"""Run every benchmark: `make bench` (or `python bench/run.py [NAME ...]`).

The long ones (`daemon-soak`, minutes of load; `daemon-crash`, 200 kill -9
iterations) run only when named: `python bench/run.py daemon-soak daemon-crash`.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import automation
import backfill
import daemon
import daemon_crash
import dask_backfill
import duckdb_io
import kill_loop
import lazy_sink
import lineage
import materialize_layered
import planner
import state_size
import state_stress
import static_partitions
import step_overhead
import ui
import ui_layout
import validation
import year

BENCHMARKS = {
    "materialize": materialize_layered.main,
    "step_overhead": step_overhead.main,
    "lazy_sink": lazy_sink.main,
    "state": state_stress.main,
    "state_size": state_size.main,
    "planner": planner.main,
    "static": static_partitions.main,
    "backfill": backfill.main,
    "validation": validation.main,
    "lineage": lineage.main,
    "dask": dask_backfill.main,
    "kill-loop": kill_loop.main,
    "duckdb_io": duckdb_io.main,
    "year": year.main,
    "daemon": lambda: daemon.main([]),  # latency, idle, tick1000, coldstart
    "automation": lambda: automation.main([]),  # 2,000 assets; `--full` for 10,000
    "ui_layout": ui_layout.main,
    "ui": lambda: ui.main([]),  # pages at 3.65M asset partitions; a backfill under load
}
OPT_IN = {
    "daemon-soak": lambda: daemon.main(["soak"]),
    "daemon-crash": daemon_crash.main,
}


def main(names: list[str]) -> None:
    for name in names or list(BENCHMARKS):
        print(f"\n## {name}")
        {**BENCHMARKS, **OPT_IN}[name]()


if __name__ == "__main__":
    main(sys.argv[1:])
