import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from assay.cli.main import main
from tests.conftest import clean_env


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def shop(make_project, monkeypatch):
    for name in ("BAD_DAYS", "BIG", "FEW", "EXPLODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    root = make_project("quality")
    done = invoke("materialize", "+report", "--from", "2024-01-01", "--to", "2024-01-02")
    assert done.exit_code == 0, done.output
    assert "checks 3/3" in done.output  # the materialize line says how its checks went
    return root


def test_check_passes_with_exit_0_and_a_summary_per_asset(shop):
    result = invoke("check")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == [
        "asset", "checks", "partitions", "passed", "warned", "failed", "errored"
    ]  # fmt: skip
    assert lines[1].split() == ["orders", "schema", "2", "2", "0", "0", "0"]
    assert lines[2].split()[-5:] == ["2", "6", "0", "0", "0"]
    assert "Did not pass" not in result.output
    assert lines[-1] == "8 results: 8 passed."


def test_check_all_lists_every_result_without_dumping_assertions(shop):
    result = invoke("check", "--all")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["asset", "partition", "check", "severity", "status", "details"]
    schema = [line for line in lines if line.split()[:3] == ["orders", "2024-01-01", "schema"]]
    assert schema[0].split()[3:] == ["error", "(blocking)", "passed", "rows=3,", "8", "assertions"]
    assert "8 passed, 0 did not pass." in result.output


def test_only_what_did_not_pass_is_listed_with_its_partitions_folded(make_project, monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    for name in ("BAD_DAYS", "BIG", "FEW", "EXPLODE"):
        monkeypatch.delenv(name, raising=False)
    make_project("quality")
    assert invoke("materialize", "+report").exit_code == 0
    monkeypatch.setenv("BIG", "12")
    monkeypatch.setenv("EXPLODE", "1")
    result = invoke("check", "revenue")
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[1].split() == [
        "revenue", "revenue_not_too_big,", "enough_orders,", "explodes", "5", "5", "0", "5", "5"
    ]  # fmt: skip
    problems = lines[lines.index("Did not pass:") + 1 :]
    assert problems[0].split() == [
        "revenue", "revenue_not_too_big", "failed", "(error,", "blocking)", "5", "partitions:",
        "2024-01-01..2024-01-05", "(5)",
    ]  # fmt: skip
    assert problems[1].strip() == "max_revenue=16.0, limit=12.0"  # the same for all: once
    assert problems[2].split()[:4] == ["revenue", "explodes", "errored", "(error)"]
    # each says "cannot judge <its day>": one detail, with an example
    assert problems[3].strip().startswith("e.g. 2024-01-01: ValueError: cannot judge 2024-01-01")
    assert problems[5].startswith("15 results: 5 passed, 5 failed, 5 errored. (`--all` shows")
    assert len(lines) < 12
    assert all(len(line) < 200 for line in lines)  # nothing as JSON
    assert "Error: 10 error-severity check results failed" in result.stderr


def test_an_error_check_failing_exits_1_and_a_warning_does_not(shop, monkeypatch, tmp_path):
    monkeypatch.setenv("FEW", "5")
    warned = invoke("check", "revenue")
    assert warned.exit_code == 0, warned.output
    assert "enough_orders" in warned.output
    assert "failed" in warned.output

    monkeypatch.setenv("BIG", "12")
    report = tmp_path / "checks.xml"
    failed = invoke("check", "revenue", "-p", "2024-01-02", "--junit-xml", str(report))
    assert failed.exit_code == 1
    assert "max_revenue=16.0, limit=12.0" in failed.output
    assert "Error: 1 error-severity check result failed" in failed.output
    suites = ET.parse(report).getroot()
    cases = {case.get("name"): case for case in suites.iter("testcase")}
    assert set(cases) == {
        "revenue_not_too_big[2024-01-02]",
        "enough_orders[2024-01-02]",
        "explodes[2024-01-02]",
    }
    failure = cases["revenue_not_too_big[2024-01-02]"].find("failure")
    assert failure is not None
    assert "max_revenue=16.0" in failure.get("message", "")
    warning = cases["enough_orders[2024-01-02]"]
    assert warning.find("failure") is None
    assert warning.findtext("system-out", "").startswith("warning:")
    assert suites.find("testsuite").get("failures") == "1"

    data = json.loads(invoke("check", "revenue", "--json").stdout)
    assert {r["check"] for r in data["results"] if r["status"] != "passed"} == {
        "revenue_not_too_big",
        "enough_orders",
    }
    # list and plan mark the asset whose latest check failed
    listed = {row["key"]: row for row in json.loads(invoke("list", "--json").output)}
    assert listed["revenue"]["checks"]["failed"] == [
        "revenue_not_too_big[2024-01-01]",
        "revenue_not_too_big[2024-01-02]",
    ]
    assert "✗ 2 failed" in invoke("list").output
    plan = invoke("plan", "+report", "--from", "2024-01-01", "--to", "2024-01-02")
    assert "! revenue: latest check failed: revenue_not_too_big[2024-01-01]" in plan.output
    assert json.loads(invoke("plan", "--json").output)["failing_checks"]["revenue"]


def test_a_check_that_raises_is_an_error_not_a_crash(shop, monkeypatch):
    monkeypatch.setenv("EXPLODE", "1")
    result = invoke("check", "revenue", "-p", "2024-01-01")
    assert result.exit_code == 1
    assert "errored" in result.output
    assert "ValueError: cannot judge 2024-01-01" in result.output
    assert "Traceback" not in result.output


def test_nothing_stored_to_check_exits_2(make_project, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    make_project("quality")
    result = invoke("check")
    assert result.exit_code == 2
    assert "Error: nothing to check: orders, revenue have no stored materialization" in (
        result.output
    )
    plain = invoke("check", "report")
    assert "no selected asset has a schema or an @asset_check" in plain.output


def test_a_run_without_schemas_never_imports_pandera(project_dir):
    cmd = [sys.executable, "-X", "importtime", "-m", "assay", "materialize"]
    done = subprocess.run(cmd, capture_output=True, text=True, env=clean_env(), cwd=project_dir)
    assert done.returncode == 0, done.stderr
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines()}
    assert "polars" in imported
    assert "pandera" not in imported


def test_nothing_to_check_records_no_run(shop):
    runs = len(json.loads(invoke("runs", "--json").output))
    for args in (["report"], ["revenue", "-p", "2024-01-04"], ["report", "--json"]):
        result = invoke("check", *args)
        assert result.exit_code == 2, result.output
        assert "Error: nothing to check" in result.output
    assert json.loads(invoke("check", "report", "--json").output.split("\nError")[0]) == {
        "run_id": None,
        "results": [],
        "unchecked": [],
        "freshness": [],
    }
    assert len(json.loads(invoke("runs", "--json").output)) == runs


@pytest.mark.parametrize(
    "args",
    [
        ["report", "-p", "2024-01-09"],
        ["report", "--from", "2024-01-01", "--to", "nope"],
        ["-p", "x"],
    ],
    ids=["unchecked-asset", "bad-bound", "everything"],
)
def test_check_validates_partition_keys_like_every_command(shop, args):
    runs = len(json.loads(invoke("runs", "--json").output))
    result = invoke("check", *args)
    assert result.exit_code == 2, result.output
    assert result.output.startswith("Error: partition key ")
    assert "is not in daily partitions from 2024-01-01" in result.output
    assert "valid keys are 2024-01-01..2024-01-05 (5)" in result.output
    assert len(json.loads(invoke("runs", "--json").output)) == runs
