"""`assay state prune`: forget finished runs older than a cutoff, keep what plans need.

What goes, for every finished run that ended before the cutoff (never a run
still going, nor any run of a backfill that ran since): the run, its steps and
their logs, its lineage events, its check results and materializations that
are no longer the latest, its schema failure files and its journal. What
stays, whatever its age: the current state of every asset partition (its
latest materialization or observation, and the one where its data version last
changed, so that a rebuild computes the same `changed_seq`), the latest result
of every check on every partition, and every run after the cutoff with all of
its records.

The journals stay the durable truth: the records that stay but whose runs go
are first written to a checkpoint journal (`journal/done/checkpoint-*.jsonl.gz`,
which replaces the previous one), then the old journals are deleted, then the
rows. A crash at any point leaves a store that plans as before, and a rebuild
from the journals left gives the same tables, but for `journal_files`: the
store keeps a row for every deleted journal (so that a copy of one coming back
is never indexed as new), a rebuild does not.

Prune holds the store's exclusive lock while it works, like any indexing pass:
runs keep journaling meanwhile and index when it is done. DuckDB does not give
deleted space back to the file system, so prune then copies the store into a
fresh file (under the same lock) and puts it in place.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.state.bundles import CHECKPOINT_PREFIX, bundles, write_bundle
from assay.state.bundles import journals as bundle_journals
from assay.state.claims import forget_run_keys
from assay.state.indexer import update_attempts
from assay.state.journal import ARCHIVED_SUFFIX, encode, journal_name, write_compressed
from assay.state.queries import BACKFILL_STATES
from assay.state.records import RECORD_TYPES
from assay.state.size import FAILURES_FOLDER, StateSize, state_size
from assay.state.store import BLOCK_SIZE, DONE_FOLDER, StateStore

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime
    from pathlib import Path

    import duckdb

OUTBOX_DIR = "lineage-outbox"  # lineage.outbox.OUTBOX_DIR (lineage sits above state)
TERMINAL = ("succeeded", "failed", "died", "canceled")
_COUNTED = ("runs", "steps", "step_logs", "lineage_events", "check_results", "materializations")


@dataclass(frozen=True, slots=True, kw_only=True)
class PruneReport:
    """What `prune_state` removed (or, with `dry_run`, would remove)."""

    before: datetime
    removed: dict[str, int] = field(default_factory=dict)  # table -> rows
    backfills: int = 0
    journals: int = 0
    failure_folders: int = 0
    run_keys: int = 0  # run key claims of pruned runs, forgotten
    carried: int = 0  # records kept in the checkpoint journal
    size_before: StateSize = field(default_factory=StateSize)
    size_after: StateSize = field(default_factory=StateSize)
    compacted: bool = False
    dry_run: bool = False

    @property
    def runs(self) -> int:
        return self.removed.get("runs", 0)

    def describe(self) -> str:
        """`Pruned 700 runs ended before 2024-05-01 (...): 12.1 MiB -> 2.3 MiB.`"""
        when = self.before.astimezone().strftime("%Y-%m-%d %H:%M")
        if not self.runs and not self.failure_folders:
            return f"Nothing to prune: no finished run ended before {when}."
        verb = "Would prune" if self.dry_run else "Pruned"
        counted = [(self.removed.get(t, 0), t.replace("_", " ")) for t in _COUNTED[1:]]
        counted += [(self.journals, "journals"), (self.failure_folders, "failure folders")]
        if self.run_keys:
            counted.append((self.run_keys, "run keys"))
        parts = ", ".join(_counted(n, what) for n, what in counted)
        text = f"{verb} {_counted(self.runs, 'runs')} ended before {when} ({parts})"
        if self.dry_run:
            return text + "."
        kept = f"; {self.carried:,} records they held are kept" if self.carried else ""
        return (
            f"{text}{kept}. State: {_mib(self.size_before.total)} -> "
            f"{_mib(self.size_after.total)}"
            + (" (the store compacted)" if self.compacted else "")
            + "."
        )


def prune_state(
    home: Path,
    *,
    before: datetime,
    compact: bool = True,
    dry_run: bool = False,
    timeout_s: float = 30.0,
) -> PruneReport:
    """Remove the finished runs that ended before `before` and what only they need
    (see the module docstring); then compact the store.

    Raises:
        StateLockedError: the store stayed locked for longer than `timeout_s`.
        StateError: the store cannot be read or written.
    """
    store = StateStore(home)
    size_before = state_size(home)
    if not store.path.exists():
        return PruneReport(before=before, size_before=size_before, size_after=size_before)
    store.index_pending(timeout_s=timeout_s)  # what is finished is indexed and archived
    with store.locked(timeout_s=timeout_s):
        con = store.connect_locked()
        try:
            found = _select(con, before, keep=_owing_lineage(home))
            if dry_run or not (found.runs or _failure_folders(home, found)):
                return PruneReport(
                    before=before,
                    removed=found.counts,
                    backfills=len(found.backfills),
                    journals=len(found.runs),
                    failure_folders=len(_failure_folders(home, found)),
                    carried=len(found.carried),
                    size_before=size_before,
                    size_after=size_before,
                    dry_run=dry_run,
                )
            checkpoint = _write_checkpoint(store, found.carried)
            journals = _delete_journals(store, found, keep=checkpoint)
            folders = _delete_failures(home, found)
            _delete_rows(con, found, checkpoint)
            run_keys = forget_run_keys(home, set(found.runs))
        finally:
            con.close()
        compacted = compact and _compact(store)
    return PruneReport(
        before=before,
        removed=found.counts,
        backfills=len(found.backfills),
        journals=journals,
        failure_folders=folders,
        run_keys=run_keys,
        carried=len(found.carried),
        size_before=size_before,
        size_after=state_size(home),
        compacted=compacted,
    )


PRUNED_MARK = "pruned-at"  # touched at each retention pass: when the last one ran
RETENTION_EVERY_S = 86_400.0  # a retention pass at most once a day (or per retention)


def prune_if_due(home: Path, retention_s: float, *, timeout_s: float = 5.0) -> PruneReport | None:
    """Prune what is older than `retention_s` (`[tool.assay] retention`), at most once
    a day (or once per `retention_s`, when shorter); None when not due.

    Raises:
        StateLockedError: the store stayed locked for longer than `timeout_s` (the next
            run tries again).
        StateError: the store cannot be read or written.
    """
    from datetime import UTC, datetime, timedelta

    mark = home / PRUNED_MARK
    with contextlib.suppress(OSError):
        if time.time() - mark.stat().st_mtime < min(RETENTION_EVERY_S, retention_s):
            return None
    with contextlib.suppress(OSError):
        mark.touch()  # before it runs: two runs ending together do not both prune
    before = datetime.now(UTC) - timedelta(seconds=retention_s)
    return prune_state(home, before=before, timeout_s=timeout_s)


@dataclass(slots=True)
class _Found:
    runs: list[str]
    backfills: list[str]
    carried: list[dict[str, Any]]  # records to keep whose runs go
    counts: dict[str, int]
    kept_failures: set[str]  # failure files a kept check result names
    surviving: set[str]  # the runs that stay


# Every asset partition's history, as `indexer.update_current` orders it; the rows
# that stay: the latest, and the last one where the data version changed.
_KEPT_CURRENT = """
    WITH history AS (
        SELECT materialization_id AS id, asset_key, coalesce(partition_key, '') AS pk,
               data_version, coalesce(seq, epoch_us(finished_at)) AS seq
        FROM materializations
        UNION ALL
        SELECT observation_id, asset_key, coalesce(partition_key, ''), data_version,
               coalesce(seq, epoch_us(observed_at))
        FROM observations
    ), marked AS (
        SELECT *,
               row_number() OVER w = 1 OR data_version IS DISTINCT FROM lag(data_version) OVER w
                   AS is_change,
               row_number() OVER (PARTITION BY asset_key, pk ORDER BY seq DESC, id DESC)
                   AS latest
        FROM history
        WINDOW w AS (PARTITION BY asset_key, pk ORDER BY seq, id)
    ), changed AS (
        SELECT asset_key, pk, max(seq) FILTER (WHERE is_change) AS seq
        FROM marked GROUP BY asset_key, pk
    )
    SELECT id FROM marked WHERE latest = 1
    UNION
    SELECT m.id FROM marked m JOIN changed c USING (asset_key, pk)
    WHERE m.is_change AND m.seq = c.seq
