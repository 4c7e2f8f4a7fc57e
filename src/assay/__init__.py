"""assay: asset-centric, data-aware orchestration for Python.

Importing assay costs almost nothing: each public name is imported from its
module when it is first used (`from assay import asset` loads what declaring
assets needs, not the planner nor the state store), and polars, duckdb,
pandera, openlineage and dask load inside the functions that use them, so
`assay --help` stays instant.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from assay.version import __version__

if TYPE_CHECKING:
    from assay import lineage
    from assay.assets import asset, source_asset
    from assay.automation import (
        RunRequest,
        Schedule,
        ScheduleContext,
        SensorContext,
        SensorResult,
        SkipReason,
        file_sensor,
        run_status_sensor,
        schedule,
        sensor,
    )
    from assay.automation.alerts import Alert, Email, Slack, Webhook
    from assay.checks import CheckResult, asset_check
    from assay.conditions import Auto, AutomationCondition, Freshness
    from assay.definitions import Definitions
    from assay.errors import AssayError
    from assay.execution.context import AssetContext
    from assay.execution.hooks import Hooks, RunHooks
    from assay.execution.launcher import LaunchedRun
    from assay.io.base import IOManager, StoredOutput
    from assay.io.duckdb import DuckDBIO
    from assay.io.files import FileIO
    from assay.io.hashing import data_version
    from assay.io.json_values import JSONIO
    from assay.io.parquet import ParquetIO
    from assay.io.pickles import PickleIO
    from assay.keys import AssetKey
    from assay.multi_assets import AssetOut, MultiAsset, multi_asset
    from assay.partitions import (
        DailyPartitions,
        DynamicPartitions,
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
    from assay.partitions.selection import PartitionSelection
    from assay.planning.plan import Plan
    from assay.policies import BatchPolicy, RetryPolicy
    from assay.project import Project, load
    from assay.resources import EnvVar, Resource
    from assay.results import RunResult
    from assay.spec import AssetIn, AssetSpec, Output
    from assay.workspace import Workspace, open_workspace

_HOMES = {
    "assay.assets": ("asset", "source_asset"),
    "assay.automation": (
        "RunRequest",
        "Schedule",
        "ScheduleContext",
        "SensorContext",
        "SensorResult",
        "SkipReason",
        "file_sensor",
        "run_status_sensor",
        "schedule",
        "sensor",
    ),
    "assay.automation.alerts": ("Alert", "Email", "Slack", "Webhook"),
    "assay.checks": ("CheckResult", "asset_check"),
    "assay.conditions": ("Auto", "AutomationCondition", "Freshness"),
    "assay.definitions": ("Definitions",),
    "assay.errors": ("AssayError",),
    "assay.execution.context": ("AssetContext",),
    "assay.execution.hooks": ("Hooks", "RunHooks"),
    "assay.execution.launcher": ("LaunchedRun",),
    "assay.io.base": ("IOManager", "StoredOutput"),
    "assay.io.duckdb": ("DuckDBIO",),
    "assay.io.files": ("FileIO",),
    "assay.io.hashing": ("data_version",),
    "assay.io.json_values": ("JSONIO",),
    "assay.io.parquet": ("ParquetIO",),
    "assay.io.pickles": ("PickleIO",),
    "assay.keys": ("AssetKey",),
    "assay.multi_assets": ("AssetOut", "MultiAsset", "multi_asset"),
    "assay.partitions": (
        "DailyPartitions",
        "DynamicPartitions",
        "HourlyPartitions",
        "MonthlyPartitions",
        "MultiPartitions",
        "StaticPartitions",
        "WeeklyPartitions",
    ),
    "assay.partitions.mapping": (
        "AllPartitionsMapping",
        "IdentityMapping",
        "LastPartitionMapping",
        "PartitionMapping",
        "StaticMapping",
        "TimeWindowMapping",
    ),
    "assay.partitions.selection": ("PartitionSelection",),
    "assay.spec": ("AssetIn", "AssetSpec", "Output"),
    "assay.planning.plan": ("Plan",),
    "assay.policies": ("BatchPolicy", "RetryPolicy"),
    "assay.project": ("Project", "load"),
    "assay.resources": ("EnvVar", "Resource"),
    "assay.results": ("RunResult",),
    "assay.workspace": ("Workspace", "open_workspace"),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}

__all__ = [
    "JSONIO",
    "Alert",
    "AllPartitionsMapping",
    "AssayError",
    "AssetContext",
    "AssetIn",
    "AssetKey",
    "AssetOut",
    "AssetSpec",
    "Auto",
    "AutomationCondition",
    "BatchPolicy",
    "CheckResult",
    "DailyPartitions",
    "Definitions",
    "DuckDBIO",
    "DynamicPartitions",
    "Email",
    "EnvVar",
    "FileIO",
    "Freshness",
    "Hooks",
    "HourlyPartitions",
    "IOManager",
    "IdentityMapping",
    "LastPartitionMapping",
    "LaunchedRun",
    "MonthlyPartitions",
    "MultiAsset",
    "MultiPartitions",
    "Output",
    "ParquetIO",
    "PartitionMapping",
    "PartitionSelection",
    "PickleIO",
    "Plan",
    "Project",
    "Resource",
    "RetryPolicy",
    "RunHooks",
    "RunRequest",
    "RunResult",
    "Schedule",
    "ScheduleContext",
    "SensorContext",
    "SensorResult",
    "SkipReason",
    "Slack",
    "StaticMapping",
    "StaticPartitions",
    "StoredOutput",
    "TimeWindowMapping",
    "Webhook",
    "WeeklyPartitions",
    "Workspace",
    "__version__",
    "asset",
    "asset_check",
    "data_version",
    "file_sensor",
    "lineage",
    "load",
    "multi_asset",
    "open_workspace",
    "run_status_sensor",
    "schedule",
    "sensor",
    "source_asset",
]

assert set(__all__) == {*_MODULE_OF, "__version__", "lineage"}


def __getattr__(name: str) -> Any:
    if name == "lineage":
        return importlib.import_module("assay.lineage")
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module 'assay' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # the next access costs nothing
    return value


def __dir__() -> list[str]:
    return __all__
