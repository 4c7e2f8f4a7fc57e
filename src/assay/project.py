"""`assay.load()` and `Project`: the Python API that the CLI also uses."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from assay.config import ProjectConfig, resolve_config
from assay.definitions import Definitions, load_definitions
from assay.errors import StateLockedError
from assay.partitions.selection import PartitionSelection
from assay.selection import parse_selection

if TYPE_CHECKING:
    import os
    from collections.abc import Callable, Sequence

    from assay.execution.backfill import BackfillStatus
    from assay.execution.check_run import CheckRunResult
    from assay.execution.executors import IOResolver
    from assay.execution.observe import ObserveResult
    from assay.execution.runner import RunReporter, RunResult, RunTarget
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.keys import AssetKey
    from assay.planning.plan import Plan
    from assay.state.reader import StateReader


class Project:
    """A loaded project: its definitions, configuration and state.

    Example:
        >>> import assay
        >>> project = assay.load(module="assets_example.shop")  # doctest: +SKIP
        >>> result = project.materialize("+daily_revenue")  # doctest: +SKIP
        >>> result.success  # doctest: +SKIP
        True
    """

    def __init__(self, config: ProjectConfig, definitions: Definitions) -> None:
        self.config = config
        self.definitions = definitions

    @cached_property
    def graph(self) -> AssetGraph:
        return self.definitions.graph

    @cached_property
    def state(self) -> StateReader:
        from assay.state.reader import StateReader

        return StateReader(self.config.home)

    def select(self, selection: str | Sequence[str] | None = None) -> list[AssetKey]:
        """The keys a selection picks, in dependency order (everything when None)."""
        return parse_selection(selection).resolve(self.graph)

    @cached_property
    def _io(self) -> IOResolver:
        from assay.execution.executors import IOResolver

        return IOResolver(self.definitions, self.config)

    def io_for(self, key: AssetKey) -> IOManager:
        """The asset's IO manager (its own, else the project default, else ParquetIO)."""
        return self._io(key)

    def plan(
        self,
        selection: str | Sequence[str] | None = None,
        *,
        partitions: PartitionSelection | Sequence[str] | None = None,
        partition_range: tuple[str, str] | None = None,
        force: bool = False,
        now: datetime | None = None,
    ) -> Plan:
        """What a materialization of the selection would run, and why; nothing runs.

        Example:
            >>> plan = project.plan("+daily_revenue")  # doctest: +SKIP
            >>> for step in plan.steps:  # doctest: +SKIP
            ...     print(step.key, [step.describe(r) for r in step.reasons])
        """
        from assay.planning.plan import build_plan

        now = now or datetime.now(UTC)
        keys = parse_selection(selection).resolve(self.graph)
        chosen = _partition_selection(partitions, partition_range)
        return build_plan(self.graph, keys, self.state, chosen, now, force=force)

    def observe(
        self, selection: str | Sequence[str] | None = None, *, now: datetime | None = None
    ) -> ObserveResult:
        """Run the observe functions of the selected source assets and record their versions.

        Raises:
            ObservationError: an observe function failed; nothing was recorded.
        """
        from assay.execution.observe import run_observation

        keys = parse_selection(selection).resolve(self.graph)
        return run_observation(
            config=self.config,
            graph=self.graph,
            keys=keys,
            now=now or datetime.now(UTC),
            io_for=self.io_for,
        )

    def materialize(
        self,
        selection: str | Sequence[str] | None = None,
        *,
        partitions: PartitionSelection | Sequence[str] | None = None,
        partition_range: tuple[str, str] | None = None,
        force: bool = False,
        executor: str | None = None,
        workers: int | None = None,
        dask_address: str | None = None,
        reporter: RunReporter | None = None,
        should_stop: Callable[[], bool] | None = None,
        now: datetime | None = None,
    ) -> RunResult:
        """Materialize what the plan says is stale (with `force`, everything selected).

        Args:
            selection: dbt-style selection (everything when None).
            partitions: partition keys to consider for each partitioned asset.
            partition_range: `(first, last)` keys, both included.
            force: run every selected asset partition, stale or not.
            executor: `in_process`, `multiprocess` or `dask` (default: the project's
                configuration, else `dask` when `dask_address` is given, else
                `multiprocess` when `workers` is, else `in_process`).
            workers: worker processes for `multiprocess`, or for the LocalCluster
                of `dask` (default: the configuration, else the CPU count).
            dask_address: a running Dask scheduler (`tcp://host:8786`) for `dask`;
                without one, a LocalCluster is started for the run.
            reporter: receives progress (the CLI prints it).
            should_stop: polled during the run; once True, running steps finish and
                nothing new starts.
            now: the current time for time partitions (default: now).

        Returns the run's result; `result.success` is False when a step failed.
        """
        now = now or datetime.now(UTC)
        chosen = _partition_selection(partitions, partition_range)
        targets, selected = self._targets(selection, chosen, force, now)
        return self._run(
            targets,
            _label(selected, chosen) + (" --force" if force else ""),
            now=now,
            executor=self._executor(executor, workers, dask_address),
            reporter=reporter,
            should_stop=should_stop,
        )

    def check(
        self,
        selection: str | Sequence[str] | None = None,
        *,
        partitions: PartitionSelection | Sequence[str] | None = None,
        partition_range: tuple[str, str] | None = None,
        now: datetime | None = None,
    ) -> CheckRunResult:
        """Run schemas and checks against the stored materializations; nothing is
        re-materialized. Covers every stored partition of the selected assets that
        have a schema or checks (within `partitions` when given); records the results.
        When nothing is checked, nothing is recorded and the result's `run_id` is empty.

        Raises:
            PartitionKeyError: a partition key or bound that is not in the partitions of
                a selected asset (checked or not, as `plan` does).

        Example:
            >>> result = project.check("tag:tier=gold")  # doctest: +SKIP
            >>> [(row["check"], row["status"]) for row in result.rows()]  # doctest: +SKIP
            [('schema', 'passed'), ('no_negative_amounts', 'failed')]
        """
        from assay.execution.check_run import run_stored_checks

        now = now or datetime.now(UTC)
        parsed = parse_selection(selection)
        chosen = _partition_selection(partitions, partition_range)
        selected = parsed.resolve(self.graph)
        wanted_by_key: dict[AssetKey, list[str]] = {}
        for key in selected:  # every selected asset, checked or not, as `plan` validates
            definition = self.graph.specs[key].partitions
            if definition is not None and not chosen.is_everything:
                wanted_by_key[key] = definition.keys(chosen.resolve(definition, now), now)
        keys = [
            key
            for key in selected
            if self.graph.specs[key].schema is not None or self.graph.checks.get(key)
        ]
        rows: dict[str, dict[str, tuple[str | None, str | None]]] = {}
        for row in self.state.stored_materializations([str(k) for k in keys]):
            current = (row["materialization_id"], row["data_version"])
            rows.setdefault(row["asset_key"], {})[row["partition_key"]] = current
        stored: list[tuple[AssetKey, str | None, str | None, str | None]] = []
        unchecked: list[str] = []
        for key in keys:
            have = rows.get(str(key), {})
            definition = self.graph.specs[key].partitions
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
        label = "assay check " + _label(str(parsed), chosen)
        return run_stored_checks(
            config=self.config,
            graph=self.graph,
            io_for=self.io_for,
            stored=stored,
            unchecked=unchecked,
            selection=label,
        )

    def backfill(
        self,
        selection: str | Sequence[str] | None = None,
        *,
        partitions: PartitionSelection | Sequence[str] | None = None,
        partition_range: tuple[str, str] | None = None,
        force: bool = False,
        executor: str | None = None,
        workers: int | None = None,
        dask_address: str | None = None,
        reporter: RunReporter | None = None,
        should_stop: Callable[[], bool] | None = None,
        now: datetime | None = None,
    ) -> RunResult:
        """Start a backfill: a recorded, resumable run over a partition range.

        Without `force` it covers the stale asset partitions of the range (what
        `plan` shows); with `force`, all of them. This process drives it to the
        end; `result.backfill_id` names it for `resume_backfill`,
        `backfill_status` and `cancel_backfill`. Arguments are as for
        `materialize`. When nothing in the range is stale, nothing is recorded
        and the result has no steps and no `backfill_id`.

        Example:
            >>> result = project.backfill("+daily_revenue",  # doctest: +SKIP
            ...     partition_range=("2024-01-01", "2024-12-31"), executor="multiprocess")
            >>> project.backfill_status(result.backfill_id).status  # doctest: +SKIP
            'completed'
        """
        from assay.execution.backfill import new_backfill
        from assay.execution.runner import RunResult

        now = now or datetime.now(UTC)
        chosen = _partition_selection(partitions, partition_range)
        targets, selected = self._targets(selection, chosen, force, now)
        if not targets:
            from assay.state.store import IndexReport

            return RunResult(run_id="", status="succeeded", steps=(), index=IndexReport())
        chosen_executor = self._executor(executor, workers, dask_address)
        record = new_backfill(
            graph=self.graph,
            targets=targets,
            selection=selected,
            partitions="" if chosen.is_everything else str(chosen),
            force=force,
            executor=chosen_executor[0],
            workers=chosen_executor[1],
        )
        label = _label(selected, chosen)
        return self._drive(record, targets, label, now, chosen_executor, reporter, should_stop)

    def resume_backfill(
        self,
        backfill_id: str,
        *,
        executor: str | None = None,
        workers: int | None = None,
        dask_address: str | None = None,
        reporter: RunReporter | None = None,
        should_stop: Callable[[], bool] | None = None,
        now: datetime | None = None,
    ) -> RunResult:
        """Run what a backfill has not done: its failed, skipped, interrupted and never
        started asset partitions; never one that succeeded. Executor and workers
        default to the backfill's own; the Dask address to the configuration's.

        Raises:
            UnknownBackfillError: no such backfill.
            StateError: it is still running in a live process, or already completed.
        """
        from assay.errors import StateError
        from assay.execution.backfill import remaining_targets

        row = self.state.backfill(backfill_id)
        backfill_id = row["backfill_id"]
        if row["status"] in ("running", "canceling"):
            raise StateError(
                f"backfill {backfill_id[:8]} is still running (PID {row['last_run_pid']} on "
                f"{row['last_run_host']}): wait for it, or cancel it "
                f"(`assay backfill cancel {backfill_id[:8]}`)"
            )
        done = {
            (step["asset_key"], step["partition_key"])
            for step in self.state.backfill_steps(backfill_id)
            if step["status"] == "succeeded"
        }
        targets = remaining_targets(self.graph, row, done)
        if not targets:
            raise StateError(
                f"backfill {backfill_id[:8]} has nothing left to run: every asset partition "
                "it covers succeeded"
            )
        record = {
            key: (value.timestamp() if isinstance(value, datetime) else value)
            for key, value in row.items()
            if key in _BACKFILL_FIELDS
        }
        record["type"] = "backfill"
        record["finished_at"] = None
        if executor is None and dask_address is None:
            executor = row["executor"]
        chosen_executor = self._executor(executor, workers or row["workers"], dask_address)
        label = f"{row['selection']} (backfill {backfill_id[:8]}, resumed)"
        now = now or datetime.now(UTC)
        return self._drive(record, targets, label, now, chosen_executor, reporter, should_stop)

    def cancel_backfill(self, backfill_id: str) -> str:
        """Stop a backfill: its running steps finish and nothing new starts. A backfill
        whose process is gone is marked canceled at once. Returns the new status.

        Raises:
            UnknownBackfillError: no such backfill.
            StateError: it already completed or was canceled.
        """
        from assay.errors import StateError
        from assay.execution.backfill import request_cancel

        row = self.state.backfill(backfill_id)
        if row["status"] in ("completed", "canceled"):
            raise StateError(f"backfill {row['backfill_id'][:8]} is already {row['status']}")
        alive = row["status"] in ("running", "canceling")
        status = request_cancel(self.config.home, row["backfill_id"], driver_alive=alive)
        self.state.store.index_pending()
        return status

    def backfill_status(self, backfill_id: str) -> BackfillStatus:
        """A backfill's state: per asset, its partitions by status; each partition's last step.

        Raises:
            UnknownBackfillError: no such backfill.
        """
        from assay.execution.backfill import BackfillStatus, progress

        row = self.state.backfill(backfill_id)
        steps = self.state.backfill_steps(row["backfill_id"])
        return BackfillStatus(
            backfill=row, assets=progress(self.graph, row, steps), steps=tuple(steps)
        )

    def backfills(self, *, limit: int = 20) -> list[dict[str, Any]]:
        """Recent backfills, newest first, with counts of their partitions by status."""
        return self.state.backfills(limit=limit)

    def _executor(
        self, executor: str | None, workers: int | None, dask_address: str | None
    ) -> _ExecutorChoice:
        """(name, workers, Dask address): the arguments, else the configuration."""
        config = self.config
        if executor is None:
            if dask_address is not None:
                executor = "dask"
            elif config.executor is not None:
                executor = config.executor
            else:
                executor = "multiprocess" if workers else "in_process"
        address = (dask_address or config.dask_address) if executor == "dask" else None
        return executor, workers or config.workers, address

    def _targets(
        self,
        selection: str | Sequence[str] | None,
        chosen: PartitionSelection,
        force: bool,
        now: datetime,
    ) -> tuple[list[RunTarget], str]:
        """What a run of the selection covers (the plan's steps), and the selection as text."""
        from assay.execution.runner import RunTarget
        from assay.planning.plan import build_plan

        parsed = parse_selection(selection)
        keys = parsed.resolve(self.graph)
        try:
            plan = build_plan(self.graph, keys, self.state, chosen, now, force=force)
        except StateLockedError as exc:
            if not force:
                raise StateLockedError(f"{exc}; or pass --force to run without a plan") from None
            # forced: every selected partition runs, so the held store is not needed
            plan = build_plan(self.graph, keys, None, chosen, now, force=True)
        targets = [RunTarget(key=step.key, partitions=step.partitions) for step in plan.steps]
        return targets, str(parsed)

    def _drive(
        self,
        record: dict[str, Any],
        targets: list[RunTarget],
        label: str,
        now: datetime,
        executor: _ExecutorChoice,
        reporter: RunReporter | None,
        should_stop: Callable[[], bool] | None,
    ) -> RunResult:
        from assay.execution.backfill import CancelWatch

        record = {**record, "executor": executor[0], "workers": executor[1]}
        watch = CancelWatch(self.config.home, record["backfill_id"])
        try:
            return self._run(
                targets,
                label,
                now=now,
                executor=executor,
                reporter=reporter,
                should_stop=lambda: watch() or (should_stop is not None and should_stop()),
                backfill=record,
            )
        finally:
            watch.clear()

    def _run(
        self,
        targets: list[RunTarget],
        label: str,
        *,
        now: datetime,
        executor: _ExecutorChoice,
        reporter: RunReporter | None,
        should_stop: Callable[[], bool] | None,
        backfill: dict[str, Any] | None = None,
    ) -> RunResult:
        from assay.execution.executors import make_executor
        from assay.execution.runner import run_materialization, upstream_reads

        name, workers, dask_address = executor
        try:
            versions = self.state.current_versions(upstream_reads(self.graph, targets, now))
        except StateLockedError:
            # A run never waits for, nor fails on, a held store: its steps go on, and
            # provenance counts the input versions it could not know.
            versions = {}
        chosen_executor = make_executor(
            name,
            workers=workers,
            config=self.config,
            graph=self.graph,
            io_for=self.io_for,
            dask_address=dask_address,
        )
        return run_materialization(
            config=self.config,
            definitions=self.definitions,
            targets=targets,
            io_for=self.io_for,
            selection=label,
            now=now,
            versions=versions,
            reporter=reporter,
            executor=chosen_executor,
            backfill=backfill,
            should_stop=should_stop,
        )


