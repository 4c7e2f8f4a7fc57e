"""Schemas and asset checks through the Python API: what is stored, skipped and recorded."""

from pathlib import Path

import duckdb
import polars as pl
import pytest

import assay
from assay.errors import DefinitionError, UnknownAssetError

DAYS = ("2024-01-01", "2024-01-03")


@pytest.fixture
def shop(make_project, monkeypatch):
    for name in ("BAD_DAYS", "BIG", "FEW", "EXPLODE"):
        monkeypatch.delenv(name, raising=False)
    return make_project("quality")


def checks_table(root: Path) -> list[dict]:
    with duckdb.connect(str(root / ".assay/assay.duckdb"), read_only=True) as con:
        cursor = con.execute("SELECT * FROM check_results ORDER BY checked_at")
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def by_key(result):
    return {step.step_key: step for step in result.steps}


def test_a_schema_failure_is_not_stored_and_reports_every_failed_check(shop, monkeypatch):
    monkeypatch.setenv("BAD_DAYS", "2024-01-02")
    result = assay.load().materialize("+report", partition_range=DAYS)
    steps = by_key(result)
    bad = steps["orders[2024-01-02]"]
    assert bad.status == "failed"
    error = bad.error or ""
    # the LazyFrame output was validated on its data, every failure collected
    assert error.startswith("schema Orders failed: amount greater_than_or_equal_to(0): 1 row")
    assert "(e.g. -5.0)" in error
    assert "customer not_nullable: 1 row (e.g. null)" in error
    assertions = bad.checks[0].assertions()  # what lineage emits as dataQualityAssertions
    assert {
        "column": "amount",
        "assertion": "greater_than_or_equal_to(0)",
        "success": False,
        "name": "schema",
        "severity": "error",
    } in assertions
    unique = [a for a in assertions if a["assertion"] == "field_uniqueness"]
    assert [(a["column"], a["success"]) for a in unique] == [("order_id", True)]
    path = Path(error.split("all 2 failure cases in ")[1])
    assert pl.read_parquet(path).get_column("column").to_list() == ["amount", "customer"]
    # not stored, not retried (retrying cannot fix data), and its readers skipped
    assert not (shop / ".assay/storage/orders/partition=2024-01-02").exists()
    rows = assay.load().state.run_details(result.run_id).steps
    assert {r.step_key: r.attempts for r in rows}["orders[2024-01-02]"] == 1
    assert steps["revenue[2024-01-02]"].skip_reason == (
        "upstream 'orders' partition 2024-01-02 failed check 'schema'"
    )
    assert steps["report[2024-01-01]"].status == "succeeded"
    schema_rows = [r for r in checks_table(shop) if r["check_name"] == "schema"]
    assert [(r["partition_key"], r["passed"]) for r in schema_rows] == [
        ("2024-01-01", True),
        ("2024-01-02", False),
        ("2024-01-03", True),
    ]
    failed = schema_rows[1]
    assert failed["materialization_id"] is None
    assert failed["failures_path"] == str(path)


def test_a_failing_blocking_check_keeps_the_old_value_and_skips_readers(shop, monkeypatch):
    assert assay.load().materialize("+report", partition_range=DAYS).success
    before = pl.read_parquet(shop / ".assay/storage/revenue/partition=2024-01-01/data.parquet")
    monkeypatch.setenv("BIG", "12")
    result = assay.load().materialize("+report", partition_range=DAYS, force=True)
    assert result.status == "failed"
    steps = by_key(result)
    assert steps["revenue[2024-01-01]"].error == (
        "blocking check 'revenue_not_too_big' failed (max_revenue=16.0, limit=12.0); "
        "the output was not stored"
    )
    assert steps["report[2024-01-01]"].skip_reason == (
        "upstream 'revenue' partition 2024-01-01 failed check 'revenue_not_too_big'"
    )
    after = pl.read_parquet(shop / ".assay/storage/revenue/partition=2024-01-01/data.parquet")
    assert after.equals(before)


