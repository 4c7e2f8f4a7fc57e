"""The daemon and `assay tick`, as real processes on a real state home: schedules
on the partition grid's windows, catch-up, enable/disable, sensors killed at their
timeout, file arrivals, one evaluator per home, a clean stop, and kill -9 at each
step of a tick losing and duplicating nothing. (Commands around them that only set
or read state, such as `sensor disable` or `daemon status`, run in this process.)"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from assay.state.reader import StateReader
from tests.conftest import ASSAY, clean_env, cli, wait_for

pytestmark = pytest.mark.slow

# New York days close at 05:00 UTC (04:00 in summer time)
DAY1 = "2024-03-01T12:00"
DAY2 = "2024-03-02T12:00"


def assay(root: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ASSAY), *args],
        cwd=root,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def settle(root: Path, timeout_s: float = 60.0) -> None:
    """Wait until every launched run's process has ended."""

    def quiet() -> bool:
        out = subprocess.run(["pgrep", "-f", "--", f"--home {root}/.assay"], capture_output=True)
        return out.returncode != 0

    wait_for(quiet, timeout_s)


def runs_by_key(root: Path) -> Counter[str]:
    runs = StateReader(root / ".assay").runs(limit=1000)
    return Counter(run.run_key for run in runs if run.run_key)


def materialized(root: Path, asset: str) -> list[str]:
    rows = StateReader(root / ".assay").stored_materializations([asset])
    return sorted(str(row["partition_key"]) for row in rows)


def listing(root: Path, kind: str) -> dict[str, dict]:
    rows = json.loads(cli(root, kind, "list", "--json").stdout)
    return {row["name"]: row for row in rows}


def past_interval() -> None:
    """Wait out the sensors' one-second interval (real time, whatever `--at` says): a
    tick sooner after the last evaluation finds them not due, which would make a test
    that expects nothing pass for the wrong reason, and one that expects a run fail."""
    time.sleep(1.1)


def quiet_sensors(root: Path) -> None:
    for name in ("hangs", "arrivals", "after_failure", "observe-prices"):
        assert cli(root, "sensor", "disable", name).returncode == 0


def test_a_schedule_runs_the_window_that_closed_once_whatever_ticks_again(make_project):
    root = make_project("scheduled")
    quiet_sensors(root)
    first = assay(root, "tick", "--at", DAY1)
    assert first.returncode == 0, first.stderr
    assert "Nothing due." in first.stdout  # the first evaluation only sets where ticks start
    second = assay(root, "tick", "--at", DAY2)
    assert "for nightly (schedule:nightly:2024-03-02T05:00:00+00:00)" in second.stdout
    settle(root)
    again = assay(root, "tick", "--at", DAY2)
    assert "nightly" not in again.stdout
    assert runs_by_key(root) == {"schedule:nightly:2024-03-02T05:00:00+00:00": 1}
    assert materialized(root, "daily_totals") == ["2024-03-01"]

    listed = json.loads(cli(root, "schedule", "list", "--json").stdout)
    nightly = next(row for row in listed if row["name"] == "nightly")
    assert nightly["last_status"] == "requested"


def test_after_downtime_a_partitioned_schedule_backfills_its_catch_up_and_alerts_about_older(
    make_project,
):
    root = make_project("scheduled")
    quiet_sensors(root)
    assay(root, "tick", "--at", DAY1)
    late = assay(root, "tick", "--at", "2024-03-12T12:00")  # 11 windows closed meanwhile
    assert late.returncode == 0, late.stderr
    assert "Launched run" in late.stdout
    assert "missed 3 partition(s) beyond its catch-up" in late.stderr
    assert "assay backfill start events daily_totals --from 2024-03-01 --to 2024-03-03" in (
        late.stderr
    )
    settle(root)
    # windows that closed within 7 days of the tick (03-12 04:00 UTC): 03-04 .. 03-11
    assert materialized(root, "daily_totals") == [f"2024-03-{d:02d}" for d in range(4, 12)]
    assert len(runs_by_key(root)) == 1  # one resumable backfill, under one key


def test_a_disabled_schedule_is_never_due_and_enabling_it_does_not_run_history(make_project):
    root = make_project("scheduled")
    quiet_sensors(root)
    assay(root, "tick", "--at", DAY1)
    assert "Schedule nightly disabled." in cli(root, "schedule", "disable", "nightly").stdout
    assert "nightly" not in assay(root, "tick", "--at", DAY2).stdout
    assert "ticks from now on" in cli(root, "schedule", "enable", "nightly").stdout
    # enabled at the real time of now: the ticks it missed while disabled never come due
    assert "nightly" not in assay(root, "tick", "--at", "2024-03-05T12:00").stdout
    assert runs_by_key(root) == {}
    missing = cli(root, "schedule", "enable", "nihgtly")
    assert missing.returncode == 2
    assert "no schedule named 'nihgtly'" in missing.stderr
    assert "Did you mean 'nightly'?" in missing.stderr


