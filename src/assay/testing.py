"""Helpers for testing assets in pytest (see docs/testing.md).

- Call an asset function directly: `revenue(orders_frame)` (an `AssetSpec` stays
  callable), with `build_context(...)` for one that takes `context`.
- `materialize_to_memory([orders, revenue], resources=..., config=...)` runs assets
  as `assay materialize` does (schemas, checks, resources, configuration), keeping
  every value in memory and the state in a throwaway folder; `.value("revenue")`.
- `assay.load(..., home=tmp_path)` runs the real project against a state of its own;
  `project.load_value("revenue")` reads what a run stored.
"""

from __future__ import annotations

import dataclasses
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.execution.context import build_context
from assay.execution.hooks import Hooks
from assay.io.memory import InMemoryIO
from assay.keys import AssetKey
from assay.multi_assets import MultiAsset

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from assay.checks import CheckSpec
    from assay.results import RunResult
    from assay.spec import AssetSpec

__all__ = ["InMemoryIO", "MemoryRun", "build_context", "materialize_to_memory"]


@dataclass(frozen=True, slots=True)
class MemoryRun:
    """What `materialize_to_memory` ran: the run's result and every stored value."""

    result: RunResult
    io: InMemoryIO

    @property
    def success(self) -> bool:
        return self.result.success

    def value(self, asset: str | AssetKey | AssetSpec, partition: str | None = None) -> Any:
        """What the asset (partition) stored.

        Raises:
            KeyError: it stored nothing (it failed, was skipped, or was not run).
        """
        key = _key(asset)
        try:
            return self.io.values[(key, partition)]
        except KeyError:
            where = "" if partition is None else f" partition {partition!r}"
            failed = [s.error for s in self.result.steps if s.key == key and s.error]
            why = f": {failed[0]}" if failed else ""
            raise KeyError(f"asset {str(key)!r}{where} stored nothing in this run{why}") from None


def materialize_to_memory(
    assets: Iterable[AssetSpec | MultiAsset],
    *,
    checks: Iterable[CheckSpec] = (),
    resources: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    sources: Mapping[str, Any] | None = None,
    partitions: Sequence[str] | None = None,
    partition_range: tuple[str, str] | None = None,
    selection: str | None = None,
    dynamic_partitions: Mapping[str, Sequence[str]] | None = None,
) -> MemoryRun:
    """Materialize `assets` in this process, every value kept in memory (their own IO
    managers are replaced by one `InMemoryIO`), with a state store in a temporary
    folder that is removed afterwards. Every selected asset partition runs (as with
    `--force`).

    `sources`: the values of source assets in `assets` (by key; for a partitioned
    source, a dict of partition key to value). `dynamic_partitions`: the keys of
    each `DynamicPartitions` the assets use, by name. `config`, `partitions`,
    `partition_range` and `selection` are as for `Project.materialize`.

    Example:
        >>> import polars as pl
        >>> from assay import asset
        >>> @asset
        ... def numbers() -> pl.DataFrame:
        ...     return pl.DataFrame({"n": [1, 2, 3]})
        >>> @asset
        ... def total(numbers: pl.DataFrame) -> pl.DataFrame:
        ...     return numbers.select(pl.col("n").sum())
        >>> materialize_to_memory([numbers, total]).value("total")["n"].item()
        6
    """
    from assay.config import ProjectConfig
    from assay.definitions import Definitions
    from assay.project import Project

    given = [
        spec
        for item in assets
        for spec in (item.specs if isinstance(item, MultiAsset) else (item,))
    ]
    production = Definitions(assets=given, checks=checks, resources=resources)
    modes = {spec.key: str(production.stores(spec.key) or "") for spec in given}
    io = InMemoryIO(modes)  # values go through what their own IO managers would do
    specs = [dataclasses.replace(spec, io=None) for spec in given]
    for name, value in (sources or {}).items():
        key = _key(name)
        spec = next((s for s in specs if s.key == key), None)
        if spec is None or not spec.is_source:
            raise KeyError(f"sources= names {name!r}, which is no source asset of `assets`")
        parts = value if spec.partitions is not None and isinstance(value, dict) else {None: value}
        for partition, part in parts.items():
            io.write(key, partition, part)
    definitions = Definitions(assets=specs, checks=checks, resources=resources, io=io)
    with tempfile.TemporaryDirectory(prefix="assay-test-") as folder:
        root = Path(folder)
        project = Project(
            ProjectConfig(
                root=root, home=root / ".assay", module=None, file=None, name="test", lineage=False
            ),
            definitions,
        )
        for name, keys in (dynamic_partitions or {}).items():
            project.add_partitions(name, list(keys))
        result = project.materialize(
            selection,
            partitions=partitions,
            partition_range=partition_range,
            force=True,
            executor="in_process",
            config=config,
            hooks=[Hooks()],  # quiet: the result says what happened
        )
    return MemoryRun(result=result, io=io)


def _key(asset: str | AssetKey | AssetSpec) -> AssetKey:
    if isinstance(asset, AssetKey):
        return asset
    if isinstance(asset, str):
        return AssetKey.parse(asset)
    return asset.key
