"""The `context` an asset function receives when it has a parameter of that name."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from assay.keys import AssetKey

if TYPE_CHECKING:
    from collections.abc import Mapping

    from assay.partitions.time_window import TimeWindow
    from assay.spec import AssetSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetContext:
    """What a step knows about itself.

    Attributes:
        run_id: the id of the run this step belongs to.
        asset_key: the asset being materialized.
        partition_key: the partition being materialized, None when unpartitioned.
        partition_time_window: the partition's `[start, end)` for time partitions
            (for a batch, from the first partition's start to the last one's end).
        partition_keys: every partition this call computes: one, or a batch's
            keys for an asset with `backfill_policy=BatchPolicy(...)`.
        log: a logger whose records are kept with the step (`assay runs show RUN_ID`).
        resources: the resources the step receives, by name (as its parameters do).
        config: the asset's run configuration (its `config` dataclass), or None.
        selected_outputs: for a `@multi_asset(can_subset=True)`, the names of the
            outputs this step computes (return those); every output otherwise.
    """

    run_id: str
    asset_key: AssetKey
    partition_key: str | None
    log: logging.Logger
    partition_time_window: TimeWindow | None = None
    partition_keys: tuple[str, ...] = ()
    resources: Mapping[str, Any] = field(default_factory=dict)
    config: Any = None
    selected_outputs: tuple[str, ...] = ()


def build_context(
    *,
    asset: str | AssetKey | AssetSpec = "asset",
    partition_key: str | None = None,
    partition_keys: tuple[str, ...] | None = None,
    time_window: TimeWindow | None = None,
    resources: Mapping[str, Any] | None = None,
    config: Any = None,
    run_id: str = "test-run",
    selected_outputs: tuple[str, ...] = (),
) -> AssetContext:
    """A `context` to call an asset function with in a test, as a step would. Given
    the asset itself (`asset=daily_revenue`), a time partition's window is filled in.

    >>> context = build_context(partition_key="2024-06-01")
    >>> context.partition_key, context.partition_keys
    ('2024-06-01', ('2024-06-01',))
    """
    if not isinstance(asset, str | AssetKey):  # an AssetSpec: its time window, if any
        definition = asset.partitions
        window_of = getattr(definition, "time_window", None)
        if time_window is None and partition_key is not None and callable(window_of):
            time_window = window_of(definition.index(partition_key))  # type: ignore[union-attr]
        asset = asset.key
    key = asset if isinstance(asset, AssetKey) else AssetKey.parse(asset)
    keys = (
        partition_keys if partition_keys is not None else (partition_key,) if partition_key else ()
    )
    return AssetContext(
        run_id=run_id,
        asset_key=key,
        partition_key=partition_key
        if partition_key is not None
        else (keys[0] if len(keys) == 1 else None),
        partition_keys=tuple(keys),
        partition_time_window=time_window,
        log=logging.getLogger(f"assay.asset.{key}"),
        resources=dict(resources or {}),
        config=config,
        selected_outputs=tuple(selected_outputs),
    )
