"""The `assay` command group, and the one place where user errors are printed."""

from __future__ import annotations

import logging
import os
import sys
import traceback
from typing import Any

import click

from assay.cli.assets import graph_command, list_command, materialize_command
from assay.cli.backfill import backfill_group
from assay.cli.check import check_command
from assay.cli.lineage import lineage_command
from assay.cli.plan import observe_command, plan_command, why_command
from assay.cli.runs import runs_group
from assay.cli.state import state_group
from assay.errors import AssayError
from assay.version import __version__


class _AssayGroup(click.Group):
    """Prints an AssayError as `Error: ...` and exits with its code; no traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AssayError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group(cls=_AssayGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--debug",
    is_flag=True,
    default=lambda: bool(os.environ.get("ASSAY_DEBUG")),
    help="Show tracebacks for errors (or set ASSAY_DEBUG=1).",
)
@click.version_option(__version__, prog_name="assay")
@click.pass_context
def main(ctx: click.Context, debug: bool) -> None:
    """assay: versioned data assets, materialized when stale, recorded in DuckDB.

    \b
    Selections (dbt style, several are unioned):
      name  +name (and upstream)  name+ (and downstream)  2+name (2 hops)
      group:NAME  tag:KEY=VALUE  key:sales/*  *
    """
    ctx.obj = {"debug": debug}
    _show_state_notes()


class _NoteHandler(logging.Handler):
    """Prints what the state store has to say (a full disk, records set aside) as
    `Note: …` on stderr, once per message."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.said: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message not in self.said:
            self.said.add(message)
            click.echo(f"{click.style('Note:', fg='yellow')} {message}", err=True)


def _show_state_notes() -> None:
    logger = logging.getLogger("assay.state")
    logger.handlers = [h for h in logger.handlers if not isinstance(h, _NoteHandler)]
    logger.addHandler(_NoteHandler())


main.add_command(list_command)
main.add_command(materialize_command)
main.add_command(plan_command)
main.add_command(why_command)
main.add_command(observe_command)
main.add_command(graph_command)
main.add_command(backfill_group)
main.add_command(check_command)
main.add_command(runs_group)
main.add_command(lineage_command)
main.add_command(state_group)
