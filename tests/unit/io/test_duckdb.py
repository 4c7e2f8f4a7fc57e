import subprocess
import sys

import duckdb
import polars as pl
import pytest

from assay import AssetKey, DuckDBIO
from assay.assets import InputKind
from assay.config import resolve_config
from assay.errors import MaterializationError

FRAME = pl.DataFrame({"day": ["2024-01-01", "2024-01-02"], "revenue": [10.0, 12.5]})


@pytest.fixture
def io(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    return DuckDBIO(path="wh.duckdb").bind(resolve_config(cwd=tmp_path))


def test_table_per_asset_round_trips(io, tmp_path):
    key = AssetKey(("marts", "revenue"))
    stored = io.write(key, None, FRAME.lazy())
    assert stored.location == f"{tmp_path / 'wh.duckdb'}::marts.revenue"
    assert stored.row_count == 2
    assert io.load(key, None, InputKind.EAGER).equals(FRAME)
    assert io.load(key, None, InputKind.LAZY).collect().equals(FRAME)
    io.write(key, None, FRAME.head(1))  # replaced, not appended
    assert io.load(key, None, InputKind.EAGER).height == 1
    con = duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True)
    assert con.sql("SELECT count(*) FROM marts.revenue").fetchall() == [(1,)]
    con.close()


def test_unprefixed_keys_go_to_the_default_schema(io):
    assert io.table(AssetKey(("revenue",))) == ("main", "revenue")


def test_missing_table_says_how_to_materialize_it(io):
    io.write(AssetKey(("other",)), None, FRAME)
    with pytest.raises(MaterializationError, match="materialize it first"):
        io.load(AssetKey(("revenue",)), None, InputKind.EAGER)


def test_a_foreign_holder_of_the_warehouse_is_named(io, tmp_path):
    path = tmp_path / "wh.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb,time; c=duckdb.connect({str(path)!r}); "
            "print('open', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        with pytest.raises(
            MaterializationError, match=rf"held open by python\S* \(PID {holder.pid}\)"
        ):
            io.write(AssetKey(("revenue",)), None, FRAME)
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
