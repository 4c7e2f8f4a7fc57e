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

    from assay.execution.runner import RunReporter, RunResult
    from assay.graph import AssetGraph
    from assay.io.base import IOManager
    from assay.keys import AssetKey
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

    def materialize(
        self,
        selection: str | Sequence[str] | None = None,
        *,
        partitions: PartitionSelection | Sequence[str] | None = None,
        partition_range: tuple[str, str] | None = None,
        reporter: RunReporter | None = None,
        now: datetime | None = None,
    ) -> RunResult:
        """Materialize the selected assets in dependency order, in this process.

        Args:
            selection: dbt-style selection (everything when None).
            partitions: partition keys to materialize of each partitioned asset.
            partition_range: `(first, last)` keys, both included.
            reporter: receives progress (the CLI prints it).
            now: the current time for time partitions (default: now).

        Returns the run's result; `result.success` is False when a step failed.
        """
        from assay.execution.runner import RunTarget, run_materialization

        now = now or datetime.now(UTC)
        parsed = parse_selection(selection)
        chosen = _partition_selection(partitions, partition_range)
        targets = [
            RunTarget(
                key=key,
                partitions=None
                if self.graph.specs[key].partitions is None
                else chosen.resolve(self.graph.specs[key].partitions, now),  # type: ignore[arg-type]
            )
            for key in parsed.resolve(self.graph)
        ]
        upstream = sorted({str(up) for t in targets for up in self.graph.upstream[t.key]})
        label = str(parsed) + ("" if chosen.is_everything else f" [{chosen}]")
        try:
            versions = self.state.current_versions(upstream)
        except StateLockedError:
            # A run never waits for, nor fails on, a held store: its steps go on, and
            # provenance counts the input versions it could not know.
            versions = {}
        return run_materialization(
            config=self.config,
            graph=self.graph,
            targets=targets,
            io_for=self.io_for,
            selection=label,
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
