"""`assay.load()` and `Project`: the Python API that the CLI also uses.

A router: it resolves what the caller asked (a selection, partitions, an
executor) and hands it to the module that owns the rule (planning, applying a
plan, backfills, checks, observations).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from assay.config import ProjectConfig, resolve_config
from assay.definitions import Definitions, load_definitions
from assay.errors import ConfigError, StateLockedError
from assay.partitions.selection import PartitionSelection
from assay.planning.check_versions import OutOfDateCheck, out_of_date_checks
from assay.planning.plan import Plan, build_plan
from assay.planning.serialize import plan_to_json
from assay.planning.verify import Verification
from assay.selection import parse_selection
from assay.state.dynamic import change_partition_keys, find_dynamic, partition_context
from assay.state.reader import StateReader

if TYPE_CHECKING:
    import os
    from collections.abc import Callable
    from datetime import datetime

    from assay.execution.backfill import BackfillStatus
    from assay.execution.check_run import CheckRunResult
    from assay.execution.hooks import RunHooks
    from assay.execution.launcher import LaunchedRun
    from assay.execution.materialize import Runtime
    from assay.execution.observe import ObserveResult
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.keys import AssetKey
    from assay.partitions.base import PartitionContext
    from assay.results import RunResult
    from assay.run_config import Layer

Partitions = PartitionSelection | Sequence[str] | None
Selection = str | Sequence[str] | None
if TYPE_CHECKING:
    from typing import TypeAlias

    # assets' configuration values: {"scored": {"threshold": 0.1}}, or the CLI's layers
    RunConfig: TypeAlias = Mapping[str, Any] | Sequence[Layer] | None


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
        return StateReader(self.config.home)

    @cached_property
    def _runtime(self) -> Runtime:
        from assay.execution.materialize import Runtime

        return Runtime(
            config=self.config, definitions=self.definitions, io_for=self._io, state=self.state
        )

    @cached_property
    def _io(self) -> Callable[[AssetKey], IOManager]:
        return self.definitions.io_resolver(self.config)

    def _configured(self, config: RunConfig) -> Definitions:
        """The definitions with `config` over the project's configuration layers."""
        if config is None:
            return self.definitions
        from assay.run_config import project_layers, resolve

        given: list[Layer] = [("config=", config)] if isinstance(config, Mapping) else list(config)
        layers = [*project_layers(self.config), *given]
        return self.definitions.configured(resolve(self.graph.specs, layers))

    def select(self, selection: Selection = None) -> list[AssetKey]:
        """The keys a selection picks, in dependency order (everything when None)."""
        return parse_selection(selection).resolve(self.graph)

    def io_for(self, key: AssetKey | str) -> IOManager:
        """The asset's IO manager (its own, else the project default, else ParquetIO).

        Raises:
            UnknownAssetError: no such asset.
        """
        return self._io(self._key(key))

    def load_value(
        self,
        asset: AssetKey | str,
        partition: str | Sequence[str] | None = None,
        *,
        lazy: bool = False,
    ) -> Any:
        """What a run stored for the asset (a partition, or several as one frame),
        read through its IO manager as a downstream asset would read it; `lazy` for a
        `pl.LazyFrame`.

        Raises:
            UnknownAssetError: no such asset.
            PartitionKeyError: a partition of an unpartitioned asset, or none of a
                partitioned one.
            MaterializationError: nothing is stored there.
        """
        from assay.errors import PartitionKeyError
        from assay.io.base import InputKind, Stores, stores_of

        key = self._key(asset)
        definition = self.graph.specs[key].partitions
        keys = (
            None
            if partition is None
            else [partition]
            if isinstance(partition, str)
            else list(partition)
        )
        if definition is None and keys is not None:
            raise PartitionKeyError(f"asset {str(key)!r} is not partitioned: give no partition")
        if definition is not None and keys is None:
            raise PartitionKeyError(
                f"asset {str(key)!r} is partitioned: say which partition "
                f"(project.load_value({str(key)!r}, partition=...))"
            )
        if keys:
            context = self.partition_context()
            for item in keys:
                definition.index(item, context)  # type: ignore[union-attr]  # raises for a bad key
        kind = InputKind.LAZY if lazy else InputKind.EAGER
        io = self._io(key)
        value = io.load(key, keys, kind)
        stored = stores_of(io)
        if isinstance(partition, str) and stored in (Stores.JSON, Stores.OBJECTS, Stores.FILES):
            return value[partition]  # a value store gives several partitions as a dict
        return value

    def _key(self, key: AssetKey | str) -> AssetKey:
        from assay.keys import AssetKey

        parsed = key if isinstance(key, AssetKey) else AssetKey.parse(key)
        if parsed not in self.graph.specs:
            from assay.errors import UnknownAssetError, did_you_mean

            known = [str(k) for k in self.graph.specs]
            raise UnknownAssetError(
                f"no asset {str(parsed)!r}.{did_you_mean(str(parsed), known)} "
                "Run `assay list` to see every asset."
            )
        return parsed

    def plan(
        self,
        selection: Selection = None,
        *,
        partitions: Partitions = None,
        partition_range: tuple[str, str] | None = None,
        force: bool = False,
        now: datetime | None = None,
        verify: bool = False,
        config: RunConfig = None,
    ) -> Plan:
        """What a materialization of the selection would run, and why; nothing runs.

        The plan is what `materialize` applies: `project.materialize(plan)` runs
        exactly its steps (refused if the state or the code moved since). With
        `verify`, every stored partition is checked to still exist in storage (IO
        managers with an `exists` method); without it, only local files on small
        plans (see `assay.planning.verify`). `config` gives assets' configuration
        values over the project's: `{"scored": {"threshold": 0.1}}` (a dataclass
        instance works for an asset's values too); the plan keeps them, and applying
        it uses them (docs/config.md).

        Example:
            >>> plan = project.plan("+daily_revenue")  # doctest: +SKIP
            >>> for step in plan.steps:  # doctest: +SKIP
            ...     print(step.key, [step.describe(r) for r in step.reasons])
        """

        graph = self._configured(config).graph
        parsed = parse_selection(selection)
        keys = parsed.resolve(graph)
        chosen = _partition_selection(partitions, partition_range)
        label = str(parsed)
        checking = Verification(io_for=self.io_for, requested=verify)
        try:
            with self.state.held():  # one open of the store for every read of the plan
                context = partition_context(graph, self.state, now)
                return build_plan(
                    graph,
                    keys,
                    self.state,
                    chosen,
                    context,
                    force=force,
                    selection=label,
                    verify=checking,
                )
        except StateLockedError as exc:
            if not force:
                raise StateLockedError(f"{exc}; or pass --force to run without a plan") from None
            # forced: every selected partition runs, so the held store is not needed
            # (and dynamic partitions, whose keys it holds, have none)
            context = partition_context(graph, None, now)
            return build_plan(graph, keys, None, chosen, context, force=True, selection=label)

    def partition_context(self, now: datetime | None = None) -> PartitionContext:
        """What partition keys are at `now`: time windows up to it, and the keys of
        every dynamic partitions the project uses, as stored."""
        return partition_context(self.graph, self.state, now)

    def add_partitions(self, name: str, keys: Sequence[str]) -> list[str]:
        """Add keys to the dynamic partitions `name`, after those it has; returns the
        keys that were new (adding a key it has changes nothing).

        Raises:
            PartitionKeyError: no asset uses `DynamicPartitions(name)`, or a key is not
                a valid partition key.

        Example:
            >>> project.add_partitions("customers", ["acme", "globex"])  # doctest: +SKIP
            ['acme', 'globex']
        """
        return self._change_partitions(name, keys, is_add=True)

    def remove_partitions(self, name: str, keys: Sequence[str]) -> list[str]:
        """Remove keys from the dynamic partitions `name`: their stored partitions are
        no longer part of its assets, and what read all of them becomes stale.

        Raises:
            PartitionKeyError: no asset uses `DynamicPartitions(name)`, or a key is not
                one of its keys (naming it).
        """
        return self._change_partitions(name, keys, is_add=False)

    def partition_keys(self, name: str) -> list[str]:
        """The keys of the dynamic partitions `name`, in the order they were added.

        Raises:
            PartitionKeyError: no asset uses `DynamicPartitions(name)`.
        """
        find_dynamic(self.graph, name)
        return list(self.state.dynamic_partition_keys([name]).get(name, ()))

    def _change_partitions(self, name: str, keys: Sequence[str], *, is_add: bool) -> list[str]:
        find_dynamic(self.graph, name)
        if isinstance(keys, str):
            keys = [keys]
        return list(change_partition_keys(self.config.home, name, keys, is_add=is_add))

    def out_of_date_checks(self, selection: Selection = None) -> list[OutOfDateCheck]:
        """The checks (and schemas) of the selected assets whose verdicts on stored
        partitions are out of date: judged by another version of the check, or never
        (a check added since). `check()` judges them again; nothing is re-materialized.

        Example:
            >>> [c.describe() for c in project.out_of_date_checks()]  # doctest: +SKIP
            ['schema changed since 365 stored partitions were judged']
        """
        return out_of_date_checks(self.graph, self.state, self.select(selection))

    def materialize(
        self,
        selection: Selection | Plan = None,
        *,
        partitions: Partitions = None,
        partition_range: tuple[str, str] | None = None,
        force: bool = False,
        executor: str | None = None,
        workers: int | None = None,
        dask_address: str | None = None,
        hooks: Sequence[RunHooks] | None = None,
        should_stop: Callable[[], bool] | None = None,
        now: datetime | None = None,
        run_id: str | None = None,
        run_key: str | None = None,
        config: RunConfig = None,
    ) -> RunResult:
        """Apply a plan: exactly its asset partitions. Given a selection (and
        partitions, `force`), the plan made of it now: what is stale (with `force`,
        everything selected).

        Args:
            selection: a `Plan` (from `plan()`, or read back from `assay plan
                --json`), or a dbt-style selection (everything when None).
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
            hooks: subscribers told what happens (default: the `assay` logger).
            should_stop: polled during the run; once True, running steps finish and
                nothing new starts.
            now: the current time for time partitions (default: now).
            run_id: the id to record the run under (default: a new one).
            run_key: run at most once under this key, whoever else tries: a key held
                by an earlier run runs nothing (the result names that run,
                `is_duplicate`). `assay runs retry` runs a failed one again.
            config: configuration values of assets, over the project's (see `plan`).

        Returns the run's result; `result.success` is False when a step failed.

        Raises:
            PlanError: a given plan was made before the state or the code moved.
        """
        from assay.execution.executors import choose_executor
        from assay.execution.materialize import apply_plan, check_current

        choice = choose_executor(self.config, executor, workers, dask_address)
        if isinstance(selection, Plan):
            plan = selection
            _no_config_for_plan(config)
            check_current(plan, self._runtime)
        else:
            plan = self.plan(
                selection,
                partitions=partitions,
                partition_range=partition_range,
                force=force,
                now=now,
                config=config,
            )
        return apply_plan(
            self._runtime,
            plan,
            choice=choice,
            hooks=self._runtime.hooks(hooks),
            label=_label(plan),
            should_stop=should_stop,
            run_id=run_id,
            run_key=run_key,
        )

    def observe(
        self,
        selection: Selection = None,
        *,
        hooks: Sequence[RunHooks] | None = None,
        now: datetime | None = None,
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
            context=self.partition_context(now),
            hooks=self._runtime.hooks(hooks),
            resources=self.definitions.resources,
        )

    def check(
        self,
        selection: Selection = None,
        *,
        partitions: Partitions = None,
        partition_range: tuple[str, str] | None = None,
        hooks: Sequence[RunHooks] | None = None,
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
        from assay.execution.check_run import run_stored_checks, stored_to_check

        parsed = parse_selection(selection)
        chosen = _partition_selection(partitions, partition_range)
        stored, unchecked = stored_to_check(
            self.graph, self.state, parsed.resolve(self.graph), chosen, self.partition_context(now)
        )
        # what it checks (the selected assets with checks and stored data), not the selection
        checked = " ".join(dict.fromkeys(str(key) for key, *_ in stored)) or str(parsed)
        label = checked + ("" if chosen.is_everything else f" [{chosen}]")
        return run_stored_checks(
            config=self.config,
            graph=self.graph,
            io_for=self.io_for,
            stored=stored,
            unchecked=unchecked,
            selection="assay check " + label,
            hooks=self._runtime.hooks(hooks),
            resources=self.definitions.resources,
        )

    def backfill(
        self,
        selection: Selection | Plan = None,
        *,
        partitions: Partitions = None,
        partition_range: tuple[str, str] | None = None,
        force: bool = False,
        executor: str | None = None,
        workers: int | None = None,
        dask_address: str | None = None,
        hooks: Sequence[RunHooks] | None = None,
        should_stop: Callable[[], bool] | None = None,
        now: datetime | None = None,
        run_id: str | None = None,
        run_key: str | None = None,
        config: RunConfig = None,
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
        from assay.execution.backfill import start_backfill
        from assay.execution.executors import choose_executor
        from assay.execution.materialize import check_current

        choice = choose_executor(self.config, executor, workers, dask_address)
        if isinstance(selection, Plan):
            plan = selection
            _no_config_for_plan(config)
            check_current(plan, self._runtime)
        else:
            plan = self.plan(
                selection,
                partitions=partitions,
                partition_range=partition_range,
                force=force,
                now=now,
                config=config,
            )
        return start_backfill(
            self._runtime,
            plan,
            choice=choice,
            hooks=self._runtime.hooks(hooks),
            label=_label(plan, forced=False),
            should_stop=should_stop,
            run_id=run_id,
            run_key=run_key,
        )

    def resume_backfill(
        self,
        backfill_id: str,
        *,
        executor: str | None = None,
        workers: int | None = None,
        dask_address: str | None = None,
        hooks: Sequence[RunHooks] | None = None,
        should_stop: Callable[[], bool] | None = None,
        now: datetime | None = None,
        run_id: str | None = None,
    ) -> RunResult:
        """Run what a backfill has not done: its failed, skipped, interrupted and never
        started asset partitions; never one that succeeded. Executor and workers
        default to the backfill's own; the Dask address to the configuration's.

        Raises:
            UnknownBackfillError: no such backfill.
            StateError: it is still running in a live process, or already completed.
        """
        from assay.execution.backfill import resume_backfill

        return resume_backfill(
            self._runtime,
            backfill_id,
            executor=executor,
            workers=workers,
            dask_address=dask_address,
            hooks=self._runtime.hooks(hooks),
            context=self.partition_context(now),
            should_stop=should_stop,
            run_id=run_id,
        )

    def cancel_backfill(self, backfill_id: str) -> str:
        """Stop a backfill: its running steps finish and nothing new starts. A backfill
        whose process is gone is marked canceled at once. Returns the new status.

        Raises:
            UnknownBackfillError: no such backfill.
            StateError: it already completed or was canceled.
        """
        from assay.execution.backfill import cancel_backfill

        return cancel_backfill(self._runtime, backfill_id)

    def backfill_status(self, backfill_id: str) -> BackfillStatus:
        """A backfill's state: per asset, its partitions by status; each partition's last step.

        Raises:
            UnknownBackfillError: no such backfill.
        """
        from assay.execution.backfill import backfill_status

        return backfill_status(self._runtime, backfill_id)

    def backfills(self, *, limit: int = 20) -> list[dict[str, Any]]:
        """Recent backfills, newest first, with counts of their partitions by status."""
        return self.state.backfills(limit=limit)

    def retry(
        self,
        run_id: str,
        *,
        executor: str | None = None,
        workers: int | None = None,
        dask_address: str | None = None,
        hooks: Sequence[RunHooks] | None = None,
        should_stop: Callable[[], bool] | None = None,
    ) -> RunResult:
        """Run again, on purpose, what a failed (or died, or canceled) run covered and is
        still stale, under its run key: unlike a key claimed by a new caller, a retry
        takes the key's next generation (one caller wins; the earlier run stays).

        Raises:
            UnknownRunError: no such run.
            StateError: it succeeded or is running, is a backfill's run (resume the
                backfill instead), or was retried by another caller first.
        """
        from assay.execution.executors import choose_executor
        from assay.execution.materialize import retry_run

        choice = choose_executor(self.config, executor, workers, dask_address)
        return retry_run(
            self._runtime,
            run_id,
            lambda selection, config: self.plan(selection, config=config),
            choice=choice,
            hooks=self._runtime.hooks(hooks),
            should_stop=should_stop,
        )

    def launch(
        self,
        selection: Selection | Plan = None,
        *,
        backfill: bool = False,
        partitions: Partitions = None,
        partition_range: tuple[str, str] | None = None,
        force: bool = False,
        executor: str | None = None,
        workers: int | None = None,
        dask_address: str | None = None,
        config: RunConfig = None,
    ) -> LaunchedRun:
        """Start a materialization (or, with `backfill`, a backfill) in a process of
        its own and return at once: `.run_id` names it, `.wait()`, `.follow()` and
        `.cancel()` act on it. A `Plan` is applied exactly (refused there if the
        state moved before it starts).

        Example:
            >>> launched = project.launch("+daily_revenue")  # doctest: +SKIP
            >>> launched.wait()  # doctest: +SKIP
            <RunStatus.SUCCEEDED: 'succeeded'>
        """
        import json
        import uuid

        from assay.execution.launcher import launch

        run_id = str(uuid.uuid4())
        command = ["backfill", "start"] if backfill else ["materialize"]
        if isinstance(selection, Plan):
            path = self.config.home / "plans" / f"{run_id}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(plan_to_json(selection)), encoding="utf-8")
            command += ["--plan", str(path)]
        else:
            if isinstance(selection, str):
                selection = selection.split()
            command += list(selection or ())
            chosen = _partition_selection(partitions, partition_range)
            command += [arg for key in chosen.keys for arg in ("--partition", key)]
            if chosen.first is not None and chosen.last is not None:
                command += ["--from", chosen.first, "--to", chosen.last]
            command += ["--force"] if force else []
            if config is not None:  # checked here; the run reads the values as resolved
                configs = self._configured(config).graph.configs
                path = self.config.home / "plans" / f"{run_id}.config.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                values = {str(k): json.loads(c.json) for k, c in configs.items()}
                path.write_text(json.dumps(values), encoding="utf-8")
                command += ["--config", str(path)]
        for option, value in (
            ("--executor", executor),
            ("--workers", workers),
            ("--dask-address", dask_address),
        ):
            if value is not None:
                command += [option, str(value)]
        return launch(self.config, command, run_id=run_id)


def _no_config_for_plan(config: RunConfig) -> None:
    if config is not None:
        raise ConfigError(
            "a plan carries the configuration it was made with: give config= (or --set) "
            "when planning, not when applying the plan"
        )


def _label(plan: Plan, *, forced: bool = True) -> str:
    """`+revenue [2024-01-01..2024-01-31] --force`: how a run names what it covers."""
    chosen = plan.partitions
    where = "" if chosen is None or chosen.is_everything else f" [{chosen}]"
    return plan.selection + where + (" --force" if plan.force and forced else "")


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
    from assay.heap import loading

    config = resolve_config(module=module, file=file, home=home)
    with loading():  # what is made here is kept: no collection walks it (`assay.heap`)
        definitions = load_definitions(config)
        project = Project(config, definitions)
        _ = project.graph  # validate now, where the user asked for the project
    return project
