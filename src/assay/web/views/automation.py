"""`/automation`: the daemon's heartbeat; schedules and sensors with their next tick
and their tick history; each condition with its last evaluation; freshness misses;
alert deliveries."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assay.web.views.common import ui_of

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from assay.web.context import UI

TICKS_SHOWN = 30
DELIVERIES_SHOWN = 20


def automation_page(request: Request) -> Response:
    from assay.daemon import daemon_status

    ui = ui_of(request)
    home = ui.project.config.home
    found = ui.reads.get(("automation",), lambda _reader: _history(ui))
    daemon = daemon_status(home)
    return ui.render(
        request,
        "automation.html",
        title="Automation",
        daemon=daemon,
        daemon_age=daemon.age_s(),
        conditions=_conditions(ui, found.value["evaluations"], found.value["enabled"]),
        read_reason=found.reason,
        **{k: v for k, v in found.value.items() if k not in ("evaluations", "enabled")},
    )


def _history(ui: UI) -> dict[str, Any]:
    """What the page reads of the store, in one go (cached until the store moves)."""
    from assay.alerting.log import delivery_log
    from assay.daemon.listing import listing
    from assay.state.automation import AutomationReader

    project = ui.project
    home = project.config.home
    reader = AutomationReader(home, index=False)
    return {
        "schedules": listing(project.definitions, home, "schedule", index=False),
        "sensors": listing(project.definitions, home, "sensor", index=False),
        "ticks": reader.ticks(limit=TICKS_SHOWN),
        "evaluations": reader.latest_evaluations(),
        "enabled": reader.enabled(),
        "deliveries": delivery_log(home, limit=DELIVERIES_SHOWN, index=False, timeout_s=1.0),
    }


def _conditions(
    ui: UI, evaluations: dict[str, Any], enabled: dict[str, bool]
) -> list[dict[str, Any]]:
    """A row per asset with a condition or a freshness promise: its condition, on or
    off, its last evaluation, and its partitions past their deadline now."""
    from assay.daemon.conditions import enabled_name
    from assay.planning.conditions import conditions_of
    from assay.planning.freshness import freshness_state

    graph = ui.project.graph
    conditions = conditions_of(ui.project.definitions)
    health = ui.health()
    rows = []
    for key in graph.order:
        condition = conditions.get(key)
        policy = graph.specs[key].freshness
        if condition is None and policy is None:
            continue
        missed = 0
        found = None if health is None else health.assets.get(key)
        if policy is not None and found is not None and health is not None:
            state = freshness_state(
                policy, graph.specs[key].partitions, found.staleness, health.context
            )
            missed = int(state.missed.sum())
        last = evaluations.get(str(key))
        rows.append(
            {
                "key": key,
                "condition": None if condition is None else condition.describe(),
                "enabled": None if condition is None else enabled.get(enabled_name(key), True),
                "freshness": None if policy is None else policy.describe(),
                "missed": missed,
                "last": last,
            }
        )
    return rows
