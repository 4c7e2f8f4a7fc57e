"""A plan is the thing you apply: exactly its steps, refused once what it covers moved."""

import json

import pytest
from click.testing import CliRunner

import assay
from assay.cli.main import main
from assay.errors import PlanError


def invoke(*args, **kwargs):
    return CliRunner().invoke(main, list(args), **kwargs)


@pytest.fixture
def chain(make_project):
    return make_project("stale_chain")


def test_materialize_applies_exactly_the_plan_it_is_given(chain):
    plan = assay.load().plan("root", partitions=["2024-01-02", "2024-01-05"])
    assert [str(s.key) for s in plan.steps] == ["root"]
    result = assay.load().materialize(plan)
    assert result.success
    assert sorted(s.step_key for s in result.steps) == ["root[2024-01-02]", "root[2024-01-05]"]


def test_a_plan_made_before_a_run_changed_what_it_covers_is_refused(chain):
    plan = assay.load().plan("+left", partitions=["2024-01-03"])
    assert assay.load().materialize("root", partitions=["2024-01-03"]).success
    with pytest.raises(PlanError, match=r"the plan is out of date: .* plan again"):
        assay.load().materialize(plan)


def test_a_plan_made_with_other_code_is_refused(chain):
    plan = assay.load().plan("+left")
    (module,) = chain.glob("stale_chain_*.py")
    source = module.read_text()
    module.write_text(source.replace('v=pl.col("v") + 1', 'v=pl.col("v") + 2'))
    with pytest.raises(PlanError, match="made with other code"):
        assay.load().materialize(plan)


def test_plan_json_can_be_applied_with_materialize_plan(chain, tmp_path):
    planned = invoke("plan", "+left", "--from", "2024-01-01", "--to", "2024-01-02", "--json")
    assert planned.exit_code == 0, planned.output
    data = json.loads(planned.stdout)
    assert data["format"] == 1
    assert {s["asset"]: s["ranges"] for s in data["steps"]} == {
        "root": [["2024-01-01", "2024-01-02"]],
        "left": [["2024-01-01", "2024-01-02"]],
    }
    path = tmp_path / "plan.json"
    path.write_text(planned.stdout)
    applied = invoke("materialize", "--plan", str(path))
    assert applied.exit_code == 0, applied.output
    assert "4 succeeded" in applied.output
    again = invoke("materialize", "--plan", str(path))
    assert again.exit_code == 2
    assert "out of date" in again.stderr
    assert len(again.stderr.strip().splitlines()) == 1


def test_plan_from_stdin_and_the_usage_errors_of_plan(chain):
    planned = invoke("plan", "root", "-p", "2024-01-01", "--json").stdout
    applied = invoke("materialize", "--plan", "-", input=planned)
    assert applied.exit_code == 0, applied.output
    mixed = invoke("materialize", "root", "--plan", "-", input=planned)
    assert mixed.exit_code == 2
    assert "--plan applies the plan as it is" in mixed.stderr
    garbage = invoke("materialize", "--plan", "-", input="{not json")
    assert garbage.exit_code == 2
    assert "is not JSON" in garbage.stderr
    other = invoke("materialize", "--plan", "-", input='{"steps": []}')
    assert other.exit_code == 2
    assert "is not a plan written by `assay plan --json`" in other.stderr


def test_a_plan_naming_an_asset_the_project_no_longer_has_is_refused(chain):
    data = json.loads(invoke("plan", "root", "-p", "2024-01-01", "--json").stdout)
    data["steps"][0]["asset"] = "gone"
    result = invoke("materialize", "--plan", "-", input=json.dumps(data))
    assert result.exit_code == 2
    assert "names asset 'gone', which the project no longer has" in result.stderr


def test_backfill_start_takes_a_plan_too(chain):
    planned = invoke("plan", "+left", "-p", "2024-01-04", "--json").stdout
    started = invoke("backfill", "start", "--plan", "-", input=planned)
    assert started.exit_code == 0, started.output
    assert "completed: 2 succeeded" in started.output


def test_a_materialization_with_nothing_to_do_records_no_run(chain):
    assert invoke("materialize").exit_code == 0
    runs = json.loads(invoke("runs", "--json").stdout)
    again = invoke("materialize")
    assert again.exit_code == 0
    assert "Nothing to materialize" in again.output
    assert len(json.loads(invoke("runs", "--json").stdout)) == len(runs)
