"""One warehouse file, many processes: real processes, real DuckDB, no mocks."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import duckdb
import polars as pl
import pytest

from assay import AssetKey, DuckDBIO
from assay.assets import InputKind
from assay.errors import MaterializationError
from assay.io import warehouse
from assay.io.warehouse import close_warehouses, warehouse_for
from tests.conftest import ASSAY, clean_env, wait_for

KEY = AssetKey.parse("sales/orders")
ROLLING_SUM = sum(sum(range(max(1, day - 6), day + 1)) for day in range(1, 31))

# A process writing partitions <name>-000.. of sales/orders, reading each back at once,
# printing each once its write has returned (acknowledged), then reading all of its own.
WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import polars as pl
    from assay import AssetKey, DuckDBIO
    from assay.assets import InputKind
    from assay.io import warehouse

    path, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    warehouse.IDLE_S = float(sys.argv[4])
    go = Path(path + ".go")
    io, key = DuckDBIO(path=path), AssetKey.parse("sales/orders")
    while not go.exists():
        time.sleep(0.005)
    mine = []
    for i in range(count):
        part = f"{name}-{i:03d}"
        io.write(key, part, pl.DataFrame({"writer": [name] * 3, "i": [i] * 3}))
        mine.append(part)
        back = io.load(key, [part], InputKind.EAGER)
        assert back["i"].to_list() == [i] * 3, back
        print("ack", part, flush=True)
    assert io.load(key, mine, InputKind.EAGER).height == 3 * count
    role = "keeper" if warehouse.warehouse_for(Path(path)).is_kept_here else "client"
    print("done", role, flush=True)
    if len(sys.argv) > 5:  # stay, holding what it holds, until told to go
        while not Path(sys.argv[5]).exists():
            time.sleep(0.01)
    """
)


