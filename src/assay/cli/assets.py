"""`assay list`, `assay materialize` and `assay graph`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TextIO

import click

from assay.cli.options import (
    config_options,
    executor_options,
    json_option,
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
from assay.errors import RunFailedError
from assay.planning.staleness import StaleKind

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from assay.graph import AssetGraph
    from assay.keys import AssetKey
    from assay.planning.staleness import AssetStaleness
    from assay.project import Project
    from assay.state.models import AssetSummary


@click.command("list")
@selection_argument
@json_option
@project_options
def list_command(selection: tuple[str, ...], as_json: bool) -> None:
    """List assets: key, group, upstream, what is stored and stale, the last run that
    ran the asset and how its steps went there, and the latest checks."""
    project = open_project()
    keys = project.select(selection)
    with project.state.held():  # one open of the store for every read
        summaries = project.state.asset_summaries()
        plan = project.plan(selection)
    staleness = plan.staleness
    rows: list[dict[str, Any]] = []
    for key in keys:
        spec = project.graph.specs[key]
        summary = summaries.get(str(key))
        partitions = partition_counts(staleness.get(key), is_source=spec.is_source)
        rows.append(
            {
                "key": str(key),
                "group": spec.group,
                "upstream": [str(k) for k in project.graph.upstream[key]],
                "tags": dict(spec.tags),
                "owners": list(spec.owners),
                "description": spec.description,
                "partitioned": spec.partitions is not None,
                "partitions": partitions,
                "status": _state(partitions, is_source=spec.is_source),
                "last_materialization": None if summary is None else summary.materialized_at,
                "last_run": _last_run(summary),
                "checks": summarize_checks(summary.checks) if summary and summary.checks else None,
                "freshness": _freshness(spec, staleness.get(key), plan.context),
            }
        )
    if as_json:
        print_json(rows)
        return
    from assay.cli.render import escape, format_time, show, table

    promised = any(row["freshness"] for row in rows)
    columns = ["asset", "group", "upstream", "partitions", "last run", "materialized", "checks"]
    out = table(*columns, *(["freshness"] if promised else []))
    for row in rows:
        cells = [
            escape(row["key"]),
            escape(row["group"]),
            escape(", ".join(row["upstream"]) or "-"),
            _partitions_cell(row),
            _last_run_cell(row["last_run"]),
            format_time(row["last_materialization"]),
            _checks_cell(row["checks"]),
        ]
        if promised:
            fresh = row["freshness"]
            cells.append(
                "-"
                if not fresh
                else (f"[red]{fresh['missed']:,} missed[/]" if fresh["missed"] else "on time")
            )
        out.add_row(*cells)
    show(out)


def _freshness(spec: Any, staleness: AssetStaleness | None, context: Any) -> dict[str, Any] | None:
    """The asset's freshness promise and how many partitions missed it now."""
    if spec.freshness is None or staleness is None:
        return None
    from assay.planning.freshness import freshness_state

    state = freshness_state(spec.freshness, spec.partitions, staleness, context)
    return {"policy": spec.freshness.describe(), "missed": int(state.missed.sum())}


def partition_counts(staleness: AssetStaleness | None, *, is_source: bool) -> dict[str, int]:
    """How many partitions the asset has (1 when unpartitioned), how many are stored
    (observed, for a source), stale among those, and missing: from the planner."""
    import numpy as np

    if staleness is None:
        return {"count": 0, "stored": 0, "stale": 0, "missing": 0}
    count = staleness.size
    if is_source:
        observed = int(np.count_nonzero(~np.isnan(staleness.changed_at)))
        return {"count": count, "stored": observed, "stale": 0, "missing": count - observed}
    missing = sum(len(r.partitions) for r in staleness.reasons if r.kind is StaleKind.MISSING)
    stale = int(np.count_nonzero(staleness.stale)) - missing
    return {"count": count, "stored": count - missing, "stale": stale, "missing": missing}


