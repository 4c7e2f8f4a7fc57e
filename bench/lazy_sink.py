"""Peak memory of a large `LazyFrame` output: assay against polars' own `sink_parquet`.

The frame is generated lazily: a 1M-row seed file scanned again and again, its
row index and two hashes of it (three columns that do not compress, ~17 bytes a
row in Parquet; `pl.int_range` alone would not stream: it builds its whole
column). (a) a bare script sinks it to Parquet; (b) an asset returns the same
LazyFrame and `assay materialize` stores it with ParquetIO (no schema, no
checks: nothing needs it in memory). Each runs in a fresh process, three times
interleaved, and its peak RSS is read from `os.wait4` (that child's own, not
the other children's). Target: assay's peak at most 1.5x the bare script's. Below
~1 GB the ratio says more about assay's fixed footprint (~200 MiB: polars, DuckDB,
pyarrow, the state store) than about the output, whose size no longer matters.

    python bench/lazy_sink.py [SIZE_MB]     (default 1000; the issue measured 4,800)
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

DEFAULT_MB = 1000
REPEAT = 3
BYTES_PER_ROW = 17
WORK = Path(__file__).resolve().parent / ".work" / "lazy_sink"
ASSAY = Path(sys.executable).parent / "assay"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

SEED_ROWS = 1_000_000
FRAME = """(
        pl.scan_parquet([{seed!r}] * {copies})
        .with_row_index("i")
        .select(pl.col("i").cast(pl.Int64), a=pl.col("i").hash(1), b=pl.col("i").hash(2))
    )"""

PROJECT = """
import polars as pl

from assay import asset


@asset
def big() -> pl.LazyFrame:
    return {frame}
"""

BARE = """
import sys

import polars as pl

{frame}.sink_parquet(sys.argv[1])
"""


def peak(cmd: list[str], cwd: Path) -> tuple[float, float]:
    """(peak RSS in MiB, seconds) of one fresh process."""
    start = time.perf_counter()
    child = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    if child.returncode:
        raise SystemExit(f"{cmd} failed with exit code {child.returncode}")
    return usage.ru_maxrss / 1024, elapsed  # KiB on Linux


def main(size_mb: int = DEFAULT_MB) -> None:
    import polars as pl

    copies = max(1, size_mb * 1_000_000 // BYTES_PER_ROW // SEED_ROWS)
    rows = copies * SEED_ROWS
    shutil.rmtree(WORK, ignore_errors=True)
    WORK.mkdir(parents=True)
    seed = WORK / "seed.parquet"
    pl.DataFrame({"s": pl.int_range(0, SEED_ROWS, eager=True)}).write_parquet(seed)
    frame = FRAME.format(seed=str(seed), copies=copies)
    (WORK / "lazy_project.py").write_text(PROJECT.format(frame=frame))
    (WORK / "pyproject.toml").write_text('[tool.assay]\nmodule = "lazy_project"\n')
    (WORK / "bare.py").write_text(BARE.format(frame=frame))
    bares, assays = [], []
    for _ in range(REPEAT):  # interleaved: the machine's noise hits both alike
        bares.append(peak([sys.executable, "bare.py", str(WORK / "bare.parquet")], WORK))
        bare_size = (WORK / "bare.parquet").stat().st_size
        (WORK / "bare.parquet").unlink()
        shutil.rmtree(WORK / ".assay", ignore_errors=True)
        assays.append(peak([str(ASSAY), "materialize", "big"], WORK))
    stored = WORK / ".assay" / "storage" / "big" / "data.parquet"
    bare_mib, bare_s = (statistics.median(v) for v in zip(*bares, strict=True))
    assay_mib, assay_s = (statistics.median(v) for v in zip(*assays, strict=True))
    print(
        f"lazy sink of {rows:,} rows ({bare_size / 1e6:,.0f} MB of Parquet; assay stored "
        f"{stored.stat().st_size / 1e6:,.0f} MB), median of {REPEAT}"
    )
    print(f"  bare sink_parquet: peak {bare_mib:,.0f} MiB, {bare_s:.1f} s")
    print(f"  assay materialize: peak {assay_mib:,.0f} MiB, {assay_s:.1f} s")
    print(f"  ratio {assay_mib / bare_mib:.2f}x (target <= 1.5x)")
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if sys.argv[1:] else DEFAULT_MB)
