"""Queries over the state store. Each call indexes pending journal records first,
then holds the DuckDB file under a shared lock only for the length of the query."""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

from assay.errors import UnknownBackfillError, UnknownRunError
from assay.state.models import (
    AssetSummary,
    CheckLine,
    LogLine,
    Quarantined,
    Run,
    RunDetails,
    RunOverview,
    StateMark,
    Step,
    model,
)
from assay.state.queries import (
    BACKFILL_STATES,
    CHECK_OUTCOME,
    DYNAMIC_KEYS,
    LATEST_BACKFILL_STEPS,
    LATEST_CHECKS,
    RUN_COUNTS,
)
from assay.state.store import StateStore

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from pathlib import Path

    import duckdb
    import numpy as np

    from assay.partitions.keysets import KeySet
    from assay.state.snapshot import PlanningSnapshot

Row = dict[str, Any]
_PLANNING_COLUMNS = (
    "ordinal",
    "idx",
    "started",
    "changed",
    "updated",
    "code_ok",
    "sig_ok",
    "absent",
)


def _empty(name: str) -> np.ndarray:
    import numpy as np

    kind = {"ordinal": np.int64, "idx": np.int64, "code_ok": np.bool_, "sig_ok": np.bool_}
    kind["absent"] = np.bool_
    return np.zeros(0, dtype=kind.get(name, np.float64))