"""

# The latest result of each check on each asset partition (as the reader orders them).
_KEPT_CHECKS = """
    SELECT check_result_id AS id FROM check_results
    QUALIFY row_number() OVER (
        PARTITION BY asset_key, check_name, partition_key
        ORDER BY coalesce(seq, epoch_us(checked_at)) DESC, check_result_id DESC
    ) = 1
"""


def _select(con: duckdb.DuckDBPyConnection, before: datetime, keep: set[str]) -> _Found:
    """Mark (in temp tables) the runs to prune (never those in `keep`) and the rows
    that stay; read the records to carry into the checkpoint and the counts."""
    statuses = ", ".join(f"'{s}'" for s in TERMINAL)
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE pruned_runs AS
        SELECT r.run_id, r.backfill_id FROM runs r
        JOIN journal_files j ON j.file = r.run_id || '.jsonl' AND j.is_finished
        WHERE r.status IN ({statuses})
          AND coalesce(r.finished_at, r.started_at) < ?::TIMESTAMPTZ
          AND r.run_id NOT IN (SELECT unnest(?::VARCHAR[]))
          AND (r.backfill_id IS NULL OR (
              r.backfill_id IN (
                  SELECT backfill_id FROM ({BACKFILL_STATES})
                  WHERE status IN ('completed', 'canceled')
              )
              AND r.backfill_id NOT IN (
                  SELECT backfill_id FROM runs WHERE backfill_id IS NOT NULL
                  GROUP BY backfill_id
                  HAVING max(coalesce(finished_at, started_at)) >= ?::TIMESTAMPTZ
                      OR bool_or(status NOT IN ({statuses}))
              )
          ))
        """,
        [before, sorted(keep), before],
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE kept_current AS {_KEPT_CURRENT}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE kept_checks AS {_KEPT_CHECKS}")
    con.execute(
        "CREATE OR REPLACE TEMP TABLE surviving AS "
        "SELECT run_id FROM runs WHERE run_id NOT IN (SELECT run_id FROM pruned_runs)"
    )
    runs = [row[0] for row in con.execute("SELECT run_id FROM pruned_runs ORDER BY 1").fetchall()]
    backfills = [
        row[0]
        for row in con.execute(
            "SELECT DISTINCT backfill_id FROM pruned_runs WHERE backfill_id IS NOT NULL "
            "AND backfill_id NOT IN (SELECT backfill_id FROM runs r JOIN surviving USING (run_id) "
            "WHERE backfill_id IS NOT NULL) ORDER BY 1"
        ).fetchall()
    ]
    carried: list[dict[str, Any]] = []
    for kind, table, key, kept in (
        ("materialization", "materializations", "materialization_id", "kept_current"),
        ("observation", "observations", "observation_id", "kept_current"),
        ("check", "check_results", "check_result_id", "kept_checks"),
    ):
        carried += _records(
            con,
            kind,
            f"SELECT * FROM {table} WHERE {key} IN (SELECT id FROM {kept}) "
            "AND run_id NOT IN (SELECT run_id FROM surviving)",
        )
    counts = {}
    for table in _COUNTED:
        where = "run_id IN (SELECT run_id FROM pruned_runs)"
        if table == "materializations":
            where += " AND materialization_id NOT IN (SELECT id FROM kept_current)"
        elif table == "check_results":
            where += " AND check_result_id NOT IN (SELECT id FROM kept_checks)"
        row = con.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()
        counts[table] = 0 if row is None else int(row[0])
    kept_failures = {
        str(row[0])
        for row in con.execute(
            "SELECT failures_path FROM check_results WHERE failures_path IS NOT NULL "
            "AND check_result_id IN (SELECT id FROM kept_checks)"
        ).fetchall()
    }
    return _Found(
        runs=runs,
        backfills=backfills,
        carried=carried,
        counts=counts,
        kept_failures=kept_failures,
        surviving={row[0] for row in con.execute("SELECT run_id FROM surviving").fetchall()},
    )


