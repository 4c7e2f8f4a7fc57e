"""The IO manager protocol: how a step stores its output and loads its inputs."""

from __future__ import annotations

import functools
import inspect
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

    EAGER = "eager"  # pl.DataFrame (the default; unannotated: whatever the IO manager stores)
    LAZY = "lazy"  # pl.LazyFrame: a lazy scan of the stored files
    ARROW = "arrow"  # pyarrow.Table
    VALUE = "value"  # any other type (dict, list, str, a class): the stored value as it is
    BYTES = "bytes"  # bytes: a stored file's content
    PATH = "path"  # pathlib.Path: a stored file's path


FRAME_KINDS = frozenset({InputKind.EAGER, InputKind.LAZY, InputKind.ARROW})


class Stores(StrEnum):
    """What an IO manager stores, which says what its downstream inputs may ask for
    (an IO manager tells with a `stores` attribute; one without it is not checked)."""

    FRAMES = "frames"  # ParquetIO, DuckDBIO: polars DataFrames, LazyFrames, Arrow tables
    JSON = "json"  # JSONIO: dict, list, str, numbers, bool, None
    OBJECTS = "objects"  # PickleIO: any picklable object
    FILES = "files"  # FileIO: a file (returned as bytes or a Path), loaded as Path or bytes
    NOTHING = "nothing"  # an asset annotated `-> None`: a side effect, nothing stored


def stores_of(io: object) -> Stores | None:
    """What `io` stores, if it says (`IOManager.stores`)."""
    found = getattr(io, "stores", None)
    return Stores(found) if isinstance(found, str) and found in _STORES else None


_STORES = frozenset(Stores)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredOutput:
    """What a write produced: where, how big, and its data version."""

    location: str
    row_count: int | None  # None: the value is not a table (JSON, pickle, file, nothing)
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

    # Optional, not part of the protocol's checks: `stores`, a `Stores` value saying what
    # it stores, so that `Definitions` can tell, when the graph is built, an input whose
    # annotation asks for something else (a dict from Parquet, a frame from JSON).
    #
    # Optional too: `exists(key, partitions) ->
    # Sequence[bool]`, whether each partition (None: the unpartitioned asset) is
    # stored. With it, `assay plan --verify` notices data deleted outside assay
    # (`assay.planning.verify`); IO managers without it are not verified.
    #
    # Optional too: a keyword `full_rewrite_run_id` of `write`, for IO managers whose
    # partitions share a schema (DuckDBIO's table). Through `write_output`, a step gives
    # it the run's id when the run writes every partition of the asset (else None): the
    # run may then change that schema for all of them. Others are called without it.


def write_output(
    io: IOManager,
    key: AssetKey,
    partition: str | None,
    value: Any,
    *,
    full_rewrite_run_id: str | None,
) -> StoredOutput:
    """`io.write(key, partition, value)`, with `full_rewrite_run_id` where it takes it."""
    if full_rewrite_run_id is not None and _takes_full_rewrite(type(io)):
        write: Any = io.write
        stored: StoredOutput = write(key, partition, value, full_rewrite_run_id=full_rewrite_run_id)
        return stored
    return io.write(key, partition, value)


@functools.cache
def _takes_full_rewrite(io_type: type) -> bool:
    """Whether the `write` of an IO manager class takes `full_rewrite_run_id` (or any
    keyword): looked at once per class."""
    write = getattr(io_type, "write", None)
    if not callable(write):
        return False
    try:
        parameters = inspect.signature(write).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False
    return "full_rewrite_run_id" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )


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


def mismatch(stores: Stores, kind: InputKind, declared: object | None) -> str | None:
    """Why an input of `kind`, annotated `declared` (None: unannotated or Any), cannot
    take what an IO manager that `stores` this hands over, with what it may ask for;
    None when it can."""
    if stores is Stores.NOTHING:
        return "stores nothing (it is annotated `-> None`): depend on it with deps=[...]"
    if stores is Stores.OBJECTS or declared is None or isinstance(declared, str):
        return None  # a pickle may be anything; a text annotation names no type to check
    if stores is Stores.FRAMES:
        ok = kind in FRAME_KINDS
        wanted = "pl.DataFrame (or no annotation), pl.LazyFrame or pa.Table"
    elif stores is Stores.FILES:
        ok = kind in (InputKind.PATH, InputKind.BYTES)
        wanted = "Path (or no annotation) or bytes"
    else:
        ok = kind is InputKind.VALUE and _is_json_type(declared)
        wanted = "dict, list, str, int, float, bool, None (or no annotation)"
    return None if ok else f"stores {stores}: annotate the input {wanted}"


_JSON_TYPES: tuple[object, ...] = (dict, list, str, int, float, bool, type(None), None)


def _is_json_type(declared: object) -> bool:
    """Whether JSON decodes to values of this annotation (`dict[str, int]`, `list | None`)."""
    import typing

    if declared in _JSON_TYPES:
        return True
    origin = typing.get_origin(declared)
    if origin in (dict, list):
        return True
    if origin is typing.Union or type(declared).__name__ == "UnionType":
        return all(_is_json_type(member) for member in typing.get_args(declared))
    return False


def is_frame(value: Any) -> bool:
    """Whether `value` is a polars DataFrame or LazyFrame, or a pyarrow Table."""
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}" in _OUTPUT_TYPES


def check_output(key: AssetKey, value: Any) -> None:
    """Raise unless `value` is a polars DataFrame or LazyFrame, or a pyarrow Table."""
    kind = type(value)
    if is_frame(value):
        return
    if kind.__module__.split(".")[0] == "pandas":
        raise MaterializationError(
            f"asset {str(key)!r} returned a pandas {kind.__qualname__}; assay stores polars: "
            "return `polars.from_pandas(...)` of it"
        )
    if value is None:
        raise MaterializationError(
            f"asset {str(key)!r} returned None, and its IO manager stores frames; annotate "
            "it `-> None` if it stores nothing (a side effect), or return a value"
        )
    raise MaterializationError(
        f"asset {str(key)!r} returned {kind.__qualname__}; return a polars DataFrame, "
        "a polars LazyFrame or a pyarrow Table, or store it with another IO manager: "
        "@asset(io=JSONIO()) for JSON values, FileIO() for bytes or a Path, PickleIO() "
        "for any object (see docs/assets.md)"
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
