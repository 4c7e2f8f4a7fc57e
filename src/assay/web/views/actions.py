"""The UI's actions, each refused unless the UI was started with actions on: they go
through the launcher (a run in a process of its own, as `Project.launch`) and show
up as ordinary runs; the page then goes where the run can be followed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.web.views.common import ui_of

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from assay.web.context import UI


def _allowed(ui: UI) -> None:
    from starlette.exceptions import HTTPException

    if not ui.actions:
        raise HTTPException(
            403, "this UI is read-only: start it with `assay ui --actions` to act from it"
        )


async def _form(request: Request) -> dict[str, str]:
    """The posted form (the pages post `application/x-www-form-urlencoded`)."""
    from urllib.parse import parse_qs

    body = (await request.body()).decode("utf-8", "replace")
    return {name: values[0] for name, values in parse_qs(body).items()}


def _go(url: str) -> Response:
    from starlette.responses import RedirectResponse

    return RedirectResponse(url, status_code=303)


async def materialize(request: Request) -> Response:
    """Materialize what is stale in a selection (`select`; `force` for everything):
    planned now and launched as exactly that plan."""
    from starlette.concurrency import run_in_threadpool

    ui = ui_of(request)
    _allowed(ui)
    form = await _form(request)
    selection = form.get("select", "").strip() or None
    force = form.get("force") == "1"

    def launch() -> str:
        project = ui.project
        plan = project.plan(selection, force=force)
        return project.launch(plan).run_id

    run_id = await run_in_threadpool(launch)
    ui.keeper.poke()
    return _go(f"/runs/{run_id}")


async def start_backfill(request: Request) -> Response:
    """A backfill of a selection over a partition range (`from`, `to`)."""
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    ui = ui_of(request)
    _allowed(ui)
    form = await _form(request)
    selection = form.get("select", "").strip()
    first, last = form.get("from", "").strip(), form.get("to", "").strip()
    if not selection or not first or not last:
        raise HTTPException(400, "a backfill needs a selection and a partition range (from, to)")
    ui.project.plan(selection, partition_range=(first, last))  # bad keys: refused here
    launched = await run_in_threadpool(
        lambda: ui.project.launch(
            selection, backfill=True, partition_range=(first, last), force=form.get("force") == "1"
        )
    )
    ui.keeper.poke()
    return _go(f"/runs/{launched.run_id}")


async def resume_backfill(request: Request) -> Response:
    from starlette.concurrency import run_in_threadpool

    from assay.execution.launcher import launch

    ui = ui_of(request)
    _allowed(ui)
    await _form(request)
    backfill_id = ui.project.state.backfill(request.path_params["backfill_id"])["backfill_id"]
    await run_in_threadpool(lambda: launch(ui.project.config, ["backfill", "resume", backfill_id]))
    ui.keeper.poke()
    return _go(f"/backfills/{backfill_id}")


async def cancel_backfill(request: Request) -> Response:
    ui = ui_of(request)
    _allowed(ui)
    await _form(request)
    backfill_id = ui.project.state.backfill(request.path_params["backfill_id"])["backfill_id"]
    ui.project.cancel_backfill(backfill_id)
    return _go(f"/backfills/{backfill_id}")


async def cancel_run(request: Request) -> Response:
    from assay.workspace import Workspace

    ui = ui_of(request)
    _allowed(ui)
    await _form(request)
    run_id = Workspace(ui.project.config.home).cancel_run(request.path_params["run_id"])
    return _go(f"/runs/{run_id}")


async def switch(request: Request) -> Response:
    """`/schedules/<name>/enable`, `/sensors/<name>/disable`."""
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException

    from assay.daemon.listing import set_enabled

    ui = ui_of(request)
    kind, name, action = (request.path_params[k] for k in ("kind", "name", "switch"))
    if kind not in ("schedule", "sensor") or action not in ("enable", "disable"):
        raise HTTPException(404, f"no action {request.url.path}")
    _allowed(ui)
    await _form(request)
    project = ui.project
    await run_in_threadpool(
        lambda: set_enabled(project.config, project.definitions, kind, name, action == "enable")
    )
    return _go("/automation")