def _owing_lineage(home: Path) -> set[str]:
    """Runs whose lineage outbox is kept: they still owe the configured target events
    (`assay lineage send` delivers them), so they are not pruned yet."""
    folder = home / OUTBOX_DIR
    return {path.stem for path in folder.glob("*.jsonl")} if folder.is_dir() else set()


def _records(con: duckdb.DuckDBPyConnection, kind: str, sql: str) -> list[dict[str, Any]]:
    """Rows as the journal records they were indexed from (times in epoch seconds)."""
    fields = RECORD_TYPES[kind].fields
    select = ", ".join(
        f'epoch_us("{name}") / 1e6 AS "{name}"' if t == "time" else f'"{name}"'
        for name, t in fields.items()
    )
    cursor = con.execute(f"SELECT {select} FROM ({sql}) ORDER BY ALL")
    names = [column[0] for column in cursor.description or ()]
    return [{"type": kind, **dict(zip(names, values, strict=True))} for values in cursor.fetchall()]


def _write_checkpoint(store: StateStore, records: list[dict[str, Any]]) -> Path | None:
    """The records to keep whose journals go, as an archived journal of their own
    (fsynced before anything is deleted); None when there are none."""
    if not records:
        return None
    done = store.journal_dir / DONE_FOLDER
    done.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    name = f"{CHECKPOINT_PREFIX}{stamp}-{uuid.uuid4().hex[:8]}.jsonl"
    return write_compressed(done / (name + ARCHIVED_SUFFIX), [encode(records)])


