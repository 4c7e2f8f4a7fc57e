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
