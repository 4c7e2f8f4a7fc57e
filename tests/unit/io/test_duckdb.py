import subprocess
import sys

import duckdb
import polars as pl
import pytest

from assay import AssetKey, DuckDBIO
from assay.config import resolve_config
from assay.errors import MaterializationError
from assay.io.base import InputKind
from assay.io.warehouse import close_warehouses

FRAME = pl.DataFrame({"day": ["2024-01-01", "2024-01-02"], "revenue": [10.0, 12.5]})


@pytest.fixture
def io(tmp_path):
    (tmp_path / "pyproject.toml").write_text("")
    yield DuckDBIO(path="wh.duckdb").bind(resolve_config(cwd=tmp_path))
    close_warehouses()


def test_table_per_asset_round_trips(io, tmp_path):
    key = AssetKey(("marts", "revenue"))
    stored = io.write(key, None, FRAME.lazy())
    assert stored.location == f"{tmp_path / 'wh.duckdb'}::marts.revenue"
    assert stored.row_count == 2
    assert io.load(key, None, InputKind.EAGER).equals(FRAME)
    assert io.load(key, None, InputKind.LAZY).collect().equals(FRAME)
    io.write(key, None, FRAME.head(1))  # replaced, not appended
    assert io.load(key, None, InputKind.EAGER).height == 1
    close_warehouses()  # as a run's end does: the file is free for anyone
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


def key(text: str) -> AssetKey:
    return AssetKey.parse(text)


def tables(path) -> set[tuple[str, str]]:
    close_warehouses()
    with duckdb.connect(str(path), read_only=True) as con:
        return set(
            con.execute(
                "SELECT table_schema, table_name FROM information_schema.tables "
                "WHERE table_name <> 'assay.table_owners'"
            ).fetchall()
        )


@pytest.mark.parametrize(
    ("text", "table"),
    [
        ("orders", ("main", "orders")),
        ("sales/orders", ("sales", "orders")),
        ("a_b/c", ("a_b", "c")),
        ("a/b/c", ("a/b", "c")),
        ("a/b_c", ("a", "b_c")),
        ("raw-eu/shop/v2/orders", ("raw-eu/shop/v2", "orders")),
    ],
    ids=[
        "unprefixed",
        "one-prefix",
        "underscored-prefix",
        "two-prefixes",
        "underscored-name",
        "deep",
    ],
)
def test_key_to_table(io, text, table):
    assert io.table(key(text)) == table


def test_keys_whose_prefixes_joined_alike_get_tables_of_their_own(io, tmp_path):
    deep, flat = key("a/b/c"), key("a_b/c")
    io.write(deep, None, FRAME)
    io.write(flat, None, FRAME.head(1))
    assert io.load(deep, None, InputKind.EAGER).equals(FRAME)
    assert io.load(flat, None, InputKind.EAGER).equals(FRAME.head(1))
    assert tables(tmp_path / "wh.duckdb") == {("a/b", "c"), ("a_b", "c")}
    # partitioned too: each key's partitions in its own table
    io.write(key("x/y/t"), "p1", FRAME)
    io.write(key("x_y/t"), "p1", FRAME.head(1))
    assert io.load(key("x/y/t"), ["p1"], InputKind.EAGER).height == 2
    assert io.load(key("x_y/t"), ["p1"], InputKind.EAGER).height == 1


def test_keys_differing_only_in_case_are_refused_not_mixed(io):
    io.write(key("Sales/orders"), None, FRAME)
    with pytest.raises(
        MaterializationError,
        match=r"^asset 'sales/orders' maps to the table sales\.orders, which holds asset "
        r"'Sales/orders': rename one of them \(DuckDB ignores case in names\)",
    ):
        io.write(key("sales/orders"), None, FRAME.head(1))
    with pytest.raises(MaterializationError, match="which holds asset 'Sales/orders'"):
        io.load(key("sales/orders"), None, InputKind.EAGER)
    assert io.load(key("Sales/orders"), None, InputKind.EAGER).equals(FRAME)


def test_a_prefix_named_like_the_default_schema_meets_the_unprefixed_key(io):
    io.write(key("orders"), "p1", FRAME)
    with pytest.raises(MaterializationError, match="which holds asset 'orders'"):
        io.write(key("main/orders"), "p1", FRAME.head(1))
    assert io.load(key("orders"), ["p1"], InputKind.EAGER).equals(FRAME)


def older_assay_table(path, schema: str, table: str, frame: pl.DataFrame) -> None:
    """A table as assay stored it before table ownership: no owner recorded."""
    rows = frame.to_arrow()  # noqa: F841 (read by DuckDB)
    close_warehouses()
    with duckdb.connect(str(path)) as con:
        con.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        con.execute(f'CREATE TABLE "{schema}"."{table}" AS SELECT * FROM rows')


def test_a_table_an_older_assay_shared_between_two_keys_is_not_overwritten(io, tmp_path):
    path = tmp_path / "wh.duckdb"
    older_assay_table(path, "a_b", "c", FRAME)  # written for 'a/b/c', where 'a_b/c' reads too
    io.write(key("a/b/c"), None, FRAME)  # now in "a/b".c, its own
    with pytest.raises(
        MaterializationError,
        match=r"^the table a_b\.c of asset 'a_b/c' was written by an older assay, which stored "
        r"asset 'a/b/c' there too \(now in \"a/b\"\.c\): drop it \(DROP TABLE a_b\.c\) and "
        r"re-materialize \(`assay materialize a_b/c --force`\)$",
    ):
        io.write(key("a_b/c"), None, FRAME.head(1))
    with pytest.raises(MaterializationError, match="stored asset 'a/b/c' there too"):
        io.load(key("a_b/c"), None, InputKind.EAGER)
    close_warehouses()
    with duckdb.connect(str(path), read_only=True) as con:
        assert con.sql("SELECT count(*) FROM a_b.c").fetchall() == [(2,)]  # untouched
    with duckdb.connect(str(path)) as con:  # the fix the message gives
        con.execute("DROP TABLE a_b.c")
    io.write(key("a_b/c"), None, FRAME.head(1))
    assert io.load(key("a_b/c"), None, InputKind.EAGER).equals(FRAME.head(1))
    assert io.load(key("a/b/c"), None, InputKind.EAGER).equals(FRAME)


def test_a_table_an_older_assay_wrote_for_the_same_key_is_taken_over(io, tmp_path):
    path = tmp_path / "wh.duckdb"
    older_assay_table(path, "sales", "orders", FRAME.with_columns(_partition=pl.lit("p1")))
    assert io.load(key("sales/orders"), ["p1"], InputKind.EAGER).equals(FRAME)
    io.write(key("sales/orders"), "p2", FRAME.head(1))
    assert io.load(key("sales/orders"), ["p1", "p2"], InputKind.EAGER).height == 3
    # a longer key that an older assay would have put there is known from now on
    io.write(key("sales/x/y"), None, FRAME)
    io.write(key("sales/orders"), "p2", FRAME.head(1))  # 'sales_x.y' is no concern of it


def test_a_deep_key_an_older_assay_stored_elsewhere_says_to_rematerialize(io, tmp_path):
    older_assay_table(tmp_path / "wh.duckdb", "a_b", "c", FRAME)
    with pytest.raises(
        MaterializationError,
        match=r"^asset 'a/b/c' has no table \"a/b\"\.c yet: an older assay stored it in "
        r"a_b\.c, shared with 'a_b/c'; re-materialize it \(`assay materialize a/b/c --force`\)$",
    ):
        io.load(key("a/b/c"), None, InputKind.EAGER)