def test_a_sensor_that_hangs_is_killed_at_its_timeout_and_the_others_go_on(make_project):
    root = make_project("scheduled")
    cli(root, "sensor", "disable", "after_failure")
    assert cli(root, "sensor", "enable", "every_call").returncode == 0
    started = time.monotonic()
    tick = assay(root, "tick", "--at", DAY1, HANG="1")
    took = time.monotonic() - started
    assert tick.returncode == 0, tick.stderr
    assert "sensor:every_call:call-1" in tick.stdout
    assert took < 15, took
    listed = {row["name"]: row for row in json.loads(cli(root, "sensor", "list", "--json").stdout)}
    assert listed["hangs"]["last_status"] == "failed"
    assert "timed out after 2 s" in listed["hangs"]["last_reason"]
    assert listed["every_call"]["last_status"] == "requested"
    assert "hangs failed" in tick.stderr  # alerted once, on the change to failing


def test_a_file_sensor_runs_the_partition_of_each_new_or_changed_file(make_project):
    root = make_project("scheduled")
    cli(root, "sensor", "disable", "hangs")
    cli(root, "sensor", "disable", "after_failure")
    cli(root, "schedule", "disable", "nightly")
    incoming = root / "incoming"
    incoming.mkdir()
    (incoming / "events_2024-02-10.csv").write_text("day,n\n2024-02-10,5\n")
    tick = assay(root, "tick", "--at", DAY1)
    assert "sensor:arrivals:2024-02-10@" in tick.stdout
    settle(root)
    past_interval()
    assert "arrivals" not in assay(root, "tick", "--at", DAY1).stdout  # seen: nothing new
    os.utime(incoming / "events_2024-02-10.csv", ns=(time.time_ns(), time.time_ns() + 10**9))
    past_interval()
    assert "sensor:arrivals:2024-02-10@" in assay(root, "tick", "--at", DAY1).stdout
    settle(root)
    assert materialized(root, "daily_totals") == ["2024-02-10"]
    assert sum(key.startswith("sensor:arrivals:2024-02-10@") for key in runs_by_key(root)) == 2


def test_one_daemon_per_home_a_heartbeat_and_a_clean_stop(make_project):
    root = make_project("scheduled")
    quiet_sensors(root)
    clock = root / "clock"
    clock.write_text(DAY1)
    daemon = subprocess.Popen(
        [str(ASSAY), "daemon", "--clock-file", str(clock)],
        cwd=root,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: cli(root, "daemon", "check", "--max-age", "5s").returncode == 0)
        second = assay(root, "daemon")
        assert second.returncode == 2
        assert f"a daemon already runs for {root / '.assay'} (pid {daemon.pid}" in second.stderr
        assert "already runs" in assay(root, "tick").stderr
        status = json.loads(cli(root, "daemon", "status", "--json").stdout)
        assert status["running"]
        assert status["pid"] == daemon.pid
        assert status["schedules"] == 3

        clock.write_text(DAY2)  # the first New York window closes: the daemon launches it
        wait_for(lambda: len(materialized(root, "daily_totals")) == 1, 60)
        daemon.send_signal(signal.SIGTERM)
        out, err = daemon.communicate(timeout=30)
        assert daemon.returncode == 0, err
        assert "stopped; the runs it launched go on" in out
    finally:
        if daemon.poll() is None:
            daemon.kill()
    gone = cli(root, "daemon", "check")
    assert gone.returncode == 1
    assert "no daemon runs" in gone.stderr


# after_record and after_launch: tests/e2e/test_automation.py (the same engine, automation's
# requests); bench/daemon_crash.py kills at every point, 200 times
@pytest.mark.parametrize("point", ["before_record", "after_claim"])
def test_kill_9_at_each_step_of_a_tick_misses_and_duplicates_nothing(make_project, point):
    root = make_project("scheduled")
    quiet_sensors(root)
    assay(root, "tick", "--at", DAY1)
    killed = assay(root, "tick", "--at", DAY2, ASSAY_CRASH_AT=f"{point}:1")
    assert killed.returncode == -signal.SIGKILL
    for _ in range(3):  # restarted, as often as it takes; never twice
        assay(root, "tick", "--at", DAY2)
        time.sleep(0.5)
    settle(root)
    assay(root, "tick", "--at", DAY2)
    settle(root)
    assert runs_by_key(root) == {"schedule:nightly:2024-03-02T05:00:00+00:00": 1}
    assert materialized(root, "daily_totals") == ["2024-03-01"]


