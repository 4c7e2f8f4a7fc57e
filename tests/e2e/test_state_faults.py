"""Faults that must never brick a project nor serve wrong data: torn and malformed
journal lines, corrupt DuckDB files, a full disk, read-only folders, skewed
clocks, and indexing in any batching. After each, every command works or says
what to do in one line, and once the fault is gone the state store equals what
its journals say (every table compared with a rebuild from scratch)."""

import compileall
import contextlib
import errno
import fcntl
import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from assay.cli.main import main
from assay.state.store import StateStore
from tests.conftest import ASSAY, PROJECTS, clean_env, cli
from tests.state_snapshots import (
    assert_state_equals_journals,
    copy_journals,
    done_journals,
    every_journal,
    journal_bytes,
    snapshot,
)

pytestmark = pytest.mark.slow

DAY = "2024-01-02"


def make_ledger(folder: Path) -> Path:
    folder.mkdir(parents=True)
    shutil.copy(PROJECTS / "ledger.py", folder / "ledger.py")
    (folder / "pyproject.toml").write_text(
        '[project]\nname = "ledger"\n\n[tool.assay]\nmodule = "ledger"\n'
    )
    return folder


def assay(root: Path, *args: str, **env: str) -> tuple[int, str, str]:
    done = subprocess.run(
        [str(ASSAY), *args],
        cwd=root,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.returncode, done.stdout, done.stderr


def ok(root: Path, *args: str, **env: str) -> str:
    code, out, err = assay(root, *args, **env)
    assert code == 0, (args, out, err)
    return out


def plan_of(root: Path, **env: str) -> list[dict]:
    return json.loads(ok(root, "plan", "--json", **env))["steps"]


# The same three in this process (conftest.cli), where the test's fault is not a process's
# own: a skewed clock, a SIGKILL and the store held by another process stay real processes.


def here(root: Path, *args: str, **env: str) -> tuple[int, str, str]:
    done = cli(root, *args, **env)
    return done.returncode, done.stdout, done.stderr


def ok_here(root: Path, *args: str, **env: str) -> str:
    code, out, err = here(root, *args, **env)
    assert code == 0, (args, out, err)
    return out


def plan_here(root: Path, **env: str) -> list[dict]:
    return json.loads(ok_here(root, "plan", "--json", **env))["steps"]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return shared_history(tmp_path_factory)


def shared_history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """make_history's project, built once per session and shared by every module and
    xdist worker: the tests that change it work on a copy (shutil.copytree)."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder = shared / "ledger-history"
    with open(shared / "ledger-history.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the other worker waits for the one building
        if not (folder / "built").exists():
            shutil.rmtree(folder, ignore_errors=True)
            make_history(folder / "ledger")
            (folder / "built").touch()
    return folder / "ledger"


def make_history(folder: Path) -> Path:
    """A project whose journals hold every kind of record: observations, runs with
    the same and with new content, checks, a failed and resumed backfill, a backfill
    killed mid-run and then canceled. The killed backfill is a real process; the
    other commands run in this process (`here`), their journals the same."""
    root = make_ledger(folder)
    path, modules = list(sys.path), set(sys.modules)
    try:
        ok_here(root, "observe")
        ok_here(root, "materialize")
        ok_here(
            root, "materialize", "root", "--force"
        )  # the same content: nothing downstream moves
        ok_here(
            root, "materialize", "root", "-p", DAY, "--force", VALUE="2"
        )  # new content, one day
        ok_here(root, "observe", FEED="b")  # the source changed
        ok_here(root, "materialize", VALUE="2")
        ok_here(root, "check")
        code, out, err = here(
            root, "backfill", "start", "--force", FAIL_DAY="2024-01-03", VALUE="2"
        )
        assert code == 1, out + err
        ok_here(root, "backfill", "resume", VALUE="2")
        code, out, err = assay(root, "backfill", "start", "--force", KILL_DAY=DAY, VALUE="2")
        assert code == -9, out + err
        killed = json.loads(ok_here(root, "backfill", "list", "--json"))[0]["backfill_id"]
        ok_here(root, "backfill", "cancel", killed)
        ok_here(root, "runs")
    finally:  # the project's module and folder leave this process as they came
        sys.path[:] = path
        for name in set(sys.modules) - modules:
            if name == "ledger" or name.startswith("ledger."):
                del sys.modules[name]
    compileall.compile_file(root / "ledger.py", quiet=1)  # its readers then write no bytecode
    return root


def test_indexing_gives_the_same_tables_whatever_the_batching(history, tmp_path):
    reference = tmp_path / "at-once"
    copy_journals(history / ".assay", reference)
    StateStore(reference).index_pending()
    expected = snapshot(reference / "assay.duckdb")
    assert expected == snapshot(history / ".assay" / "assay.duckdb"), "the store as it was built"
    journals = sorted(
        [
            *history.joinpath(".assay", "journal").glob("*.jsonl"),
            *done_journals(history / ".assay"),
        ],
        key=lambda p: p.stat().st_mtime,
    )
    assert len(journals) >= 10
    orders = {
        "one by one": [[p] for p in journals],
        "newest first": [[p] for p in reversed(journals)],
    }
    for seed in range(3):
        shuffled = random.Random(seed).sample(journals, len(journals))
        cuts = sorted(random.Random(seed).sample(range(1, len(journals)), 3))
        orders[f"random batches {seed}"] = [
            shuffled[a:b] for a, b in zip([0, *cuts], [*cuts, len(journals)], strict=True)
        ]
    for name, batches in orders.items():
        home = tmp_path / name.replace(" ", "-")
        (home / "journal").mkdir(parents=True)
        for batch in batches:
            for path in batch:
                (home / "journal" / path.name.removesuffix(".gz")).write_bytes(journal_bytes(path))
            StateStore(home).index_pending()
        found = snapshot(home / "assay.duckdb")
        for table in expected:
            assert found[table] == expected[table], f"{name}: table {table} differs"


def test_rebuilding_the_store_keeps_the_plan(history, tmp_path):
    root = tmp_path / "ledger"
    shutil.copytree(history, root)
    before = plan_here(root, VALUE="2", FEED="b")
    (root / ".assay" / "assay.duckdb").rename(tmp_path / "aside.duckdb")
    assert plan_here(root, VALUE="2", FEED="b") == before


def test_the_same_content_again_triggers_nothing_even_after_a_rebuild(tmp_path):
    root = make_ledger(tmp_path / "ledger")
    ok_here(root, "observe")
    ok_here(root, "materialize")
    ok_here(root, "materialize", "root", "--force")
    assert plan_here(root) == []
    (root / ".assay" / "assay.duckdb").unlink()
    assert plan_here(root) == []


def test_the_newer_content_wins_when_the_clock_goes_back(tmp_path):
    root = make_ledger(tmp_path / "ledger")
    ok_here(root, "observe")
    ok_here(root, "materialize")
    skew = tmp_path / "skew"
    skew.mkdir()
    (skew / "sitecustomize.py").write_text(
        "import time\n"
        "_time, _ns = time.time, time.time_ns\n"
        "time.time = lambda: _time() - 3600\n"
        "time.time_ns = lambda: _ns() - 3600 * 10**9\n"
    )
    # a process of its own: its clock, an hour behind
    ok(root, "materialize", "root", "-p", DAY, "--force", VALUE="5", PYTHONPATH=str(skew))
    stale = {(s["asset"], s["partitions"]) for s in plan_here(root, VALUE="5")}
    assert ("daily", DAY) in stale, "the newer root partition must make its reader stale"
    why = ok_here(root, "why", "daily", "-p", DAY, VALUE="5")
    assert "upstream root changed" in why
    (root / ".assay" / "assay.duckdb").unlink()  # the same after a rebuild
    assert {(s["asset"], s["partitions"]) for s in plan_here(root, VALUE="5")} == stale
    ok_here(root, "materialize", VALUE="5")
    assert plan_here(root, VALUE="5") == []


def test_a_backfill_killed_after_its_last_step_is_completed(tmp_path):
    root = make_ledger(tmp_path / "ledger")
    ok_here(root, "observe")
    ok_here(root, "backfill", "start")
    (journal,) = [
        path
        for path in done_journals(root / ".assay")
        if b'"type":"backfill"' in journal_bytes(path)
    ]
    lines = journal_bytes(journal).splitlines(keepends=True)
    ending = [i for i, line in enumerate(lines) if b'"status":"completed"' in line]
    # as if killed between its last step's records and the run's closing ones
    journal.unlink()
    journal.with_suffix("").write_bytes(b"".join(lines[: min(ending) - 1]))
    (root / ".assay" / "assay.duckdb").unlink()
    listed = json.loads(ok_here(root, "backfill", "list", "--json"))
    assert listed[0]["status"] == "completed"
    status = ok_here(root, "backfill", "status")
    assert "completed" in status
    assert "Resume with" not in status


# --- torn and malformed lines ---------------------------------------------------------


def _real_journal(history: Path) -> bytes:
    """A finished materialize run's journal, with steps, materializations and lineage."""
    for path in done_journals(history / ".assay"):
        data = journal_bytes(path)
        if data.startswith(b'{"type":"run"') and b'"type":"materialization"' in data:
            return data
    raise AssertionError("no materialize journal")


def test_a_line_torn_at_any_byte_never_blocks_indexing(history, tmp_path):
    data = _real_journal(history)
    run_id = json.loads(data.splitlines()[0])["run_id"]
    lines = data.splitlines(keepends=True)
    step_at = next(i for i, line in enumerate(lines) if line.startswith(b'{"type":"step"'))
    lineage_at = next(i for i, line in enumerate(lines) if line.startswith(b'{"type":"lineage"'))
    home = tmp_path / "home"
    (home / "journal").mkdir(parents=True)
    cuts = {}  # journal name -> (complete lines kept, torn?)
    for line_at, stride in ((step_at, 1), (lineage_at, 7)):
        start = sum(len(line) for line in lines[:line_at])
        for cut in range(start, start + len(lines[line_at]) + 1, stride):
            name = f"torn-{line_at}-{cut:06d}"
            renamed = data.replace(run_id.encode(), name.encode())
            cut_at = cut + (len(name) - len(run_id)) * data[:cut].count(run_id.encode())
            (home / "journal" / f"{name}.jsonl").write_bytes(renamed[:cut_at])
            kept = renamed[:cut_at]
            fragment = kept[kept.rfind(b"\n") + 1 :]  # a whole record cut before its newline
            cuts[name] = (kept.count(b"\n"), bool(fragment) and not _is_json(fragment))
    report = StateStore(home).index_pending()
    assert report.is_complete
    import duckdb

    with duckdb.connect(str(home / "assay.duckdb"), read_only=True) as con:
        died = dict(con.execute("SELECT run_id, status FROM runs").fetchall())
        quarantined = dict(
            con.execute("SELECT journal, count(*) FROM quarantine GROUP BY ALL").fetchall()
        )
        unfinished = con.execute("SELECT count(*) FROM journal_files WHERE NOT is_finished")
        assert unfinished.fetchone() == (0,)
    for name, (_, torn) in cuts.items():
        assert died[name] == "died"
        assert quarantined.get(f"{name}.jsonl", 0) == int(torn), name
    assert not list((home / "journal").glob("*.jsonl")), "every dead journal is closed"
    for path in done_journals(home):
        for line in journal_bytes(path).splitlines()[-1:]:
            assert json.loads(line)["type"] == "run_died"  # never merged with a torn line
    assert_state_equals_journals(home, tmp_path / "scratch")


def _is_json(data: bytes) -> bool:
    try:
        json.loads(data)
    except ValueError:
        return False
    return True


BAD_LINES = {
    "a number": (b"42", "a JSON number, not an object"),
    "null": (b"null", "a JSON null, not an object"),
    "a list": (b"[1, 2]", "a JSON array, not an object"),
    "a string": (b'"text"', "a JSON string, not an object"),
    "an empty object": (b"{}", "no 'type' field"),
    "an unknown type": (b'{"type":"nope"}', "unknown record type 'nope'"),
    "a step without fields": (b'{"type":"step"}', "step record without"),
    "a wrongly typed field": (
        b'{"type":"step","run_id":1,"step_key":"a","asset_key":"a","status":"x"}',
        "'run_id' is 1, not a string",
    ),
    "a number too large": (
        b'{"type":"run","run_id":"r1","status":"running","pid":99999999999999999999}',
        "not a 64-bit integer",
    ),
    "a time that is text": (
        b'{"type":"run","run_id":"r2","status":"running","started_at":"yesterday"}',
        "not a time",
    ),
    "a time that is NaN": (
        b'{"type":"run","run_id":"r3","status":"running","started_at":NaN}',
        "not a time",
    ),
    "a lone surrogate": (b'{"type":"run","run_id":"\\ud800","status":"x"}', "not a string"),
    "bytes that are not UTF-8": (b'{"type":"run","run_id":"\xff\xfe","status":"x"}', "JSON"),
    "torn JSON": (b'{"type":"run","run_id":"r4","sta', "not valid JSON"),
    "a malformed lineage line": (b'{"type":"lineage","event_id":"e1","run_', "not valid JSON"),
    "a lineage line without its event": (
        b'{"type":"lineage","event_id":"e2","run_id":"r","event_type":"START",'
        b'"event_time":1.0,"kind":"asset"}',
        "lineage record without event",
    ),
    "a lineage line with a bad time": (
        b'{"type":"lineage","event_id":"e3","run_id":"r","event_type":"START",'
        b'"event_time":"noon","kind":"asset","event":"{}"}',
        "lineage record without event_time",
    ),
    "a lineage time out of range": (
        b'{"type":"lineage","event_id":"e4","run_id":"r","event_type":"START",'
        b'"event_time":1e300,"kind":"asset","event":"{}"}',
        "event_time is not a time",
    ),
    "a dead run without its id": (b'{"type":"run_died","at":1.0}', "run_died record without"),
    "a backfill with a text seq": (
        b'{"type":"backfill","backfill_id":"b","status":"running","targets":"{}","seq":"x"}',
        "'seq' is 'x', not a 64-bit integer",
    ),
}


def test_a_record_of_any_wrong_shape_is_set_aside_and_the_rest_is_indexed(history, tmp_path):
    root = tmp_path / "ledger"
    shutil.copytree(history, root)
    journal = root / ".assay" / "journal" / "by-hand.jsonl"
    good = b'{"type":"run","run_id":"by-hand","status":"succeeded","started_at":1.0}'
    journal.write_bytes(b"\n".join([line for line, _ in BAD_LINES.values()] + [good]) + b"\n")
    code, out, err = here(root, "runs", "--limit", "50")
    assert code == 0, err
    assert "by-hand" in out
    assert f"{len(BAD_LINES)} journal record(s) could not be indexed" in err
    code, out, _ = here(root, "state", "doctor")
    assert code == 0, out
    reasons = {row["reason"] for row in _quarantine(root) if row["journal"] == "by-hand.jsonl"}
    assert len(reasons) <= len(BAD_LINES)
    for name, (_, expected) in BAD_LINES.items():
        assert any(expected in reason for reason in reasons), (name, reasons)
        assert "by-hand.jsonl at byte" in out
    for command in (["list"], ["plan"], ["backfill", "list"], ["check"]):
        code, out, err = here(root, *command, VALUE="2", FEED="b")
        assert code in (0, 1), (command, out, err)
        assert "Traceback" not in err
    assert_state_equals_journals(root / ".assay", tmp_path / "scratch")


def _quarantine(root: Path) -> list[dict]:
    import duckdb

    with duckdb.connect(str(root / ".assay" / "assay.duckdb"), read_only=True) as con:
        cursor = con.execute("SELECT journal, byte_offset, reason FROM quarantine")
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


# --- a corrupt DuckDB file --------------------------------------------------------------


def _truncate(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def _scramble(path: Path) -> None:
    size = path.stat().st_size
    with open(path, "r+b") as file:
        for offset in range(4096 * 3, size, 4096 * 7):
            file.seek(offset)
            file.write(random.Random(offset).randbytes(2048))


def _header(path: Path) -> None:
    with open(path, "r+b") as file:
        file.write(b"\0" * 8192)


COMMANDS = [
    ["runs"],
    ["list"],
    ["plan"],
    ["materialize"],
    ["check"],
    ["backfill", "list"],
    ["lineage", "daily"],
    ["why", "daily", "-p", DAY],
    ["runs", "show", "x"],
]


@pytest.mark.parametrize("damage", [_truncate, _scramble, _header], ids=lambda f: f.__name__[1:])
def test_a_corrupt_store_is_one_line_then_rebuilt_whole(history, tmp_path, monkeypatch, damage):
    root = tmp_path / "ledger"
    shutil.copytree(history, root)
    expected_plan = plan_here(root, VALUE="2", FEED="b")
    db = root / ".assay" / "assay.duckdb"
    damage(db)
    monkeypatch.chdir(root)
    monkeypatch.setenv("VALUE", "2")
    monkeypatch.setenv("FEED", "b")
    storage = sorted(p.stat().st_mtime_ns for p in (root / ".assay" / "storage").rglob("*"))
    for command in COMMANDS:
        result = CliRunner().invoke(main, command)
        if result.exit_code in (0, 1) and "cannot be read" not in result.stderr:
            continue  # it read nothing the damage touched (and `runs show x` knows no x)
        assert result.exit_code == 2, (command, result.output)
        assert len(result.stderr.strip().splitlines()) == 1, (command, result.stderr)
        assert "cannot be read" in result.stderr, (command, result.stderr)
        assert "`assay state rebuild`" in result.stderr
    assert sorted(p.stat().st_mtime_ns for p in (root / ".assay" / "storage").rglob("*")) == storage
    result = CliRunner().invoke(main, ["state", "rebuild"])
    assert result.exit_code == 0, result.output
    assert "Rebuilt" in result.output
    assert list((root / ".assay").glob("assay.duckdb.broken-*"))
    assert plan_here(root, VALUE="2", FEED="b") == expected_plan
    assert_state_equals_journals(root / ".assay", tmp_path / "scratch")


# --- a full disk ------------------------------------------------------------------------


@contextlib.contextmanager
def small_disk(folder: Path, size: str = "32m"):
    """A tmpfs of `size` at `folder`, where this machine lets the test mount one."""
    folder.mkdir(parents=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(folder: Path, leave: int) -> Path:
    filler = folder / "filler"
    free = shutil.disk_usage(folder).free
    with open(filler, "wb") as file:
        file.truncate(0)
        remaining = max(free - leave, 0)
        chunk = b"\0" * 65536
        while remaining > 0:
            try:
                remaining -= file.write(chunk[: min(remaining, len(chunk))])
            except OSError:
                break
    return filler


@pytest.mark.parametrize("leave", [4096, 400_000, 1_500_000])  # in a record, a step, a run
def test_a_full_disk_stops_a_run_cleanly_and_loses_nothing(tmp_path, leave):
    root = make_ledger(tmp_path / "ledger")
    with small_disk(tmp_path / "disk") as disk:
        home = disk / "home"
        env = {"ASSAY_HOME": str(home)}
        ok_here(root, "observe", **env)
        ok_here(root, "materialize", "root", "-p", "2024-01-01", **env)
        filler = _fill(disk, leave)
        for command in (["materialize", "--force"], ["backfill", "start", "--force"]):
            code, out, err = here(root, *command, **env)
            assert code in (0, 1, 2), (command, code, out, err)
            assert "Traceback" not in out + err, (command, out, err)
            if code == 2:
                assert len(err.strip().splitlines()) <= 2, err
        for command in (["runs"], ["list"], ["plan"], ["backfill", "list"]):
            code, out, err = here(root, *command, **env)
            assert code == 0, (command, out, err)  # reads answer on a full disk
        filler.unlink()
        ok_here(root, "runs", **env)
        for path in every_journal(home):
            data = journal_bytes(path)
            assert not data or data.endswith(b"\n"), path
        ok_here(root, "materialize", **env)
        assert plan_here(root, **env) == []
        assert_state_equals_journals(home, tmp_path / "scratch")


def test_a_journal_write_that_runs_out_of_space_is_cut_back_to_whole_records(tmp_path, monkeypatch):
    """Anywhere (no tmpfs needed): the journal's writes fail with ENOSPC halfway."""
    root = make_ledger(tmp_path / "ledger")
    monkeypatch.chdir(root)
    assert CliRunner().invoke(main, ["observe"]).exit_code == 0
    import assay.state.journal as journal_module

    real = journal_module._write_all
    calls = {"n": 0}

    def full_after_a_while(fd: int, data: bytes) -> None:
        calls["n"] += 1
        if calls["n"] > 3:
            real(fd, data[: len(data) // 2])
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd, data)

    monkeypatch.setattr(journal_module, "_write_all", full_after_a_while)
    result = CliRunner().invoke(main, ["materialize"])
    assert result.exit_code == 2, result.output
    assert "the disk is full" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    monkeypatch.setattr(journal_module, "_write_all", real)
    for path in every_journal(root / ".assay"):
        for line in journal_bytes(path).splitlines():
            json.loads(line)  # every line whole
    runs = CliRunner().invoke(main, ["runs", "--json"])
    assert runs.exit_code == 0, runs.output
    assert {r["status"] for r in json.loads(runs.stdout)} <= {"succeeded", "died"}
    assert CliRunner().invoke(main, ["materialize"]).exit_code == 0
    assert_state_equals_journals(root / ".assay", tmp_path / "scratch")


def test_an_output_that_cannot_be_synced_is_removed_and_nothing_after_it_is_recorded(
    tmp_path, monkeypatch
):
    """In process, outputs are synced on the journal's thread while the next step
    runs; one whose fsync fails (an I/O error: no disk here fails one on demand)
    is removed, its record and every record after it are dropped, and the run
    says so in one line. Once the disk is fine the state equals its journals and
    the next run materializes what was dropped."""
    import threading

    import assay.io.atomic as atomic

    root = tmp_path / "chain"
    root.mkdir()
    shutil.copy(PROJECTS / "daily_chain.py", root / "chain_sync.py")
    (root / "pyproject.toml").write_text('[tool.assay]\nmodule = "chain_sync"\n')
    monkeypatch.chdir(root)
    monkeypatch.syspath_prepend(str(root))
    real = atomic._fsync_data
    threads: set[str] = set()
    bad = root / ".assay/storage/daily_totals/partition=2024-01-03/data.parquet"

    def fails_for_one(fd: int) -> None:
        threads.add(threading.current_thread().name)
        if os.readlink(f"/proc/self/fd/{fd}") == str(bad):
            raise OSError(errno.EIO, "Input/output error")
        real(fd)

    monkeypatch.setattr(atomic, "_fsync_data", fails_for_one)
    result = CliRunner().invoke(main, ["materialize"])
    assert result.exit_code == 2, result.output
    assert f"cannot sync the output {bad} to disk (Input/output error)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "assay-journal-sync" in threads  # not on the thread running the steps
    assert not bad.exists()
    monkeypatch.setattr(atomic, "_fsync_data", real)
    planned = {s["asset"]: s["partitions"] for s in plan_here(root)}
    assert "2024-01-03" in planned["daily_totals"]
    assert "2024-01-01" not in planned.get("events", "")  # recorded before the failure
    for path in every_journal(root / ".assay"):
        for line in journal_bytes(path).splitlines():
            record = json.loads(line)
            assert not (
                record.get("type") == "materialization"
                and record.get("asset_key") == "daily_totals"
                and record.get("partition_key") == "2024-01-03"
            )
    ok_here(root, "materialize")
    assert plan_here(root) == []
    assert_state_equals_journals(root / ".assay", tmp_path / "scratch")


# --- folders that cannot be written ----------------------------------------------------


@contextlib.contextmanager
def read_only(folder: Path):
    """Make `folder` read-only for this process: by permissions, or for root (who
    ignores them) by a read-only bind mount where the machine allows one."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")] if p.is_dir()}
        for path in modes:
            path.chmod(0o555)
        try:
            yield
        finally:
            for path, mode in modes.items():
                path.chmod(mode)
        return
    bound = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True)
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.decode().strip()}")
    try:
        subprocess.run(
            ["mount", "-o", "remount,ro,bind", str(folder)], check=True, capture_output=True
        )
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@pytest.mark.parametrize("what", ["home", "journal"])
def test_a_read_only_folder_is_one_line_for_writes_and_reads_go_on(history, tmp_path, what):
    root = tmp_path / "ledger"
    shutil.copytree(history, root)
    home = root / ".assay"
    folder = home if what == "home" else home / "journal"
    with read_only(folder):
        for command in (["runs"], ["list"], ["plan"], ["backfill", "list"], ["state", "doctor"]):
            code, out, err = here(root, *command, VALUE="2", FEED="b")
            assert code in (0, 1) if command[0] == "state" else code == 0, (command, out, err)
            assert "Traceback" not in err
        for command in (["materialize", "--force"], ["observe"], ["check"]):
            code, out, err = here(root, *command, VALUE="2", FEED="b")
            assert code == 2, (command, out, err)
            assert len(err.strip().splitlines()) <= 2, (command, err)  # a note, the error
            assert "writable state folder" in err.splitlines()[-1], err
    ok_here(root, "materialize", "--force", VALUE="2", FEED="b")
    assert_state_equals_journals(home, tmp_path / "scratch")


@pytest.mark.parametrize("kind", ["file", "device"])
def test_a_home_that_is_not_a_folder_is_one_line(history, tmp_path, kind):
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    env = {"ASSAY_HOME": str(home) if kind == "file" else os.devnull}
    for command in (["runs"], ["list"], ["plan"], ["materialize"], ["state", "doctor"]):
        code, out, err = here(history, *command, **env)
        assert code in (1, 2), (command, out, err)
        assert "not a folder" in out + err, (command, out, err)
        assert "Traceback" not in err


def test_a_stuck_lock_holder_is_named_by_its_real_pid(tmp_path):
    from assay.errors import StateLockedError
    from assay.locking import file_lock, lock_path_for

    db = tmp_path / "assay.duckdb"
    lock_path_for(db).write_text("1 a-process-long-gone\n")
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys, time; fd = os.open(sys.argv[1], os.O_RDWR); "
            "fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); time.sleep(60)",
            str(lock_path_for(db)),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        with (
            pytest.raises(StateLockedError, match=rf"\(PID {holder.pid}\)"),
            file_lock(db, exclusive=False, timeout_s=0.2),
        ):
            pass
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()
