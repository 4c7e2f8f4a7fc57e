"""Delivering events to targets: at least once, de-duplicated by event key, bounded in
time, every attempt recorded.

A `Dispatcher` sends each (event, target) on a thread of its own, so a slow or
dead target delays nobody while a run goes on: `attempts` tries of at most
`timeout_s`, `backoff_s` then twice as long between them, all within
`budget_s` of the event (`[tool.assay.alerts]`, `AlertSettings`). `close()`
waits for what is still being sent, never past those budgets, so the end of a
run waits a few seconds at most, and a target that fails never fails a run.

What happens is journaled through the owner's recorder (a run's own journal,
or an `AlertJournal` outside runs), always from the owner's thread: `pending`
with the event before the first attempt, then `sent` or `failed` (with the
reason) per attempt. An event left `pending` or `failed` is owed:
`assay alerts send` (`assay.alerting.backlog`) delivers it.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from assay.alerting.claims import ClaimState, claim_delivery
from assay.alerting.events import probe_event
from assay.alerting.rules import AlertRules
from assay.alerting.senders import DeliveryFailure, send
from assay.errors import StateError
from assay.state.journal import Journal
from assay.state.records import make_record
from assay.state.store import StateStore

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from assay.alerting.claims import DeliveryClaim
    from assay.alerting.events import AlertEvent
    from assay.automation.alerts import Alert, Target
    from assay.config import ProjectConfig
    from assay.graph import AssetGraph
    from assay.state.records import Record

GRACE_S = 0.5  # past a delivery's budget, before it is given up for this process
_log = logging.getLogger("assay.alerting")


class DeliveryStatus(StrEnum):
    SENT = "sent"
    FAILED = "failed"  # every attempt failed, or the budget ran out: it is owed
    DUPLICATE = "duplicate"  # the target has had this event key before: nothing sent
    IN_FLIGHT = "in_flight"  # another process is sending it now: left to it


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryResult:
    """What came of one event for one target."""

    target: str
    event_key: str
    status: DeliveryStatus
    attempts: int = 0
    error: str | None = None  # the last attempt's reason, when it failed

    @property
    def is_sent(self) -> bool:
        return self.status in (DeliveryStatus.SENT, DeliveryStatus.DUPLICATE)

    def describe(self) -> str:
        """`sent to 'ops'`, `not sent to 'ops': HTTP 500 Internal Server Error (3 attempts)`."""
        if self.status is DeliveryStatus.SENT:
            return f"sent to {self.target!r}"
        if self.status is DeliveryStatus.DUPLICATE:
            return f"{self.target!r} had it already"
        if self.status is DeliveryStatus.IN_FLIGHT:
            return f"another process is sending it to {self.target!r}"
        tries = f" ({self.attempts} attempt{'s' if self.attempts != 1 else ''})"
        return f"not sent to {self.target!r}: {self.error}{tries if self.attempts else ''}"


def delivery_record(
    event: AlertEvent,
    target: Target,
    status: str,
    attempt: int,
    *,
    error: str | None = None,
    with_event: bool = False,
) -> Record:
    """An `alert` journal record: the target's name, never where it points."""
    return make_record(
        "alert",
        event_key=event.key,
        target=target.name,
        target_kind=target.kind,
        event_kind=str(event.kind),
        status=status,
        attempt=attempt,
        recorded_at=time.time(),
        run_id=event.run_id,
        subject=event.subject,
        error=error,
        event=event.to_json() if with_event else None,
    )


