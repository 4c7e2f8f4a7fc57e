"""`assay lineage ASSET`: what an asset was built from and what was built from it,
as recorded in OpenLineage events (what really ran, not what is defined now);
`assay lineage send`: deliver the events runs could not send."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from assay.cli.options import json_option, print_json

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    from rich.tree import Tree

    from assay.lineage.explore import Edge, Lineage


class _ShowByDefault(click.Group):
    """`assay lineage ASSET ...` is `assay lineage show ASSET ...`."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("-h", "--help"):
            args = ["show", *args]
        return super().parse_args(ctx, args)


@click.group("lineage", cls=_ShowByDefault)
def lineage_command() -> None:
    """Recorded lineage: `assay lineage ASSET` shows an asset's (`show`); `assay lineage
    send` delivers the events runs could not send to the OpenLineage target."""


@lineage_command.command("show")
@click.argument("asset")
@click.option("--upstream", "direction", flag_value="upstream", help="Only what it was built from.")
@click.option(
    "--downstream", "direction", flag_value="downstream", help="Only what was built from it."
)
@click.option("--depth", type=click.IntRange(min=1), help="How many levels (default: all).")
@click.option(
    "--format",
    "form",
    type=click.Choice(["tree", "mermaid"]),
    default="tree",
    show_default=True,
    help="A tree for the terminal, or a Mermaid graph for docs and pull requests.",
)
@click.option("--home", type=click.Path(file_okay=False), help="State folder.")
@json_option
def show_command(
    asset: str,
    direction: str | None,
    depth: int | None,
    form: str,
    home: str | None,
    as_json: bool,
) -> None:
    """Show the recorded lineage of ASSET (an asset key, or a dataset's name).

    \b
    assay lineage revenue                  upstream and downstream
    assay lineage revenue --upstream --depth 1
    assay lineage revenue --format mermaid > lineage.md
    assay lineage show send                an asset named like a subcommand
    """
    from assay.lineage.explore import open as open_lineage

    lineage = open_lineage(home)
    directions = [direction] if direction else ["upstream", "downstream"]
    walked = {d: lineage.walk(asset, d, depth) for d in directions}
    shown = {asset} | {row["asset"] for rows in walked.values() for row in rows}
    edges = [e for e in lineage.edges() if e.source in shown and e.target in shown]
    if as_json:
        print_json(
            {
                "asset": asset,
                **walked,
                "edges": [{"source": e.source, "target": e.target, "job": e.job} for e in edges],
                "jobs": _jobs(lineage, shown),
            }
        )
        return
    if form == "mermaid":
        click.echo(_mermaid(asset, edges))
        return
    _print_tree(asset, walked, edges, depth, _jobs(lineage, shown))


@lineage_command.command("send")
@click.option(
    "--since",
    metavar="TIME|DURATION",
    help="Only events recorded since then: 2024-05-01, 2024-05-01T12:00, or 2h, 3d, 1w ago.",
)
@click.option("--home", type=click.Path(file_okay=False), help="State folder.")
def send_command(since: str | None, home: str | None) -> None:
    """Send the lineage events runs could not deliver (the endpoint was down, the run
    was killed) to the configured OpenLineage target; what was delivered is never
    sent again. Exits 1 when some still failed.

    \b
    assay lineage send
    assay lineage send --since 1d
    """
    from assay.lineage.backlog import send_backlog
    from assay.lineage.explore import open as open_lineage

    report = send_backlog(open_lineage(home).home, since=_since(since))
    click.echo(report.describe())
    if report.failed:
        raise SystemExit(1)


def _since(text: str | None) -> datetime | None:
    """`2h`, `3d` (that long ago), or an ISO date or time (local time unless it says)."""
    from datetime import datetime, timedelta

    from assay.config import parse_duration

    if text is None:
        return None
    seconds = parse_duration(text)
    if seconds is not None:
        return datetime.now().astimezone() - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is neither a time (2024-05-01, 2024-05-01T12:00) nor a duration "
            "(90s, 30m, 2h, 3d, 1w)",
            param_hint="--since",
        ) from None
    return moment if moment.tzinfo is not None else moment.astimezone()


