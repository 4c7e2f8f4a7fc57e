"""The planning snapshot: `.assay/planning.snapshot`, the numeric state a plan reads.

A plan reads, for every stored asset partition, a few numbers: when its current
materialization started and was recorded, when its data version last changed,
and whether its code version and inputs signature equal the current ones. At
36.5M asset partitions, reading those from DuckDB's row tables costs seconds on
every plan; this file keeps them as arrays (one per column, each asset's rows
one after the other, ordered by key), with the strings they refer to (asset
keys, partition keys, code versions, inputs signatures) once each.

It is a cache, never the truth. Its header says where the store stood when it was
made (`store_passes`: the store's id and how many passes wrote
`asset_partitions`, and how many rows it had); a plan reads the store's position
(one row) and

- the same position: the arrays are used as they are;
- a later one of the same store: only the rows written since (`index_pass` above
  the snapshot's) are read from DuckDB and laid over the arrays; once they are
  many, the file is written anew;
- anything else (no file, another store, fewer or more rows than it accounts for,
  a file cut short, a byte changed: every byte is under a checksum, an unknown
  format): it is made again from the store.

It is written atomically (a temporary file, then a rename), by whichever process
reads the store; deleting it is always safe.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import mmap
import struct
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

    import duckdb
    import numpy as np

FILE_NAME = "planning.snapshot"
FORMAT = 1
_MAGIC = b"ASSAYPLN"
_PREFIX = struct.Struct("<8sIIQQQ")  # magic, format, 0, header bytes, checksum, file bytes
_ALIGN = 64
# A snapshot behind the store by more rows than this (or a twentieth of its rows) is
# written anew; fewer are read from DuckDB at each plan and laid over it.
REWRITE_ROWS = 100_000
_COLUMNS = (  # name, dtype: one entry per stored asset partition
    ("key", "<i4"),  # index into keys
    ("started", "<f8"),  # started_seq (NaN: NULL)
    ("changed", "<f8"),  # changed_seq
    ("updated", "<f8"),  # seq
    ("code", "<i4"),  # index into codes (-1: NULL)
    ("sig", "<i4"),  # index into sigs (-1: NULL)
    ("empty", "|b1"),  # data_version = '' (a source observed absent)
)
_log = logging.getLogger("assay.state")


@dataclass(frozen=True, slots=True)
class Position:
    """Where a store stands for planning: its id, the passes that wrote
    `asset_partitions`, and how many rows that table has."""

    store_id: str | None
    passes: int
    rows: int


@dataclass(slots=True)
class Segment:
    """One asset's stored partitions (arrays of `_COLUMNS`, ordered by key id)."""

    key: np.ndarray
    started: np.ndarray
    changed: np.ndarray
    updated: np.ndarray
    code: np.ndarray
    sig: np.ndarray
    empty: np.ndarray

    def __len__(self) -> int:
        return len(self.key)


@dataclass(slots=True)
class PlanningSnapshot:
    """The arrays of one position of a store, and the rows laid over them since."""

    position: Position
    assets: list[str]
    keys: list[str]
    codes: list[str]
    sigs: list[str]
    offsets: np.ndarray  # per asset id, where its rows start (and one past the last)
    columns: dict[str, np.ndarray]
    overlay: dict[int, Segment] = field(default_factory=dict)  # by asset id
    behind: int = 0  # rows laid over the arrays
    _ids: dict[str, dict[str, int]] = field(default_factory=dict)

    def ids(self, table: str) -> dict[str, int]:
        """string -> id for `assets`, `keys`, `codes` or `sigs`."""
        found = self._ids.get(table)
        if found is None:
            found = self._ids[table] = {text: i for i, text in enumerate(getattr(self, table))}
        return found

    def segment(self, asset_key: str) -> Segment | None:
        """The stored partitions of one asset (None: none stored)."""
        ident = self.ids("assets").get(asset_key)
        if ident is None:
            return None
        held = self.overlay.get(ident)
        if held is not None:
            return held
        if ident + 1 >= len(self.offsets):
            return None
        start, stop = int(self.offsets[ident]), int(self.offsets[ident + 1])
        return Segment(*(self.columns[name][start:stop] for name, _ in _COLUMNS))

    def mark(self, asset_keys: Sequence[str]) -> tuple[int, int]:
        """(the latest `seq`, how many rows) of these assets: `StateReader.state_mark`."""
        import numpy as np

        seq, rows = 0, 0
        for key in asset_keys:
            found = self.segment(key)
            if found is None or not len(found):
                continue
            rows += len(found)
            top = np.fmax.reduce(found.updated)  # NaN (NULL) only if all are
            if not np.isnan(top):
                seq = max(seq, int(top))
        return seq, rows


