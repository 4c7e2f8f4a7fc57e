"""The planner at scale: 1,000 assets x 3,650 daily partitions (3.65M asset partitions).

The state store is filled directly (as a long history of runs would leave it),
then `project.plan()` is timed in a fresh process per scenario, with its peak
memory: (a) nothing changed, (b) one root asset's code changed (everything
downstream of it stale), (c) one root partition's data changed.
Targets: each under 2 s and 2 GiB.
"""

from __future__ import annotations

import json
import random
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

LAYERS = 10
WIDTH = 100
DAYS = 3650
START = "2015-01-01"
END = "2024-12-29"  # START + 3,650 days
WORK = Path(__file__).resolve().parent / ".work" / "planner"


def write_project(
    work: Path | None = None,
    *,
    layers: int = LAYERS,
    width: int = WIDTH,
    start: str = START,
    end: str | None = END,
    decorator: str = "@asset(partitions=DAYS)",
    header: tuple[str, ...] = (),
) -> None:
    """`<work>/wide.py`: `layers` layers of `width` daily assets `a<layer>_<i>`, each
    reading 1-3 assets of the layer before (`end` None: open-ended; `header`: more
    lines after the imports, such as those `decorator` needs)."""
    work = work or WORK
    rng = random.Random(11)
    bounds = f'start="{start}"' + ("" if end is None else f', end="{end}"')
    lines = [
        "import polars as pl",
        "from assay import DailyPartitions, asset",
        *header,
        f"DAYS = DailyPartitions({bounds})",
    ]
    for layer in range(layers):
        for i in range(width):
            inputs = (
                []
                if layer == 0
                else sorted(
                    rng.sample([f"a{layer - 1}_{j}" for j in range(width)], rng.randint(1, 3))
                )
            )
            params = ", ".join(f"{name}: pl.DataFrame" for name in inputs)
            lines += [
                "",
                "",
                decorator,
                f"def a{layer}_{i}({params}) -> pl.DataFrame:",
            ]
            lines.append(f"    return pl.DataFrame({{'x': [{layer * width + i}]}})")
    (work / "wide.py").write_text("\n".join(lines) + "\n")
    (work / "pyproject.toml").write_text('[tool.assay]\nmodule = "wide"\n')


def populate(work: Path | None = None, *, start: str = START, days: int = DAYS) -> Any:
    """Every asset partition materialized once, layer by layer, all fresh (as a long
    history of runs leaves the store: `asset_partitions` only); returns the project
    (its code versions computed)."""
    work = work or WORK
    sys.path.insert(0, str(work))
    import duckdb

    import assay
    from assay.state.migrations import migrate
    from assay.versioning import code_version, inputs_signature

    project = assay.load(module="wide", home=work / ".assay")
    graph = project.graph
    (work / ".assay").mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(work / ".assay" / "assay.duckdb"))
    migrate(con)
    assets = [
        {
            "asset_key": str(key),
            "layer": int(str(key)[1 : str(key).index("_")]),
            "code_version": code_version(graph.specs[key]),
            "inputs_signature": inputs_signature(graph, key),
        }
        for key in graph.order
    ]
    import pyarrow as pa

    asset_table = pa.Table.from_pylist(assets)  # noqa: F841
    con.execute(
        f"""
        INSERT INTO asset_partitions BY NAME
        SELECT a.asset_key, strftime(DATE '{start}' + d.i::INTEGER, '%Y-%m-%d') AS partition_key,
               a.asset_key || '-' || d.i AS materialization_id, 'bench' AS run_id,
               TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_hours(a.layer) AS started_at,
               started_at + to_minutes(30) AS finished_at,
               md5(a.asset_key || d.i) AS data_version, a.code_version, a.inputs_signature,
               NULL AS provenance, finished_at AS version_changed_at,
               epoch_us(finished_at) AS seq, epoch_us(started_at) AS started_seq,
               epoch_us(finished_at) AS changed_seq
        FROM asset_table a, range({days}) d(i)
        """
    )
    count = con.execute("SELECT count(*) FROM asset_partitions").fetchall()[0][0]
    con.close()
    print(f"populated {count:,} asset partitions")
    return project


def scenario(name: str) -> None:
    """Run in a fresh process: apply the change, plan, print timings as JSON."""
    sys.path.insert(0, str(WORK))
    import duckdb

    import assay

    if name != "a":
        con = duckdb.connect(str(WORK / ".assay" / "assay.duckdb"))
        if name == "b":  # the stored code version of one root no longer matches its code
            con.execute("UPDATE asset_partitions SET code_version = 'old' WHERE asset_key = 'a0_0'")
        else:  # one root partition re-materialized with new data
            con.execute(
                "UPDATE asset_partitions SET data_version = 'new', "
                "version_changed_at = TIMESTAMPTZ '2025-02-01 00:00:00+00', "
                "started_at = TIMESTAMPTZ '2025-02-01 00:00:00+00', "
                "changed_seq = epoch_us(TIMESTAMPTZ '2025-02-01 00:00:00+00'), "
                "started_seq = epoch_us(TIMESTAMPTZ '2025-02-01 00:00:00+00') "
                "WHERE asset_key = 'a0_0' AND partition_key = '2020-01-01'"
            )
        con.close()
    start = time.perf_counter()
    project = assay.load(module="wide", home=WORK / ".assay")
    loaded = time.perf_counter()
    plan = project.plan()
    planned = time.perf_counter()
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "load_s": loaded - start,
                "plan_s": planned - loaded,
                "peak_mib": peak_mib,
                "stale_assets": len(plan.steps),
                "stale_partitions": plan.partition_count,
            }
        )
    )


def main() -> None:
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    write_project()
    subprocess.run([sys.executable, __file__, "populate"], check=True)
    backup = WORK / "backup.duckdb"
    shutil.copy(WORK / ".assay" / "assay.duckdb", backup)
    labels = {
        "a": "(a) nothing changed",
        "b": "(b) one root's code changed",
        "c": "(c) one root partition's data changed",
    }
    print(f"planner: {LAYERS * WIDTH} assets x {DAYS} daily partitions")
    for name, label in labels.items():
        shutil.copy(backup, WORK / ".assay" / "assay.duckdb")
        done = subprocess.run(
            [sys.executable, __file__, "scenario", name], check=True, capture_output=True, text=True
        )
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(
            f"  {label}: plan {result['plan_s']:.2f} s (load {result['load_s']:.2f} s), "
            f"peak {result['peak_mib']:,.0f} MiB; {result['stale_assets']} assets, "
            f"{result['stale_partitions']:,} partitions stale (targets: 2 s, 2,048 MiB)"
        )


if __name__ == "__main__":
    if sys.argv[1:2] == ["populate"]:
        populate()
    elif sys.argv[1:2] == ["scenario"]:
        scenario(sys.argv[2])
    else:
        main()
