"""ParquetIO: one Parquet file per asset partition, in hive-style folders.

The root is a local folder or any fsspec URL (`s3://bucket/warehouse` with
the `s3fs` package, `gs://...` with `gcsfs`, `memory://...`): what workers
on other machines can reach. Local folders (and `file://` URLs) are written
through a temporary file in `<root>/.assay-tmp/` and a rename; object stores
through one upload, which they make visible whole or not at all; other
filesystems through a temporary file in `<root>/.assay-tmp/` and a move. See
`ParquetIO` for how what a killed writer left is swept.

An output is never held in memory by assay: it is written to a file (a
`LazyFrame` streams through `sink_parquet`), and its data version and size come
from reading that file in chunks, its row count from the Parquet metadata.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from assay.config import is_url
from assay.errors import ConfigError
from assay.io.atomic import SCRATCH_DIR, UNLOCKABLE_SWEEP_AFTER_S, atomic_path, sweep
from assay.io.base import InputKind, StoredOutput, check_output, missing_input
from assay.io.hashing import file_data_version
from assay.io.schema_evolution import unified_schema
from assay.resources import EnvVar

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    import polars as pl
    from fsspec import AbstractFileSystem

    from assay.config import ProjectConfig
    from assay.keys import AssetKey

DATA_FILE = "data.parquet"

# Stores where one PUT is atomic: a reader sees the old object or the new one.
_ATOMIC_PUT = frozenset({"s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "memory"})
# A root's scratch folder is swept at the first write of a process under it, then at
# most this often (a listing of a folder that is almost always empty).
SWEEP_EVERY_S = 600.0
_swept_at: dict[str, float] = {}
_sweep_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class ParquetIO:
    """Store each asset (partition) as a Parquet file under `root`.

    `root` defaults to the project's storage (`[tool.assay] storage`, else
    `<home>/storage`); a relative root is taken from the project root. It may be
    an fsspec URL, with `storage_options` for the filesystem (default: the
    project's `[tool.assay.storage_options]`). Files:
    `<root>/<key path>/data.parquet`, and for partitions
    `<root>/<key path>/partition=<key>/data.parquet`. `compression` is polars'
    default (zstd) unless given.

    Temporary files are written in `<root>/.assay-tmp/` (beside the target only
    when that folder is on another filesystem), never in an asset's folder, so a
    glob over it (`pl.scan_parquet(folder)`, DuckDB's `read_parquet('…/*/*')`)
    sees stored files only. Those a killed writer left are swept by the writes:
    the first write of a process under a root sweeps its `.assay-tmp/`, then at
    most every 10 minutes, deleting files whose writer is gone (their OS lock is
    free, and they were last written over a minute ago; a day, where the
    filesystem has no locks, or on a remote store); and each write of a
    partition sweeps the temporary files an older assay left in its folder.

    Example:
        >>> from assay import asset, ParquetIO
        >>> @asset(io=ParquetIO(root="warehouse/parquet"))
        ... def events(): ...
        >>> @asset(io=ParquetIO(root="s3://lake/warehouse"))  # needs s3fs
        ... def clicks(): ...
    """

    root: Path | str | None = None  # a str only for a URL
    compression: str | None = None
    storage_options: Mapping[str, Any] | None = field(default=None, hash=False)

    def __init__(
        self,
        root: str | Path | None = None,
        compression: str | None = None,
        storage_options: Mapping[str, Any] | None = None,
    ) -> None:
        object.__setattr__(self, "root", _root_of(root))
        object.__setattr__(self, "compression", compression)
        object.__setattr__(self, "storage_options", storage_options)

    @property
    def kind(self) -> str:
        return "parquet"

    @property
    def stores(self) -> str:
        return "frames"

    @property
    def is_local(self) -> bool:
        return not isinstance(self.root, str)

    def bind(self, config: ProjectConfig) -> ParquetIO:
        if isinstance(self.root, EnvVar):
            raise ConfigError(
                f"ParquetIO(root={self.root!r}) was bound before the variable was read: "
                "give it as a resource (Definitions(resources=...), io='name')"
            )
        if isinstance(self.root, str) and not is_url(self.root):
            return replace(self, root=_root_of(self.root)).bind(config)  # read from an EnvVar
        options = self.storage_options
        if options is None and config.storage_options:
            options = dict(config.storage_options)
        if self.root is None:
            return replace(self, root=_root_of(config.storage_root), storage_options=options)
        if isinstance(self.root, Path) and not self.root.is_absolute():
            return replace(self, root=config.root / self.root, storage_options=options)
        return replace(self, storage_options=options)

    def lineage_dataset(self, key: AssetKey) -> tuple[str, str]:
        """OpenLineage's name of the asset's folder: namespace `file` and its absolute
        path locally; `s3://bucket` and the key prefix in a bucket, and so on."""
        folder = self._folder(key)
        if self.is_local:
            return "file", folder
        parts = urlsplit(folder)
        return f"{parts.scheme}://{parts.netloc}", parts.path.lstrip("/")

    def location(self, key: AssetKey, partition: str | None) -> str:
        """Where the asset (partition) is stored: a local path or a URL."""
        folder = self._folder(key)
        if partition is not None:
            folder = f"{folder}/partition={partition}"
        return f"{folder}/{DATA_FILE}"

    def path(self, key: AssetKey, partition: str | None) -> Path:
        """The local file of the asset (partition); for a local root only."""
        if not self.is_local:
            raise ValueError(f"ParquetIO at {self.root} is not local: use location()")
        return Path(self.location(key, partition))

    def write(self, key: AssetKey, partition: str | None, value: Any) -> StoredOutput:
        check_output(key, value)
        location = self.location(key, partition)
        self._sweep()
        if self.is_local:
            target = Path(location)
            replaces = target.exists()
            if replaces:  # an older assay wrote its temporary files beside it
                sweep(target.parent, f".{target.name}.*.tmp")
            with atomic_path(target, scratch=self._scratch(), defer=not replaces) as tmp:
                columns, rows = self._encode(value, tmp)
                version, size = file_data_version(tmp)
        else:
            with tempfile.TemporaryDirectory(prefix="assay-") as scratch:
                local = Path(scratch) / DATA_FILE
                columns, rows = self._encode(value, local)
                version, size = file_data_version(local)
                self._put(location, local)
        return StoredOutput(
            location=location,
            row_count=rows,
            byte_size=size,
            data_version=version,
            columns=columns,
        )

    def _encode(self, value: Any, target: Path) -> tuple[tuple[tuple[str, str], ...], int]:
        """Write `value` to the local file `target`: its columns and row count."""
        import polars as pl

        options = {"compression": self.compression} if self.compression else {}
        if isinstance(value, pl.LazyFrame):
            value.sink_parquet(target, **options)  # type: ignore[call-overload]
            schema = pl.read_parquet_schema(target)
            rows = _row_count(target)
        else:
            if not isinstance(value, pl.DataFrame):
                value = pl.from_arrow(value)
            assert isinstance(value, pl.DataFrame)
            value.write_parquet(target, **options)  # type: ignore[arg-type]
            schema, rows = dict(value.schema), value.height
        columns = tuple((name, str(dtype)) for name, dtype in schema.items())
        return columns, int(rows)

    def _put(self, location: str, local: Path) -> None:
        """Upload a local file, streamed from disk."""
        fs = self._fs()
        assert isinstance(self.root, str)
        if urlsplit(self.root).scheme in _ATOMIC_PUT:
            fs.put_file(str(local), location)
            return
        # elsewhere a move is the atomic step, as a rename on a local disk
        folder = location.rpartition("/")[0]
        fs.makedirs(folder, exist_ok=True)
        scratch = self._scratch_url()
        fs.makedirs(scratch, exist_ok=True)
        tmp = f"{scratch}/{uuid.uuid4().hex[:16]}.tmp"
        try:
            fs.put_file(str(local), tmp)
            fs.mv(tmp, location)
        except BaseException:
            with contextlib.suppress(Exception):
                fs.rm_file(tmp)
            raise

    def _scratch(self) -> Path:
        assert isinstance(self.root, Path)
        return self.root / SCRATCH_DIR

    def _scratch_url(self) -> str:
        assert isinstance(self.root, str)
        return f"{self.root.rstrip('/')}/{SCRATCH_DIR}"

    def _sweep(self) -> None:
        """Sweep the root's scratch folder if this process has not lately (see the class
        docstring); object stores write no temporary files."""
        root = str(self.root)
        now = time.monotonic()
        with _sweep_lock:
            if now - _swept_at.get(root, -SWEEP_EVERY_S) < SWEEP_EVERY_S:
                return
            _swept_at[root] = now
        if self.is_local:
            sweep(self._scratch())
        elif urlsplit(root).scheme not in _ATOMIC_PUT:
            _sweep_remote(self._fs(), self._scratch_url())

    def load(self, key: AssetKey, partitions: Sequence[str] | None, kind: InputKind) -> Any:
        """The stored value, or the partitions as one frame. Partitions stored with
        different schemas (the asset's columns changed between their writes) read as
        one: a column a partition lacks is null there, and a column whose type widened
        (`Int32` to `Int64`, `Float32` to `Float64`) is read in the widest; columns
        whose types no one of them holds fail, naming the partitions of each type
        (`assay.io.schema_evolution.unified_schema`).

        Reading assumes one schema and checks it for free: an eager read that finds
        another one reads again, unified; a lazy read compares the files' Arrow schemas
        (kept in their footers' metadata) first.
        """
        import polars as pl

        if partitions is not None and not partitions:
            return _empty_like(self._schema_of_any(key), key, kind)
        wanted: list[str | None] = list(partitions) if partitions is not None else [None]
        locations = [self.location(key, p) for p in wanted]
        if self.is_local:
            missing = [p for p, at in zip(wanted, locations, strict=True) if not Path(at).is_file()]
            if missing:
                raise self._missing(key, missing)
            if kind is InputKind.LAZY:
                if _one_schema(locations):
                    return pl.scan_parquet(locations)
                return _unified_scan(key, wanted, locations)
            try:
                frame = pl.read_parquet(locations)
            except (pl.exceptions.SchemaError, pl.exceptions.ColumnNotFoundError):
                frame = _unified_scan(key, wanted, locations).collect()
        else:
            frame = self._read_remote(key, wanted, locations)
            if kind is InputKind.LAZY:
                return frame.lazy()
        return frame.to_arrow() if kind is InputKind.ARROW else frame

    def exists(self, key: AssetKey, partitions: Sequence[str] | None) -> list[bool]:
        """Whether each partition (None: the unpartitioned asset) has its stored file:
        a stat per file locally, one request per file (concurrent) remotely."""
        folder = self._folder(key)
        if partitions is None:
            locations = [f"{folder}/{DATA_FILE}"]
        else:
            locations = [f"{folder}/partition={p}/{DATA_FILE}" for p in partitions]
        if self.is_local:
            return [os.path.isfile(at) for at in locations]
        fs = self._fs()
        if len(locations) == 1:
            return [bool(fs.exists(locations[0]))]
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(16, len(locations))) as pool:
            return [bool(found) for found in pool.map(fs.exists, locations)]

    def _read_remote(self, key: AssetKey, wanted: list[str | None], locations: list[str]) -> Any:
        """Fetch the files concurrently (object stores answer slowly, but in parallel),
        then decode them in order."""
        import polars as pl

        fetched = _fetch_all(self._fs(), locations)
        missing = [
            p for p, got in zip(wanted, fetched, strict=True) if isinstance(got, FileNotFoundError)
        ]
        if missing:
            raise self._missing(key, missing)
        blobs = []
        for got in fetched:
            if isinstance(got, BaseException):
                raise got
            blobs.append(got)
        frames = [pl.read_parquet(blob) for blob in blobs]
        if len(frames) == 1:
            return frames[0]
        if any(frame.schema != frames[0].schema for frame in frames):
            schemas = [(p, frame.schema) for p, frame in zip(wanted, frames, strict=True)]
            unified = unified_schema(key, schemas)
            frames = [frame.select(_conformed(frame.schema, unified)) for frame in frames]
        return pl.concat(frames, how="vertical")

    def _missing(self, key: AssetKey, missing: list[str | None]) -> Exception:
        if missing == [None]:
            return missing_input(key, self.location(key, None))
        return missing_input(key, self._folder(key), [p for p in missing if p is not None])

    def _schema_of_any(self, key: AssetKey) -> dict[str, Any] | None:
        """The schema of any stored partition of the asset (None: none is stored)."""
        import polars as pl

        pattern = f"partition=*/{DATA_FILE}"
        if self.is_local:
            found = next(iter(sorted(Path(self._folder(key)).glob(pattern))), None)
            return None if found is None else dict(pl.read_parquet_schema(found))
        fs = self._fs()
        paths = sorted(fs.glob(f"{self._folder(key)}/{pattern}"))
        if not paths:
            return None
        import pyarrow.parquet as pq

        with fs.open(paths[0], "rb") as stream:  # reads the footer, not the file
            arrow_schema = pq.read_schema(stream)
        return dict(pl.from_arrow(arrow_schema.empty_table()).schema)  # type: ignore[union-attr]

    def _folder(self, key: AssetKey) -> str:
        if self.root is None:
            raise RuntimeError("ParquetIO used before bind(): a bug in assay")
        if isinstance(self.root, Path):
            return str(self.root.joinpath(*key.path))
        return "/".join((self.root.rstrip("/"), *key.path))

    def _fs(self) -> AbstractFileSystem:
        assert isinstance(self.root, str)
        return _filesystem(self.root, json.dumps(self.storage_options or {}, sort_keys=True))


def _row_count(path: Path) -> int:
    """Rows of a Parquet file, from its footer (polars reads no data for it, and a
    worker need not import pyarrow)."""
    import polars as pl

    return int(pl.scan_parquet(path).select(pl.len()).collect().item())


def _sweep_remote(fs: AbstractFileSystem, scratch: str) -> None:
    """Delete temporary files a day old in a remote scratch folder (no locks there)."""
    try:
        entries = fs.ls(scratch, detail=True)
    except (FileNotFoundError, NotImplementedError):
        return
    now = time.time()
    for entry in entries:
        written = entry.get("mtime") or entry.get("LastModified") or entry.get("created")
        if hasattr(written, "timestamp"):
            written = written.timestamp()
        if not isinstance(written, int | float) or now - written < UNLOCKABLE_SWEEP_AFTER_S:
            continue
        with contextlib.suppress(Exception):  # another process swept it first
            fs.rm_file(entry["name"])


def _fetch_all(fs: AbstractFileSystem, locations: list[str]) -> list[bytes | Exception]:
    """Each file's bytes, or the exception reading it raised, in order."""

    def fetch(location: str) -> bytes | Exception:
        try:
            return bytes(fs.cat_file(location))
        except Exception as exc:
            return exc

    if len(locations) == 1:
        return [fetch(locations[0])]
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=min(16, len(locations))) as pool:
        return list(pool.map(fetch, locations))


def _root_of(root: str | Path | None) -> Path | str | None:
    """A local Path, or the URL itself; `file://` URLs are local folders."""
    if root is None or isinstance(root, Path | EnvVar):  # an EnvVar: read when built
        return root
    if not is_url(root):
        return Path(root).expanduser()
    parts = urlsplit(root)
    if parts.scheme == "file":
        return Path(unquote(parts.path))
    return root


@functools.lru_cache(maxsize=32)
def _filesystem(root: str, options: str) -> AbstractFileSystem:
    """The fsspec filesystem of a URL (one per URL and options, per process)."""
    try:
        from fsspec.core import url_to_fs
    except ImportError as exc:  # pragma: no cover - fsspec is a dependency
        raise ConfigError(f"storage at {root} needs fsspec: pip install fsspec") from exc
    scheme = urlsplit(root).scheme
    try:
        fs, _ = url_to_fs(root, **json.loads(options))
    except ImportError as exc:
        package = {"s3": "s3fs", "s3a": "s3fs", "gs": "gcsfs", "gcs": "gcsfs"}.get(scheme)
        install = f"pip install 'assay[{scheme}]'" if package == "s3fs" else "install it"
        raise ConfigError(
            f"storage at {root} needs {package or 'a filesystem package for ' + scheme!s}: "
            f"{install} ({exc})"
        ) from exc
    except ValueError as exc:
        raise ConfigError(f"storage at {root}: {exc}") from exc
    return fs


def _one_schema(locations: Sequence[str]) -> bool:
    """Whether the local files share one schema, by the Arrow schema polars (and pyarrow)
    keep in a file's metadata: ~0.03 ms a file, a tenth of reading its schema. Files
    without it are compared by their schemas."""
    import polars as pl

    if len(locations) < 2:
        return True
    first = pl.read_parquet_metadata(locations[0]).get("ARROW:schema")
    if first is not None and all(
        pl.read_parquet_metadata(at).get("ARROW:schema") == first for at in locations[1:]
    ):
        return True
    schema = pl.read_parquet_schema(locations[0])
    return all(pl.read_parquet_schema(at) == schema for at in locations[1:])


def _unified_scan(key: AssetKey, wanted: Sequence[str | None], locations: Sequence[str]) -> Any:
    """Local files of different schemas as one lazy frame of their unified schema: a
    scan for each run of files that share a schema, conformed, concatenated in order."""
    import itertools

    import polars as pl

    schemas = [pl.read_parquet_schema(at) for at in locations]
    unified = unified_schema(key, list(zip(wanted, schemas, strict=True)))
    scans = [
        pl.scan_parquet([at for _, at in run]).select(_conformed(schema, unified))
        for schema, run in itertools.groupby(zip(schemas, locations, strict=True), lambda x: x[0])
    ]
    return pl.concat(scans, how="vertical")


def _conformed(schema: Mapping[str, pl.DataType], unified: Mapping[str, Any]) -> list[pl.Expr]:
    """Columns of a frame of `schema` in the unified schema: cast (a widening, never a
    loss), or null where the frame lacks them."""
    import polars as pl

    return [
        pl.col(column).cast(dtype) if column in schema else pl.lit(None, dtype).alias(column)
        for column, dtype in unified.items()
    ]


def _empty_like(schema: dict[str, Any] | None, key: AssetKey, kind: InputKind) -> Any:
    """No partitions to read: an empty frame with the asset's stored schema."""
    import polars as pl

    if schema is None:
        raise missing_input(key, "any partition")
    frame = pl.DataFrame(schema=schema)
    if kind is InputKind.LAZY:
        return frame.lazy()
    return frame.to_arrow() if kind is InputKind.ARROW else frame
