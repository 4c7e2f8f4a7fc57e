"""@multi_asset: one call per partition computes several assets, each stored, judged
and versioned as its own."""

import json
import os

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

import assay
from assay.cli.main import main


def invoke(*args, env=None):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)


def calls(root, prefix="split"):
    log = root / "calls.log"
    found = log.read_text().splitlines() if log.exists() else []
    return [line.rsplit(" ", 1)[0] for line in found if line.startswith(prefix)]


def test_one_call_stores_each_output_where_it_belongs(make_project):
    root = make_project("multi")
    result = invoke("materialize")
    assert result.exit_code == 0, result.output
    assert sorted(calls(root)) == ["split 2024-01-01", "split 2024-01-02", "split 2024-01-03"]
    prices = pl.read_parquet(root / ".assay/storage/prices/partition=2024-01-02/data.parquet")
    assert prices.columns == ["sku", "price"]
    with duckdb.connect(str(root / "warehouse.duckdb"), read_only=True) as con:
        rows = con.execute("SELECT count(*) FROM main.currencies").fetchone()
    assert rows == (6,)
    project = assay.load()
    assert project.graph.specs[assay.AssetKey.parse("currencies")].group == "reference"
    assert invoke("plan", "--exit-code").exit_code == 0
    checks = json.loads(invoke("check", "--json").output)
    assert {r["check"] for r in checks["results"]} >= {"known_currencies", "schema"}


def test_selecting_one_output_plans_and_stores_both(make_project):
    root = make_project("multi")
    planned = invoke("plan", "prices")
    assert "currencies  3 of 3 partitions" in planned.output
    assert (
        "computed with prices (@multi_asset split stores every output of a step: it cannot "
        "compute a subset)"
    ) in planned.output
    assert invoke("materialize", "+prices").exit_code == 0
    assert len(calls(root)) == 3  # once per partition, not once per output
    assert invoke("plan", "--exit-code", "prices", "currencies").exit_code == 0


def test_an_output_that_can_subset_computes_only_what_is_selected(make_project):
    root = make_project("multi")
    assert invoke("materialize", "small").exit_code == 0
    assert calls(root, "sizes") == ["sizes small"]
    assert (root / ".assay/storage/small/data.parquet").exists()
    assert not (root / ".assay/storage/large").exists()
    assert "large" in invoke("plan").output
    assert invoke("materialize", "small", "large", "--force").exit_code == 0
    assert calls(root, "sizes")[-1] == "sizes small,large"


def test_a_failed_schema_fails_only_its_output(make_project):
    root = make_project("multi")
    result = invoke("materialize", env={"NEGATIVE": "2024-01-02"})
    assert result.exit_code == 1
    assert "prices[2024-01-02]  failed" in result.output
    assert "currencies[2024-01-02]" in result.output
    assert (root / ".assay/storage/prices/partition=2024-01-01").exists()
    assert not (root / ".assay/storage/prices/partition=2024-01-02").exists()
    stale = json.loads(invoke("plan", "--json").output)["steps"]
    assert [(s["asset"], s["partitions"]) for s in stale] == [
        ("currencies", "2024-01-02"),  # stored, but computed again with prices
        ("prices", "2024-01-02"),
        ("report", "2024-01-02"),
    ]


def test_a_retry_computes_the_outputs_together(make_project, tmp_path):
    root = make_project("multi")
    result = invoke("materialize", "+prices", env={"FLAKY": str(tmp_path / "flaky")})
    assert result.exit_code == 0, result.output
    assert len(calls(root)) == 4  # one failed attempt, retried with both outputs


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ("short", "@multi_asset 'split' returned 1 values for its 2 outputs (prices, currencies)"),
        ("missing", "@multi_asset 'split' returned no 'currencies' (it returned prices)"),
    ],
)
def test_a_wrong_return_fails_every_output_with_one_message(make_project, shape, message):
    make_project("multi")
    result = invoke("materialize", "+prices", env={"SPLIT_RETURNS": shape})
    assert result.exit_code == 1
    assert message in result.output


def test_a_tuple_return_and_a_process_pool(make_project):
    root = make_project("multi")
    result = invoke(
        "materialize",
        "+report",
        "--executor",
        "multiprocess",
        "--workers",
        "2",
        env={"SPLIT_RETURNS": "tuple"},
    )
    assert result.exit_code == 0, result.output
    pids = {line.rsplit(" ", 1)[1] for line in (root / "calls.log").read_text().splitlines()}
    assert str(os.getpid()) not in pids
    report = pl.read_parquet(root / ".assay/storage/report/*/data.parquet")
    assert report.height == 3 * 4


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("@multi_asset(outs={})\ndef f(): ...", "outs= needs at least one output"),
        (
            "@multi_asset(outs={'a': AssetOut(key='x'), 'b': AssetOut(key='x')})\ndef f(): ...",
            "two outputs have the key 'x'",
        ),
        ("@multi_asset(outs={'a': 1})\ndef f(): ...", "output 'a' is 1; give AssetOut(...)"),
        (
            "@multi_asset(outs={'a': AssetOut(), 'b': AssetOut()})\ndef f(): ...\n"
            "defs = Definitions(assets=[f.specs[0]])",
            "asset 'a' is an output of @multi_asset 'f' but 'b', another, is not in the "
            "definitions",
        ),
    ],
    ids=["no-outs", "same-key", "not-an-out", "half"],
)
def test_multi_asset_mistakes_are_definition_errors(tmp_path, monkeypatch, code, message):
    (tmp_path / "pipeline.py").write_text(
        "from assay import AssetOut, Definitions, multi_asset\n" + code + "\n"
    )
    monkeypatch.chdir(tmp_path)
    result = invoke("list", "-f", "pipeline.py")
    assert result.exit_code == 2
    assert message in result.stderr, result.stderr


def test_a_multi_asset_is_selected_by_its_function_name(make_project):
    make_project("multi")
    planned = invoke("plan", "split", "--partition", "2024-01-01")
    assert planned.exit_code == 0, planned.output
    assert "prices  1 of 3 partitions" in planned.output
    assert "currencies  1 of 3 partitions" in planned.output
    assert not any(line.startswith("raw") for line in planned.output.splitlines())
