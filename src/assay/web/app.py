"""The UI's ASGI application: `create_app(project)`, served by `assay ui`.

Pages are rendered on the server (Jinja2 templates, SVG drawn in Python); the
browser gets HTML, one stylesheet, htmx for the parts that refresh themselves and
a small script for panning the graph. Nothing on a page waits for the planner:
asset health comes from a `HealthKeeper` that follows the store in the background,
and history (runs, steps, checks, backfills) from cached short reads (`Reads`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.web.health import HealthKeeper
from assay.web.live import JournalTail
from assay.web.reads import Reads

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

    import jinja2
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import HTMLResponse

    from assay.keys import AssetKey
    from assay.project import Project
    from assay.web.health import Health
    from assay.web.layout import GraphLayout

HERE = Path(__file__).parent
FIRST_HEALTH_WAIT_S = 2.0  # a page before the first evaluation waits this long for it
LAYOUTS_KEPT = 32


@dataclass
class UI:
    """What every page reads: the project, its health, its history, the settings."""

    project: Project
    keeper: HealthKeeper
    reads: Reads
    actions: bool
    env: jinja2.Environment
    live: JournalTail = field(default_factory=lambda: JournalTail(Path()))
    background: bool = True
    layouts: dict[tuple[AssetKey, ...], GraphLayout] = field(default_factory=dict)
    drawings: dict[Hashable, tuple[object, str]] = field(default_factory=dict)

    def health(self) -> Health | None:
        """The latest health (None: not evaluated yet, the page says so and reloads
        itself; or the store could not be read, `keeper.waiting` says why). A page
        before the first evaluation waits for it a moment. Without a background
        thread, each call evaluates what moved."""
        if not self.background:
            return self.keeper.refresh() or self.keeper.latest
        deadline = time.monotonic() + FIRST_HEALTH_WAIT_S
        while self.keeper.latest is None and time.monotonic() < deadline:
            if self.keeper.waiting is not None:
                return None
            time.sleep(0.05)
        return self.keeper.latest

    def layout(self, keys: list[AssetKey]) -> GraphLayout:
        """The layout of these assets and the edges between them (cached)."""
        from assay.web.layout import layout_graph

        wanted = tuple(keys)
        found = self.layouts.get(wanted)
        if found is None:
            graph = self.project.graph
            chosen = set(keys)
            edges = [
                (str(up), str(key)) for key in keys for up in graph.upstream[key] if up in chosen
            ]
            found = layout_graph([str(k) for k in keys], edges)
            if len(self.layouts) >= LAYOUTS_KEPT:
                self.layouts.pop(next(iter(self.layouts)))
            self.layouts[wanted] = found
        return found

    def drawn(self, key: Hashable, health: Health | None, draw: Callable[[], str]) -> str:
        """`draw()`, kept until the health moves: a graph of thousands of assets is
        drawn once per evaluation, not once per request."""
        stamp = None if health is None else (health.at, health.seconds)
        found = self.drawings.get(key)
        if found is not None and found[0] == stamp:
            return found[1]
        drawing = draw()
        if len(self.drawings) >= LAYOUTS_KEPT:
            self.drawings.pop(next(iter(self.drawings)))
        self.drawings[key] = (stamp, drawing)
        return drawing

    def render(
        self, request: Request, template: str, *, status_code: int = 200, **values: Any
    ) -> HTMLResponse:
        from starlette.responses import HTMLResponse

        page = self.env.get_template(template).render(
            request=request,
            csrf=request.scope.get("state", {}).get("csrf", ""),
            actions=self.actions,
            project=self.project,
            waiting=self.keeper.waiting,
            evaluating=self.keeper.latest is None and self.keeper.waiting is None,
            health_at=None if self.keeper.latest is None else self.keeper.latest.at,
            **values,
        )
        return HTMLResponse(page, status_code=status_code)


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
    from assay.web import views
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
