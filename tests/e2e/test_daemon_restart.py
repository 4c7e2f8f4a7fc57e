"""Restarts after kill -9 that nothing holds up: a daemon killed while a sensor hangs
in its process can be restarted at once (the sensor's process dies with it instead
of keeping `<home>/daemon.lock`, for ever for a sensor that hangs), and a launch
of an earlier session that may still be starting holds up no other request."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ASSAY, clean_env, cli, wait_for
from tests.e2e.test_backfill_interruptions import children_of
from tests.e2e.test_daemon import DAY1, DAY2, assay, quiet_sensors, runs_by_key, settle

pytestmark = pytest.mark.slow


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_daemon_killed_while_a_sensor_hangs_restarts_at_once(make_project):
    root = make_project("scheduled")
    for name in ("arrivals", "after_failure"):
        assert cli(root, "sensor", "disable", name).returncode == 0
    assert cli(root, "schedule", "disable", "nightly").returncode == 0
    daemon = subprocess.Popen(
        [str(ASSAY), "daemon"],
        cwd=root,
        env=clean_env(HANG="1"),  # the `hangs` sensor sleeps for an hour
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    sensor: list[int] = []

    def hanging() -> bool:
        sensor[:] = children_of(daemon.pid)  # the sensor's process, forked by the daemon
        return bool(sensor)

    try:
        wait_for(hanging, 60)
        daemon.kill()
        daemon.wait()
        wait_for(lambda: not any(is_running(pid) for pid in sensor), 10)
        tick = assay(root, "tick")
        assert tick.returncode == 0, tick.stderr
        assert "already runs" not in tick.stderr
    finally:
        if daemon.poll() is None:
            daemon.kill()
        for pid in sensor:
            if is_running(pid):
                os.kill(pid, signal.SIGKILL)


def test_a_launch_of_an_earlier_tick_that_may_be_starting_holds_up_no_other(make_project):
    root = make_project("scheduled")
    quiet_sensors(root)
    assay(root, "tick", "--at", DAY1)
    killed = assay(root, "tick", "--at", DAY2, ASSAY_CRASH_AT="after_claim:1")
    assert killed.returncode == -signal.SIGKILL
    journal = next((root / ".assay" / "journal").glob("tick-*.jsonl"))
    records = [json.loads(line) for line in journal.read_text().splitlines()]
    nightly = next(r["run_id"] for r in records if r.get("type") == "run_request")
    # a process with the request's run id on its command line: its launch may be starting
    starting = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", nightly])
    try:
        assert cli(root, "sensor", "enable", "every_call").returncode == 0
        tick = assay(root, "tick", "--at", DAY2)
        assert "sensor:every_call:call-1" in tick.stdout, tick.stdout + tick.stderr
        assert "1 run(s) wait in the queue" in tick.stdout
    finally:
        starting.kill()
        starting.wait()
    cli(root, "sensor", "disable", "every_call")
    assert "schedule:nightly:2024-03-02T05:00:00+00:00" in assay(root, "tick", "--at", DAY2).stdout
    settle(root)
    assert runs_by_key(root) == {
        "schedule:nightly:2024-03-02T05:00:00+00:00": 1,
        "sensor:every_call:call-1": 1,
    }
