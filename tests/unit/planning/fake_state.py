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


@dataclass
class FakeState:
    """`store(asset, keys, started=, changed=, code=, signature=)` what was materialized."""

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
    ) -> None:
        """Record `keys` of `asset` ('' for unpartitioned) as materialized: their
        materializations started at `started` (before reading inputs) and their data
        last changed at `changed` (default: when they started)."""
        n = len(keys)
        start = np.broadcast_to(np.asarray(started, dtype=np.float64), (n,)).copy()
        change = start if changed is None else np.broadcast_to(np.asarray(changed, float), (n,))
        self.assets[asset] = _Stored(
            keys=list(keys),
            started=start,
            changed=np.asarray(change, dtype=np.float64).copy(),
            code=[code] * n,
            signature=[signature] * n,
        )

    def planning_columns(
        self, assets: list[dict[str, Any]], keysets: dict[str, Any]
    ) -> dict[str, np.ndarray]:
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
                    }
                ).with_columns(
                    ordinal=pl.lit(asset["ordinal"], pl.Int64),
                    keyset=pl.lit(asset["keyset"], pl.Int64),
                )
            )
        names = ("ordinal", "idx", "started", "changed", "code_ok", "sig_ok")
        if not frames:
            kinds = {"ordinal": np.int64, "idx": np.int64, "code_ok": np.bool_, "sig_ok": np.bool_}
            return {name: np.zeros(0, dtype=kinds.get(name, np.float64)) for name in names}
        found = pl.concat(frames).join(keys, on=["keyset", "partition_key"])
        return {name: found.get_column(name).to_numpy() for name in names}

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
