"""DuckDBIO: N daily partitions written and read back, against one bare connection.

Each partition is a 24-row, 5-column frame (an hour per row). Each side writes
every partition in its own transaction (delete the partition's rows, insert the
new ones), reads each back right after writing it, then reads 7-partition
windows (a rolling week) and finally the whole table:

- assay: through `DuckDBIO.write` and `DuckDBIO.load`, as a step does (so with
  the data version of each output, the table owner check, the missing-partition
  check);
- bare: one `duckdb.connect` for the whole loop doing the same inserts, deletes
  and selects (the table created once up front);
- assay, 2 processes at once, each writing and reading half of the partitions
  of the same table (one keeps the file, the other sends it its operations);
- bare, a connection per operation: what DuckDBIO did before it kept one
  (open, operate, close, under the same OS lock), run once, for reference.

Each side runs in a fresh process and times its own loop (imports and start
excluded); sides are interleaved, REPEAT times, and medians compared. Then, in
one process, each operation is timed alone, assay's and the bare one's in turn
on two files, and the medians of each kind compared: whole runs minutes apart
on a shared machine differ by more than the milliseconds in question.
`python bench/duckdb_io.py [N]`.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

PARTITIONS = 365
REPEAT = int(os.environ.get("REPEAT", "5"))
WORK = Path(__file__).resolve().parent / ".work" / "duckdb_io"
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}

COMMON = """
import sys, time
from datetime import date, timedelta
import polars as pl

PATH, FIRST, COUNT = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
DAYS = [str(date(2024, 1, 1) + timedelta(days=i)) for i in range(FIRST, FIRST + COUNT)]


def frame(day):
    i = pl.int_range(24, eager=True)
    return pl.DataFrame({
        "day": [day] * 24, "hour": i, "orders": i * 3 % 17,
        "revenue": (i * 7 % 13).cast(pl.Float64) * 10.5, "channel": ["web", "app"] * 12,
    })


FRAMES = {day: frame(day) for day in DAYS}
WINDOWS = [DAYS[max(0, i - 6): i + 1] for i in range(len(DAYS))]
SELECT = ("SELECT * EXCLUDE (_partition) FROM marts.hourly "
          "WHERE _partition IN (SELECT unnest(?::VARCHAR[]))")
DELETE = "DELETE FROM marts.hourly WHERE _partition = ?"
INSERT = "INSERT INTO marts.hourly BY NAME SELECT *, ?::VARCHAR AS _partition FROM rows"
"""

ASSAY = (
    COMMON
    + """
from assay import AssetKey, DuckDBIO
from assay.assets import InputKind
from assay.io.warehouse import close_warehouses

io, key = DuckDBIO(path=PATH), AssetKey.parse("marts/hourly")
if len(sys.argv) > 4:  # started together with others: wait for the signal
    from pathlib import Path
    while not Path(sys.argv[4]).exists():
        time.sleep(0.001)
start = time.perf_counter()
for day in DAYS:
    io.write(key, day, FRAMES[day])
    assert io.load(key, [day], InputKind.EAGER).height == 24
for window in WINDOWS:
    io.load(key, window, InputKind.EAGER)
rows = io.load(key, DAYS, InputKind.EAGER).height
close_warehouses()
print(time.perf_counter() - start, rows)
"""
)

BARE = (
    COMMON
    + """
import duckdb

con = duckdb.connect(PATH)
first = FRAMES[DAYS[0]].to_arrow()
con.execute("CREATE SCHEMA IF NOT EXISTS marts")
con.execute("CREATE TABLE IF NOT EXISTS marts.hourly AS "
            "SELECT *, ''::VARCHAR AS _partition FROM first LIMIT 0")
start = time.perf_counter()
for day in DAYS:
    rows = FRAMES[day].to_arrow()
    con.execute("BEGIN")
    con.execute(DELETE, [day])
    con.execute(INSERT, [day])
    con.execute("COMMIT")
    assert con.sql(SELECT, params=[[day]]).pl().height == 24
