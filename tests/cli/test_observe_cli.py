import json
import os
import time

from click.testing import CliRunner

from assay.cli.main import main


def invoke(*args, env=None):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)


def drop_files(root, days=("2024-01-01", "2024-01-02", "2024-01-03")):
    drop = root / "drop"
    drop.mkdir(exist_ok=True)
    for day in days:
        (drop / f"{day}.csv").write_text("amount\n1\n2\n")
    (drop / "rates.txt").write_text("eur=1.0\n")
    return drop


def test_observe_records_versions_and_a_change_makes_downstream_stale(make_project):
    root = make_project("sources")
    drop = drop_files(root)
    observed = invoke("observe", "--json")
    assert observed.exit_code == 0, observed.output
    rows = json.loads(observed.output)
    assert {(r["asset"], r["partition"]) for r in rows} == {
        ("exports", "2024-01-01"),
        ("exports", "2024-01-02"),
        ("exports", "2024-01-03"),
        ("rates", None),
    }
    assert invoke("materialize").exit_code == 0
    assert invoke("plan", "--exit-code").exit_code == 0
    assert "sources" not in invoke("plan").output  # sources are observed, never planned
    time.sleep(0.01)
    (drop / "2024-01-02.csv").write_text("amount\n5\n")
    os.utime(drop / "2024-01-02.csv", ns=(time.time_ns(), time.time_ns()))
    assert invoke("plan", "--exit-code").exit_code == 0  # not observed yet: unknown
    invoke("observe", "exports")
    plan = json.loads(invoke("plan", "--json").output)["steps"]
    assert [(s["asset"], s["partitions"], s["reasons"]) for s in plan] == [
        ("loaded", "2024-01-02", ["source changed"])
    ]
    why = invoke("why", "loaded", "-p", "2024-01-02").output
    assert "source exports changed in 2024-01-02  (root cause)" in why


def test_an_unchanged_observation_changes_nothing(make_project):
    root = make_project("sources")
    drop_files(root)
    invoke("observe")
    invoke("materialize")
    invoke("observe")
    assert invoke("plan", "--exit-code").exit_code == 0


def test_a_changed_unpartitioned_source_reaches_every_partition(make_project):
    root = make_project("sources")
    drop = drop_files(root)
    invoke("observe")
    invoke("materialize")
    (drop / "rates.txt").write_text("eur=1.1\n")
    invoke("observe", "rates")
    (step,) = json.loads(invoke("plan", "--json").output)["steps"]
    assert step["partitions"] == "2024-01-01..2024-01-03 (3)"
    assert step["reasons"] == ["source changed"]


def test_a_failing_observe_function_records_nothing(make_project):
    root = make_project("sources")
    drop_files(root)
    result = CliRunner().invoke(main, ["observe"], env={"OBSERVE_FAIL": "1"})
    assert result.exit_code == 2
    assert result.stderr.startswith(
        "Error: observing exports failed: OSError: drop folder is not mounted"
    )
    assert "nothing was recorded. Fix the observe function" in result.stderr
    assert not (root / ".assay/journal").exists()


def test_a_key_outside_the_partitions_is_left_out_with_one_warning(make_project, caplog):
    """A file for a day past the definition (today's, whose window is open) used to
    fail the whole observation: every other observation is recorded."""
    root = make_project("sources")
    drop = drop_files(root)
    (drop / "2030-01-01.csv").write_text("amount\n1\n")
    (drop / "2030-01-02.csv").write_text("amount\n1\n")
    result = invoke("observe", "--json")
    assert result.exit_code == 0, result.output
    recorded = {(r["asset"], r["partition"]) for r in json.loads(result.output)}
    assert ("exports", "2024-01-03") in recorded
    assert not {p for _, p in recorded} & {"2030-01-01", "2030-01-02"}
    warned = [r.getMessage() for r in caplog.records if "outside its partitions" in r.getMessage()]
    assert warned == [
        "exports: left out 2 partition keys outside its partitions (2030-01-01, 2030-01-02): "
        "they are observed once they are in the definition (a time window, once it has closed)"
    ]


def test_partitions_whose_source_file_has_not_landed_wait_and_do_not_fail(make_project):
    root = make_project("sources")
    drop_files(root, days=("2024-01-01", "2024-01-02"))  # 2024-01-03 not there yet
    invoke("observe")
    planned = json.loads(invoke("plan", "--json").output)
    assert [(s["asset"], s["partitions"]) for s in planned["steps"]] == [
        ("loaded", "2024-01-01..2024-01-02 (2)")
    ]
    assert [(w["asset"], w["partitions"]) for w in planned["waiting"]] == [("loaded", "2024-01-03")]
    assert "… loaded: 2024-01-03: waiting for source exports (2024-01-03) (not run)" in (
        invoke("plan").output
    )
    result = invoke("materialize")
    assert result.exit_code == 0, result.output  # nothing fails: the waiting day is not run
    assert invoke("plan", "--exit-code").exit_code == 0
    drop_files(root, days=("2024-01-03",))
    invoke("observe")
    (step,) = json.loads(invoke("plan", "--json").output)["steps"]
    assert (step["partitions"], step["reasons"]) == ("2024-01-03", ["missing"])


def test_a_deleted_source_file_is_recorded_absent_and_its_readers_wait(make_project, caplog):
    root = make_project("sources")
    drop = drop_files(root)
    invoke("observe")
    assert invoke("materialize").exit_code == 0
    (drop / "2024-01-02.csv").unlink()
    result = invoke("observe", "--json")
    assert result.exit_code == 0
    assert "exports partition 2024-01-02 is no longer there: recorded absent, its readers wait" in (
        caplog.text
    )
    planned = json.loads(invoke("plan", "--json").output)
    assert planned["steps"] == []
    assert [(w["asset"], w["partitions"]) for w in planned["waiting"]] == [("loaded", "2024-01-02")]
    why = invoke("why", "loaded", "-p", "2024-01-02").output
    assert why.startswith("loaded [2024-01-02]: waiting for source")
    assert "observed absent (its observe function no longer returns it)  (root cause)" in why
    invoke("observe")  # absent again: nothing new is recorded as gone
    assert [(w["asset"]) for w in json.loads(invoke("plan", "--json").output)["waiting"]] == [
        "loaded"
    ]
