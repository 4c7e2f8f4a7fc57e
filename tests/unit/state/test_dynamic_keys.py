"""The key sets of dynamic partitions: journaled changes, indexed, read back in the
order they were added, from any process; stores from before them still read."""

from __future__ import annotations

import duckdb
import pytest

from assay.errors import PartitionKeyError
from assay.state.dynamic import change_partition_keys, change_records
from assay.state.journal import Journal
from assay.state.migrations import MIGRATIONS
from assay.state.reader import StateReader
from assay.state.store import StateStore


def keys(home, name="customers"):
    return StateReader(home).dynamic_partition_keys([name])[name]


def test_adds_and_removes_in_order_whatever_the_repeats(tmp_path):
    home = tmp_path / ".assay"
    assert change_partition_keys(home, "customers", ["a", "b", "a"], is_add=True) == ("a", "b")
    assert change_partition_keys(home, "customers", ["b", "c"], is_add=True) == ("c",)
    assert change_partition_keys(home, "suppliers", ["s"], is_add=True) == ("s",)
    assert keys(home) == ("a", "b", "c")
    assert change_partition_keys(home, "customers", ["a"], is_add=False) == ("a",)
    assert change_partition_keys(home, "customers", ["a"], is_add=True) == ("a",)
    assert keys(home) == ("b", "c", "a")  # removed, then added again: last
    assert keys(home, "suppliers") == ("s",)
    with pytest.raises(PartitionKeyError, match=r"cannot remove 'x', 'y': not a key"):
        change_partition_keys(home, "customers", ["b", "x", "y"], is_add=False)
    assert keys(home) == ("b", "c", "a")  # nothing of a refused change is recorded


def test_the_same_change_in_two_journals_counts_once_and_a_rebuild_gives_the_same(tmp_path):
    home = tmp_path / ".assay"
    records = change_records(home, "customers", ["a", "b"], is_add=True)
    for name in ("one", "two"):  # a record indexed twice (a journal copied) is one row
        with Journal(home / "journal", name) as journal:
            journal.append(*records, durable=True)
    StateStore(home).index_pending()
    assert keys(home) == ("a", "b")
    StateStore(home).rebuild()
    assert keys(home) == ("a", "b")


def test_a_store_from_before_dynamic_partitions_is_migrated_and_reads_no_keys(tmp_path):
    home = tmp_path / ".assay"
    home.mkdir()
    con = duckdb.connect(str(home / "assay.duckdb"))
    con.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    for number, sql in enumerate(MIGRATIONS[:15], start=1):  # before 16: dynamic partitions
        con.execute(sql)
        con.execute("INSERT INTO schema_version VALUES (?)", [number])
    con.close()
    assert StateReader(home).dynamic_partition_keys(["customers"]) == {}  # not migrated yet
    change_partition_keys(home, "customers", ["a"], is_add=True)  # indexing migrates it
    assert keys(home) == ("a",)
