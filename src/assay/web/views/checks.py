"""`/checks`: the latest result of every check, per asset, with the partition ranges
where it fails or warns."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.web.views.common import partition_keys, ui_of

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

RANGES_SHOWN = 6


def checks_page(request: Request) -> Response:
    from assay.keys import AssetKey

    ui = ui_of(request)
    graph = ui.project.graph
    health = ui.health()
    found = ui.reads.get(("check_summaries",), lambda r: r.check_summaries())
    status = request.query_params.get("status", "")
    rows = []
    keys_of: dict[str, list[str]] = {}
    for row in found.value:
        key = AssetKey.parse(row["asset_key"])
        spec = graph.specs.get(key)
        if row["asset_key"] not in keys_of:
            keys_of[row["asset_key"]] = (
                partition_keys(spec.partitions, health.context)
                if spec is not None and health is not None
                else []
            )
        outcome = _worst(row)
        if status and outcome != status:
            continue
        rows.append(
            {
                **row,
                "outcome": outcome,
                "bad_text": fold_partitions(row["bad"] or [], keys_of[row["asset_key"]]),
            }
        )
    counts: dict[str, int] = {}
    for row in found.value:
        counts[_worst(row)] = counts.get(_worst(row), 0) + 1
    return ui.render(
        request,
        "checks.html",
        title="Checks",
        rows=rows,
        counts=sorted(counts.items()),
        status=status,
        read_reason=found.reason,
    )


def _worst(row: dict[str, Any]) -> str:
    for outcome in ("errored", "failed", "warned"):
        if row[outcome]:
            return outcome
    return "passed"


def outcome(row: dict[str, Any]) -> str:
    """A check result's outcome: passed, warned (a warn-severity failure), failed,
    errored (the check raised)."""
    if row["status"] in ("passed", "errored"):
        return str(row["status"])
    return "warned" if row["severity"] == "warn" else "failed"


def fold_partitions(bad: list[str], keys: list[str]) -> str:
    """Partition keys as ranges in the definition's order: `2024-01-03..2024-01-05
    (3), 2024-02-01`, the first RANGES_SHOWN then how many more; keys the definition
    no longer has are named at the end."""
    if not bad:
        return ""
    if bad == [""]:
        return "(unpartitioned)"
    where = {k: i for i, k in enumerate(keys)}
    known = sorted(where[k] for k in bad if k in where)
    gone = [k for k in bad if k not in where]
    ranges: list[tuple[int, int]] = []
    for index in known:
        if ranges and index == ranges[-1][1] + 1:
            ranges[-1] = (ranges[-1][0], index)
        else:
            ranges.append((index, index))
    parts = [
        keys[a] if a == b else f"{keys[a]}..{keys[b]} ({b - a + 1:,})"
        for a, b in ranges[:RANGES_SHOWN]
    ]
    if len(ranges) > RANGES_SHOWN:
        rest = sum(b - a + 1 for a, b in ranges[RANGES_SHOWN:])
        parts.append(f"… and {rest:,} more in {len(ranges) - RANGES_SHOWN:,} ranges")
    if gone:
        parts.append(f"{len(gone):,} no longer a partition ({gone[0]}…)")
    return ", ".join(parts)
