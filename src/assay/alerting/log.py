"""`assay alerts log`: the recent deliveries, one row per event and target, from the
state store (what runs and `assay alerts send` journaled)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.state.store import StateStore

if TYPE_CHECKING:
    from pathlib import Path

_COLUMNS = (
    "target",
    "target_kind",
    "event_key",
    "event_kind",
    "subject",
    "run_id",
    "status",
    "attempts",
    "error",
    "first_at",
    "last_at",
)


def delivery_log(
    home: Path,
    *,
    limit: int = 20,
    target: str | None = None,
    run_id: str | None = None,
    index: bool = True,
    timeout_s: float = 30.0,
) -> list[dict[str, Any]]:
    """The latest deliveries, newest first: their status is `sent` once any attempt
    was, `pending` before any attempt, else `failed` (with the last reason). With
    `index` False, what is indexed (see `StateStore.reading`)."""
    with StateStore(home).reading(index=index, timeout_s=timeout_s) as con:
        if con is None:
            return []
        rows = con.execute(
            """
            SELECT target, any_value(target_kind), event_key, any_value(event_kind),
                   any_value(subject), any_value(run_id),
                   CASE WHEN bool_or(status = 'sent') THEN 'sent'
                        WHEN bool_and(status = 'pending') THEN 'pending'
                        ELSE 'failed' END AS state,
                   count(*) FILTER (WHERE attempt > 0) AS attempts,
                   CASE WHEN NOT bool_or(status = 'sent')
                        THEN arg_max(error, recorded_at) FILTER (WHERE status = 'failed')
                   END AS error,
                   min(recorded_at), max(recorded_at) AS last_at
            FROM alert_deliveries
            WHERE (?::VARCHAR IS NULL OR target = ?)
              AND (?::VARCHAR IS NULL OR starts_with(run_id, ?))
            GROUP BY target, event_key
            ORDER BY last_at DESC, event_key, target
            LIMIT ?
            """,
            [target, target, run_id, run_id, limit],
        ).fetchall()
    return [dict(zip(_COLUMNS, row, strict=True)) for row in rows]
