"""What the state reader returns: typed read models, not rows of dicts."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class StateMark:
    """Where the stored state of some assets stood: the latest `seq` of their current
    asset partitions, and how many there were. A plan records the mark it was made
    against; once the mark moves, the plan is out of date."""

    seq: int = 0
    rows: int = 0


_Model = TypeVar("_Model")


def model(cls: type[_Model], row: Mapping[str, Any]) -> _Model:
    """A read model from a row of the store (columns it does not name are left out)."""
    return cls(**{f.name: row.get(f.name) for f in fields(cls)})  # type: ignore[arg-type]


class _Dict:
    __slots__ = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (what `--json` prints)."""
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True, kw_only=True)
class Run(_Dict):
    """One recorded run: a materialization, a backfill's run, a check, an observation."""

    run_id: str
    kind: str | None
    status: str
    selection: str | None
    command: str | None
    started_at: datetime | None
    finished_at: datetime | None
    user_name: str | None
    host: str | None
    pid: int | None
    git_commit: str | None
    assay_version: str | None
    step_count: int | None
    succeeded_count: int | None
    failed_count: int | None
    skipped_count: int | None
    backfill_id: str | None
    run_key: str | None
    targets: str | None
    lineage_events: int | None
    lineage_errors: int | None
    lineage_target: str | None
    lineage_sent: int | None
    lineage_failed: int | None
    lineage_error: str | None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True, kw_only=True)
class Step(_Dict):
    """One step of a run: an asset partition (its latest attempt)."""

    run_id: str
    step_key: str
    asset_key: str
    partition_key: str | None
    status: str
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    error_type: str | None  # the exception user code raised
    error_location: str | None  # file:line in the user's code
    traceback: str | None
    skip_reason: str | None
    attempts: int | None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True, kw_only=True)
class LogLine(_Dict):
    """A line a step logged (`context.log`, or standard logging), in order."""

    run_id: str
    step_key: str
    seq: int
    logged_at: datetime | None
    level: str | None
    logger: str | None
    message: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class RunDetails:
    """A run, its steps and what they logged."""

    run: Run
    steps: tuple[Step, ...]
    logs: tuple[LogLine, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run.to_dict(),
            "steps": [s.to_dict() for s in self.steps],
            "logs": [line.to_dict() for line in self.logs],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Quarantined(_Dict):
    """A journal record that could not be indexed, set aside (it stays in its journal)."""

    journal: str
    byte_offset: int
    reason: str
    line: str | None
