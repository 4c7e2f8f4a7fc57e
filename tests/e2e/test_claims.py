"""Claims across processes: a run key runs at most once (and a failed one can be retried on
purpose); two runs never compute one asset partition at once; a dead run's claim goes
with it."""

import json
import signal

import duckdb
import pytest
from click.testing import CliRunner

from assay.cli.main import main
from assay.state.claims import claim_run_key, retry_run_key
from assay.state.journal import Journal, JournalWriteError
from tests.conftest import wait_for
from tests.e2e.test_backfill_interruptions import start

pytestmark = pytest.mark.slow


def invoke(*args, **env):
    return CliRunner().invoke(main, list(args), env=env or None)


def materialized(root):
    with duckdb.connect(str(root / ".assay" / "assay.duckdb"), read_only=True) as con:
        return con.execute(
            "SELECT asset_key, partition_key, count(*) FROM materializations GROUP BY ALL"
        ).fetchall()


def test_a_run_key_runs_once_and_the_second_caller_is_told_who_holds_it(make_project):
    make_project("diamond")
    first = invoke("materialize", "--run-key", "nightly:2024-06-01")
    assert first.exit_code == 0, first.output
    again = invoke("materialize", "--force", "--run-key", "nightly:2024-06-01")
    assert again.exit_code == 0, again.output
    assert "Run key 'nightly:2024-06-01' is held by run" in again.output
    assert "(succeeded): nothing to do" in again.output
    runs = json.loads(invoke("runs", "--json").stdout)
    assert [r["run_key"] for r in runs] == ["nightly:2024-06-01"]


def test_many_processes_claiming_one_key_at_once_run_it_once(make_project):
    root = make_project("slow")
    processes = [
        start(root, "materialize", "step_00", "--run-key", "k1", SLOW_STEP_S="0.2")
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120) for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], outputs
    held = [out for out, _ in outputs if "is held by run" in out]
    assert len(held) == 3
    assert [n for *_, n in materialized(root)] == [1]


def test_a_failed_keyed_run_is_retried_under_its_key_once(make_project, monkeypatch):
    root = make_project("backfill_chain")
    monkeypatch.setenv("FAIL_DAYS", "2024-01-02")
    failed = invoke("materialize", "raw", "--from", "2024-01-01", "--to", "2024-01-03",
                    "--run-key", "daily:raw")  # fmt: skip
    assert failed.exit_code == 1
    run_id = json.loads(invoke("runs", "--json").stdout)[0]["run_id"]
    monkeypatch.delenv("FAIL_DAYS")
    retried = invoke("runs", "retry", run_id[:8])
    assert retried.exit_code == 0, retried.output
    assert "1 succeeded" in retried.output or "(1 steps)" in retried.output
    runs = json.loads(invoke("runs", "--json").stdout)
    assert [r["run_key"] for r in runs] == ["daily:raw", "daily:raw"]
    assert runs[0]["status"] == "succeeded"
    again = invoke("runs", "retry", run_id[:8])  # the key moved on: nothing to retry
    assert again.exit_code == 2
    assert "held by run" in again.stderr
    assert invoke("runs", "retry", runs[0]["run_id"][:8]).exit_code == 2  # it succeeded
    assert sorted(p for _, p, _ in materialized(root)) == ["2024-01-01", "2024-01-02", "2024-01-03"]


def test_a_run_key_claim_is_exclusive_and_a_retry_needs_the_holder(tmp_path):
    first = claim_run_key(tmp_path, "k", "run-1")
    assert first.is_new
    second = claim_run_key(tmp_path, "k", "run-2")
    assert (second.is_new, second.run_id) == (False, "run-1")
    retried = retry_run_key(tmp_path, "k", "run-3", replacing="run-1")
    assert (retried.is_new, retried.generation) == (True, 2)
    late = retry_run_key(tmp_path, "k", "run-4", replacing="run-3")
    assert late.generation == 3
    from assay.errors import StateError

    with pytest.raises(StateError, match="held by run run-4, not by run run-1"):
        retry_run_key(tmp_path, "k", "run-5", replacing="run-1")


def test_a_run_id_is_journaled_once(tmp_path):
    with Journal(tmp_path / "journal", "r1") as journal:
        journal.append({"type": "run", "run_id": "r1", "status": "running"})
    with pytest.raises(JournalWriteError, match="a run id is used once"):
        Journal(tmp_path / "journal", "r1")


def test_two_runs_never_compute_one_asset_partition_at_once(make_project):
    root = make_project("slow")
    first = start(root, "materialize", SLOW_STEP_S="0.4")
    assert first.stdout is not None
    first.stdout.readline()  # its run started, with its claim
    second = invoke("materialize")
    assert second.exit_code == 1, second.output  # what the first one computes is skipped
    assert "being computed by run" in second.output
    assert first.wait(timeout=120) == 0
    first.stdout.close()
    first.stderr.close()
    assert {n for *_, n in materialized(root)} == {1}, "an asset partition was computed twice"
    assert invoke("plan", "--json").exit_code == 0


def test_a_killed_runs_claim_goes_with_it(make_project):
    root = make_project("slow")
    first = start(root, "materialize", SLOW_STEP_S="2")
    assert first.stdout is not None
    first.stdout.readline()
    wait_for(lambda: list((root / ".assay" / "claims").glob("*.json")))
    first.send_signal(signal.SIGKILL)
    first.wait()
    first.stdout.close()
    first.stderr.close()
    result = invoke("materialize", SLOW_STEP_S="0")
    assert result.exit_code == 0, result.output
    assert "being computed" not in result.output
