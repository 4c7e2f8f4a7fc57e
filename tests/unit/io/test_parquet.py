import polars as pl
import pyarrow as pa
import pytest

from assay import AssetKey, ParquetIO
from assay.config import resolve_config
from assay.errors import MaterializationError
from assay.io.base import InputKind

KEY = AssetKey(("sales", "orders"))


@pytest.fixture
def io(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    return ParquetIO().bind(resolve_config(cwd=tmp_path))


FRAME = pl.DataFrame({"id": [1, 2, 3], "amount": [1.5, 2.5, None]})


@pytest.mark.parametrize(
    "value",
    [FRAME, FRAME.lazy(), FRAME.to_arrow()],
    ids=["DataFrame", "LazyFrame", "pyarrow.Table"],
)
def test_every_output_type_round_trips_with_the_same_data_version(io, value):
    stored = io.write(KEY, None, value)
    assert stored.row_count == 3
    assert stored.location.endswith("storage/sales/orders/data.parquet")
    assert stored.columns == (("id", "Int64"), ("amount", "Float64"))
    assert io.load(KEY, None, InputKind.EAGER).equals(FRAME)
    assert io.load(KEY, None, InputKind.LAZY).collect().equals(FRAME)
    assert isinstance(io.load(KEY, None, InputKind.ARROW), pa.Table)
    assert stored.data_version == io.write(KEY, None, FRAME).data_version


def test_partitions_live_in_hive_style_folders(io):
    stored = io.write(KEY, "2024-01-01", FRAME)
    assert stored.location.endswith("sales/orders/partition=2024-01-01/data.parquet")


def test_a_failing_lazy_write_leaves_the_old_value_and_no_temporary_file(io):
    io.write(KEY, None, FRAME)
    folder = io.path(KEY, None).parent

    def explode(batch: pl.DataFrame) -> pl.DataFrame:
        raise RuntimeError("disk on fire")

    failing = FRAME.lazy().map_batches(explode)
    with pytest.raises(Exception, match="disk on fire"):
        io.write(KEY, None, failing)
    assert [p.name for p in folder.iterdir()] == ["data.parquet"]
    assert io.load(KEY, None, InputKind.EAGER).equals(FRAME)


def test_wrong_return_type_says_what_to_return(io):
    with pytest.raises(MaterializationError, match="returned dict; return a polars DataFrame"):
        io.write(KEY, None, {"id": [1]})


def test_missing_input_says_how_to_materialize_it(io):
    with pytest.raises(
        MaterializationError, match=r"materialize it first \(`assay materialize sales/orders`\)"
    ):
        io.load(KEY, None, InputKind.EAGER)


SINK = """
import sys
from pathlib import Path

import polars as pl

rows = int(sys.argv[2])
frame = pl.LazyFrame().select(i=pl.int_range(0, rows, dtype=pl.Int64)).with_columns(
    a=pl.col("i").hash(1), b=pl.col("i").hash(2)
)
if sys.argv[1] == "bare":
    frame.sink_parquet(sys.argv[3])
else:
    from assay import AssetKey, ParquetIO

    stored = ParquetIO(root=Path(sys.argv[3])).write(AssetKey(("big",)), None, frame)
    print(stored.row_count, stored.byte_size, stored.data_version)
"""


def peak_mib(*args: str) -> tuple[float, str]:
    import os
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", SINK, *args], stdout=subprocess.PIPE, text=True)
    out = child.stdout.read()
    child.stdout.close()
    _, status, usage = os.wait4(child.pid, 0)  # its own peak, not other children's
    child.returncode = os.waitstatus_to_exitcode(status)
    assert child.returncode == 0
    return usage.ru_maxrss / 1024, out


def test_a_lazy_output_streams_to_disk_and_is_hashed_in_chunks(tmp_path):
    from assay.versioning import data_version

    rows = 15_000_000  # ~250 MB of Parquet that does not compress
    bare_mib, _ = peak_mib("bare", str(rows), str(tmp_path / "bare.parquet"))
    assay_mib, out = peak_mib("assay", str(rows), str(tmp_path / "storage"))
    stored = tmp_path / "storage" / "big" / "data.parquet"
    size = stored.stat().st_size
    assert size > 200e6
    count, byte_size, version = out.split()
    assert (int(count), int(byte_size)) == (rows, size)
    assert version == data_version(stored.read_bytes())  # the version of the same bytes
    # reading the written file back into memory cost its whole size on top
    assert assay_mib - bare_mib < 0.4 * size / 2**20, (assay_mib, bare_mib, size)
