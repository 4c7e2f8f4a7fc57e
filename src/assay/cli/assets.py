"""`assay list`, `assay materialize` and `assay graph`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

import click

from assay.cli.options import (
    executor_options,
    json_option,
    open_project,
    partition_options,
    partition_selection,
    print_json,
    project_options,
    read_plan,
    run_id_option,
    say_duplicate,
    selection_argument,
)
from assay.errors import RunFailedError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from assay.graph import AssetGraph
    from assay.keys import AssetKey
    from assay.project import Project


@click.command("list")
@selection_argument
@json_option
@project_options
def list_command(selection: tuple[str, ...], as_json: bool) -> None:
    """List assets: key, group, upstream, last materialization and status."""
    project = open_project()
    keys = project.select(selection)
    summaries = project.state.asset_summaries()
    checks = {
        key: summarize_checks(summary["checks"])
        for key, summary in summaries.items()
        if summary.get("checks")
    }
    rows: list[dict[str, Any]] = []
    for key in keys:
        spec = project.graph.specs[key]
        summary = summaries.get(str(key), {})
        rows.append(
            {
                "key": str(key),
                "group": spec.group,
                "upstream": [str(k) for k in project.graph.upstream[key]],
                "tags": dict(spec.tags),
                "owners": list(spec.owners),
                "description": spec.description,
                "last_materialization": summary.get("materialized_at"),
                "status": "source"
                if spec.is_source
                else summary.get("last_status") or "never materialized",
                "checks": checks.get(str(key)),
            }
        )
    if as_json:
        print_json(rows)
        return
    from assay.cli.render import console, format_time, status_text, table

    out = table("asset", "group", "upstream", "last materialization", "status", "checks")
    for row in rows:
        out.add_row(
            row["key"],
            row["group"],
            ", ".join(row["upstream"]) or "-",
            format_time(row["last_materialization"]),
            status_text(row["status"]),
            _checks_cell(row["checks"]),
        )
    console().print(out)


def check_summaries(project: Project, keys: Sequence[AssetKey]) -> dict[str, dict[str, Any]]:
    """Per asset with recorded checks: see `summarize_checks`."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in project.state.latest_checks([str(k) for k in keys]):
        rows.setdefault(row["asset_key"], []).append(row)
    return {key: summarize_checks(latest) for key, latest in rows.items()}