def test_warnings_and_errored_checks_are_recorded_and_the_run_goes_on(shop, monkeypatch):
    monkeypatch.setenv("FEW", "5")
    monkeypatch.setenv("EXPLODE", "1")
    result = assay.load().materialize("+report", partitions=["2024-01-01"])
    assert result.success
    checks = {c.name: c for c in by_key(result)["revenue[2024-01-01]"].checks}
    assert checks["enough_orders"].status == "failed"
    assert checks["enough_orders"].severity == "warn"
    assert checks["explodes"].status == "errored"
    assert checks["explodes"].error.startswith("ValueError: cannot judge 2024-01-01 (quality_")
    assert checks["revenue_not_too_big"].passed
    assert checks["enough_orders"].assertions() == [
        {
            "assertion": "enough_orders",
            "name": "enough_orders",
            "success": False,
            "severity": "warn",
            "description": "At least FEW orders a day.",
        }
    ]
    recorded = {r["check_name"]: r for r in checks_table(shop) if r["asset_key"] == "revenue"}
    assert recorded["enough_orders"]["description"] == "At least FEW orders a day."
    assert recorded["explodes"]["status"] == "errored"
    assert recorded["revenue_not_too_big"]["materialization_id"] is not None
    assert '"max_revenue":16.0' in recorded["revenue_not_too_big"]["metadata"]


def test_check_runs_against_stored_data_and_records_what_it_judged(shop, monkeypatch):
    project = assay.load()
    assert project.materialize("+report", partition_range=DAYS).success
    monkeypatch.setenv("BIG", "12")
    result = assay.load().check("revenue", partitions=["2024-01-01", "2024-01-02"])
    assert not result.success
    rows = {(r["partition_key"], r["check"]): r for r in result.rows()}
    assert len(rows) == 6
    assert rows[("2024-01-01", "revenue_not_too_big")]["status"] == "failed"
    assert rows[("2024-01-02", "explodes")]["status"] == "passed"
    assert len(result.failed) == 2
    stored = project.state.stored_partition("revenue", "2024-01-01")
    judged = [r for r in checks_table(shop) if r["run_id"] == result.run_id]
    assert {r["data_version"] for r in judged if r["partition_key"] == "2024-01-01"} == {
        stored["data_version"]
    }
    # nothing was materialized
    assert [r.status for r in assay.load().state.runs(limit=1)] == ["failed"]
    assert len(assay.load().state.runs(limit=10)) == 2


def test_bad_definitions_are_clear_errors(shop):
    with pytest.raises(DefinitionError, match="is not a Pandera polars schema"):

        @assay.asset(schema={"amount": float})
        def plain() -> None: ...

    # pandas is not installed here: a class that says it is pandera's pandas model
    pandas_model = type("DataFrameModel", (), {"__module__": "pandera.api.pandas.model"})
    PandasOrders = type("PandasOrders", (pandas_model,), {})

    with pytest.raises(DefinitionError, match=r"a pandas schema: import pandera.polars as pa"):

        @assay.asset(schema=PandasOrders)
        def orders() -> None: ...

    @assay.asset_check(asset="revenu")
    def typo(revenue: pl.DataFrame) -> bool:
        return True

    with pytest.raises(UnknownAssetError, match="Did you mean 'revenue'"):
        _ = assay.Definitions(assets=list(_assets()), checks=[typo]).graph

    @assay.asset_check(asset="revenue")
    def two(revenue: pl.DataFrame, orders: pl.DataFrame) -> bool:  # orders: not a resource
        return True

    with pytest.raises(DefinitionError, match="takes 'orders' after the asset's value"):
        _ = assay.Definitions(assets=list(_assets()), checks=[two]).graph
    with pytest.raises(DefinitionError, match="first parameter"):
        assay.asset_check(asset="revenue")(lambda: True)

    with pytest.raises(DefinitionError, match="severity='fatal'"):
        assay.asset_check(asset="revenue", severity="fatal")(lambda revenue: True)  # type: ignore


def _assets():
    project = assay.load()
    return project.definitions.assets
