"""What every page of the UI reads: the project, its health, its history, its live
runs and the settings (`UI`, one per app, at `request.app.state.ui`)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.web.live import JournalTail

if TYPE_CHECKING:
    from collections.abc import Callable, Hashable

    import jinja2
    from starlette.requests import Request
    from starlette.responses import HTMLResponse

    from assay.keys import AssetKey
    from assay.project import Project
    from assay.web.health import Health, HealthKeeper
    from assay.web.layout import GraphLayout
    from assay.web.reads import Reads

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
