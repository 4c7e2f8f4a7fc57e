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
    config: str | None = None  # JSON: asset -> the configuration it was given
    # what its checks and observations counted (None where the reader did not count)
    check_count: int | None = None  # check results it recorded
    checks_passed: int | None = None
    checks_warned: int | None = None  # warn-severity checks that did not pass
    checks_failed: int | None = None  # error-severity checks that did not pass
    checks_errored: int | None = None  # checks that raised
    checked_partitions: int | None = None  # asset partitions it judged
    observation_count: int | None = None  # data versions it observed
    observed_assets: int | None = None

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def target(self) -> str:
        """What it ran on, without the kind it says in `selection` (`observe a b` -> `a b`)."""
        text = self.selection or "*"
        for prefix in ("assay check ", "observe "):
            if text.startswith(prefix):
                return text.removeprefix(prefix) or "*"
        return text


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


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckLine(_Dict):
    """One check result a run recorded, as `assay runs show` lists those that did not pass."""

    run_id: str
    asset_key: str
    partition_key: str | None
    check_name: str
    status: str  # passed, failed, errored
    severity: str  # error, warn
    blocking: bool | None
    error: str | None
    metadata: str | None  # JSON

    @property
    def outcome(self) -> str:
        """passed, warned (a warn-severity check that did not pass), failed or errored."""
        if self.status in ("passed", "errored"):
            return self.status
        return "warned" if self.severity == "warn" else "failed"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunOverview:
    """A run at a glance, however many steps it has: its steps counted by status, the
    slowest ones, every step that did not succeed (with their logs), and the check
    results it recorded that did not pass, counted per asset.

    `partitions` holds, per asset with a step that did not succeed, every partition
    key the run has a step for, in order: what ranges of them are folded against.
    """

    run: Run
    counts: Mapping[str, int]  # step status -> steps
    slowest: tuple[Step, ...]
    problems: tuple[Step, ...]  # failed, died, skipped, running: in step order
    logs: tuple[LogLine, ...]  # of `problems`
    partitions: Mapping[str, tuple[str, ...]]
    checks: Mapping[str, Mapping[str, int]]  # asset -> outcome -> results
    check_problems: tuple[CheckLine, ...]

    @property
    def step_count(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "run": self.run.to_dict(),
            "counts": dict(self.counts),
            "slowest": [s.to_dict() for s in self.slowest],
            "problems": [s.to_dict() for s in self.problems],
            "logs": [line.to_dict() for line in self.logs],
            "checks": {asset: dict(counts) for asset, counts in self.checks.items()},
            "check_problems": [c.to_dict() for c in self.check_problems],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetSummary(_Dict):
    """What `assay list` shows of one asset's history: its last materialization, the
    last run that had a step for it (and how that asset's steps went in it), and
    the latest result of each check on each partition (rows of `check_results`)."""

    asset_key: str
    materialized_at: datetime | None = None
    materialization_count: int | None = None
    last_run_id: str | None = None
    last_run_kind: str | None = None
    last_run_status: str | None = None  # the run's status
    last_run_at: datetime | None = None  # when it ended (or started, if it has not)
    last_run_steps: int | None = None  # the asset's steps in that run
    last_run_succeeded: int | None = None
    last_run_failed: int | None = None  # failed or died
    last_run_skipped: int | None = None
    checks: tuple[Mapping[str, Any], ...] = ()