def _key_table(keysets: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """The keysets argument of the column reads, as numpy columns for DuckDB."""
    import numpy as np

    after = keysets.get("after")
    if after is None:
        after = [-1] * len(keysets["idx"])
    return {
        "keyset": np.asarray(keysets["keyset"], dtype=np.int64),
        "partition_key": _texts(keysets["partition_key"]),
        "idx": np.asarray(keysets["idx"], dtype=np.int64),
        # a key removed and added again: what was stored before (by seq) is not
        # its partition any more
        "after": np.asarray(after, dtype=np.int64),
    }


def _table(rows: list[dict[str, Any]], kinds: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Rows as numpy columns DuckDB scans in place (`kinds`: name -> "str", "int" or
    "bool"); a read needs no Arrow, whose import alone costs ~0.05-0.1 s and ~28 MiB."""
    import numpy as np

    types = {"int": np.int64, "bool": np.bool_}
    return {
        name: _texts([row.get(name) for row in rows])
        if kind == "str"
        else np.array([row[name] for row in rows], dtype=types[kind])
        for name, kind in kinds.items()
    }


def _texts(values: Any) -> np.ndarray:
    """Strings (None: NULL) as an object column; DuckDB reads it as VARCHAR."""
    import numpy as np

    column = np.empty(len(values), dtype=object)
    column[:] = list(values)
    return column


_ASSET_COLUMNS = {
    "asset_key": "str",
    "ordinal": "int",
    "keyset": "int",
    "code_version": "str",
    "inputs_signature": "str",
    "is_source": "bool",
}


# Of each asked partition (asset_table, key_table) with an attempt or a blocking check:
# when its latest attempt started; whether that step failed (or its run died) after the
# current materialization; whether the latest result of a blocking check failed on the
# current materialization. Only the few failing partitions are looked up in
# asset_partitions (a join whose build side is them), and no key leaves DuckDB. The
# materialized CTEs fix the join order: DuckDB otherwise joins asset_table and
# key_table first and matches every row on two strings (the read took 2.2 s, not
# 1.3 s, at 10M partitions).
_ATTEMPTS = """
WITH attempts AS MATERIALIZED (
    SELECT t.ordinal, t.keyset, p.asset_key, p.partition_key,
           epoch_us(p.started_at)::DOUBLE AS attempted,
           p.status IN ('failed', 'died') OR (p.status = 'running' AND r.status = 'died')
               AS failed_step
    FROM partition_attempts p JOIN asset_table t ON p.asset_key = t.asset_key
    LEFT JOIN runs r USING (run_id)
    {where}
), checks AS MATERIALIZED (
    SELECT t.ordinal, t.keyset, c.asset_key, c.partition_key,
           list(c.materialization_id)
               FILTER (WHERE NOT c.passed AND c.materialization_id IS NOT NULL) AS failed_on
    FROM (
        SELECT asset_key, coalesce(partition_key, '') AS partition_key, passed,
               materialization_id
        FROM check_results
        WHERE blocking AND asset_key IN (SELECT asset_key FROM asset_table)
        QUALIFY row_number() OVER (
            PARTITION BY asset_key, partition_key, check_name ORDER BY seq DESC
        ) = 1
    ) c JOIN asset_table t ON c.asset_key = t.asset_key
    GROUP BY ALL
), found AS MATERIALIZED (
    SELECT f.ordinal, k.idx, f.asset_key, f.partition_key, f.attempted,
           coalesce(f.failed_step, false) AS failed_step, f.failed_on
    FROM (
        SELECT coalesce(a.ordinal, c.ordinal) AS ordinal,
               coalesce(a.keyset, c.keyset) AS keyset,
               coalesce(a.asset_key, c.asset_key) AS asset_key,
               coalesce(a.partition_key, c.partition_key) AS partition_key,
               a.attempted, a.failed_step, c.failed_on
        FROM attempts a FULL JOIN checks c
            ON a.ordinal = c.ordinal AND a.partition_key = c.partition_key
    ) f
    JOIN key_table k ON k.keyset = f.keyset AND k.partition_key = f.partition_key
), judged AS (
    SELECT f.ordinal, f.idx,
           f.failed_step AND (p.started_seq IS NULL OR f.attempted > p.started_seq) AS failed,
           coalesce(list_contains(f.failed_on, p.materialization_id), false) AS blocked
    FROM (SELECT * FROM found WHERE failed_step OR len(failed_on) > 0) f
    LEFT JOIN asset_partitions p USING (asset_key, partition_key)
)
SELECT f.ordinal, f.idx, coalesce(f.attempted, 'NaN'::DOUBLE) AS attempted,
       coalesce(j.failed, false) AS failed, coalesce(j.blocked, false) AS blocked,
       f.attempted IS NOT NULL AS moved
FROM found f LEFT JOIN judged j USING (ordinal, idx)
"""


class StateReader:
    """Read runs, steps, logs, materializations, checks and backfills.

    Each call first indexes what the journals hold that the store does not yet;
    with `index=False` it reads what is indexed without taking the exclusive lock
    (a UI polling the store never makes a run wait).
    """

    def __init__(self, home: Path, *, index: bool = True, timeout_s: float = 30.0) -> None:
        self.store = StateStore(home)
        self.index = index
        self.timeout_s = timeout_s  # how long a read waits for the store's lock
        self._local = threading.local()  # a held connection is its thread's own

    @property
    def _held(self) -> list[duckdb.DuckDBPyConnection | None]:
        """This thread's held connection (`held`): empty, or one."""
        held: list[duckdb.DuckDBPyConnection | None] | None = getattr(self._local, "held", None)
        if held is None:
            held = self._local.held = []
        return held

    def _reading(self) -> contextlib.AbstractContextManager[duckdb.DuckDBPyConnection | None]:
        if self._held:
            return contextlib.nullcontext(self._held[0])
        return self.store.reading(index=self.index, timeout_s=self.timeout_s)

    @contextlib.contextmanager
    def held(self) -> Iterator[StateReader]:
        """Every read inside the block on one connection (indexed once, under one
        shared lock): a few short reads cost one open of the DuckDB file, not one
        each. Keep the block short: writers wait for it. Inside a held block, another
        is the same block; other threads read as if nothing were held."""
        if self._held:
            yield self
            return
        with self.store.reading(index=self.index, timeout_s=self.timeout_s) as con:
            self._held.append(con)
            try:
                yield self
            finally:
                self._held.clear()
                self._local.snapshot = None

    def planning_snapshot(self) -> PlanningSnapshot | None:
        """The planning snapshot at the store's position (`assay.state.snapshot`: what
        `planning_columns` reads, kept as arrays; made or caught up here when it is
        missing or behind), or None: nothing stored, or a store this assay has not
        migrated yet. Inside `held`, read once."""
        import duckdb

        from assay.state import snapshot

        found: PlanningSnapshot | None = getattr(self._local, "snapshot", None)
        if found is not None and self._held:
            return found
        with self._reading() as con:
            if con is None:
                return None
            try:
                found = snapshot.current(self.store.home, con)
            except duckdb.CatalogException:  # no store_passes yet: not migrated
                return None
        if self._held:
            self._local.snapshot = found
        return found

    def runs(
        self,
        *,
        limit: int = 20,
        offset: int = 0,
        kind: str | None = None,
        status: str | None = None,
        asset: str | None = None,
        trigger: str | None = None,
    ) -> list[Run]:
        """The latest runs, newest first (a page of `limit` after `offset`), of one kind
        or status when given; with a step of `asset`; started by `trigger` (the daemon's
        `schedule`, `sensor` or `automation`: the first part of their run key)."""
        where, params = _filters(kind=kind, status=status)
        more = []
        if asset is not None:
            more.append("run_id IN (SELECT run_id FROM steps WHERE asset_key = ?)")
            params.append(asset)
        if trigger is not None:
            more.append("starts_with(run_key, ?)")
            params.append(f"{trigger}:")
        if more:
            where = (where + " AND " if where else "WHERE ") + " AND ".join(more)
        page = f"SELECT * FROM runs {where} ORDER BY started_at DESC, run_id LIMIT ? OFFSET ?"
        with self._reading() as con:
            if con is None:
                return []
            rows = _rows(
                con,
                RUN_COUNTS.format(page=page) + " ORDER BY started_at DESC, run_id",
                [*params, limit, offset],
            )
        return [model(Run, row) for row in rows]

    def run_details(
        self,
        run_id: str,
        *,
        steps: list[str] | None = None,
        statuses: list[str] | None = None,
    ) -> RunDetails:
        """A run (by id or unique prefix), its steps and their logs; only the steps
        named in `steps` (a step key, `asset[partition]`, or an asset key: all its
        steps) and of `statuses`, when given.

        Raises:
            UnknownRunError: no run, or several, match `run_id`.
        """
        with self._reading() as con:
            run = _one_run(con, run_id)
            assert con is not None
            where, params = _step_filter(steps, statuses)
            found = _rows(
                con,
                f"SELECT * FROM steps WHERE run_id = ? {where} ORDER BY started_at, step_key",
                [run["run_id"], *params],
            )
            keys = [row["step_key"] for row in found]
            logs = _rows(
                con,
                "SELECT * FROM step_logs WHERE run_id = ? "
                "AND step_key IN (SELECT unnest(?::VARCHAR[])) ORDER BY step_key, seq",
                [run["run_id"], keys],
            )
        return RunDetails(
            run=model(Run, run),
            steps=tuple(model(Step, s) for s in found),
            logs=tuple(model(LogLine, line) for line in logs),
        )

    def run_overview(
        self, run_id: str, *, slowest: int = 5, log_lines: int = 50, check_lines: int = 10_000
    ) -> RunOverview:
        """A run (by id or unique prefix) at a glance, whatever its size: see
        `RunOverview`. At most `log_lines` lines per step that did not succeed, and
        `check_lines` check results that did not pass.

        Raises:
            UnknownRunError: no run, or several, match `run_id`.
        """
        with self._reading() as con:
            run = _one_run(con, run_id)
            assert con is not None
            ident = run["run_id"]
            counts = dict(
                con.execute(
                    "SELECT status, count(*) FROM steps WHERE run_id = ? GROUP BY status "
                    "ORDER BY status",
                    [ident],
                ).fetchall()
            )
            slow = _rows(
                con,
                "SELECT * FROM steps WHERE run_id = ? AND finished_at IS NOT NULL "
                "AND started_at IS NOT NULL "
                "ORDER BY finished_at - started_at DESC, step_key LIMIT ?",
                [ident, slowest],
            )
            problems = _rows(
                con,
                "SELECT * FROM steps WHERE run_id = ? AND status <> 'succeeded' "
                "ORDER BY asset_key, partition_key, step_key",
                [ident],
            )
            keys = [row["step_key"] for row in problems if row["status"] != "skipped"]
            logs = _rows(
                con,
                "SELECT * FROM step_logs WHERE run_id = ? "
                "AND step_key IN (SELECT unnest(?::VARCHAR[])) "
                "QUALIFY row_number() OVER (PARTITION BY step_key ORDER BY seq) <= ? "
                "ORDER BY step_key, seq",
                [ident, keys, log_lines],
            )
            bad = _rows(
                con,
                "SELECT * FROM check_results WHERE run_id = ? AND status <> 'passed' "
                "ORDER BY asset_key, check_name, partition_key LIMIT ?",
                [ident, check_lines],
            )
            assets = sorted({row["asset_key"] for row in [*problems, *bad]})
            partitions = {
                asset: tuple(found or ())
                for asset, found in con.execute(
                    "SELECT asset_key, list(DISTINCT partition_key ORDER BY partition_key) "
                    "FROM (SELECT asset_key, partition_key FROM steps WHERE run_id = $1 "
                    "UNION ALL SELECT asset_key, partition_key FROM check_results "
                    "WHERE run_id = $1) WHERE asset_key IN (SELECT unnest($2::VARCHAR[])) "
                    "AND partition_key IS NOT NULL GROUP BY asset_key",
                    [ident, assets],
                ).fetchall()
            }
            checks: dict[str, dict[str, int]] = {}
            for asset, outcome, count in con.execute(
                f"SELECT asset_key, {CHECK_OUTCOME}, count(*) FROM check_results WHERE run_id = ? "
                "GROUP BY ALL ORDER BY ALL",
                [ident],
            ).fetchall():
                checks.setdefault(asset, {})[outcome] = int(count)
        return RunOverview(
            run=model(Run, run),
            counts=counts,
            slowest=tuple(model(Step, s) for s in slow),
            problems=tuple(model(Step, s) for s in problems),
            logs=tuple(model(LogLine, line) for line in logs),
            partitions=partitions,
            checks=checks,
            check_problems=tuple(model(CheckLine, row) for row in bad),
        )

    def current_versions(self, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], str]:
        """The data version of each wanted (asset, partition key) that is stored ('' =
        unpartitioned)."""
        with self._reading() as con:
            if con is None or not wanted:
                return {}
            pairs = {  # noqa: F841 (read by DuckDB)
                "asset_key": _texts([a for a, _ in wanted]),
                "partition_key": _texts([p for _, p in wanted]),
            }
            rows = con.execute(
                "SELECT s.asset_key, s.partition_key, s.data_version FROM asset_partitions s "
                "JOIN pairs w ON s.asset_key = w.asset_key AND s.partition_key = w.partition_key"
            ).fetchall()
        return {(asset, partition): version for asset, partition, version in rows}

    def planning_columns(
        self,
        assets: list[dict[str, Any]],
        keysets: Mapping[str, Any],
        *,
        since_seq: int | None = None,
    ) -> dict[str, np.ndarray]:
        """The stored state of every known asset partition as numeric columns.

        `assets` rows: asset_key, ordinal, keyset, code_version, inputs_signature
        (the current ones), is_source. `keysets` columns: keyset, partition_key, idx.
        Stored partitions whose key is not in their asset's keyset are left out.
        Columns (in no particular order): ordinal, idx, started, changed and updated
        (on the state home's clock, `seq`: before the materialization read its inputs;
        when its data version last changed; when it was recorded), code_ok and sig_ok
        (stored equals current), absent (a source partition last observed absent: an
        empty data version). `since_seq`: only the partitions recorded after it.
        """
        empty = {name: _empty(name) for name in _PLANNING_COLUMNS}
        if not assets:
            return empty
        asset_table = _table(assets, _ASSET_COLUMNS)  # noqa: F841 (read by DuckDB)
        key_table = _key_table(keysets)  # noqa: F841 (read by DuckDB)
        with self._reading() as con:
            if con is None:
                return empty
            # The CTE fixes the join order: DuckDB otherwise joins the two small
            # tables first and matches 3.65M rows on two columns (4x slower).
            found = con.execute(
                f"""
                WITH stored AS MATERIALIZED (
                    SELECT a.ordinal, a.keyset, s.partition_key,
                           s.started_seq::DOUBLE AS started,
                           s.changed_seq::DOUBLE AS changed,
                           s.seq::DOUBLE AS updated,
                           coalesce(s.code_version = a.code_version, false) AS code_ok,
                           coalesce(s.inputs_signature = a.inputs_signature, false) AS sig_ok,
                           coalesce(a.is_source AND s.data_version = '', false) AS absent
                    FROM asset_partitions s JOIN asset_table a ON s.asset_key = a.asset_key
                    {"" if since_seq is None else "WHERE s.seq > $since"}
                )
                SELECT s.ordinal, k.idx, s.started, s.changed, s.updated, s.code_ok, s.sig_ok,
                       s.absent
                FROM stored s
                JOIN key_table k ON k.partition_key = s.partition_key AND k.keyset = s.keyset
                                AND s.updated > k.after
                """,
                None if since_seq is None else {"since": since_seq},
            ).fetchnumpy()
        return {name: found[name] for name in _PLANNING_COLUMNS}

    def attempt_columns(
        self, assets: list[dict[str, Any]], keysets: Mapping[str, Any], since: int | None = None
    ) -> dict[str, np.ndarray]:
        """What declarative automation needs besides `planning_columns`, for the asset
        partitions that have any (same arguments): ordinal, idx, attempted (epoch
        microseconds when its latest step started, NaN: never), failed (that step
        failed, or its run died, after its current materialization) and blocked (a
        blocking check failed on its current materialization, at its latest result).

        `since` (a `partition_attempts.seq`, a mark of `changed_assets`): only the
        attempts that moved after it are read, and `moved` tells their rows from those
        of partitions with a blocking check (read whole), whose `attempted` and
        `failed` are not known then (`Attempts.laid_over`).

        Whether a failure is about the current materialization is looked up in
        `asset_partitions` only for the partitions with a failed step or check (a
        few), and the rows come back as numbers only: at 10M partitions, the keys and
        lists of every row made into Python objects cost seconds.
        """
        import numpy as np

        names = ("ordinal", "idx", "attempted", "failed", "blocked", "moved")
        kinds = {"ordinal": np.int64, "idx": np.int64, "attempted": np.float64}
        empty = {n: np.zeros(0, dtype=kinds.get(n, np.bool_)) for n in names}
        if not assets:
            return empty
        asset_table = _table(  # noqa: F841 (read by DuckDB)
            assets, {"asset_key": "str", "ordinal": "int", "keyset": "int"}
        )
        key_table = _key_table(keysets)  # noqa: F841 (read by DuckDB)
        with self._reading() as con:
            if con is None:
                return empty
            found = con.execute(
                _ATTEMPTS.format(where="" if since is None else "WHERE p.seq > $since"),
                None if since is None else {"since": since},
            ).fetchnumpy()
        return {
            "ordinal": np.asarray(found["ordinal"], dtype=np.int64),
            "idx": np.asarray(found["idx"], dtype=np.int64),
            "attempted": np.asarray(found["attempted"], dtype=np.float64),
            "failed": np.asarray(found["failed"], dtype=np.bool_),
            "blocked": np.asarray(found["blocked"], dtype=np.bool_),
            "moved": np.asarray(found["moved"], dtype=np.bool_),
        }

    def changed_assets(self, since_seq: int, since_attempt: int) -> tuple[set[str], int, int]:
        """Assets with records after `since_seq` (materialized, observed, checked) or
        whose latest attempt moved after `since_attempt` (a step started, finished or
        died: `partition_attempts.seq`); and the new marks (0, 0: everything)."""
        with self._reading() as con:
            if con is None:
                return set(), since_seq, since_attempt
            rows = con.execute(
                """
                SELECT asset_key, max(seq)::BIGINT, NULL::BIGINT FROM asset_partitions
                WHERE seq > ? GROUP BY asset_key
                UNION ALL
                SELECT asset_key, max(seq)::BIGINT, NULL FROM check_results
                WHERE seq > ? GROUP BY asset_key
                UNION ALL
                SELECT asset_key, NULL, max(seq)::BIGINT FROM partition_attempts
                WHERE seq > ? GROUP BY asset_key
                """,
                [since_seq, since_seq, since_attempt],
            ).fetchall()
        seq = max([since_seq, *(int(r[1]) for r in rows if r[1] is not None)])
        attempt = max([since_attempt, *(int(r[2]) for r in rows if r[2] is not None)])
        return {str(r[0]) for r in rows}, seq, attempt

    def state_mark(self, asset_keys: list[str]) -> StateMark:
        """Where the stored state of these assets stands: the latest `seq` of their
        current asset partitions and how many there are (a plan made against it is
        out of date once either moved)."""
        held = getattr(self._local, "snapshot", None) if self._held else None
        if held is not None:  # a plan's: the same numbers, without a scan of the table
            seq, rows = held.mark(asset_keys)
            return StateMark(seq=seq, rows=rows)
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

    def dynamic_partition_keys(self, names: list[str]) -> dict[str, tuple[str, ...]]:
        """The current keys of each dynamic partitions definition in `names`, in the
        order they were added: a key counts from its first addition after its last
        removal (adding a key twice changes nothing; removed, then added, it is last)."""
        return {name: found.keys for name, found in self.dynamic_key_sets(names).items()}

    def dynamic_key_sets(self, names: list[str]) -> dict[str, KeySet]:
        """`dynamic_partition_keys`, each with when its keys that were removed and added
        again were last removed (what was stored of them before does not count)."""
        import duckdb

        from assay.partitions.keysets import KeySet

        with self._reading() as con:
            if con is None or not names:
                return {}
            try:
                rows = con.execute(DYNAMIC_KEYS, [names]).fetchall()
            except duckdb.CatalogException:  # a store from before dynamic partitions
                return {}
        found: dict[str, list[str]] = {name: [] for name in names}
        removed: dict[str, dict[str, int]] = {name: {} for name in names}
        for name, key, removed_at in rows:
            found[name].append(key)
            if removed_at is not None and removed_at >= 0:
                removed[name][key] = int(removed_at)
        return {name: KeySet(tuple(found[name]), removed[name]) for name in names}

    def stored_configs(self, asset_key: str) -> dict[str, str | None]:
        """The configuration (JSON) each stored partition was materialized with."""
        with self._reading() as con:
            if con is None:
                return {}
            rows = con.execute(
                "SELECT s.partition_key, m.config FROM asset_partitions s "
                "JOIN materializations m ON m.materialization_id = s.materialization_id "
                "WHERE s.asset_key = ?",
                [asset_key],
            ).fetchall()
        return {str(k): c for k, c in rows}

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

    def asset_summaries(self) -> dict[str, AssetSummary]:
        """Per asset: its last materialization, the last run with a step for it (and
        how its steps went there), and the latest result of each check on each
        partition (`checks`: rows of `check_results`), read in one pass."""
        with self._reading() as con:
            if con is None:
                return {}
            checks: dict[str, list[Row]] = {}
            order = "ORDER BY asset_key, check_name, partition_key"
            for row in _rows(con, f"SELECT * FROM ({LATEST_CHECKS}) {order}"):
                checks.setdefault(row["asset_key"], []).append(row)
            rows = _rows(
                con,
                """
                WITH last_run AS (
                    SELECT asset_key, arg_max(run_id, started_at) AS run_id
                    FROM steps GROUP BY asset_key
                ), last_steps AS (
                    SELECT s.asset_key, s.run_id, count(*) AS steps,
                           count(*) FILTER (WHERE s.status = 'succeeded') AS succeeded,
                           count(*) FILTER (WHERE s.status IN ('failed', 'died')) AS failed,
                           count(*) FILTER (WHERE s.status = 'skipped') AS skipped
                    FROM steps s JOIN last_run l USING (asset_key, run_id)
                    GROUP BY s.asset_key, s.run_id
                ), last_mat AS (
                    SELECT asset_key, max(finished_at) AS materialized_at,
                           count(*) AS materialization_count
                    FROM materializations GROUP BY asset_key
                )
                SELECT coalesce(l.asset_key, m.asset_key) AS asset_key,
                       m.materialized_at, m.materialization_count,
                       r.run_id AS last_run_id, r.kind AS last_run_kind,
                       r.status AS last_run_status,
                       coalesce(r.finished_at, r.started_at) AS last_run_at,
                       l.steps AS last_run_steps, l.succeeded AS last_run_succeeded,
                       l.failed AS last_run_failed, l.skipped AS last_run_skipped
                FROM last_steps l
                FULL OUTER JOIN last_mat m ON l.asset_key = m.asset_key
                LEFT JOIN runs r ON r.run_id = l.run_id
                """,
            )
        found = {row["asset_key"]: row for row in rows}
        for key in checks:
            found.setdefault(key, {"asset_key": key})
        return {
            key: model(AssetSummary, row | {"checks": tuple(checks.get(key, ()))})
            for key, row in found.items()
        }

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
                SELECT * FROM ({BACKFILL_STATES}) b
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
                f"SELECT * EXCLUDE (backfill_id) FROM ({LATEST_BACKFILL_STEPS}) "
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

    def last_attempts(self, wanted: list[tuple[str, str]]) -> dict[tuple[str, str], Step]:
        """The latest step of each wanted (asset, partition key ('' = unpartitioned)) in
        any run, whatever its status: what `assay why` says of a partition whose last
        attempt failed or was skipped."""
        with self._reading() as con:
            if con is None or not wanted:
                return {}
            rows = _rows(
                con,
                """
                WITH wanted AS (
                    SELECT unnest(?::VARCHAR[]) AS asset_key, unnest(?::VARCHAR[]) AS pk
                )
                SELECT s.* FROM steps s JOIN runs r USING (run_id)
                JOIN wanted w ON w.asset_key = s.asset_key AND w.pk = coalesce(s.partition_key, '')
                QUALIFY row_number() OVER (
                    PARTITION BY s.asset_key, w.pk
                    ORDER BY coalesce(s.started_at, s.finished_at, r.started_at) DESC NULLS LAST,
                             s.run_id DESC
                ) = 1
                """,
                [[a for a, _ in wanted], [p for _, p in wanted]],
            )
        return {(row["asset_key"], row["partition_key"] or ""): model(Step, row) for row in rows}

    def recent_materializations(self, asset_key: str, *, limit: int = 20) -> list[Row]:
        """The asset's latest materializations, newest first (any partition): when,
        by which run, rows, bytes, data and code versions."""
        with self._reading() as con:
            if con is None:
                return []
            return _rows(
                con,
                "SELECT materialization_id, run_id, partition_key, started_at, finished_at, "
                "row_count, byte_size, data_version, code_version, location "
                "FROM materializations WHERE asset_key = ? "
                "ORDER BY finished_at DESC NULLS LAST, materialization_id LIMIT ?",
                [asset_key, limit],
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
                f"SELECT * FROM ({LATEST_CHECKS}) {where} "
                "ORDER BY asset_key, check_name, partition_key",
                params,
            )

    def check_summaries(self) -> list[Row]:
        """Per asset and check, over the latest result on each partition: severity,
        blocking, how many partitions passed, warned, failed and errored, the keys of
        those that did not pass (`bad`, in key order) and the latest problem said."""
        with self._reading() as con:
            if con is None:
                return []
            return _rows(
                con,
                f"""
                SELECT asset_key, check_name, any_value(severity) AS severity,
                       bool_or(blocking) AS blocking,
                       count(*) FILTER (WHERE outcome = 'passed') AS passed,
                       count(*) FILTER (WHERE outcome = 'warned') AS warned,
                       count(*) FILTER (WHERE outcome = 'failed') AS failed,
                       count(*) FILTER (WHERE outcome = 'errored') AS errored,
                       list(coalesce(partition_key, '') ORDER BY partition_key)
                           FILTER (WHERE outcome <> 'passed') AS bad,
                       max(checked_at) AS checked_at,
                       arg_max(coalesce(error, description), checked_at)
                           FILTER (WHERE outcome <> 'passed') AS problem
                FROM (SELECT *, {CHECK_OUTCOME} AS outcome FROM ({LATEST_CHECKS}))
                GROUP BY asset_key, check_name ORDER BY asset_key, check_name
                """,
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
                FROM ({LATEST_CHECKS}) l
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


def _one_run(con: duckdb.DuckDBPyConnection | None, run_id: str) -> Row:
    """The run `run_id` (an id or a unique prefix) with its counts.

    Raises:
        UnknownRunError: no run, or several, match.
    """
    page = "SELECT * FROM runs WHERE starts_with(run_id, ?)"
    matches = [] if con is None else _rows(con, RUN_COUNTS.format(page=page), [run_id])
    if len(matches) != 1:
        raise _unknown_run(run_id, sorted(matches, key=lambda r: str(r["started_at"])))
    return matches[0]


def _step_filter(steps: list[str] | None, statuses: list[str] | None) -> tuple[str, list[Any]]:
    """`AND ...` for steps named (by step key or asset key) and of given statuses."""
    where, params = "", []
    if steps is not None:
        where += (
            " AND (step_key IN (SELECT unnest(?::VARCHAR[])) "
            "OR asset_key IN (SELECT unnest(?::VARCHAR[])))"
        )
        params += [steps, steps]
    if statuses is not None:
        where += " AND status IN (SELECT unnest(?::VARCHAR[]))"
        params.append(statuses)
    return where, params


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