for window in WINDOWS:
    con.sql(SELECT, params=[window]).pl()
rows = con.sql(SELECT, params=[DAYS]).pl().height
con.close()
print(time.perf_counter() - start, rows)
"""
)

PER_OPERATION = (
    COMMON
    + """
import duckdb
from pathlib import Path
from assay.locking import file_lock

with duckdb.connect(PATH) as con:
    first = FRAMES[DAYS[0]].to_arrow()
    con.execute("CREATE SCHEMA IF NOT EXISTS marts")
    con.execute("CREATE TABLE IF NOT EXISTS marts.hourly AS "
                "SELECT *, ''::VARCHAR AS _partition FROM first LIMIT 0")


def read(days):
    with file_lock(Path(PATH), exclusive=False, timeout_s=60):
        with duckdb.connect(PATH, read_only=True) as con:
            return con.sql(SELECT, params=[days]).pl()


start = time.perf_counter()
for day in DAYS:
    rows = FRAMES[day].to_arrow()
    with file_lock(Path(PATH), exclusive=True, timeout_s=60), duckdb.connect(PATH) as con:
        con.execute("BEGIN")
        con.execute(DELETE, [day])
        con.execute(INSERT, [day])
        con.execute("COMMIT")
    assert read([day]).height == 24
for window in WINDOWS:
    read(window)
rows = read(DAYS).height
print(time.perf_counter() - start, rows)
"""
)


INTERLEAVED = (
    COMMON
    + """
import io as io_
import statistics

import duckdb
from assay import AssetKey, DuckDBIO
from assay.assets import InputKind
from assay.versioning import data_version

# Each operation timed alone, assay's and the bare one's one after the other, on two
# files: what each costs, without the noise that whole runs minutes apart pick up.
io, key = DuckDBIO(path=PATH), AssetKey.parse("marts/hourly")
con = duckdb.connect(PATH + ".bare")
first = FRAMES[DAYS[0]].to_arrow()
con.execute("CREATE SCHEMA IF NOT EXISTS marts")
con.execute("CREATE TABLE IF NOT EXISTS marts.hourly AS "
            "SELECT *, ''::VARCHAR AS _partition FROM first LIMIT 0")


def version(frame):  # what DuckDBIO.write hashes: the frame's Parquet bytes
    buffer = io_.BytesIO()
    frame.write_parquet(buffer)
    return data_version(buffer.getvalue())


def bare_write(day):
    rows = FRAMES[day].to_arrow()
    con.execute("BEGIN")
    con.execute(DELETE, [day])
    con.execute(INSERT, [day])
    con.execute("COMMIT")


times = {}
for i, day in enumerate(DAYS):
    for name, run in (
        ("write, bare", lambda: bare_write(day)),
        ("write, assay", lambda: io.write(key, day, FRAMES[day])),
        ("read 1 partition, bare", lambda: con.sql(SELECT, params=[[day]]).pl()),
        ("read 1 partition, assay", lambda: io.load(key, [day], InputKind.EAGER)),
        ("read 7 partitions, bare", lambda: con.sql(SELECT, params=[WINDOWS[i]]).pl()),
        ("read 7 partitions, assay", lambda: io.load(key, WINDOWS[i], InputKind.EAGER)),
        ("data version, assay", lambda: version(FRAMES[day])),
    ):
        start = time.perf_counter()
        run()
        times.setdefault(name, []).append(time.perf_counter() - start)
for name, seconds in times.items():
    print(name, statistics.median(seconds))
