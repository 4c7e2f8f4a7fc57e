import json
from pathlib import Path

import polars as pl
import pytest
from click.testing import CliRunner

from assay.cli.main import main


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, **kwargs)


def test_list_shows_every_asset_with_group_and_upstream(project_dir):
    result = invoke("list")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    header = ["asset", "group", "upstream", "partitions", "last", "run", "materialized", "checks"]
    assert lines[0].split() == header
    assert any(line.split()[:3] == ["joined", "out", "left,"] for line in lines)
    assert "never materialized" in result.output


def test_list_json_after_materialize_has_status_and_time(project_dir):
    assert invoke("materialize").exit_code == 0
    rows = json.loads(invoke("list", "--json", "+joined").output)
    assert [r["key"] for r in rows] == ["source", "left", "right", "joined"]
    joined = rows[-1]
    assert joined["upstream"] == ["left", "right"]
    assert joined["status"] == "fresh"
    assert joined["partitions"] == {"count": 1, "stored": 1, "stale": 0, "missing": 0}
    assert joined["last_run"]["status"] == "succeeded"
    assert joined["last_run"]["kind"] == "materialize"
    assert joined["last_materialization"] is not None
    assert rows[0]["owners"] == ["alice@example.com"]
    assert rows[0]["description"] == "Five numbers."


def test_list_counts_partitions_and_keeps_the_last_run_apart(make_project, monkeypatch):
    """Three days of ten failed once; materialized again, every partition is stored and
    fresh: the asset is fresh, and its last run says how that run went."""
    make_project("daily_chain")
    monkeypatch.setenv("FAIL_DAY", "2024-01-03")
    assert invoke("materialize", "events").exit_code == 1
    rows = {r["key"]: r for r in json.loads(invoke("list", "--json").output)}
    assert rows["events"]["partitions"] == {"count": 10, "stored": 9, "stale": 0, "missing": 1}
    assert rows["events"]["status"] == "stale"
    assert rows["events"]["last_run"]["failed"] == 1
    assert rows["events"]["last_run"]["steps"] == 10
    monkeypatch.delenv("FAIL_DAY")
    assert invoke("materialize", "events").exit_code == 0
    rows = {r["key"]: r for r in json.loads(invoke("list", "--json").output)}
    assert rows["events"]["partitions"] == {"count": 10, "stored": 10, "stale": 0, "missing": 0}
    assert rows["events"]["status"] == "fresh"
    assert rows["events"]["last_run"]["status"] == "succeeded"
    assert rows["events"]["last_run"]["steps"] == 1
    assert rows["daily_totals"]["status"] == "never materialized"
    text = invoke("list", "events", "daily_totals").output
    assert "10/10 stored" in text
    assert "0/10 stored" in text
    # a code change: every stored partition is stale, none is missing
    module = next(Path.cwd().glob("daily_chain_*.py"))
    module.write_text(module.read_text().replace("number * 10]", "number * 100]"))
    rows = {r["key"]: r for r in json.loads(invoke("list", "--json", "events").output)}
    assert rows["events"]["partitions"] == {"count": 10, "stored": 10, "stale": 10, "missing": 0}
    assert "10/10 stored, 10 stale" in invoke("list", "events").output


def test_materialize_runs_in_dependency_order_and_stores_outputs(project_dir):
    result = invoke("materialize")
    assert result.exit_code == 0, result.output
    order = [line.split()[1] for line in result.output.splitlines() if "✓" in line]
    assert order.index("source") < order.index("left") < order.index("joined")
    assert order.index("right") < order.index("joined")
    assert "succeeded (4 succeeded)" in result.output
    stored = pl.read_parquet(project_dir / ".assay/storage/joined/data.parquet")
    assert sorted(stored["n"].to_list()) == [1, 2, 2, 3, 4, 4, 5, 6, 8, 10]


def test_materialize_a_selection_runs_only_it(project_dir):
    result = invoke("materialize", "source+1")
    assert result.exit_code == 0, result.output
    assert "3 steps" in result.output
    assert (project_dir / ".assay/storage/left").exists()
    assert not (project_dir / ".assay/storage/joined").exists()


def test_missing_upstream_value_says_to_materialize_it(project_dir):
    result = invoke("materialize", "right")
    assert result.exit_code == 1
    assert "materialize it first (`assay materialize source`)" in result.stdout


