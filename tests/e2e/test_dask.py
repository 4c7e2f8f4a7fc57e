"""The dask executor on real clusters: a LocalCluster started for the run, and a
scheduler with workers started as separate processes, with S3 storage served by
moto on localhost. Workers are killed, the scheduler is killed, Ctrl-C is pressed."""

import json
import os
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

import assay
from assay.cli.main import main
from tests.conftest import ASSAY, clean_env, wait_for
from tests.e2e.test_backfill_interruptions import (
    backfill_id,
    finish,
    materializations_per_partition,
    start,
    succeeded_steps,
)
from tests.openlineage_spec import assert_well_formed

pytestmark = pytest.mark.slow

DAYS = ("2024-01-01", "2024-01-20")
STEPS = 4 * 20  # raw, cleaned, report, batched
DASK = str(Path(sys.executable).parent / "dask")


def test_a_backfill_on_a_local_cluster_runs_on_workers_with_the_same_results(
    make_project, tmp_path, monkeypatch
):
    root = make_project("backfill_chain")
    intervals = tmp_path / "intervals.txt"
    monkeypatch.setenv("INTERVALS", str(intervals))
    project = assay.load()
    result = project.backfill(partition_range=DAYS, executor="dask", workers=2)
    assert result.success, [s.error for s in result.steps if s.error]
    assert len(result.steps) == STEPS
    pids = {int(line.split()[3]) for line in intervals.read_text().splitlines()}
    assert pids
    assert os.getpid() not in pids, "steps ran in the coordinator, not on workers"

    row = project.backfill_status(result.backfill_id).backfill
    assert (row["executor"], row["workers"]) == ("dask", 2)
    events = [json.loads(e) for e in assay.lineage.open(root / ".assay").events()["event"]]
    assert_well_formed(events)
    completes = [e for e in events if e["eventType"] == "COMPLETE" and "partition" in str(e)]
    assert len([e for e in completes if e["job"]["name"] != "assay.materialize"]) == STEPS

    # the same data as in this process, version for version
    local = assay.load(home=tmp_path / "in-process").backfill(partition_range=DAYS)
    assert local.success

    def versions(run):
        return {(str(s.key), s.partition): s.stored.data_version for s in run.steps if s.stored}

    assert versions(result) == versions(local)
    assert not project.plan(partition_range=DAYS).steps


def test_the_executor_comes_from_configuration(make_project):
    make_project("backfill_chain", extra_toml='executor = "dask"\nworkers = 2\n')
    started = CliRunner().invoke(
        main, ["backfill", "start", "raw", "--from", "2024-01-01", "--to", "2024-01-04"]
    )
    assert started.exit_code == 0, started.output
    status = json.loads(CliRunner().invoke(main, ["backfill", "status", "--json"]).stdout)
    assert (status["executor"], status["workers"]) == ("dask", 2)
    # an option beats the configuration
    forced = CliRunner().invoke(
        main, ["materialize", "raw", "-p", "2024-01-05", "--executor", "in_process"]
    )
    assert forced.exit_code == 0, forced.output


def backfill_killing_workers(root: Path, marks: Path, **env: str) -> subprocess.Popen[str]:
    """A backfill on a LocalCluster whose `raw` step of 2024-01-05 kills its worker."""
    marks.mkdir()
    return start(
        root,
        *("backfill", "start", "--from", DAYS[0], "--to", DAYS[1]),
        *("--executor", "dask", "--workers", "2"),
        KILL_DAYS="2024-01-05",
        KILL_MARKS=str(marks),
        **env,
    )


def test_steps_travel_in_bundles_and_each_is_journaled_as_it_ends(
    make_project, tmp_path, monkeypatch
):
    make_project("dask_bundles")
    tasks = tmp_path / "tasks.txt"
    monkeypatch.setenv("TASKS", str(tasks))
    # each day's step waits on the worker until the day before it is journaled: were
    # a bundle's results sent back only when it ends, its second step would time out
    monkeypatch.setenv("WAIT_FOR_JOURNAL", "1")
    days = ("2024-01-01", "2024-01-16")
    result = assay.load().backfill(partition_range=days, executor="dask", workers=1)
    assert result.success, [s.error for s in result.steps if s.error]
    ran = [line.split() for line in tasks.read_text().splitlines()]
    assert sorted(day for day, _, _ in ran) == [f"2024-01-{d:02d}" for d in range(1, 17)]
    dask_tasks = {key for _, key, _ in ran}
    assert len(dask_tasks) <= 4, f"16 steps in {len(dask_tasks)} Dask tasks: not bundled"
    assert os.getpid() not in {int(pid) for _, _, pid in ran}


