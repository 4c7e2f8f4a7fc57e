"""The shape of the package: no import cycle, type-only imports counted; the public
names pinned; `import assay` light (docs/architecture.md)."""

import subprocess
import sys

import grimp
import pytest

import assay
import assay.automation
import assay.io
import assay.lineage
import assay.partitions
import assay.results
import assay.versioning


def test_no_module_imports_itself_back_through_others():
    graph = grimp.build_graph("assay", exclude_type_checking_imports=False)
    modules = sorted(graph.modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m)) for m in modules}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in edges[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                found = stack.pop()
                on_stack.discard(found)
                component.append(found)
                if found == module:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    sys.setrecursionlimit(10_000)
    for module in modules:
        if module not in index:
            visit(module)
    # the package's own __init__ re-exports its children lazily: no edge to them
    assert cycles == []


PUBLIC = [
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
    "JSONIO",
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


def test_the_public_surface_is_what_the_docs_promise():
    assert sorted(assay.__all__) == PUBLIC
    for name in assay.__all__:
        assert getattr(assay, name) is not None, name
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = assay.nope  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (assay.lineage, ["Edge", "Lineage", "open"]),
        (
            assay.io,
            ["DuckDBIO", "FileIO", "IOManager", "JSONIO", "ParquetIO", "PickleIO", "StoredOutput"],
        ),
        (
            assay.results,
            [
                "CheckOutcome",
                "CheckStatus",
                "RunKind",
                "RunResult",
                "RunStatus",
                "StepError",
                "StepResult",
                "StepStatus",
            ],
        ),
        (
            assay.automation,
            [
                "Cron",
                "FinishedRun",
                "RunRequest",
                "Schedule",
                "ScheduleContext",
                "Sensor",
                "SensorContext",
                "SensorResult",
                "SkipReason",
                "file_sensor",
                "run_status_sensor",
                "schedule",
                "sensor",
            ],
        ),
        (
            assay.versioning,
            [
                "code_version",
                "data_version",
                "file_data_version",
                "inputs_signature",
                "source_hash",
            ],
        ),
        (
            assay.partitions,
            [
                "DailyPartitions",
                "DynamicPartitions",
                "DynamicPartitionsRequest",
                "HourlyPartitions",
                "MonthlyPartitions",
                "MultiPartitions",
                "PartitionContext",
                "PartitionSubset",
                "PartitionsDefinition",
                "StaticPartitions",
                "TimeWindow",
                "TimeWindowPartitions",
                "WeeklyPartitions",
            ],
        ),
    ],
    ids=lambda value: getattr(value, "__name__", ""),
)
def test_each_public_subpackage_pins_its_names(module, names):
    assert sorted(module.__all__) == names
    for name in names:
        assert getattr(module, name) is not None


def _imported(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code`."""
    show = "; import sys; print('\\n'.join(sys.modules))"
    done = subprocess.run(
        [sys.executable, "-c", code + show], capture_output=True, text=True, check=True
    )
    return set(done.stdout.split())


def test_import_assay_loads_only_its_own_entry_and_declaring_assets_little_more():
    bare = _imported("import assay")
    assert "assay" in bare  # the positive control: the listing holds what was imported
    assert not {m for m in bare if m.startswith("assay.") and m != "assay.version"}
    declaring = _imported("from assay import asset, DailyPartitions, asset_check, Definitions")
    assert {"assay.assets", "assay.partitions", "assay.checks", "assay.definitions"} <= declaring
    heavy = {"polars", "duckdb", "pandera", "openlineage", "dask", "distributed", "pyarrow"}
    assert not {m.split(".")[0] for m in declaring} & heavy
    assert not {"assay.planning", "assay.execution", "assay.state"} & {
        ".".join(m.split(".")[:2]) for m in declaring
    }