def writer(path, name: str, count: int, *, idle_s: float = 1.0, stay: str | None = None):
    script = path.parent / "writer.py"
    if not script.exists():
        script.write_text(WRITER)
    return subprocess.Popen(
        [sys.executable, str(script), str(path), name, str(count), str(idle_s)]
        + ([stay] if stay else []),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stored_partitions(path) -> dict[str, int]:
    with duckdb.connect(str(path)) as con:
        rows = con.execute(
            "SELECT _partition, count(*) FROM sales.orders GROUP BY _partition"
        ).fetchall()
    return dict(rows)


@pytest.fixture
def path(tmp_path):
    yield tmp_path / "wh.duckdb"
    close_warehouses()


def test_processes_writing_partitions_of_one_asset_at_once_lose_nothing(path):
    procs = {name: writer(path, name, 40) for name in ("a", "b", "c")}
    time.sleep(1.0)  # let them import, then start them together
    (path.parent / (path.name + ".go")).touch()
    outputs = {name: proc.communicate(timeout=180) for name, proc in procs.items()}
    for name, proc in procs.items():
        assert proc.returncode == 0, outputs[name][1]
        assert outputs[name][0].count("ack ") == 40
    assert stored_partitions(path) == {f"{n}-{i:03d}": 3 for n in "abc" for i in range(40)}


def test_another_process_reads_and_writes_through_the_keeper(path, monkeypatch):
    monkeypatch.setattr(warehouse, "IDLE_S", 60.0)
    io = DuckDBIO(path=path)
    io.write(KEY, "here-000", pl.DataFrame({"writer": ["here"] * 3, "i": [0] * 3}))
    assert warehouse_for(path).is_kept_here
    (path.parent / (path.name + ".go")).touch()
    proc = writer(path, "there", 20)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "done client" in out
    both = [f"there-{i:03d}" for i in range(20)] + ["here-000"]
    assert io.load(KEY, both, InputKind.EAGER).height == 3 * 21
    close_warehouses()
    assert not warehouse_for(path).is_kept_here
    assert len(stored_partitions(path)) == 21


def test_a_killed_keeper_loses_no_acknowledged_write(path):
    stay = str(path.parent / "stay")
    keeper = writer(path, "k", 10, idle_s=60.0, stay=stay)  # keeps the file, then idles on
    (path.parent / (path.name + ".go")).touch()
    assert keeper.stdout.readline().startswith("ack k-000")
    client = writer(path, "c", 60)
    acked = [client.stdout.readline().split()[1] for _ in range(5)]  # through the keeper
    keeper.send_signal(signal.SIGKILL)
    keeper.wait()
    out, err = client.communicate(timeout=120)
    assert client.returncode == 0, err
    acked += [line.split()[1] for line in out.splitlines() if line.startswith("ack ")]
    assert acked == [f"c-{i:03d}" for i in range(60)]
    assert "done keeper" in out  # it took the file over
    stored = stored_partitions(path)
    assert {p for p in stored if p.startswith("c-")} == set(acked)
    assert all(f"k-{i:03d}" in stored for i in range(10))  # the keeper's own, acknowledged
    keeper.stdout.close()
    keeper.stderr.close()


# A process that cannot reach a keeper's socket (another machine on a shared mount; a
# temporary folder of its own): it writes through the lock alone.
NO_SOCKET = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import polars as pl
    from assay import AssetKey, DuckDBIO
    from assay.assets import InputKind
    from assay.io import warehouse

    warehouse._socket_address = lambda path: None
    warehouse.WAREHOUSE_TIMEOUT_S = 10.0
    io, key = DuckDBIO(path=sys.argv[1]), AssetKey.parse("sales/orders")
    for i in range(20):
        part = f"far-{i:03d}"
        io.write(key, part, pl.DataFrame({"writer": ["far"] * 3, "i": [i] * 3}))
        assert io.load(key, [part], InputKind.EAGER).height == 3
    print("done", flush=True)
    """
)


def test_a_process_without_the_keepers_socket_gets_the_file_in_turn(path):
    stop = path.parent / "stop"
    busy = textwrap.dedent(
        f"""
        import polars as pl
        from pathlib import Path
        from assay import AssetKey, DuckDBIO
        io, key = DuckDBIO(path={str(path)!r}), AssetKey.parse("sales/orders")
        i = 0
        while not Path({str(stop)!r}).exists() or i < 5:  # never idle for a second
            io.write(key, f"near-{{i:04d}}", pl.DataFrame({{"writer": ["near"] * 3, "i": [i] * 3}}))
            print("ack", i, flush=True)
            i += 1
        """
    )
    keeper = subprocess.Popen(
        [sys.executable, "-c", busy], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert keeper.stdout.readline().startswith("ack 0")
        far = subprocess.run(
            [sys.executable, "-c", NO_SOCKET, str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert far.returncode == 0, far.stderr
        assert far.stdout.strip() == "done"
    finally:
        stop.touch()
        out, err = keeper.communicate(timeout=60)
    assert keeper.returncode == 0, err
    stored = stored_partitions(path)
    assert all(f"far-{i:03d}" in stored for i in range(20))
    near = int(out.split()[-1]) + 1
    assert all(f"near-{i:04d}" in stored for i in range(near))


def test_a_keeper_that_does_not_answer_is_named_after_the_timeout(path, monkeypatch):
    stay = str(path.parent / "stay")
    keeper = writer(path, "k", 1, idle_s=60.0, stay=stay)
    (path.parent / (path.name + ".go")).touch()
    try:
        assert keeper.stdout.readline().startswith("ack k-000")
        wait_for(lambda: "done" in keeper.stdout.readline())
        keeper.send_signal(signal.SIGSTOP)
        monkeypatch.setattr(warehouse, "WAREHOUSE_TIMEOUT_S", 1.0)
        started = time.monotonic()
        with pytest.raises(
            MaterializationError,
            match=rf"^the warehouse {path} is held by python\S* writer\.py \S+ "
            rf"\(PID {keeper.pid}\), which "
            r"has not answered for 1 s: stop it if it is stuck$",
        ):
            DuckDBIO(path=path).load(KEY, ["k-000"], InputKind.EAGER)
        assert time.monotonic() - started < 10
    finally:
        keeper.send_signal(signal.SIGCONT)
        keeper.kill()
        keeper.communicate()


def test_a_keeper_lets_the_file_go_when_idle(path):
    stay = str(path.parent / "stay")
    keeper = writer(path, "k", 1, idle_s=0.3, stay=stay)  # alive, but with nothing to do
    (path.parent / (path.name + ".go")).touch()
    try:
        assert keeper.stdout.readline().startswith("ack k-000")

        def free() -> bool:
            try:
                duckdb.connect(str(path)).close()
            except duckdb.Error:
                return False
            return True

        wait_for(free, timeout_s=10)
        assert keeper.poll() is None
    finally:
        keeper.kill()
        keeper.communicate()


def test_a_table_dropped_by_another_connection_of_the_process_is_written_again(path):
    io = DuckDBIO(path=path)
    frame = pl.DataFrame({"writer": ["x"], "i": [1]})
    io.write(KEY, "p1", frame)
    assert io.load(KEY, ["p1"], InputKind.EAGER).equals(frame)
    with duckdb.connect(str(path)) as con:  # the keeper's own database, shared in-process
        con.execute("DROP TABLE sales.orders")
    io.write(KEY, "p2", frame)  # what the keeper remembered is stale: done afresh
    assert io.load(KEY, ["p2"], InputKind.EAGER).equals(frame)
    with pytest.raises(MaterializationError, match="no stored partition p1"):
        io.load(KEY, ["p1"], InputKind.EAGER)


@pytest.mark.parametrize(
    "executor",
    [
        [],
        ["--executor", "multiprocess", "--workers", "2"],
        ["--executor", "dask", "--workers", "2"],
    ],
    ids=["in_process", "multiprocess", "dask"],
)
def test_nothing_holds_the_warehouse_after_materialize(make_project, executor):
    root = make_project("warehouse_days")
    done = subprocess.run(
        [str(ASSAY), "materialize", *executor],
        cwd=root,
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    opened = subprocess.run(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); "
            "print(con.sql('SELECT count(*), sum(amount) FROM main.rolling').fetchall())",
            str(root / ".assay/warehouse.duckdb"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert opened.returncode == 0, opened.stderr
    assert opened.stdout.strip() == f"[(30, {ROLLING_SUM})]"
    assert not list((root / ".assay").glob("warehouse.duckdb.wal"))  # closed, checkpointed


def test_nothing_holds_the_warehouse_after_project_materialize(make_project):
    import assay

    root = make_project("warehouse_days")
    result = assay.load().materialize()  # make_project made root the working directory
    assert result.status == "succeeded"
    path = root / ".assay/warehouse.duckdb"
    assert not warehouse_for(path).is_kept_here
    with duckdb.connect(str(path), read_only=True) as con:  # as a notebook would, at once
        rows = con.sql("SELECT count(*), sum(amount) FROM main.rolling").fetchall()
    assert rows == [(30, ROLLING_SUM)]


def test_no_socket_is_left_behind(path):
    io = DuckDBIO(path=path)
    io.write(KEY, "p1", pl.DataFrame({"writer": ["x"], "i": [1]}))
    address = warehouse_for(path)._address
    assert address is not None
    assert os.path.exists(address)
    assert oct(os.stat(os.path.dirname(address)).st_mode & 0o777) == "0o700"
    close_warehouses()
    assert not os.path.exists(address)