def test_a_killed_worker_is_replaced_and_its_step_runs_again(make_project, tmp_path):
    root = make_project("backfill_chain")
    marks = tmp_path / "marks"
    intervals = tmp_path / "intervals.txt"
    code, out, err = finish(backfill_killing_workers(root, marks, INTERVALS=str(intervals)))
    assert code == 0, out + err
    assert f"completed: {STEPS} succeeded." in out
    assert (marks / "2024-01-05").exists(), "the worker was not killed"
    assert "distributed" not in err, "Dask's own log reached the user"
    # the steps the dead worker had reported (from the bundle it was running) are not
    # run again: every day's raw ran once, but for one whose report the death may cut
    days = [line.split()[0] for line in intervals.read_text().splitlines()]
    assert set(days) == {f"2024-01-{d:02d}" for d in range(1, 21)}
    assert len(days) <= 21, sorted(days)


def test_a_step_that_kills_every_worker_fails_alone_and_resume_finishes(make_project, tmp_path):
    root = make_project("backfill_chain")
    process = backfill_killing_workers(root, tmp_path / "marks", KILL_ALWAYS="1")
    ident = backfill_id(process)
    code, out, err = finish(process)
    assert code == 1, out + err
    assert "failed raw[2024-01-05]: the Dask worker running this step died" in out + err
    status = json.loads(CliRunner().invoke(main, ["backfill", "status", "--json"]).stdout)
    failed = {(s["asset_key"], s["partition_key"]): s["error"] for s in status["steps"]}
    failed = {k: e for k, e in failed.items() if e and "Dask worker" in e}
    assert ("raw", "2024-01-05") in failed
    # one step is blamed per death: the one that was running (not those queued)
    assert len(failed) == 1, failed
    assert all(e.startswith("the Dask worker running this step died") for e in failed.values())
    # the failed steps' dependents were skipped (cleaned, report, and batched: one batch
    # of the 20 days); everything else succeeded
    assert sum(a["succeeded"] for a in status["assets"]) >= STEPS - 3 * len(failed) - 20
    assert {s["status"] for s in status["steps"]} <= {"succeeded", "failed", "skipped"}

    code, out, err = finish(start(root, "backfill", "resume", ident[:8]))
    assert code == 0, out + err
    assert f"Backfill {ident[:8]} completed: {STEPS} succeeded." in out
    assert set(materializations_per_partition(root, ident).values()) == {1}


