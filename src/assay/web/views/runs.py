"""`/runs` (filterable by status, kind and asset) and `/runs/<id>`: a run with its
step timeline, attempts, logs and the user's traceback, live while it runs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.web.views.common import int_param, ui_of

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from assay.web.context import UI

PAGE = 50
KINDS = ("materialize", "backfill", "check", "observe")
TRIGGERS = ("schedule", "sensor", "automation")  # the daemon's runs, by their run keys
STATUSES = ("running", "succeeded", "failed", "canceled", "died")
STEPS_SHOWN = 500


def runs_page(request: Request) -> Response:
    from starlette.exceptions import HTTPException

    ui = ui_of(request)
    query = request.query_params
    status = query.get("status") or None
    kind = query.get("kind") or None
    asset = query.get("asset") or None
    page = int_param(request, "page", 0, 0, 100_000)
    if status is not None and status not in STATUSES:
        raise HTTPException(400, f"status must be one of {', '.join(STATUSES)}, not {status!r}")
    if kind is not None and kind not in (*KINDS, *TRIGGERS):
        raise HTTPException(
            400, f"kind must be one of {', '.join((*KINDS, *TRIGGERS))}, not {kind!r}"
        )
    filters: dict[str, Any] = {
        "status": status,
        "kind": kind if kind in KINDS else None,
        "trigger": kind if kind in TRIGGERS else None,
        "asset": asset,
    }
    found = ui.reads.get(
        ("runs", tuple(sorted(filters.items())), page),
        lambda r: r.runs(limit=PAGE + 1, offset=page * PAGE, **filters),
    )
    runs = found.value[:PAGE]
    return ui.render(
        request,
        "runs.html",
        title="Runs",
        runs=runs,
        has_more=len(found.value) > PAGE,
        page=page,
        status=status or "",
        kind=kind or "",
        asset=asset or "",
        statuses=STATUSES,
        kinds=(*KINDS, *TRIGGERS),
        read_reason=found.reason,
    )


def _run_values(request: Request) -> dict[str, Any]:
    """What a run page shows: the run as indexed, and, while it runs, its live journal
    laid over it (so each step shows as it starts and ends)."""
    from assay.errors import UnknownRunError
    from assay.state.models import RunDetails
    from assay.web.gantt import gantt_svg

    ui = ui_of(request)
    run_id = request.path_params["run_id"]
    reason = None
    try:
        found = ui.reads.get(("run", run_id), lambda r: r.run_details(run_id))
        details, reason = found.value, found.reason
    except UnknownRunError:
        live_run, live_steps = ui.live.read(run_id)
        if live_run is None:
            raise
        details = RunDetails(run=live_run, steps=(), logs=())
    run = details.run
    all_steps = list(details.steps)
    if run.status == "running":
        live_run, live_steps = ui.live.read(run.run_id)
        if live_steps:
            merged = {s.step_key: s for s in all_steps}
            merged.update({s.step_key: s for s in live_steps})
            all_steps = list(merged.values())
        if live_run is not None and live_run.status != "running":
            run = live_run
    order = {"failed": 0, "running": 1, "skipped": 2, "succeeded": 3}
    steps = sorted(all_steps, key=lambda s: (order.get(s.status, 4), s.step_key))
    logs: dict[str, list[Any]] = {}
    for line in details.logs:
        logs.setdefault(line.step_key, []).append(line)
    counts: dict[str, int] = {}
    for step in all_steps:
        counts[step.status] = counts.get(step.status, 0) + 1
    return {
        "run": run,
        "steps": steps[:STEPS_SHOWN],
        "step_total": len(steps),
        "logs": logs,
        "counts": sorted(counts.items()),
        "gantt": gantt_svg(all_steps, started=run.started_at, finished=run.finished_at),
        "live": run.status == "running",
        "read_reason": reason,
    }


def run_page(request: Request) -> Response:
    ui = ui_of(request)
    values = _run_or_starting(request)
    run_id = request.path_params["run_id"]
    if values is None:
        return ui.render(request, "run_starting.html", title=f"Run {run_id[:8]}", run_id=run_id)
    from assay.run_config import shown_by_asset

    configs = shown_by_asset(values["run"].config)
    return ui.render(
        request, "run.html", title=f"Run {values['run'].run_id[:8]}", configs=configs, **values
    )


def run_live(request: Request) -> Response:
    """The live part of a run page, which the page fetches again every two seconds
    while the run goes (htmx); "starting" until the run's first records are indexed."""
    ui = ui_of(request)
    values = _run_or_starting(request)
    if values is None:
        return ui.render(request, "run_starting_live.html", run_id=request.path_params["run_id"])
    return ui.render(request, "run_live.html", **values)


def _run_or_starting(request: Request) -> dict[str, Any] | None:
    """The run page's values; None for a run launched but not recorded yet.

    Raises:
        UnknownRunError: no run by that id was launched either.
    """
    from assay.errors import UnknownRunError

    try:
        return _run_values(request)
    except UnknownRunError:
        if not _launched(ui_of(request), request.path_params["run_id"]):
            raise
        return None


def _launched(ui: UI, run_id: str) -> bool:
    """Whether a run by that id was launched (its log or its journal exists) but is
    not indexed yet."""
    from assay.web.live import is_plain_id

    home = ui.project.config.home
    if not is_plain_id(run_id):
        return False
    return (home / "logs" / f"{run_id}.log").exists() or (
        home / "journal" / f"{run_id}.jsonl"
    ).exists()
