"""`assay backfill start|resume|status|list|cancel`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

import click

from assay.cli.options import (
    BACKFILL_ID,
    config_options,
    executor_options,
    json_option,
    limit_option,
    open_project,
    partition_options,
    partition_selection,
    print_json,
    project_options,
    read_plan,
    run_config,
    run_id_option,
    say_duplicate,
    selection_argument,
)
from assay.errors import RunFailedError, StateLockedError, UnknownBackfillError

if TYPE_CHECKING:
    from datetime import datetime

    from assay.execution.backfill import BackfillStatus
    from assay.project import Project
    from assay.results import RunResult


@click.group("backfill")
def backfill_group() -> None:
    """Recompute history: resumable runs over partition ranges.

    \b
      assay backfill start +daily_revenue --from 2024-01-01 --to 2024-12-31
      assay backfill status            (the latest backfill)
      assay backfill resume ID         (what did not succeed)
      assay backfill cancel ID         (running steps finish)
    """


@backfill_group.command("start")
@selection_argument
@partition_options
@click.option("--force", is_flag=True, help="Cover every partition in range, stale or not.")
@click.option("--dry-run", is_flag=True, help="Print what it would run, folded into ranges.")
@click.option(
    "--plan",
    "plan_file",
    type=click.File("r"),
    help="Backfill exactly this plan (`assay plan --json`), refused if it is out of date.",
)
@click.option(
    "--detach", is_flag=True, help="Drive it from a process of its own; print its run id."
)
@config_options
@run_id_option
@executor_options
@project_options
def start_command(
    selection: tuple[str, ...],
    partition_keys: tuple[str, ...],
    first: str | None,
    last: str | None,
    force: bool,
    dry_run: bool,
    plan_file: TextIO | None,
    detach: bool,
    at: datetime | None,
    run_key: str | None,
    run_id: str | None,
    executor: str | None,
    workers: int | None,
    dask_address: str | None,
) -> None:
    """Start a backfill of the selected assets over a partition range.

    Covers the stale asset partitions of the range (all of them with --force),
    recorded so that `assay backfill resume` can finish it after a failure or an
    interruption. This process drives it: no daemon. Ctrl-C lets running steps
    finish, then stops; resume goes on from there.
    """
    chosen = partition_selection(partition_keys, first, last)
    project = open_project()
    target: Any = selection
    if plan_file is not None:
        target = read_plan(project, plan_file, selection, chosen, force)
    if detach:
        launched = project.launch(
            target,
            backfill=True,
            partitions=chosen,
            force=force,
            executor=executor,
            workers=workers,
            dask_address=dask_address,
            config=run_config(),
        )
        click.echo(
            f"Launched the backfill's run {launched.run_id[:8]} ({launched.run_id}), PID "
            f"{launched.pid}: `assay backfill status` follows it, its output is in {launched.log}"
        )
        return
    if dry_run:
        plan = (
            target
            if plan_file is not None
            else project.plan(selection, partitions=chosen, force=force, config=run_config())
        )
        total = sum(step.count for step in plan.steps)
        click.echo(f"Would backfill {total} asset partitions of {len(plan.steps)} assets:")
        for step in plan.steps:
            where = "(unpartitioned)"
            if step.definition is not None and step.partitions is not None:
                where = step.definition.fold(step.partitions)
            click.echo(f"  {step.key}  {where}")
        return
    _drive(
        project,
        lambda reporter, stop: project.backfill(
            target,
            partitions=chosen,
            force=force,
            executor=executor,
            workers=workers,
            dask_address=dask_address,
            hooks=[reporter],
            should_stop=stop,
            run_id=run_id,
            run_key=run_key,
            now=at,
            config=run_config(),  # refused with --plan: a plan has its own
        ),
    )


@backfill_group.command("resume")
@click.argument("backfill_id", required=False, type=BACKFILL_ID)
@executor_options
@click.option("--run-id", hidden=True, help="The id to record the run under (the launcher's).")
@project_options
def resume_command(
    backfill_id: str | None,
    executor: str | None,
    workers: int | None,
    dask_address: str | None,
    run_id: str | None,
) -> None:
    """Run what a backfill has not done: failed, skipped, interrupted, never started.

    Asset partitions that succeeded are never run again. Without an id, the
    latest backfill. The executor and the workers default to the backfill's own.
    """
    project = open_project()
    if backfill_id is None:
        backfill_id = _latest(project)
    _drive(
        project,
        lambda reporter, stop: project.resume_backfill(
            backfill_id,
            executor=executor,
            workers=workers,
            dask_address=dask_address,
            hooks=[reporter],
            should_stop=stop,
            run_id=run_id,
        ),
    )


def _drive(project: Project, go: Any) -> None:
    from assay.cli.reporting import BackfillProgress, graceful_interrupts

    reporter = BackfillProgress()
    try:
        with graceful_interrupts() as interrupted:
            result: RunResult = go(reporter, interrupted)
    finally:
        if reporter.total:
            reporter.close()
    if say_duplicate(result):
        return
    if result.backfill_id is None:
        click.echo("Nothing to backfill: every selected partition is fresh (--force runs them).")
        return
    short = result.backfill_id[:8]
    hint = (
        f"`assay backfill status {short}` shows what failed; "
        f"`assay backfill resume {short}` runs the rest"
    )
    status = _indexed_status(project, result)
    if status is None:  # the store is held: this run's own steps are what is known
        counts = result.counts()
        summary = ", ".join(f"{n} {what}" for what, n in counts.items() if n) or "nothing ran"
        later = f"`assay backfill status {short}` shows it once the state store is free"
        if result.success:
            click.echo(f"Backfill {short} completed: {summary} ({later}).")
            return
        raise RunFailedError(f"backfill {short} {result.status} ({summary}); {hint}")
    if status.status == "completed":
        click.echo(f"Backfill {short} completed: {_summary(status)}.")
        return
    raise RunFailedError(f"backfill {short} {status.status} ({_summary(status)}); {hint}")


def _indexed_status(project: Project, result: RunResult) -> BackfillStatus | None:
    """The backfill's status from the state store, or None when its records are not
    indexed: the store is held (the run said so; its records wait in the journal)."""

    assert result.backfill_id is not None
    if not result.index.is_complete:
        return None
    try:
        return project.backfill_status(result.backfill_id)
    except StateLockedError:  # taken between the run's last index and now
        return None


def _latest(project: Project) -> str:

    latest = project.backfills(limit=1)
    if not latest:
        raise UnknownBackfillError("no backfills yet: `assay backfill start` starts one")
    return str(latest[0]["backfill_id"])


def _summary(status: BackfillStatus) -> str:
    totals = {"succeeded": 0, "failed": 0, "skipped": 0, "interrupted": 0, "pending": 0}
    for asset in status.assets:
        totals["succeeded"] += asset.succeeded
        totals["failed"] += asset.failed
        totals["skipped"] += asset.skipped
        totals["interrupted"] += asset.interrupted
        totals["pending"] += asset.pending
    return ", ".join(f"{n} {what}" for what, n in totals.items() if n) or "nothing to run"


@backfill_group.command("status")
@click.argument("backfill_id", required=False, type=BACKFILL_ID)
@limit_option(10, "failed partitions to show")
@json_option
@project_options
def status_command(backfill_id: str | None, limit: int, as_json: bool) -> None:
    """A backfill's progress per asset, and its failed and skipped partitions.

    Without an id, the latest backfill.
    """
    project = open_project()
    if backfill_id is None:
        backfill_id = _latest(project)
    status = project.backfill_status(backfill_id)
    if as_json:
        print_json({**status.to_dict(), "steps": list(status.steps)})
        return
    from assay.cli.render import console, escape, format_time, status_text, table

    row = status.backfill
    out = console()
    out.print(
        f"Backfill [bold]{status.backfill_id}[/]  {status_text(status.status)}\n"
        f"  selection {row['selection'] or '*'}  partitions {row['partitions'] or 'all'}"
        f"{'  --force' if row['is_forced'] else ''}  executor {row['executor']}\n"
        f"  created {format_time(row['created_at'])}  finished {format_time(row['finished_at'])}"
        f"  last run {(row['last_run_id'] or '-')[:8]}"
    )
    grid = table("asset", "targeted", "succeeded", "failed", "skipped", "interrupted", "pending")
    for asset in status.assets:
        grid.add_row(
            asset.asset_key,
            str(asset.targeted),
            f"[green]{asset.succeeded}[/]",
            f"[red]{asset.failed}[/]" if asset.failed else "0",
            f"[yellow]{asset.skipped}[/]" if asset.skipped else "0",
            str(asset.interrupted),
            str(asset.pending),
        )
    out.print(grid)
    rank = {"failed": 0, "died": 1, "running": 1, "skipped": 2}
    bad = sorted(
        (s for s in status.steps if s["status"] != "succeeded"), key=lambda s: rank[s["status"]]
    )
    if bad:
        out.print(f"\n{len(bad)} asset partitions did not succeed:")
        for step in bad[:limit]:
            why = step["error"] or step["skip_reason"] or "interrupted"
            where = f"[{step['partition_key']}]" if step["partition_key"] else ""
            # keys and errors are text, not markup (a customer named `red`)
            shown = escape(f"{step['asset_key']}{where}")
            out.print(f"  {shown}  {status_text(step['status'])}  {escape(why)}")
        if len(bad) > limit:
            out.print(f"  … and {len(bad) - limit} more (--limit, or --json for all)")
    if status.is_resumable:
        out.print(f"\nResume with `assay backfill resume {status.backfill_id[:8]}`.")


@backfill_group.command("list")
@limit_option(20, "backfills to list")
@json_option
@project_options
def list_command(limit: int, as_json: bool) -> None:
    """Recent backfills, newest first."""
    project = open_project()
    rows = project.backfills(limit=limit)
    if as_json:
        print_json(rows)
        return

    from assay.cli.render import format_time, show, status_text, table

    grid = table("backfill", "status", "created", "selection", "partitions", "done", "failed")
    for row in rows:
        grid.add_row(
            row["backfill_id"][:8],
            status_text(row["status"]),
            format_time(row["created_at"]),
            row["selection"] or "*",
            row["partitions"] or "all",
            f"{row['succeeded']}/{row['partition_count']}",
            str(row["failed"] + row["skipped"]),
        )
    show(grid if rows else "No backfills yet: `assay backfill start` starts one.")


@backfill_group.command("cancel")
@click.argument("backfill_id", type=BACKFILL_ID)
@project_options
def cancel_command(backfill_id: str) -> None:
    """Cancel a backfill: its running steps finish and nothing new starts."""
    project = open_project()
    status = project.cancel_backfill(backfill_id)
    short = project.state.backfill(backfill_id)["backfill_id"][:8]
    if status == "canceling":
        click.echo(f"Backfill {short}: asked its process to stop; running steps finish first.")
    else:
        click.echo(f"Backfill {short} canceled (its process was not running).")
