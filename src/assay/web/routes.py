"""The UI's URLs: `routes()` maps each to its view (one module per view in
`assay.web.views`), with the error pages and `/healthz`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from assay.web.context import UI


def routes() -> list[BaseRoute]:
    from starlette.routing import Route

    from assay.web.views import actions, assets, automation, backfills, checks, graph, plan, runs

    return [
        Route("/", graph.graph_page),
        Route("/assets/{key:path}", assets.asset_page),
        Route("/runs", runs.runs_page),
        Route("/runs/{run_id}", runs.run_page),
        Route("/runs/{run_id}/live", runs.run_live),
        Route("/backfills", backfills.backfills_page),
        Route("/backfills/{backfill_id}", backfills.backfill_page),
        Route("/plan", plan.plan_page),
        Route("/checks", checks.checks_page),
        Route("/automation", automation.automation_page),
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
