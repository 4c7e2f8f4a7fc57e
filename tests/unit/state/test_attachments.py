"""Reads attach the state file to one DuckDB instance per process, and let it go after
the last reader: a writer in another process is never kept out by a read that ended."""

import os
import subprocess
import sys
import threading
from pathlib import Path

from assay.state.store import StateStore

WRITER = """
import sys, duckdb
try:
    duckdb.connect(sys.argv[1]).close()
except duckdb.Error as exc:
    print(exc)
    sys.exit(3)
"""


def store_with_a_table(home: Path) -> StateStore:
    store = StateStore(home)
    store.journal_dir.mkdir()
    store.index_pending()  # makes the store
    assert store.path.exists()
    return store


def writer_can_open(path: Path) -> bool:
    """Whether another process can open the file read-write (no DuckDB lock held)."""
    done = subprocess.run(
        [sys.executable, "-c", WRITER, str(path)], capture_output=True, timeout=60
    )
    return done.returncode == 0


def count_runs(store: StateStore) -> int:
    with store.reading(index=False) as con:
        assert con is not None
        (count,) = con.execute("SELECT count(*) FROM runs").fetchone() or (0,)
        return int(count)


def test_a_read_holds_the_file_only_while_it_reads(tmp_path):
    store = store_with_a_table(tmp_path)
    with store.reading(index=False) as con:
        assert con is not None
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (0,)
        assert not writer_can_open(store.path)
    assert writer_can_open(store.path)
    assert count_runs(store) == 0  # attached again, after the writer let go
    assert writer_can_open(store.path)


def test_reads_on_several_threads_share_the_file_and_let_it_go_after_the_last(tmp_path):
    store = store_with_a_table(tmp_path)
    inside = threading.Barrier(3)
    leave = threading.Event()
    found: list[int] = []

    def read() -> None:
        with store.reading(index=False) as con:
            assert con is not None
            inside.wait(timeout=30)
            found.append(int((con.execute("SELECT count(*) FROM steps").fetchone() or (0,))[0]))
            assert leave.wait(timeout=30)

    threads = [threading.Thread(target=read) for _ in range(2)]
    for thread in threads:
        thread.start()
    inside.wait(timeout=30)
    assert count_runs(store) == 0  # a third reader meanwhile, on this thread
    leave.set()
    for thread in threads:
        thread.join(timeout=30)
    assert found == [0, 0]
    assert writer_can_open(store.path)


def test_a_forked_child_reads_with_an_instance_of_its_own(tmp_path):
    store = store_with_a_table(tmp_path)
    assert count_runs(store) == 0  # the parent has its instance
    pid = os.fork()
    if pid == 0:  # the child: never returns to pytest
        try:
            os._exit(0 if count_runs(store) == 0 else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert count_runs(store) == 0
