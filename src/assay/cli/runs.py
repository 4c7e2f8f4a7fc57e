"""`assay runs` and `assay runs show RUN_ID`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from assay.cli import run_report
from assay.cli.options import (
    RUN_ID,
    executor_options,
    json_option,
    limit_option,
    open_project,
    print_json,
    project_options,
    say_duplicate,
)
from assay.results import RunKind, RunStatus

if TYPE_CHECKING:
    from collections.abc import Sequence

    from assay.state.models import Run
    from assay.state.reader import StateReader

_KIND = click.Choice([kind.value for kind in RunKind])
_STATUS = click.Choice([status.value for status in RunStatus])


def _reader(home: str | None) -> StateReader:
    from assay.workspace import open_workspace

    return open_workspace(home).state


@click.group("runs", invoke_without_command=True)
@limit_option(20, "runs to list")
@click.option("--kind", type=_KIND, help="Only runs of this kind.")
@click.option("--status", type=_STATUS, help="Only runs with this status.")
@click.option("--home", type=click.Path(file_okay=False), help="State folder.")
@json_option
@click.pass_context
def runs_group(
    ctx: click.Context,
    limit: int,
    kind: str | None,
    status: str | None,
    home: str | None,
    as_json: bool,
) -> None:
    """List recent runs, newest first: materializations, backfills' runs, checks and
    observations, each with what it did; `assay runs show RUN_ID` for one."""
    ctx.ensure_object(dict)["home"] = home
    if ctx.invoked_subcommand is not None:
        return
    reader = _reader(home)
    rows = reader.runs(limit=limit, kind=kind, status=status)
    if as_json:
        print_json([row.to_dict() for row in rows])
        return
    from assay.cli.render import (
        escape,
        format_duration,
        format_time,
        show,
        status_text,
        table,
    )

    out = table("run", "kind", "status", "started", "duration", "did", "selection", "user")
    for row in rows:
        out.add_row(
            row.run_id[:8],
            row.kind or "-",
            status_text(row.status),
            format_time(row.started_at),
            format_duration(row.duration_s),
            outcome_text(row),
            escape(row.target),
            escape(row.user_name or "-"),
        )
    filtered = " of that kind and status" if kind or status else ""
    show(out if rows else f"No runs{filtered} yet: `assay materialize` starts one.")
    quarantined, _ = reader.quarantined(limit=0)
    if quarantined:
        from assay.state.store import say_quarantined

        say_quarantined(quarantined)


def outcome_text(run: Run) -> str:
    """What a run did, in a few words: `1,090/1,098 steps`, `2,185/2,190 checks passed`,
    `3 observed`."""
    if run.kind == RunKind.OBSERVE or (run.observation_count and not run.step_count):
        return f"{run.observation_count or 0:,} observed"
    if run.kind == RunKind.CHECK or (run.check_count and not run.step_count):
        return f"{run.checks_passed or 0:,}/{run.check_count or 0:,} checks passed"
    return f"{run.succeeded_count or 0:,}/{run.step_count or 0:,} steps"


@runs_group.command("cancel")
@click.argument("run_id", type=RUN_ID)
@click.pass_context
def cancel_command(ctx: click.Context, run_id: str) -> None:
    """Stop a running run (an id or a unique prefix): its running steps finish,
    nothing new starts, and it ends `canceled`. A backfill's run stops its backfill
    (`assay backfill resume` goes on from there)."""
    from assay.workspace import open_workspace

    full = open_workspace(ctx.obj.get("home")).cancel_run(run_id)
    click.echo(f"Asked run {full[:8]} to stop: its running steps finish, nothing new starts.")


@runs_group.command("retry")
@click.argument("run_id", type=RUN_ID)
@executor_options
@project_options
def retry_command(
    run_id: str, executor: str | None, workers: int | None, dask_address: str | None
) -> None:
    """Run again what a failed run (an id or a unique prefix) covered and is still
    stale, under its run key: the key's next generation (a key is never used up;
    the failed run stays recorded)."""
    from assay.cli.reporting import StepLines, graceful_interrupts
    from assay.errors import RunFailedError

    project = open_project()
    with graceful_interrupts() as interrupted:
        result = project.retry(
            run_id,
            executor=executor,
            workers=workers,
            dask_address=dask_address,
            hooks=[StepLines()],
            should_stop=interrupted,
        )
    if say_duplicate(result):
        return
    if not result.run_id:
        click.echo("Nothing to retry: what that run covered is fresh now.")
        return
    if not result.success:
        raise RunFailedError(
            f"run {result.run_id[:8]} {result.status}; see `assay runs show {result.run_id[:8]}`"
        )
    click.echo(f"Run {result.run_id[:8]} succeeded ({len(result.steps)} steps).")


@runs_group.command("show")
@click.argument("run_id", type=RUN_ID)
@click.option(
    "--step",
    "steps",
    multiple=True,
    metavar="ASSET[PARTITION]",
    help="Only this step, with its logs and traceback (repeatable; an asset key: all its steps).",
)
@click.option(
    "--failed", is_flag=True, help="Only the steps that failed, each with its logs and traceback."
)
@json_option
@click.pass_context
def show_command(
    ctx: click.Context, run_id: str, steps: tuple[str, ...], failed: bool, as_json: bool
) -> None:
    """Show one run (an id or a unique prefix).

    A run of a few steps lists them, with their logs and tracebacks. A larger one
    is summarized: its steps counted by status, the slowest, and the steps that
    failed or were skipped, folded by asset and reason into partition ranges, with
    the logs and traceback of the first of each; `--failed` and `--step` show
    every one asked for. `--json` has every step (or those asked for) and log line.
    """
    reader = _reader(ctx.obj.get("home"))
    if steps or failed:
        details = reader.run_details(
            run_id,
            steps=list(steps) or None,
            statuses=["failed", "died"] if failed else None,
        )
        if (
            steps
            and not details.steps
            and not (failed and reader.run_details(run_id, steps=list(steps)).steps)
        ):
            raise _no_such_step(reader, details.run.run_id, steps)
        if as_json:
            print_json(details.to_dict())
            return
        run_report.print_header(details.run)
        run_report.print_steps_in_full(details.steps, details.logs)
        return
    if as_json:
        print_json(reader.run_details(run_id).to_dict())
        return
    overview = reader.run_overview(run_id)
    run_report.print_header(overview.run, overview)
    if overview.step_count <= run_report.SHOWN_STEPS:
        details = reader.run_details(overview.run.run_id)
        run_report.print_step_table(details.steps, details.logs)
    else:
        run_report.print_problems(overview)
    run_report.print_check_problems(overview)


def _no_such_step(reader: StateReader, run_id: str, asked: Sequence[str]) -> click.BadParameter:
    """`--step` named nothing of the run: say what it has (a close step or asset key)."""
    from assay.errors import did_you_mean

    every = reader.run_details(run_id).steps
    names = {*(s.step_key for s in every), *(s.asset_key for s in every)}
    hint = did_you_mean(asked[0], names) or (
        f" Run `assay runs show {run_id[:8]}` to list its steps."
    )
    return click.BadParameter(
        f"run {run_id[:8]} has no step {asked[0]!r} (give an asset key or ASSET[PARTITION])."
        + hint,
        param_hint="'--step'",
    )
