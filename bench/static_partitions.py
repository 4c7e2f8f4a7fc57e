"""`assay plan` and `assay materialize -p KEY` on one StaticPartitions asset of N keys
and an identity-mapped downstream asset, against a bare script.

The state store is filled directly (every partition of both assets materialized
once, all fresh), then each command runs as a whole process: (a) `assay plan`
with nothing changed, (b) `assay plan` with one upstream partition's data
changed, (c) `assay materialize raw -p <one key>`. The baseline is a bare script
doing the equivalent work: build the N keys and a key -> index dict, read the
stored partitions of both assets from DuckDB into numpy arrays, place them by
key, compare started/changed times along the identity edge. Targets: plan under
1 s at 100k keys and under 5 s at 1M; the time must grow linearly with N.

    python bench/static_partitions.py [N ...]      (default: 10000 100000)
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_SIZES = (10_000, 100_000)
REPEAT = 3
WORK = Path(__file__).resolve().parent / ".work" / "static_partitions"
ASSAY = Path(sys.executable).parent / "assay"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

PROJECT = """
import os

import polars as pl

from assay import StaticPartitions, asset

KEYS = StaticPartitions([f"k{{i}}" for i in range({n})])


@asset(partitions=KEYS, code_version="1")
def raw() -> pl.DataFrame:
    return pl.DataFrame({{"x": [1]}})


@asset(partitions=KEYS, code_version="1")
def clean(raw: pl.DataFrame) -> pl.DataFrame:
    return raw
"""

BASELINE = """
import sys

import duckdb
import numpy as np

keys = [f"k{{i}}" for i in range({n})]
index = dict(zip(keys, range(len(keys))))
con = duckdb.connect(sys.argv[1], read_only=True)
columns = {{}}
for asset in ("raw", "clean"):
    found = con.execute(
        "SELECT partition_key, epoch(started_at) AS started, "
        "epoch(version_changed_at) AS changed, code_version = '1' AS code_ok "
        "FROM asset_partitions WHERE asset_key = ?",
        [asset],
    ).fetchnumpy()
    at = np.fromiter((index[k] for k in found["partition_key"]), dtype=np.int64)
    started, changed = np.full(len(keys), np.nan), np.full(len(keys), np.nan)
    started[at], changed[at] = found["started"], found["changed"]
    columns[asset] = (started, changed, np.asarray(found["code_ok"]))
con.close()
stale = ~(columns["raw"][1] <= columns["clean"][0])  # identity edge: upstream newer
print(int(stale.sum()))
"""


def populate(n: int) -> Path:
    """A project of `n` static keys whose state says every partition is fresh."""
    import duckdb

    folder = WORK / str(n)
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "static_project.py").write_text(PROJECT.format(n=n))
    (folder / "baseline.py").write_text(BASELINE.format(n=n))
    (folder / "pyproject.toml").write_text('[tool.assay]\nmodule = "static_project"\n')
    (folder / ".assay").mkdir()
    sys.path.insert(0, str(folder))
    from assay.state.migrations import migrate

    con = duckdb.connect(str(folder / ".assay" / "assay.duckdb"))
    migrate(con)
    for hour, (asset, signature) in enumerate((("raw", ""), ("clean", "raw"))):
        con.execute(
            f"""
            INSERT INTO asset_partitions
            SELECT '{asset}', 'k' || i, '{asset}-' || i, 'bench',
                   TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_hours({hour}),
                   TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_hours({hour}) + to_minutes(30),
                   md5('{asset}' || i), '1', '{signature}', NULL,
                   TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_hours({hour}) + to_minutes(30)
            FROM range({n}) r(i)
            """
        )
    con.close()
    shutil.copy(folder / ".assay" / "assay.duckdb", folder / "backup.duckdb")
    return folder


def timed(folder: Path, cmd: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run(cmd, cwd=folder, check=True, capture_output=True, text=True, env=ENV)
    return time.perf_counter() - start, done.stdout


def restore(folder: Path, *, change_one: bool = False) -> None:
    shutil.copy(folder / "backup.duckdb", folder / ".assay" / "assay.duckdb")
    if change_one:
        import duckdb

        with duckdb.connect(str(folder / ".assay" / "assay.duckdb")) as con:
            con.execute(
                "UPDATE asset_partitions SET data_version = 'new', "
                "version_changed_at = TIMESTAMPTZ '2025-02-01 00:00:00+00', "
                "started_at = TIMESTAMPTZ '2025-02-01 00:00:00+00' "
                "WHERE asset_key = 'raw' AND partition_key = 'k7'"
            )


def measure(n: int) -> dict[str, float]:
    folder = populate(n)
    timed(folder, [str(ASSAY), "--help"])  # warm the bytecode cache
    found: dict[str, list[float]] = {"baseline": [], "plan": [], "plan_one": [], "one": []}
    middle = f"k{n // 2}"
    for _ in range(REPEAT):
        restore(folder)
        found["baseline"].append(
            timed(folder, [sys.executable, "baseline.py", ".assay/assay.duckdb"])[0]
        )
        elapsed, out = timed(folder, [str(ASSAY), "plan", "--json"])
        assert json.loads(out)["steps"] == [], "the filled store should be all fresh"
        found["plan"].append(elapsed)
        restore(folder, change_one=True)
        elapsed, out = timed(folder, [str(ASSAY), "plan", "--json"])
        assert [s["count"] for s in json.loads(out)["steps"]] == [1], out
        found["plan_one"].append(elapsed)
        restore(folder)
        found["one"].append(
            timed(folder, [str(ASSAY), "materialize", "raw", "-p", middle, "--force"])[0]
        )
    return {name: statistics.median(values) for name, values in found.items()}


def main(sizes: tuple[int, ...] = DEFAULT_SIZES) -> None:
    print("static partitions: raw -> clean (identity), store filled, each a whole process")
    for n in sizes:
        r = measure(n)
        target = 1.0 if n <= 100_000 else 5.0 * n / 1_000_000
        print(
            f"  {n:>9,} keys: plan {r['plan']:.2f} s (one changed {r['plan_one']:.2f} s), "
            f"materialize one partition {r['one']:.2f} s; bare script {r['baseline']:.2f} s; "
            f"plan ratio {r['plan'] / r['baseline']:.2f}x (target: plan under {target:g} s)"
        )


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or DEFAULT_SIZES)
