import json

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

from assay.cli.main import main


def invoke(*args, env=None):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)


def stored(root, key, partition):
    return pl.read_parquet(root / f".assay/storage/{key}/partition={partition}/data.parquet")


def test_every_partition_runs_and_mappings_deliver_the_right_inputs(make_project):
    root = make_project("daily_chain")
    result = invoke("materialize")
    assert result.exit_code == 0, result.output
    assert "events[2024-01-01]" in result.output
    assert stored(root, "events", "2024-01-03")["amount"].to_list() == [3, 30]
    assert stored(root, "rolling_week", "2024-01-01")["days"].to_list() == [1]
    assert stored(root, "rolling_week", "2024-01-10")["days"].to_list() == [7]
    assert stored(root, "rolling_week", "2024-01-10")["amount"].to_list() == [
        sum(range(4, 11)) * 11
    ]
    assert stored(root, "day_over_day", "2024-01-01")["rows_yesterday"].to_list() == [0]
    assert stored(root, "day_over_day", "2024-01-02")["rows_yesterday"].to_list() == [1]
    summary = pl.read_parquet(root / ".assay/storage/summary/data.parquet")
    assert summary.to_dicts() == [{"days": 10, "amount": sum(range(1, 11)) * 11}]
    assert stored(root, "daily_clicks", "2024-01-02").to_dicts() == [{"hours": 24, "clicks": 24}]
    con = duckdb.connect(str(root / ".assay/warehouse.duckdb"), read_only=True)
    try:
        rows = con.execute(
            "SELECT count(*), count(DISTINCT _partition) FROM main.warehouse_totals"
        ).fetchall()
    finally:
        con.close()
    assert rows == [(10, 10)]


def test_from_to_and_repeated_partition_pick_those_partitions(make_project):
    make_project("daily_chain")
    result = invoke("materialize", "events", "--from", "2024-01-03", "--to", "2024-01-05")
    assert result.exit_code == 0, result.output
    assert "3 steps" in result.output
    result = invoke("materialize", "events", "-p", "2024-01-07", "--partition", "2024-01-09")
    assert "2 steps" in result.output
    runs = json.loads(invoke("runs", "--json").output)
    assert runs[0]["selection"] == "events [2024-01-07, 2024-01-09]"


def test_a_day_range_selects_the_hours_of_an_hourly_asset(make_project):
    make_project("daily_chain")
    result = invoke("materialize", "clicks", "--from", "2024-01-02", "--to", "2024-01-02")
    assert result.exit_code == 0, result.output
    assert "24 steps" in result.output


def test_a_failed_partition_skips_only_the_partitions_that_read_it(make_project):
    make_project("daily_chain")
    result = invoke("materialize", "events+", env={"FAIL_DAY": "2024-01-05"})
    assert result.exit_code == 1
    out = result.stdout
    assert "✗ events[2024-01-05]  failed: RuntimeError: no export for 2024-01-05" in out
    assert (
        "- daily_totals[2024-01-05]  skipped: upstream 'events' partition 2024-01-05 failed" in out
    )
    assert "✓ daily_totals[2024-01-06]" in out
    assert "✓ rolling_week[2024-01-04]" in out
    for day in range(5, 11):
        assert f"- rolling_week[2024-01-{day:02d}]  skipped" in out
    assert "- day_over_day[2024-01-06]  skipped" in out
    assert "✓ day_over_day[2024-01-07]" in out
    assert "- summary  skipped: upstream 'daily_totals' partition 2024-01-05 skipped" in out


