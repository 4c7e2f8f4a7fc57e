"""A user edits the columns of a partitioned DuckDB asset and materializes again."""

import duckdb
import polars as pl
from click.testing import CliRunner

from assay.cli.main import main

AMOUNT = '"amount": [float(day[-2:])]'


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def edit(root, old: str, new: str) -> None:
    module = next(root.glob("evolving_table_*.py"))
    source = module.read_text()
    assert old in source
    module.write_text(source.replace(old, new))


def table(root) -> pl.DataFrame:
    """The orders table as the user reads it, with their own connection."""
    with duckdb.connect(str(root / ".assay/warehouse.duckdb"), read_only=True) as con:
        return con.sql("SELECT * FROM main.orders ORDER BY day").pl()


def test_a_column_added_to_the_asset_reaches_every_partition(make_project):
    root = make_project("evolving_table")
    assert invoke("materialize").exit_code == 0
    edit(root, AMOUNT, f'{AMOUNT}, "channel": ["web"]')
    result = invoke("materialize")  # the code changed: every partition is rewritten
    assert result.exit_code == 0, result.output
    stored = table(root)
    assert stored.columns == ["day", "amount", "channel", "_partition"]
    assert stored["channel"].to_list() == ["web"] * 3
    shape = pl.read_parquet(root / ".assay/storage/shape/data.parquet")
    assert shape.to_dicts() == [{"columns": "day,amount,channel", "rows": 3}]


def test_a_column_added_for_one_partition_is_null_in_the_others(make_project):
    root = make_project("evolving_table")
    assert invoke("materialize").exit_code == 0
    edit(root, AMOUNT, f'{AMOUNT}, "channel": ["web"]')
    result = invoke("materialize", "orders", "--partition", "2024-01-02")
    assert result.exit_code == 0, result.output
    assert table(root)["channel"].to_list() == [None, "web", None]


def test_a_column_removed_from_some_partitions_fails_in_one_line_until_all_are_written(
    make_project,
):
    root = make_project("evolving_table")
    assert invoke("materialize").exit_code == 0
    edit(root, f", {AMOUNT}", "")
    refused = invoke("materialize", "orders", "--partition", "2024-01-02")
    assert refused.exit_code == 1
    assert (
        "failed: asset 'orders' no longer returns column 'amount', unlike the other partitions "
        "of its table main.orders: materialize every partition to apply that "
        "(`assay materialize orders --force`), or keep it with "
        "DuckDBIO(on_schema_change='append_new_columns')"
    ) in refused.stdout
    assert "Traceback" not in refused.output
    assert table(root)["amount"].to_list() == [1.0, 2.0, 3.0]  # nothing half-done
    forced = invoke("materialize", "orders", "--force")
    assert forced.exit_code == 0, forced.output
    assert table(root).columns == ["day", "_partition"]
