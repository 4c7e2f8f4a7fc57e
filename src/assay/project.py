"""`assay.load()` and `Project`: the Python API that the CLI also uses."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from assay.config import ProjectConfig, resolve_config
from assay.definitions import Definitions, load_definitions
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
        reporter: RunReporter | None = None,
    ) -> RunResult:
        """Materialize the selected assets in dependency order, in this process.

        Returns the run's result; `result.success` is False when a step failed.
        """
        from assay.execution.runner import run_materialization

        parsed = parse_selection(selection)
        return run_materialization(
            config=self.config,
            graph=self.graph,
            keys=parsed.resolve(self.graph),
            io_for=self.io_for,
            selection=str(parsed),
            reporter=reporter,
        )


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
