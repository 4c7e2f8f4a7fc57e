"""What `assay plan` used to call fresh while the stored data no longer matched the
code (issue 15), end to end: real processes, real state, one change each. The
planner's own table of these, on state given as arrays, is in
tests/unit/planning/test_planner.py."""

import json
import shutil
import subprocess
import time
from pathlib import Path

import duckdb
import pytest

from tests.conftest import clean_env

pytestmark = pytest.mark.slow

UTIL = '''
import statistics

THRESHOLD = 0


def clean_amount(values):
    """The typical order, refunds left out."""
    return statistics.mean(v for v in values if v > THRESHOLD)
'''

PIPELINE = """
import pandera.polars as pa
import polars as pl

from assay import (
    AllPartitionsMapping,
    AssetContext,
    AssetIn,
    DailyPartitions,
    DuckDBIO,
    StaticPartitions,
    asset,
    asset_check,
)
from shop import util

REGIONS = StaticPartitions(["eu", "us", "apac"])
YEAR = DailyPartitions(start="2023-01-01", end="2024-01-01")


@asset
def orders() -> pl.DataFrame:
    return pl.DataFrame({"amount": [30.0, -5.0, 12.5, 7.5]})


@asset
def typical(orders: pl.DataFrame) -> pl.DataFrame:
    return pl.DataFrame({"amount": [util.clean_amount(orders["amount"].to_list())]})


@asset(partitions=REGIONS)
def regional(context: AssetContext) -> pl.DataFrame:
    return pl.DataFrame({"region": [context.partition_key], "sales": [3]})


@asset(ins={"regional": AssetIn(partition_mapping=AllPartitionsMapping())})
def all_regions(regional: pl.DataFrame) -> pl.DataFrame:
    return regional.select(pl.col("sales").sum())


@asset(io=DuckDBIO())
def in_warehouse(orders: pl.DataFrame) -> pl.DataFrame:
    return orders


class Daily(pa.DataFrameModel):
    amount: float = pa.Field(ge=0)


@asset(partitions=YEAR, schema=Daily)
def daily(context: AssetContext) -> pl.DataFrame:
    return pl.DataFrame({"amount": [float(int(context.partition_key[-2:]))]})


def at_most(limit):
    @asset_check(asset="orders", name="at_most")
    def check(orders: pl.DataFrame) -> bool:
        return bool(orders["amount"].max() <= limit)

    return check


at_most_100 = at_most(100)
"""


def _assay(folder: Path, *args: str, expect: int = 0) -> str:
    from tests.e2e.test_example import _venv_path

    done = subprocess.run(
        ["assay", *args],
        cwd=folder,
        env=clean_env(PATH=_venv_path()),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == expect, (args, done.stdout, done.stderr)
    return done.stdout


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trust")
    (folder / "shop").mkdir()
    (folder / "shop" / "__init__.py").write_text("")
    (folder / "shop" / "util.py").write_text(UTIL)
    (folder / "pipeline.py").write_text(PIPELINE)
    (folder / "pyproject.toml").write_text('[tool.assay]\nmodule = "pipeline"\n')
    _assay(folder, "materialize")
    return folder


@pytest.fixture
def project(template, tmp_path):
    folder = tmp_path / "project"
    shutil.copytree(template, folder)
    return folder


def plan(folder: Path, *args: str) -> dict:
    return json.loads(_assay(folder, "plan", "--json", *args))


def steps(planned: dict) -> dict:
    return {s["asset"]: (s["partitions"], set(s["reasons"])) for s in planned["steps"]}


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new))


def test_the_template_is_fresh(project):
    planned = plan(project)
    assert (planned["steps"], planned["waiting"], planned["out_of_date_checks"]) == ([], [], [])


def test_a_changed_helper_makes_its_readers_stale_and_why_names_it(project):
    edit(project / "shop" / "util.py", "statistics.mean(", "statistics.median(")
    assert steps(plan(project)) == {"typical": (None, {"code changed"})}
    why = _assay(project, "why", "typical")
    assert "helper `clean_amount` in shop/util.py changed" in why


