"""`assay automation list | enable | disable | preview`: declarative automation."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from assay.cli.options import (
    instant,
    json_option,
    open_project,
    print_json,
    project_options,
    selection_argument,
)
from assay.cli.render import format_time, show, table
from assay.errors import SelectionError

if TYPE_CHECKING:
    from assay.conditions import AutomationCondition
    from assay.keys import AssetKey
    from assay.planning.freshness import FreshnessState
    from assay.project import Project

HISTORY_HINT = "run `assay materialize` for them, or `assay automation enable --include-history`"


@click.group("automation")
def automation_group() -> None:
    """Conditions that keep assets fresh by themselves (evaluated by `assay daemon`
    and `assay tick`).

    \b
      assay automation list
      assay automation preview            (what the next tick would request, and why)
      assay automation disable daily_revenue
      assay automation enable 'group:sales' --include-history
    """


def _conditions(project: Project) -> dict[AssetKey, AutomationCondition]:
    from assay.planning.conditions import conditions_of

    return conditions_of(project.definitions)


def _chosen(project: Project, selection: tuple[str, ...]) -> dict[AssetKey, AutomationCondition]:
    conditions = _conditions(project)
    if not selection:
        return conditions
    keys = project.select(" ".join(selection))
    chosen = {k: conditions[k] for k in keys if k in conditions}
    if not chosen:
        raise SelectionError(
            f"{' '.join(selection)!r} selects no asset with a condition: give one "
            "`@asset(automation=Auto.on_stale())` or `Definitions(automation={...})`"
        )
    return chosen


def freshness_now(
    project: Project, keys: list[AssetKey] | None = None
) -> dict[AssetKey, FreshnessState]:
    """Each asset with a `Freshness` (of `keys`): its partitions missed now."""
    from assay.planning.freshness import freshness_state

    graph = project.graph
    wanted = [
        k
        for k, spec in graph.specs.items()
        if spec.freshness is not None and (keys is None or k in keys)
    ]
    if not wanted:
        return {}
    plan = project.plan(" ".join(f"+{k}" for k in wanted))
    return {
        key: freshness_state(
            graph.specs[key].freshness,  # type: ignore[arg-type]
            graph.specs[key].partitions,
            plan.staleness[key],
            plan.context,
        )
        for key in wanted
    }


@automation_group.command("list")
@json_option
@project_options
def automation_list(as_json: bool) -> None:
    """Each asset's condition and freshness: enabled or not, its last evaluation."""
    from assay.daemon.conditions import enabled_name
    from assay.state.automation import AutomationReader

    project = open_project()
    conditions = _conditions(project)
    reader = AutomationReader(project.config.home)
    overrides = reader.enabled()
    freshness = freshness_now(project)
    rows: list[dict[str, Any]] = []
    for key in project.graph.order:
        condition = conditions.get(key)
        policy = project.graph.specs[key].freshness
        if condition is None and policy is None:
            continue
        last = reader.evaluations(str(key), limit=1) if condition is not None else []
        state = freshness.get(key)
        rows.append(
            {
                "asset": str(key),
                "condition": None if condition is None else condition.describe(),
                "enabled": overrides.get(enabled_name(key), True) if condition else None,
                "freshness": None if policy is None else policy.describe(),
                "freshness_missed": 0 if state is None else int(state.missed.sum()),
                "last_evaluated": last[0]["evaluated_at"] if last else None,
                "last_requested": last[0]["requested_count"] if last else None,
                "history": last[0]["history"] if last else None,
            }
        )
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(
            "No conditions: give assets `automation=Auto.on_stale()` (see docs/automation.md)."
        )
        return
    out = table("asset", "enabled", "condition", "freshness", "last evaluated", "requested")
    for row in rows:
        missed = row["freshness_missed"]
        fresh = row["freshness"] or "-"
        if missed:
            fresh += f" [red]({missed:,} missed)[/]"
        out.add_row(
            row["asset"],
            "-" if row["enabled"] is None else ("yes" if row["enabled"] else "[dim]no[/]"),
            row["condition"] or "-",
            fresh,
            format_time(row["last_evaluated"]) if row["last_evaluated"] else "-",
            "-" if row["last_requested"] is None else str(row["last_requested"]),
        )
    show(out)


