"""A partitioned DuckDBIO table's columns follow its asset's outputs (real warehouse files)."""

import duckdb
import polars as pl
import pytest

from assay import AssetKey, DuckDBIO
from assay.config import resolve_config
from assay.errors import DefinitionError, MaterializationError
from assay.io.base import InputKind
from assay.io.warehouse import close_warehouses

KEY = AssetKey.parse("sales/orders")


@pytest.fixture
def make_io(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    config = resolve_config(cwd=tmp_path)

    def make(on_schema_change="sync_on_full_rewrite"):
        return DuckDBIO(path="wh.duckdb", on_schema_change=on_schema_change).bind(config)

    yield make
    close_warehouses()


@pytest.fixture
def io(make_io):
    return make_io()


def frame(**columns):
    return pl.DataFrame(columns)


def stored_columns(tmp_path) -> dict[str, str]:
    """The table's columns and DuckDB types, as a user's own connection sees them."""
    close_warehouses()
    with duckdb.connect(str(tmp_path / "wh.duckdb"), read_only=True) as con:
        rows = con.execute("DESCRIBE sales.orders").fetchall()
    return {name: kind for name, kind, *_ in rows}


def read(io, partitions=("a", "b")) -> list[dict]:
    """The partitions' rows, by id (a table keeps rows in the order they were written)."""
    return io.load(KEY, list(partitions), InputKind.EAGER).sort("id").to_dicts()


def test_an_added_column_is_added_and_null_in_older_partitions(io, tmp_path):
    io.write(KEY, "a", frame(id=[1], amount=[1.5]))
    io.write(KEY, "b", frame(id=[2], amount=[2.5], channel=["web"]))
    assert read(io) == [
        {"id": 1, "amount": 1.5, "channel": None},
        {"id": 2, "amount": 2.5, "channel": "web"},
    ]
    assert stored_columns(tmp_path) == {
        "id": "BIGINT",
        "amount": "DOUBLE",
        "_partition": "VARCHAR",
        "channel": "VARCHAR",
    }


def test_a_removed_column_is_refused_naming_it_and_the_fixes(io):
    io.write(KEY, "a", frame(id=[1], discount=[0.1]))
    io.write(KEY, "b", frame(id=[2], discount=[0.2]))
    with pytest.raises(MaterializationError) as refused:
        io.write(KEY, "b", frame(id=[3]))
    message = str(refused.value)
    assert "\n" not in message
    assert "asset 'sales/orders' no longer returns column 'discount'" in message
    assert "unlike the other partitions of its table sales.orders" in message
    assert "(`assay materialize sales/orders --force`)" in message
    assert "DuckDBIO(on_schema_change='append_new_columns')" in message
    # nothing changed: the refused partition keeps its rows, the table its column
    assert read(io) == [{"id": 1, "discount": 0.1}, {"id": 2, "discount": 0.2}]


def test_a_retyped_column_is_refused_naming_both_types(io):
    io.write(KEY, "a", frame(id=[1], amount=[1.5]))
    with pytest.raises(
        MaterializationError,
        match=r"returns column 'amount' as VARCHAR instead of DOUBLE, unlike the other "
        r"partitions of its table sales.orders: materialize every partition to apply that "
        r"\(`assay materialize sales/orders --force`\), or convert the stored values with "
        r"DuckDBIO\(on_schema_change='sync_all_columns'\)",
    ):
        io.write(KEY, "b", frame(id=[2], amount=["1.5 EUR"]))


def test_a_full_rewrite_drops_and_retypes_at_its_first_write(io, tmp_path):
    io.write(KEY, "a", frame(id=[1], amount=["1.5"], discount=[0.1]))
    io.write(KEY, "b", frame(id=[2], amount=["n/a"], discount=[0.2]))
    io.write(KEY, "a", frame(amount=[1.5], id=[1]), full_rewrite_run_id="run-1")
    # the table is the output's: order and types; b, not yet rewritten, holds what converts
    assert stored_columns(tmp_path) == {"amount": "DOUBLE", "id": "BIGINT", "_partition": "VARCHAR"}
    assert read(io) == [{"amount": 1.5, "id": 1}, {"amount": None, "id": 2}]
    io.write(KEY, "b", frame(amount=[2.5], id=[2]), full_rewrite_run_id="run-1")
    assert read(io) == [{"amount": 1.5, "id": 1}, {"amount": 2.5, "id": 2}]


def test_later_writes_of_a_full_rewrite_do_not_drop_what_its_first_wrote(io, tmp_path):
    """A run whose partitions return different columns must not flip the table: only
    its first write syncs it, even when the warehouse was let go in between."""
    io.write(KEY, "a", frame(id=[1], note=["old"]))
    io.write(KEY, "a", frame(id=[1], note=["new"]), full_rewrite_run_id="run-1")
    close_warehouses()
    with pytest.raises(
        MaterializationError,
        match=r"no longer returns column 'note', unlike the partitions this run wrote before "
        r"into its table sales.orders: return the same columns from every partition",
    ):
        io.write(KEY, "b", frame(id=[2]), full_rewrite_run_id="run-1")
    assert read(io, ["a"]) == [{"id": 1, "note": "new"}]
    io.write(KEY, "b", frame(id=[2]), full_rewrite_run_id="run-2")  # the next full rewrite
    assert stored_columns(tmp_path) == {"id": "BIGINT", "_partition": "VARCHAR"}


@pytest.mark.parametrize(
    ("before", "after", "stored"),
    [
        (pl.Int32, pl.Int64, "BIGINT"),
        (pl.Int8, pl.Int16, "SMALLINT"),
        (pl.UInt8, pl.Int16, "SMALLINT"),
        (pl.Float32, pl.Float64, "DOUBLE"),
        (pl.Int32, pl.Float64, "DOUBLE"),
        (pl.Decimal(10, 2), pl.Decimal(12, 3), "DECIMAL(12,3)"),
        (pl.Null, pl.String, "VARCHAR"),
        (pl.Int64, pl.Int32, "BIGINT"),  # narrower: held by the table's column as it is
        (pl.String, pl.Null, "VARCHAR"),  # an all-null partition
    ],
    ids=[
        "int-to-bigint",
        "tinyint-to-smallint",
        "utinyint-to-smallint",
        "float-to-double",
        "int-to-double",
        "decimal-wider",
        "null-to-varchar",
        "bigint-keeps-int",
        "varchar-keeps-null",
    ],
)
def test_compatible_types_widen_the_column_in_every_partition(io, tmp_path, before, after, stored):
    io.write(KEY, "a", frame(id=[1], value=pl.Series([None], dtype=before)))
    io.write(KEY, "b", frame(id=[2], value=pl.Series([None], dtype=after)))
    assert stored_columns(tmp_path)["value"] == stored
    assert len(read(io)) == 2


def test_a_widened_column_keeps_the_older_partitions_values(io):
    io.write(KEY, "a", frame(id=pl.Series([2**31 - 1], dtype=pl.Int32)))
    io.write(KEY, "b", frame(id=pl.Series([2**40], dtype=pl.Int64)))
    assert read(io) == [{"id": 2**31 - 1}, {"id": 2**40}]


def test_bigint_to_double_is_a_retype_not_a_widening(io):
    io.write(KEY, "a", frame(id=[2**53 + 1]))
    with pytest.raises(MaterializationError, match="as DOUBLE instead of BIGINT"):
        io.write(KEY, "b", frame(id=[1.5]))


def test_append_new_columns_keeps_a_removed_column_null_in_new_partitions(make_io):
    io = make_io("append_new_columns")
    io.write(KEY, "a", frame(id=[1], discount=[0.1]))
    io.write(KEY, "b", frame(id=[2], channel=["web"]))
    assert read(io) == [
        {"id": 1, "discount": 0.1, "channel": None},
        {"id": 2, "discount": None, "channel": "web"},
    ]
    with pytest.raises(MaterializationError, match="on_schema_change='sync_all_columns'"):
        io.write(KEY, "b", frame(id=["two"]))


def test_sync_all_columns_drops_and_converts_in_every_partition(make_io, tmp_path):
    io = make_io("sync_all_columns")
    io.write(KEY, "a", frame(id=[1], amount=[1], discount=[0.1]))
    io.write(KEY, "b", frame(id=[2], amount=["2.5"], channel=["web"]))
    assert stored_columns(tmp_path) == {
        "id": "BIGINT",
        "amount": "VARCHAR",
        "channel": "VARCHAR",
        "_partition": "VARCHAR",
    }
    assert read(io) == [
        {"id": 1, "amount": "1", "channel": None},
        {"id": 2, "amount": "2.5", "channel": "web"},
    ]


def test_fail_refuses_even_an_added_column_until_a_full_rewrite(make_io, tmp_path):
    io = make_io("fail")
    io.write(KEY, "a", frame(id=[1]))
    with pytest.raises(
        MaterializationError,
        match=r"adds column 'channel', unlike the other partitions of its table "
        r"sales.orders, and its DuckDBIO\(on_schema_change='fail'\) refuses changes: "
        r"materialize every partition to apply them \(`assay materialize sales/orders --force`\)",
    ):
        io.write(KEY, "b", frame(id=[2], channel=["web"]))
    io.write(KEY, "a", frame(id=[1], channel=["web"]), full_rewrite_run_id="run-1")
    assert "channel" in stored_columns(tmp_path)


@pytest.mark.parametrize("policy", ["sync_on_full_rewrite", "fail"])
def test_an_unpartitioned_table_is_replaced_whole_with_any_columns(make_io, tmp_path, policy):
    io = make_io(policy)
    io.write(KEY, None, frame(id=[1], amount=[1.5]))
    io.write(KEY, None, frame(id=["one"], channel=["web"]))
    assert io.load(KEY, None, InputKind.EAGER).to_dicts() == [{"id": "one", "channel": "web"}]
    assert stored_columns(tmp_path) == {"id": "VARCHAR", "channel": "VARCHAR"}


def test_column_names_are_quoted_and_compared_without_case(io, tmp_path):
    io.write(KEY, "a", frame(id=[1]))
    io.write(KEY, "b", frame(ID=[2], **{'say "hi"': ["hello"]}))
    assert read(io) == [{"id": 1, 'say "hi"': None}, {"id": 2, 'say "hi"': "hello"}]


def test_an_unknown_policy_is_refused_with_a_suggestion():
    with pytest.raises(DefinitionError, match="Did you mean 'append_new_columns'"):
        DuckDBIO(on_schema_change="append_new_column")
