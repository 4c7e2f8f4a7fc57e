"""`assay state prune` (issue 15, state that does not outgrow the data): old runs go,
what the planner needs stays, a rebuild from the journals left plans the same, and
a run going on meanwhile loses nothing."""

import json
import shutil
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from assay.lineage.outbox import OUTBOX_DIR
from assay.state import prune
from assay.state.prune import prune_state
from assay.state.size import state_size
from assay.state.store import StateStore
from tests.conftest import ASSAY, clean_env, wait_for
from tests.e2e.test_state_faults import here, ok_here, plan_here, plan_of, shared_history
from tests.state_snapshots import every_journal, journal_bytes

pytestmark = pytest.mark.slow

LATER = timedelta(hours=1)  # a cutoff after every run so far: every finished run goes


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    return shared_history(tmp_path_factory)  # built once, for test_state_faults too


def kept_state(root: Path) -> dict[str, object]:
    """What plans and people read that must survive a prune: the plan, every asset's
    partitions, checks and status, and the current state of each asset partition."""
    listed = json.loads(ok_here(root, "list", "--json"))
    con = duckdb.connect(str(root / ".assay" / "assay.duckdb"), read_only=True)
    try:
        current = con.execute(
            "SELECT asset_key, partition_key, materialization_id, data_version, code_version, "
            "inputs_signature, provenance, seq, started_seq, changed_seq "
            "FROM asset_partitions ORDER BY ALL"
        ).fetchall()
    finally:
        con.close()
    return {
        "plan": plan_here(root),
        "list": [{k: row[k] for k in ("key", "partitions", "status", "checks")} for row in listed],
        "current": current,
    }


def latest_attempts(root: Path) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(root / ".assay" / "assay.duckdb"), read_only=True)
    try:
        return con.execute("SELECT * EXCLUDE (seq) FROM partition_attempts ORDER BY ALL").fetchall()
    finally:
        con.close()


def test_prune_keeps_what_plans_need_and_a_rebuild_plans_the_same(history, tmp_path):
    root = tmp_path / "ledger"
    shutil.copytree(history, root)
    module = root / "ledger.py"
    module.write_text(module.read_text().replace('v=pl.col("v") * 10', 'v=pl.col("v") * 100'))
    ok_here(root, "observe", FEED="c")  # and the source moved: the plan has every kind of reason
    before = kept_state(root)
    assert {r for step in before["plan"] for r in step["reasons"]} >= {
        "code changed",
        "source changed",
    }
    size = state_size(root / ".assay")
    runs = json.loads(ok_here(root, "runs", "--json", "--limit", "100"))
    assert len(runs) == 11  # a backfill canceled after its run died among them

    report = prune_state(root / ".assay", before=datetime.now(UTC) + LATER)
    assert report.runs == len(runs), report.describe()
    assert report.carried > 0  # the current state and latest checks of pruned runs
    assert kept_state(root) == before
    assert json.loads(ok_here(root, "runs", "--json")) == []
    assert json.loads(ok_here(root, "backfill", "list", "--json")) == []
    assert state_size(root / ".assay").total < size.total
    assert [path.name for path in every_journal(root / ".assay")] == [
        path.name for path in (root / ".assay" / "journal" / "done").glob("checkpoint-*")
    ], "only the checkpoint is left"

    attempts = latest_attempts(root)
    StateStore(root / ".assay").rebuild()
    assert kept_state(root) == before
    assert latest_attempts(root) == attempts  # those of pruned runs went with their steps
    # and what is left keeps working
    ok_here(root, "materialize", FEED="c")
    assert plan_here(root) == []


