"""Where asset values are stored: ParquetIO (the default) and DuckDBIO for frames;
JSONIO, PickleIO and FileIO for values of other types (each imported when first
used)."""

from __future__ import annotations

import importlib
from typing import Any

from assay.io.base import IOManager, StoredOutput
from assay.io.duckdb import DuckDBIO
from assay.io.parquet import ParquetIO

_LAZY = {
    "FileIO": "assay.io.files",
    "JSONIO": "assay.io.json_values",
    "PickleIO": "assay.io.pickles",
}

__all__ = ["JSONIO", "DuckDBIO", "FileIO", "IOManager", "ParquetIO", "PickleIO", "StoredOutput"]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'assay.io' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
