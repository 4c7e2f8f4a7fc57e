"""The planning snapshot (`assay.state.snapshot`) is a cache: a plan made with it is the
plan made from DuckDB's tables, across materializations, code changes, prune and a
wiped store, and whatever happens to the file (deleted, cut short, a byte changed, an
older copy, rows written to the store behind its back)."""

from __future__ import annotations

import os
import shutil
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pytest

import assay
from assay.state import snapshot
from assay.state.prune import prune_state
from assay.state.reader import StateReader
from assay.state.store import StateStore

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.slow

MODULE = """
import os

import polars as pl

from assay import DailyPartitions, StaticPartitions, TimeWindowMapping, AssetIn, asset

DAYS = DailyPartitions(start="2024-01-01", end="2024-01-09")
REGIONS = StaticPartitions(["eu", "us"])


@asset(partitions=DAYS)
def raw(context) -> pl.DataFrame:
    return pl.DataFrame({{"x": [int(os.environ.get("RAW_VALUE", "1"))]}})


@asset(partitions=DAYS)
def daily(raw: pl.DataFrame) -> pl.DataFrame:
    return raw.with_columns(y=pl.lit({daily}))


@asset(
    partitions=DAYS,
    ins={{"days": AssetIn(key="daily", partition_mapping=TimeWindowMapping(start_offset=-2))}},
)
def rolling(days: pl.DataFrame) -> pl.DataFrame:
    return days


@asset(partitions=REGIONS)
def regions() -> pl.DataFrame:
    return pl.DataFrame({{"r": [1]}})


@asset
def summary(daily: pl.DataFrame, regions: pl.DataFrame) -> pl.DataFrame:
    return daily.head(1)
"""

_stamp = [1_700_000_000_000_000_000]


def write_module(root: Path, *, daily: int = 1) -> None:
    path = root / "snapped.py"
    path.write_text(MODULE.format(daily=daily))
    _stamp[0] += 10_000_000_000  # a later mtime each time: the loader reloads it
    os.utime(path, ns=(_stamp[0], _stamp[0]))


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for variable in ("ASSAY_MODULE", "ASSAY_HOME", "RAW_VALUE"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("ASSAY_LINEAGE", "off")
    (tmp_path / "pyproject.toml").write_text('[tool.assay]\nmodule = "snapped"\n')
    write_module(tmp_path)
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    import sys

    sys.modules.pop("snapped", None)


def summary(plan: Any) -> Any:
    arrays = {
        str(key): [
            np.nan_to_num(getattr(found, name), nan=-1.0).tolist()
            for name in ("stale", "waiting", "changed_at", "started", "updated")
        ]
        + [found.reasons]
        for key, found in plan.staleness.items()
    }
    return plan.to_dicts(), arrays, plan.mark


def same_plans(root: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The plan with the snapshot, after checking it equals the plan without it."""
    project = assay.load()
    with monkeypatch.context() as patched:
        patched.setattr(StateReader, "planning_snapshot", lambda self: None)
        without = summary(project.plan())
    found = summary(project.plan())
    assert found == without
    return found


def stored_position(home: Path) -> snapshot.Position:
    con = duckdb.connect(str(home / "assay.duckdb"), read_only=True)
    try:
        return snapshot.position(con)
    finally:
        con.close()


def file_position(home: Path) -> snapshot.Position | None:
    found = snapshot.load(home / snapshot.FILE_NAME)
    return None if found is None else found.position


def test_plans_with_the_snapshot_equal_plans_without_it(root, monkeypatch):
    home = root / ".assay"
    steps, _, _ = same_plans(root, monkeypatch)  # nothing stored
    assert steps
    assert not (home / snapshot.FILE_NAME).exists()
    assay.load().materialize()
    steps, _, _ = same_plans(root, monkeypatch)
    assert steps == []
    assert file_position(home) == stored_position(home)
    made = file_position(home)

    monkeypatch.setenv("RAW_VALUE", "2")  # one root partition's data changes
    assay.load().materialize("raw", partitions=["2024-01-03"], force=True)
    assert stored_position(home).passes > made.passes  # the file is behind: caught up
    steps, _, _ = same_plans(root, monkeypatch)
    assert {s["asset"] for s in steps} == {"daily", "rolling", "summary"}

    write_module(root, daily=2)  # a code change
    steps, _, _ = same_plans(root, monkeypatch)
    assert "code version changed" in str(steps)
    assay.load().materialize()
    assert same_plans(root, monkeypatch)[0] == []

    later = datetime.now(UTC) + timedelta(days=1)
    prune_state(home, before=later)
    assert same_plans(root, monkeypatch)[0] == []

    before = stored_position(home)
    for name in ("assay.duckdb", "assay.duckdb.wal"):  # wiped: made again from journals
        (home / name).unlink(missing_ok=True)
    assert same_plans(root, monkeypatch)[0] == []
    assert stored_position(home).store_id != before.store_id
    assert file_position(home) == stored_position(home)

    StateStore(home).rebuild()
    assert same_plans(root, monkeypatch)[0] == []
    assert file_position(home) == stored_position(home)


def _flip(path: Path, where: float) -> None:
    data = bytearray(path.read_bytes())
    at = int(len(data) * where)
    data[at] ^= 0x5A
    path.write_bytes(bytes(data))


FAULTS = {
    "deleted": lambda path, home, older: path.unlink(),
    "cut short": lambda path, home, older: path.write_bytes(path.read_bytes()[:-100]),
    "empty": lambda path, home, older: path.write_bytes(b""),
    "a byte of the arrays changed": lambda path, home, older: _flip(path, 0.9),
    "a byte of the header changed": lambda path, home, older: _flip(path, 0.01),
    "an older copy": lambda path, home, older: shutil.copy(older, path),
    "rows written behind its back": lambda path, home, older: _behind_its_back(home),
    "another store's": lambda path, home, older: _another_store(home),
}


def _behind_its_back(home: Path) -> None:
    """A row deleted in DuckDB by hand, no pass counted."""
    con = duckdb.connect(str(home / "assay.duckdb"))
    con.execute(
        "DELETE FROM asset_partitions WHERE asset_key = 'raw' AND partition_key = '2024-01-01'"
    )
    con.close()


def _another_store(home: Path) -> None:
    con = duckdb.connect(str(home / "assay.duckdb"))
    con.execute("UPDATE store_passes SET store_id = 'another'")
    con.close()


@pytest.mark.parametrize(("name", "fault"), FAULTS.items(), ids=list(FAULTS))
def test_a_snapshot_that_does_not_hold_is_made_again(root, monkeypatch, name, fault):
    home = root / ".assay"
    path = home / snapshot.FILE_NAME
    assay.load().materialize("raw daily", partitions=["2024-01-01", "2024-01-02"])
    same_plans(root, monkeypatch)
    older = root / "older.snapshot"
    shutil.copy(path, older)
    assay.load().materialize("raw", partitions=["2024-01-05"])
    same_plans(root, monkeypatch)
    fault(path, home, older)
    found = snapshot.load(path)
    assert found is None or found.position != stored_position(home), name
    same_plans(root, monkeypatch)
    if name == "an older copy":  # caught up in memory; a few rows behind stay read from DuckDB
        assert file_position(home).passes < stored_position(home).passes
    else:
        assert file_position(home) == stored_position(home)