def test_a_schedule_function_decides_each_tick_in_its_own_zone(make_project):
    root = make_project("scheduled")
    quiet_sensors(root)
    cli(root, "schedule", "disable", "nightly")
    cli(root, "schedule", "enable", "morning")
    assay(root, "tick", "--at", "2024-03-01T00:00")
    friday = assay(root, "tick", "--at", "2024-03-01T04:00")  # 09:30 in Kolkata
    assert "for morning (schedule:morning:morning-2024-03-01)" in friday.stdout
    assert "morning" not in assay(root, "tick", "--at", "2024-03-03T04:00").stdout  # Sunday
    ticks = {row["name"]: row for row in json.loads(cli(root, "schedule", "list", "--json").stdout)}
    assert ticks["morning"]["last_reason"].startswith("not on Sundays")
    settle(root)


def test_a_run_status_sensor_reacts_to_a_failed_run(make_project):
    root = make_project("scheduled")
    quiet_sensors(root)
    cli(root, "schedule", "disable", "nightly")
    cli(root, "sensor", "enable", "after_failure")
    assay(root, "tick", "--at", DAY1)  # its cursor starts now: earlier runs are not news
    flag = root / "fail"
    flag.write_text("1")
    failed = cli(root, "materialize", "summary", FAIL_SUMMARY=str(flag))
    assert failed.returncode == 1
    past_interval()
    tick = assay(root, "tick", "--at", DAY1)
    assert "for after_failure (sensor:after_failure:" in tick.stdout
    settle(root)
    past_interval()
    assert "after_failure" not in assay(root, "tick", "--at", DAY1).stdout  # told once


def test_an_observed_source_runs_what_its_change_made_stale(make_project):
    root = make_project("scheduled")
    quiet_sensors(root)
    cli(root, "schedule", "disable", "nightly")
    cli(root, "sensor", "enable", "observe-prices")
    (root / "prices.txt").write_text("v1")
    assert "observe-prices" in assay(root, "tick", "--at", DAY1).stdout
    settle(root)
    assert materialized(root, "priced") == [""]
    time.sleep(1.1)  # its interval
    assert "observe-prices" not in assay(root, "tick", "--at", DAY1).stdout  # unchanged
    (root / "prices.txt").write_text("v2")
    time.sleep(1.1)
    assert "observe-prices" in assay(root, "tick", "--at", DAY1).stdout
    settle(root)
    assert "priced" not in cli(root, "plan", "priced").stdout  # fresh again


def test_the_daemon_reloads_changed_definitions_and_keeps_the_old_ones_when_they_break(
    make_project,
):
    root = make_project("scheduled")
    quiet_sensors(root)
    clock = root / "clock"
    clock.write_text(DAY1)
    module = next(root.glob("scheduled_*.py"))
    daemon = subprocess.Popen(
        [str(ASSAY), "daemon", "--clock-file", str(clock)],
        cwd=root,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def status() -> dict:
        return json.loads(cli(root, "daemon", "status", "--json").stdout)

    try:
        wait_for(lambda: status()["running"])
        good = module.read_text()
        time.sleep(0.05)
        module.write_text(good + "\nraise RuntimeError('half-edited')\n")
        wait_for(lambda: "half-edited" in (status()["definitions_error"] or ""), 20)
        assert status()["schedules"] == 3  # the previous definitions still run
        module.write_text(good.replace('Schedule("hourly_summary"', 'Schedule("hourly_two"'))
        wait_for(lambda: status()["definitions_error"] is None, 20)
        names = {row["name"] for row in json.loads(cli(root, "schedule", "list", "--json").stdout)}
        assert "hourly_two" in names
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, err = daemon.communicate(timeout=30)
    assert "the definitions failed to load, the previous ones keep running" in err


def test_the_queue_keeps_at_most_max_concurrent_runs_alive(make_project):
    root = make_project("scheduled")
    quiet_sensors(root)
    cli(root, "schedule", "disable", "nightly")
    cli(root, "sensor", "enable", "every_call")  # a forced summary run every second
    clock = root / "clock"
    clock.write_text(DAY1)
    daemon = subprocess.Popen(
        [str(ASSAY), "daemon", "--clock-file", str(clock), "--max-concurrent-runs", "1"],
        cwd=root,
        env=clean_env(SLOW_SUMMARY="3"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    seen = []

    def every_call_runs() -> int:
        return sum(key.startswith("sensor:every_call:") for key in runs_by_key(root))

    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and (len(seen) < 20 or every_call_runs() < 2):
            status = json.loads(cli(root, "daemon", "status", "--json").stdout)
            seen.append((status["launched"], status["queued"]))
            time.sleep(0.5)
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.wait(timeout=30)
    assert max(launched for launched, _ in seen) == 1
    assert max(queued for _, queued in seen) >= 2  # requests wait their turn
    settle(root)
    keys = [key for key in runs_by_key(root) if key.startswith("sensor:every_call:")]
    assert len(keys) == len(set(keys)) >= 2