_ExecutorChoice = tuple[str, int | None, str | None]

_BACKFILL_FIELDS = frozenset(
    {
        "backfill_id",
        "selection",
        "partitions",
        "is_forced",
        "executor",
        "workers",
        "targets",
        "asset_count",
        "partition_count",
        "created_at",
        "user_name",
        "command",
    }
)


def _label(selected: str, chosen: PartitionSelection) -> str:
    """`+revenue [2024-01-01..2024-01-31]`: how a run names what it covers."""
    return selected + ("" if chosen.is_everything else f" [{chosen}]")


def _partition_selection(
    partitions: PartitionSelection | Sequence[str] | None,
    partition_range: tuple[str, str] | None,
) -> PartitionSelection:
    if isinstance(partitions, PartitionSelection):
        return partitions
    first, last = partition_range or (None, None)
    return PartitionSelection(keys=tuple(partitions or ()), first=first, last=last)


def load(
    module: str | None = None,
    *,
    file: str | os.PathLike[str] | None = None,
    home: str | os.PathLike[str] | None = None,
) -> Project:
    """Load a project: its module from the arguments, ASSAY_MODULE or pyproject.toml.

    Raises:
        ConfigError: no module is configured, or it cannot be imported.
        DefinitionError: the assets do not form a valid graph.
    """
    config = resolve_config(module=module, file=file, home=home)
    definitions = load_definitions(config)
    project = Project(config, definitions)
    _ = project.graph  # validate now, where the user asked for the project
    return project
