"""What a killed writer leaves: its temporary file is outside the asset's folder, so
globs over the folder (polars, DuckDB) read stored partitions only, and it is swept
once its writer is gone, never while the writer lives."""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl
import pytest

from assay import AssetKey, ParquetIO
from assay.config import resolve_config
from assay.io import atomic, parquet
from assay.io.atomic import SCRATCH_DIR, atomic_path, sweep
from assay.io.base import InputKind

KEY = AssetKey(("sales", "orders"))
DAYS = ["2024-01-01", "2024-01-02"]

KILLED_WRITER = """
import sys
from pathlib import Path

import polars as pl

from assay import AssetKey, ParquetIO

io = ParquetIO(root=Path(sys.argv[1]))
big = pl.LazyFrame().select(i=pl.int_range(0, 400_000_000)).with_columns(j=pl.col("i") * 3)
io.write(AssetKey(("sales", "orders")), "2024-01-03", big)
"""


@pytest.fixture
def root(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet, "_swept_at", {})  # each test's first write sweeps
    return tmp_path / "storage"


@pytest.fixture
def io(root, tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    return ParquetIO(root=root).bind(resolve_config(cwd=tmp_path))


def day_frame(day: str) -> pl.DataFrame:
    return pl.DataFrame({"day": [day] * 3, "amount": [1.0, 2.0, 3.5]})


def age(path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then))


def files_under(folder) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def both_readers(folder) -> tuple[int, int]:
    """Rows seen by a polars scan of the asset's folder and by DuckDB's glob."""
    polars_rows = pl.scan_parquet(folder).select(pl.len()).collect().item()
    duckdb_rows = duckdb.sql(f"SELECT count(*) FROM read_parquet('{folder}/*/*')").fetchall()[0][0]
    return polars_rows, duckdb_rows


def test_a_killed_writer_leaves_nothing_in_the_asset_folder_and_is_swept(io, root):
    for day in DAYS:
        io.write(KEY, day, day_frame(day))
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(root)])
    try:
        scratch = root / SCRATCH_DIR
        deadline = time.monotonic() + 60
        while not (scratch.is_dir() and any(scratch.iterdir())):
            assert writer.poll() is None, "the writer ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.3)  # mid-write
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    (leftover,) = scratch.iterdir()
    assert leftover.name.endswith(".tmp")
    folder = root / "sales" / "orders"
    assert files_under(folder) == [f"partition={day}/data.parquet" for day in DAYS]
    assert both_readers(folder) == (6, 6)

    io.write(KEY, DAYS[0], day_frame(DAYS[0]))
    assert leftover.exists()  # written a moment ago: its age protects it
    age(leftover, 120)
    parquet._swept_at.clear()  # as a later process (or 10 minutes later)
    io.write(KEY, DAYS[0], day_frame(DAYS[0]))
    assert not leftover.exists()  # its writer is dead and it is old: swept
    assert both_readers(folder) == (6, 6)


def test_temporary_files_an_older_assay_left_beside_a_partition_are_swept(io, root):
    for day in DAYS:
        io.write(KEY, day, day_frame(day))
    folder = root / "sales" / "orders"
    # what a kill left with an older assay: a partial file beside the target
    leftover = folder / f"partition={DAYS[1]}" / ".data.parquet.0123456789ab.tmp"
    leftover.write_bytes((folder / f"partition={DAYS[1]}" / "data.parquet").read_bytes()[:40])
    age(leftover, 3600)
    with pytest.raises(Exception):  # noqa: B017, PT011 (polars' own error for a bad file)
        pl.scan_parquet(folder).collect()
    io.write(KEY, DAYS[1], day_frame(DAYS[1]))
    assert not leftover.exists()
    assert both_readers(folder) == (6, 6)


def test_a_live_writers_temporary_file_is_never_swept(root):
    target = root / "sales" / "orders" / "data.parquet"
    scratch = root / SCRATCH_DIR
    with atomic_path(target, scratch=scratch) as tmp:
        assert tmp.parent == scratch
        day_frame("x").write_parquet(tmp)
        age(tmp, 10 * 86_400)  # however old it looks
        assert sweep(scratch) == 0
        assert tmp.exists()
        # a stray file of a dead writer beside it goes; a fresh one stays
        dead, fresh = scratch / "dead.tmp", scratch / "fresh.tmp"
        dead.write_bytes(b"partial")
        fresh.write_bytes(b"partial")
        age(dead, atomic.SWEEP_AFTER_S + 1)
        assert sweep(scratch) == 1
        assert (dead.exists(), fresh.exists(), tmp.exists()) == (False, True, True)
    assert pl.read_parquet(target).equals(day_frame("x"))
    assert sorted(p.name for p in scratch.iterdir()) == ["fresh.tmp"]


def test_a_failed_write_leaves_no_temporary_file(io, root):
    def boom(frame: pl.DataFrame) -> pl.DataFrame:
        raise RuntimeError("boom")

    failing = day_frame("x").lazy().map_batches(boom)
    with pytest.raises(Exception, match="boom"):
        io.write(KEY, None, failing)
    assert list((root / SCRATCH_DIR).iterdir()) == []
    with pytest.raises(Exception, match="materialize it first"):
        io.load(KEY, None, InputKind.EAGER)


def test_remote_temporary_files_are_outside_the_asset_folder_and_swept(tmp_path, monkeypatch):
    monkeypatch.setattr(parquet, "_swept_at", {})
    (tmp_path / "pyproject.toml").write_text("")
    io = ParquetIO(root=f"local://{tmp_path}/lake").bind(resolve_config(cwd=tmp_path))
    scratch = tmp_path / "lake" / SCRATCH_DIR
    scratch.mkdir(parents=True)
    stale, recent = scratch / "stale.tmp", scratch / "recent.tmp"
    stale.write_bytes(b"partial")
    recent.write_bytes(b"partial")
    age(stale, 2 * 86_400)
    age(recent, 3600)  # another machine may still be uploading it
    io.write(KEY, DAYS[0], day_frame(DAYS[0]))
    assert sorted(p.name for p in scratch.iterdir()) == ["recent.tmp"]
    folder = tmp_path / "lake" / "sales" / "orders"
    assert files_under(folder) == [f"partition={DAYS[0]}/data.parquet"]
    assert io.load(KEY, DAYS[:1], InputKind.EAGER).equals(day_frame(DAYS[0]))


def test_a_write_makes_missing_folders_and_crosses_filesystems(tmp_path):
    shm = Path("/dev/shm")
    if not shm.is_dir() or shm.stat().st_dev == tmp_path.stat().st_dev:
        pytest.skip("no second filesystem (/dev/shm) to put the scratch folder on")
    scratch = Path(tempfile.mkdtemp(dir=shm)) / SCRATCH_DIR  # not there yet
    target = tmp_path / "sales" / "orders" / "partition=2024-01-01" / "data.parquet"
    try:
        for value in ("first", "second"):  # a new partition's folders, then over it
            with atomic_path(target, scratch=scratch) as tmp:
                assert tmp.parent == scratch
                day_frame(value).write_parquet(tmp)
            assert pl.read_parquet(target).equals(day_frame(value))
        assert list(scratch.iterdir()) == []  # the copy's source is gone
        assert [p.name for p in target.parent.iterdir()] == ["data.parquet"]
    finally:
        shutil.rmtree(scratch.parent)
