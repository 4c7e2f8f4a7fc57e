"""The UI's URLs: `routes()` maps each to its view (one module per view in
`assay.web.views`), with the error pages and `/healthz`."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from assay.web.context import UI


def routes() -> list[BaseRoute]:
    from starlette.routing import Route

    from assay.web.views import actions, assets, automation, backfills, checks, graph, plan, runs

    return [
        Route("/", cached(graph.graph_page)),
        Route("/graph/status", cached(graph.graph_status)),
        Route("/assets/{key:path}", cached(assets.asset_page)),
        Route("/runs", cached(runs.runs_page)),
        Route("/runs/{run_id}", cached(runs.run_page, live=True)),
        Route("/runs/{run_id}/live", cached(runs.run_live, live=True)),
        Route("/backfills", cached(backfills.backfills_page)),
        Route("/backfills/{backfill_id}", cached(backfills.backfill_page)),
        Route("/plan", cached(plan.plan_page)),
        Route("/checks", cached(checks.checks_page)),
        Route("/automation", cached(automation.automation_page)),
        Route("/actions/materialize", actions.materialize, methods=["POST"]),
        Route("/actions/backfill", actions.start_backfill, methods=["POST"]),
        Route("/backfills/{backfill_id}/resume", actions.resume_backfill, methods=["POST"]),
        Route("/backfills/{backfill_id}/cancel", actions.cancel_backfill, methods=["POST"]),
        Route("/runs/{run_id}/cancel", actions.cancel_run, methods=["POST"]),
        Route("/{kind:str}s/{name}/{switch:str}", actions.switch, methods=["POST"]),
    ]


def healthz(request: Request) -> Response:
    """For a proxy or a monitor: 200 while the UI answers, with the health's age."""
    from starlette.responses import JSONResponse

    ui = request.app.state.ui
    latest = ui.keeper.latest
    return JSONResponse(
        {
            "status": "ok",
            "health_at": None if latest is None else latest.at.isoformat(),
            "waiting": ui.keeper.waiting,
        }
    )


def exception_handlers() -> dict[Any, Any]:
    from starlette.exceptions import HTTPException

    from assay.errors import AssayError
    from assay.web.reads import Waiting

    def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        ui: UI = request.app.state.ui
        return ui.render(
            request, "error.html", status_code=exc.status_code, title="Error", message=exc.detail
        )

    def assay_error(request: Request, exc: Exception) -> Response:
        ui: UI = request.app.state.ui
        status = 404 if type(exc).__name__.startswith("Unknown") else 400
        return ui.render(request, "error.html", status_code=status, title="Error", message=str(exc))

    def waiting(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Waiting)
        ui: UI = request.app.state.ui
        return ui.render(
            request, "waiting.html", status_code=503, title="Waiting", message=exc.reason
        )

    return {HTTPException: http_error, AssayError: assay_error, Waiting: waiting}


PAGE_TTL_S = 2.0  # a page is drawn again at least this often (times, "3 min ago")
PAGES_KEPT = 256


def cached(
    view: Callable[[Request], Response], *, live: bool = False
) -> Callable[[Request], Response]:
    """`view`, answered from the last page drawn for the same URL (and session) while
    nothing it shows moved: the store, the health, the waiting notice, and (`live`)
    the run's live journal; at most PAGE_TTL_S old. Twenty requests a second on a
    view cost one drawing per change, not twenty."""
    from starlette.responses import HTMLResponse

    pages: OrderedDict[tuple[object, ...], tuple[tuple[object, ...], HTMLResponse]] = OrderedDict()
    lock = threading.Lock()

    def answer(request: Request) -> Response:
        ui: UI = request.app.state.ui
        if not ui.background:  # tests without the thread: every request evaluates
            return view(request)
        latest = ui.keeper.latest
        stamp: tuple[object, ...] = (
            ui.keeper.fingerprint(),
            None if latest is None else latest.at,
            ui.keeper.waiting,
            int(time.monotonic() / PAGE_TTL_S),
            _journal_size(ui, request) if live else None,
        )
        key = (request.url.path, request.url.query, request.scope.get("state", {}).get("csrf"))
        with lock:
            found = pages.get(key)
        if found is not None and found[0] == stamp:
            body = found[1]
            return HTMLResponse(body.body, status_code=body.status_code)
        response = view(request)
        if isinstance(response, HTMLResponse) and response.status_code == 200:
            with lock:
                pages[key] = (stamp, response)
                pages.move_to_end(key)
                while len(pages) > PAGES_KEPT:
                    pages.popitem(last=False)
        return response

    answer.__name__ = getattr(view, "__name__", "page")
    answer.__doc__ = view.__doc__
    return answer


def _journal_size(ui: UI, request: Request) -> int | None:
    from assay.web.live import is_plain_id

    run_id = request.path_params.get("run_id", "")
    if not is_plain_id(run_id):
        return None
    try:
        return (ui.project.config.journal_dir / f"{run_id}.jsonl").stat().st_size
    except OSError:
        return None
