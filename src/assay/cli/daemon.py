"""`assay daemon`, `assay tick`, `assay schedule ...` and `assay sensor ...`."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from assay.cli.options import instant, json_option, open_project, print_json, project_options
from assay.cli.render import format_time, show, status_text, table
from assay.errors import AssayError, RunFailedError

if TYPE_CHECKING:
    from assay.daemon.engine import Automation
    from assay.project import Project


def _duration(ctx: click.Context, param: click.Parameter, value: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600}
    text = value.strip()
    try:
        if text[-1:] in units:
            return float(text[:-1]) * units[text[-1]]
        return float(text)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a duration like 30s, 5m or 1h") from None


@click.group("daemon", invoke_without_command=True)
@click.option(
    "--max-concurrent-runs",
    type=click.IntRange(1, 1000),
    default=10,
    show_default=True,
    help="Launched runs alive at once; more wait in the queue.",
)
@click.option("--clock-file", hidden=True, help="Read the time from this file (tests).")
@click.option("--ui", "with_ui", is_flag=True, help="Serve the web UI too (see `assay ui`).")
@click.option("--ui-host", default="127.0.0.1", show_default=True, help="The UI's address.")
@click.option("--ui-port", type=click.IntRange(0, 65535), default=3100, show_default=True)
@click.option(
    "--ui-token", envvar="ASSAY_UI_TOKEN", default=None, help="The UI's token (see `assay ui`)."
)
@click.option("--ui-actions", is_flag=True, help="Allow acting from the UI (see `assay ui`).")
@project_options
@click.pass_context
def daemon_group(
    ctx: click.Context,
    max_concurrent_runs: int,
    clock_file: str | None,
    with_ui: bool,
    ui_host: str,
    ui_port: int,
    ui_token: str | None,
    ui_actions: bool,
) -> None:
    """Run schedules and sensors by themselves, in the foreground.

    One daemon per state home; runs it launches are ordinary runs in their own
    processes and go on when it stops (SIGTERM, Ctrl-C). It reloads the
    definitions when their files change. `assay daemon status` shows its
    heartbeat; `assay daemon check --max-age 30s` is for a monitor.

    \b
      assay daemon                      run it (a systemd unit, a container)
      assay daemon status [--json]
      assay daemon check --max-age 30s  exit 1 when it is not beating
    """
    if ctx.invoked_subcommand is not None:
        return
    import logging
    from pathlib import Path

    from assay.daemon import Daemon
    from assay.daemon.clock import FileClock, SystemClock
    from assay.daemon.listing import automation_items
    from assay.definitions import load_definitions

    project = open_project()
    config = project.config
    first = [project.definitions]

    def load() -> Any:
        if first:
            return first.pop()
        return load_definitions(config)

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%d %H:%M:%S"))
    daemon_log = logging.getLogger("assay.daemon")
    daemon_log.addHandler(handler)
    daemon_log.setLevel(logging.INFO)
    daemon_log.propagate = False
    clock = FileClock(Path(clock_file)) if clock_file else SystemClock()
    server = None
    if with_ui:
        from assay.web.server import check_binding, make_server, serve_in_thread, ui_app

        token = check_binding(ui_host, ui_token)
        server = make_server(ui_app(project, actions=ui_actions, token=token), ui_host, ui_port)
    daemon = Daemon(config, load, clock=clock, max_concurrent_runs=max_concurrent_runs)
    click.echo(
        f"assay daemon {daemon.session} for {config.home} (pid {_pid()}): "
        f"{len(automation_items(project.definitions))} schedule(s) and sensor(s); "
        "SIGTERM or Ctrl-C stops it"
    )
    if server is not None:
        serve_in_thread(server)
        click.echo(f"assay UI on http://{ui_host}:{ui_port}")
    daemon.run()
    if server is not None:
        server.should_exit = True
    click.echo(f"assay daemon {daemon.session} stopped; the runs it launched go on")


def _pid() -> int:
    import os

    return os.getpid()


@daemon_group.command("status")
@json_option
@project_options
def status_command(as_json: bool) -> None:
    """Whether a daemon runs for this state home, and its last heartbeat."""
    from assay.daemon import daemon_status

    home = _home()
    status = daemon_status(home)
    age = status.age_s()
    if as_json:
        print_json(
            {
                "running": status.running,
                "pid": status.pid,
                "session": status.session,
                "started_at": status.started_at,
                "heartbeat_at": status.heartbeat_at,
                "heartbeat_age_s": age,
                "schedules": status.schedules,
                "sensors": status.sensors,
                "queued": status.queued,
                "launched": status.launched,
                "definitions_error": status.definitions_error,
            }
        )
        return
    if not status.running:
        last = f"; last heartbeat {format_time(status.heartbeat_at)}" if status.heartbeat_at else ""
        click.echo(f"No daemon runs for {home}{last}. Start one with `assay daemon`.")
        return
    click.echo(
        f"Daemon {status.session} runs (pid {status.pid}, since {format_time(status.started_at)}): "
        f"heartbeat {age:.1f} s ago; {status.schedules} schedule(s), {status.sensors} sensor(s), "
        f"{status.queued} queued, {status.launched} launched run(s) alive"
    )
    if status.definitions_error:
        click.echo(f"Warning: {status.definitions_error}", err=True)


@daemon_group.command("check")
@click.option(
    "--max-age",
    default="30s",
    show_default=True,
    callback=_duration,
    help="The oldest heartbeat that counts as alive (30s, 5m).",
)
@project_options
def check_command(max_age: float) -> None:
    """Exit 0 when a daemon runs and beat within --max-age, else 1 (for systemd,
    cron or a container's health check: the daemon cannot alert on its own death)."""
    from assay.daemon import daemon_status

    home = _home()
    status = daemon_status(home)
    age = status.age_s()
    if not status.running or age is None:
        raise RunFailedError(f"no daemon runs for {home}: start it with `assay daemon`")
    if age > max_age:
        raise RunFailedError(
            f"the daemon of {home} (pid {status.pid}) last beat {age:.0f} s ago, more than "
            f"{max_age:.0f} s: it is stuck or its machine is overloaded; restart it"
        )
    click.echo(f"ok: daemon pid {status.pid} beat {age:.1f} s ago")


def _home() -> Any:
    from assay.config import resolve_config

    meta = click.get_current_context().meta
    return resolve_config(home=meta.get("assay.home")).home


@click.command("tick")
@click.option(
    "--at",
    "at",
    metavar="TIME",
    callback=instant,
    help="Evaluate as of TIME (ISO, UTC unless it has an offset): previews, tests, catch-up.",
)
@click.option(
    "--wait",
    is_flag=True,
    help="Wait for the runs it launches to end; exit 1 if one failed.",
)
@json_option
@project_options
def tick_command(at: datetime | None, wait: bool, as_json: bool) -> None:
    """Evaluate every schedule, sensor and automation condition once, launch what is
    due, and exit.

    For driving assay from OS cron, Airflow or CI instead of `assay daemon`
    (refused while a daemon runs for this state home). Runs are launched in
    processes of their own; `assay runs` follows them (`--wait`: this command does).
    """
    from assay.daemon import Daemon
    from assay.daemon.clock import FixedClock, SystemClock

    project = open_project()
    clock = FixedClock(at) if at is not None else SystemClock()
    daemon = Daemon(project.config, lambda: project.definitions, clock=clock)
    report = daemon.tick(wait=wait)
    ended = _ended(project, report) if wait else {}
    if as_json:
        print_json(
            {
                "launched": [
                    {"run_id": r.run_id, "run_key": r.run_key, "name": r.name}
                    for r in report.launched
                ],
                "duplicates": [
                    {"run_key": r.run_key, "held_by": held} for r, held in report.duplicates
                ],
                "skipped": [{"run_key": r.run_key, "reason": why} for r, why in report.skipped],
                "queued": report.queued,
                "ticks": report.ticks,
                "ended": ended,
            }
        )
        _fail_if_failed(ended)
        return
    for request in report.launched:
        click.echo(f"Launched run {request.run_id[:8]} for {request.name} ({request.run_key})")
    for request, held in report.duplicates:
        click.echo(f"Already ran: {request.run_key} (run {held[:8]})")
    for request, why in report.skipped:
        click.echo(f"Skipped {request.run_key}: {why}")
    if report.queued:
        click.echo(f"{report.queued} run(s) wait in the queue for the next tick")
    if not (report.launched or report.duplicates or report.skipped):
        click.echo("Nothing due.")
    for run_id, status in ended.items():
        click.echo(f"Run {run_id[:8]} {status}.")
    _fail_if_failed(ended)


def _ended(project: Project, report: Any) -> dict[str, str]:
    """How each run the tick launched ended (it was waited for)."""
    from assay.state.reader import StateReader

    reader = StateReader(project.config.home)
    found = {}
    for request in report.launched:
        try:
            found[request.run_id] = reader.run_details(request.run_id).run.status
        except AssayError:
            found[request.run_id] = "died"  # it ended before it recorded anything
    return found


def _fail_if_failed(ended: dict[str, str]) -> None:
    failed = [run_id[:8] for run_id, status in ended.items() if status != "succeeded"]
    if failed:
        raise RunFailedError(
            f"{len(failed)} launched run(s) did not succeed ({', '.join(failed)}): "
            "`assay runs show RUN` says why"
        )


# --- schedule / sensor ---------------------------------------------------------------


def _find(project: Project, name: str, kind: str) -> Automation:
    from assay.daemon.listing import find_item

    return find_item(project.definitions, name, kind)


def _listing(kind: str, as_json: bool) -> None:
    from assay.daemon.listing import listing

    project = open_project()
    rows = listing(project.definitions, project.config.home, kind)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo(f"No {kind}s: add them to Definitions({kind}s=[...]); see docs/operations.md.")
        return
    out = table(kind, "enabled", "when", "next tick", "last tick", "")
    for row in rows:
        out.add_row(
            row["name"],
            "yes" if row["enabled"] else "[dim]no[/]",
            row["when"],
            format_time(row["next"]) if row["next"] else "-",
            format_time(row["last_tick"]),
            status_text(row["last_status"])
            + (f" {row['last_reason']}" if row["last_reason"] else ""),
        )
    show(out)


def _set_enabled(kind: str, name: str, enabled: bool) -> None:
    from assay.daemon.listing import set_enabled

    project = open_project()
    set_enabled(project.config, project.definitions, kind, name, enabled)
    state = "enabled: it ticks from now on (missed history is not run)" if enabled else "disabled"
    click.echo(f"{kind.capitalize()} {name} {state}.")


@click.group("schedule")
def schedule_group() -> None:
    """List, enable, disable and preview schedules.

    \b
      assay schedule list
      assay schedule disable nightly
      assay schedule preview nightly --at 2024-03-10T00:00
    """


@schedule_group.command("list")
@json_option
@project_options
def schedule_list(as_json: bool) -> None:
    """Each schedule: enabled or not, its cron, next and last tick."""
    _listing("schedule", as_json)


@schedule_group.command("enable")
@click.argument("name")
@project_options
def schedule_enable(name: str) -> None:
    """Enable a schedule: it ticks from now on (what it missed while disabled is not run)."""
    _set_enabled("schedule", name, True)


@schedule_group.command("disable")
@click.argument("name")
@project_options
def schedule_disable(name: str) -> None:
    """Disable a schedule (the daemon stops evaluating it)."""
    _set_enabled("schedule", name, False)


@schedule_group.command("preview")
@click.argument("name")
@click.option(
    "--at", "at", metavar="TIME", callback=instant, help="Start from TIME (default: now)."
)
@click.option("--count", type=click.IntRange(1, 1000), default=5, show_default=True)
@json_option
@project_options
def schedule_preview(name: str, at: datetime | None, count: int, as_json: bool) -> None:
    """The next ticks of a schedule and the partitions each would run; records nothing."""
    from assay.automation.schedules import Schedule
    from assay.daemon.windows import closed_windows, next_tick, window_definition

    project = open_project()
    item = _find(project, name, "schedule")
    assert isinstance(item, Schedule)
    window = window_definition(item, project.graph)
    moment = at or datetime.now(UTC)
    rows: list[dict[str, Any]] = []
    previous = moment
    for _ in range(count):
        tick = next_tick(item, window, previous)
        keys = closed_windows(window, previous, tick, item.catch_up)[0] if window else []
        rows.append({"tick": tick, "partitions": keys})
        previous = tick
    if as_json:
        print_json(rows)
        return
    zone = item.cron.tz if item.cron is not None else (window.tz if window else UTC)  # type: ignore[union-attr]
    for row in rows:
        local = row["tick"].astimezone(zone)
        what = (
            ", ".join(row["partitions"])
            if row["partitions"]
            else " ".join([item.selection] if isinstance(item.selection, str) else item.selection)
        )
        click.echo(f"{local.isoformat()}  {what}")


@click.group("sensor")
def sensor_group() -> None:
    """List, enable, disable and preview sensors.

    \b
      assay sensor list
      assay sensor preview new_orders     (evaluates it once; records nothing)
    """


@sensor_group.command("list")
@json_option
@project_options
def sensor_list(as_json: bool) -> None:
    """Each sensor: enabled or not, its interval, its last tick."""
    _listing("sensor", as_json)


@sensor_group.command("enable")
@click.argument("name")
@project_options
def sensor_enable(name: str) -> None:
    """Enable a sensor."""
    _set_enabled("sensor", name, True)


@sensor_group.command("disable")
@click.argument("name")
@project_options
def sensor_disable(name: str) -> None:
    """Disable a sensor."""
    _set_enabled("sensor", name, False)


@sensor_group.command("preview")
@click.argument("name")
@json_option
@project_options
def sensor_preview(name: str, as_json: bool) -> None:
    """Evaluate a sensor once from its recorded cursor: what it would request."""
    from assay.automation.sensors import Sensor, SensorContext
    from assay.daemon import isolate
    from assay.state.automation import AutomationReader

    project = open_project()
    item = _find(project, name, "sensor")
    assert isinstance(item, Sensor)
    latest = AutomationReader(project.config.home).latest_ticks().get(name, {})
    context = SensorContext(
        name=name,
        cursor=latest.get("good_cursor"),
        now=datetime.now(UTC),
        root=project.config.root,
    )
    evaluation = isolate.start(name, item.evaluate, context, timeout_s=item.timeout.total_seconds())
    while True:
        done, value, error = evaluation.poll()
        if done:
            break
        time.sleep(0.01)
    if error is not None:
        raise RunFailedError(f"sensor {name} failed: {error}")
    requests = [
        {"selection": r.selection or item.selection, "partitions": r.partitions,
         "run_key": r.run_key, "force": r.force}
        for r in value.run_requests
    ]  # fmt: skip
    changes = [
        {"name": r.name, "add" if r.is_add else "remove": list(r.keys)}
        for r in value.dynamic_partitions_requests
    ]
    if as_json:
        print_json(
            {
                "requests": requests,
                "partition_keys": changes,
                "cursor": value.cursor,
                "skip_reason": value.skip_reason,
            }
        )
        return
    for change in changes:
        click.echo(f"Would change partition keys: {json.dumps(change)}")
    if not requests:
        click.echo(f"Would request nothing: {value.skip_reason or 'no run requested'}")
    for request in requests:
        click.echo(f"Would request: {json.dumps(request, default=str)}")
    click.echo(f"Cursor after: {value.cursor}")
