"""Queries over the state store. Each call indexes pending journal records first,
then holds the DuckDB file under a shared lock only for the length of the query."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.errors import UnknownBackfillError, UnknownRunError
from assay.state.models import (
    LogLine,
    Quarantined,
    Run,
    RunDetails,
    StateMark,
    Step,
    model,
)
from assay.state.store import StateStore

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Mapping
    from pathlib import Path

    import duckdb
    import numpy as np

Row = dict[str, Any]
_PLANNING_COLUMNS = ("ordinal", "idx", "started", "changed", "code_ok", "sig_ok", "absent")


def _empty(name: str) -> np.ndarray:
    import numpy as np

    kind = {"ordinal": np.int64, "idx": np.int64, "code_ok": np.bool_, "sig_ok": np.bool_}
    kind["absent"] = np.bool_
    return np.zeros(0, dtype=kind.get(name, np.float64))


class StateReader:
    """Read runs, steps, logs, materializations, checks and backfills.

    Each call first indexes what the journals hold that the store does not yet;
    with `index=False` it reads what is indexed without taking the exclusive lock
    (a UI polling the store never makes a run wait).
    """

    def __init__(self, home: Path, *, index: bool = True) -> None:
        self.store = StateStore(home)
        self.index = index

    def _reading(self) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection | None]:
        return self.store.reading(index=self.index)

    def runs(
        self,
        *,
        limit: int = 20,
        offset: int = 0,
        kind: str | None = None,
        status: str | None = None,
    ) -> list[Run]:
        """The latest runs, newest first (a page of `limit` after `offset`), of one kind
        or status when given."""
        where, params = _filters(kind=kind, status=status)
        with self._reading() as con:
            if con is None:
                return []
            rows = _rows(
                con,
                f"SELECT * FROM runs {where} ORDER BY started_at DESC, run_id LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        return [model(Run, row) for row in rows]

    def run_details(self, run_id: str) -> RunDetails:
        """A run (by id or unique prefix), its steps and its step logs.

        Raises:
            UnknownRunError: no run, or several, match `run_id`.
        """
        with self._reading() as con:
            matches = (
                []
                if con is None
                else _rows(
                    con,
                    "SELECT * FROM runs WHERE starts_with(run_id, ?) ORDER BY started_at",
                    [run_id],
                )
            )
            if len(matches) != 1:
                raise _unknown_run(run_id, matches)
            run = matches[0]
            assert con is not None
            steps = _rows(
                con, "SELECT * FROM steps WHERE run_id = ? ORDER BY started_at", [run["run_id"]]
            )
            logs = _rows(
                con,
                "SELECT * FROM step_logs WHERE run_id = ? ORDER BY step_key, seq",
                [run["run_id"]],
            )
        return RunDetails(
            run=model(Run, run),
            steps=tuple(model(Step, s) for s in steps),
            logs=tuple(model(LogLine, line) for line in logs),
        )

    def current_versions(self, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The data version of each wanted (asset, partition key) that is stored ('' =
        unpartitioned)."""
        with self._reading() as con:
            if con is None or not wanted:
                return {}
            import pyarrow as pa

            pairs = pa.table(  # noqa: F841 (read by DuckDB)
                {"asset_key": [a for a, _ in wanted], "partition_key": [p for _, p in wanted]}
            )
            rows = con.execute(
                "SELECT s.asset_key, s.partition_key, s.data_version FROM asset_partitions s "
                "JOIN pairs w ON s.asset_key = w.asset_key AND s.partition_key = w.partition_key"
            ).fetchall()
        return {(asset, partition): version for asset, partition, version in rows}

    def planning_columns(
        self, assets: list[dict[str, Any]], keysets: Mapping[str, Any]
    ) -> dict[str, np.ndarray]:
        """The stored state of every known asset partition as numeric columns.

        `assets` rows: asset_key, ordinal, keyset, code_version, inputs_signature
        (the current ones), is_source. `keysets` columns: keyset, partition_key, idx.
        Stored partitions whose key is not in their asset's keyset are left out.
        Columns (in no particular order): ordinal, idx, started and changed (on the
        state home's clock, `seq`: before the materialization read its inputs; when
        its data version last changed), code_ok and sig_ok (stored equals current),
        absent (a source partition last observed absent: an empty data version).
        """
        import pyarrow as pa

        empty = {name: _empty(name) for name in _PLANNING_COLUMNS}
        if not assets:
            return empty
        asset_table = pa.Table.from_pylist(assets)  # noqa: F841 (read by DuckDB)
        key_table = pa.table(  # noqa: F841 (read by DuckDB)
            {
                "keyset": pa.array(keysets["keyset"], pa.int64()),
                "partition_key": pa.array(keysets["partition_key"], pa.string()),
                "idx": pa.array(keysets["idx"], pa.int64()),
            }
        )
        with self._reading() as con:
            if con is None:
                return empty
            # The CTE fixes the join order: DuckDB otherwise joins the two small
            # tables first and matches 3.65M rows on two columns (4x slower).
            found = con.execute(
                """
                WITH stored AS MATERIALIZED (
                    SELECT a.ordinal, a.keyset, s.partition_key,
                           s.started_seq::DOUBLE AS started,
                           s.changed_seq::DOUBLE AS changed,
                           coalesce(s.code_version = a.code_version, false) AS code_ok,
                           coalesce(s.inputs_signature = a.inputs_signature, false) AS sig_ok,
                           coalesce(a.is_source AND s.data_version = '', false) AS absent
                    FROM asset_partitions s JOIN asset_table a ON s.asset_key = a.asset_key
                )
                SELECT s.ordinal, k.idx, s.started, s.changed, s.code_ok, s.sig_ok, s.absent
                FROM stored s
                JOIN key_table k ON k.partition_key = s.partition_key AND k.keyset = s.keyset
                """
            ).fetchnumpy()
        return {name: found[name] for name in _PLANNING_COLUMNS}

    def state_mark(self, asset_keys: list[str]) -> StateMark:
        """Where the stored state of these assets stands: the latest `seq` of their
        current asset partitions and how many there are (a plan made against it is
        out of date once either moved)."""
        with self._reading() as con:
            if con is None or not asset_keys:
                return StateMark()
            row = con.execute(
                "SELECT coalesce(max(seq), 0), count(*) FROM asset_partitions "
                "WHERE asset_key IN (SELECT unnest(?::VARCHAR[]))",
                [asset_keys],
            ).fetchone()
        return StateMark() if row is None else StateMark(seq=int(row[0]), rows=int(row[1]))

    def stored_counts(self, asset_keys: list[str]) -> dict[str, int]:
        """How many partitions of each asset are stored, whatever their keys."""
        with self._reading() as con:
            if con is None or not asset_keys:
                return {}
            rows = con.execute(
                "SELECT asset_key, count(*) FROM asset_partitions "
                "WHERE asset_key IN (SELECT unnest(?::VARCHAR[])) GROUP BY asset_key",
                [asset_keys],
            ).fetchall()
        return {str(key): int(count) for key, count in rows}

    def read_counts(self, asset_key: str, upstream_key: str) -> tuple[list[str], np.ndarray]:
        """Per stored partition of `asset_key`: how many partitions of `upstream_key`
        its current materialization read (from its provenance; NaN where not recorded)."""
        import numpy as np

        with self._reading() as con:
            if con is None:
                return [], np.zeros(0)
            found = con.execute(
                "SELECT partition_key, "
                "TRY_CAST(json_extract_string(provenance, ?) AS DOUBLE) AS count "
                "FROM asset_partitions WHERE asset_key = ?",
                [f'$."{upstream_key}".count', asset_key],
            ).fetchnumpy()
        raw = found["count"]
        counts = (
            np.ma.filled(raw.astype(np.float64), np.nan)  # NULLs come back masked
            if isinstance(raw, np.ma.MaskedArray)
            else np.asarray(raw, dtype=np.float64)
        )
        return [str(k) for k in found["partition_key"]], counts

    def stored_versions(self, asset_key: str) -> list[tuple[str, str | None, str | None]]:
        """(partition key, code version, inputs signature) of each stored partition."""
        with self._reading() as con:
            if con is None:
                return []
            rows = con.execute(
                "SELECT partition_key, code_version, inputs_signature FROM asset_partitions "
                "WHERE asset_key = ?",
                [asset_key],
            ).fetchall()
        return [(str(k), c, i) for k, c, i in rows]

    def stored_partition(self, asset_key: str, partition_key: str) -> Row:
        """The current stored state of one asset partition ('' = unpartitioned), or {}."""
        with self._reading() as con:
            if con is None:
                return {}
            rows = _rows(
                con,
                "SELECT data_version, code_version, finished_at, run_id, provenance "
                "FROM asset_partitions WHERE asset_key = ? AND partition_key = ?",
                [asset_key, partition_key],
            )
        return rows[0] if rows else {}

    def stored_code_parts(self, asset_key: str, partition_key: str) -> dict[str, str] | None:
        """What the code version of one stored asset partition ('' = unpartitioned) was
        made of (`versioning.code_parts`), or None: not stored, an explicit version, or
        materialized before parts were recorded."""
        import json

        with self._reading() as con:
            if con is None:
                return None
            row = con.execute(
                "SELECT m.code_parts FROM asset_partitions s "
                "JOIN materializations m USING (materialization_id) "
                "WHERE s.asset_key = ? AND s.partition_key = ?",
                [asset_key, partition_key],
            ).fetchone()
        if row is None or row[0] is None:
            return None
        parts = json.loads(row[0])
        return {str(k): str(v) for k, v in parts.items()} if isinstance(parts, dict) else None

    def asset_summaries(self) -> dict[str, Row]:
        """Per asset: its last materialization time, its last step's status, and the
        latest result of each check on each partition (`checks`: rows of
        `check_results`), read in one pass."""
        with self._reading() as con:
            if con is None:
                return {}
            checks: dict[str, list[Row]] = {}
            order = "ORDER BY asset_key, check_name, partition_key"
            for row in _rows(con, f"SELECT * FROM ({_LATEST_CHECKS}) {order}"):
                checks.setdefault(row["asset_key"], []).append(row)
            rows = _rows(
                con,
                """
                WITH last_step AS (
                    SELECT asset_key, status, finished_at FROM steps
                    WHERE status != 'running'
                    QUALIFY row_number() OVER (
                        PARTITION BY asset_key ORDER BY coalesce(finished_at, started_at) DESC
                    ) = 1
                ), last_mat AS (
                    SELECT asset_key, max(finished_at) AS materialized_at,
                           count(*) AS materialization_count
                    FROM materializations GROUP BY asset_key
                )
                SELECT coalesce(s.asset_key, m.asset_key) AS asset_key,
                       s.status AS last_status, m.materialized_at, m.materialization_count
                FROM last_step s FULL OUTER JOIN last_mat m ON s.asset_key = m.asset_key
                """,
            )
        found = {row["asset_key"]: row | {"checks": []} for row in rows}
        for key, latest in checks.items():
            found.setdefault(key, {"asset_key": key})["checks"] = latest
        return found

    def backfills(self, *, limit: int = 20, backfill_id: str | None = None) -> list[Row]:
        """Backfills, newest first (or those whose id starts with `backfill_id`), with
        per-status counts of their asset partitions and the state of their last run.

        The status is derived from what is recorded, whoever recorded it:
        `completed` once every asset partition it covers succeeded; `canceling`
        or `canceled` when a cancel was asked after its last record (canceled once
        its driver is gone); `interrupted` when its driver died.
        """
        with self._reading() as con:
            if con is None:
                return []
            where, params = ("WHERE starts_with(b.backfill_id, ?)", [backfill_id])
            if backfill_id is None:
                where, params = "", []
            return _rows(
                con,
                f"""
                WITH latest AS ({_LATEST_BACKFILL_STEPS}), counts AS (
                    SELECT backfill_id,
                           count(*) FILTER (status = 'succeeded') AS succeeded,
                           count(*) FILTER (status = 'failed') AS failed,
                           count(*) FILTER (status = 'skipped') AS skipped,
                           count(*) FILTER (status IN ('died', 'running')) AS interrupted
                    FROM latest GROUP BY backfill_id
                ), cancels AS (
                    SELECT backfill_id, arg_max(status, coalesce(seq, 0)) AS status,
                           max(coalesce(seq, 0)) AS seq
                    FROM backfill_cancels GROUP BY backfill_id
                )
                SELECT b.* EXCLUDE (status),
                       CASE WHEN coalesce(c.succeeded, 0) >= b.partition_count THEN 'completed'
                            WHEN x.seq > coalesce(b.seq, 0) AND b.status <> 'completed'
                                THEN CASE WHEN r.status = 'running' THEN 'canceling'
                                          ELSE 'canceled' END
                            WHEN b.status IN ('running', 'canceling') AND r.status = 'died'
                                THEN 'interrupted'
                            ELSE b.status END AS status,
                       r.status AS last_run_status, r.pid AS last_run_pid, r.host AS last_run_host,
                       coalesce(c.succeeded, 0) AS succeeded, coalesce(c.failed, 0) AS failed,
                       coalesce(c.skipped, 0) AS skipped
                FROM backfills b
                LEFT JOIN runs r ON r.run_id = b.last_run_id
                LEFT JOIN counts c ON c.backfill_id = b.backfill_id
                LEFT JOIN cancels x ON x.backfill_id = b.backfill_id
                {where}
                ORDER BY b.created_at DESC LIMIT ?
                """,
                [*params, limit],
            )

    def backfill(self, backfill_id: str) -> Row:
        """One backfill by id or unique prefix (see `backfills`).

        Raises:
            UnknownBackfillError: no backfill, or several, match.
        """
        matches = self.backfills(limit=6, backfill_id=backfill_id)
        if len(matches) == 1:
            return matches[0]
        if matches:
            ids = ", ".join(row["backfill_id"][:12] for row in matches[:5])
            raise UnknownBackfillError(
                f"backfill id {backfill_id!r} matches {len(matches)} backfills ({ids}): give more"
            )
        raise UnknownBackfillError(
            f"no backfill matches {backfill_id!r}. Run `assay backfill list` to see them."
        )

    def backfill_steps(self, backfill_id: str) -> list[Row]:
        """The latest step of each asset partition a backfill has run (any of its runs)."""
        with self._reading() as con:
            if con is None:
                return []
            return _rows(
                con,
                f"SELECT * EXCLUDE (backfill_id) FROM ({_LATEST_BACKFILL_STEPS}) "
                "WHERE backfill_id = ? ORDER BY asset_key, partition_key",
                [backfill_id],
            )

    def stored_materializations(self, asset_keys: list[str]) -> list[Row]:
        """The current materialization of every stored partition of these assets
        (asset_key, partition_key ('' when unpartitioned), materialization_id,
        data_version)."""
        with self._reading() as con:
            if con is None or not asset_keys:
                return []
            return _rows(
                con,
                "SELECT asset_key, partition_key, materialization_id, data_version "
                "FROM asset_partitions WHERE asset_key IN (SELECT unnest(?::VARCHAR[])) "
                "AND code_version != 'source' ORDER BY asset_key, partition_key",
                [asset_keys],
            )

    def latest_checks(self, asset_keys: list[str] | None = None) -> list[Row]:
        """The latest result of each check on each asset partition (of these assets)."""
        with self._reading() as con:
            if con is None:
                return []
            where, params = "", []
            if asset_keys is not None:
                where, params = "WHERE asset_key IN (SELECT unnest(?::VARCHAR[]))", [asset_keys]
            return _rows(
                con,
                f"SELECT * FROM ({_LATEST_CHECKS}) {where} "
                "ORDER BY asset_key, check_name, partition_key",
                params,
            )

    def observed_partitions(self, asset_keys: list[str]) -> dict[str, list[str]]:
        """Per source asset: the partitions whose latest observation found them there
        (not recorded absent)."""
        with self._reading() as con:
            if con is None or not asset_keys:
                return {}
            rows = con.execute(
                "SELECT asset_key, partition_key FROM asset_partitions "
                "WHERE asset_key IN (SELECT unnest(?::VARCHAR[])) AND code_version = 'source' "
                "AND data_version <> '' ORDER BY asset_key, partition_key",
                [asset_keys],
            ).fetchall()
        found: dict[str, list[str]] = {}
        for asset, partition in rows:
            found.setdefault(str(asset), []).append(str(partition))
        return found

    def judged_versions(self, asset_keys: list[str]) -> list[Row]:
        """Per asset, check and check version: how many stored partitions that version
        judged last (asset_key, check_name, check_version (None: recorded before
        versions were), partitions)."""
        with self._reading() as con:
            if con is None or not asset_keys:
                return []
            return _rows(
                con,
                f"""
                SELECT l.asset_key, l.check_name, l.check_version, count(*) AS partitions
                FROM ({_LATEST_CHECKS}) l
                JOIN asset_partitions s
                  ON s.asset_key = l.asset_key AND s.partition_key = coalesce(l.partition_key, '')
                WHERE l.asset_key IN (SELECT unnest(?::VARCHAR[]))
                GROUP BY ALL ORDER BY ALL
                """,
                [asset_keys],
            )

    def quarantined(self, *, limit: int = 50) -> tuple[int, list[Quarantined]]:
        """How many journal records could not be indexed, and the first `limit` of
        them, by journal and offset."""
        with self._reading() as con:
            if con is None:
                return 0, []
            row = con.execute("SELECT count(*) FROM quarantine").fetchone()
            rows = _rows(
                con,
                "SELECT journal, byte_offset, reason, line FROM quarantine "
                "ORDER BY journal, byte_offset LIMIT ?",
                [limit],
            )
        return (0 if row is None else int(row[0])), [model(Quarantined, r) for r in rows]


