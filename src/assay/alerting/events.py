"""`AlertEvent`: what happened, as one value every target formats its own way; and the
builders of each kind of event.

An event's `key` de-duplicates it: a key delivered to a target is never sent
to it again, by this process or any other (`assay.alerting.claims`). Keys name
what happened once: `run_failed:<run id>`, `check_failed:<run id>:<step>:<check>`,
`tick_failed:<schedule or sensor>:<tick>`.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from assay.automation.alerts import EventKind
from assay.results import step_key

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from assay.keys import AssetKey
    from assay.results import CheckOutcome, StepResult

MAX_LISTED = 5  # failed steps named in a message; the rest are counted


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertEvent:
    """One thing to tell people about.

    `assets` are the asset keys it concerns (an alert's `select` is matched
    against them; none: it concerns the whole project). `asset`, `partition` and
    the `error_*` fields describe the first failure, from the step's structured
    error: the exception's type, its message, and the `file:line` in the user's
    code. `details` holds more fields to show (a check's name, a duration, as
    text); `duration_s` is how long a run took, for `run_too_long`.
    """

    kind: EventKind
    key: str
    subject: str
    text: str
    at: float = field(default_factory=time.time)
    run_id: str | None = None
    assets: tuple[str, ...] = ()
    asset: str | None = None
    partition: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    error_location: str | None = None
    duration_s: float | None = None  # how long the run took (run_too_long)
    details: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:  # a kind given as text, assets as a list
        object.__setattr__(self, "kind", EventKind(self.kind))
        object.__setattr__(self, "assets", tuple(self.assets))

    def to_json(self) -> str:
        data = asdict(self)
        data["details"] = dict(self.details)
        return json.dumps(data, separators=(",", ":"), default=str)

    @classmethod
    def from_json(cls, text: str) -> AlertEvent:
        data: dict[str, Any] = json.loads(text)
        data["kind"] = EventKind(data["kind"])
        data["assets"] = tuple(data.get("assets") or ())
        data["details"] = dict(data.get("details") or {})
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def fields(self) -> list[tuple[str, str]]:
        """(label, value) pairs to show beside the text, only those that are set."""
        shown = [
            ("Run", self.run_id),
            ("Asset", self.asset),
            ("Partition", self.partition),
            ("Error", self.error_type),
            ("Where", self.error_location),
            *self.details.items(),
        ]
        return [(label, str(value)) for label, value in shown if value]


def run_failed_event(
    *,
    run_id: str,
    selection: str,
    failures: Sequence[StepResult],
    skipped: Iterable[str] = (),
    status: str = "failed",
) -> AlertEvent:
    """A run that ended `status` (failed; `died` for a run whose process went away,
    as a daemon finds it): its failed steps, the first one's error as fields."""
    short = run_id[:8]
    first = failures[0] if failures else None
    failure = None if first is None else first.failure
    skipped = sorted(set(skipped))
    names = [r.step_key for r in failures]
    listed = _listed(names)
    if first is None:
        subject = f"run {short} {status}"
        text = f"Run {short} (`{selection or '*'}`) {status}."
    else:
        subject = f"run {short} {status}: {listed}"
        text = f"Run {short} (`{selection or '*'}`) {status}: {first.step_key} failed"
        text += f" with {first.message}" if first.message else ""
        if len(names) > 1:
            text += f"; {len(names)} steps failed in all ({listed})"
        text += "."
    if skipped:
        text += f" {len(skipped)} step(s) were skipped."
    text += f" `assay runs show {short}` has the details."
    return AlertEvent(
        kind=EventKind.RUN_FAILED,
        key=f"run_failed:{run_id}",
        subject=subject,
        text=text,
        run_id=run_id,
        assets=tuple(sorted({str(r.key) for r in failures} | {_asset_of(s) for s in skipped})),
        asset=None if first is None else str(first.key),
        partition=None if first is None else first.partition,
        error_type=None if failure is None else failure.exception,
        error_message=None if failure is None else failure.message,
        error_location=None if failure is None else failure.location,
        details={"Failed steps": str(len(names))} if len(names) > 1 else {},
    )


