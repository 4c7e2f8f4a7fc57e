import json

from click.testing import CliRunner

from assay.cli.main import main


def invoke(*args, env=None):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)


def test_plan_lists_missing_partitions(make_project):
    make_project("daily_chain")
    result = invoke("plan", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["steps"][0]["reasons"] == ["missing"]
    events = next(s for s in plan["steps"] if s["asset"] == "events")
    assert events["partitions"] == "2024-01-01..2024-01-10 (10)"
    assert plan["partition_count"] > 50


def test_plan_folds_ranges_and_names_upstream_reasons(make_project):
    make_project("daily_chain")
    text = invoke("plan", "daily_totals").output.splitlines()
    # never built: missing, and nothing about its stale upstream (it is built anyway)
    assert text == [
        "daily_totals  10 of 10 partitions",
        "  2024-01-01..2024-01-10 (10): missing",
        "",
        "1 asset, 10 asset partitions to materialize.",
    ]
    details = json.loads(invoke("plan", "daily_totals", "--json").output)["steps"][0]
    assert details["reasons"] == ["missing"]


def test_plan_reasons_hold_for_the_selected_partitions_and_name_whose(make_project):
    root = make_project("daily_chain")
    assert invoke("materialize").exit_code == 0
    module = next(root.glob("daily_chain_*.py"))
    module.write_text(module.read_text().replace("number * 10]", "number * 100]"))
    assert invoke("materialize", "events", "-p", "2024-01-03", "-p", "2024-01-04").exit_code == 0
    whole = invoke("plan", "daily_totals").output
    changed = "upstream events changed in 2024-01-03..2024-01-04 (2)"
    assert f"  2024-01-03..2024-01-04 (2): {changed}" in whole
    one = invoke("plan", "rolling_week", "-p", "2024-01-05").output.splitlines()
    assert one[0] == "rolling_week  1 of 10 partitions"
    # not the 10 partitions of the reason, nor daily_totals' 10 stale ones: what 01-05 reads
    assert one[1] == "  2024-01-05: upstream daily_totals is stale in 2024-01-01..2024-01-05 (5)"
    both = invoke("plan", "daily_totals", "-p", "2024-01-04", "-p", "2024-01-05").output
    assert "  2024-01-04: upstream events changed in 2024-01-04" in both
    assert "  2024-01-05: upstream events is stale in 2024-01-05" in both
    step = json.loads(invoke("plan", "rolling_week", "-p", "2024-01-05", "--json").output)
    assert step["steps"][0]["details"][0]["partitions"] == "2024-01-05"


def test_materialize_runs_the_plan_then_nothing_is_left(make_project):
    make_project("daily_chain")
    assert invoke("materialize").exit_code == 0
    assert invoke("plan", "--exit-code").exit_code == 0
    assert "Nothing to do" in invoke("plan").output
    again = invoke("materialize")
    assert again.exit_code == 0
    assert "Nothing to materialize: everything selected is fresh" in again.output
    forced = invoke("materialize", "events", "-p", "2024-01-02", "--force")
    assert "1 steps" in forced.output


def test_plan_exit_code_fails_ci_when_something_is_stale(make_project):
    make_project("daily_chain")
    result = invoke("plan", "--exit-code")
    assert result.exit_code == 1


def test_why_traces_reasons_to_the_root_cause(make_project):
    make_project("daily_chain")
    invoke("materialize")
    invoke("materialize", "events", "-p", "2024-01-04", "--force", env={"FAIL_DAY": "x"})
    fresh = invoke("why", "rolling_week", "-p", "2024-01-04")
    assert fresh.exit_code == 0, fresh.output
    assert fresh.output.startswith("rolling_week [2024-01-04]: fresh")
    assert "stored: data version" in fresh.output


def test_why_after_a_code_change(make_project):
    root = make_project("daily_chain")
    invoke("materialize")
    module = next(root.glob("daily_chain_*.py"))
    module.write_text(module.read_text().replace("number * 10]", "number * 1000]"))
    result = invoke("why", "rolling_week", "-p", "2024-01-04", "--json")
    assert result.exit_code == 0, result.output
    why = json.loads(result.output)
    assert why["state"] == "stale"
    assert all(cause.startswith("events [2024-01-0") for cause in why["root_causes"])
    assert "code version changed" in why["root_causes"][0]


def test_why_errors(make_project):
    make_project("daily_chain")
    missing = CliRunner().invoke(main, ["why", "rolling_week"])
    assert missing.exit_code == 2
    assert (
        "rolling_week is partitioned: give --partition KEY "
        "(valid keys are 2024-01-01..2024-01-10 (10))" in missing.stderr
    )
    extra = CliRunner().invoke(main, ["why", "summary", "-p", "2024-01-01"])
    assert extra.exit_code == 2
    assert "summary is not partitioned: leave out --partition" in extra.stderr
    outside = CliRunner().invoke(main, ["why", "events", "-p", "2025-01-01"])
    assert "valid keys are 2024-01-01..2024-01-10 (10)" in outside.stderr
