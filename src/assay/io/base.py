"""The IO manager protocol: how a step stores its output and loads its inputs."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from assay.errors import MaterializationError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from assay.config import ProjectConfig
    from assay.keys import AssetKey


class InputKind(StrEnum):
    """How an input is handed to the function, decided by its annotation."""

    EAGER = "eager"  # pl.DataFrame (the default)
    LAZY = "lazy"  # pl.LazyFrame: a lazy scan of the stored files
    ARROW = "arrow"  # pyarrow.Table


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredOutput:
    """What a write produced: where, how big, and its data version."""

    location: str
    row_count: int
    byte_size: int
    data_version: str
    columns: tuple[tuple[str, str], ...]


class IOManager(Protocol):
    """Stores asset values and loads them back. Writes must be atomic."""

    @property
    def kind(self) -> str:
        """A short name recorded with each materialization (`parquet`, `duckdb`)."""
        ...

    def bind(self, config: ProjectConfig) -> IOManager:
        """A copy with every path resolved against the project."""
        ...

    def write(self, key: AssetKey, partition: str | None, value: Any) -> StoredOutput:
        """Store `value` atomically: readers see the old value or the new one, never half."""
        ...

    def load(self, key: AssetKey, partitions: Sequence[str] | None, kind: InputKind) -> Any:
        """Load a stored value as a DataFrame, a LazyFrame or an Arrow table.

        `partitions` None loads an unpartitioned asset; a list loads those
        partitions as one frame (an empty list: no rows, the stored schema).
        """
        ...

    # Optional, not part of the protocol's checks: `exists(key, partitions) ->
    # Sequence[bool]`, whether each partition (None: the unpartitioned asset) is
    # stored. With it, `assay plan --verify` notices data deleted outside assay
    # (`assay.planning.verify`); IO managers without it are not verified.


def lineage_dataset(io: IOManager, key: AssetKey) -> tuple[str, str]:
    """Where `key`'s data physically is, as an OpenLineage (namespace, name).

    An IO manager names it with a `lineage_dataset(key)` method (ParquetIO: namespace
    `file` and the asset's folder; DuckDBIO: `duckdb://<file>` and `db.schema.table`);
    one without it gets its kind as the namespace and the asset key as the name.
    """
    named = getattr(io, "lineage_dataset", None)
    if callable(named):
        namespace, name = named(key)
        return str(namespace), str(name)
    return io.kind, str(key)


def check_output(key: AssetKey, value: Any) -> None:
    """Raise unless `value` is a polars DataFrame or LazyFrame, or a pyarrow Table."""
    kind = type(value)
    if f"{kind.__module__}.{kind.__qualname__}" in _OUTPUT_TYPES:
        return
    if kind.__module__.split(".")[0] == "pandas":
        raise MaterializationError(
            f"asset {str(key)!r} returned a pandas {kind.__qualname__}; assay stores polars: "
            "return `polars.from_pandas(...)` of it"
        )
    raise MaterializationError(
        f"asset {str(key)!r} returned {kind.__qualname__}; return a polars DataFrame, "
        "a polars LazyFrame or a pyarrow Table"
    )


_OUTPUT_TYPES = {
    "polars.dataframe.frame.DataFrame",
    "polars.lazyframe.frame.LazyFrame",
    "pyarrow.lib.Table",
}


def missing_input(
    key: AssetKey, where: str, partitions: Sequence[str] = ()
) -> MaterializationError:
    if partitions:
        shown = ", ".join(partitions[:5]) + (
            f", … ({len(partitions)})" if len(partitions) > 5 else ""
        )
        first = partitions[0]
        return MaterializationError(
            f"asset {str(key)!r} has no stored partition {shown} at {where}: materialize it "
            f"first (`assay materialize {key} --partition {first}`)"
        )
    return MaterializationError(
        f"asset {str(key)!r} has no stored value at {where}: "
        f"materialize it first (`assay materialize {key}`)"
    )
