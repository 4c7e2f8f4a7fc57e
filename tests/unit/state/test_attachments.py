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
    store.journal_dir.mkdir(parents=True)
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


def tables_line(home: Path) -> str:
    from assay.state.doctor import diagnose

    (line,) = [f.text for f in diagnose(home) if "reads whole" in f.text]
    return line


def test_a_store_read_while_another_is_attached_sees_only_its_own_tables(tmp_path):
    first = store_with_a_table(tmp_path / "first")
    second = store_with_a_table(tmp_path / "second")
    alone = tables_line(first.home)
    with second.reading(index=False) as con:  # another thread's read, say: attached meanwhile
        assert con is not None
        assert tables_line(first.home) == alone
    assert " 0 tables" not in alone


def test_one_file_named_two_ways_is_attached_once_and_let_go(tmp_path):
    store = store_with_a_table(tmp_path / "home")
    (tmp_path / "link").symlink_to(tmp_path / "home")
    other = StateStore(tmp_path / "link")
    with store.reading(index=False) as con, other.reading(index=False) as again:
        assert con is not None
        assert again is not None
        (databases,) = con.execute(
            "SELECT count(*) FROM duckdb_databases() WHERE NOT internal AND path IS NOT NULL"
        ).fetchone() or (0,)
        assert databases == 1
    assert writer_can_open(store.path)


def test_sql_a_user_writes_runs_apart_and_changes_no_later_read(tmp_path):
    import assay.lineage

    store = store_with_a_table(tmp_path / "home")
    with store.reading(index=False) as con:
        assert con is not None
        (threads,) = con.execute("SELECT current_setting('threads')").fetchone() or (0,)
    lineage = assay.lineage.open(tmp_path / "home")
    with store.reading(index=False):  # another reader's attachment meanwhile
        lineage.sql("SET threads = 1")
        databases = lineage.sql("SELECT database_name FROM duckdb_databases() WHERE NOT internal")
        assert databases.height == 1  # the store alone: no other reader's catalog to detach
    with store.reading(index=False) as con:
        assert con is not None
        assert con.execute("SELECT current_setting('threads')").fetchone() == (threads,)
        assert con.execute("SELECT count(*) FROM runs").fetchone() == (0,)
    assert writer_can_open(store.path)
