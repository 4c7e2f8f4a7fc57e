"""Serving the UI with uvicorn: in the foreground (`assay ui`) or from a thread beside
the daemon (`assay daemon --ui`)."""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING

from assay.errors import ConfigError

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from uvicorn import Server

    from assay.project import Project

TOKEN_ENV = "ASSAY_UI_TOKEN"


def check_binding(host: str, token: str | None) -> str | None:
    """The token to require (`token`, else ASSAY_UI_TOKEN; None on localhost without one).

    Raises:
        ConfigError: the host is not localhost and no token is given.
    """
    from assay.web.security import is_local

    token = token or os.environ.get(TOKEN_ENV) or None
    if token is None and not is_local(host):
        raise ConfigError(
            f"the UI would listen on {host}, beyond this machine, with no token: pass "
            f"--token VALUE (or set {TOKEN_ENV}), or bind to 127.0.0.1 behind a proxy"
        )
    return token


def make_server(app: Starlette, host: str, port: int) -> Server:
    import uvicorn

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        proxy_headers=True,  # behind a proxy: the client's address from X-Forwarded-For
        server_header=False,
    )
    return uvicorn.Server(config)


def ui_app(project: Project, *, actions: bool, token: str | None) -> Starlette:
    """The app; a one-line error when the UI's extra is not installed.

    Raises:
        ConfigError: starlette, uvicorn or jinja2 is missing.
    """
    try:
        import jinja2  # noqa: F401
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"the UI needs {exc.name}, which is not installed: pip install 'assay[ui]'"
        ) from None
    from assay.web.app import create_app

    return create_app(project, actions=actions, token=token)


def serve_in_thread(server: Server) -> threading.Thread:
    """Run `server` in a daemon thread (it installs no signal handlers there)."""
    thread = threading.Thread(target=server.run, name="assay-ui", daemon=True)
    thread.start()
    return thread
