"""`assay runs` and `assay runs show RUN_ID`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

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

if TYPE_CHECKING:
    from assay.state.models import LogLine, Run
    from assay.state.reader import StateReader


def _reader(home: str | None) -> StateReader:
    from assay.workspace import open_workspace

    return open_workspace(home).state


@click.group("runs", invoke_without_command=True)
@limit_option(20, "runs to list")
@click.option("--home", type=click.Path(file_okay=False), help="State folder.")
@json_option
@click.pass_context
def runs_group(ctx: click.Context, limit: int, home: str | None, as_json: bool) -> None:
    """List recent runs, newest first; `assay runs show RUN_ID` for one."""
    ctx.ensure_object(dict)["home"] = home
    if ctx.invoked_subcommand is not None:
        return
    reader = _reader(home)
    rows = reader.runs(limit=limit)
    if as_json:
        print_json([row.to_dict() for row in rows])
        return
    from assay.cli.render import console, format_duration, format_time, status_text, table

    out = table("run", "kind", "status", "started", "duration", "steps", "selection", "user")
    for row in rows:
        out.add_row(
            row.run_id[:8],
            row.kind or "-",
            status_text(row.status),
            format_time(row.started_at),
            format_duration(row.duration_s),
            f"{row.succeeded_count or 0}/{row.step_count}",
            row.selection or "*",
            row.user_name or "-",
        )
    console().print(out if rows else "No runs yet: `assay materialize` starts one.")
    quarantined, _ = reader.quarantined(limit=0)
    if quarantined:
        from assay.state.store import say_quarantined

        say_quarantined(quarantined)


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
@json_option
@click.pass_context
def show_command(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """Show one run (an id or a unique prefix): its steps, logs and tracebacks."""
    details = _reader(ctx.obj.get("home")).run_details(run_id)
    if as_json:
        print_json(details.to_dict())
        return
    run, steps, logs = details.run, details.steps, details.logs
    from rich.markup import escape

    from assay.cli.render import console, format_duration, format_time, status_text, table

    out = console()
    out.print(
        f"Run [bold]{run.run_id}[/]  {run.kind or 'run'}  {status_text(run.status)}\n"
        f"  started {format_time(run.started_at)}  by {run.user_name}@{run.host}"
        f"  commit {(run.git_commit or '-')[:10]}\n"
        f"  command: {escape(run.command or '-')}"
    )
    lineage = _lineage_line(run)
    if lineage:
        out.print(f"  lineage: {escape(lineage)}")
    grid = table("step", "status", "duration", "detail")
    for step in steps:
        grid.add_row(
            escape(step.step_key),
            status_text(step.status),
            format_duration(step.duration_s),
            escape(step.error or step.skip_reason or ""),
        )
    out.print(grid)
    by_step: dict[str, list[LogLine]] = {}
    for log in logs:
        by_step.setdefault(log.step_key, []).append(log)
    for step in steps:
        step_logs = by_step.get(step.step_key, [])
        if not step_logs and not step.traceback:
            continue
        out.print(f"\n[bold]{escape(step.step_key)}[/] logs:")
        for log in step_logs:
            out.print(f"  {format_time(log.logged_at)} {log.level:<7} {escape(log.message or '')}")
        if step.traceback:
            out.print(escape(step.traceback.rstrip()), style="red")


def _lineage_line(run: Run) -> str | None:
    """`52 events; 52 sent to http://...` (or why not), for a run that recorded lineage."""
    if not run.lineage_events:
        return None
    text = f"{run.lineage_events} events"
    if run.lineage_errors:
        text += f", {run.lineage_errors} could not be built"
    if run.lineage_target:
        sent, failed = run.lineage_sent or 0, run.lineage_failed or 0
        text += f"; {sent} of {sent + failed} sent to {run.lineage_target}"
        if failed:
            text += f" ({run.lineage_error})"
    return text
