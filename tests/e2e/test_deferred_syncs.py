"""In process, a step's new output files are synced while the next step runs, and
its results are recorded only once they are durable: a process that dies
meanwhile leaves a stored file without a record (the partition is missing, and
written again), never a record of bytes a power cut could lose; a file whose
fsync fails is removed and its step fails; a file that replaces another is
synced before it does."""

import errno
import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from assay.io import atomic
from assay.io.atomic import atomic_path, deferred_syncs
from tests.conftest import clean_env

PROJECT = '''
import os

import polars as pl

from assay import asset


@asset
def first() -> pl.DataFrame:
    return pl.DataFrame({"x": [1, 2, 3]})


@asset
def second() -> pl.DataFrame:
    if os.environ.get("DIE_IN_SECOND"):
        os._exit(9)  # the process dies: no cleanup, no atexit
    return pl.DataFrame({"y": [4, 5]})
'''


@pytest.fixture
def root(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.assay]\nmodule = "two"\n')
    (tmp_path / "two.py").write_text(PROJECT)
    return tmp_path


def assay(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "assay", *args],
        cwd=root,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def statuses(root: Path) -> dict[str, str]:
    done = assay(root, "list", "--json")
    assert done.returncode == 0, done.stderr
    return {row["key"]: row["status"] for row in json.loads(done.stdout)}


def test_a_process_that_dies_while_a_file_syncs_leaves_it_unrecorded(root):
    # `first` runs, then `second` while first's file syncs; the process dies in
    # `second`, before first's results could be recorded
    died = assay(root, "materialize", DIE_IN_SECOND="1")
    assert died.returncode == 9, died.stderr
    stored = root / ".assay" / "storage" / "first" / "data.parquet"
    assert stored.exists()  # in place: a partition stored without a record
    assert statuses(root) == {"first": "never materialized", "second": "never materialized"}
    again = assay(root, "materialize")
    assert again.returncode == 0, again.stderr
    assert statuses(root) == {"first": "fresh", "second": "fresh"}
    assert pl.read_parquet(stored)["x"].to_list() == [1, 2, 3]


def test_new_files_wait_for_their_sync_and_replaced_ones_do_not(tmp_path):
    new, old = tmp_path / "a" / "new.parquet", tmp_path / "old.parquet"
    pl.DataFrame({"v": [0]}).write_parquet(old)
    with deferred_syncs() as pending:
        for target in (new, old):
            with atomic_path(target, scratch=tmp_path / ".tmp", may_defer=True) as tmp:
                pl.DataFrame({"v": [1]}).write_parquet(tmp)
        # the new file is in place, its sync pending; the old one was replaced only
        # once its replacement was durable
        assert [path for _, path in pending.files] == [new]
        assert pl.read_parquet(new)["v"].to_list() == [1]
        assert pl.read_parquet(old)["v"].to_list() == [1]
        fd = pending.files[0][0]
        assert pending.sync() == {}
    with pytest.raises(OSError):
        os.fstat(fd)  # closed by the sync
    assert sorted(p.name for p in (tmp_path / ".tmp").iterdir()) == []
    outside = tmp_path / "outside.parquet"
    with atomic_path(outside, may_defer=True) as tmp:  # no deferred_syncs: synced now
        pl.DataFrame({"v": [2]}).write_parquet(tmp)
    assert outside.exists()


def test_a_file_whose_sync_fails_is_removed_and_its_step_fails(root, monkeypatch):
    from click.testing import CliRunner

    from assay.cli.main import main

    real_fsync = os.fsync

    def failing_fsync(fd):
        # the fault: the disk refuses the deferred sync of an output (the journal's
        # and the store's syncs, on other files, go on)
        if "storage" in os.readlink(f"/proc/self/fd/{fd}"):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        real_fsync(fd)

    monkeypatch.chdir(root)
    monkeypatch.setattr(atomic.os, "fsync", failing_fsync)
    result = CliRunner().invoke(main, ["materialize", "first"])
    assert result.exit_code == 1, result.output
    assert "could not store the output" in result.output
    assert "Input/output error" in result.output
    assert not (root / ".assay" / "storage" / "first" / "data.parquet").exists()
    monkeypatch.setattr(atomic.os, "fsync", real_fsync)
    assert CliRunner().invoke(main, ["materialize", "first"]).exit_code == 0