def position(con: duckdb.DuckDBPyConnection) -> Position:
    """The store's position (see the module docstring)."""
    found = con.execute(
        "SELECT store_id, passes, (SELECT count(*) FROM asset_partitions) FROM store_passes"
    ).fetchone()
    if found is None:
        return Position(None, -1, -1)
    return Position(found[0], int(found[1]), int(found[2]))


def name_store(con: duckdb.DuckDBPyConnection) -> None:
    """Give a new store its id (a copy of the template has none; see `Position`)."""
    con.execute(
        "UPDATE store_passes SET store_id = gen_random_uuid()::VARCHAR WHERE store_id IS NULL"
    )


def current(home: Path, con: duckdb.DuckDBPyConnection) -> PlanningSnapshot:
    """The snapshot at the store's position: the file's if it holds, else made from
    `con` (and written, when the home can be)."""
    now = position(con)
    path = home / FILE_NAME
    found = load(path)
    if now.store_id is None:  # a store made by hand: nothing tells it from another
        return build(con, now)
    if found is not None and found.position.store_id == now.store_id:
        if found.position.passes == now.passes and found.position.rows == now.rows:
            return found
        if found.position.passes < now.passes and _catch_up(found, con, now):
            if found.behind > max(REWRITE_ROWS, now.rows // 20):
                write(path, found)
            return found
    made = build(con, now)
    write(path, made)
    return made


def build(con: duckdb.DuckDBPyConnection, at: Position) -> PlanningSnapshot:
    """The snapshot of every row of `asset_partitions`, from the store."""
    import numpy as np

    tables = {}
    for table, column in (
        ("assets", "asset_key"),
        ("keys", "partition_key"),
        ("codes", "code_version"),
        ("sigs", "inputs_signature"),
    ):
        rows = con.execute(
            f"SELECT DISTINCT {column} FROM asset_partitions WHERE {column} IS NOT NULL "
            f"ORDER BY {column}"
        ).fetchall()
        tables[table] = [str(r[0]) for r in rows]
    names = {
        table: {"text": _texts(values), "id": np.arange(len(values), dtype=np.int32)}
        for table, values in tables.items()
    }
    for table, short in (("assets", "a"), ("keys", "k"), ("codes", "c"), ("sigs", "g")):
        con.register(short, names[table])
    found = con.execute(
        """
        SELECT a.id AS asset, k.id AS key, s.started_seq::DOUBLE AS started,
               s.changed_seq::DOUBLE AS changed, s.seq::DOUBLE AS updated,
               coalesce(c.id, -1)::INTEGER AS code, coalesce(g.id, -1)::INTEGER AS sig,
               coalesce(s.data_version = '', false) AS empty
        FROM asset_partitions s
        JOIN a ON a.text = s.asset_key
        JOIN k ON k.text = s.partition_key
        LEFT JOIN c ON c.text = s.code_version
        LEFT JOIN g ON g.text = s.inputs_signature
        ORDER BY a.id, k.id
        """
    ).fetchnumpy()
    for short in ("a", "k", "c", "g"):
        con.unregister(short)
    for short in ("a", "k", "c", "g"):
        con.unregister(short)
    columns = {name: _plain(found[name], dtype) for name, dtype in _COLUMNS}
    asset = _plain(found["asset"], "<i4")
    offsets = np.searchsorted(asset, np.arange(len(tables["assets"]) + 1)).astype(np.int64)
    return PlanningSnapshot(
        position=Position(at.store_id, at.passes, len(asset)),
        assets=tables["assets"],
        keys=tables["keys"],
        codes=tables["codes"],
        sigs=tables["sigs"],
        offsets=offsets,
        columns=columns,
    )


def _catch_up(snapshot: PlanningSnapshot, con: duckdb.DuckDBPyConnection, now: Position) -> bool:
    """Lay the rows written after the snapshot's pass over it; False when what it then
    accounts for is not the store (it must be made again)."""
    import numpy as np

    found = con.execute(
        """
        SELECT asset_key, partition_key, started_seq::DOUBLE AS started,
               changed_seq::DOUBLE AS changed, seq::DOUBLE AS updated, code_version,
               inputs_signature, coalesce(data_version = '', false) AS empty
        FROM asset_partitions WHERE index_pass > ?
        """,
        [snapshot.position.passes],
    ).fetchnumpy()
    assets = [str(x) for x in found["asset_key"]]
    if assets:
        ident = np.array([_id(snapshot, "assets", x) for x in assets], dtype=np.int64)
        rows = {
            "key": np.array(
                [_id(snapshot, "keys", str(x)) for x in found["partition_key"]], dtype="<i4"
            ),
            "started": _plain(found["started"], "<f8"),
            "changed": _plain(found["changed"], "<f8"),
            "updated": _plain(found["updated"], "<f8"),
            "code": np.array(
                [
                    -1 if _is_null(x) else _id(snapshot, "codes", str(x))
                    for x in found["code_version"]
                ],
                dtype="<i4",
            ),
            "sig": np.array(
                [
                    -1 if _is_null(x) else _id(snapshot, "sigs", str(x))
                    for x in found["inputs_signature"]
                ],
                dtype="<i4",
            ),
            "empty": _plain(found["empty"], "|b1"),
        }
        order = np.argsort(ident, kind="stable")
        ident = ident[order]
        rows = {name: column[order] for name, column in rows.items()}
        bounds = np.flatnonzero(np.r_[True, ident[1:] != ident[:-1], True])
        for start, stop in itertools.pairwise(bounds):
            asset_key = snapshot.assets[int(ident[start])]
            base = snapshot.segment(asset_key)
            new = Segment(*(rows[name][start:stop] for name, _ in _COLUMNS))
            empty = Segment(*(np.zeros(0, dtype=dtype) for _, dtype in _COLUMNS))
            snapshot.overlay[int(ident[start])] = _merged(empty if base is None else base, new)
    snapshot.behind += len(assets)
    total = int(snapshot.offsets[-1]) if len(snapshot.offsets) else 0
    for ident_, held in snapshot.overlay.items():
        if ident_ + 1 < len(snapshot.offsets):
            total -= int(snapshot.offsets[ident_ + 1] - snapshot.offsets[ident_])
        total += len(held)
    if total != now.rows:
        return False
    snapshot.position = now
    return True


def _merged(base: Segment, new: Segment) -> Segment:
    """`base` with `new`'s rows in place of those of the same key, ordered by key."""
    import numpy as np

    keys = np.concatenate([base.key, new.key])
    order = np.argsort(keys, kind="stable")
    ordered = keys[order]
    last = np.r_[ordered[1:] != ordered[:-1], True]  # of equal keys, the newest row
    pick = order[last]
    return Segment(
        *(np.concatenate([getattr(base, name), getattr(new, name)])[pick] for name, _ in _COLUMNS)
    )


def _id(snapshot: PlanningSnapshot, table: str, text: str) -> int:
    ids = snapshot.ids(table)
    found = ids.get(text)
    if found is None:
        values: list[str] = getattr(snapshot, table)
        found = ids[text] = len(values)
        values.append(text)
    return found


def _ids(snapshot: PlanningSnapshot, table: str, values: Any) -> np.ndarray:
    """The ids of fetched strings (-1: NULL), new ones added to `table`."""
    import numpy as np

    return np.array(
        [-1 if _is_null(x) else _id(snapshot, table, str(x)) for x in values], dtype="<i4"
    )


def _is_null(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)


def _plain(values: Any, dtype: str) -> np.ndarray:
    """A fetched column as a plain array (NULLs come back masked: NaN, or -1)."""
    import numpy as np

    if isinstance(values, np.ma.MaskedArray):
        fill = np.nan if dtype.endswith("f8") else (False if dtype.endswith("b1") else -1)
        values = values.filled(fill)
    return np.ascontiguousarray(values, dtype=dtype)


def _texts(values: list[str]) -> np.ndarray:
    import numpy as np

    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


# --- the file ------------------------------------------------------------------------------


def write(path: Path, snapshot: PlanningSnapshot) -> bool:
    """Write the snapshot (its overlay folded in) atomically; False when the home cannot
    be written (a plan still answers, from what it read)."""
    import numpy as np
    import xxhash

    from assay.io.atomic import atomic_path

    ids = range(len(snapshot.assets))
    segments = [snapshot.segment(name) for name in snapshot.assets]
    counts = np.array([0 if s is None else len(s) for s in segments], dtype=np.int64)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    arrays: list[tuple[str, np.ndarray]] = [("offsets", offsets)]
    for name, dtype in _COLUMNS:
        parts = [getattr(s, name) for s in segments if s is not None and len(s)]
        joined = np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)
        arrays.append((name, np.ascontiguousarray(joined, dtype=dtype)))
    del ids
    layout = []
    at = 0
    for name, array in arrays:
        layout.append([name, array.dtype.str, at, len(array)])
        at += _padded(array.nbytes)
    header = json.dumps(
        {
            "store_id": snapshot.position.store_id,
            "passes": snapshot.position.passes,
            "rows": int(offsets[-1]),
            "assets": snapshot.assets,
            "keys": snapshot.keys,
            "codes": snapshot.codes,
            "sigs": snapshot.sigs,
            "arrays": layout,
        },
        separators=(",", ":"),
    ).encode()
    header += b" " * (_padded(_PREFIX.size + len(header)) - _PREFIX.size - len(header))
    hasher = xxhash.xxh3_64()
    hasher.update(header)
    for _, array in arrays:
        data = array.view(np.uint8).data
        hasher.update(data)
        hasher.update(b"\0" * (_padded(len(data)) - len(data)))
    size = _PREFIX.size + len(header) + at
    prefix = _PREFIX.pack(_MAGIC, FORMAT, 0, len(header), hasher.intdigest(), size)
    try:
        with atomic_path(path) as tmp, tmp.open("wb") as out:
            out.write(prefix)
            out.write(header)
            for _, array in arrays:
                data = array.view(np.uint8).data
                out.write(data)
                out.write(b"\0" * (_padded(len(data)) - len(data)))
    except OSError as exc:
        _log.debug("cannot write the planning snapshot %s: %s", path, exc)
        return False
    return True


