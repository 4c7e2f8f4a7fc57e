"""The `assay` command group, and the one place where user errors are printed."""

from __future__ import annotations

import difflib
import importlib
import logging
import os
import sys
import traceback
from typing import IO, Any

import click

from assay.cli.render import color_choice
from assay.errors import AssayError
from assay.version import __version__


class _UsageError(click.UsageError):
    """A click usage error shown as one line, like every other error: `Error: what. See ...`."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"Error: {self.format_message()}", file=file, err=file is None)


def _one_line(exc: click.UsageError) -> click.UsageError:
    """`Error: invalid value for '--workers': .... See `assay materialize --help`.`

    Click's own message (with its `Did you mean` suggestions) and a pointer to the
    command's help replace click's three-line `Usage:` block. A bare group that
    shows its help (`assay`, `assay backfill`) keeps doing so.
    """
    if isinstance(exc, _UsageError | click.exceptions.NoArgsIsHelpError):
        return exc
    message = exc.format_message().strip()
    if message[1:2].islower():  # "Invalid value ..." -> "invalid value ...", as our errors read
        message = message[0].lower() + message[1:]
    if not message.endswith((".", "?", ".)", "?)")):
        message += "."
    command = exc.ctx.command_path if exc.ctx is not None else "assay"
    return _UsageError(f"{message} See `{command} --help`.", exc.ctx)


# Each command and the module that defines it, in the order `assay --help` lists them:
# a command's module is imported when that command runs (or help lists it), so
# `assay materialize` does not import the daemon's, the UI's or the runs' commands.
COMMANDS = {
    "list": "assets:list_command",
    "materialize": "assets:materialize_command",
    "plan": "plan:plan_command",
    "why": "plan:why_command",
    "observe": "plan:observe_command",
    "graph": "assets:graph_command",
    "backfill": "backfill:backfill_group",
    "partitions": "partitions:partitions_group",
    "check": "check:check_command",
    "runs": "runs:runs_group",
    "lineage": "lineage:lineage_command",
    "state": "state:state_group",
    "daemon": "daemon:daemon_group",
    "tick": "daemon:tick_command",
    "schedule": "daemon:schedule_group",
    "ui": "ui:ui_command",
    "sensor": "daemon:sensor_group",
    "alerts": "alerts:alerts_group",
    "automation": "automation:automation_group",
}


class _AssayGroup(click.Group):
    """Prints an AssayError as `Error: ...` and exits with its code; no traceback.

    Click's usage errors (a bad option value, an unknown option or command, a
    missing argument) get the same one line, on stderr, with exit code 2.
    Subcommands are imported on first use (`COMMANDS`).
    """

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The program itself (`assay`, `python -m assay`); a `CliRunner` calls `main`."""
        from assay.heap import own_process

        own_process()
        return super().__call__(*args, **kwargs)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*COMMANDS, *(name for name in super().list_commands(ctx) if name not in COMMANDS)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        where = COMMANDS.get(cmd_name)
        if where is None:
            return super().get_command(ctx, cmd_name)
        module, _, name = where.partition(":")
        command = getattr(importlib.import_module(f"assay.cli.{module}"), name)
        assert isinstance(command, click.Command), where
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        known = [*COMMANDS, *self.commands]
        if name not in known and not name.startswith("-") and not ctx.resilient_parsing:
            close = difflib.get_close_matches(name, known)
            hint = ""
            if len(close) == 1:
                hint = f" Did you mean {close[0]!r}?"
            elif close:
                hint = f" (Possible options: {', '.join(sorted(close))})"
            raise click.UsageError(f"No such command {name!r}.{hint}", ctx)
        return super().resolve_command(ctx, args)

    def make_context(
        self,
        info_name: str | None,
        args: list[str],
        parent: click.Context | None = None,
        **extra: Any,
    ) -> click.Context:
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as exc:
            raise _one_line(exc) from exc

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            raise _one_line(exc) from exc
        except AssayError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                traceback.print_exc()
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)


@click.group("assay", cls=_AssayGroup, context_settings={"help_option_names": ["-h", "--help"]})
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
    ctx.color = color_choice()  # NO_COLOR, FORCE_COLOR; else styles on a terminal only
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
