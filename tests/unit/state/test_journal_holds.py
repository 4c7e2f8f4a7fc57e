"""A journal writes no record before the output files written ahead of it are synced
(`assay.io.atomic.deferred_syncs`), and keeps the order of appends meanwhile."""

import json
import threading
from pathlib import Path

import pytest

import assay.io.atomic as atomic
from assay.state.journal import Journal, JournalWriteError


def lines(journal: Journal) -> list[str]:
    return [json.loads(line)["n"] for line in journal.path.read_bytes().splitlines()]


def write_new(path: Path, data: bytes) -> None:
    with atomic.atomic_path(path, defer=True) as tmp:
        tmp.write_bytes(data)


@pytest.fixture
def gate(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Data syncs wait until the test opens the gate."""
    opened = threading.Event()
    real = atomic._fsync_data

    def gated(fd: int) -> None:
        assert opened.wait(10)
        real(fd)

    monkeypatch.setattr(atomic, "_fsync_data", gated)
    return opened


def test_records_wait_for_the_files_written_before_them_and_keep_their_order(tmp_path, gate):
    output = tmp_path / "data" / "part.parquet"
    with atomic.deferred_syncs(), Journal(tmp_path / "journal", "run-1") as journal:
        journal.append({"n": "before"})
        write_new(output, b"rows")
        assert output.read_bytes() == b"rows"  # readable at once
        journal.append_soon({"n": "claims the file"})
        journal.append({"n": "after"})  # behind it, though it claims nothing
        assert lines(journal) == ["before"]
        gate.set()
        journal.append({"n": "last"}, durable=True)
        assert lines(journal) == ["before", "claims the file", "after", "last"]


def test_a_replaced_file_is_synced_before_its_rename_and_holds_nothing(tmp_path, gate):
    output = tmp_path / "part.parquet"
    output.write_bytes(b"old")
    gate.set()
    with atomic.deferred_syncs(), Journal(tmp_path / "journal", "run-2") as journal:
        with atomic.atomic_path(output, defer=False) as tmp:
            tmp.write_bytes(b"new")
        assert atomic.take_unsynced() == []
        journal.append({"n": "at once"})
        assert lines(journal) == ["at once"]


def test_a_file_that_cannot_be_synced_drops_its_records_and_those_after(tmp_path, monkeypatch):
    def fails(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(atomic, "_fsync_data", fails)
    output = tmp_path / "part.parquet"
    with atomic.deferred_syncs(), Journal(tmp_path / "journal", "run-3") as journal:
        journal.append({"n": "before"})
        write_new(output, b"rows")
        journal.append_soon({"n": "claims the file"})
        with pytest.raises(JournalWriteError, match=r"cannot sync the output .*part\.parquet"):
            journal.append({"n": "after"}, durable=True)
        assert not output.exists()
        journal.append({"n": "the run's end"}, durable=True)  # said once: the journal goes on
        assert lines(journal) == ["before", "the run's end"]


def test_files_no_one_recorded_are_synced_when_the_block_ends(tmp_path, monkeypatch):
    synced: list[int] = []
    real = atomic._fsync_data
    monkeypatch.setattr(atomic, "_fsync_data", lambda fd: (synced.append(fd), real(fd)))
    with atomic.deferred_syncs():
        write_new(tmp_path / "a", b"a")
        write_new(tmp_path / "b", b"b")
    assert len(synced) == 2
    assert atomic.take_unsynced() == []
    write_new(tmp_path / "c", b"c")  # outside the block: synced before its rename
    assert len(synced) == 3
    assert (tmp_path / "c").read_bytes() == b"c"


def test_a_run_gathers_appends_into_one_write_in_their_order(tmp_path, monkeypatch):
    # The coordinator gathers a step's records and its hooks' (lineage) into one
    # write; a durable append meanwhile goes with what came before it, in order, and
    # a block that raises still writes what it gathered.
    from assay.config import resolve_config
    from assay.execution.hooks import Hooks
    from assay.execution.recorder import RecordedRun
    from assay.results import RunKind, RunStatus
    from assay.state import journal as journal_module

    for variable in ("ASSAY_HOME", "ASSAY_MODULE"):
        monkeypatch.delenv(variable, raising=False)
    (tmp_path / "pyproject.toml").write_text('[tool.assay]\nmodule = "none"\n')
    config = resolve_config(cwd=tmp_path)
    writes: list[int] = []
    real = journal_module._write_all

    def counted(fd: int, data: bytes) -> None:
        writes.append(data.count(b"\n"))
        real(fd, data)

    monkeypatch.setattr(journal_module, "_write_all", counted)
    with RecordedRun(config, kind=RunKind.MATERIALIZE, selection="*", hooks=Hooks()) as run:
        assert run.journal is not None
        writes.clear()
        with run.gathered():
            run.append({"type": "x", "n": "one"})
            run.info.record({"type": "x", "n": "two"})  # as a hook journals
            run.append_soon({"type": "x", "n": "three"})
            assert writes == []
        assert writes == [3]
        with run.gathered():
            run.append({"type": "x", "n": "four"})
            run.append({"type": "x", "n": "five"}, durable=True)
            run.append({"type": "x", "n": "six"})

        def failing() -> None:
            with run.gathered():
                run.append({"type": "x", "n": "seven"})
                raise RuntimeError

        with pytest.raises(RuntimeError):
            failing()
        assert writes == [3, 2, 1, 1]
        written = [json.loads(line) for line in run.journal.path.read_bytes().splitlines()]
        run.finish(RunStatus.SUCCEEDED)
    assert [r["n"] for r in written if r["type"] == "x"] == [
        "one",
        "two",
        "three",
        "four",
        "five",
        "six",
        "seven",
    ]
