import polars as pl
import pyarrow as pa
import pytest

from assay import AssetKey, ParquetIO
from assay.assets import InputKind
from assay.config import resolve_config
from assay.errors import MaterializationError

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
