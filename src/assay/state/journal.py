"""A run's append-only journal: one JSON record per line, the durable truth.

The coordinator appends records as the run goes and flushes them to the OS at
once (so a killed process loses nothing it wrote) and to disk (fsync) at each
step's end. The state store indexes journals into DuckDB later, in batches.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

Record = dict[str, Any]


class Journal:
    """Appends records to `<journal_dir>/<run_id>.jsonl`."""

    def __init__(self, journal_dir: Path, run_id: str) -> None:
        journal_dir.mkdir(parents=True, exist_ok=True)
        self.path = journal_dir / f"{run_id}.jsonl"
        self._file = open(self.path, "ab")  # noqa: SIM115 (held for the run's length)

    def append(self, *records: Record, durable: bool = False) -> None:
        """Write records; with `durable`, fsync them before returning."""
        self._file.write(_encode(records))
        self._file.flush()
        if durable:
            os.fsync(self._file.fileno())

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()


def append_records(path: Path, *records: Record) -> None:
    """Append records to an existing journal file (used to close a dead run's journal)."""
    with open(path, "ab") as file:
        file.write(_encode(records))
        file.flush()
        os.fsync(file.fileno())


def _encode(records: tuple[Record, ...]) -> bytes:
    return b"".join(
        json.dumps(r, separators=(",", ":"), default=str).encode() + b"\n" for r in records
    )


def read_complete_lines(
    path: Path, offset: int, *, raw_prefix: bytes | None = None
) -> tuple[list[Record], int, int, list[bytes]]:
    """Records after `offset` up to the last complete line.

    Returns the records, the new offset, how many lines were unreadable, and the
    lines starting with `raw_prefix`, left unparsed (the indexer hands those to
    DuckDB's JSON reader, much faster for large records such as lineage events).
    A line torn by a crash has no newline yet and is left for later.
    """
    with open(path, "rb") as file:
        file.seek(offset)
        data = file.read()
    end = data.rfind(b"\n") + 1
    records: list[Record] = []
    raw: list[bytes] = []
    bad = 0
    for line in data[:end].splitlines():
        if raw_prefix is not None and line.startswith(raw_prefix):
            raw.append(line)
            continue
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except ValueError:
            bad += 1
    return records, offset + end, bad, raw
