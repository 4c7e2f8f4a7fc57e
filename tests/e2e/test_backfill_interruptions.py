"""Backfills interrupted for real: kill -9, Ctrl-C and cancel from another process,
then `assay backfill resume` finishes with every partition materialized exactly once."""

import json
import os
import signal
import subprocess
from pathlib import Path

import duckdb
import polars as pl
import pytest
from click.testing import CliRunner

import assay
from assay.cli.main import main
from tests.conftest import ASSAY, clean_env, wait_for
from tests.openlineage_spec import assert_well_formed
from tests.state_snapshots import every_journal, journal_bytes

pytestmark = pytest.mark.slow

RANGE = ("--from", "2024-01-01", "--to", "2024-03-31")  # 91 days x 4 assets
STEPS = 364


def start(root: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(ASSAY), *args],
        cwd=root,
        env=clean_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def backfill_id(process: subprocess.Popen[str]) -> str:
    """The id the backfill prints first."""
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.startswith("Backfill "), first
    return first.split()[1].rstrip(":")


def succeeded_steps(root: Path) -> int:
    count = 0
    for path in every_journal(root / ".assay"):  # done/ holds them compressed
        for line in journal_bytes(path).decode().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line being written
                continue
            count += record["type"] == "step" and record["status"] == "succeeded"
    return count


def children_of(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def finish(process: subprocess.Popen[str], timeout_s: float = 60.0) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=timeout_s)
    return process.returncode, out, err


def materializations_per_partition(root: Path, ident: str) -> dict[tuple[str, str], int]:
    """How many times the backfill materialized each asset partition."""
    with duckdb.connect(str(root / ".assay/assay.duckdb"), read_only=True) as con:
        rows = con.execute(
            "SELECT m.asset_key, m.partition_key, count(*) AS n FROM materializations m "
            "JOIN runs r USING (run_id) WHERE r.backfill_id = ? GROUP BY ALL",
            [ident],
        ).fetchall()
    return {(key, partition): n for key, partition, n in rows}


def resume_and_check(root: Path, ident: str) -> None:
    """Resume to the end, then: each asset partition materialized once, outputs whole."""
    code, out, err = finish(start(root, "backfill", "resume", ident[:8]))
    assert code == 0, out + err
    assert f"Backfill {ident[:8]} completed: {STEPS} succeeded." in out
    counts = materializations_per_partition(root, ident)
    with duckdb.connect(str(root / ".assay/assay.duckdb"), read_only=True) as con:
        running = con.execute(
            "SELECT count(*) FROM runs WHERE backfill_id = ? AND status = 'running'", [ident]
        ).fetchall()[0][0]
    assert len(counts) == STEPS
    assert set(counts.values()) == {1}, "an asset partition was materialized twice"
    assert running == 0
    files = sorted((root / ".assay/storage").rglob("data.parquet"))
    assert len(files) == STEPS
    # lineage: every OpenLineage run, the interrupted ones too, is valid and closed
    events = [json.loads(e) for e in assay.lineage.open(root / ".assay").events()["event"]]
    assert_well_formed(events)
    for path in files:
        day = path.parent.name.removeprefix("partition=")
        assert pl.read_parquet(path)["day"].unique().to_list() == [day]


@pytest.mark.parametrize("executor", ["in_process", "multiprocess", "dask"])
def test_kill_9_mid_backfill_then_resume_finishes_it(make_project, executor):
    root = make_project("backfill_chain")
    process = start(
        root, "backfill", "start", *RANGE, "--executor", executor, "--workers", "2", SLOW="0.05"
    )
    ident = backfill_id(process)
    wait_for(lambda: succeeded_steps(root) >= 40)
    workers = children_of(process.pid)
    os.kill(process.pid, signal.SIGKILL)
    finish(process)
    if executor != "in_process":
        assert workers, "the pool or the LocalCluster had no worker processes"
        # the workers notice their coordinator is gone and exit
        wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers), 10)

    status = CliRunner().invoke(main, ["backfill", "status", ident[:8], "--json"])
    data = json.loads(status.output)
    assert data["status"] == "interrupted"
    done = sum(asset["succeeded"] for asset in data["assets"])
    assert 40 <= done < STEPS
    listed = CliRunner().invoke(main, ["runs", "--json"])
    assert json.loads(listed.output)[0]["status"] == "died"
    resume_and_check(root, ident)


def test_ctrl_c_lets_running_steps_finish_then_resume_finishes(make_project):
    root = make_project("backfill_chain")
    process = start(root, "backfill", "start", *RANGE, SLOW="0.05")
    ident = backfill_id(process)
    wait_for(lambda: succeeded_steps(root) >= 20)
    process.send_signal(signal.SIGINT)
    code, _out, err = finish(process, timeout_s=20)
    assert code == 1
    assert "Interrupted: running steps finish, nothing new starts" in err
    assert f"backfill {ident[:8]} canceled" in err
    assert f"`assay backfill resume {ident[:8]}`" in err
    data = json.loads(CliRunner().invoke(main, ["backfill", "status", ident, "--json"]).output)
    assert data["status"] == "canceled"
    # the step running at Ctrl-C finished: nothing is left half done
    assert {step["status"] for step in data["steps"]} == {"succeeded"}
    resume_and_check(root, ident)


def test_cancel_from_another_process_stops_the_driver(make_project):
    root = make_project("backfill_chain")
    process = start(root, "backfill", "start", *RANGE, SLOW="0.05")
    ident = backfill_id(process)
    wait_for(lambda: succeeded_steps(root) >= 10)
    canceled = CliRunner().invoke(main, ["backfill", "cancel", ident[:8]])
    assert canceled.exit_code == 0, canceled.output
    assert "asked its process to stop" in canceled.output
    code, _out, err = finish(process, timeout_s=20)
    assert code == 1
    assert f"backfill {ident[:8]} canceled" in err
    listed = CliRunner().invoke(main, ["backfill", "list"])
    assert ident[:8] in listed.output
    assert "canceled" in listed.output
    resume_and_check(root, ident)
