"""Which targets an event goes to: the alerts on its kind whose selection holds one of
its assets (selections resolved once, against the project's graph)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from assay.automation.alerts import EventKind
from assay.errors import DefinitionError, SelectionError
from assay.selection import parse_selection

if TYPE_CHECKING:
    from collections.abc import Sequence

    from assay.alerting.events import AlertEvent
    from assay.automation.alerts import Alert, Target
    from assay.graph import AssetGraph


class AlertRules:
    """The alerts of a project, their selections resolved to asset keys.

    Without a graph, selections cannot be resolved: an alert with one then gets
    every event of its kinds (too many alerts beat a silent failure).

    Raises:
        DefinitionError: an alert's selection does not parse or selects nothing.
    """

    def __init__(self, alerts: Sequence[Alert], graph: AssetGraph | None = None) -> None:
        self.alerts = tuple(alerts)
        self._selected: list[frozenset[str] | None] = []
        for alert in self.alerts:
            if alert.selection is None or graph is None:
                self._selected.append(None)
                continue
            try:
                keys = parse_selection(list(alert.selection)).resolve(graph)
            except SelectionError as exc:
                raise DefinitionError(
                    f"Alert(select={' '.join(alert.selection)!r}) on {', '.join(alert.on)}: {exc}"
                ) from exc
            self._selected.append(frozenset(str(k) for k in keys))

    def __bool__(self) -> bool:
        return bool(self.alerts)

    def matching(self, event: AlertEvent) -> list[Alert]:
        """The alerts that want `event`."""
        return [
            alert
            for alert, selected in zip(self.alerts, self._selected, strict=True)
            if event.kind in alert.on
            and (selected is None or not event.assets or not selected.isdisjoint(event.assets))
            and not _within_limit(alert, event)
        ]

    def targets_for(self, event: AlertEvent) -> list[Target]:
        """The targets of the alerts that want `event`, each once, in declaration order."""
        found: dict[str, Target] = {}
        for alert in self.matching(event):
            for target in alert.to:
                found.setdefault(target.name, target)
        return list(found.values())

    def too_long(self, duration_s: float, assets: Sequence[str]) -> list[tuple[Alert, float]]:
        """The `run_too_long` alerts (with their limits in seconds) that a run of
        `duration_s` over `assets` passed."""
        found = []
        for alert, selected in zip(self.alerts, self._selected, strict=True):
            if EventKind.RUN_TOO_LONG not in alert.on or alert.max_duration is None:
                continue
            limit_s = alert.max_duration.total_seconds()
            if duration_s > limit_s and (
                selected is None or not assets or not selected.isdisjoint(assets)
            ):
                found.append((alert, limit_s))
        return found

    def wants(self, kind: EventKind) -> bool:
        return any(kind in alert.on for alert in self.alerts)


def _within_limit(alert: Alert, event: AlertEvent) -> bool:
    """A `run_too_long` event for a run that stayed within this alert's own limit."""
    if event.kind is not EventKind.RUN_TOO_LONG or event.duration_s is None:
        return False
    limit = alert.max_duration
    return limit is not None and event.duration_s <= limit.total_seconds()