def check_failed_event(
    *, run_id: str, key: AssetKey, partition: str | None, outcome: CheckOutcome
) -> AlertEvent:
    """A blocking, error-severity check that did not pass on one asset partition."""
    step = step_key(key, partition)
    found = outcome.describe()
    return AlertEvent(
        kind=EventKind.CHECK_FAILED,
        key=f"check_failed:{run_id}:{step}:{outcome.name}",
        subject=f"check {outcome.name!r} {outcome.status} on {step}",
        text=(
            f"The blocking check {outcome.name!r} {outcome.status} on {step} in run "
            f"{run_id[:8]}: {found}. What reads {key} waits until it passes; "
            f"`assay check {key}` judges it again."
        ),
        run_id=run_id,
        assets=(str(key),),
        asset=str(key),
        partition=partition,
        error_type=f"check {outcome.status}",
        error_message=found,
        details={"Check": outcome.name},
    )


def more_checks_failed_event(
    *, run_id: str, failed: Sequence[tuple[AssetKey, str | None, CheckOutcome]]
) -> AlertEvent:
    """The blocking checks of a run that failed beyond the ones told one by one."""
    steps = [f"{outcome.name!r} on {step_key(key, p)}" for key, p, outcome in failed]
    listed = _listed(steps)
    return AlertEvent(
        kind=EventKind.CHECK_FAILED,
        key=f"check_failed:{run_id}:more",
        subject=f"{len(steps)} more blocking checks failed in run {run_id[:8]}",
        text=(
            f"{len(steps)} more blocking checks failed in run {run_id[:8]}: {listed}. "
            f"`assay runs show {run_id[:8]}` has them all."
        ),
        run_id=run_id,
        assets=tuple(sorted({str(key) for key, _, _ in failed})),
        details={"Failed checks": str(len(steps))},
    )


def run_too_long_event(
    *, run_id: str, selection: str, duration_s: float, limit_s: float, assets: Iterable[str]
) -> AlertEvent:
    """A run that took longer than an alert's `max_duration`."""
    short = run_id[:8]
    took, limit = duration_text(duration_s), duration_text(limit_s)
    return AlertEvent(
        kind=EventKind.RUN_TOO_LONG,
        key=f"run_too_long:{run_id}",
        subject=f"run {short} took {took} (limit {limit})",
        text=f"Run {short} (`{selection or '*'}`) took {took}, longer than its limit of {limit}.",
        run_id=run_id,
        assets=tuple(sorted(set(assets))),
        duration_s=duration_s,
        details={"Duration": took, "Limit": limit},
    )


def tick_failed_event(
    *, name: str, tick: str, error: str, assets: Iterable[str] = (), what: str = "schedule"
) -> AlertEvent:
    """A tick of a schedule or sensor (`what`) that failed after one that did not
    (the daemon decides that change; this only words it)."""
    return AlertEvent(
        kind=EventKind.TICK_FAILED,
        key=f"tick_failed:{name}:{tick}",
        subject=f"{what} {name!r} failed at {tick}",
        text=f"The {what} {name!r} failed at its tick {tick}: {error}.",
        assets=tuple(sorted(set(assets))),
        error_message=error,
        details={what.capitalize(): name, "Tick": tick},
    )


def definitions_failed_event(*, error: str, since: float) -> AlertEvent:
    """The definitions module failed to load (since `since`, the time of the first
    failure after a success: one event per such change)."""
    return AlertEvent(
        kind=EventKind.DEFINITIONS_FAILED,
        key=f"definitions_failed:{since:.0f}",
        subject="the definitions failed to load",
        text=f"The definitions failed to load: {error}. The previous definitions keep running.",
        error_message=error,
    )


def probe_event(target: str, project: str) -> AlertEvent:
    """What `assay alerts test TARGET` sends (a key of its own: never de-duplicated)."""
    return AlertEvent(
        kind=EventKind.TEST,
        key=f"test:{uuid.uuid4()}",
        subject=f"test alert from assay ({project})",
        text=f"This is a test of the alert target {target!r}: it works.",
    )


def duration_text(seconds: float) -> str:
    """`45 s`, `12 min`, `2 h 5 min`."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"


def _listed(names: Sequence[str]) -> str:
    """`a, b, c`, or the first MAX_LISTED `and 12 more`."""
    more = len(names) - MAX_LISTED
    return ", ".join(names[:MAX_LISTED]) + (f" and {more} more" if more > 0 else "")


def _asset_of(step: str) -> str:
    """The asset key of a step key (`sales/orders[2024-01-01]` -> `sales/orders`)."""
    return step.split("[", 1)[0]
