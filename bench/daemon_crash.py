"""kill -9 the daemon, and `assay tick`, at each step of a tick, over many ticks of a
fake clock, restarting it each time; then check that nothing was missed, duplicated
or lost (`python bench/daemon_crash.py [N]`, N iterations, default 200).

The project: an hourly-partitioned asset with a schedule that runs each hour's
window when it closes, a daily one likewise, and a sensor (every 2 s) whose cursor
counts its evaluations and which requests, at its n-th evaluation, run key
`call-n` for partition n of a third asset. Iteration i moves the clock to
T0 + i hours and does one of, at random:

- `assay tick --at T` with `ASSAY_CRASH_AT=<point>:<n>`: the process kills
  itself with SIGKILL the n-th time it passes the point (before_record,
  after_record, after_claim, after_launch), n in 1..3 (a point passed fewer
  times is not reached: the tick ends normally);
- `assay daemon --clock-file F` with `ASSAY_CRASH_AT=<point>:<n>` (its sensor
  keeps passing the points, so it dies within seconds);
- `assay daemon --clock-file F`, or `assay tick --at T`, killed from outside
  with `kill -9` at a random moment;

then restarts with `assay tick --at T` until a tick exits 0 with nothing left in
the queue. At the end, once every launched run has ended: each hour's and each
day's window has exactly one run under its tick's run key (0 missed, 0
duplicates), each key was requested once, the sensor's calls are 1..K with K its
recorded cursor, each requested once and run once (0 lost cursor advances), and
every partition asked for is stored.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

from daemon import (
    ASSAY,
    WORK,
    clean_env,
    fresh,
    journal_records,
    runs_of,
    set_clock,
    settle,
)

PROJECT = """
from datetime import date, timedelta

import polars as pl
from assay import (
    DailyPartitions, Definitions, HourlyPartitions, RunRequest, Schedule, asset, sensor,
)

HOURS = HourlyPartitions(start="2024-01-01")
DAYS = DailyPartitions(start="2024-01-01")
CALLS = DailyPartitions(start="2000-01-01")  # partition n-1 days after 2000-01-01: call n


@asset(partitions=HOURS)
def readings(context) -> pl.DataFrame:
    return pl.DataFrame({"hour": [context.partition_key]})


@asset(partitions=DAYS)
def events(context) -> pl.DataFrame:
    return pl.DataFrame({"day": [context.partition_key]})


@asset(partitions=CALLS)
def calls(context) -> pl.DataFrame:
    return pl.DataFrame({"call": [context.partition_key]})


@sensor(selection="calls", interval=timedelta(seconds=2))
def every_call(context):
    count = int(context.cursor or 0) + 1
    context.update_cursor(str(count))
    day = date(2000, 1, 1) + timedelta(days=count - 1)
    return RunRequest(run_key=f"call-{count}", partitions=[day.isoformat()])


