"""Partitions a ParquetIO asset stored with different schemas read back as one frame."""

import polars as pl
import pyarrow as pa
import pytest

from assay import AssetKey, ParquetIO
from assay.config import resolve_config
from assay.errors import MaterializationError
from assay.io.base import InputKind

KEY = AssetKey(("sales", "orders"))
DAYS = ["2024-01-01", "2024-01-02", "2024-01-03"]


@pytest.fixture(params=["local", "memory"])
def io(request, tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    root = "storage" if request.param == "local" else f"memory://lake/{tmp_path.name}"
    return ParquetIO(root=root).bind(resolve_config(cwd=tmp_path))


def load(io, kind=InputKind.EAGER, days=DAYS) -> pl.DataFrame:
    value = io.load(KEY, list(days), kind)
    if kind is InputKind.LAZY:
        return value.collect()
    return pl.from_arrow(value) if kind is InputKind.ARROW else value


KINDS = pytest.mark.parametrize("kind", list(InputKind), ids=[k.value for k in InputKind])


@KINDS
def test_a_column_added_later_is_null_in_older_partitions(io, kind):
    io.write(KEY, DAYS[0], pl.DataFrame({"id": [1], "amount": [1.5]}))
    io.write(KEY, DAYS[1], pl.DataFrame({"id": [2], "amount": [2.5], "channel": ["web"]}))
    io.write(KEY, DAYS[2], pl.DataFrame({"channel": ["shop"], "id": [3], "amount": [3.5]}))
    assert load(io, kind).to_dicts() == [
        {"id": 1, "amount": 1.5, "channel": None},
        {"id": 2, "amount": 2.5, "channel": "web"},
        {"id": 3, "amount": 3.5, "channel": "shop"},
    ]


@KINDS
def test_a_column_removed_later_is_null_in_newer_partitions(io, kind):
    io.write(KEY, DAYS[0], pl.DataFrame({"id": [1], "discount": [0.1]}))
    io.write(KEY, DAYS[1], pl.DataFrame({"id": [2]}))
    assert load(io, kind, DAYS[:2]).to_dicts() == [
        {"id": 1, "discount": 0.1},
        {"id": 2, "discount": None},
    ]


@KINDS
@pytest.mark.parametrize(
    ("older", "newer", "read_as"),
    [
        (pl.Int32, pl.Int64, pl.Int64),
        (pl.Int64, pl.Int32, pl.Int64),
        (pl.Float32, pl.Float64, pl.Float64),
        (pl.Int16, pl.Float32, pl.Float32),
        (pl.Null, pl.String, pl.String),
    ],
    ids=["int32-int64", "int64-int32", "float32-float64", "int16-float32", "null-string"],
)
def test_compatible_types_are_read_in_the_widest(io, kind, older, newer, read_as):
    io.write(KEY, DAYS[0], pl.DataFrame({"value": pl.Series([None], dtype=older)}))
    io.write(KEY, DAYS[1], pl.DataFrame({"value": pl.Series([None], dtype=newer)}))
    assert load(io, kind, DAYS[:2]).schema == pl.Schema({"value": read_as})


@KINDS
def test_incompatible_types_fail_naming_the_partitions_of_each(io, kind):
    io.write(KEY, DAYS[0], pl.DataFrame({"id": [1], "amount": [1]}))
    io.write(KEY, DAYS[1], pl.DataFrame({"id": [2], "amount": [2]}))
    io.write(KEY, DAYS[2], pl.DataFrame({"id": [3], "amount": ["3 EUR"]}))
    with pytest.raises(MaterializationError) as failed:
        load(io, kind)
    assert str(failed.value) == (
        "asset 'sales/orders' stores column 'amount' as Int64 (partitions 2024-01-01, "
        "2024-01-02) and String (partition 2024-01-03): no one of these types holds the "
        "others, so the partitions cannot be read as one frame; materialize them all with "
        "the current code (`assay materialize sales/orders --force`)"
    )


def test_partitions_of_one_schema_read_as_before(io):
    for n, day in enumerate(DAYS):
        io.write(KEY, day, pl.DataFrame({"id": [n]}))
    assert load(io, InputKind.LAZY)["id"].to_list() == [0, 1, 2]
    assert isinstance(io.load(KEY, DAYS, InputKind.ARROW), pa.Table)
