"""`assay ui`: the web UI for the project (the optional extra `assay[ui]`)."""

from __future__ import annotations

import click

from assay.cli.options import open_project, project_options

DEFAULT_PORT = 3100


def ui_options(fn: click.decorators.FC) -> click.decorators.FC:
    for option in reversed(
        [
            click.option(
                "--host",
                default="127.0.0.1",
                show_default=True,
                help="Address to listen on; anything but localhost needs --token.",
            ),
            click.option(
                "--port", type=click.IntRange(0, 65535), default=DEFAULT_PORT, show_default=True
            ),
            click.option(
                "--token",
                envvar="ASSAY_UI_TOKEN",
                default=None,
                help="A token every request must carry (?token=, then a cookie; or a "
                "Bearer header). Default: ASSAY_UI_TOKEN.",
            ),
            click.option(
                "--actions",
                is_flag=True,
                help="Allow acting from the UI: materialize, start, resume and cancel "
                "backfills, cancel runs, switch schedules and sensors. Read-only without.",
            ),
        ]
    ):
        fn = option(fn)
    return fn


@click.command("ui")
@ui_options
@project_options
def ui_command(host: str, port: int, token: str | None, actions: bool) -> None:
    """Serve the web UI: the asset graph, partition health, runs, backfills, the plan,
    checks and automation (http://127.0.0.1:3100 by default)."""
    from assay.web.server import check_binding, make_server, ui_app

    token = check_binding(host, token)
    project = open_project()
    server = make_server(ui_app(project, actions=actions, token=token), host, port)
    mode = "actions on" if actions else "read-only"
    click.echo(
        f"assay UI for {project.config.home} on http://{host}:{port} ({mode}); Ctrl-C stops it"
    )
    server.run()
