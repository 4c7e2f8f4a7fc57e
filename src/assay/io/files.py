"""FileIO, and the one-file-per-partition layout that JSONIO and PickleIO share.

Each asset (partition) is one file in ParquetIO's folders:
`<root>/<key path>/data<suffix>`, and for partitions
`<root>/<key path>/partition=<key>/data<suffix>`. Every write goes to a temporary
file in `<root>/.assay-tmp/` and is renamed over the target once complete and
fsynced (`assay.io.atomic`): a reader sees the old file or the new one, never half
of one, and a failed write leaves the old one. The data version is the xxh3 hash
of the stored bytes, so equal content gets an equal version in any run or
process. These stores are local folders (a relative root is taken from the
project root); for object stores, use ParquetIO.

Several partitions load as a dict from partition key to value, in the order
asked (one partition read through an identity or last-partition mapping arrives
as the value itself: see `assay.execution.step`).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.config import is_url
from assay.errors import ConfigError, MaterializationError
from assay.io.atomic import SCRATCH_DIR, atomic_path, sweep
from assay.io.base import InputKind, StoredOutput, missing_input
from assay.io.hashing import file_data_version

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from assay.config import ProjectConfig
    from assay.keys import AssetKey

DATA_STEM = "data"
_swept: set[Path] = set()
_sweep_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class FileStore:
    """The layout and the atomic writes of the one-file stores (not used alone)."""

    root: Path | None = None

    def _suffix(self) -> str:
        raise NotImplementedError

    @property
    def is_local(self) -> bool:
        return True

    def _bound_root(self, config: ProjectConfig) -> Path:
        root: Path | str | None = self.root
        if root is None:
            root = config.storage_root
        if isinstance(root, str) and is_url(root):
            raise ConfigError(
                f"{type(self).__name__} stores local files, and the project's storage is "
                f"{root}: give it root='...' (a local folder), or store frames with ParquetIO"
            )
        path = Path(root).expanduser()
        return path if path.is_absolute() else config.root / path

    def location(self, key: AssetKey, partition: str | None) -> str:
        """Where the asset (partition) is stored."""
        return str(self.path(key, partition))

    def path(self, key: AssetKey, partition: str | None) -> Path:
        """The file of the asset (partition)."""
        folder = self._folder(key)
        if partition is not None:
            folder = folder / f"partition={partition}"
        return folder / f"{DATA_STEM}{self._suffix()}"

    def lineage_dataset(self, key: AssetKey) -> tuple[str, str]:
        """OpenLineage's name of the asset's folder: namespace `file` and its path."""
        return "file", str(self._folder(key))

    def exists(self, key: AssetKey, partitions: Sequence[str] | None) -> list[bool]:
        """Whether each partition (None: the unpartitioned asset) has its stored file."""
        wanted: Sequence[str | None] = [None] if partitions is None else partitions
        return [self.path(key, p).is_file() for p in wanted]

    def _folder(self, key: AssetKey) -> Path:
        if self.root is None:
            raise RuntimeError(f"{type(self).__name__} used before bind(): a bug in assay")
        return self.root.joinpath(*key.path)

    @contextlib.contextmanager
    def _writing(self, key: AssetKey, partition: str | None) -> Iterator[Path]:
        """A temporary file that becomes the stored one when the block succeeds."""
        assert self.root is not None
        scratch = self.root / SCRATCH_DIR
        with _sweep_lock:
            first = scratch not in _swept
            _swept.add(scratch)
        if first:  # what writers killed in earlier processes left
            sweep(scratch)
        final = self.path(key, partition)
        with atomic_path(final, scratch=scratch, defer=not final.exists()) as tmp:
            yield tmp

    def _write(
        self, key: AssetKey, partition: str | None, fill: Callable[[Path], object]
    ) -> StoredOutput:
        """Store what `fill` writes into a temporary file, atomically."""
        with self._writing(key, partition) as tmp:
            fill(tmp)
            version, size = file_data_version(tmp)
        return StoredOutput(
            location=self.location(key, partition),
            row_count=None,
            byte_size=size,
            data_version=version,
            columns=(),
        )

    def _read(
        self, key: AssetKey, partitions: Sequence[str] | None, decode: Callable[[Path], Any]
    ) -> Any:
        """The stored value (None: unpartitioned), or a dict from partition to value."""
        if partitions is None:
            path = self.path(key, None)
            if not path.is_file():
                raise missing_input(key, str(path))
            return decode(path)
        paths = {p: self.path(key, p) for p in partitions}
        missing = [p for p, path in paths.items() if not path.is_file()]
        if missing:
            raise missing_input(key, str(self._folder(key)), missing)
        return {p: decode(path) for p, path in paths.items()}


@dataclass(frozen=True, slots=True)
class FileIO(FileStore):
    """Store a file per asset (partition): an asset returns `bytes` (the content) or
    a `pathlib.Path` of a file it wrote, which is copied into the asset's storage
    (the file you wrote stays where it is).

    Stored as `<root>/<key path>/data<suffix>` (`FileIO(suffix=".html")`: `data.html`;
    the default, no suffix: `data`), partitions in `partition=<key>/` folders as with
    ParquetIO. Downstream inputs receive the stored file's `Path` (unannotated or
    annotated `Path`), or its content when annotated `bytes`. Read-only use is
    expected: write a new file rather than change the stored one in place.

    Example:
        >>> from pathlib import Path
        >>> from assay import asset, FileIO
        >>> @asset(io=FileIO(suffix=".html"))
        ... def report() -> bytes:
        ...     return b"<h1>Revenue</h1>"
        >>> @asset
        ... def published(report: Path) -> None:
        ...     print(report.read_text())
    """

    suffix: str = ""

    def __init__(self, suffix: str = "", *, root: str | Path | None = None) -> None:
        if not isinstance(suffix, str) or (suffix and not _is_suffix(suffix)):
            from assay.errors import DefinitionError

            raise DefinitionError(
                f"FileIO(suffix={suffix!r}): give a file suffix like '.html' or '.png'"
            )
        object.__setattr__(self, "root", None if root is None else Path(root))
        object.__setattr__(self, "suffix", suffix)

    def _suffix(self) -> str:
        return self.suffix

    @property
    def kind(self) -> str:
        return "file"

    @property
    def stores(self) -> str:
        return "files"

    def bind(self, config: ProjectConfig) -> FileIO:
        return replace(self, root=self._bound_root(config))

    def write(self, key: AssetKey, partition: str | None, value: Any) -> StoredOutput:
        if isinstance(value, bytes | bytearray | memoryview):
            content = bytes(value)
            return self._write(key, partition, lambda tmp: tmp.write_bytes(content))
        if isinstance(value, os.PathLike) and not isinstance(value, Path):
            value = Path(os.fspath(value))
        if not isinstance(value, Path):
            raise MaterializationError(
                f"asset {str(key)!r} returned {type(value).__qualname__}, and FileIO stores "
                "files: return bytes or the pathlib.Path of a file the asset wrote"
            )
        if not value.is_file():
            raise MaterializationError(
                f"asset {str(key)!r} returned the path {str(value)!r}, which is not a file: "
                "write the file before returning its path"
            )
        source = value
        return self._write(key, partition, lambda tmp: shutil.copyfile(source, tmp))

    def load(self, key: AssetKey, partitions: Sequence[str] | None, kind: InputKind) -> Any:
        """The stored file's Path (its bytes for an input annotated `bytes`); several
        partitions: a dict from partition key to each."""
        if kind is InputKind.BYTES:
            return self._read(key, partitions, Path.read_bytes)
        return self._read(key, partitions, lambda path: path)


def _is_suffix(suffix: str) -> bool:
    return suffix.startswith(".") and len(suffix) > 1 and "/" not in suffix and "\\" not in suffix
