"""`assay check`: schemas and checks against what is stored, without materializing.

Each selected asset partition's current materialization is loaded from its IO
manager and judged by the asset's schema and every check (all of them, even
after a failure, so CI sees the whole picture). The results are journaled as
a recorded run of their own and indexed like any other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.execution.quality import as_frame, evaluate
from assay.execution.recorder import RecordedRun
from assay.execution.records import check_records
from assay.io.base import InputKind, Stores, is_frame, stores_of
from assay.resources import ResourceScope
from assay.results import SCHEMA_CHECK, CheckOutcome, CheckStatus, RunKind, RunStatus

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from pathlib import Path

    from assay.checks import CheckSpec
    from assay.config import ProjectConfig
    from assay.execution.hooks import RunHooks
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.keys import AssetKey
    from assay.partitions.base import PartitionContext
    from assay.partitions.selection import PartitionSelection
    from assay.state.reader import StateReader


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckedPartition:
    """The verdicts on one stored asset partition."""

    asset_key: str
    partition_key: str | None
    materialization_id: str | None
    outcomes: tuple[CheckOutcome, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckRunResult:
    """What `assay check` found. `failed` holds the error-severity checks that did not pass."""

    run_id: str | None  # None: nothing was checked, nothing recorded
    checked: tuple[CheckedPartition, ...]
    unchecked: tuple[str, ...]  # selected assets with checks but nothing stored

    def rows(self) -> list[dict[str, object]]:
        return [
            {
                "asset_key": part.asset_key,
                "partition_key": part.partition_key,
                "check": outcome.name,
                "status": outcome.status,
                "severity": outcome.severity,
                "blocking": outcome.blocking,
                "description": outcome.description,
                "metadata": outcome.metadata,
                "error": outcome.error,
                "failures_path": outcome.failures_path,
                "materialization_id": part.materialization_id,
            }
            for part in self.checked
            for outcome in part.outcomes
        ]

    @property
    def failed(self) -> list[tuple[CheckedPartition, CheckOutcome]]:
        return [
            (part, outcome)
            for part in self.checked
            for outcome in part.outcomes
            if not outcome.passed and outcome.severity == "error"
        ]

    @property
    def success(self) -> bool:
        return not self.failed


def stored_to_check(
    graph: AssetGraph,
    state: StateReader,
    selected: Sequence[AssetKey],
    chosen: PartitionSelection,
    context: PartitionContext,
) -> tuple[list[tuple[AssetKey, str | None, str | None, str | None]], list[str]]:
    """Every stored partition (within `chosen`) of the selected assets that have a
    schema or checks, as (asset, partition, materialization id, data version), and
    the checked assets that have nothing stored there.

    Raises:
        PartitionKeyError: a key or bound not in the partitions of a selected asset
            (checked or not, as `plan` validates).
    """
    wanted_by_key: dict[AssetKey, list[str]] = {}
    for key in selected:
        definition = graph.specs[key].partitions
        if definition is not None and not chosen.is_everything:
            wanted_by_key[key] = definition.keys(chosen.resolve(definition, context), context)
    keys = [key for key in selected if graph.specs[key].schema is not None or graph.checks.get(key)]
    rows: dict[str, dict[str, tuple[str | None, str | None]]] = {}
    for row in state.stored_materializations([str(k) for k in keys]):
        current = (row["materialization_id"], row["data_version"])
        rows.setdefault(row["asset_key"], {})[row["partition_key"]] = current
    stored: list[tuple[AssetKey, str | None, str | None, str | None]] = []
    unchecked: list[str] = []
    for key in keys:
        have = rows.get(str(key), {})
        definition = graph.specs[key].partitions
        if definition is None:
            wanted: list[str] = [""]
        elif chosen.is_everything:
            wanted = sorted(have)
        else:
            wanted = wanted_by_key[key]
        found = [(p, *have[p]) for p in wanted if p in have]
        if not found:
            unchecked.append(str(key))
        stored += [(key, p or None, m, v) for p, m, v in found]
    return stored, unchecked


def run_stored_checks(
    *,
    config: ProjectConfig,
    graph: AssetGraph,
    io_for: Callable[[AssetKey], IOManager],
    stored: Sequence[tuple[AssetKey, str | None, str | None, str | None]],
    unchecked: Sequence[str],
    selection: str,
    hooks: RunHooks,
    resources: Mapping[str, Any] | None = None,
) -> CheckRunResult:
    """Judge each (asset, partition key or None, materialization id, data version).

    With nothing to judge, nothing is recorded (the result has no run id). Checks that
    take resources get them from `resources` (built for this run, torn down after).
    """
    if not stored:
        return CheckRunResult(run_id=None, checked=(), unchecked=tuple(unchecked))
    with RecordedRun(config, kind=RunKind.CHECK, selection=selection, hooks=hooks) as run:
        failures_dir = config.home / "failures" / run.run_id
        scope = ResourceScope(resources or {}, run.run_id)
        try:
            checked = _judge_all(graph, io_for, stored, run, hooks, failures_dir, scope.get)
        finally:
            for failure in scope.close():
                run.notice(failure)
        result = CheckRunResult(
            run_id=run.run_id, checked=tuple(checked), unchecked=tuple(unchecked)
        )
        run.finish(RunStatus.SUCCEEDED if result.success else RunStatus.FAILED)
    return result


def _judge_all(
    graph: AssetGraph,
    io_for: Callable[[AssetKey], IOManager],
    stored: Sequence[tuple[AssetKey, str | None, str | None, str | None]],
    run: RecordedRun,
    hooks: RunHooks,
    failures_dir: Path,
    resources: Callable[[str], Any],
) -> list[CheckedPartition]:
    checked: list[CheckedPartition] = []
    for key, partition, materialization_id, data_version in stored:
        outcomes = _judge(graph, io_for, key, partition, run.run_id, failures_dir, resources)
        hooks.checks_judged(run.info, key, partition, outcomes, data_version)
        run.append_soon(
            *check_records(
                run.run_id,
                key,
                partition,
                outcomes,
                materialization_id,
                data_version,
                run.seq(),
            )
        )
        checked.append(
            CheckedPartition(
                asset_key=str(key),
                partition_key=partition,
                materialization_id=materialization_id,
                outcomes=tuple(outcomes),
            )
        )
    return checked


def _judge(
    graph: AssetGraph,
    io_for: Callable[[AssetKey], IOManager],
    key: AssetKey,
    partition: str | None,
    run_id: str,
    failures_dir: Path,
    resources: Callable[[str], Any] | None = None,
) -> list[CheckOutcome]:
    spec = graph.specs[key]
    checks = graph.checks.get(key, ())
    try:
        wanted = None if partition is None else [partition]
        io = io_for(key)
        value = io.load(key, wanted, InputKind.EAGER)
        if stores_of(io) not in (None, Stores.FRAMES):  # a value: {partition: value}
            value = value if partition is None else value[partition]
        _, outcomes = evaluate(
            spec,
            checks,
            as_frame(value) if is_frame(value) else value,
            partition=partition,
            run_id=run_id,
            failures_dir=failures_dir,
            resources=resources,
        )
    except Exception as exc:  # unreadable storage: every check errored
        return [
            CheckOutcome(
                name=name,
                status=CheckStatus.ERRORED,
                severity=severity,
                blocking=blocking,
                error=f"cannot load the stored value: {type(exc).__name__}: {exc}",
            )
            for name, severity, blocking in _declared(spec.schema, checks)
        ]
    return outcomes


def _declared(schema: object, checks: Sequence[CheckSpec]) -> list[tuple[str, str, bool]]:
    declared = [(SCHEMA_CHECK, "error", True)] if schema is not None else []
    return declared + [(c.name, c.severity, c.blocking) for c in checks]