class Dispatcher:
    """Sends events for one owner (a run, `notify`, `assay alerts send`); see the
    module docstring. Call `flush()` now and then from the owner's thread (each run
    hook does) and `close()` at the end."""

    def __init__(self, config: ProjectConfig, record: Callable[..., None]) -> None:
        self.home = config.home
        self.project = config.name
        self.settings = config.alerts
        self._record = record
        self._lock = threading.Lock()
        self._produced: list[Record] = []  # by the senders' threads, journaled by the owner's
        self._jobs: list[_Job] = []
        self.results: list[DeliveryResult] = []

    def submit(self, event: AlertEvent, targets: Sequence[Target]) -> None:
        """Start sending `event` to each target that has not had it."""
        for target in targets:
            job = self._start(event, target)
            if job is not None:
                thread = threading.Thread(target=job.run, name="assay-alert", daemon=True)
                self._jobs.append(job)
                thread.start()

    def deliver(self, event: AlertEvent, target: Target) -> DeliveryResult:
        """Send `event` to `target` on this thread, and return what came of it."""
        job = self._start(event, target)
        if job is not None:
            job.run()
            self.flush()
        return self.results[-1]

    def _start(self, event: AlertEvent, target: Target) -> _Job | None:
        claim = claim_delivery(self.home, event.key, target.name)
        if claim.state is not ClaimState.OWED:
            status = (
                DeliveryStatus.DUPLICATE
                if claim.state is ClaimState.SENT
                else DeliveryStatus.IN_FLIGHT
            )
            self.results.append(
                DeliveryResult(target=target.name, event_key=event.key, status=status)
            )
            return None
        try:
            self._record(delivery_record(event, target, "pending", 0, with_event=True))
        except BaseException:
            claim.release()
            raise
        return _Job(self, target, event, claim, time.monotonic() + self.settings.budget_s)

    def flush(self) -> None:
        """Journal what the senders have done since the last flush (owner's thread)."""
        with self._lock:
            produced, self._produced = self._produced, []
        if produced:
            self._record(*produced)

    def close(self) -> list[DeliveryResult]:
        """Wait for the deliveries still going, within their budgets; give up the rest
        (recorded failed: owed); journal everything; return every result."""
        for job in self._jobs:
            job.finished.wait(max(0.0, job.deadline + GRACE_S - time.monotonic()))
        for job in self._jobs:
            job.give_up()
        self._jobs = []
        self.flush()
        return list(self.results)

    def _produce(self, job: _Job, record: Record, result: DeliveryResult | None = None) -> bool:
        """Keep a sender's record (and its result); False once the job was given up."""
        with self._lock:
            if job.is_given_up:
                return False
            self._produced.append(record)
            if result is not None:
                self.results.append(result)
                job.finished.set()
            return True


class _Job:
    """One event for one target: its attempts, on a sender's thread (or the owner's)."""

    def __init__(
        self,
        dispatcher: Dispatcher,
        target: Target,
        event: AlertEvent,
        claim: DeliveryClaim,
        deadline: float,
    ) -> None:
        self.dispatcher = dispatcher
        self.target = target
        self.event = event
        self.claim = claim
        self.deadline = deadline
        self.finished = threading.Event()
        self.is_given_up = False
        self.attempt = 0
        self.error: str | None = None
        self._stop = threading.Event()

    def run(self) -> None:
        settings = self.dispatcher.settings
        try:
            while True:
                self.attempt += 1
                left_s = self.deadline - time.monotonic()
                try:
                    send(
                        self.target,
                        self.event,
                        project=self.dispatcher.project,
                        timeout_s=max(min(settings.timeout_s, left_s), 0.1),
                    )
                except DeliveryFailure as failure:
                    self.error = failure.reason
                    wait_s = settings.backoff_s * 2 ** (self.attempt - 1)
                    is_last = (
                        not failure.retryable
                        or self.attempt >= settings.attempts
                        or time.monotonic() + wait_s + 0.1 >= self.deadline
                    )
                    record = delivery_record(
                        self.event, self.target, "failed", self.attempt, error=failure.reason
                    )
                    if is_last:
                        self._end(record, DeliveryStatus.FAILED)
                        return
                    if not self.dispatcher._produce(self, record) or self._stop.wait(wait_s):
                        return
                else:
                    self.claim.mark_sent()
                    record = delivery_record(self.event, self.target, "sent", self.attempt)
                    self._end(record, DeliveryStatus.SENT)
                    return
        except Exception as exc:  # a bug here must not reach the run: say it, record it
            _log.warning("sending an alert to %r failed: %r", self.target.name, exc)
            reason = f"{type(exc).__name__} while sending (a bug in assay)"
            record = delivery_record(self.event, self.target, "failed", self.attempt, error=reason)
            self.error = reason
            self._end(record, DeliveryStatus.FAILED)
        finally:
            self.claim.release()

    def _end(self, record: Record, status: DeliveryStatus) -> None:
        result = DeliveryResult(
            target=self.target.name,
            event_key=self.event.key,
            status=status,
            attempts=self.attempt,
            error=None if status is DeliveryStatus.SENT else self.error,
        )
        self.dispatcher._produce(self, record, result)

    def give_up(self) -> None:
        """Stop waiting for it (owner's thread): recorded failed, unless it ended."""
        with self.dispatcher._lock:
            if self.finished.is_set():
                return
            self.is_given_up = True
            self._stop.set()
            budget = self.dispatcher.settings.budget_s
            reason = f"no answer within the {budget:g} s budget" + (
                f" (last attempt: {self.error})" if self.error else ""
            )
            self.dispatcher._produced.append(
                delivery_record(self.event, self.target, "failed", self.attempt, error=reason)
            )
            self.dispatcher.results.append(
                DeliveryResult(
                    target=self.target.name,
                    event_key=self.event.key,
                    status=DeliveryStatus.FAILED,
                    attempts=self.attempt,
                    error=reason,
                )
            )