"""
)


def write_scripts() -> None:
    if WORK.exists():
        shutil.rmtree(WORK)
    WORK.mkdir(parents=True)
    for name, text in (
        ("with_assay", ASSAY),
        ("bare", BARE),
        ("per_operation", PER_OPERATION),
        ("interleaved", INTERLEAVED),
    ):
        (WORK / f"{name}.py").write_text(text)


def fresh(name: str) -> Path:
    path = WORK / f"{name}.duckdb"
    for leftover in WORK.glob(f"{name}.duckdb*"):
        leftover.unlink()
    return path


def one(script: str, count: int) -> float:
    path = fresh(script)
    done = subprocess.run(
        [sys.executable, f"{script}.py", str(path), "0", str(count)],
        cwd=WORK,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    seconds, rows = done.stdout.split()
    assert int(rows) == 24 * count, done.stdout
    return float(seconds)


def two_processes(count: int) -> float:
    """Wall time from the start signal until both halves are done (each times its own)."""
    path = fresh("two")
    signal = WORK / "go"
    signal.unlink(missing_ok=True)
    half = count // 2
    procs = [
        subprocess.Popen(
            [sys.executable, "with_assay.py", str(path), str(first), str(n), str(signal)],
            cwd=WORK,
            env=ENV,
            stdout=subprocess.PIPE,
            text=True,
        )
        for first, n in ((0, half), (half, count - half))
    ]
    time.sleep(2.0)  # both imported and waiting
    signal.touch()
    out = [p.communicate(timeout=600)[0] for p in procs]
    assert all(p.returncode == 0 for p in procs), out
    return max(float(text.split()[0]) for text in out)


def interleaved(count: int) -> dict[str, float]:
    path = fresh("interleaved")
    done = subprocess.run(
        [sys.executable, "interleaved.py", str(path), "0", str(count)],
        cwd=WORK,
        env=ENV,
        check=True,
        capture_output=True,
        text=True,
    )
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in done.stdout.splitlines()
    }


def main(count: int = PARTITIONS) -> None:
    write_scripts()
    runs: dict[str, list[float]] = {}
    for rep in range(REPEAT):
        for name, run in (
            ("bare, one connection", lambda: one("bare", count)),
            ("assay DuckDBIO", lambda: one("with_assay", count)),
            ("assay DuckDBIO, 2 processes", lambda: two_processes(count)),
            ("bare, a connection per operation", lambda: one("per_operation", count)),
        ):
            if rep == 0 or "per operation" not in name:  # slow: once, for reference
                runs.setdefault(name, []).append(run())
    t = {name: statistics.median(times) for name, times in runs.items()}
    operations = 3 * count + 1  # a write and a read per partition, a window each, the whole
    print(
        f"DuckDBIO: {count} partitions written, each read back, {count} 7-day windows "
        f"and the whole table read ({operations} operations), median of {REPEAT}:"
    )
    for name, seconds in t.items():
        print(f"  {name:<34} {seconds:6.3f} s  {seconds / count * 1000:6.2f} ms per partition")
    bare = t["bare, one connection"]
    for name in list(t)[1:]:
        print(
            f"  {name}: ratio {t[name] / bare:.2f}x; "
            f"{(t[name] - bare) / count * 1000:+.2f} ms per partition over bare"
        )
    ops = interleaved(count)
    print(f"  each operation alone, assay's and the bare one's in turn (median of {count}):")
    for what in ("write", "read 1 partition", "read 7 partitions"):
        ours, theirs = ops[f"{what}, assay"], ops[f"{what}, bare"]
        print(
            f"    {what:<18} assay {ours * 1000:6.2f} ms  bare {theirs * 1000:6.2f} ms  "
            f"{(ours - theirs) * 1000:+.2f} ms"
        )
    added = sum(ops[f"{w}, assay"] - ops[f"{w}, bare"] for w in ("write", "read 1 partition"))
    print(
        f"    a partition written and read back: {added * 1000:+.2f} ms (target <= 1 ms), "
        f"of which {ops['data version, assay'] * 1000:.2f} ms is its data version "
        "(Parquet bytes, xxh3)"
    )


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:2]))
