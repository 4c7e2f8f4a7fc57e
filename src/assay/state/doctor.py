"""`assay state doctor`: is the state home healthy, and if not, what to do.

Each finding says what was checked, what was found and, for a problem, the
command that fixes it. Nothing here changes stored state except the indexing
that every read does first.
"""

from __future__ import annotations

import os
import shutil
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from assay.errors import StateError
from assay.locking import holders_of, lock_path_for
from assay.state.journal import is_abandoned
from assay.state.reader import StateReader
from assay.state.store import StateStore

if TYPE_CHECKING:
    from pathlib import Path

LOW_SPACE_BYTES = 64 * 1024 * 1024
SHOWN_QUARANTINED = 10


class Level(StrEnum):
    OK = "ok"
    NOTE = "note"
    PROBLEM = "problem"


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    level: Level
    text: str


def diagnose(home: Path) -> list[Finding]:
    """Check the state home: the folder, free space, indexing, every table, the
    quarantine, runs marked running."""
    store = StateStore(home)
    try:
        store.check_home()
    except StateError as exc:
        return [Finding(level=Level.PROBLEM, text=str(exc))]
    if not home.exists():
        return [Finding(level=Level.OK, text=f"{home} does not exist yet: nothing has run")]
    findings = [_writable(home), _space(home)]
    report = store.index_pending(timeout_s=5.0)
    if report.held_by:
        findings.append(
            Finding(
                level=Level.PROBLEM,
                text=f"{store.path} is held open by {report.held_by}: close that connection",
            )
        )
        return findings
    if report.busy:
        holders = holders_of(lock_path_for(store.path))
        findings.append(Finding(level=Level.NOTE, text=f"indexing waits for {holders}"))
    if report.waiting:
        findings.append(Finding(level=Level.PROBLEM, text=f"indexing waits: {report.waiting}"))
    try:
        findings += _tables(store)
        findings += _quarantine(store)
        findings += _running(store)
    except StateError as exc:
        findings.append(Finding(level=Level.PROBLEM, text=str(exc)))
    return findings


def _writable(home: Path) -> Finding:
    probe = home / f".doctor-{uuid.uuid4().hex[:8]}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        return Finding(
            level=Level.PROBLEM,
            text=f"{home} cannot be written ({exc.strerror}): runs cannot record anything; "
            "give assay a writable state folder (ASSAY_HOME or [tool.assay] home)",
        )
    return Finding(level=Level.OK, text=f"{home} is a writable folder")


def _space(home: Path) -> Finding:
    free = shutil.disk_usage(home).free
    shown = f"{free / 2**20:,.0f} MiB free"
    if free < LOW_SPACE_BYTES:
        return Finding(
            level=Level.PROBLEM,
            text=f"{shown} on the disk of {home}: runs stop when it is full; free some space",
        )
    return Finding(level=Level.OK, text=shown)


def _tables(store: StateStore) -> list[Finding]:
    """Read every column of every table: DuckDB checks each block it reads."""
    with store.reading() as con:
        if con is None:
            return [Finding(level=Level.OK, text="no state store yet: nothing has been indexed")]
        names = [
            row[0]
            for row in con.execute(
                "SELECT table_name FROM information_schema.tables "  # of this store only
                "WHERE table_catalog = current_database() AND table_type = 'BASE TABLE' "
                "ORDER BY table_name"
            ).fetchall()
        ]
        rows = 0
        for name in names:
            found = con.execute(
                f'SELECT count(*), bit_xor(hash(COLUMNS(*))) FROM "{name}"'
            ).fetchone()
            rows += 0 if found is None else int(found[0])
    size = os.path.getsize(store.path) / 2**20
    return [
        Finding(
            level=Level.OK,
            text=f"{store.path} reads whole: {len(names)} tables, {rows:,} rows, {size:,.1f} MiB",
        )
    ]


def _quarantine(store: StateStore) -> list[Finding]:

    count, rows = StateReader(store.home).quarantined(limit=SHOWN_QUARANTINED)
    if not count:
        return [Finding(level=Level.OK, text="every journal record is indexed")]
    lines = [
        f"{count} journal record(s) could not be indexed and are set aside (they stay in their "
        f"journals, under {store.journal_dir}):"
    ]
    lines += [f"  {r.journal} at byte {r.byte_offset}: {r.reason}" for r in rows]
    if count > len(rows):
        lines.append(f"  … and {count - len(rows)} more (table `quarantine`)")
    lines.append(
        "  a line cut short by a crash needs nothing; a record written by hand or by other "
        "software: fix or remove it in the journal, then run `assay state rebuild`"
    )
    return [Finding(level=Level.NOTE, text="\n".join(lines))]


def _running(store: StateStore) -> list[Finding]:
    with store.reading() as con:
        if con is None:
            return []
        rows = con.execute(
            "SELECT run_id, pid, host FROM runs WHERE status = 'running' ORDER BY started_at"
        ).fetchall()
    findings = []
    for run_id, pid, host in rows:
        journal = store.journal_dir / f"{run_id}.jsonl"
        live = not is_abandoned(journal) if journal.exists() else False
        where = f"PID {pid} on {host}"
        state = "running" if live else "not indexed as finished yet"
        findings.append(Finding(level=Level.NOTE, text=f"run {run_id[:8]} is {state} ({where})"))
    return findings
