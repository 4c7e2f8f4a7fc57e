"""Lineage as a run-hooks subscriber: OpenLineage events for every run.

`LineageHooks` names datasets and jobs, builds the events of each run (its
START and terminal event; each step attempt's START and COMPLETE or FAIL; each
checked partition's check run; each observation's dataset event), journals
them as `lineage` records with the run's own records (the state store indexes
them in batches, like every record) and hands them to the configured
OpenLineage transport, if any, on a thread of its own. Emission never changes
a run's outcome: an event that cannot be built is logged and counted, and the
run record says how many.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from assay.execution.hooks import Hooks
from assay.execution.user_code import describe_exception
from assay.io.base import lineage_dataset
from assay.lineage.delivery import Delivery
from assay.lineage.events import (
    BACKFILL_JOB,
    CHECK_RUN_JOB,
    LISTED_PARTITIONS,
    OBSERVE_JOB,
    RUN_JOB,
    AssetJob,
    DatasetRef,
    LineageEvent,
    RunRef,
    StepLineage,
    backfill_run_id,
    check_events,
    namespace_for,
    new_run_id,
    observation_event,
    run_event,
    step_abort,
    step_end,
    step_start,
)
from assay.results import RunKind, RunStatus
from assay.versioning import code_version

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from assay.config import ProjectConfig
    from assay.execution.hooks import InputRead, Observed, RunInfo, StepAttempt
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.keys import AssetKey
    from assay.results import CheckOutcome, StepResult

_log = logging.getLogger("assay.lineage")
_JOBS = {
    RunKind.MATERIALIZE: (RUN_JOB, "RUN"),
    RunKind.BACKFILL: (RUN_JOB, "RUN"),
    RunKind.CHECK: (CHECK_RUN_JOB, "CHECK"),
    RunKind.OBSERVE: (OBSERVE_JOB, "OBSERVE"),
}


class LineageHooks(Hooks):
    """Journals and sends the events of the runs it is told about (one at a time);
    with lineage off (`[tool.assay] lineage = false`) it does nothing."""

    def __init__(
        self, config: ProjectConfig, graph: AssetGraph, io_for: Callable[[AssetKey], IOManager]
    ) -> None:
        self.config = config
        self.enabled = config.lineage
        self.graph = graph
        self.io_for = io_for
        self.namespace = namespace_for(config.name)
        self._datasets: dict[AssetKey, tuple[str, str]] = {}
        self._jobs: dict[AssetKey, AssetJob] = {}
        self._run: RunInfo | None = None
        self._ref = RunRef(run_id="", namespace=self.namespace, name=RUN_JOB)
        self._backfill: RunRef | None = None
        self._plans: dict[tuple[AssetKey, tuple[str, ...] | None], tuple[StepLineage, ...]] = {}
        self._delivery: Delivery | None = None
        self.stored = 0
        self.errors = 0

    @property
    def _root(self) -> RunRef:
        """The root of the run's steps: the backfill, else the run itself."""
        return self._backfill or self._ref

    # --- the run ----------------------------------------------------------------

    def run_started(self, run: RunInfo) -> None:
        if not self.enabled:
            return
        job, job_type = _JOBS[run.kind]
        self._run = run
        self._ref = RunRef(run_id=run.run_id, namespace=self.namespace, name=job)
        self._backfill = None
        if run.backfill_id is not None:
            self._backfill = RunRef(
                run_id=backfill_run_id(run.backfill_id), namespace=self.namespace, name=BACKFILL_JOB
            )
        self._plans.clear()
        self.stored = self.errors = 0

        self._delivery = Delivery.from_environment(home=self.config.home, run_id=run.run_id)
        self._build(
            run_event,
            self._ref,
            "START",
            run.started_at,
            parent=self._backfill,
            job_type=job_type,
        )

    def run_finished(self, run: RunInfo, status: RunStatus) -> None:
        if not self.enabled or self._run is None:
            run.annotate(lineage_events=0, lineage_errors=0)
            return
        at = time.time()
        for plans in self._plans.values():  # attempts still running: the run stopped short
            for plan in plans:
                self._build(step_abort, plan, at, "the run was interrupted")
        self._plans.clear()
        if status is RunStatus.SUCCEEDED:
            self._build(run_event, self._ref, "COMPLETE", at, parent=self._backfill)
        else:
            state = "ABORT" if status is RunStatus.CANCELED else "FAIL"
            error = f"the run {status}"
            self._build(run_event, self._ref, state, at, parent=self._backfill, error=error)
        columns: dict[str, Any] = {"lineage_events": self.stored, "lineage_errors": self.errors}
        if self._delivery is not None:
            report = self._delivery.close()
            columns |= {
                "lineage_target": report.target,
                "lineage_sent": report.sent,
                "lineage_failed": report.failed,
                "lineage_error": report.error,
            }
            problem = report.describe()
            if problem:
                run.notice(problem)
        run.annotate(**columns)
        self._run = None

    # --- steps ------------------------------------------------------------------

    def step_dispatched(self, run: RunInfo, attempt: StepAttempt) -> None:
        if not self.enabled:
            return
        try:
            plans = self._plans_of(attempt)
        except Exception as exc:  # a custom IO manager that cannot name its dataset, say
            self._failed(describe_exception(exc))
            return
        self._plans[(attempt.key, attempt.partitions)] = plans
        for plan in plans:
            self._build(step_start, plan, attempt.dispatched_at)

    def step_retried(
        self, run: RunInfo, attempt: StepAttempt, results: Sequence[StepResult], wait_s: float
    ) -> None:
        self._ended(attempt, results)

    def step_finished(
        self, run: RunInfo, attempt: StepAttempt | None, results: Sequence[StepResult]
    ) -> None:
        if attempt is not None:  # a skipped step never started: it has no lineage run
            self._ended(attempt, results)

    def _ended(self, attempt: StepAttempt, results: Sequence[StepResult]) -> None:
        if not self.enabled:
            return
        plans = {p.partition: p for p in self._plans.pop((attempt.key, attempt.partitions), ())}
        for result in results:
            plan = plans.get(result.partition)
            if plan is None:
                continue
            self._build(step_end, plan, result)
            checked = plan.output
            if result.stored is not None:
                checked = replace(checked, version=result.stored.data_version)
            self._build(
                check_events,
                plan.job,
                checked,
                plan.partition,
                result.checks,
                plan.parent,
                plan.root,
            )

    def _plans_of(self, attempt: StepAttempt) -> tuple[StepLineage, ...]:
        """One plan per partition of the attempt: its run id, what it reads (versions
        and partitions) and writes, its parent and root runs."""
        job = self.job(attempt.key)
        windows = attempt.time_windows or (None,) * len(attempt.partitions or (None,))
        plans = []
        for partition, window in zip(attempt.partitions or (None,), windows, strict=True):
            nominal = None if window is None else (window.start.isoformat(), window.end.isoformat())
            plans.append(
                StepLineage(
                    run_id=new_run_id(),
                    job=job,
                    partition=partition,
                    parent=self._ref,
                    root=self._root,
                    inputs=tuple(self._inputs(attempt.reads.get(partition, ()))),
                    output=self.dataset(
                        attempt.key,
                        partitions=partition,
                        keys=None if partition is None else (partition,),
                    ),
                    provenance=attempt.provenance.get(partition),
                    config=attempt.config,
                    nominal=nominal,
                )
            )
        return tuple(plans)

    def _inputs(self, reads: Iterable[InputRead]) -> Iterable[DatasetRef]:
        for read in reads:
            definition = self.graph.specs[read.upstream].partitions
            if definition is None or read.partitions is None:
                yield self.dataset(read.upstream, version=read.version)
                continue
            listed = len(read.keys) <= LISTED_PARTITIONS
            yield self.dataset(
                read.upstream,
                version=read.version,
                partitions=definition.fold(read.partitions),
                keys=read.keys if listed else None,
                ranges=()
                if listed
                else [
                    (definition.key(a), definition.key(b - 1)) for a, b in read.partitions.ranges
                ],
            )

    # --- checks and observations -----------------------------------------------

    def checks_judged(
        self,
        run: RunInfo,
        key: AssetKey,
        partition: str | None,
        outcomes: Sequence[CheckOutcome],
        data_version: str | None,
    ) -> None:
        if not self.enabled:
            return
        keys = None if partition is None else (partition,)
        dataset = self.dataset(key, version=data_version, partitions=partition, keys=keys)
        self._build(
            check_events, self.job(key), dataset, partition, outcomes, self._ref, self._root
        )

    def observed(self, run: RunInfo, observations: Sequence[Observed]) -> None:
        if not self.enabled:
            return
        for o in observations:
            keys = None if o.partition is None else (o.partition,)
            dataset = self.dataset(o.key, version=o.data_version, partitions=o.partition, keys=keys)
            self._build(observation_event, dataset, self.namespace, o.partition, o.at)

    # --- naming -----------------------------------------------------------------

    def dataset(
        self,
        key: AssetKey,
        *,
        version: str | None = None,
        partitions: str | None = None,
        keys: Sequence[str] | None = None,
        ranges: Iterable[tuple[str, str]] = (),
    ) -> DatasetRef:
        if key not in self._datasets:
            spec = self.graph.specs[key]
            if spec.is_source and spec.io is None:
                # assay neither stores nor knows where a source's data is: it is named
                # in the project's namespace, by its key
                self._datasets[key] = (self.namespace, str(key))
            else:
                self._datasets[key] = lineage_dataset(self.io_for(key), key)
        namespace, name = self._datasets[key]
        return DatasetRef(
            namespace=namespace,
            name=name,
            asset_key=str(key),
            version=version,
            partitions=partitions,
            keys=None if keys is None else tuple(keys),
            ranges=tuple(ranges),
        )

    def job(self, key: AssetKey) -> AssetJob:
        if key not in self._jobs:
            spec = self.graph.specs[key]
            self._jobs[key] = AssetJob(
                namespace=self.namespace,
                asset_key=str(key),
                description=spec.description,
                owners=tuple(spec.owners),
                tags=tuple(sorted(spec.tags.items())),
                group=spec.group,
                code_version=code_version(spec),
            )
        return self._jobs[key]

    # --- recording ----------------------------------------------------------------

    def _build(self, builder: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Build events with `builder` and record them; a failure is counted, never raised."""
        try:
            built = builder(*args, **kwargs)
        except Exception as exc:
            self._failed(describe_exception(exc))
            return
        self._record(built if isinstance(built, list) else [built])

    def _record(self, events: Sequence[LineageEvent]) -> None:
        """Journal events (flushed with the step's records) and send them on."""
        if not events or self._run is None:
            return
        self._run.record(*(e.record(self._run.run_id) for e in events))
        self.stored += len(events)
        if self._delivery is not None:
            self._delivery.send(events)

    def _failed(self, reason: str) -> None:
        self.errors += 1
        if self.errors == 1:
            _log.warning("a lineage event could not be built: %s (the run goes on)", reason)