@automation_group.command("enable")
@selection_argument
@click.option(
    "--include-history",
    is_flag=True,
    help="Also request what was stale before the condition was added (default: from now on).",
)
@project_options
def automation_enable(selection: tuple[str, ...], include_history: bool) -> None:
    """Enable the conditions of the selected assets."""
    _set_enabled(selection, True, include_history=include_history)


@automation_group.command("disable")
@selection_argument
@project_options
def automation_disable(selection: tuple[str, ...]) -> None:
    """Disable the conditions of the selected assets (the daemon stops requesting them)."""
    _set_enabled(selection, False, include_history=False)


def _set_enabled(selection: tuple[str, ...], enabled: bool, *, include_history: bool) -> None:
    from assay.daemon.conditions import enabled_name
    from assay.state.journal import Journal
    from assay.state.store import StateStore
    from assay.versioning import code_version, inputs_signature

    if not selection:
        raise click.UsageError("give the assets, like `assay automation disable daily_revenue`")
    project = open_project()
    chosen = _chosen(project, selection)
    now = time.time()
    records: list[dict[str, Any]] = []
    for n, (key, condition) in enumerate(chosen.items()):
        records.append(
            {"type": "automation", "name": enabled_name(key), "kind": "condition",
             "enabled": enabled, "at": now, "seq": time.time_ns() + n}
        )  # fmt: skip
        if include_history:
            spec = project.graph.specs[key]
            records.append(
                {
                    "type": "automation_asset",
                    "asset_key": str(key),
                    "condition": condition.fingerprint,
                    "code": f"{code_version(spec)};{inputs_signature(project.graph, key)}",
                    "since": 0,
                    "since_seq": 0,
                    "code_since": 0,
                    "had_history": False,
                    "crons": "[]",
                    "at": now,
                    "seq": time.time_ns() + n,
                }
            )
    with Journal(project.config.journal_dir, f"automation-{uuid.uuid4().hex[:12]}") as journal:
        journal.append(
            *records,
            {"type": "journal_closed", "journal": journal.path.stem, "at": time.time()},
            durable=True,
        )
    StateStore(project.config.home).index_pending()
    names = ", ".join(str(k) for k in chosen)
    if not enabled:
        click.echo(f"Automation disabled for {names}.")
    elif include_history:
        click.echo(f"Automation enabled for {names}, with history: what is stale now is requested.")
    else:
        click.echo(f"Automation enabled for {names}: from now on (stale history is not run).")


@automation_group.command("preview")
@selection_argument
@click.option(
    "--at", "at", metavar="TIME", callback=instant, help="Evaluate as of TIME (default: now)."
)
@json_option
@project_options
def automation_preview(selection: tuple[str, ...], at: datetime | None, as_json: bool) -> None:
    """What the next tick would request, and why; records nothing."""
    from assay.daemon.preview import preview
    from assay.planning.conditions import with_depth

    project = open_project()
    chosen = _chosen(project, selection)
    now = at or datetime.now(UTC)
    ticker = preview(project.config, project.definitions, now, real_clock=at is None)
    rows: list[dict[str, Any]] = []
    for key in chosen:
        evaluation = ticker.last.get(key)
        if evaluation is None:
            rows.append({"asset": str(key), "enabled": False})
            continue
        definition = project.graph.specs[key].partitions
        rows.append(
            {
                "asset": str(key),
                "enabled": True,
                "condition": evaluation.condition.describe(),
                "requested": None
                if not evaluation.requested or definition is None
                else definition.fold(evaluation.requested),
                "count": len(evaluation.requested),
                "capped": evaluation.capped,
                "history": evaluation.history,
                "parts": [
                    {"part": p, "partitions": c}
                    for (depth, _), (p, c) in zip(
                        with_depth(evaluation.condition), evaluation.counts, strict=True
                    )
                    if depth == 1
                ],
            }
        )
    if as_json:
        print_json(rows)
        return
    click.echo(f"As of {format_time(now)}, the next tick would request:")
    for row in rows:
        name = click.style(row["asset"], bold=True)
        if not row["enabled"]:
            click.echo(f"  {name}: nothing (automation disabled)")
            continue
        if row["count"]:
            what = row["requested"] or "it"
            click.echo(f"  {name}: {what} ({row['count']:,} partition{'s' * (row['count'] != 1)})")
        else:
            click.echo(f"  {name}: nothing")
        if row["capped"]:
            click.echo(f"    {row['capped']:,} more on later ticks (the cap per tick)")
        if row["history"]:
            click.echo(
                f"    {row['history']:,} stale partition(s) predate the condition: reported, "
                f"not requested ({HISTORY_HINT})"
            )
        parts = "; ".join(f"{p['part']}: {p['partitions']:,}" for p in row["parts"])
        click.echo(click.style(f"    {parts}", dim=True))