def test_prune_while_a_run_is_going_loses_nothing(make_project):
    root = make_project("slow")
    env = clean_env(SLOW_STEP_S="0.4")
    assert subprocess.run([str(ASSAY), "materialize"], cwd=root, env=env).returncode == 0
    going = subprocess.Popen(
        [str(ASSAY), "materialize", "--force"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: b'"status":"succeeded"' in _live_journal(root))
        report = prune_state(root / ".assay", before=datetime.now(UTC) + LATER)
        assert going.poll() is None, "the run should still be going"
    finally:
        out, err = going.communicate(timeout=120)
    assert going.returncode == 0, out + err
    assert report.runs == 1, report.describe()
    (run,) = json.loads(ok_here(root, "runs", "--json"))
    assert (run["status"], run["succeeded_count"]) == ("succeeded", 10)
    details = json.loads(ok_here(root, "runs", "show", run["run_id"], "--json"))
    assert len(details["steps"]) == len(details["logs"]) == 10
    slow = {"SLOW_STEP_S": "0.4"}  # a module-level value its code version covers
    assert plan_of(root, **slow) == []
    StateStore(root / ".assay").rebuild()
    assert plan_of(root, **slow) == []
    assert len(json.loads(ok_here(root, "runs", "--json"))) == 1


def _live_journal(root: Path) -> bytes:
    found = list((root / ".assay" / "journal").glob("*.jsonl"))
    return b"".join(path.read_bytes() for path in found)


def test_prune_keeps_recent_runs_their_keys_and_the_latest_failures(make_project, monkeypatch):
    root = make_project("quality")
    for name in ("BAD_DAYS", "BIG", "FEW", "EXPLODE"):
        monkeypatch.delenv(name, raising=False)
    code, _, _ = here(root, "materialize", "orders", "--run-key", "first", BAD_DAYS="2024-01-02")
    assert code == 1  # the schema fails on 2024-01-02: its failure cases are kept
    (failed,) = json.loads(ok_here(root, "runs", "--json"))
    failures = root / ".assay" / "failures" / failed["run_id"]
    assert failures.is_dir()
    time.sleep(1.1)
    cutoff = datetime.now(UTC)
    ok_here(root, "materialize", "orders", "-p", "2024-01-01", "--force", "--run-key", "second")

    report = prune_state(root / ".assay", before=cutoff)
    assert (report.runs, report.run_keys) == (1, 1)
    assert [r["run_id"] for r in json.loads(ok_here(root, "runs", "--json"))] != [failed["run_id"]]
    assert failures.is_dir(), "the latest schema result on 2024-01-02 names them"
    assert "is held by run" in ok_here(root, "materialize", "orders", "--run-key", "second")
    assert "is held by run" not in ok_here(root, "materialize", "orders", "--run-key", "first")
    # fixed: the latest result passes, and the failure cases go with their run
    report = prune_state(root / ".assay", before=datetime.now(UTC) + LATER)
    assert report.runs == 2
    assert not failures.exists()
    assert json.loads(ok_here(root, "plan", "--json", "orders"))["steps"] == []
    StateStore(root / ".assay").rebuild()  # from the second checkpoint alone
    assert json.loads(ok_here(root, "plan", "--json", "orders"))["steps"] == []
    assert "5/5 stored  -" in ok_here(root, "list", "orders")  # no run left, every day kept
    assert "✓ 5" in ok_here(root, "list", "orders")  # the latest schema result of every day


def test_a_run_that_still_owes_lineage_is_kept(make_project):
    root = make_project("diamond")
    ok_here(root, "materialize")
    (run,) = json.loads(ok_here(root, "runs", "--json"))
    outbox = root / ".assay" / OUTBOX_DIR
    outbox.mkdir()
    (outbox / f"{run['run_id']}.jsonl").write_text("{}\n")  # as a run whose target was down
    assert prune.OUTBOX_DIR == OUTBOX_DIR
    assert prune_state(root / ".assay", before=datetime.now(UTC) + LATER).runs == 0
    (outbox / f"{run['run_id']}.jsonl").unlink()
    assert prune_state(root / ".assay", before=datetime.now(UTC) + LATER).runs == 1


def test_prune_from_the_cli_with_a_retention_setting(make_project):
    root = make_project("diamond", extra_toml='retention = "1s"\n')
    ok_here(root, "materialize")
    time.sleep(1.1)
    dry = ok_here(root, "state", "prune", "--dry-run")
    assert dry.startswith("Would prune 1 run ended before"), dry
    assert len(json.loads(ok_here(root, "runs", "--json"))) == 1
    done = ok_here(root, "state", "prune")
    assert done.startswith("Pruned 1 run ended before"), done
    assert "State: " in done
    assert json.loads(ok_here(root, "runs", "--json")) == []
    assert "Nothing to prune" in ok_here(root, "state", "prune", "--older-than", "30d")
    assert plan_here(root) == []
    assert not [p for p in every_journal(root / ".assay") if b'"type":"run"' in journal_bytes(p)]