def _state(partitions: dict[str, int], *, is_source: bool) -> str:
    """source, never materialized, stale (a partition stale or missing), or fresh."""
    if is_source:
        return "source"
    if not partitions["stored"]:
        return "never materialized"
    return "stale" if partitions["stale"] or partitions["missing"] else "fresh"


def _last_run(summary: AssetSummary | None) -> dict[str, Any] | None:
    if summary is None or summary.last_run_id is None:
        return None
    return {
        "run_id": summary.last_run_id,
        "kind": summary.last_run_kind,
        "status": summary.last_run_status,
        "at": summary.last_run_at,
        "steps": summary.last_run_steps,
        "succeeded": summary.last_run_succeeded,
        "failed": summary.last_run_failed,
        "skipped": summary.last_run_skipped,
    }


def _partitions_cell(row: dict[str, Any]) -> str:
    """`365/365 stored, 2 stale`; `stored`, `stale` or `missing` when unpartitioned."""
    counts, status = row["partitions"], row["status"]
    if status == "source":
        if not row["partitioned"]:
            return "source" + (", observed" if counts["stored"] else "")
        return f"source, {counts['stored']:,}/{counts['count']:,} observed"
    if not row["partitioned"]:
        if not counts["stored"]:
            return "[yellow]never materialized[/]"
        return "[yellow]stored, stale[/]" if counts["stale"] else "[green]stored, fresh[/]"
    text = f"{counts['stored']:,}/{counts['count']:,} stored"
    if counts["stale"]:
        return f"{text}, [yellow]{counts['stale']:,} stale[/]"
    if counts["missing"]:
        return f"[yellow]{text}[/]"
    return f"[green]{text}[/]"


def _last_run_cell(last: dict[str, Any] | None) -> str:
    """`succeeded`, or `failed: 3 of 365 failed, 2 skipped` (this asset's steps), with
    the run's kind and id."""
    from assay.cli.render import status_text

    if last is None:
        return "-"
    text = status_text(last["status"])
    bad = [f"{last[k]:,} {k}" for k in ("failed", "skipped") if last[k]]
    if bad:
        text += f": of {last['steps']:,}, {' and '.join(bad)}"
    return f"{text} ({last['kind'] or 'run'} {last['run_id'][:8]})"


def check_summaries(project: Project, keys: Sequence[AssetKey]) -> dict[str, dict[str, Any]]:
    """Per asset with recorded checks: see `summarize_checks`."""
    rows: dict[str, list[dict[str, Any]]] = {}
    for row in project.state.latest_checks([str(k) for k in keys]):
        rows.setdefault(row["asset_key"], []).append(row)
    return {key: summarize_checks(latest) for key, latest in rows.items()}


def summarize_checks(latest: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
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
    """`✓ 730`, `✗ 3 failed: small`, `! 28 warned: even (702 passed)`: the latest
    result of each check on each partition, the checks that did not pass by name."""
    from assay.cli.render import escape

    if not summary:
        return "-"

    def names(entries: list[str]) -> str:
        found = list(dict.fromkeys(entry.split("[", 1)[0] for entry in entries))
        shown = ", ".join(found[:2]) + (f" and {len(found) - 2} more" if len(found) > 2 else "")
        return escape(shown)

    if summary["failed"]:
        text = f"[red]✗ {len(summary['failed']):,} failed[/]: {names(summary['failed'])}"
        if summary["warned"]:
            text += f", [yellow]{len(summary['warned']):,} warned[/]"
        return text
    if summary["warned"]:
        warned = summary["warned"]
        return (
            f"[yellow]! {len(warned):,} warned[/]: {names(warned)} ({summary['passed']:,} passed)"
        )
    return f"[green]✓ {summary['passed']:,}[/]"


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
@config_options
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
            config=run_config(),
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
            config=run_config(),  # refused with --plan: a plan has its own
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
