"""Alerts as a run-hooks subscriber: what goes wrong in a run, told to its targets.

`AlertHooks` turns a run into events for the project's alerts: `check_failed`
as soon as a blocking, error-severity check does not pass (in a
materialization or in `assay check`; past the fifth in a run, the others are told in one event at
its end), and at the run's end `run_failed` (it
ended failed with a failed step: retries were spent) and `run_too_long` (it
took longer than an alert's `max_duration`). Each alert's selection is
matched against the assets involved (the failed and skipped steps' for
`run_failed`, every step's for `run_too_long`). Delivery happens on threads of
its own while the run goes on (`assay.alerting.delivery`); the run's end
waits a few seconds at most for it, and every attempt goes into the run's own
journal. Nothing here changes a run's outcome.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from assay.alerting.delivery import DeliveryStatus, Dispatcher
from assay.alerting.events import (
    check_failed_event,
    more_checks_failed_event,
    run_failed_event,
    run_too_long_event,
)
from assay.alerting.rules import AlertRules
from assay.automation.alerts import EventKind
from assay.execution.hooks import Hooks
from assay.results import RunKind, RunStatus, StepStatus

if TYPE_CHECKING:
    from collections.abc import Sequence

    from assay.alerting.events import AlertEvent
    from assay.config import ProjectConfig
    from assay.definitions import Definitions
    from assay.execution.hooks import Observed, RunInfo, StepAttempt
    from assay.keys import AssetKey
    from assay.results import CheckOutcome, StepResult


MAX_CHECK_EVENTS = 5  # per run; the check failures beyond are told in one event at its end


class AlertHooks(Hooks):
    """Sends the events of the runs it is told about (one at a time) to the targets
    of the alerts that want them.

    Raises:
        DefinitionError: an alert's selection does not parse or selects nothing.
    """

    def __init__(self, config: ProjectConfig, definitions: Definitions) -> None:
        self.config = config
        self.rules = AlertRules(definitions.alerts, definitions.graph)
        self._dispatcher: Dispatcher | None = None
        self._failed: list[StepResult] = []
        self._skipped: list[str] = []
        self._assets: set[str] = set()
        self._checks_told = 0
        self._checks_untold: list[tuple[AssetKey, str | None, CheckOutcome]] = []

    def run_started(self, run: RunInfo) -> None:
        self._dispatcher = Dispatcher(self.config, run.record)
        self._failed, self._skipped, self._assets = [], [], set()
        self._checks_told, self._checks_untold = 0, []

    def step_dispatched(self, run: RunInfo, attempt: StepAttempt) -> None:
        self._assets.add(str(attempt.key))
        self._flush()

    def step_retried(
        self, run: RunInfo, attempt: StepAttempt, results: Sequence[StepResult], wait_s: float
    ) -> None:
        self._flush()

    def step_finished(
        self, run: RunInfo, attempt: StepAttempt | None, results: Sequence[StepResult]
    ) -> None:
        for result in results:
            self._assets.add(str(result.key))
            if result.status is StepStatus.FAILED:
                self._failed.append(result)
            elif result.status is StepStatus.SKIPPED:
                self._skipped.append(result.step_key)
            self._judged(run, result.key, result.partition, result.checks)
        self._flush()

    def checks_judged(
        self,
        run: RunInfo,
        key: AssetKey,
        partition: str | None,
        outcomes: Sequence[CheckOutcome],
        data_version: str | None,
    ) -> None:
        self._assets.add(str(key))
        self._judged(run, key, partition, outcomes)
        self._flush()

    def observed(self, run: RunInfo, observations: Sequence[Observed]) -> None:
        self._flush()

    def notice(self, run: RunInfo | None, message: str) -> None:
        self._flush()

    def run_finished(self, run: RunInfo, status: RunStatus) -> None:
        dispatcher = self._dispatcher
        if dispatcher is None:
            return
        if self._checks_untold:
            self._send(more_checks_failed_event(run_id=run.run_id, failed=self._checks_untold))
        if self._is_failure(run, status):
            self._send(
                run_failed_event(
                    run_id=run.run_id,
                    selection=run.selection,
                    failures=self._failed,
                    skipped=self._skipped,
                )
            )
        duration_s = time.time() - run.started_at
        for alert, limit_s in self.rules.too_long(duration_s, sorted(self._assets)):
            event = run_too_long_event(
                run_id=run.run_id,
                selection=run.selection,
                duration_s=duration_s,
                limit_s=limit_s,
                assets=self._assets,
            )
            dispatcher.submit(event, alert.to)
        self._dispatcher = None
        for result in dispatcher.close():
            if result.status is DeliveryStatus.FAILED:
                run.notice(
                    f"alert {result.event_key.split(':', 1)[0]} {result.describe()}; it is "
                    "recorded: `assay alerts send` delivers it later"
                )

    def _is_failure(self, run: RunInfo, status: RunStatus) -> bool:
        """A run that failed: a step failed, or it stopped on an error. Not an `assay
        check` run (its checks alert themselves), nor one that only skipped steps
        (another run computes them)."""
        if status is not RunStatus.FAILED or run.kind is RunKind.CHECK:
            return False
        return bool(self._failed) or not self._skipped

    def _judged(
        self, run: RunInfo, key: AssetKey, partition: str | None, outcomes: Sequence[CheckOutcome]
    ) -> None:
        for outcome in outcomes:
            if not outcome.blocks or not self.rules.wants(EventKind.CHECK_FAILED):
                continue
            if self._checks_told >= MAX_CHECK_EVENTS:  # no storm of messages
                self._checks_untold.append((key, partition, outcome))
                continue
            self._checks_told += 1
            self._send(
                check_failed_event(run_id=run.run_id, key=key, partition=partition, outcome=outcome)
            )

    def _send(self, event: AlertEvent) -> None:
        targets = self.rules.targets_for(event)
        if targets and self._dispatcher is not None:
            self._dispatcher.submit(event, targets)

    def _flush(self) -> None:
        if self._dispatcher is not None:
            self._dispatcher.flush()