def test_a_failing_step_skips_downstream_and_exits_1_in_one_line(make_project):
    make_project("failing")
    result = invoke("materialize")
    assert result.exit_code == 1
    assert "✗ boom  failed: ColumnNotFoundError" in result.stdout
    assert "(failing_" in result.stdout  # the location is the user's file, not polars'
    assert "- after  skipped: upstream 'boom' failed" in result.stdout
    assert "✓ independent" in result.stdout
    assert "Traceback" not in result.output
    assert result.stderr.startswith("Error: run ")
    assert "failed (2 succeeded, 1 failed, 1 skipped); see `assay runs show" in result.stderr


def test_graph_prints_mermaid_and_dot(project_dir):
    mermaid = invoke("graph").output
    assert mermaid.startswith("graph LR")
    assert 'n0["source"]' in mermaid
    assert "n0 --> n" in mermaid
    dot = invoke("graph", "--format", "dot", "+left").output
    assert '"source" -> "left";' in dot
    assert "joined" not in dot


@pytest.mark.parametrize(
    ("project", "args", "hint"),
    [
        ("cycle", ["list"], "assets form a cycle: a -> b -> c -> a. Remove one"),
        (
            "typo",
            ["materialize"],
            "input 'ordrs' of revenue matches no asset. Did you mean 'orders'?",
        ),
        (
            "diamond",
            ["list", "grop:raw"],
            "at column 1: unknown method 'grop:'. Did you mean 'group'?",
        ),
        ("diamond", ["materialize", "jioned"], "'jioned' matches no asset. Did you mean 'joined'?"),
    ],
    ids=["cycle", "unknown-input", "bad-selection", "unknown-asset"],
)
def test_user_errors_exit_2_with_a_hint_and_no_traceback(make_project, project, args, hint):
    make_project(project)
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {result.stderr.removeprefix('Error: ')}"
    assert hint in result.stderr
    assert "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) <= 2


def test_debug_adds_the_traceback(make_project):
    make_project("cycle")
    result = invoke("--debug", "list")
    assert result.exit_code == 2
    assert "Traceback" in result.stderr
    assert "Error: assets form a cycle" in result.stderr


def test_no_module_configured_says_how_to_configure_one(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ASSAY_MODULE", raising=False)
    result = invoke("list")
    assert result.exit_code == 2
    assert (
        "pass -m MODULE or -f FILE, set ASSAY_MODULE, or add [tool.assay] module" in result.stderr
    )


def test_module_that_does_not_import_is_named(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("list", "-m", "no_such_module_xyz")
    assert result.exit_code == 2
    assert "cannot import module 'no_such_module_xyz'" in result.stderr


def test_module_that_raises_on_import_points_at_the_line(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken_defs.py").write_text("import polars\n\nx = 1 / 0\n")
    result = invoke("list", "-f", "broken_defs.py")
    assert result.exit_code == 2
    assert "broken_defs.py:3: ZeroDivisionError: division by zero" in result.stderr


def test_file_option_env_variable_and_home_override(make_project, tmp_path, monkeypatch):
    root = make_project("diamond")
    module_file = next(root.glob("diamond_*.py"))
    other = tmp_path / "elsewhere"
    other.mkdir()
    monkeypatch.chdir(other)
    result = invoke(
        "materialize", "-f", str(module_file), "--home", str(tmp_path / "state"), "source"
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "state/storage/source/data.parquet").exists()
    monkeypatch.chdir(root)
    monkeypatch.setenv("ASSAY_HOME", str(tmp_path / "env-home"))
    monkeypatch.setenv("ASSAY_MODULE", module_file.stem)
    assert invoke("materialize", "source").exit_code == 0
    assert (tmp_path / "env-home/storage/source/data.parquet").exists()


def test_pyproject_home_setting_is_used(make_project):
    root = make_project("diamond", extra_toml='home = "state-here"\n')
    assert invoke("materialize", "source").exit_code == 0
    assert (root / "state-here/assay.duckdb").exists()


def test_every_output_kind_and_duckdb_io_work_through_the_cli(make_project):
    root = make_project("kinds")
    result = invoke("materialize")
    assert result.exit_code == 0, result.output
    assert (root / ".assay/warehouse.duckdb").exists()
    stored = pl.read_parquet(root / ".assay/storage/reader/data.parquet")
    assert stored["total"].to_list() == [12, 13]
