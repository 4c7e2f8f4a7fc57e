import json
import subprocess
import sys
import time

import duckdb
import pytest

from assay.errors import StateError
from assay.state.journal import Journal
from assay.state.reader import StateReader
from assay.state.store import StateStore


def run_record(run_id, status="running", **extra):
    return {
        "type": "run",
        "run_id": run_id,
        "status": status,
        "started_at": time.time(),
        "host": "elsewhere",
        "pid": 1,
        **extra,
    }


def step_record(run_id, key, status="succeeded"):
    return {
        "type": "step",
        "run_id": run_id,
        "step_key": key,
        "asset_key": key,
        "status": status,
        "started_at": time.time(),
        "finished_at": time.time(),
    }


def count(store, table):
    con = duckdb.connect(str(store.path), read_only=True)
    try:
        return con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    finally:
        con.close()


def test_indexing_is_idempotent_and_archives_finished_journals(tmp_path):
    store = StateStore(tmp_path)
    with Journal(store.journal_dir, "r1") as journal:
        journal.append(run_record("r1"), step_record("r1", "a", "running"))
        assert store.index_pending().records == 2
        assert store.index_pending().records == 0  # nothing new: nothing inserted twice
        journal.append(step_record("r1", "a"), run_record("r1", "succeeded"))
    assert store.index_pending().records == 2
    assert (count(store, "runs"), count(store, "steps")) == (1, 1)
    assert not list(store.journal_dir.glob("*.jsonl"))
    assert (store.journal_dir / "done" / "r1.jsonl.gz").exists()  # compressed once indexed
    details = StateReader(tmp_path).run_details("r1")
    assert details.run.status == "succeeded"
    assert [s.status for s in details.steps] == ["succeeded"]


def test_a_torn_last_line_waits_until_it_is_complete(tmp_path):
    store = StateStore(tmp_path)
    store.journal_dir.mkdir(parents=True)
    path = store.journal_dir / "r2.jsonl"
    line = json.dumps(step_record("r2", "b")).encode()
    path.write_bytes(json.dumps(run_record("r2")).encode() + b"\n" + line[:20])
    assert store.index_pending().records == 1
    with open(path, "ab") as file:
        file.write(line[20:] + b"\n")
    assert store.index_pending().records == 1
    assert count(store, "steps") == 1


def test_the_store_is_rebuilt_from_journals_when_its_file_is_gone(tmp_path):
    store = StateStore(tmp_path)
    for run_id in ("r1", "r2"):
        with Journal(store.journal_dir, run_id) as journal:
            journal.append(
                run_record(run_id), step_record(run_id, "a"), run_record(run_id, "succeeded")
            )
    store.index_pending()
    store.path.unlink()
    assert [r.run_id for r in StateReader(tmp_path).runs()] == ["r2", "r1"]
    assert count(store, "steps") == 2


def test_a_corrupt_store_says_how_to_recover(tmp_path):
    store = StateStore(tmp_path)
    with Journal(store.journal_dir, "r1") as journal:
        journal.append(run_record("r1"))
    store.path.write_bytes(b"this is not a duckdb file" * 100)
    with pytest.raises(
        StateError, match=r"cannot be read.*move assay\.duckdb aside and run `assay runs`"
    ):
        StateReader(tmp_path).runs()


def test_a_store_from_a_newer_assay_is_refused(tmp_path):
    store = StateStore(tmp_path)
    with Journal(store.journal_dir, "r1") as journal:
        journal.append(run_record("r1"))
    store.index_pending()
    con = duckdb.connect(str(store.path))
    con.execute("INSERT INTO schema_version VALUES (999)")
    con.close()
    with Journal(store.journal_dir, "r2") as journal:
        journal.append(run_record("r2"))
    with pytest.raises(StateError, match=r"schema version 999.*upgrade assay"):
        StateReader(tmp_path).runs()


def test_a_run_whose_process_died_is_marked_died(tmp_path):
    from assay.state.liveness import this_host

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    store = StateStore(tmp_path)
    with Journal(store.journal_dir, "r9") as journal:
        journal.append(
            run_record("r9", host=this_host(), pid=gone.pid, process_start="1"),
            step_record("r9", "a", "running"),
        )
    store.index_pending()
    details = StateReader(tmp_path).run_details("r9")
    assert details.run.status == "died"
    assert details.steps[0].status == "died"
    assert details.steps[0].error == "the run process died during this step"


def test_records_appended_soon_are_with_the_os_at_once_and_survive_a_kill(tmp_path):
    # a process appends with a background fsync and is killed at once: nothing is lost
    script = (
        "import os, signal, sys\n"
        "from assay.state.journal import Journal\n"
        f"journal = Journal(__import__('pathlib').Path({str(tmp_path / 'journal')!r}), 'r5')\n"
        "for i in range(200):\n"
        "    journal.append_soon({'type': 'step', 'run_id': 'r5', 'step_key': f's{i}',\n"
        "                         'asset_key': 'a', 'status': 'running', 'started_at': 1.0})\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run([sys.executable, "-c", script], capture_output=True, timeout=60)
    assert killed.returncode == -9, killed.stderr
    lines = (tmp_path / "journal" / "r5.jsonl").read_bytes().splitlines()
    assert [json.loads(line)["step_key"] for line in lines] == [f"s{i}" for i in range(200)]


def test_a_failed_background_fsync_is_raised_by_the_next_append(tmp_path):
    import os

    from assay.state.journal import JournalWriteError

    journal = Journal(tmp_path, "r6")
    journal.append_soon(step_record("r6", "a"))
    journal.close()  # waits for its fsync: whole, no error
    assert len((tmp_path / "r6.jsonl").read_bytes().splitlines()) == 1
    journal = Journal(tmp_path, "r7")
    read_end, write_end = os.pipe()  # fsync of a pipe fails (EINVAL): a real failed fsync
    os.close(journal._fd)
    journal._fd = write_end
    try:
        journal.append_soon(step_record("r7", "a"))  # written; its fsync fails behind
        journal._syncer.stop()  # (once that fsync is done)
        journal._syncer = None
        with pytest.raises(JournalWriteError, match=r"r7\.jsonl"):
            journal.append(step_record("r7", "b"))
    finally:
        os.close(read_end)
        os.close(journal._fd)
        journal._fd = None
