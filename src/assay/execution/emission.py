"""A run's lineage: the coordinator's side of OpenLineage emission.

`RunLineage` belongs to one run (a materialization, a backfill's run, `assay
check`, `assay observe`). It names datasets and jobs, journals every event as a
`lineage` record (the state store indexes them in batches, like every record)
and hands them to the configured OpenLineage transport, if any, on a thread of
its own. Emission never changes a run's outcome: an event that cannot be built
is logged and counted, and the run record says how many.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from assay.execution.step import describe_exception
from assay.io.base import lineage_dataset
from assay.lineage.events import (
    AssetJob,
    DatasetRef,
    LineageEvent,
    RunRef,
    backfill_run_id,
    namespace_for,
    run_event,
)
from assay.versioning import code_version

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from assay.config import ProjectConfig
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.keys import AssetKey
    from assay.lineage.delivery import Delivery
    from assay.state.journal import Journal

_log = logging.getLogger("assay.lineage")


class RunLineage:
    """Journals and sends one run's events; `enabled` False makes every call a no-op."""

    def __init__(
        self,
        *,
        config: ProjectConfig,
        graph: AssetGraph,
        io_for: Callable[[AssetKey], IOManager],
        run_id: str,
        job: str,
        journal: Journal,
        backfill_id: str | None = None,
        job_type: str = "RUN",
    ) -> None:
        from assay.lineage.events import BACKFILL_JOB

        self.enabled = config.lineage
        self.graph = graph
        self.io_for = io_for
        self.journal = journal
        self.assay_run_id = run_id
        self.namespace = namespace_for(config.name)
        self.run = RunRef(run_id=run_id, namespace=self.namespace, name=job)
        self.backfill = (
            None
            if backfill_id is None
            else RunRef(
                run_id=backfill_run_id(backfill_id), namespace=self.namespace, name=BACKFILL_JOB
            )
        )
        self.job_type = job_type
        self.stored = 0
        self.errors = 0
        self.first_error: str | None = None
        self._datasets: dict[AssetKey, tuple[str, str]] = {}
        self._jobs: dict[AssetKey, AssetJob] = {}
        self._delivery: Delivery | None = None
        self.delivery_problem: str | None = None  # said at the run's end, when sending failed
        if self.enabled:
            from assay.lineage.delivery import Delivery

            self._delivery = Delivery.from_environment(home=config.home, run_id=run_id)

    @property
    def root(self) -> RunRef:
        """The root of the run's steps: the backfill, else the run itself."""
        return self.backfill or self.run

    def started(self, at: float) -> None:
        self.build(run_event, self.run, "START", at, parent=self.backfill, job_type=self.job_type)

    def finished(self, status: str, at: float) -> dict[str, Any]:
        """The run's terminal event; returns the lineage columns of its run record."""
        if status == "succeeded":
            self.build(run_event, self.run, "COMPLETE", at, parent=self.backfill)
        else:
            state = "ABORT" if status == "canceled" else "FAIL"
            error = f"the run {status}"
            self.build(run_event, self.run, state, at, parent=self.backfill, error=error)
        columns: dict[str, Any] = {"lineage_events": self.stored, "lineage_errors": self.errors}
        if self._delivery is not None:
            report = self._delivery.close()
            columns |= {
                "lineage_target": report.target,
                "lineage_sent": report.sent,
                "lineage_failed": report.failed,
                "lineage_error": report.error,
            }
            self.delivery_problem = report.describe()
        return columns

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

    def build(self, builder: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Build events with `builder` and record them; a failure is counted, never raised."""
        if not self.enabled:
            return
        try:
            built = builder(*args, **kwargs)
        except Exception as exc:
            self.failed(describe_exception(exc))
            return
        self.record(built if isinstance(built, list) else [built])

    def record(self, events: Sequence[LineageEvent]) -> None:
        """Journal events (flushed with the step's records) and send them on."""
        if not self.enabled or not events:
            return
        self.journal.append(*(e.record(self.assay_run_id) for e in events))
        self.stored += len(events)
        if self._delivery is not None:
            self._delivery.send(events)

    def failed(self, reason: str) -> None:
        self.errors += 1
        if self.first_error is None:
            self.first_error = reason
            _log.warning("a lineage event could not be built: %s (the run goes on)", reason)