def why_automation(project: Project, key: AssetKey, partition: str | None) -> dict[str, Any]:
    """`assay why ASSET -p KEY --automation`: would the next tick request it, what each
    part of its condition says, and the latest requests that included it."""
    from assay.daemon.preview import preview
    from assay.execution.taskgraph import in_flight
    from assay.planning.conditions import explain_partition
    from assay.state.automation import AutomationReader
    from assay.state.claims import live_claims

    conditions = _conditions(project)
    if key not in conditions:
        raise SelectionError(
            f"{key} has no automation condition: give it `@asset(automation=Auto.on_stale())`"
        )
    definition = project.graph.specs[key].partitions
    if definition is not None and partition is None:
        raise click.UsageError(f"{key} is partitioned: give the partition with -p KEY")
    now = datetime.now(UTC)
    context = project.partition_context(now)
    index = 0 if definition is None else definition.index(partition or "", context)
    ticker = preview(project.config, project.definitions, now, real_clock=True, explain=True)
    evaluation = ticker.last.get(key)
    facts = ticker.facts
    if evaluation is None or facts is None:
        text = f"{key}: automation is disabled (`assay automation enable {key}`)"
        return {"asset": str(key), "partition": partition, "would_request": False, "text": text}
    holders: dict[AssetKey, list[tuple[Any, str]]] = {}
    for asset, (subset, run_id) in in_flight(
        project.graph, live_claims(project.config.home), context
    ).items():
        holders.setdefault(asset, []).append((subset, run_id))
    lines = explain_partition(evaluation, facts, index, holders)
    requested = index in evaluation.requested
    where = f"{key} {partition}" if partition else str(key)
    verdict = "would be requested by the next tick" if requested else "not requested"
    if not requested and evaluation.masks and evaluation.masks[0][index]:
        verdict = "not requested now: the cap per tick leaves it for a later tick"
    recent = _recent_requests(AutomationReader(project.config.home), key, partition)
    shown = [f"{where}: {verdict}", *(f"  {line}" for line in lines)]
    if recent:
        shown.append("  latest requests that included it:")
        shown += [f"    {r}" for r in recent]
    return {
        "asset": str(key),
        "partition": partition,
        "would_request": requested,
        "parts": lines,
        "recent": recent,
        "text": "\n".join(shown),
    }


def _recent_requests(reader: Any, key: AssetKey, partition: str | None) -> list[str]:
    found = []
    for row in reader.automation_requests(limit=200):
        command = json.loads(row["command"] or "[]")
        if str(key) not in command:
            continue
        if partition and partition not in command:
            if "--from" not in command:
                continue
            first, last = command[command.index("--from") + 1], command[command.index("--to") + 1]
            if not first <= partition <= last:  # ISO keys sort as their windows
                continue
        status = row["run_status"] or row["request_status"]
        at = format_time(datetime.fromtimestamp(float(row["at"]), UTC)) if row["at"] else "?"
        found.append(f"{at}  run {row['run_id'][:8]}  {status}")
        if len(found) >= 5:
            break
    return found
