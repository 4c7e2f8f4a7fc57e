"""`assay plan` and `assay why`: what is stale, and why."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from assay.cli.assets import check_summaries
from assay.cli.options import (
    ASSET,
    config_options,
    json_option,
    open_project,
    partition_options,
    partition_selection,
    print_json,
    project_options,
    run_config,
    selection_argument,
)
from assay.errors import SelectionError

if TYPE_CHECKING:
    from assay.graph import AssetGraph
    from assay.keys import AssetKey
    from assay.planning.plan import Plan
    from assay.project import Project


@click.command("plan")
@selection_argument
@partition_options
@click.option("--exit-code", is_flag=True, help="Exit 1 when anything is stale (for CI).")
@click.option(
    "--verify",
    is_flag=True,
    help="Check that every stored partition still exists in storage (a deleted file or "
    "dropped table is stale: stored data missing).",
)
@config_options
@json_option
@project_options
def plan_command(
    selection: tuple[str, ...],
    partition_keys: tuple[str, ...],
    first: str | None,
    last: str | None,
    exit_code: bool,
    verify: bool,
    as_json: bool,
) -> None:
    """Show what `assay materialize` would run, and why; runs nothing.

    `--json` prints a plan that `assay materialize --plan FILE` applies later,
    exactly, unless what it covers changed in between.
    """
    project = open_project()
    chosen = partition_selection(partition_keys, first, last)
    plan = project.plan(selection, partitions=chosen, verify=verify, config=run_config())
    notes = _trust_notes(project, plan, selection)
    failing = {
        key: summary["failed"]
        for key, summary in check_summaries(project, project.select(selection)).items()
        if summary["failed"]
    }
    if as_json:
        from assay.planning.serialize import plan_to_json

        print_json({**plan_to_json(plan), "failing_checks": failing, **notes})
    else:
        _print_plan(plan, project.graph)
        _print_notes(notes)
        for key, names in failing.items():
            shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
            click.echo(click.style(f"! {key}: latest check failed: {shown}", fg="red"))
    if exit_code and not plan.is_empty:
        raise SystemExit(1)


def _trust_notes(project: Project, plan: Plan, selection: tuple[str, ...]) -> dict[str, Any]:
    """What the plan does not run but must say: partitions that wait for a source, and
    checks whose verdicts on stored data are out of date (`assay check` re-judges)."""
    return {
        "waiting": [
            {
                "asset": str(step.key),
                "partitions": None
                if step.definition is None or step.partitions is None
                else step.definition.fold(step.partitions),
                "count": step.count,
                "reasons": [
                    step.describe(
                        reason,
                        partitions,
                        upstream=plan.upstream_partitions(
                            project.graph, step.key, reason, partitions
                        ),
                    )
                    for reason, partitions in step.shown_reasons()
                ],
            }
            for step in plan.waiting
        ],
        "out_of_date_checks": [c.to_dict() for c in project.out_of_date_checks(selection)],
    }


def _print_notes(notes: dict[str, Any]) -> None:
    for entry in notes["waiting"]:
        for reason in entry["reasons"]:
            click.echo(click.style(f"… {entry['asset']}: {reason} (not run)", fg="yellow"))
    for check in notes["out_of_date_checks"]:
        click.echo(
            click.style(
                f"! {check['asset']}: {check['description']}: "
                f"`assay check {check['asset']}` judges them again",
                fg="yellow",
            )
        )


def _print_plan(plan: Plan, graph: AssetGraph | None = None) -> None:
    """Each step with its count, then its reasons for the partitions it runs (the
    upstream partitions narrowed to those they read, given the graph)."""
    if plan.is_empty:
        click.echo("Nothing to do: every selected asset partition is fresh.")
        return
    for step in plan.steps:
        size = (
            ""
            if step.definition is None
            else f"  {step.count:,} of {step.definition.size(plan.context):,} partitions"
        )
        click.echo(click.style(str(step.key), bold=True) + click.style(size, dim=True))
        for reason, partitions in step.shown_reasons():
            upstream = (
                None
                if graph is None
                else plan.upstream_partitions(graph, step.key, reason, partitions)
            )
            click.echo(f"  {step.describe(reason, partitions, upstream=upstream)}")
    total = plan.partition_count
    assets = len(plan.steps)
    click.echo(
        f"\n{assets} asset{'s' * (assets != 1)}, {total:,} asset partition{'s' * (total != 1)} "
        "to materialize."
    )


@click.command("why")
@click.argument("asset", type=ASSET)
@click.option("--partition", "-p", "partition", metavar="KEY", help="The partition to explain.")
@click.option(
    "--automation",
    is_flag=True,
    help="Why automation would (or would not) request it: each part of its condition.",
)
@json_option
@project_options
def why_command(asset: str, partition: str | None, automation: bool, as_json: bool) -> None:
    """Explain one asset partition: fresh or stale, and the root causes."""
    from assay.planning.why import explain

    project = open_project()
    keys = project.select(asset)
    if len(keys) != 1:
        shown = ", ".join(map(str, keys[:4])) + (", …" if len(keys) > 4 else "")
        raise SelectionError(
            f"`assay why` explains one asset, and {asset!r} selects {len(keys)} ({shown}): "
            "name one of them"
        )
    (key,) = keys
    if automation:
        from assay.cli.automation import why_automation

        explanation = why_automation(project, key, partition)
        if as_json:
            print_json(explanation)
        else:
            click.echo(explanation["text"])
        return
    explanation = explain(
        project.graph,
        project.plan(f"+{key}"),
        key,
        partition,
        _versions(project, key, partition),
        lambda asset, where: project.state.stored_code_parts(str(asset), where),
        project.state.last_attempts,
    )
    if as_json:
        print_json(explanation)
        return
    click.echo(explanation["text"])


def _versions(project: Project, key: AssetKey, partition: str | None) -> dict[str, Any]:
    return project.state.stored_partition(str(key), partition or "")


@click.command("observe")
@selection_argument
@json_option
@project_options
def observe_command(selection: tuple[str, ...], as_json: bool) -> None:
    """Record the current data version of the selected source assets."""
    project = open_project()
    result = project.observe(selection)
    rows = [
        {"asset": str(o.key), "partition": o.partition, "data_version": o.data_version}
        for o in result.observations
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(
            "No observable source assets selected "
            "(decorate an observe function with @source_asset)."
        )
        return
    for row in rows:
        where = f"[{row['partition']}]" if row["partition"] else ""
        click.echo(f"  observed {row['asset']}{where}: {row['data_version']}")
    click.echo(
        f"Recorded {len(rows)} observation{'s' * (len(rows) != 1)} (run {result.run_id[:8]})."
    )