def load(path: Path) -> PlanningSnapshot | None:
    """The snapshot in `path`, or None: missing, cut short, changed (its checksum), or
    of another format."""
    import numpy as np
    import xxhash

    try:
        with path.open("rb") as file:
            data = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
    except (OSError, ValueError):  # missing, unreadable, empty
        return None
    try:
        if len(data) < _PREFIX.size:
            return None
        magic, version, _, header_size, checksum, size = _PREFIX.unpack_from(data, 0)
        if magic != _MAGIC or version != FORMAT or size != len(data):
            return None
        view = memoryview(data)
        if xxhash.xxh3_64_intdigest(view[_PREFIX.size :]) != checksum:
            return None
        header = json.loads(bytes(view[_PREFIX.size : _PREFIX.size + header_size]))
        start = _PREFIX.size + header_size
        arrays = {
            name: np.frombuffer(data, dtype=dtype, count=count, offset=start + offset)
            for name, dtype, offset, count in header["arrays"]
        }
    except (ValueError, KeyError, TypeError, struct.error):
        return None
    return PlanningSnapshot(
        position=Position(header["store_id"], int(header["passes"]), int(header["rows"])),
        assets=list(header["assets"]),
        keys=list(header["keys"]),
        codes=list(header["codes"]),
        sigs=list(header["sigs"]),
        offsets=arrays.pop("offsets"),
        columns=arrays,
    )


def discard(home: Path) -> None:
    """Remove the snapshot (the next plan makes it again)."""
    with contextlib.suppress(FileNotFoundError):
        (home / FILE_NAME).unlink()


def _padded(size: int) -> int:
    return -(-size // _ALIGN) * _ALIGN
