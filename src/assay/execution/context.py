"""The `context` an asset function receives when it has a parameter of that name."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

    from assay.keys import AssetKey
    from assay.partitions.time_window import TimeWindow


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
    """

    run_id: str
    asset_key: AssetKey
    partition_key: str | None
    log: logging.Logger
    partition_time_window: TimeWindow | None = None
    partition_keys: tuple[str, ...] = ()