def _delete_journals(store: StateStore, found: _Found, *, keep: Path | None) -> int:
    """Delete the journals of pruned runs (wherever they are: live folder, done/, in
    a bundle, which is written anew without them), the checkpoints the new one
    replaces, and the cancel journals of pruned backfills."""
    names = {f"{run_id}.jsonl" for run_id in found.runs}
    done = store.journal_dir / DONE_FOLDER
    candidates = [*store.journal_dir.glob("*.jsonl"), *done.glob("*.jsonl"), *done.glob("*.gz")]
    backfills = {f'"backfill_id":"{b}"'.encode() for b in found.backfills}

    def goes(name: str, data: Callable[..., bytes]) -> bool:
        return name in names or _cancels(name, data, backfills)

    deleted = 0
    for path in candidates:
        name = journal_name(path)
        is_checkpoint = name.startswith(CHECKPOINT_PREFIX) and path != keep
        if is_checkpoint or goes(name, functools.partial(_bytes, path)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                deleted += 1
    for bundle in bundles(done):
        held = list(bundle_journals(bundle))
        kept = [
            (name, data) for name, data in held if not goes(name, functools.partial(bytes, data))
        ]
        if len(kept) == len(held):
            continue
        if kept:
            write_bundle(done, kept)  # before the old one goes: a journal is never lost
        bundle.unlink()
        deleted += len(held) - len(kept)
    return deleted


def _bytes(path: Path) -> bytes:
    from assay.state.journal import read_lines

    try:
        lines, _ = read_lines(path, 0)
    except OSError:
        return b""
    return b"\n".join(line for _, line in lines)


def _cancels(name: str, data: Callable[[], bytes], backfills: set[bytes]) -> bool:
    """Whether journal `name` (its bytes, read when needed) is a cancel of one of these
    backfills."""
    if not backfills or not name.startswith("cancel-"):
        return False
    return any(
        b'"type":"backfill_cancel"' in line and any(b in line for b in backfills)
        for line in data().splitlines()
    )


def _failure_folders(home: Path, found: _Found) -> list[Path]:
    """The failure folders (one per run) that go: those of no run that stays (pruned
    now or before) and of no live run (one not indexed yet has its journal), but those
    a kept check result names."""
    folder = home / FAILURES_FOLDER
    if not folder.is_dir():
        return []
    journals = home / "journal"
    return [
        path
        for path in sorted(folder.iterdir())
        if path.is_dir()
        and path.name not in found.surviving
        and not (journals / f"{path.name}.jsonl").exists()
        and not any(path.name in kept.split(os.sep) for kept in found.kept_failures)
    ]


def _delete_failures(home: Path, found: _Found) -> int:
    """Delete the failure cases of pruned runs (but those a kept check result names)."""
    folders = _failure_folders(home, found)
    for path in folders:
        shutil.rmtree(path, ignore_errors=True)
    return len(folders)


def _delete_rows(con: duckdb.DuckDBPyConnection, found: _Found, checkpoint: Path | None) -> None:
    """Delete what goes, in one transaction; the checkpoint is known as indexed."""
    pruned = "run_id IN (SELECT run_id FROM pruned_runs)"
    backfills = "backfill_id IN (SELECT unnest(?::VARCHAR[]))"
    con.execute("BEGIN")
    try:
        for table in ("step_logs", "steps", "lineage_events"):
            con.execute(f"DELETE FROM {table} WHERE {pruned}")
        update_attempts(con, "pruned_runs")
        con.execute(
            f"DELETE FROM materializations WHERE {pruned} "
            "AND materialization_id NOT IN (SELECT id FROM kept_current)"
        )
        con.execute(
            f"DELETE FROM observations WHERE {pruned} "
            "AND observation_id NOT IN (SELECT id FROM kept_current)"
        )
        con.execute(
            f"DELETE FROM check_results WHERE {pruned} "
            "AND check_result_id NOT IN (SELECT id FROM kept_checks)"
        )
        con.execute(
            "DELETE FROM quarantine WHERE journal IN (SELECT run_id || '.jsonl' FROM pruned_runs)"
        )
        con.execute(f"DELETE FROM backfills WHERE {backfills}", [found.backfills])
        con.execute(f"DELETE FROM backfill_cancels WHERE {backfills}", [found.backfills])
        con.execute(f"DELETE FROM runs WHERE {pruned}")
        if checkpoint is not None:
            # the rows are in the store already: the checkpoint is known as indexed
            # (a rebuild reads it; the journal_files rows of deleted journals stay)
            size = len(gzip.decompress(checkpoint.read_bytes()))
            con.execute(
                "INSERT OR REPLACE INTO journal_files VALUES (?, ?, true)",
                [journal_name(checkpoint), size],
            )
        con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            con.execute("ROLLBACK")
        raise


def _compact(store: StateStore) -> bool:
    """Copy the store into a fresh file and put it in place (the caller holds the
    exclusive lock, and no connection is open): DuckDB keeps the blocks of deleted
    rows in the file. False, leaving the store as it was, when it cannot."""
    import duckdb

    path = store.path
    fresh = path.with_name(path.name + ".compacting")
    for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
        leftover.unlink(missing_ok=True)
    try:
        con = duckdb.connect(str(path))
        try:
            (name,) = con.execute("SELECT current_database()").fetchone() or ("",)
            con.execute(f"ATTACH ? AS compacted (BLOCK_SIZE {BLOCK_SIZE})", [str(fresh)])
            con.execute(f'COPY FROM DATABASE "{name}" TO compacted')
            con.execute("DETACH compacted")
        finally:
            con.close()
        with open(fresh, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(fresh, path)
        path.with_name(path.name + ".wal").unlink(missing_ok=True)
    except (OSError, duckdb.Error):
        for leftover in (fresh, fresh.with_name(fresh.name + ".wal")):
            with contextlib.suppress(OSError):
                leftover.unlink()
        return False
    return True


def _counted(count: int, plural: str) -> str:
    """`1 run`, `2 runs`, `1 failure folder`."""
    words = plural if count != 1 else plural.removesuffix("s")
    return f"{count:,} {words}"


def _mib(size: int) -> str:
    return f"{size / 2**20:,.1f} MiB"
