"""Exploring recorded lineage from notebooks and the CLI, as polars frames.

`Lineage` reads what really ran: the OpenLineage events the state store holds,
including datasets and assets no longer in the definitions. Every call opens
the store read-only under a shared lock (after indexing pending journal
records) and closes it before returning, so a notebook never blocks a run.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.config import resolve_config
from assay.errors import UnknownAssetError, did_you_mean
from assay.lineage.compact import full_json
from assay.state.store import StateStore

if TYPE_CHECKING:
    import os

    import polars as pl

_DIRECTIONS = ("upstream", "downstream")


def open(home: str | os.PathLike[str] | None = None) -> Lineage:
    """The lineage of the project around the working directory, or of the state
    home `home` (the `.assay` folder).

    Example:
        >>> import assay.lineage
        >>> lineage = assay.lineage.open()  # doctest: +SKIP
        >>> lineage.upstream("revenue")  # doctest: +SKIP
    """
    if home is None:
        return Lineage(resolve_config().home)
    return Lineage(Path(home).resolve())


@dataclass(frozen=True, slots=True)
class Edge:
    """One step of the lineage graph: data of `source` went into `target`, by `job`."""

    source: str
    target: str
    job: str
    source_dataset: tuple[str, str]
    target_dataset: tuple[str, str]


class Lineage:
    """The lineage recorded in one state store. Methods return polars frames."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._store = StateStore(home)

    def __repr__(self) -> str:
        return f"Lineage({str(self.home)!r})"

    def sql(self, query: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run a read-only query on the state store: the `lineage_events` table and the
        `lineage_runs`, `lineage_jobs`, `lineage_datasets`, `lineage_io`,
        `lineage_edges` and `lineage_dataset_versions` views (and every other table).
        It runs on a connection of its own: what it sets or attaches ends with it."""
        import polars as pl

        with self._store.reading(private=True) as con:
            if con is None:
                return pl.DataFrame()
            relation = con.sql(query, params=params or None)
            if relation is None:
                return pl.DataFrame()
            frame: pl.DataFrame = relation.pl()
            return frame

    def events(
        self, *, asset: str | None = None, run_id: str | None = None, limit: int | None = None
    ) -> pl.DataFrame:
        """Recorded events, oldest first: their columns and the event JSON (`event`),
        whole (as it was sent). `run_id` is an assay run's id or an OpenLineage run's."""
        where, params = ["TRUE"], []
        if asset is not None:
            where.append("asset_key = ?")
            params.append(asset)
        if run_id is not None:
            where.append("(run_id = ? OR ol_run_id = ?)")
            params += [run_id, run_id]
        query = (
            "SELECT event_time, event_type, kind, job_namespace, job_name, asset_key, "
            "partition_key, ol_run_id, parent_run_id, run_id AS assay_run_id, "
            f"event::VARCHAR AS event FROM lineage_events WHERE {' AND '.join(where)} "
            "ORDER BY event_time, event_type <> 'START'"
        )
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        frame = self._frame(query, params)
        if frame.is_empty():
            return frame
        import polars as pl

        # the store keeps events compact (`compact`): given back whole
        whole = [full_json(text) for text in frame["event"]]
        return frame.with_columns(pl.Series("event", whole, dtype=pl.String))

    def runs(self, asset: str | None = None, *, kind: str | None = None) -> pl.DataFrame:
        """OpenLineage runs, newest first: job, state (COMPLETE, FAIL, ABORT or RUNNING),
        start, end, duration and error. `kind` is asset, check or run."""
        where, params = ["TRUE"], []
        if asset is not None:
            where.append("asset_key = ?")
            params.append(asset)
        if kind is not None:
            where.append("kind = ?")
            params.append(kind)
        return self._frame(
            f"SELECT * FROM lineage_runs WHERE {' AND '.join(where)} "
            "ORDER BY started_at DESC NULLS LAST",
            params,
        )

    def versions(self, asset: str, partition: str | None = None) -> pl.DataFrame:
        """Every data version recorded for an asset (or one partition), oldest first:
        what each run wrote, or each observation saw."""
        self._known(asset)
        query = "SELECT * FROM lineage_dataset_versions WHERE asset_key = ?"
        params: list[Any] = [asset]
        if partition is not None:
            query += " AND partition_key = ?"
            params.append(partition)
        return self._frame(query + " ORDER BY recorded_at, partition_key", params)

    def checks(self, asset: str | None = None) -> pl.DataFrame:
        """One row per assertion of every check run, newest first: asset, partition,
        check, assertion, column, severity, success and the data version judged."""
        import polars as pl

        where, params = "kind = 'check' AND event_type <> 'START'", []
        if asset is not None:
            where += " AND asset_key = ?"
            params.append(asset)
        rows = []
        for row in self._frame(
            "SELECT event_time, asset_key, partition_key, ol_run_id, event_type, "
            f"event::VARCHAR AS event FROM lineage_events WHERE {where} "
            "ORDER BY event_time DESC",
            params,
        ).iter_rows(named=True):
            event = json.loads(row["event"])
            for dataset in event.get("inputs", []):
                version = dataset.get("facets", {}).get("version", {}).get("datasetVersion")
                quality = dataset.get("inputFacets", {}).get("dataQualityAssertions", {})
                for item in quality.get("assertions", []):
                    rows.append(
                        {
                            "checked_at": row["event_time"],
                            "asset_key": row["asset_key"],
                            "partition_key": row["partition_key"],
                            "check": item.get("name", item["assertion"]),
                            "assertion": item["assertion"],
                            "column": item.get("column"),
                            "severity": item.get("severity"),
                            "success": item["success"],
                            "data_version": version,
                            "run_id": row["ol_run_id"],
                        }
                    )
        if not rows:
            return pl.DataFrame(schema=dict.fromkeys(_CHECK_COLUMNS, pl.String))
        return pl.DataFrame(rows)

    def datasets(self) -> pl.DataFrame:
        """Every dataset seen: physical name, asset key, first and last seen."""
        return self._frame("SELECT * FROM lineage_datasets ORDER BY asset_key, name", [])

    def jobs(self) -> pl.DataFrame:
        """Every job: runs, last state, last start."""
        return self._frame("SELECT * FROM lineage_jobs ORDER BY job_name", [])

    def edges(self) -> list[Edge]:
        """The lineage graph as recorded: one edge per (input, output, job) seen in a run."""
        return [
            Edge(
                source=_label(row["from_asset"], row["from_name"]),
                target=_label(row["to_asset"], row["to_name"]),
                job=row["job_name"],
                source_dataset=(row["from_namespace"], row["from_name"]),
                target_dataset=(row["to_namespace"], row["to_name"]),
            )
            for row in self._frame(
                "SELECT * FROM lineage_edges ORDER BY from_asset, to_asset", []
            ).iter_rows(named=True)
        ]

    def upstream(self, asset: str, depth: int | None = None) -> pl.DataFrame:
        """What `asset` was built from, transitively (or `depth` levels): one row per
        dataset with its depth and the dataset one level closer (`via`)."""
        return self._walk(asset, "upstream", depth)

    def downstream(self, asset: str, depth: int | None = None) -> pl.DataFrame:
        """What was built from `asset`, transitively (or `depth` levels)."""
        return self._walk(asset, "downstream", depth)

    def walk(self, asset: str, direction: str, depth: int | None = None) -> list[dict[str, Any]]:
        """`upstream` or `downstream` as rows, in breadth-first order."""
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction is 'upstream' or 'downstream', not {direction!r}")
        if depth is not None and depth < 1:
            raise ValueError(f"depth is 1 or more, got {depth}")
        edges = self.edges()
        self._known(asset, edges)
        forward = direction == "downstream"
        neighbours: dict[str, list[Edge]] = {}
        for edge in edges:
            neighbours.setdefault(edge.source if forward else edge.target, []).append(edge)
        rows: list[dict[str, Any]] = []
        seen = {asset}
        queue = deque([(asset, 0)])
        while queue:
            node, level = queue.popleft()
            if depth is not None and level >= depth:
                continue
            for edge in neighbours.get(node, []):
                found = edge.target if forward else edge.source
                dataset = edge.target_dataset if forward else edge.source_dataset
                if found in seen:
                    continue
                seen.add(found)
                rows.append(
                    {
                        "asset": found,
                        "depth": level + 1,
                        "via": node,
                        "job": edge.job,
                        "namespace": dataset[0],
                        "name": dataset[1],
                    }
                )
                queue.append((found, level + 1))
        return rows

    def _walk(self, asset: str, direction: str, depth: int | None) -> pl.DataFrame:
        import polars as pl

        schema = {name: pl.Int64 if name == "depth" else pl.String for name in _WALK_COLUMNS}
        return pl.DataFrame(self.walk(asset, direction, depth), schema=schema)

    def _known(self, asset: str, edges: list[Edge] | None = None) -> None:
        """Raise unless `asset` appears in the recorded lineage."""
        names = {
            _label(row["asset_key"], row["name"])
            for row in self._frame("SELECT asset_key, name FROM lineage_datasets", []).iter_rows(
                named=True
            )
        }
        for edge in edges or ():
            names |= {edge.source, edge.target}
        if asset in names:
            return
        if not names:
            raise UnknownAssetError(
                f"no lineage is recorded in {self.home} yet: materialize something first "
                "(`assay materialize`)"
            )
        raise UnknownAssetError(
            f"no lineage recorded for {asset!r}: lineage holds what ran, so materialize it "
            f"first.{did_you_mean(asset, names)}"
        )

    def _frame(self, query: str, params: list[Any]) -> pl.DataFrame:
        import polars as pl

        with self._store.reading() as con:
            if con is None:
                return pl.DataFrame()
            exists = con.execute(
                "SELECT count(*) FROM information_schema.tables "
                "WHERE table_catalog = current_database() AND table_name = 'lineage_events'"
            ).fetchall()[0][0]
            if not exists:
                return pl.DataFrame()
            frame: pl.DataFrame = con.sql(query, params=params).pl()
            return frame


def _label(asset_key: str | None, name: str) -> str:
    """A dataset as people name it: its asset key, else its physical name."""
    return asset_key or name


_WALK_COLUMNS = ("asset", "depth", "via", "job", "namespace", "name")
_CHECK_COLUMNS = (
    "checked_at",
    "asset_key",
    "partition_key",
    "check",
    "assertion",
    "column",
    "severity",
    "success",
    "data_version",
    "run_id",
)
