"""A daemon killed with kill -9 while a sensor hangs in its process can be restarted at
once: the sensor's process dies with it instead of keeping `<home>/daemon.lock` (an
orphan would hold it until it ended, for ever for a sensor that hangs)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ASSAY, clean_env, wait_for
from tests.e2e.test_backfill_interruptions import children_of

pytestmark = pytest.mark.slow


def assay(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ASSAY), *args], cwd=root, env=clean_env(), capture_output=True, text=True, timeout=120
    )


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_daemon_killed_while_a_sensor_hangs_restarts_at_once(make_project):
    root = make_project("scheduled")
    for name in ("arrivals", "after_failure"):
        assert assay(root, "sensor", "disable", name).returncode == 0
    assert assay(root, "schedule", "disable", "nightly").returncode == 0
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
