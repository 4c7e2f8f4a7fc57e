"""Declarative automation through `assay tick --at`, as real processes on a real
state home: the scenarios that hurt Dagster users (enabling on history, an upstream
that re-ran with the same data, two upstreams finishing close together, a failed
dependency, a tick killed at each step), freshness missed, preview and why. (The
commands that set up or read state around the ticks run in this process, with the
environment the ticks get: the module reads ALERT_HOOK_URL when imported.)"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from assay.state.reader import StateReader
from tests.alert_servers import HttpReceiver
from tests.conftest import ASSAY, clean_env, cli, wait_for

pytestmark = pytest.mark.slow

DAY4 = "2024-01-05T12:00"  # the days 01-01..01-04 have closed
DAY5 = "2024-01-06T12:00"  # and 01-05
LATE = "2024-01-06T07:00"  # report 2024-01-05 was due at 06:00


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


def runs(root: Path) -> Counter[str]:
    """Runs requested by automation, per asset."""
    found = StateReader(root / ".assay").runs(limit=1000)
    return Counter(
        run.run_key.split(":")[1]
        for run in found
        if run.run_key and run.run_key.startswith("automation:")
    )


def history(root: Path, **env: str) -> None:
    """Four days of everything, materialized by hand before any tick."""
    done = cli(root, "backfill", "start", "--from", "2024-01-01", "--to", "2024-01-04", **env)
    assert done.returncode == 0, done.stderr


def tick(root: Path, at: str, **env: str) -> str:
    out = assay(root, "tick", "--at", at, **env)
    assert out.returncode == 0, out.stderr
    settle(root)
    return out.stdout


def steady(root: Path, at: str, **env: str) -> list[str]:
    """Tick until nothing is due; what each tick launched."""
    said = []
    for _ in range(6):
        out = tick(root, at, **env)
        said.append(out)
        if "Nothing due." in out:
            return said
    raise AssertionError(f"still launching after 6 ticks: {said}")


def test_history_is_not_run_new_windows_run_once_in_order_and_only_new_data_triggers(
    make_project,
):
    root = make_project("automated")
    history(root)
    changed = cli(root, "materialize", "orders", "-p", "2024-01-03", "--force", ORDERS_VERSION="2")
    assert changed.returncode == 0, changed.stderr  # revenue, margins, report 01-03: stale
    preview = cli(root, "automation", "preview", "--at", DAY4)
    assert "stale partition(s) predate the condition: reported, not requested" in preview.stdout
    assert tick(root, DAY4).strip() == "Nothing due."  # the conditions are first seen: history
    assert runs(root) == {}
    said = steady(root, DAY5)  # 01-05 closed after the conditions were added
    assert "automation:orders:" in said[0]
    assert "automation:revenue:" in said[1]
    assert "automation:margins:" in said[1]
    assert "automation:report:" in said[2]  # once both of what it reads are done: one run
    assert runs(root) == {"orders": 1, "revenue": 1, "margins": 1, "report": 1}
    rows = StateReader(root / ".assay").stored_materializations(["report"])
    assert sorted(r["partition_key"] for r in rows) == [f"2024-01-0{d}" for d in range(1, 6)]

    rerun = cli(root, "materialize", "orders", "-p", "2024-01-05", "--force", "--at", DAY5)
    assert rerun.returncode == 0, rerun.stderr
    assert tick(root, DAY5).strip() == "Nothing due."  # the same data version: early cut-off
    new = cli(
        root, "materialize", "orders", "-p", "2024-01-05", "--force", "--at", DAY5,
        ORDERS_VERSION="3",
    )  # fmt: skip
    assert new.returncode == 0, new.stderr
    steady(root, DAY5)  # margins' output is the same again: report runs for revenue alone
    assert runs(root) == {"orders": 1, "revenue": 2, "margins": 2, "report": 2}

    enabled = cli(root, "automation", "enable", "revenue", "--include-history")
    assert "with history" in enabled.stdout
    assert "automation:revenue:" in tick(root, DAY5)  # 01-03, stale since before: asked now
    assert runs(root)["revenue"] == 3


def test_a_failed_dependency_stops_propagation_is_alerted_once_and_why_says_so(
    make_project, tmp_path
):
    receiver = HttpReceiver()
    try:
        root = make_project("automated")
        fail = tmp_path / "fail"
        env = {"ALERT_HOOK_URL": receiver.url, "FAIL_REVENUE": str(fail)}
        history(root, **env)
        tick(root, DAY4, **env)
        fail.touch()
        said = steady(root, DAY5, **env)
        assert "automation:revenue:" in said[1]
        assert runs(root) == {"orders": 1, "revenue": 1, "margins": 1}  # no report
        for _ in range(2):  # the failure is not retried, nor does report run
            assert tick(root, DAY5, **env).strip() == "Nothing due."
        failed = [b for b in receiver.bodies() if b.get("kind") == "run_failed"]
        assert len(failed) == 1, receiver.bodies()
        why = assay(root, "why", "report", "-p", "2024-01-05", "--automation")
        assert why.returncode == 0, why.stderr
        assert "report 2024-01-05: not requested" in why.stdout
        assert "dependencies failed: revenue 2024-01-05 failed its latest run" in why.stdout
        fail.unlink()
        new = cli(root, "materialize", "orders", "-p", "2024-01-05", "--force", "--at", DAY5,
                    ORDERS_VERSION="2", **env)  # fmt: skip
        assert new.returncode == 0, new.stderr
        steady(root, DAY5, **env)  # something new happened: it runs again, and report after
        assert runs(root)["report"] == 1
    finally:
        receiver.close()


# before_record and after_claim: tests/e2e/test_daemon.py (the same engine, schedules' requests);
# bench/daemon_crash.py kills at every point, 200 times
@pytest.mark.parametrize("point", ["after_record", "after_launch"])
def test_a_tick_killed_at_each_step_neither_loses_nor_doubles_a_request(make_project, point):
    root = make_project("automated")
    history(root)
    tick(root, DAY4)
    killed = assay(root, "tick", "--at", DAY5, ASSAY_CRASH_AT=f"{point}:1")
    assert killed.returncode == -signal.SIGKILL
    for _ in range(3):  # restarted, as often as it takes
        assay(root, "tick", "--at", DAY5)
        time.sleep(0.3)
    settle(root)
    steady(root, DAY5)
    assert runs(root) == {"orders": 1, "revenue": 1, "margins": 1, "report": 1}


def test_a_missed_freshness_deadline_is_shown_and_alerted_once(make_project):
    receiver = HttpReceiver()
    try:
        root = make_project("automated")
        env = {"ALERT_HOOK_URL": receiver.url}
        history(root, **env)
        tick(root, DAY4, **env)
        assert assay(root, "automation", "disable", "*").returncode == 0
        for _ in range(2):
            tick(root, LATE, **env)
        missed = [b for b in receiver.bodies() if b.get("kind") == "freshness_missed"]
        assert len(missed) == 1, receiver.bodies()
        assert "report 2024-01-05 missed its freshness" in json.dumps(missed[0])
        listing = assay(root, "list", "report", "--json")
        assert json.loads(listing.stdout)[0]["freshness"]["missed"] > 0  # now: every late day
        check = assay(root, "check", "report")
        assert check.returncode == 0, check.stderr  # a warning by default
        assert "missed (warn), due 6:00:00 after its window closes" in check.stdout
        shown = json.loads(assay(root, "automation", "list", "--json").stdout)
        assert {r["asset"]: r["enabled"] for r in shown}["report"] is False
    finally:
        receiver.close()


def test_why_names_the_run_computing_what_a_partition_waits_for(make_project, tmp_path):
    root = make_project("automated")
    history(root)
    slow = subprocess.Popen(
        [str(ASSAY), "materialize", "revenue", "-p", "2024-01-04", "--force"],
        cwd=root,
        env=clean_env(SLOW_REVENUE="30"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        claims = root / ".assay" / "claims"
        wait_for(lambda: claims.is_dir() and any(claims.glob("*.json")), 30)
        why = cli(root, "why", "report", "-p", "2024-01-04", "--automation")
        assert "dependencies in progress: revenue 2024-01-04 is being computed in run" in why.stdout
    finally:
        slow.kill()  # it has been asked about; its claim goes with it
        slow.wait(timeout=60)


def test_the_daemon_keeps_the_shop_fresh_by_itself_one_run_per_asset(make_project):
    root = make_project("automated")
    history(root)
    clock = root / "clock"
    clock.write_text(DAY4)
    daemon = subprocess.Popen(
        [str(ASSAY), "daemon", "--clock-file", str(clock)],
        cwd=root,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(lambda: cli(root, "daemon", "check", "--max-age", "5s").returncode == 0, 60)
        time.sleep(1.5)  # a tick or more at DAY4: the conditions' baselines
        clock.write_text(DAY5)  # 01-05 closes: orders, then revenue and margins, then report
        reports = StateReader(root / ".assay")

        def reported() -> bool:
            rows = reports.stored_materializations(["report"])
            return "2024-01-05" in {r["partition_key"] for r in rows}

        wait_for(reported, 240)  # four runs one after the other, on a busy machine
        time.sleep(3)  # nothing more comes
        assert runs(root) == {"orders": 1, "revenue": 1, "margins": 1, "report": 1}
        daemon.send_signal(signal.SIGTERM)
        _out, err = daemon.communicate(timeout=30)
        assert daemon.returncode == 0, err
    finally:
        if daemon.poll() is None:
            daemon.kill()
