"""`/`: the asset graph, each asset coloured by its status, with the CLI's selection
syntax in a search box and ±N hops around what it selects."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING

from assay.errors import SelectionError
from assay.web.views.common import int_param, ui_of

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from assay.graph import AssetGraph
    from assay.keys import AssetKey
    from assay.web.health import Health

MAX_DEPTH = 20


def graph_page(request: Request) -> Response:
    from assay.web.layout import graph_svg
    from assay.web.text import asset_url

    ui = ui_of(request)
    text = request.query_params.get("select", "").strip()
    depth = int_param(request, "depth", 0, 0, MAX_DEPTH)
    graph = ui.project.graph
    error = None
    try:
        keys = selected(graph, text, depth)
    except SelectionError as exc:
        error, keys = str(exc), list(graph.order)
    health = ui.health()
    status = {str(k): "unknown" if health is None else health.status(k) for k in keys}

    def draw() -> str:
        return graph_svg(
            ui.layout(keys),
            status=status,
            href=lambda ident: asset_url(ident),
            titles={str(k): title(graph, k, health) for k in keys},
        )

    svg = ui.drawn(("graph", tuple(keys)), health, draw)
    counts = Counter(status.values())
    return ui.render(
        request,
        "graph.html",
        title="Assets",
        svg=svg,
        select=text,
        depth=depth,
        error=error,
        counts=sorted(counts.items()),
        total=len(keys),
        all_count=len(graph.specs),
        groups=sorted({graph.specs[k].group for k in keys}),
    )


def graph_status(request: Request) -> Response:
    """`/graph/status`: the statuses `/` shows for the same selection, as JSON: the
    graph page applies them every few seconds, so it follows runs without being
    drawn again (its pan and zoom stay)."""
    from starlette.responses import JSONResponse

    ui = ui_of(request)
    text = request.query_params.get("select", "").strip()
    depth = int_param(request, "depth", 0, 0, MAX_DEPTH)
    graph = ui.project.graph
    try:
        keys = selected(graph, text, depth)
    except SelectionError:
        keys = list(graph.order)
    health = ui.health()
    status = {str(k): "unknown" if health is None else health.status(k) for k in keys}
    titles = {str(k): title(graph, k, health) for k in keys}
    return JSONResponse(
        {
            "at": None if health is None else health.at.isoformat(),
            "status": status,
            "titles": titles,
            "counts": sorted(Counter(status.values()).items()),
        }
    )


def selected(graph: AssetGraph, text: str, depth: int) -> list[AssetKey]:
    """What `text` selects (everything when empty), with every asset within `depth`
    hops up or down of it, in dependency order.

    Raises:
        SelectionError: the text is not a selection, or names no asset.
    """
    from assay.selection import parse_selection

    if not text:
        return list(graph.order)
    chosen = set(parse_selection(text.split()).resolve(graph))
    edge = set(chosen)
    for _ in range(depth):
        edge = {
            n for k in edge for n in (*graph.upstream[k], *graph.downstream.get(k, ()))
        } - chosen
        if not edge:
            break
        chosen |= edge
    return [k for k in graph.order if k in chosen]


def title(graph: AssetGraph, key: AssetKey, health: Health | None) -> str:
    """The tooltip of an asset: `orders (sales): stale, 3 stale, 2 missing of 365`."""
    from assay.web.health import STATUS_NAMES

    spec = graph.specs[key]
    head = f"{key} ({spec.group})"
    found = None if health is None else health.assets.get(key)
    if found is None:
        return head
    parts = [
        f"{found.count(code):,} {name}"
        for code, name in enumerate(STATUS_NAMES)
        if name != "fresh" and found.count(code)
    ]
    size = len(found.codes)
    detail = f"{', '.join(parts)} of {size:,}" if parts and spec.partitions else ""
    why = ""
    if found.staleness.reasons and not spec.is_source:
        from assay.planning.plan import describe_reason

        reasons = found.staleness.reasons
        why = f"; why: {describe_reason(reasons[0])}" + (
            f" (and {len(reasons) - 1} more reasons)" if len(reasons) > 1 else ""
        )
    return f"{head}: {found.status}" + (f"; {detail}" if detail else "") + why