def summarize_checks(latest: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """How many latest check results passed, and which failed or warned:
    `{"passed": 4, "failed": ["positive[2024-01-02]"], "warned": [...]}`."""
    entry: dict[str, Any] = {"passed": 0, "failed": [], "warned": []}
    for row in latest:
        if row["passed"]:
            entry["passed"] += 1
            continue
        where = f"[{row['partition_key']}]" if row["partition_key"] else ""
        bucket = "warned" if row["severity"] == "warn" else "failed"
        entry[bucket].append(f"{row['check_name']}{where}")
    return entry


def _checks_cell(summary: dict[str, Any] | None) -> str:
    if not summary:
        return "-"
    if summary["failed"]:
        shown = ", ".join(summary["failed"][:2]) + (" …" if len(summary["failed"]) > 2 else "")
        return f"[red]✗ {len(summary['failed'])} failed[/] {shown}"
    if summary["warned"]:
        return f"[yellow]! {len(summary['warned'])} warned[/] ({summary['passed']} passed)"
    return f"[green]✓ {summary['passed']}[/]"


@click.command("materialize")
@selection_argument
@partition_options
@click.option("--force", is_flag=True, help="Run every selected partition, stale or not.")
@click.option(
    "--plan",
    "plan_file",
    type=click.File("r"),
    help="Apply this plan (`assay plan --json > plan.json`; `-` reads it from stdin): "
    "exactly its asset partitions, refused if anything it covers changed since.",
)
@click.option(
    "--detach", is_flag=True, help="Run it in a process of its own; print its run id and return."
)
@click.option(
    "--observe",
    "observe_first",
    is_flag=True,
    help="Observe the selection's source assets first, then run what became stale.",
)
@run_id_option
@executor_options
@project_options
def materialize_command(
    selection: tuple[str, ...],
    partition_keys: tuple[str, ...],
    first: str | None,
    last: str | None,
    force: bool,
    plan_file: TextIO | None,
    detach: bool,
    observe_first: bool,
    at: datetime | None,
    run_key: str | None,
    run_id: str | None,
    executor: str | None,
    workers: int | None,
    dask_address: str | None,
) -> None:
    """Materialize what is stale among the selected assets (all when none).

    Runs exactly what `assay plan` shows, in dependency order; `--force` runs
    every selected asset partition; `--plan FILE` applies a plan made earlier.
    Ctrl-C lets running steps finish.
    """
    from assay.cli.reporting import StepLines, graceful_interrupts

    chosen = partition_selection(partition_keys, first, last)
    project = open_project()
    target: Any = selection
    if plan_file is not None:
        target = read_plan(project, plan_file, selection, chosen, force)
    if detach:
        launched = project.launch(
            target,
            partitions=chosen,
            force=force,
            executor=executor,
            workers=workers,
            dask_address=dask_address,
        )
        click.echo(
            f"Launched run {launched.run_id[:8]} ({launched.run_id}), PID {launched.pid}: "
            f"`assay runs show {launched.run_id[:8]}` follows it, its output is in {launched.log}"
        )
        return
    if observe_first and plan_file is None:
        sources = [
            k for k in project.select(selection or None) if project.graph.specs[k].is_observable
        ]
        if sources:
            project.observe([str(k) for k in sources])
    with graceful_interrupts() as interrupted:
        result = project.materialize(
            target,
            partitions=chosen,
            force=force,
            now=at,
            executor=executor,
            workers=workers,
            dask_address=dask_address,
            hooks=[StepLines()],
            should_stop=interrupted,
            run_id=run_id,
            run_key=run_key,
        )
    if say_duplicate(result):
        return
    if not result.steps and result.status == "succeeded":
        click.echo("Nothing to materialize: everything selected is fresh (--force runs it anyway).")
        return
    counts = result.counts()
    summary = ", ".join(f"{n} {status}" for status, n in counts.items() if n) or "nothing ran"
    if not result.success:
        raise RunFailedError(
            f"run {result.run_id[:8]} {result.status} ({summary}); "
            f"see `assay runs show {result.run_id[:8]}` for logs and tracebacks"
        )
    click.echo(f"Run {result.run_id[:8]} succeeded ({summary}).")


@click.command("graph")
@selection_argument
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["mermaid", "dot"]),
    default="mermaid",
    show_default=True,
    help="Mermaid (renders on GitHub) or Graphviz DOT.",
)
@project_options
def graph_command(selection: tuple[str, ...], fmt: str) -> None:
    """Print the asset graph (the selected part) as Mermaid or DOT."""
    project = open_project()
    keys = project.select(selection)
    render = _mermaid if fmt == "mermaid" else _dot
    click.echo(render(project.graph, keys))


def _edges(graph: AssetGraph, keys: Sequence[AssetKey]) -> list[tuple[AssetKey, AssetKey]]:
    chosen = set(keys)
    return [(up, key) for key in keys for up in graph.upstream[key] if up in chosen]


def _mermaid(graph: AssetGraph, keys: Sequence[AssetKey]) -> str:
    ids = {key: f"n{i}" for i, key in enumerate(keys)}
    lines = ["graph LR"]
    groups: dict[str, list[AssetKey]] = {}
    for key in keys:
        groups.setdefault(graph.specs[key].group, []).append(key)
    for group, members in groups.items():
        lines.append(f"  subgraph {group}")
        lines.extend(f'    {ids[key]}["{key}"]' for key in members)
        lines.append("  end")
    lines.extend(f"  {ids[up]} --> {ids[down]}" for up, down in _edges(graph, keys))
    return "\n".join(lines)


def _dot(graph: AssetGraph, keys: Sequence[AssetKey]) -> str:
    lines = ["digraph assets {", "  rankdir=LR;", "  node [shape=box];"]
    lines.extend(f'  "{key}" [group="{graph.specs[key].group}"];' for key in keys)
    lines.extend(f'  "{up}" -> "{down}";' for up, down in _edges(graph, keys))
    lines.append("}")
    return "\n".join(lines)
