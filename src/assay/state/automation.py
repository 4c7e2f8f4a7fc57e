"""What the daemon, `assay tick` and `assay schedule` read of schedules and sensors."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.state.reader import Row, _rows
from assay.state.store import StateStore

if TYPE_CHECKING:
    from pathlib import Path


class AutomationReader:
    """What the daemon, `assay tick` and `assay schedule` read of schedules and
    sensors: whether each is enabled, its latest tick and cursor, the requested runs
    that have not started, the runs finished since a time. One short read each."""

    def __init__(self, home: Path, *, index: bool = True) -> None:
        self.home = home
        self.store = StateStore(home)
        self.index = index

    def enabled(self) -> dict[str, bool]:
        """Each schedule or sensor enabled or disabled by hand (the others keep the
        state they are declared with)."""
        with self.store.reading(index=self.index) as con:
            if con is None:
                return {}
            return dict(con.execute("SELECT name, enabled FROM automation_states").fetchall())

    def enabled_times(self) -> dict[str, float | None]:
        """When each schedule or sensor was last enabled or disabled (epoch seconds)."""
        with self.store.reading(index=self.index) as con:
            if con is None:
                return {}
            rows = con.execute('SELECT name, epoch("at") FROM automation_states').fetchall()
        return {str(name): at for name, at in rows}

    def latest_ticks(self) -> dict[str, Row]:
        """The latest tick of each schedule or sensor, with `cursor_tick`: the latest
        that did not fail (where evaluation resumes)."""
        with self.store.reading(index=self.index) as con:
            if con is None:
                return {}
            rows = _rows(
                con,
                """
                WITH latest AS (
                    SELECT *, row_number() OVER (PARTITION BY name ORDER BY seq DESC) AS n
                    FROM ticks
                ), good AS (
                    SELECT name, tick_at AS cursor_at, cursor AS good_cursor,
                           row_number() OVER (PARTITION BY name ORDER BY seq DESC) AS n
                    FROM ticks WHERE status <> 'failed'
                )
                SELECT l.*, g.cursor_at, g.good_cursor FROM latest l
                LEFT JOIN good g ON g.name = l.name AND g.n = 1
                WHERE l.n = 1
                """,
            )
        return {str(row["name"]): row for row in rows}

    def ticks(self, name: str | None = None, *, limit: int = 20) -> list[Row]:
        """The latest ticks, newest first, of the schedule or sensor `name` (of every
        one when None)."""
        where, params = ("WHERE name = ?", [name]) if name is not None else ("", [])
        with self.store.reading(index=self.index) as con:
            if con is None:
                return []
            return _rows(
                con, f"SELECT * FROM ticks {where} ORDER BY seq DESC LIMIT ?", [*params, limit]
            )

    def unstarted_requests(self) -> list[Row]:
        """Requested runs whose run was never recorded: queued, or launched by a
        process that died before its run journaled anything."""
        with self.store.reading(index=self.index) as con:
            if con is None:
                return []
            return _rows(
                con,
                """
                SELECT q.*, t.requests AS tick_requests FROM run_requests q
                LEFT JOIN runs r USING (run_id) LEFT JOIN ticks t USING (tick_id)
                WHERE r.run_id IS NULL AND q.status IN ('queued', 'launched')
                ORDER BY q.priority DESC, q.seq
                """,
            )

    def finished_runs(self, after: float) -> list[Row]:
        """Runs that finished after `after` (epoch seconds), oldest first."""
        with self.store.reading(index=self.index) as con:
            if con is None:
                return []
            return _rows(
                con,
                "SELECT run_id, status, kind, selection, epoch(finished_at) AS finished, "
                "NULL AS error FROM runs WHERE finished_at > to_timestamp(?) "
                "AND status NOT IN ('running') ORDER BY finished_at, run_id",
                [after],
            )

    def condition_baselines(self) -> list[Row]:
        """Per asset: when automation first saw its condition and its code version."""
        with self.store.reading(index=self.index) as con:
            if con is None:
                return []
            return _rows(con, "SELECT * FROM automation_assets ORDER BY asset_key")

    def evaluations(self, asset_key: str, *, limit: int = 10) -> list[Row]:
        """The latest recorded evaluations of an asset's condition, newest first."""
        with self.store.reading(index=self.index) as con:
            if con is None:
                return []
            return _rows(
                con,
                "SELECT e.*, t.status AS tick_status, t.requests AS tick_requests "
                "FROM automation_evaluations e LEFT JOIN ticks t USING (tick_id) "
                "WHERE e.asset_key = ? ORDER BY e.seq DESC LIMIT ?",
                [asset_key, limit],
            )

    def latest_evaluations(self) -> dict[str, Row]:
        """Each asset's latest recorded evaluation of its condition."""
        with self.store.reading(index=self.index) as con:
            if con is None:
                return {}
            rows = _rows(
                con,
                "SELECT * FROM automation_evaluations "
                "QUALIFY row_number() OVER (PARTITION BY asset_key ORDER BY seq DESC) = 1",
            )
        return {str(row["asset_key"]): row for row in rows}

    def automation_requests(self, *, limit: int = 200) -> list[Row]:
        """The latest runs declarative automation requested, newest first, with what
        became of each request and of its run."""
        with self.store.reading(index=self.index) as con:
            if con is None:
                return []
            return _rows(
                con,
                "SELECT q.run_id, q.run_key, q.status AS request_status, q.reason, q.command, "
                "q.tick_id, epoch(q.at) AS at, r.status AS run_status FROM run_requests q "
                "LEFT JOIN runs r USING (run_id) WHERE q.name = 'automation' "
                "ORDER BY q.seq DESC LIMIT ?",
                [limit],
            )
