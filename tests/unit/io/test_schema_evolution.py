"""Which types hold which: the one rule DuckDBIO tables and ParquetIO reads follow."""

import polars as pl
import pytest

from assay.io.schema_evolution import ColumnChanges, column_changes, holds, sql_type_name


@pytest.mark.parametrize(
    ("wide", "narrow", "expected"),
    [
        ("BIGINT", "INTEGER", True),
        ("INTEGER", "BIGINT", False),
        ("INTEGER", "USMALLINT", True),
        ("INTEGER", "UINTEGER", False),
        ("UBIGINT", "UINTEGER", True),
        ("UBIGINT", "TINYINT", False),
        ("DOUBLE", "FLOAT", True),
        ("FLOAT", "DOUBLE", False),
        ("DOUBLE", "INTEGER", True),
        ("DOUBLE", "BIGINT", False),
        ("FLOAT", "SMALLINT", True),
        ("FLOAT", "USMALLINT", False),
        ("DECIMAL(12,3)", "DECIMAL(10,2)", True),
        ("DECIMAL(12,2)", "DECIMAL(10,3)", False),
        ("VARCHAR", '"NULL"', True),
        ("VARCHAR", "BIGINT", False),
        ("TIMESTAMP", "TIMESTAMP", True),
        ("TIMESTAMP_NS", "TIMESTAMP", False),
    ],
)
def test_a_type_holds_another_when_no_value_is_lost(wide, narrow, expected):
    assert holds(wide, narrow) is expected


@pytest.mark.parametrize(
    ("dtype", "name"),
    [
        (pl.Int32, "INTEGER"),
        (pl.UInt64, "UBIGINT"),
        (pl.Float32, "FLOAT"),
        (pl.Decimal(10, 2), "DECIMAL(10,2)"),
        (pl.Null, '"NULL"'),
        (pl.Datetime("us"), "Datetime(time_unit='us', time_zone=None)"),
    ],
)
def test_polars_types_go_by_the_same_names(dtype, name):
    assert sql_type_name(dtype) == name


def test_column_changes_ignore_case_and_what_the_stored_type_holds():
    stored = {"id": "BIGINT", "Amount": "FLOAT", "note": "VARCHAR", "gone": "DATE"}
    output = {"ID": "INTEGER", "amount": "DOUBLE", "note": "BIGINT", "new": "VARCHAR"}
    assert column_changes(stored, output) == ColumnChanges(
        added=("new",), removed=("gone",), widened=("amount",), retyped=("note",)
    )
    assert not column_changes(stored, {"id": '"NULL"', **dict(list(stored.items())[1:])})
