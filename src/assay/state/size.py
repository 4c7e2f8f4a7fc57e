"""How many bytes a state home holds, by part: what `assay state prune` reports and
bench/state_size.py weighs against the outputs."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

FAILURES_FOLDER = "failures"


@dataclass(frozen=True, slots=True, kw_only=True)
class StateSize:
    """The bytes of a state home, by part."""

    database: int = 0  # assay.duckdb and its WAL
    journals: int = 0  # journal/, done/ included
    failures: int = 0  # failures/: the failure cases of schemas
    other: int = 0  # the rest of the home but storage/ (outboxes, the clock, locks)

    @property
    def total(self) -> int:
        return self.database + self.journals + self.failures + self.other


def state_size(home: Path) -> StateSize:
    """How many bytes the state home holds, by part (outputs not counted)."""

    def size(path: Path) -> int:
        if path.is_file():
            return path.stat().st_size
        if not path.is_dir():
            return 0
        total = 0
        for item in path.rglob("*"):
            with contextlib.suppress(OSError):
                if item.is_file():
                    total += item.stat().st_size
        return total

    if not home.is_dir():
        return StateSize()
    named = {"assay.duckdb", "assay.duckdb.wal", "journal", FAILURES_FOLDER, "storage"}
    return StateSize(
        database=size(home / "assay.duckdb") + size(home / "assay.duckdb.wal"),
        journals=size(home / "journal"),
        failures=size(home / FAILURES_FOLDER),
        other=sum(
            size(item)
            for item in home.iterdir()
            # outputs: ParquetIO's storage/, DuckDBIO's default warehouse.duckdb
            if item.name not in named and not item.name.startswith("warehouse.duckdb")
        ),
    )
