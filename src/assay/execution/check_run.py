"""`assay check`: schemas and checks against what is stored, without materializing.

Each selected asset partition's current materialization is loaded from its IO
manager and judged by the asset's schema and every check (all of them, even
after a failure, so CI sees the whole picture). The results are journaled as
a run of their own and indexed like any other.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from assay.execution.emission import RunLineage
from assay.execution.quality import SCHEMA_CHECK, CheckOutcome, evaluate
from assay.execution.runner import check_records, run_record
from assay.lineage.events import CHECK_RUN_JOB, check_events
from assay.state.clock import Clock
from assay.state.journal import Journal
from assay.state.store import StateStore

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from assay.checks import CheckSpec
    from assay.config import ProjectConfig
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.keys import AssetKey


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckedPartition:
    """The verdicts on one stored asset partition."""

    asset_key: str
    partition_key: str | None
    materialization_id: str | None
    outcomes: tuple[CheckOutcome, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckRunResult:
    """What `assay check` found. `failed` holds the error-severity checks that did not pass;
    `run_id` is empty when nothing was checked (and so nothing recorded)."""

    run_id: str
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


def run_stored_checks(
    *,
    config: ProjectConfig,
    graph: AssetGraph,
    io_for: Callable[[AssetKey], IOManager],
    stored: Sequence[tuple[AssetKey, str | None, str | None, str | None]],
    unchecked: Sequence[str],
    selection: str,
) -> CheckRunResult:
    """Judge each (asset, partition key or None, materialization id, data version).

    With nothing stored to judge, nothing is recorded: the result has no `run_id`.
    """
    from assay.assets import InputKind
    from assay.execution.quality import as_frame

    if not stored:
        return CheckRunResult(run_id="", checked=(), unchecked=tuple(unchecked))
    run_id = str(uuid.uuid4())
    store = StateStore(config.home)
    store.check_home()
    journal = Journal(store.journal_dir, run_id)
    clock = Clock(config.home)
    run = run_record(run_id, selection, config.root, 0)
    journal.append(run, durable=True)
    lineage = RunLineage(
        config=config,
        graph=graph,
        io_for=io_for,
        run_id=run_id,
        job=CHECK_RUN_JOB,
        journal=journal,
        job_type="CHECK",
    )
    lineage.started(run["started_at"])
    failures_dir = config.home / "failures" / run_id
    checked: list[CheckedPartition] = []
    status = "failed"
    try:
        for key, partition, materialization_id, data_version in stored:
            spec = graph.specs[key]
            checks = graph.checks.get(key, ())
            try:
                wanted = None if partition is None else [partition]
                value = io_for(key).load(key, wanted, InputKind.EAGER)
                _, outcomes = evaluate(
                    spec,
                    checks,
                    as_frame(value),
                    partition=partition,
                    run_id=run_id,
                    failures_dir=failures_dir,
                )
            except Exception as exc:  # unreadable storage: every check errored
                outcomes = [
                    CheckOutcome(
                        name=name,
                        status="errored",
                        severity=severity,
                        blocking=blocking,
                        error=f"cannot load the stored value: {type(exc).__name__}: {exc}",
                    )
                    for name, severity, blocking in _declared(spec.schema, checks)
                ]
            lineage.build(
                check_events,
                lineage.job(key),
                lineage.dataset(
                    key,
                    version=data_version,
                    partitions=partition,
                    keys=None if partition is None else (partition,),
                ),
                partition,
                outcomes,
                lineage.run,
                lineage.root,
            )
            journal.append(
                *check_records(
                    run_id,
                    key,
                    partition,
                    outcomes,
                    materialization_id,
                    data_version,
                    clock.next(),
                ),
                durable=True,
            )
            checked.append(
                CheckedPartition(
                    asset_key=str(key),
                    partition_key=partition,
                    materialization_id=materialization_id,
                    outcomes=tuple(outcomes),
                )
            )
        result = CheckRunResult(run_id=run_id, checked=tuple(checked), unchecked=tuple(unchecked))
        status = "succeeded" if result.success else "failed"
    finally:
        at = time.time()
        columns = lineage.finished(status, at)
        try:
            journal.append({**run, **columns, "status": status, "finished_at": at}, durable=True)
        finally:
            journal.close()
            clock.close()
        store.index_pending(timeout_s=10.0)
    return result


def _declared(schema: object, checks: Sequence[CheckSpec]) -> list[tuple[str, str, bool]]:
    declared = [(SCHEMA_CHECK, "error", True)] if schema is not None else []
    return declared + [(c.name, c.severity, c.blocking) for c in checks]
