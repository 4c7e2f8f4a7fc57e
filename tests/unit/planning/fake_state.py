"""A stored state made of arrays, for the planner (`assay.planning.source.PlanningState`):
what a test says was materialized, and when on the state's clock, without DuckDB."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from assay.state.models import StateMark


@dataclass
class _Stored:
    keys: list[str]
    started: np.ndarray
    changed: np.ndarray
    code: list[str | None]
    signature: list[str | None]
    absent: np.ndarray
    reads: dict[str, np.ndarray]


@dataclass
class FakeState:
    """`store(asset, keys, started=, changed=, code=, signature=, absent=, reads=)` what
    was materialized (or observed)."""

    assets: dict[str, _Stored] = field(default_factory=dict)

    def store(
        self,
        asset: str,
        keys: list[str],
        *,
        started: float | np.ndarray,
        changed: float | np.ndarray | None = None,
        code: str | None = None,
        signature: str | None = None,
        absent: bool | list[bool] = False,
        reads: dict[str, float | list[float]] | None = None,
    ) -> None:
        """Record `keys` of `asset` ('' for unpartitioned) as materialized: their
        materializations started at `started` (before reading inputs) and their data
        last changed at `changed` (default: when they started). For a source,
        `absent` marks partitions last observed absent; `reads` says, per upstream,
        how many of its partitions each materialization read (its provenance)."""
        n = len(keys)
        start = np.broadcast_to(np.asarray(started, dtype=np.float64), (n,)).copy()
        change = start if changed is None else np.broadcast_to(np.asarray(changed, float), (n,))
        self.assets[asset] = _Stored(
            keys=list(keys),
            started=start,
            changed=np.asarray(change, dtype=np.float64).copy(),
            code=[code] * n,
            signature=[signature] * n,
            absent=np.broadcast_to(np.asarray(absent, dtype=bool), (n,)).copy(),
            reads={
                up: np.broadcast_to(np.asarray(c, dtype=np.float64), (n,)).copy()
                for up, c in (reads or {}).items()
            },
        )

    def planning_columns(
        self, assets: list[dict[str, Any]], keysets: dict[str, Any], *, since_seq: int | None = None
    ) -> dict[str, np.ndarray]:
        """(`since_seq`: the partitions whose materialization started after it: here a
        partition is recorded when it starts.)"""
        keys = pl.DataFrame(
            {
                "keyset": keysets["keyset"],
                "partition_key": pl.Series(keysets["partition_key"], dtype=pl.String),
                "idx": keysets["idx"],
            }
        )
        frames = []
        for asset in assets:
            stored = self.assets.get(asset["asset_key"])
            if stored is None:
                continue
            code_ok = [c is None or c == asset["code_version"] for c in stored.code]
            sig_ok = [g is None or g == asset["inputs_signature"] for g in stored.signature]
            frames.append(
                pl.DataFrame(
                    {
                        "partition_key": pl.Series(stored.keys, dtype=pl.String),
                        "started": stored.started,
                        "changed": stored.changed,
                        "code_ok": code_ok,
                        "sig_ok": sig_ok,
                        "absent": stored.absent & asset["is_source"],
                    }
                ).with_columns(
                    ordinal=pl.lit(asset["ordinal"], pl.Int64),
                    keyset=pl.lit(asset["keyset"], pl.Int64),
                )
            )
        names = ("ordinal", "idx", "started", "changed", "code_ok", "sig_ok", "absent")
        if not frames:
            kinds = {"ordinal": np.int64, "idx": np.int64, "code_ok": np.bool_, "sig_ok": np.bool_}
            kinds["absent"] = np.bool_
            return {name: np.zeros(0, dtype=kinds.get(name, np.float64)) for name in names}
        found = pl.concat(frames).join(keys, on=["keyset", "partition_key"])
        if since_seq is not None:
            found = found.filter(pl.col("started") > since_seq)
        return {name: found.get_column(name).to_numpy() for name in names}

    def stored_counts(self, asset_keys: list[str]) -> dict[str, int]:
        return {k: len(self.assets[k].keys) for k in asset_keys if k in self.assets}

    def read_counts(self, asset_key: str, upstream_key: str) -> tuple[list[str], np.ndarray]:
        stored = self.assets.get(asset_key)
        if stored is None:
            return [], np.zeros(0)
        counts = stored.reads.get(upstream_key, np.full(len(stored.keys), np.nan))
        return list(stored.keys), counts

    def stored_versions(self, asset_key: str) -> list[tuple[str, str | None, str | None]]:
        stored = self.assets.get(asset_key)
        if stored is None:
            return []
        return list(zip(stored.keys, stored.code, stored.signature, strict=True))

    def state_mark(self, asset_keys: list[str]) -> StateMark:
        found = [self.assets[k] for k in asset_keys if k in self.assets]
        rows = sum(len(s.keys) for s in found)
        seq = max((int(s.started.max()) for s in found if len(s.keys)), default=0)
        return StateMark(seq=seq, rows=rows)
