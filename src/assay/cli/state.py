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


@click.group("state")
def state_group() -> None:
    """The state home (`.assay/`): check it, rebuild its index from the journals.

    \b
      assay state doctor    (what is wrong, and what to run)
      assay state rebuild   (a new assay.duckdb from the journals)
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
