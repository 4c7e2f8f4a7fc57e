"""`assay state doctor` and `assay state rebuild`: the state home's health and repair."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pathlib import Path

HOME = click.option("--home", type=click.Path(file_okay=False), help="State folder.")


def _home(home: str | None) -> Path:
    from assay.config import resolve_config

    return resolve_config(home=home).home


def _older_than(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    from assay.config import parse_duration

    if value is None:
        return None
    seconds = parse_duration(value)
    if seconds is None or seconds <= 0:
        raise click.BadParameter(f"{value!r} is not a duration: give one such as 30d, 12w or 48h")
    return seconds


@click.group("state")
def state_group() -> None:
    """The state home (`.assay/`): check it, rebuild its index, prune old runs.

    \b
      assay state doctor    (what is wrong, and what to run)
      assay state rebuild   (a new assay.duckdb from the journals)
      assay state prune     (forget finished runs older than --older-than)
    """


@state_group.command("doctor")
@HOME
def doctor_command(home: str | None) -> None:
    """Check the state home: the folder, free space, indexing, every table, records
    that could not be indexed, runs marked running. Exits 1 when something needs
    fixing, with the command that fixes it."""
    from assay.state.doctor import Level, diagnose

    findings = diagnose(_home(home))
    marks = {
        Level.OK: click.style("✓", fg="green"),
        Level.NOTE: click.style("!", fg="yellow"),
        Level.PROBLEM: click.style("✗", fg="red"),
    }
    for finding in findings:
        click.echo(f"{marks[finding.level]} {finding.text}")
    if any(f.level is Level.PROBLEM for f in findings):
        raise SystemExit(1)


@state_group.command("rebuild")
@HOME
def rebuild_command(home: str | None) -> None:
    """Move assay.duckdb aside and index every journal into a new one.

    The journals are the durable truth: nothing recorded is lost. The old file
    stays beside it as `assay.duckdb.broken-<time>` until you delete it.
    """
    from assay.state.store import StateStore

    store = StateStore(_home(home))
    aside, report = store.rebuild()
    moved = f"; the old file is {aside}" if aside else ""
    extra = f", {report.quarantined} set aside (`assay state doctor`)" if report.quarantined else ""
    click.echo(f"Rebuilt {store.path} from the journals: {report.records:,} records{extra}{moved}.")


@state_group.command("prune")
@click.option(
    "--older-than",
    "older_than_s",
    metavar="DURATION",
    callback=_older_than,
    help="Prune finished runs that ended longer ago than this (30d, 12w, 48h). "
    "Default: ASSAY_RETENTION or [tool.assay] retention.",
)
@click.option("--dry-run", is_flag=True, help="Say what would go; change nothing.")
@click.option(
    "--no-compact",
    is_flag=True,
    help="Leave the DuckDB file as it is (by default it is copied into a fresh, smaller one).",
)
@HOME
def prune_command(
    older_than_s: float | None, dry_run: bool, no_compact: bool, home: str | None
) -> None:
    """Forget finished runs older than a cutoff: their steps, logs, lineage events,
    check results, failure files and journals. What plans need stays, however old:
    the current version and provenance of every asset partition and the latest
    result of every check. Safe while runs are going (they wait for it a moment).
    """
    from datetime import UTC, datetime, timedelta

    from assay.config import resolve_config
    from assay.state.prune import prune_state

    config = resolve_config(home=home)
    seconds = older_than_s if older_than_s is not None else config.retention_s
    if seconds is None:
        raise click.UsageError(
            'say how old a run must be to go: --older-than 30d, or set retention = "30d" '
            "in [tool.assay]"
        )
    before = datetime.now(UTC) - timedelta(seconds=seconds)
    report = prune_state(config.home, before=before, compact=not no_compact, dry_run=dry_run)
    click.echo(report.describe())