def test_a_helper_comment_or_docstring_changes_nothing(project):
    edit(project / "shop" / "util.py", '"""The typical order', '# why\n    """The usual order')
    assert steps(plan(project)) == {}


def test_a_removed_static_key_makes_readers_of_every_partition_stale(project):
    edit(project / "pipeline.py", '["eu", "us", "apac"]', '["eu", "us"]')
    planned = plan(project)
    assert steps(planned) == {"all_regions": (None, {"upstream partitions removed"})}
    (detail,) = planned["steps"][0]["details"]
    assert detail["description"] == "upstream regional no longer has partitions it read (apac)"


def test_a_deleted_parquet_file_is_noticed_on_a_small_plan(project):
    (project / ".assay/storage/regional/partition=us/data.parquet").unlink()
    assert steps(plan(project)) == {
        "regional": ("us", {"stored data missing"}),
        "all_regions": (None, {"upstream stale"}),
    }
    _assay(project, "materialize")
    assert steps(plan(project)) == {}


def test_a_dropped_table_is_noticed_with_verify(project):
    with duckdb.connect(str(project / ".assay/warehouse.duckdb")) as con:
        con.execute("DROP TABLE main.in_warehouse")
    assert steps(plan(project)) == {}  # opening the warehouse is not free: only --verify
    assert steps(plan(project, "--verify")) == {"in_warehouse": (None, {"stored data missing"})}
    assert "in_warehouse\n  stored data missing (deleted outside assay)" in _assay(
        project, "plan", "--verify"
    )


def test_a_tightened_schema_puts_verdicts_out_of_date_not_a_year_of_partitions(project):
    """365 stored partitions still pass the new schema: nothing is recomputed, the
    plan says their verdicts are out of date, and `assay check` re-judges them."""
    edit(project / "pipeline.py", "pa.Field(ge=0)", "pa.Field(ge=1)")
    planned = plan(project)
    assert planned["steps"] == []
    (stale_check,) = planned["out_of_date_checks"]
    assert (stale_check["asset"], stale_check["check"], stale_check["changed"]) == (
        "daily",
        "schema",
        365,
    )
    text = _assay(project, "plan")
    assert (
        "! daily: schema changed since 365 stored partitions were judged: "
        "`assay check daily` judges them again"
    ) in text
    started = time.perf_counter()
    _assay(project, "check", "daily")
    seconds = time.perf_counter() - started
    print(f"\nre-judging 365 partitions with `assay check daily`: {seconds:.1f} s")
    assert plan(project)["out_of_date_checks"] == []


def test_a_schema_that_stored_data_fails_shows_as_a_failed_check_not_a_rerun(project):
    edit(project / "pipeline.py", "pa.Field(ge=0)", "pa.Field(ge=29)")
    _assay(project, "check", "daily", expect=1)
    planned = plan(project)
    assert planned["steps"] == []  # recomputing gives the same data: only --force reruns
    assert len(planned["failing_checks"]["daily"]) == 12 * 28  # days 1 to 28 of each month


def test_a_changed_check_threshold_is_out_of_date_until_checked_again(project):
    edit(project / "pipeline.py", "at_most_100 = at_most(100)", "at_most_100 = at_most(50)")
    (stale_check,) = plan(project)["out_of_date_checks"]
    assert (stale_check["asset"], stale_check["check"], stale_check["changed"]) == (
        "orders",
        "at_most",
        1,
    )
    _assay(project, "check", "orders")
    assert plan(project)["out_of_date_checks"] == []


def test_a_new_check_has_never_judged_the_stored_data(project):
    added = (
        '\n\n@asset_check(asset="regional")\n'
        "def has_sales(regional: pl.DataFrame) -> bool:\n"
        "    return regional.height > 0\n"
    )
    (project / "pipeline.py").write_text((project / "pipeline.py").read_text() + added)
    (new,) = plan(project)["out_of_date_checks"]
    assert (new["asset"], new["check"], new["unjudged"]) == ("regional", "has_sales", 3)
