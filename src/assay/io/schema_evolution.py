"""How an asset's stored columns may change between writes: which types widen to which,
and what `DuckDBIO(on_schema_change=...)` does about the rest.

Types are compared by their DuckDB names (`INTEGER`, `DECIMAL(10,2)`, `"NULL"`);
`sql_type_name` gives a polars dtype the same name, so the Parquet reader and the
DuckDB writer follow one rule: a type *holds* another when every value of the other
converts to it without loss (`BIGINT` holds `INTEGER`, `DOUBLE` holds `FLOAT` and
`INTEGER`, every type holds the `NULL` type of an all-null column).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from assay.errors import DefinitionError, MaterializationError, did_you_mean

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import polars as pl

    from assay.keys import AssetKey


class OnSchemaChange(StrEnum):
    """What a write of *some* partitions of a `DuckDBIO` table does when the asset's
    columns differ from the table's. A run that writes every partition makes the table
    the output's columns whatever the policy (see `DuckDBIO`)."""

    # added columns are added, widened types widened; a removed or retyped column waits
    # for a run that writes every partition (the write is refused, saying so)
    SYNC_ON_FULL_REWRITE = "sync_on_full_rewrite"
    # as above, but a removed column stays (null in the partitions written since)
    APPEND_NEW_COLUMNS = "append_new_columns"
    # the table follows each write: removed columns dropped, retyped ones converted
    SYNC_ALL_COLUMNS = "sync_all_columns"
    # any change of the table's columns is refused
    FAIL = "fail"

    @classmethod
    def parse(cls, value: str | OnSchemaChange) -> OnSchemaChange:
        """The policy named `value`.

        Raises:
            DefinitionError: no policy has that name (with the closest one).
        """
        try:
            return cls(value)
        except ValueError:
            names = [policy.value for policy in cls]
            raise DefinitionError(
                f"DuckDBIO(on_schema_change={value!r}) names no policy; use one of "
                f"{', '.join(map(repr, names))}.{did_you_mean(str(value), names)}"
            ) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnChanges:
    """How an output's columns differ from the stored ones (names as the output spells
    them; DuckDB compares names without case, and so does this)."""

    added: tuple[str, ...] = ()  # in the output only
    removed: tuple[str, ...] = ()  # stored only
    widened: tuple[str, ...] = ()  # the output's type holds the stored one
    retyped: tuple[str, ...] = ()  # neither type holds the other

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.widened or self.retyped)


def column_changes(stored: Mapping[str, str], output: Mapping[str, str]) -> ColumnChanges:
    """Compare {column: type name} of what is stored with those of a new output. A
    column whose output type the stored type holds (an `INTEGER` into `BIGINT`, an
    all-null column) is no change: it is stored as the stored type."""
    folded = {name.lower(): kind for name, kind in stored.items()}
    outputs = {name.lower() for name in output}
    added, widened, retyped = [], [], []
    for name, kind in output.items():
        old = folded.get(name.lower())
        if old is None:
            added.append(name)
        elif holds(old, kind):
            continue
        elif holds(kind, old):
            widened.append(name)
        else:
            retyped.append(name)
    removed = [name for name in stored if name.lower() not in outputs]
    return ColumnChanges(
        added=tuple(added), removed=tuple(removed), widened=tuple(widened), retyped=tuple(retyped)
    )


NULL_TYPE = '"NULL"'  # DuckDB's name for the type of an all-null (polars `Null`) column

_INTEGERS = {
    "TINYINT": (True, 8),
    "SMALLINT": (True, 16),
    "INTEGER": (True, 32),
    "BIGINT": (True, 64),
    "HUGEINT": (True, 128),
    "UTINYINT": (False, 8),
    "USMALLINT": (False, 16),
    "UINTEGER": (False, 32),
    "UBIGINT": (False, 64),
    "UHUGEINT": (False, 128),
}
# the widest integers a float's mantissa holds exactly (FLOAT: 24 bits, DOUBLE: 53)
_FLOAT_HOLDS_BITS = {"FLOAT": 16, "DOUBLE": 32}
_DECIMAL = re.compile(r"DECIMAL\((\d+),\s*(\d+)\)")


