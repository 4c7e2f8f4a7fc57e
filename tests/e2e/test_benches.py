"""The benchmark scripts stay runnable: each at a tiny size, its own checks included."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import clean_env

pytestmark = pytest.mark.slow

BENCH = Path(__file__).resolve().parents[2] / "bench"


def bench(script: str, *args: str, timeout_s: float, **env: str) -> str:
    """What `python bench/<script> ARGS` prints; it must succeed."""
    done = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_automation_bench_runs_and_its_checks_hold(tmp_path):
    args = ["--width", "3", "--days", "30", "--ticks", "3", "--naive", "2"]
    args += ["--workloads", "random:2,loop:2"]
    out = bench("automation.py", *args, timeout_s=240, AUTOMATION_BENCH_WORK=str(tmp_path))
    lines = out.splitlines()
    checks = [
        line for line in lines if "naive = vectorized" in line or "one full evaluation" in line
    ]
    assert len(checks) == 3, out
    assert all(line.split()[-1] == "yes" for line in checks), out


def test_step_overhead_bench_runs(tmp_path):
    args = ["--repeat", "1", "--days", "2,4"]
    out = bench("step_overhead.py", *args, timeout_s=120, STEP_OVERHEAD_WORK=str(tmp_path))
    assert "ms of CPU per step (6 more steps)" in out, out
