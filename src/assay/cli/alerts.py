"""`assay alerts list | test | log | send`: the project's alert targets and rules, a
test message, what was delivered (or not, and why), and delivering what is owed."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

from assay.cli.options import (
    json_option,
    limit_option,
    open_project,
    print_json,
    project_options,
)

if TYPE_CHECKING:
    from assay.automation.alerts import Target


@click.group("alerts")
def alerts_group() -> None:
    """Alerts: where they go (`list`), a test message (`test`), what was delivered
    (`log`), and delivering what could not be (`send`)."""


@alerts_group.command("list")
@json_option
@project_options
def list_command(as_json: bool) -> None:
    """List the alert targets and the alerts that use them. Secrets are shown as the
    names of the environment variables that hold them (and whether they are set),
    never their values."""
    from assay.alerting.rules import AlertRules

    project = open_project()
    definitions = project.definitions
    AlertRules(definitions.alerts, project.graph)  # a selection that selects nothing fails here
    targets = [_target_row(t) for t in definitions.alert_targets.values()]
    alerts = [
        {
            "on": [str(kind) for kind in alert.on],
            "select": None if alert.selection is None else list(alert.selection),
            "to": [t.name for t in alert.to],
            "max_duration_s": None
            if alert.max_duration is None
            else alert.max_duration.total_seconds(),
            "description": alert.describe(),
        }
        for alert in definitions.alerts
    ]
    if as_json:
        print_json({"targets": targets, "alerts": alerts})
        return
    if not alerts:
        click.echo("No alerts: add Definitions(alerts=[Alert(on=[...], to=[...])]).")
        return
    from assay.cli.render import show, table

    out = table("target", "kind", "sends", "variables")
    for row in targets:
        variables = ", ".join(
            f"{v['env']} ({'set' if v['is_set'] else '[red]not set[/]'})" for v in row["variables"]
        )
        out.add_row(row["name"], row["kind"], _plain(row["sends"]), variables or "-")
    rules = table("alert")
    for alert in definitions.alerts:
        rules.add_row(_plain(alert.describe()))
    show(out)
    click.echo()
    show(rules)


def _target_row(target: Target) -> dict[str, Any]:
    return {
        "name": target.name,
        "kind": target.kind,
        "sends": target.describe(),
        "variables": [
            {"env": env, "is_set": bool(os.environ.get(env, "").strip())}
            for env in target.secret_envs()
        ],
    }


def _plain(text: str) -> str:
    from assay.cli.render import escape

    return escape(text)


@alerts_group.command("test")
@click.argument("target")
@project_options
def test_command(target: str) -> None:
    """Send a test message to TARGET (a target's name, see `assay alerts list`).
    Exits 1, saying why, when the target does not take it."""
    from assay.alerting.delivery import send_probe
    from assay.errors import AlertDeliveryError, UnknownTargetError, did_you_mean

    project = open_project()
    targets = project.definitions.alert_targets
    found = targets.get(target)
    if found is None:
        if not targets:
            raise UnknownTargetError(
                f"no alert target is named {target!r}: the project defines none "
                "(add Definitions(alerts=[Alert(on=[...], to=[Webhook(...)])]))"
            )
        raise UnknownTargetError(
            f"no alert target is named {target!r}.{did_you_mean(target, targets)} "
            "`assay alerts list` lists them"
        )
    result = send_probe(project.config, found)
    if not result.is_sent:
        tries = f" ({result.attempts} attempts)" if result.attempts > 1 else ""
        raise AlertDeliveryError(
            f"alert target {target!r} ({found.kind}) did not take the test message: "
            f"{result.error}{tries}"
        )
    click.echo(f"Sent a test message to {target!r} ({found.kind}).")


@alerts_group.command("log")
@limit_option(20, "deliveries to list")
@click.option("--target", "target", metavar="NAME", help="Only the deliveries to this target.")
@click.option(
    "--run", "run_id", metavar="RUN", help="Only the alerts about this run (an id prefix)."
)
@click.option("--home", type=click.Path(file_okay=False), help="State folder.")
@json_option
def log_command(
    limit: int, target: str | None, run_id: str | None, home: str | None, as_json: bool
) -> None:
    """List the latest alert deliveries, newest first: one row per event and target,
    sent, pending or failed (with the reason of the last attempt)."""
    from assay.alerting.log import delivery_log
    from assay.config import resolve_config

    rows = delivery_log(resolve_config(home=home).home, limit=limit, target=target, run_id=run_id)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("No alerts were sent yet: `assay alerts test TARGET` sends a test message.")
        return
    from assay.cli.render import format_time, show, status_text, table

    out = table("time", "target", "event", "status", "attempts", "subject", "reason")
    for row in rows:
        out.add_row(
            format_time(row["last_at"]),
            row["target"],
            row["event_kind"],
            status_text(row["status"]),
            str(row["attempts"]),
            _plain(row["subject"] or ""),
            _plain(row["error"] or ""),
        )
    show(out)
    if any(row["status"] != "sent" for row in rows):
        click.echo("`assay alerts send` delivers those that were not sent.")


@alerts_group.command("send")
@project_options
def send_command() -> None:
    """Deliver the alerts that could not be sent (a target was down, a process was
    killed while sending), to the targets as the project defines them now; what a
    target had is never sent to it again. Exits 1 when some still failed."""
    from assay.alerting.backlog import send_backlog

    project = open_project()
    report = send_backlog(project.config, project.definitions.alert_targets)
    click.echo(report.describe())
    if report.failed or report.waiting:
        raise SystemExit(1)