class AlertJournal:
    """A journal of its own for deliveries made outside runs (`alerts-<id>.jsonl`),
    opened at its first record and ended by a `journal_closed` record."""

    def __init__(self, home: Path) -> None:
        self.store = StateStore(home)
        self.name = f"alerts-{uuid.uuid4()}"
        self._journal: Journal | None = None

    def append(self, *records: Record) -> None:
        if self._journal is None:
            self.store.check_home()
            self._journal = Journal(self.store.journal_dir, self.name)
        self._journal.append(*records, durable=True)

    def close(self) -> None:
        if self._journal is None:
            return
        try:
            end = make_record("journal_closed", journal=self.name, at=time.time())
            self._journal.append(end, durable=True)
        finally:
            self._journal.close()
            self._journal = None


def send_probe(config: ProjectConfig, target: Target) -> DeliveryResult:
    """Send a test message to `target` (`assay alerts test`), recorded like any other."""
    journal = AlertJournal(config.home)
    try:
        return Dispatcher(config, journal.append).deliver(
            probe_event(target.name, config.name), target
        )
    finally:
        journal.close()


def notify(
    config: ProjectConfig,
    alerts: Sequence[Alert],
    event: AlertEvent,
    *,
    graph: AssetGraph | None = None,
) -> list[DeliveryResult]:
    """Deliver `event` to the targets of the `alerts` that want it (its kind, and an
    asset their selection holds, resolved against `graph`), from any process; wait
    for the deliveries (at most `[tool.assay.alerts] budget_s`) and say what came of
    each. Never raises for a target that fails (the result says so) nor for a
    journal that cannot be written (a warning says so).

    Example:
        >>> from assay.alerting import notify, tick_failed_event
        >>> event = tick_failed_event(name="nightly", tick="2024-06-01T06:00", error="boom")
        >>> results = notify(project.config, project.definitions.alerts, event)  # doctest: +SKIP
        >>> [r.describe() for r in results]  # doctest: +SKIP
        ["sent to 'ops'"]

    Raises:
        DefinitionError: an alert's selection does not parse or selects nothing.
    """
    targets = AlertRules(alerts, graph).targets_for(event)
    if not targets:
        return []
    journal = AlertJournal(config.home)
    told = False

    def record(*records: Record) -> None:
        nonlocal told
        try:
            journal.append(*records)
        except StateError as exc:
            if not told:
                told = True
                _log.warning("alert deliveries cannot be recorded (%s); sending them anyway", exc)

    dispatcher = Dispatcher(config, record)
    try:
        dispatcher.submit(event, targets)
        return dispatcher.close()
    finally:
        try:
            journal.close()
        except StateError as exc:
            _log.warning("the alert journal cannot be closed (%s)", exc)
