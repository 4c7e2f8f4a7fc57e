"""`assay.load()` and `Project`: the Python API that the CLI also uses."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING

from assay.config import ProjectConfig, resolve_config
from assay.definitions import Definitions, load_definitions
from assay.errors import StateLockedError
from assay.partitions.selection import PartitionSelection
from assay.selection import parse_selection

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence

    from assay.execution.observe import ObserveResult
    from assay.execution.runner import RunReporter, RunResult
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
        self._bound: dict[int, IOManager] = {}

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

    def io_for(self, key: AssetKey) -> IOManager:
        """The asset's IO manager (its own, else the project default, else ParquetIO)."""
        chosen = self.graph.specs[key].io or self.definitions.io
        slot = 0 if chosen is None else id(chosen)
        if slot not in self._bound:
            if chosen is None:
                from assay.io.parquet import ParquetIO

                chosen = ParquetIO()
            self._bound[slot] = chosen.bind(self.config)
        return self._bound[slot]

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
            config=self.config, graph=self.graph, keys=keys, now=now or datetime.now(UTC)
        )

    def materialize(
        self,
        selection: str | Sequence[str] | None = None,
        *,
        partitions: PartitionSelection | Sequence[str] | None = None,
        partition_range: tuple[str, str] | None = None,
        force: bool = False,
        reporter: RunReporter | None = None,
        now: datetime | None = None,
    ) -> RunResult:
        """Materialize what the plan says is stale (with `force`, everything selected).

        Args:
            selection: dbt-style selection (everything when None).
            partitions: partition keys to consider for each partitioned asset.
            partition_range: `(first, last)` keys, both included.
            force: run every selected asset partition, stale or not.
            reporter: receives progress (the CLI prints it).
            now: the current time for time partitions (default: now).

        Returns the run's result; `result.success` is False when a step failed.
        """
        from assay.execution.runner import RunTarget, run_materialization, upstream_reads
        from assay.planning.plan import build_plan

        now = now or datetime.now(UTC)
        parsed = parse_selection(selection)
        keys = parsed.resolve(self.graph)
        chosen = _partition_selection(partitions, partition_range)
        try:
            plan = build_plan(self.graph, keys, self.state, chosen, now, force=force)
        except StateLockedError as exc:
            if not force:
                raise StateLockedError(f"{exc}; or pass --force to run without a plan") from None
            # forced: every selected partition runs, so the held store is not needed
            plan = build_plan(self.graph, keys, None, chosen, now, force=True)
        targets = [RunTarget(key=step.key, partitions=step.partitions) for step in plan.steps]
        label = str(parsed) + ("" if chosen.is_everything else f" [{chosen}]")
        try:
            versions = self.state.current_versions(upstream_reads(self.graph, targets, now))
        except StateLockedError:
            # A run never waits for, nor fails on, a held store: its steps go on, and
            # provenance counts the input versions it could not know.
            versions = {}
        return run_materialization(
            config=self.config,
            graph=self.graph,
            targets=targets,
            io_for=self.io_for,
            selection=label + (" --force" if force else ""),
            now=now,
            versions=versions,
            reporter=reporter,
        )


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