@pytest.fixture
def dask_cluster(tmp_path):
    """A scheduler and two worker processes, as a team would run them."""
    scheduler_file = tmp_path / "scheduler.json"
    scheduler = subprocess.Popen(
        [
            DASK,
            "scheduler",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--no-dashboard",
            "--scheduler-file",
            str(scheduler_file),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(scheduler_file.exists)
    address = json.loads(scheduler_file.read_text())["address"]
    workers = subprocess.Popen(
        [DASK, "worker", address, "--nworkers", "2", "--nthreads", "1", "--no-dashboard"],
        env=clean_env(SLOW="0.1"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    yield address, scheduler
    for process in (scheduler, workers):
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL) if process is workers else process.kill()
        process.wait()


def test_losing_the_scheduler_ends_the_backfill_with_a_clear_error_then_resume_finishes(
    make_project, dask_cluster
):
    address, scheduler = dask_cluster
    root = make_project("backfill_chain")
    process = start(
        root, "backfill", "start", "--from", DAYS[0], "--to", DAYS[1], "--dask-address", address
    )
    ident = backfill_id(process)
    wait_for(lambda: succeeded_steps(root) >= 10)
    scheduler.kill()
    code, out, err = finish(process)
    assert code == 1
    lost = f"lost the Dask scheduler at {address}: it stopped, or the network failed"
    assert lost in out
    assert f"`assay backfill resume {ident[:8]}` runs the rest" in err
    assert "Traceback" not in out + err
    assert "distributed" not in out + err, "Dask's own log reached the user"

    status = json.loads(CliRunner().invoke(main, ["backfill", "status", "--json"]).stdout)
    assert status["status"] == "failed"
    errors = {s["error"] for s in status["steps"] if s["status"] == "failed"}
    assert errors
    assert all(e.startswith("interrupted: lost the Dask scheduler") for e in errors)
    assert not [s for s in status["steps"] if s["status"] == "skipped"]

    # on a LocalCluster this time
    code, out, err = finish(
        start(root, "backfill", "resume", ident[:8], "--executor", "dask", "--workers", "2")
    )
    assert code == 0, out + err
    assert f"Backfill {ident[:8]} completed: {STEPS} succeeded." in out
    assert set(materializations_per_partition(root, ident).values()) == {1}
    events = [json.loads(e) for e in assay.lineage.open(root / ".assay").events()["event"]]
    assert_well_formed(events)


def test_a_scheduler_that_is_not_there_is_a_one_line_error_and_records_nothing(make_project):
    root = make_project("backfill_chain")
    code, _out, err = finish(
        start(
            root,
            *("backfill", "start", "--from", DAYS[0], "--to", DAYS[1]),
            *("--dask-address", "tcp://127.0.0.1:9"),
            DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="1s",
        )
    )
    assert code == 2
    assert err.startswith("Error: cannot reach the Dask scheduler at tcp://127.0.0.1:9 (")
    assert "leave out --dask-address to run on a LocalCluster" in err
    assert len(err.strip().splitlines()) == 1, err
    listed = CliRunner().invoke(main, ["backfill", "list", "--json"])
    assert json.loads(listed.stdout) == []


def test_ctrl_c_lets_the_workers_finish_their_steps_then_resume_finishes(make_project):
    root = make_project("backfill_chain")
    process = subprocess.Popen(
        [
            str(ASSAY),
            "backfill",
            "start",
            "--from",
            DAYS[0],
            "--to",
            DAYS[1],
            "--executor",
            "dask",
            "--workers",
            "2",
        ],
        cwd=root,
        env=clean_env(SLOW="0.2"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C in a terminal reaches the whole group
    )
    ident = backfill_id(process)
    wait_for(lambda: succeeded_steps(root) >= 6)
    os.killpg(process.pid, signal.SIGINT)
    code, _out, err = finish(process, timeout_s=30)
    assert code == 1, err
    assert f"backfill {ident[:8]} canceled" in err
    status = json.loads(CliRunner().invoke(main, ["backfill", "status", "--json"]).stdout)
    # the workers were not interrupted: every step that started, finished
    assert {step["status"] for step in status["steps"]} == {"succeeded"}

    code, out, err = finish(start(root, "backfill", "resume", ident[:8]))
    assert code == 0, out + err
    assert set(materializations_per_partition(root, ident).values()) == {1}
    assert len(materializations_per_partition(root, ident)) == STEPS


# --- S3 storage ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_endpoint():
    """A real S3-compatible server (moto) on localhost, with a bucket `lake`."""
    import s3fs
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=endpoint).mkdir("lake")
    yield endpoint
    server.stop()


def s3_settings(endpoint: str, prefix: str) -> str:
    return (
        f'storage = "s3://lake/{prefix}"\n\n'
        "[tool.assay.storage_options]\n"
        f'endpoint_url = "{endpoint}"\nkey = "testing"\nsecret = "testing"\n'
    )


def test_workers_store_on_s3_and_the_project_reads_it_back(make_project, s3_endpoint, tmp_path):
    import s3fs

    root = make_project("lineage_shop", extra_toml=s3_settings(s3_endpoint, "shop"))
    (root / "drop").mkdir()
    for n in range(40):  # every day's file landed: no partition waits for its source
        (root / "drop" / f"{date(2024, 1, 1) + timedelta(days=n)}.txt").write_text("x")
    cli = CliRunner()
    assert cli.invoke(main, ["observe"]).exit_code == 0
    started = cli.invoke(
        main, ["backfill", "start", "--executor", "dask", "--workers", "2"], env={"COLUMNS": "200"}
    )
    assert started.exit_code == 0, started.output

    fs = s3fs.S3FileSystem(key="testing", secret="testing", endpoint_url=s3_endpoint)
    stored = fs.find("lake/shop")
    assert len([p for p in stored if "/orders/partition=" in p]) == 40
    assert len([p for p in stored if "/rolling_revenue/partition=" in p]) == 40
    assert not (root / ".assay" / "storage").exists(), "something was stored locally"
    # customers is stored in DuckDB (local); it read every day of orders from S3
    project = assay.load()
    lifetime = project.io_for(assay.AssetKey(("customers",))).load(
        assay.AssetKey(("customers",)), None, assay.assets.InputKind.EAGER
    )
    orders = project.io_for(assay.AssetKey(("orders",)))
    days = [f"2024-01-{d:02d}" for d in range(1, 32)] + [f"2024-02-{d:02d}" for d in range(1, 10)]
    assert orders.location(assay.AssetKey(("orders",)), days[0]).startswith("s3://lake/shop/")
    everything = orders.load(assay.AssetKey(("orders",)), days, assay.assets.InputKind.EAGER)
    assert lifetime["lifetime"].item() == pytest.approx(everything["amount"].sum())

    # checks read from S3; the plan knows everything is fresh
    checked = cli.invoke(main, ["check", "rolling_revenue", "--from", days[0], "--to", days[-1]])
    assert checked.exit_code == 0, checked.output
    assert not project.plan().steps
    # lineage names the datasets where they are
    names = (
        assay.lineage.open()
        .sql("SELECT DISTINCT namespace, name FROM lineage_datasets WHERE namespace LIKE 's3%'")
        .rows()
    )
    assert ("s3://lake", "shop/orders") in names


def test_a_missing_partition_on_s3_names_the_url(make_project, s3_endpoint):
    make_project("backfill_chain", extra_toml=s3_settings(s3_endpoint, "missing"))
    result = CliRunner().invoke(main, ["materialize", "cleaned", "-p", "2024-03-01"])
    assert result.exit_code == 1
    assert "has no stored partition 2024-03-01 at s3://lake/missing/raw" in result.output
