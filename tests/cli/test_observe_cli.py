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


def test_observe_rejects_versions_that_are_not_strings_or_keys(make_project):
    root = make_project("sources")
    drop = drop_files(root)
    (drop / "2030-01-01.csv").write_text("amount\n1\n")
    result = CliRunner().invoke(main, ["observe", "exports"])
    assert result.exit_code == 2
    assert "partition key '2030-01-01' is not in daily partitions" in result.stderr