defs = Definitions(
    assets=[readings, events, calls],
    schedules=[Schedule("hourly", "readings"), Schedule("nightly", "events")],
    sensors=[every_call],
)
"""
POINTS = ["before_record", "after_record", "after_claim", "after_launch"]
T0 = datetime(2024, 3, 1, 0, 30, tzinfo=UTC)
ROOT = WORK / "crash"
HOME = ROOT / ".assay"


def tick(at: datetime, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(ASSAY), "tick", "--at", at.isoformat(), "--json"],
        cwd=ROOT,
        env=clean_env(**env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def daemon(**env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(ASSAY), "daemon", "--clock-file", str(ROOT / "clock")],
        cwd=ROOT,
        env=clean_env(**env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


def killed(process: subprocess.Popen[str], timeout_s: float) -> bool:
    """Wait for the process; kill -9 it after `timeout_s`. True when it died of SIGKILL."""
    try:
        process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
    return process.returncode == -signal.SIGKILL


def recover(at: datetime, counts: Counter[str]) -> None:
    """`assay tick --at` until one exits 0 with nothing queued."""
    for _ in range(40):
        process = tick(at)
        out, err = process.communicate(timeout=300)
        counts["restarts"] += 1
        if process.returncode == 0 and json.loads(out)["queued"] == 0:
            return
        if process.returncode == 2 and "already runs" in err:
            counts["restart refused: the lock still held"] += 1
        elif process.returncode != 0:
            raise AssertionError(f"assay tick --at {at}: exit {process.returncode}\n{err}")
        time.sleep(0.5)
    raise AssertionError(f"assay tick --at {at} still has runs queued after 40 ticks")


def main(iterations: int = 200) -> None:
    fresh(ROOT, PROJECT)
    rng = random.Random(17)
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    recover(T0, counts)  # the first evaluation records where the schedules' ticks start
    at = T0
    for i in range(1, iterations + 1):
        at = T0 + timedelta(hours=i)
        set_clock(ROOT / "clock", at)
        point, n = rng.choice(POINTS), rng.randint(1, 3)
        mode = rng.choice(["tick", "daemon", "daemon-kill", "tick-kill"])
        counts[mode] += 1
        if mode == "tick":
            died = killed(tick(at, ASSAY_CRASH_AT=f"{point}:{n}"), 300)
            counts[f"tick died at {point}" if died else "tick: point not reached"] += 1
        elif mode == "daemon":
            died = killed(daemon(ASSAY_CRASH_AT=f"{point}:{n}"), 30)
            counts[f"daemon died at {point}" if died else "daemon: killed after 30 s"] += 1
        else:
            process = daemon() if mode == "daemon-kill" else tick(at)
            time.sleep(rng.uniform(0.1, 4.0))
            alive = process.poll() is None
            killed(process, 0)
            counts["killed from outside" if alive else "ended before its kill"] += 1
        recover(at, counts)
        if i % 20 == 0:
            print(f"  {i} iterations, {time.perf_counter() - started:.0f} s", flush=True)
    settle(HOME)
    recover(at, counts)  # anything an earlier session left queued
    settle(HOME)
    problems, figures = check(at)
    took = time.perf_counter() - started
    print(
        f"daemon_crash: {iterations} iterations in {took:.0f} s, the clock moved an hour "
        f"each ({', '.join(f'{k} {v}' for k, v in sorted(counts.items()))})"
    )
    for line in figures:
        print(f"  {line}")
    for problem in problems[:20]:
        print(f"  PROBLEM {problem}")
    if problems:
        raise SystemExit(1)


def check(last: datetime) -> tuple[list[str], list[str]]:
    """What must hold once everything ended: (problems, figures)."""
    from assay.state.automation import AutomationReader
    from assay.state.reader import StateReader

    runs = runs_of(HOME)
    by_key = Counter(run.run_key for run in runs.values() if run.run_key)
    requested: dict[str, set[str]] = {}
    duplicate_requests = 0
    for record in journal_records(HOME, "daemon-") + journal_records(HOME, "tick-"):
        if record.get("type") == "run_request":
            requested.setdefault(record["run_key"], set()).add(record["run_id"])
            duplicate_requests += record["status"] == "duplicate"
    hours = [
        T0.replace(minute=0) + timedelta(hours=h)
        for h in range(1, int((last - T0) / timedelta(hours=1)) + 1)
    ]
    days = sorted({h.replace(hour=0) for h in hours if h.hour == 0})
    expected = [f"schedule:hourly:{h.isoformat()}" for h in hours]
    expected += [f"schedule:nightly:{d.isoformat()}" for d in days]
    cursor = AutomationReader(HOME).latest_ticks()["every_call"]["good_cursor"]
    calls = int(cursor or 0)
    expected_calls = [f"sensor:every_call:call-{n}" for n in range(1, calls + 1)]
    problems = []
    missed = [k for k in expected + expected_calls if by_key[k] == 0]
    twice = [k for k, n in by_key.items() if n > 1]
    unexpected = [k for k in by_key if k not in set(expected) | set(expected_calls)]
    rerequested = [k for k, ids in requested.items() if len(ids) > 1]
    problems += [f"missed: no run for {k}" for k in missed]
    problems += [f"duplicate: {by_key[k]} runs for {k}" for k in twice]
    problems += [f"unexpected run key {k} (a lost cursor advance?)" for k in unexpected]
    problems += [f"requested {len(requested[k])} times: {k}" for k in rerequested]
    not_succeeded = Counter(str(r.status) for r in runs.values() if str(r.status) != "succeeded")
    problems += [f"{n} runs {status}" for status, n in not_succeeded.items()]
    reader = StateReader(HOME)
    stored = {
        asset: Counter(str(row["partition_key"]) for row in reader.stored_materializations([asset]))
        for asset in ("readings", "events", "calls")
    }
    want = {
        "readings": [(h - timedelta(hours=1)).strftime("%Y-%m-%d-%H:%M") for h in hours],
        "events": [(d - timedelta(days=1)).strftime("%Y-%m-%d") for d in days],
        "calls": [str(date(2000, 1, 1) + timedelta(days=n - 1)) for n in range(1, calls + 1)],
    }
    for asset, keys in want.items():
        absent = [k for k in keys if stored[asset][k] == 0]
        extra = [k for k in stored[asset] if k not in set(keys)]
        problems += [f"{asset}[{k}] was never stored" for k in absent[:5]]
        problems += [f"{asset}[{k}] was stored but never asked for" for k in extra[:5]]
    figures = [
        f"runs: {len(runs)} ({len(hours)} hourly windows, {len(days)} days, {calls} sensor calls)",
        f"missed runs: {len(missed)}; duplicate runs by run key: {len(twice)}; keys requested "
        f"twice: {len(rerequested)}; duplicate claims refused: {duplicate_requests}",
        f"lost cursor advances: {len(unexpected) + len([k for k in missed if 'call-' in k])} "
        f"(the sensor's cursor is {calls}; calls run: "
        f"{sum(by_key[k] for k in expected_calls)})",
        "stored partitions: "
        + ", ".join(f"{a} {sum(1 for k in want[a] if stored[a][k])}/{len(want[a])}" for a in want),
    ]
    return problems, figures


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200)
