"""`InMemoryIO`: values kept in the process's memory, for tests (`assay.testing`)."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import MaterializationError
from assay.io.base import InputKind, StoredOutput, missing_input

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from assay.config import ProjectConfig
    from assay.keys import AssetKey


class InMemoryIO:
    """Keeps each stored value in a dict of this instance: nothing touches the disk.

    A test double for the IO managers that store to files and databases: runs in
    one process only (the in-process executor), and its values are gone with it.
    `values` maps (asset key, partition key or None) to what was stored.

    >>> io = InMemoryIO()
    >>> import polars as pl
    >>> from assay import AssetKey
    >>> stored = io.write(AssetKey.parse("numbers"), None, pl.DataFrame({"n": [1, 2]}))
    >>> stored.row_count, io.load(AssetKey.parse("numbers"), None, InputKind.EAGER)["n"].to_list()
    (2, [1, 2])
    """

    kind = "memory"
    stores = "objects"  # any value: frames are handed over as frames, others as they are

    def __init__(self, modes: Mapping[AssetKey, str] | None = None) -> None:
        """`modes`: per asset, what its own IO manager stores (`json`, `files`,
        `nothing`, ...), so that values go through what that IO manager would make of
        them (JSON's round trip, a file's bytes); others are kept as returned."""
        self.values: dict[tuple[AssetKey, str | None], Any] = {}
        self.modes: Mapping[AssetKey, str] = modes or {}
        self._files: Path | None = None
        self._lock = threading.Lock()

    def bind(self, config: ProjectConfig) -> InMemoryIO:
        return self  # one dict, whatever the project

    def write(self, key: AssetKey, partition: str | None, value: Any) -> StoredOutput:
        mode = self.modes.get(key)
        if mode == "json":
            from assay.io.json_values import encode_json

            content = encode_json(key, value)  # refused as JSONIO refuses it
            return self._keep(key, partition, json.loads(content), content)
        if mode == "files":
            content = _file_bytes(key, value)
            return self._keep(key, partition, content, content)
        if mode == "nothing":
            return self._keep(key, partition, None, b"")
        frame = _as_frame(value)
        if frame is not None:
            import io

            buffer = io.BytesIO()
            frame.write_parquet(buffer)
            content = buffer.getvalue()
            rows, columns = frame.height, tuple((n, str(t)) for n, t in frame.schema.items())
            value = frame
        else:
            import pickle

            content = pickle.dumps(value, protocol=5)
            rows, columns = 0, ()
        return self._keep(key, partition, value, content, rows=rows, columns=columns)

    def _keep(
        self,
        key: AssetKey,
        partition: str | None,
        value: Any,
        content: bytes,
        *,
        rows: int | None = None,
        columns: tuple[tuple[str, str], ...] = (),
    ) -> StoredOutput:
        """Keep `value`; its data version is that of `content`, what its own IO manager
        would have written."""
        from assay.io.hashing import data_version

        with self._lock:
            self.values[(key, partition)] = value
        return StoredOutput(
            location=f"memory://{key}" + ("" if partition is None else f"/{partition}"),
            row_count=rows,
            byte_size=len(content),
            data_version=data_version(content),
            columns=columns,
        )

    def load(self, key: AssetKey, partitions: Sequence[str] | None, kind: InputKind) -> Any:
        if self.modes.get(key) in ("json", "files", "nothing"):
            return self._load_value(key, partitions, kind)
        with self._lock:
            if partitions is None:
                if (key, None) not in self.values:
                    raise missing_input(key, "memory")
                return _handed(self.values[(key, None)], kind)
            absent = [p for p in partitions if (key, p) not in self.values]
            if absent:
                raise missing_input(key, "memory", absent)
            parts = [self.values[(key, p)] for p in partitions]
        import polars as pl

        frames = [_as_frame(part) for part in parts]
        if any(frame is None for frame in frames):
            return parts  # values that are not frames: one per partition, in order
        joined = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
        return _handed(joined, kind)

    def _load_value(self, key: AssetKey, partitions: Sequence[str] | None, kind: InputKind) -> Any:
        """A value store's partitions as its IO manager gives them: one value, or a
        dict by partition; a file as a Path (bytes for a `bytes` input)."""
        with self._lock:
            wanted: list[str | None] = [None] if partitions is None else list(partitions)
            absent = [p for p in wanted if (key, p) not in self.values]
            if absent:
                raise missing_input(key, "memory", [str(p) for p in absent if p is not None])
            found = {p: self.values[(key, p)] for p in wanted}
        if self.modes.get(key) == "files" and kind is not InputKind.BYTES:
            found = {p: self._as_file(key, p, content) for p, content in found.items()}
        if partitions is None:
            return found[None]
        return found

    def _as_file(self, key: AssetKey, partition: str | None, content: bytes) -> Path:
        import tempfile

        if self._files is None:
            self._files = Path(tempfile.mkdtemp(prefix="assay-memory-files-"))
        path = self._files / str(key).replace("/", "__") / (partition or "_") / "data"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        return path

    def exists(self, key: AssetKey, partitions: Sequence[str] | None) -> list[bool]:
        wanted: list[str | None] = [None] if partitions is None else list(partitions)
        with self._lock:
            return [(key, p) in self.values for p in wanted]


def _file_bytes(key: AssetKey, value: Any) -> bytes:
    """What FileIO stores of a value: bytes, or the content of a returned file."""
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(value, Path):
        return value.read_bytes()
    raise MaterializationError(
        f"asset {str(key)!r} returned {type(value).__qualname__}; a file asset returns "
        "bytes or the Path of a file it wrote"
    )


def _as_frame(value: Any) -> Any:
    """A polars DataFrame of a frame value (a LazyFrame collected, an Arrow table
    converted), else None."""
    name = f"{type(value).__module__}.{type(value).__qualname__}"
    if name == "polars.dataframe.frame.DataFrame":
        return value
    if name == "polars.lazyframe.frame.LazyFrame":
        return value.collect()
    if name == "pyarrow.lib.Table":
        import polars as pl

        return pl.from_arrow(value)
    return None


def _handed(value: Any, kind: InputKind) -> Any:
    frame = _as_frame(value)
    if frame is None:
        return value
    if kind is InputKind.LAZY:
        return frame.lazy()
    if kind is InputKind.ARROW:
        return frame.to_arrow()
    return frame
