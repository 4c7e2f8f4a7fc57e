"""ParquetIO: one Parquet file per asset partition, in hive-style folders."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.assets import InputKind
from assay.io.atomic import atomic_path
from assay.io.base import StoredOutput, check_output, missing_input
from assay.versioning import data_version

if TYPE_CHECKING:
    from collections.abc import Sequence

    from assay.config import ProjectConfig
    from assay.keys import AssetKey

DATA_FILE = "data.parquet"


@dataclass(frozen=True, slots=True)
class ParquetIO:
    """Store each asset (partition) as a Parquet file under `root`.

    `root` defaults to `<home>/storage`; a relative root is taken from the project
    root. Files: `<root>/<key path>/data.parquet`, and for partitions
    `<root>/<key path>/partition=<key>/data.parquet`. `compression` is polars'
    default (zstd) unless given.

    Example:
        >>> from assay import asset, ParquetIO
        >>> @asset(io=ParquetIO(root="warehouse/parquet"))
        ... def events(): ...
    """

    root: Path | None = None
    compression: str | None = None

    def __init__(self, root: str | Path | None = None, compression: str | None = None) -> None:
        object.__setattr__(self, "root", None if root is None else Path(root))
        object.__setattr__(self, "compression", compression)

    @property
    def kind(self) -> str:
        return "parquet"

    def bind(self, config: ProjectConfig) -> ParquetIO:
        if self.root is None:
            return replace(self, root=config.storage_dir)
        return replace(self, root=self.root if self.root.is_absolute() else config.root / self.root)

    def lineage_dataset(self, key: AssetKey) -> tuple[str, str]:
        """OpenLineage's name for local files: namespace `file`, the asset's folder."""
        return "file", str(self._root().joinpath(*key.path))

    def path(self, key: AssetKey, partition: str | None) -> Path:
        folder = self._root().joinpath(*key.path)
        if partition is not None:
            folder = folder / f"partition={partition}"
        return folder / DATA_FILE

    def write(self, key: AssetKey, partition: str | None, value: Any) -> StoredOutput:
        import polars as pl

        check_output(key, value)
        path = self.path(key, partition)
        with atomic_path(path) as tmp:
            options = {"compression": self.compression} if self.compression else {}
            if isinstance(value, pl.LazyFrame):
                value.sink_parquet(tmp, **options)  # type: ignore[call-overload]
                value = None
            else:
                if not isinstance(value, pl.DataFrame):
                    value = pl.from_arrow(value)
                assert isinstance(value, pl.DataFrame)
                value.write_parquet(tmp, **options)  # type: ignore[arg-type]
            content = tmp.read_bytes()
            if value is None:
                schema = pl.read_parquet_schema(tmp)
                rows = pl.scan_parquet(tmp).select(pl.len()).collect().item()
            else:
                schema, rows = dict(value.schema), value.height
        return StoredOutput(
            location=str(path),
            row_count=int(rows),
            byte_size=len(content),
            data_version=data_version(content),
            columns=tuple((name, str(dtype)) for name, dtype in schema.items()),
        )

    def load(self, key: AssetKey, partitions: Sequence[str] | None, kind: InputKind) -> Any:
        import polars as pl

        if partitions is None:
            paths = [self.path(key, None)]
        elif not partitions:
            return _empty_like(self._any_partition(key), key, kind)
        else:
            paths = [self.path(key, p) for p in partitions]
        missing = [
            p for p, path in zip(partitions or [], paths, strict=False) if not path.is_file()
        ]
        if missing or (partitions is None and not paths[0].is_file()):
            raise missing_input(
                key, str(paths[0].parent.parent if partitions else paths[0]), missing
            )
        if kind is InputKind.LAZY:
            return pl.scan_parquet(paths)
        frame = pl.read_parquet(paths)
        return frame.to_arrow() if kind is InputKind.ARROW else frame

    def _any_partition(self, key: AssetKey) -> Path | None:
        folder = self._root().joinpath(*key.path)
        return next(iter(sorted(folder.glob(f"partition=*/{DATA_FILE}"))), None)

    def _root(self) -> Path:
        if self.root is None:
            raise RuntimeError("ParquetIO used before bind(): a bug in assay")
        return self.root


def _empty_like(sample: Path | None, key: AssetKey, kind: InputKind) -> Any:
    """No partitions to read: an empty frame with the asset's stored schema."""
    import polars as pl

    if sample is None:
        raise missing_input(key, "any partition")
    frame = pl.DataFrame(schema=pl.read_parquet_schema(sample))
    if kind is InputKind.LAZY:
        return frame.lazy()
    return frame.to_arrow() if kind is InputKind.ARROW else frame
