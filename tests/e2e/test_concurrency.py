"""The state store under real concurrent processes (DESIGN.md, "Journal, then index")."""

import contextlib
import json
import os
import signal
import subprocess
import sys

import duckdb
import pytest

from tests.conftest import ASSAY, clean_env, cli, wait_for
from tests.state_snapshots import every_journal, journal_bytes

pytestmark = pytest.mark.slow


def start_assay(root, *args, step_s="0.3"):
    return subprocess.Popen(
        [str(ASSAY), *args],
        cwd=root,
        env=clean_env(SLOW_STEP_S=step_s),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_assay(root, *args, step_s="0.3"):
    process = start_assay(root, *args, step_s=step_s)
    out, err = process.communicate(timeout=120)
    return process.returncode, out, err


def run_here(root, *args, step_s="0.3"):
    """run_assay in this process (conftest.cli): for the commands before and after the
    processes that run at once, and readers beside them; those under a foreign
    holder stay processes."""
    done = cli(root, *args, SLOW_STEP_S=step_s)
    return done.returncode, done.stdout, done.stderr


def journal_records(root):
    records = []
    for path in every_journal(root / ".assay"):  # done/ holds them compressed
        records += [json.loads(line) for line in journal_bytes(path).splitlines() if line]
    return records


@contextlib.contextmanager
def foreign_holder(db_path):
    """A plain `duckdb.connect` in another process, as a notebook would hold it."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('open', flush=True); time.sleep(60)",
            str(db_path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        yield holder
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()


def succeeded_steps(root):
    return [r for r in journal_records(root) if r["type"] == "step" and r["status"] == "succeeded"]


def in_flight(root):
    """Step keys journaled as running and not finished."""
    status: dict[str, str] = {}
    for record in journal_records(root):
        if record["type"] == "step":
            status[record["step_key"]] = record["status"]
    return [key for key, value in status.items() if value == "running"]


def test_runs_answers_while_a_run_is_going(make_project):
    root = make_project("slow")
    run = start_assay(root, "materialize")
    try:
        wait_for(lambda: len(succeeded_steps(root)) >= 2)
        code, out, err = run_here(root, "runs", "--json")
        assert code == 0, err
        assert run.poll() is None, "the run should still be going"
        (row,) = json.loads(out)
        assert row["status"] == "running"
    finally:
        out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err


def test_two_materialize_processes_both_complete_with_every_record(make_project):
    root = make_project("slow")
    code, _, err = run_here(root, "materialize", step_s="0")
    assert code == 0, err
    # two writers at once, on disjoint halves (overlapping ones skip what the other computes)
    halves = [f"step_{i:02d}" for i in range(5)], [f"step_{i:02d}" for i in range(5, 10)]
    first, second = (start_assay(root, "materialize", "--force", *h, step_s="0.05") for h in halves)
    for process in (first, second):
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    code, out, err = run_here(root, "runs", "--json")
    assert code == 0, err
    runs = json.loads(out)
    assert [r["succeeded_count"] for r in runs] == [5, 5, 10]
    con = duckdb.connect(str(root / ".assay/assay.duckdb"), read_only=True)
    try:
        counts = con.execute(
            "SELECT (SELECT count(*) FROM steps), (SELECT count(*) FROM materializations),"
            " (SELECT count(*) FROM step_logs)"
        ).fetchall()
    finally:
        con.close()
    assert counts == [(20, 20, 20)]


def test_a_killed_coordinator_loses_no_journaled_record(make_project):
    root = make_project("slow")
    run = start_assay(root, "materialize")
    wait_for(lambda: len(succeeded_steps(root)) >= 3 and in_flight(root))
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=30)
    journaled = journal_records(root)
    done = {r["step_key"] for r in journaled if r["type"] == "step" and r["status"] == "succeeded"}
    materialized = {r["asset_key"] for r in journaled if r["type"] == "materialization"}
    assert done == materialized
    assert len(done) >= 3

    code, out, err = run_here(root, "runs", "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert row["status"] == "died"
    code, out, err = run_here(root, "runs", "show", row["run_id"], "--json")
    details = json.loads(out)
    statuses = {s["step_key"]: s["status"] for s in details["steps"]}
    assert {k for k, v in statuses.items() if v == "succeeded"} == done
    assert list(statuses.values()).count("died") == 1  # the step in flight
    for key in done:  # every output the journal recorded is complete on disk
        assert (root / f".assay/storage/{key}/data.parquet").exists()
    assert not list((root / ".assay/storage").rglob("*.tmp"))


def test_a_foreign_holder_is_named_and_records_land_once_it_lets_go(make_project):
    root = make_project("slow")
    code, _, err = run_here(root, "materialize", "step_00", step_s="0")
    assert code == 0, err
    with foreign_holder(root / ".assay/assay.duckdb") as holder:
        # planning needs the store: it says who holds it and how to go on
        refused, _, refusal = run_assay(root, "materialize", step_s="0.01")
        # --force runs without a plan: the run goes on and journals every record
        code, _, err = run_assay(root, "materialize", "--force", step_s="0.01")
    assert refused == 2
    assert "held open by" in refusal
    assert f"(PID {holder.pid})" in refusal
    assert "pass --force to run without a plan" in refusal
    assert code == 0, err
    assert f"(PID {holder.pid})" in err
    assert "records are safe in" in err
    assert err.count("held by") == 1, err
    code, out, err = run_here(root, "runs", "--json")
    assert code == 0, err
    assert [r["succeeded_count"] for r in json.loads(out)] == [10, 1]


def test_a_forced_backfill_under_a_foreign_holder_reports_what_it_did(make_project):
    root = make_project("slow")
    code, _, err = run_here(root, "materialize", "step_00", step_s="0")
    assert code == 0, err
    with foreign_holder(root / ".assay/assay.duckdb") as holder:
        code, out, err = run_assay(root, "backfill", "start", "--force", step_s="0.01")
    assert code == 0, err
    assert "Traceback" not in err
    assert "held by python" in out  # the progress said once who holds the store
    assert f"(PID {holder.pid})" in out
    (line,) = [line for line in out.splitlines() if " completed: " in line]
    short = line.split()[1].rstrip(":")
    assert line == (
        f"Backfill {short} completed: 10 succeeded (`assay backfill status {short}` shows it "
        "once the state store is free)."
    )
    code, out, err = run_here(root, "backfill", "status", short, "--json")
    assert code == 0, err  # the journal was indexed once the holder let go
    assert json.loads(out)["status"] == "completed"


def test_readers_name_a_foreign_holder_and_exit_2(make_project):
    root = make_project("slow")
    run_here(root, "materialize", "step_00", step_s="0")
    with foreign_holder(root / ".assay/assay.duckdb") as holder:
        code, _, err = run_assay(root, "runs")
    assert code == 2
    assert err.startswith("Error: the state store")
    assert "held open by python" in err
    assert f"(PID {holder.pid}), which is not assay" in err
    assert "Traceback" not in err


@pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX only")
def test_state_files_stay_consistent_after_many_interleaved_runs(make_project):
    root = make_project("slow")
    processes = [start_assay(root, "materialize", f"step_0{i}", step_s="0") for i in range(4)]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    _code, out, _ = run_here(root, "runs", "--json")
    assert sorted(r["selection"] for r in json.loads(out)) == [f"step_0{i}" for i in range(4)]
    assert not list((root / ".assay/journal").glob("*.jsonl"))  # all indexed and archived