# The latest result of each check on each asset partition.
_LATEST_CHECKS = """
    SELECT * FROM check_results
    QUALIFY row_number() OVER (
        PARTITION BY asset_key, check_name, partition_key
        ORDER BY coalesce(seq, epoch_us(checked_at)) DESC, check_result_id DESC
    ) = 1
"""

# The last step of each (backfill, asset, partition) over the backfill's runs.
_LATEST_BACKFILL_STEPS = """
    SELECT r.backfill_id, s.asset_key, coalesce(s.partition_key, '') AS partition_key,
           s.status, s.attempts, s.error, s.skip_reason, s.run_id, s.started_at, s.finished_at
    FROM steps s JOIN runs r ON r.run_id = s.run_id
    WHERE r.backfill_id IS NOT NULL
    QUALIFY row_number() OVER (
        PARTITION BY r.backfill_id, s.asset_key, s.partition_key
        ORDER BY s.status = 'succeeded' DESC, s.started_at DESC
    ) = 1
"""


def _filters(**equal: str | None) -> tuple[str, list[Any]]:
    """`WHERE a = ? AND b = ?` for the filters given (None: no filter)."""
    given = {column: value for column, value in equal.items() if value is not None}
    if not given:
        return "", []
    return "WHERE " + " AND ".join(f"{column} = ?" for column in given), list(given.values())


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[Row]:
    cursor = con.execute(sql, params or [])
    names = [column[0] for column in cursor.description or ()]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


def _unknown_run(run_id: str, matches: list[Row]) -> UnknownRunError:
    if matches:
        ids = ", ".join(row["run_id"][:12] for row in matches[:5])
        return UnknownRunError(f"run id {run_id!r} matches {len(matches)} runs ({ids}): give more")
    return UnknownRunError(f"no run matches {run_id!r}. Run `assay runs` to list recent runs.")