def holds(wide: str, narrow: str) -> bool:
    """Whether every value of type `narrow` converts to type `wide` without loss."""
    if wide == narrow or narrow == NULL_TYPE:
        return True
    if wide in _INTEGERS and narrow in _INTEGERS:
        (wide_signed, wide_bits), (narrow_signed, narrow_bits) = _INTEGERS[wide], _INTEGERS[narrow]
        if wide_signed == narrow_signed:
            return wide_bits >= narrow_bits
        return wide_signed and wide_bits > narrow_bits
    if wide in _FLOAT_HOLDS_BITS:
        if narrow == "FLOAT":
            return wide == "DOUBLE"
        if narrow in _INTEGERS:
            signed, bits = _INTEGERS[narrow]
            return bits + (not signed) <= _FLOAT_HOLDS_BITS[wide]
        return False
    wide_decimal, narrow_decimal = _DECIMAL.fullmatch(wide), _DECIMAL.fullmatch(narrow)
    if wide_decimal and narrow_decimal:
        wide_precision, wide_scale = map(int, wide_decimal.groups())
        narrow_precision, narrow_scale = map(int, narrow_decimal.groups())
        integer_digits_held = wide_precision - wide_scale >= narrow_precision - narrow_scale
        return wide_scale >= narrow_scale and integer_digits_held
    return False


def sql_type_name(dtype: pl.DataType) -> str:
    """A polars dtype by the DuckDB name of its type where `holds` knows it (numbers and
    the null type), else by polars' own name (then only equal names hold each other)."""
    import polars as pl

    if isinstance(dtype, pl.Decimal):
        return f"DECIMAL({dtype.precision},{dtype.scale})"
    names: dict[type[pl.DataType], str] = {
        pl.Int8: "TINYINT",
        pl.Int16: "SMALLINT",
        pl.Int32: "INTEGER",
        pl.Int64: "BIGINT",
        pl.Int128: "HUGEINT",
        pl.UInt8: "UTINYINT",
        pl.UInt16: "USMALLINT",
        pl.UInt32: "UINTEGER",
        pl.UInt64: "UBIGINT",
        pl.UInt128: "UHUGEINT",
        pl.Float32: "FLOAT",
        pl.Float64: "DOUBLE",
        pl.Null: NULL_TYPE,
    }
    return names.get(dtype.base_type(), str(dtype))


def quoted(name: str) -> str:
    """A column name as a DuckDB identifier, its quotes doubled: `a"b` -> `"a""b"`."""
    return '"' + name.replace('"', '""') + '"'


def unified_schema(
    key: AssetKey, schemas: Sequence[tuple[str | None, Mapping[str, pl.DataType]]]
) -> dict[str, pl.DataType]:
    """One schema for partitions stored with different ones, `(partition, schema)` each:
    every column of any of them, in the order first met (null where a partition lacks
    it), in the one of its types that holds the others.

    Raises:
        MaterializationError: a column has types no one of them holds (`Int64` and
            `String`), naming the partitions of each type.
    """
    found: dict[str, dict[pl.DataType, list[str | None]]] = {}
    for partition, schema in schemas:
        for column, dtype in schema.items():
            found.setdefault(column, {}).setdefault(dtype, []).append(partition)
    unified = {}
    for column, by_type in found.items():
        widest = next(iter(by_type))
        for dtype in by_type:
            if holds(sql_type_name(dtype), sql_type_name(widest)):
                widest = dtype
        if not all(holds(sql_type_name(widest), sql_type_name(dtype)) for dtype in by_type):
            types = [f"{dtype} ({_shown_partitions(keys)})" for dtype, keys in by_type.items()]
            stored = ", ".join(types[:-1]) + f" and {types[-1]}"
            raise MaterializationError(
                f"asset {str(key)!r} stores column {column!r} as {stored}: no one of these "
                "types holds the others, so the partitions cannot be read as one frame; "
                f"materialize them all with the current code (`assay materialize {key} --force`)"
            )
        unified[column] = widest
    return unified


def _shown_partitions(partitions: Sequence[str | None]) -> str:
    keys = [str(p) for p in partitions]
    shown = ", ".join(keys[:3]) + (f", … ({len(keys)} partitions)" if len(keys) > 3 else "")
    return ("partition " if len(keys) == 1 else "partitions ") + shown
