"""The benchmark scripts stay runnable: each at a tiny size, its own checks included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import clean_env

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench"


def test_automation_bench_runs_and_its_checks_hold(tmp_path):
    command = [sys.executable, str(BENCH / "automation.py"), "--width", "3", "--days", "30"]
    command += ["--ticks", "3", "--naive", "2", "--workloads", "random:2,loop:2"]
    done = subprocess.run(
        command,
        env=clean_env(AUTOMATION_BENCH_WORK=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    checks = [
        line for line in lines if "naive = vectorized" in line or "one full evaluation" in line
    ]
    assert len(checks) == 3, done.stdout
    assert all(line.split()[-1] == "yes" for line in checks), done.stdout


def test_step_overhead_bench_runs(tmp_path):
    command = [sys.executable, str(BENCH / "step_overhead.py"), "--repeat", "1", "--days", "2,4"]
    done = subprocess.run(
        command,
        env=clean_env(STEP_OVERHEAD_WORK=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "ms of CPU per step (6 more steps)" in done.stdout, done.stdout
