"""Where asset values are stored: ParquetIO (the default) and DuckDBIO."""

from assay.io.base import IOManager, StoredOutput
from assay.io.duckdb import DuckDBIO
from assay.io.parquet import ParquetIO

__all__ = ["DuckDBIO", "IOManager", "ParquetIO", "StoredOutput"]
