"""`/assets/<key>`: one asset: what it is, a partition health bar, why it is stale,
its recent materializations and checks, what it reads and what reads it, and `why`
for a chosen partition."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from assay.web.views.common import asset_key_of, partition_keys, range_label, ui_of

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from assay.keys import AssetKey
    from assay.web.context import UI
    from assay.web.health import Health

MATERIALIZATIONS_SHOWN = 20


def asset_page(request: Request) -> Response:
    from assay.planning.plan import describe_reason, fold_text
    from assay.versioning import code_version
    from assay.web.bars import bar_svg, counts

    ui = ui_of(request)
    graph = ui.project.graph
    key = asset_key_of(graph, request.path_params["key"])
    spec = graph.specs[key]
    health = ui.health()
    found = None if health is None else health.assets.get(key)
    bar = reasons = None
    tally: dict[str, int] = {}
    keys: list[str] = []
    if found is not None and health is not None:
        keys = partition_keys(spec.partitions, health.context)
        bar = bar_svg(
            found.codes,
            labels=lambda first, last: range_label(keys, first, last),
            href=(
                None
                if spec.partitions is None
                else lambda first, last: f"?partition={quote(keys[first])}#why"
            ),
        )
        tally = counts(found.codes)
        reasons = [
            (
                "" if spec.partitions is None else fold_text(spec.partitions, reason.partitions),
                describe_reason(reason),
            )
            for reason in found.staleness.reasons
        ]
    partition = request.query_params.get("partition")
    why = _why(ui, key, partition) if partition is not None or spec.partitions is None else None
    none: list[dict[str, Any]] = []
    history = ui.reads.get_or(
        ("materializations", str(key)),
        lambda r: r.recent_materializations(str(key), limit=MATERIALIZATIONS_SHOWN),
        none,
    )
    checks = ui.reads.get_or(("checks", str(key)), lambda r: r.latest_checks([str(key)]), none)
    return ui.render(
        request,
        "asset.html",
        title=str(key),
        key=key,
        spec=spec,
        status="unknown" if found is None else found.status,
        running_in=None if found is None else found.running_in,
        code_version=code_version(spec),
        io=_io_text(ui, key),
        partitions_text=_partitions_text(spec.partitions, keys),
        bar=bar,
        tally=tally,
        reasons=reasons,
        why=why,
        partition=partition,
        history=history.value,
        read_reason=history.reason or checks.reason,
        checks=_check_rows(checks.value, keys),
        upstream=_neighbours(graph.upstream[key], health),
        downstream=_neighbours(graph.downstream.get(key, ()), health),
        resources=graph.resources.get(key, ()),
        config=_config_text(graph, key),
        automation=None if spec.automation is None else spec.automation.describe(),
        freshness=None if spec.freshness is None else spec.freshness.describe(),
    )


def _config_text(graph: Any, key: AssetKey) -> str | None:
    """The run configuration the project gives the asset now: `threshold=0.05, ...`
    (configuration holds no secrets: those stay in resources, never shown)."""
    import json

    from assay.run_config import values_text

    found = graph.configs.get(key)
    return None if found is None else values_text(json.loads(found.json))


def _why(ui: UI, key: AssetKey, partition: str | None) -> dict[str, Any]:
    """`assay why` for the partition: its text, or why it cannot be said now."""
    from assay.errors import AssayError
    from assay.planning.why import explain

    project = ui.project
    state = project.state
    try:
        return explain(
            project.graph,
            project.plan(f"+{key}"),
            key,
            partition,
            state.stored_partition(str(key), partition or ""),
            lambda asset, where: state.stored_code_parts(str(asset), where),
            state.last_attempts,
        )
    except AssayError as exc:
        return {"text": str(exc), "error": True}


def _io_text(ui: UI, key: AssetKey) -> str:
    from assay.web.text import io_text

    return io_text(ui.project.io_for(key))


def _partitions_text(definition: Any, keys: list[str]) -> str:
    if definition is None:
        return "unpartitioned"
    if not keys:
        return f"{definition.kind}: no partitions yet"
    return f"{definition.kind}: {len(keys):,} ({keys[0]}..{keys[-1]})"


def _neighbours(keys: Any, health: Health | None) -> list[tuple[AssetKey, str]]:
    return [(k, "unknown" if health is None else health.status(k)) for k in keys]


def _check_rows(latest: list[dict[str, Any]], keys: list[str]) -> list[dict[str, Any]]:
    """Per check: its latest outcome counts over the partitions, and the ranges of
    partitions where it did not pass (folded: `2024-01-03..2024-01-05`)."""
    from assay.web.views.checks import fold_partitions, outcome

    by_check: dict[str, dict[str, Any]] = {}
    for row in latest:
        entry = by_check.setdefault(
            row["check_name"],
            {
                "name": row["check_name"],
                "severity": row["severity"],
                "blocking": row["blocking"],
                "counts": {},
                "bad": [],
                "error": None,
            },
        )
        result = outcome(row)
        entry["counts"][result] = entry["counts"].get(result, 0) + 1
        if result != "passed":
            entry["bad"].append(row["partition_key"] or "")
            entry["error"] = entry["error"] or row.get("error") or row.get("description")
    for entry in by_check.values():
        entry["bad_text"] = fold_partitions(entry["bad"], keys)
    return list(by_check.values())
