import json

from click.testing import CliRunner

from assay.cli.main import main


def invoke(*args):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_runs_lists_newest_first_with_counts(project_dir):
    invoke("materialize", "source")
    invoke("materialize")
    rows = json.loads(invoke("runs", "--json").output)
    assert [r["step_count"] for r in rows] == [3, 1]  # source is fresh: the plan skips it
    assert rows[0]["status"] == "succeeded"
    assert rows[0]["succeeded_count"] == 3
    assert rows[1]["selection"] == "source"
    assert rows[0]["user_name"]
    assert rows[0]["host"]
    table = invoke("runs").output
    assert rows[0]["run_id"][:8] in table
    assert "3/3" in table


def test_runs_show_has_step_logs_from_context_and_logging(project_dir):
    invoke("materialize")
    run_id = json.loads(invoke("runs", "--json").output)[0]["run_id"]
    shown = invoke("runs", "show", run_id[:6])
    assert shown.exit_code == 0, shown.output
    assert "doubling 1-column input" in shown.output
    assert "standard logging reaches the step log" in shown.output
    details = json.loads(invoke("runs", "show", run_id, "--json").output)
    right_logs = [log for log in details["logs"] if log["step_key"] == "right"]
    assert [log["level"] for log in right_logs] == ["INFO", "WARNING"]


def test_runs_show_keeps_the_traceback_of_a_failed_step(make_project):
    make_project("failing")
    invoke("materialize")
    run_id = json.loads(invoke("runs", "--json").output)[0]["run_id"]
    details = json.loads(invoke("runs", "show", run_id, "--json").output)
    steps = {s["step_key"]: s for s in details["steps"]}
    assert steps["boom"]["status"] == "failed"
    assert "Traceback (most recent call last)" in steps["boom"]["traceback"]
    assert "missing_column" in steps["boom"]["traceback"]
    assert steps["after"]["skip_reason"] == "upstream 'boom' failed"
    shown = invoke("runs", "show", run_id).output
    assert "Traceback" in shown
    assert "about to divide" in shown


def test_unknown_run_id_exits_2_with_a_hint(project_dir):
    invoke("materialize", "source")
    result = CliRunner().invoke(main, ["runs", "show", "zzzz"])
    assert result.exit_code == 2
    assert "no run matches 'zzzz'. Run `assay runs` to list recent runs." in result.stderr


def test_runs_before_any_run(project_dir):
    result = invoke("runs")
    assert result.exit_code == 0
    assert "No runs yet" in result.output


def test_runs_say_their_kind_and_what_they_did_and_filter_by_both(make_project):
    make_project("quality")
    assert invoke("materialize", "+revenue", "-p", "2024-01-01").exit_code == 0
    assert invoke("check", "revenue", "-p", "2024-01-01").exit_code == 0
    rows = json.loads(invoke("runs", "--json").output)
    assert [r["kind"] for r in rows] == ["check", "materialize"]
    checked = rows[0]
    assert (checked["check_count"], checked["checks_passed"], checked["checked_partitions"]) == (
        3,
        3,
        1,
    )
    table = invoke("runs").output.splitlines()
    assert table[0].split() == [
        "run", "kind", "status", "started", "duration", "did", "selection", "user"
    ]  # fmt: skip
    assert "3/3 checks passed" in table[1]
    assert "revenue [2024-01-01]" in table[1]  # what it checked, without "assay check"
    assert "2/2 steps" in table[2]
    only = json.loads(invoke("runs", "--kind", "materialize", "--json").output)
    assert [r["kind"] for r in only] == ["materialize"]
    assert json.loads(invoke("runs", "--status", "failed", "--json").output) == []
    assert "No runs of that kind and status yet" in invoke("runs", "--status", "died").output
    shown = invoke("runs", "show", checked["run_id"][:8]).output
    assert "checks: 3 results on 1 asset partition: 3 passed" in shown


def test_an_observe_run_records_what_it_observed(make_project):
    root = make_project("sources")
    (root / "drop").mkdir()
    (root / "drop" / "2024-01-01.csv").write_text("amount\n1\n")
    (root / "drop" / "rates.txt").write_text("eur=1.0\n")
    assert invoke("observe").exit_code == 0
    (run,) = json.loads(invoke("runs", "--json").output)
    assert run["kind"] == "observe"
    assert run["selection"] == "observe exports rates"  # not every asset of the project
    assert (run["observation_count"], run["observed_assets"]) == (2, 2)
    assert "2 observed" in invoke("runs").output


def test_runs_show_summarizes_a_large_run_and_folds_its_failures(make_project, monkeypatch):
    make_project("daily_chain")
    monkeypatch.setenv("FAIL_DAY", "2024-01-03")
    result = CliRunner().invoke(main, ["materialize", "events+"])
    assert result.exit_code == 1
    run_id = json.loads(invoke("runs", "--json").output)[0]["run_id"]
    shown = invoke("runs", "show", run_id[:8]).output
    lines = shown.splitlines()
    assert len(lines) < 40
    assert any(line.startswith("  steps: ") and "1 failed" in line for line in lines)
    assert any(line.startswith("  slowest: ") for line in lines)
    failed = lines.index("Failed (1):")
    assert lines[failed + 1].split()[:2] == ["events", "2024-01-03"]
    assert "RuntimeError at " in lines[failed + 1]
    skipped = next(line for line in lines if line.startswith("Skipped ("))
    assert skipped.startswith("Skipped (")
    # skipped steps of one asset that read the same upstream fold into ranges
    folded = [line for line in lines if "upstream 'events' failed" in line]
    assert folded
    assert "RuntimeError: no export for 2024-01-03" in shown  # the error, then its traceback
    assert "Traceback (most recent call last)" in shown
    # filters
    only = invoke("runs", "show", run_id[:8], "--failed").output
    assert "events[2024-01-03]  failed" in only
    assert "daily_totals" not in only
    step = invoke("runs", "show", run_id[:8], "--step", "events[2024-01-04]").output
    assert "events[2024-01-04]  succeeded" in step
    asset = json.loads(invoke("runs", "show", run_id[:8], "--step", "events", "--json").output)
    assert len(asset["steps"]) == 10
    none = invoke("runs", "show", run_id[:8], "--step", "event[2024-01-04]")
    assert none.exit_code == 2
    assert "Did you mean 'events[2024-01-04]'?" in none.output


def test_steps_leave_logging_as_they_found_it(project_dir):
    # A step lowers the root logger to INFO only while it runs; only an asset that
    # takes a context gets a logger of its own (one per asset would make every
    # step's level change cost in proportion to the project's assets).
    import logging

    root = logging.getLogger()
    before, known = root.level, set(logging.root.manager.loggerDict)
    root.setLevel(logging.ERROR)
    try:
        invoke("materialize")
        assert root.level == logging.ERROR
    finally:
        root.setLevel(before)
    made = {name for name in logging.root.manager.loggerDict if name.startswith("assay.asset.")}
    assert made - known <= {"assay.asset.right"}  # the one that takes a context
    run_id = json.loads(invoke("runs", "--json").output)[0]["run_id"]
    details = json.loads(invoke("runs", "show", run_id, "--json").output)
    assert [log["level"] for log in details["logs"] if log["step_key"] == "right"] == [
        "INFO",
        "WARNING",
    ]
