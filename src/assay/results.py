"""What runs produce, as values: statuses, a step's error as fields, step and check
results, a run's result.

These sit below the coordinator and below lineage, so that everything that
reports on a run (the CLI, lineage, alerts, a UI) reads the same fields and no
one parses a preformatted string.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from assay.io.base import StoredOutput
    from assay.keys import AssetKey
    from assay.state.store import IndexReport


__all__ = [
    "CheckOutcome",
    "CheckStatus",
    "RunKind",
    "RunResult",
    "RunStatus",
    "StepError",
    "StepResult",
    "StepStatus",
]


class StepStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class RunStatus(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    DIED = "died"  # its process went away; set by the store, never by the run


class RunKind(StrEnum):
    MATERIALIZE = "materialize"
    BACKFILL = "backfill"
    CHECK = "check"
    OBSERVE = "observe"


SCHEMA_CHECK = "schema"  # the name of an asset's Pandera schema among its checks


class CheckStatus(StrEnum):
    PASSED = "passed"
    FAILED = "failed"
    ERRORED = "errored"  # the check raised, or returned something it should not


@dataclass(frozen=True, slots=True, kw_only=True)
class StepError:
    """Why a step failed, as fields.

    `message` is the one line people read (`ValueError: bad value (pipeline.py:12)`);
    `exception` and `location` are set when user code raised (the exception's type
    and the deepest `file:line` of the user's own code); `traceback` is the user's
    part of it.
    """

    message: str
    exception: str | None = None
    location: str | None = None
    traceback: str | None = None

    @property
    def is_user_code(self) -> bool:
        return self.exception is not None

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckOutcome:
    """One check's verdict on one asset partition (picklable, for workers)."""

    name: str
    status: str  # a CheckStatus
    severity: str
    blocking: bool
    description: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    failures_path: str | None = None
    checked_at: float = field(default_factory=time.time)
    version: str | None = None  # of the check (or schema) that judged: see versioning

    @property
    def passed(self) -> bool:
        return self.status == CheckStatus.PASSED

    @property
    def blocks(self) -> bool:
        """It stops the output from being stored and its readers from running."""
        return not self.passed and self.blocking and self.severity == "error"

    def assertions(self) -> list[dict[str, Any]]:
        """OpenLineage `dataQualityAssertions` items for this verdict: a schema gives
        one per declared column check, an asset check one for itself."""
        if self.name == SCHEMA_CHECK and "assertions" in self.metadata:
            return [
                {k: v for k, v in a.items() if v is not None}
                | {"name": self.name, "severity": self.severity}
                for a in self.metadata["assertions"]
            ]
        item = {"assertion": self.name, "name": self.name, "success": self.passed}
        item["severity"] = self.severity
        if self.description:
            item["description"] = self.description
        return [item]

    def describe(self) -> str:
        """`check 'positive' failed (negative_rows=3)` or `... errored: ValueError: x`."""
        if self.error:
            return f"check {self.name!r} {self.status}: {self.error}"
        shown = ", ".join(f"{k}={v}" for k, v in list(self.metadata.items())[:3])
        return f"check {self.name!r} {self.status}" + (f" ({shown})" if shown else "")


@dataclass(frozen=True, slots=True, kw_only=True)
class StepResult:
    """The outcome of one step for one partition (None: the unpartitioned asset)."""

    key: AssetKey
    partition: str | None
    status: StepStatus
    started_at: float
    finished_at: float
    stored: StoredOutput | None = None
    failure: StepError | None = None  # why it failed, as fields
    skip_reason: str | None = None
    logs: tuple[dict[str, Any], ...] = ()
    checks: tuple[CheckOutcome, ...] = ()
    retryable: bool = True  # False when retrying cannot help (a failed schema or check)

    @property
    def step_key(self) -> str:
        return step_key(self.key, self.partition)

    @property
    def duration_s(self) -> float:
        return self.finished_at - self.started_at

    @property
    def error(self) -> str | None:
        """Why it failed, in one line (`failure` has the fields)."""
        return None if self.failure is None else self.failure.message

    @property
    def message(self) -> str | None:
        """Why it did not succeed, in one line (None when it did)."""
        return self.error or self.skip_reason


def step_key(key: AssetKey, partition: str | None) -> str:
    """`sales/orders[2024-01-01]`: how a step is named in records and output."""
    return str(key) if partition is None else f"{key}[{partition}]"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunResult:
    """The outcome of a run. `success` is False when any step failed or was skipped."""

    run_id: str
    status: RunStatus
    steps: tuple[StepResult, ...]
    index: IndexReport
    backfill_id: str | None = None
    run_key: str | None = None
    is_duplicate: bool = False  # the run key was claimed before: `run_id` is that run's

    @property
    def success(self) -> bool:
        return self.status is RunStatus.SUCCEEDED

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys([s.value for s in StepStatus if s != StepStatus.RUNNING], 0)
        for step in self.steps:
            counts[step.status.value] += 1
        return counts
