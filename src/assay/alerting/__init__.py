"""Delivering alerts: events, the targets' formats and senders, and what was sent.

    events.py    AlertEvent, and a builder per kind (run_failed_event, tick_failed_event, ...)
    rules.py     AlertRules: which targets want an event (kind, selection)
    formats.py   the JSON of webhooks, Slack's payload, the e-mail message
    senders.py   one attempt to one target (urllib, smtplib), secrets read here
    claims.py    which event keys each target has had, across processes
    delivery.py  Dispatcher (retries, backoff, budgets, records), notify()
    backlog.py   `assay alerts send`: what is owed
    log.py       `assay alerts log`: what was sent, or not, and why

Runs deliver through their hooks (`assay.execution.alert_hooks`); anything
else, a daemon included, calls `notify(config, alerts, event, graph=...)`.
"""

from __future__ import annotations

from assay.alerting.delivery import DeliveryResult, DeliveryStatus, notify
from assay.alerting.events import (
    AlertEvent,
    check_failed_event,
    definitions_failed_event,
    run_failed_event,
    run_too_long_event,
    tick_failed_event,
)

__all__ = [
    "AlertEvent",
    "DeliveryResult",
    "DeliveryStatus",
    "check_failed_event",
    "definitions_failed_event",
    "notify",
    "run_failed_event",
    "run_too_long_event",
    "tick_failed_event",
]
