"""`/`: the asset graph, each asset coloured by its status, with the CLI's selection
syntax in a search box and ±N hops around what it selects."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Shown:
    """What `/` and `/graph/status` show for a request's selection."""

    text: str
    depth: int
    keys: list[AssetKey]
    error: str | None
    health: Health | None
    status: dict[str, str]

    def titles(self, graph: AssetGraph) -> dict[str, str]:
        return {str(k): title(graph, k, self.health) for k in self.keys}

    def counts(self) -> list[tuple[str, int]]:
        return sorted(Counter(self.status.values()).items())


def shown(request: Request) -> Shown:
    """The selection (`select`, `depth`; a bad one shows everything, saying why) and
    the status of each asset in it."""
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
    return Shown(text, depth, keys, error, health, status)


def graph_page(request: Request) -> Response:
    from assay.web.layout import graph_svg
    from assay.web.text import asset_url

    ui = ui_of(request)
    graph = ui.project.graph
    found = shown(request)

    def draw() -> str:
        return graph_svg(
            ui.layout(found.keys),
            status=found.status,
            href=lambda ident: asset_url(ident),
            titles=found.titles(graph),
        )

    svg = ui.drawn(("graph", tuple(found.keys)), found.health, draw)
    return ui.render(
        request,
        "graph.html",
        title="Assets",
        svg=svg,
        select=found.text,
        depth=found.depth,
        error=found.error,
        counts=found.counts(),
        total=len(found.keys),
        all_count=len(graph.specs),
        groups=sorted({graph.specs[k].group for k in found.keys}),
    )


def graph_status(request: Request) -> Response:
    """`/graph/status`: the statuses `/` shows for the same selection, as JSON: the
    graph page applies them every few seconds, so it follows runs without being
    drawn again (its pan and zoom stay)."""
    from starlette.responses import JSONResponse

    found = shown(request)
    return JSONResponse(
        {
            "at": None if found.health is None else found.health.at.isoformat(),
            "status": found.status,
            "titles": found.titles(ui_of(request).project.graph),
            "counts": found.counts(),
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
