"""`/plan`: what is stale among the selected assets and why, as `assay plan` says
it, with "materialize these" (with actions on)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.errors import SelectionError
from assay.web.views.common import ui_of

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response


def plan_page(request: Request) -> Response:
    """Drawn from the UI's health (the planner's staleness, kept current), so that it
    answers at once whatever the store's size; "materialize these" plans again at
    once and launches exactly that plan."""
    from assay.planning.plan import describe_reason, fold_text
    from assay.selection import parse_selection
    from assay.web.health import MISSING, RUNNING, STALE, WAITING

    ui = ui_of(request)
    graph = ui.project.graph
    text = request.query_params.get("select", "").strip()
    error = None
    try:
        keys = parse_selection(text.split() or None).resolve(graph)
    except SelectionError as exc:
        error, keys = str(exc), []
    health = ui.health()
    steps: list[dict[str, Any]] = []
    total = 0
    for key in keys:
        found = None if health is None else health.assets.get(key)
        spec = graph.specs[key]
        if found is None or spec.is_source:
            continue
        stale = int(((found.codes == STALE) | (found.codes == MISSING)).sum())
        if not stale:
            continue
        total += stale
        steps.append(
            {
                "key": key,
                "count": stale,
                "partitioned": spec.partitions is not None,
                "waiting": found.count(WAITING),
                "running": found.count(RUNNING),
                "reasons": [
                    (
                        ""
                        if spec.partitions is None
                        else fold_text(spec.partitions, reason.partitions),
                        describe_reason(reason),
                    )
                    for reason in found.staleness.reasons
                ],
            }
        )
    return ui.render(
        request,
        "plan.html",
        title="Plan",
        select=text,
        error=error,
        steps=steps,
        total=total,
        selected=len(keys),
    )