def test_provenance_records_what_each_partition_read(make_project):
    root = make_project("daily_chain")
    assert invoke("materialize").exit_code == 0
    con = duckdb.connect(str(root / ".assay/assay.duckdb"), read_only=True)
    try:
        (prov,) = con.execute(
            "SELECT provenance FROM asset_partitions WHERE asset_key = 'rolling_week' "
            "AND partition_key = '2024-01-10'"
        ).fetchall()[0]
        explicit = con.execute(
            "SELECT data_version FROM asset_partitions WHERE asset_key = 'warehouse_totals' "
            "AND partition_key = '2024-01-02'"
        ).fetchall()
        signature = con.execute(
            "SELECT DISTINCT inputs_signature FROM materializations WHERE asset_key = 'summary'"
        ).fetchall()
    finally:
        con.close()
    read = json.loads(prov)["daily_totals"]
    assert read["partitions"] == "2024-01-04..2024-01-10 (7)"
    assert read["count"] == 7
    assert read["unknown"] == 0
    assert explicit == [("v-2024-01-02",)]
    assert signature == [("daily_totals",)]


@pytest.mark.parametrize(
    ("args", "hint"),
    [
        (["-p", "2023-12-31"], "valid keys are 2024-01-01..2024-01-10 (10)"),
        (["-p", "../x"], "may not be '.' or '..' nor contain '/'"),
        (["-p", "a/b"], "contain '/'"),
        (["-p", ""], "cannot be empty"),
        (["-p", "bad\x01key"], "control characters"),
        (
            ["--from", "2024-01-05", "--to", "2024-01-02"],
            "comes after --to '2024-01-02': swap them",
        ),
        (["--from", "2024-01-05"], "--from and --to go together"),
    ],
    ids=["outside", "dotdot", "slash", "empty", "control", "reversed", "half-range"],
)
def test_bad_partition_arguments_exit_2_with_a_hint_and_write_nothing(make_project, args, hint):
    root = make_project("daily_chain")
    result = invoke("materialize", "events", *args)
    assert result.exit_code == 2, result.output
    assert hint in result.stderr
    assert not (root / ".assay/storage").exists()
    assert not (root / ".assay/journal").exists()


def test_incompatible_definitions_fail_at_load_naming_the_edge(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad_mapping.py").write_text(
        "import polars as pl\n"
        "from assay import DailyPartitions, StaticPartitions, asset\n\n"
        "@asset(partitions=StaticPartitions(['eu', 'us']))\n"
        "def regions() -> pl.DataFrame:\n    return pl.DataFrame({'x': [1]})\n\n"
        "@asset(partitions=DailyPartitions(start='2024-01-01'))\n"
        "def daily(regions: pl.DataFrame) -> pl.DataFrame:\n    return regions\n"
    )
    result = CliRunner().invoke(main, ["plan", "-f", "bad_mapping.py"])
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "Error: daily reading regions: no default partition mapping from static partitions"
    )
    assert "give the input AssetIn(partition_mapping=...)" in result.stderr
    assert not (tmp_path / ".assay").exists()


def test_a_step_reading_no_partition_of_an_upstream_in_the_run_waits_for_its_first(
    make_project,
):
    """Its empty input has the upstream's columns however the workers are ordered:
    with two free workers it would otherwise start beside the upstream's first step."""
    root = make_project("zero_reads")
    result = invoke("materialize", "--executor", "multiprocess", "--workers", "2")
    assert result.exit_code == 0, result.output
    first = stored(root, "day_over_day", "2024-01-01")
    assert first.to_dicts() == [{"columns": "day,amount", "rows": 0}]
    assert stored(root, "day_over_day", "2024-01-02")["rows"].to_list() == [1]


def test_a_step_following_a_failed_upstream_step_waits_for_the_next_one(make_project):
    root = make_project("zero_reads")
    result = invoke(
        "materialize",
        "--executor",
        "multiprocess",
        "--workers",
        "2",
        env={"FAIL_DAY": "2024-01-01"},
    )
    assert result.exit_code == 1, result.output
    first = stored(root, "day_over_day", "2024-01-01")
    assert first.to_dicts() == [{"columns": "day,amount", "rows": 0}]
    assert "day_over_day[2024-01-02]" in result.output  # skipped: it reads the failed one
    assert not (root / ".assay/storage/day_over_day/partition=2024-01-02").exists()
