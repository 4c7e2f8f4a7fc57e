"""assay: asset-centric, data-aware orchestration for Python.

Importing assay is light: polars, duckdb, pandera, openlineage and dask load
inside the functions that use them, so `assay --help` stays instant.
"""

from __future__ import annotations

from assay import lineage
from assay.assets import AssetIn, AssetSpec, Output, asset, source_asset
from assay.checks import CheckResult, asset_check
from assay.definitions import Definitions
from assay.errors import AssayError
from assay.execution.context import AssetContext
from assay.execution.hooks import Hooks, RunHooks
from assay.io.duckdb import DuckDBIO
from assay.io.parquet import ParquetIO
from assay.keys import AssetKey
from assay.partitions import (
    DailyPartitions,
    HourlyPartitions,
    MonthlyPartitions,
    MultiPartitions,
    StaticPartitions,
    WeeklyPartitions,
)
from assay.partitions.mapping import (
    AllPartitionsMapping,
    IdentityMapping,
    LastPartitionMapping,
    PartitionMapping,
    StaticMapping,
    TimeWindowMapping,
)
from assay.policies import BatchPolicy, RetryPolicy
from assay.project import Project, load
from assay.version import __version__

__all__ = [
    "AllPartitionsMapping",
    "AssayError",
    "AssetContext",
    "AssetIn",
    "AssetKey",
    "AssetSpec",
    "BatchPolicy",
    "CheckResult",
    "DailyPartitions",
    "Definitions",
    "DuckDBIO",
    "Hooks",
    "HourlyPartitions",
    "IdentityMapping",
    "LastPartitionMapping",
    "MonthlyPartitions",
    "MultiPartitions",
    "Output",
    "ParquetIO",
    "PartitionMapping",
    "Project",
    "RetryPolicy",
    "RunHooks",
    "StaticMapping",
    "StaticPartitions",
    "TimeWindowMapping",
    "WeeklyPartitions",
    "__version__",
    "asset",
    "asset_check",
    "lineage",
    "load",
    "source_asset",
]