def _jobs(lineage: Lineage, shown: set[str]) -> dict[str, dict[str, Any]]:
    """The last run of each shown asset's job (keyed by asset)."""
    found = {}
    for row in lineage.jobs().iter_rows(named=True):
        if row["kind"] == "asset" and row["job_name"] in shown:
            found[row["job_name"]] = {
                "runs": row["runs"],
                "last_state": row["last_state"],
                "last_started_at": row["last_started_at"],
            }
    return found


def _print_tree(
    asset: str,
    walked: dict[str, list[dict[str, Any]]],
    edges: list[Edge],
    depth: int | None,
    jobs: dict[str, dict[str, Any]],
) -> None:
    """Each direction as a tree; a dataset reached twice is expanded once."""
    from rich.tree import Tree

    from assay.cli.render import console, escape, format_time

    where = {row["asset"]: _where(row) for rows in walked.values() for row in rows}

    def label(name: str) -> str:
        text = f"[bold]{escape(name)}[/]"
        job = jobs.get(name)
        if job:
            state = job["last_state"]
            style = {"COMPLETE": "green", "FAIL": "red", "ABORT": "yellow"}.get(state, "cyan")
            text += (
                f"  [{style}]{state.lower()}[/] {format_time(job['last_started_at'])}"
                f"  [dim]{job['runs']} run(s)[/]"
            )
        elif name in where:
            text += "  [dim]not built by assay[/]"
        if name in where:
            text += f"  [dim]{escape(where[name])}[/]"
        return text

    root = Tree(label(asset))
    for direction in walked:
        forward = direction == "downstream"
        branch = root.add(f"[dim]{'feeds' if forward else 'built from'}[/]")
        nexts: dict[str, list[str]] = {}
        for edge in edges:
            a, b = (edge.source, edge.target) if forward else (edge.target, edge.source)
            nexts.setdefault(a, []).append(b)
        if not nexts.get(asset):
            branch.add("[dim](nothing recorded)[/]")
            continue
        _grow(asset, branch, nexts, {asset}, depth, label)
    out = console()
    if not out.is_terminal:  # piped or captured: do not fold long paths at 80 columns
        out.width = max(out.width, 200)
    out.print(root)


def _grow(
    node: str,
    tree: Tree,
    nexts: dict[str, list[str]],
    expanded: set[str],
    depth: int | None,
    label: Callable[[str], str],
    level: int = 0,
) -> None:
    from assay.cli.render import escape

    if depth is not None and level >= depth:
        return
    for found in sorted(nexts.get(node, [])):
        if found in expanded:
            tree.add(f"{escape(found)}  [dim](shown above)[/]")
            continue
        expanded.add(found)
        _grow(found, tree.add(label(found)), nexts, expanded, depth, label, level + 1)


def _where(row: dict[str, Any]) -> str:
    namespace, name = str(row["namespace"]), str(row["name"])
    if namespace == "file":
        return name
    return f"{namespace} {name}"


def _mermaid(asset: str, edges: list[Edge]) -> str:
    ids: dict[str, str] = {}

    def node(name: str) -> str:
        if name not in ids:
            ids[name] = f"n{len(ids)}"
        return ids[name]

    node(asset)
    arrows = [f"  {node(e.source)} --> {node(e.target)}" for e in edges]
    lines = ["graph LR"]
    for name, ident in ids.items():
        text = name.replace('"', "#quot;")
        lines.append(f'  {ident}["{text}"]')
    lines += sorted(set(arrows), key=arrows.index)
    lines.append(f"  style {ids[asset]} stroke-width:3px")
    return "\n".join(lines)
