"""assay.testing and the Project helpers a test reaches for."""

import polars as pl
import pytest

import assay
from assay import DailyPartitions, asset, asset_check, source_asset
from assay.errors import PartitionKeyError, UnknownAssetError
from assay.testing import InMemoryIO, build_context, materialize_to_memory

days = DailyPartitions(start="2024-06-01", end="2024-06-04")


@source_asset(partitions=days)
def landed(context) -> dict:
    return {}


@asset(partitions=days)
def cleaned(context, landed: pl.DataFrame) -> pl.DataFrame:
    context.log.info("cleaning %s", context.partition_key)
    return landed.filter(pl.col("amount") > 0)


@asset_check(asset="cleaned")
def some_rows(cleaned: pl.DataFrame) -> bool:
    return cleaned.height > 0


def test_build_context_says_what_a_step_would():
    context = build_context(asset="sales/orders", partition_keys=("a", "b"), config=1)
    assert str(context.asset_key) == "sales/orders"
    assert context.partition_key is None
    assert context.partition_keys == ("a", "b")
    assert context.config == 1
    assert build_context(partition_key="2024-06-01").partition_keys == ("2024-06-01",)


def test_materialize_to_memory_runs_checks_on_given_sources():
    run = materialize_to_memory(
        [landed, cleaned],
        checks=[some_rows],
        sources={
            "landed": {
                "2024-06-01": pl.DataFrame({"amount": [1.0, -2.0]}),
                "2024-06-02": pl.DataFrame({"amount": [-1.0]}),
            }
        },
        partitions=["2024-06-01", "2024-06-02"],
    )
    assert run.value("cleaned", "2024-06-01")["amount"].to_list() == [1.0]
    judged = {(s.partition, c.name, c.status) for s in run.result.steps for c in s.checks}
    assert judged == {("2024-06-01", "some_rows", "passed"), ("2024-06-02", "some_rows", "failed")}
    with pytest.raises(KeyError, match="asset 'cleaned' partition '2024-06-03' stored nothing"):
        run.value("cleaned", "2024-06-03")


def test_a_source_value_for_no_source_is_refused():
    with pytest.raises(KeyError, match="sources= names 'cleaned', which is no source asset"):
        materialize_to_memory([landed, cleaned], sources={"cleaned": pl.DataFrame()})


def test_in_memory_io_loads_partitions_as_one_frame():
    io = InMemoryIO()
    key = assay.AssetKey.parse("n")
    for day, n in (("a", 1), ("b", 2)):
        io.write(key, day, pl.DataFrame({"n": [n]}))
    from assay.io.base import InputKind

    assert io.load(key, ["a", "b"], InputKind.EAGER)["n"].to_list() == [1, 2]
    assert io.exists(key, ["a", "c"]) == [True, False]
    with pytest.raises(assay.AssayError, match="no stored partition c"):
        io.load(key, ["c"], InputKind.LAZY)


def test_load_value_and_io_for_take_strings(make_project):
    make_project("diamond")
    project = assay.load()
    assert project.materialize().success
    first = next(iter(project.graph.order))
    name = str(first)
    assert project.io_for(name) is project.io_for(first)
    assert isinstance(project.load_value(name), pl.DataFrame)
    assert isinstance(project.load_value(name, lazy=True), pl.LazyFrame)
    with pytest.raises(UnknownAssetError, match="Did you mean"):
        project.load_value(name + "x")
    with pytest.raises(PartitionKeyError, match="is not partitioned"):
        project.load_value(name, partition="2024-01-01")


def test_values_of_any_type_stay_in_memory():
    @asset
    def settings() -> dict:
        return {"limit": 2}

    @asset
    def limited(settings: dict) -> list:
        return list(range(settings["limit"]))

    @asset(deps=[limited])
    def announce() -> None:
        return None

    run = materialize_to_memory([settings, limited, announce])
    assert run.success
    assert run.value("limited") == [0, 1]
    assert run.value("announce") is None


def test_load_value_of_a_partition_of_a_value_store(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text('[tool.assay]\nmodule = "values_pipeline"\n')
    (tmp_path / "values_pipeline.py").write_text(
        "from assay import StaticPartitions, asset\n"
        "@asset(partitions=StaticPartitions(['eu', 'us']))\n"
        "def regions(context) -> dict:\n    return {'region': context.partition_key}\n"
    )
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    project = assay.load()
    assert project.materialize().success
    assert project.load_value("regions", partition="us") == {"region": "us"}
    assert project.load_value("regions", partition=["eu", "us"])["eu"] == {"region": "eu"}


def test_materialize_to_memory_takes_a_multi_asset_and_build_context_an_asset():
    from assay import AssetOut, multi_asset

    @multi_asset(outs={"a": AssetOut(), "b": AssetOut()}, can_subset=True)
    def both(context):
        return {name: pl.DataFrame({"n": [1]}) for name in context.selected_outputs}

    assert materialize_to_memory([both]).value("b")["n"].to_list() == [1]
    context = build_context(asset=cleaned, partition_key="2024-06-02", selected_outputs=("a",))
    assert context.partition_time_window is not None
    assert context.partition_time_window.start.day == 2
    assert list(both(context)) == ["a"]


def test_in_memory_values_go_through_what_their_io_managers_would_make_of_them(tmp_path):
    from pathlib import Path

    @asset
    def pair() -> list:
        return (1, 2)  # JSONIO stores a list

    @asset
    def report() -> Path:
        path = tmp_path / "report.html"
        path.write_text("<h1>hi</h1>")
        return path

    @asset
    def size(report: bytes) -> dict:
        return {"bytes": len(report)}

    @asset
    def opened(report: Path) -> dict:
        return {"text": report.read_text()}

    run = materialize_to_memory([pair, report, size, opened])
    assert run.success, [s.failure for s in run.result.steps]
    assert run.value("pair") == [1, 2]
    assert run.value("size") == {"bytes": 11}
    assert run.value("opened") == {"text": "<h1>hi</h1>"}

    @asset
    def tags() -> dict:
        return {"tags": {"a", "b"}}  # a set: JSONIO refuses it, so must the test double

    refused = materialize_to_memory([tags])
    assert not refused.success
    assert "JSONIO cannot store" in refused.result.steps[0].failure.message


def test_materialize_to_memory_with_dynamic_partitions():
    from assay import DynamicPartitions

    customers = DynamicPartitions("customers")

    @asset(partitions=customers)
    def invoices(context) -> pl.DataFrame:
        return pl.DataFrame({"customer": [context.partition_key]})

    run = materialize_to_memory([invoices], dynamic_partitions={"customers": ["acme", "globex"]})
    assert run.value("invoices", "globex")["customer"].to_list() == ["globex"]
