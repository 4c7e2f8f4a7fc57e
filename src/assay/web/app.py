"""The UI's ASGI application: `create_app(project)`, served by `assay ui`.

Pages are rendered on the server (Jinja2 templates, SVG drawn in Python); the
browser gets HTML, one stylesheet, htmx for the parts that refresh themselves and
a small script for panning the graph. Nothing on a page waits for the planner:
asset health comes from a `HealthKeeper` that follows the store in the background,
and history (runs, steps, checks, backfills) from cached short reads (`Reads`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.web.context import UI
from assay.web.health import HealthKeeper
from assay.web.live import JournalTail
from assay.web.reads import Reads

if TYPE_CHECKING:
    from starlette.applications import Starlette

    from assay.project import Project

HERE = Path(__file__).parent


def create_app(
    project: Project,
    *,
    actions: bool = False,
    token: str | None = None,
    background: bool = True,
    min_interval_s: float = 1.0,
) -> Starlette:
    """The UI of `project`: read-only unless `actions` (materialize, backfills,
    schedules and sensors on and off); `token` required of every request when given.
    With `background`, asset health follows the store from a thread (started with
    the app); without it, each request to a page refreshes it (tests)."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    from assay.state.reader import StateReader
    from assay.web import routes as views
    from assay.web.security import Guard
    from assay.web.text import environment

    project.state = StateReader(project.config.home, index=False)  # a UI never indexes
    keeper = HealthKeeper(project.graph, project.config.home, min_interval_s=min_interval_s)
    ui = UI(
        project=project,
        keeper=keeper,
        reads=Reads(project.config.home, keeper.fingerprint),
        actions=actions,
        env=environment(HERE / "templates"),
        live=JournalTail(project.config.journal_dir),
        background=background,
    )

    async def starting() -> None:
        if background:
            keeper.start()

    async def stopping() -> None:
        keeper.stop()

    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(app: Starlette) -> Any:
        await starting()
        try:
            yield
        finally:
            await stopping()

    app = Starlette(
        routes=[
            *views.routes(),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
            Route("/healthz", views.healthz),
        ],
        middleware=[Middleware(Guard, token=token)],
        lifespan=lifespan,
        exception_handlers=views.exception_handlers(),
    )
    app.state.ui = ui
    return app
