"""A sensor that adds (and removes) dynamic partition keys: the keys are recorded
with its tick, before the runs it requests launch, so one tick can add a customer
and run that customer's partitions."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from assay.state.reader import StateReader
from tests.conftest import ASSAY, clean_env, cli, wait_for

pytestmark = pytest.mark.slow


def tick(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ASSAY), "tick"], cwd=root, env=clean_env(), capture_output=True, text=True, timeout=120
    )


def settle(root: Path) -> None:
    """Wait until every launched run's process has ended."""

    def quiet() -> bool:
        out = subprocess.run(["pgrep", "-f", "--", f"--home {root}/.assay"], capture_output=True)
        return out.returncode != 0

    wait_for(quiet, 60)


def stored(root: Path, asset: str) -> list[str]:
    rows = StateReader(root / ".assay").stored_materializations([asset])
    return sorted(str(row["partition_key"]) for row in rows)


def keys(root: Path) -> list[str]:
    return json.loads(cli(root, "partitions", "list", "customers", "--json").stdout)["keys"]


def test_a_sensor_adds_keys_and_runs_them_in_the_same_tick(make_project):
    root = make_project("customers")
    (root / "incoming").mkdir()
    (root / "churned").mkdir()
    for name in ("wayne", "stark"):
        (root / "incoming" / f"{name}.txt").write_text("")
    preview = cli(root, "sensor", "preview", "new_customers")
    assert 'Would change partition keys: {"name": "customers", "add": ["stark", "wayne"]}' in (
        preview.stdout
    )
    assert keys(root) == []  # a preview changes nothing
    done = tick(root)
    ticked = time.monotonic()  # each sensor was evaluated before
    assert done.returncode == 0, done.stderr
    assert "for new_customers (sensor:new_customers:stark,wayne)" in done.stdout
    settle(root)
    assert keys(root) == ["stark", "wayne"]
    assert stored(root, "order_totals") == ["stark", "wayne"]
    assert stored(root, "all_customers") == [""]
    runs = StateReader(root / ".assay").runs()
    assert [(r.status, r.selection) for r in runs] == [("succeeded", "orders+ [stark, wayne]")]

    # removed by a sensor: the summary that read every customer runs again without it
    (root / "churned" / "stark.txt").write_text("")
    time.sleep(max(0.0, ticked + 1.1 - time.monotonic()))  # `churned` is due each second
    done = tick(root)
    assert "for churned (sensor:churned:stark)" in done.stdout, done.stdout + done.stderr
    settle(root)
    assert keys(root) == ["wayne"]
    plan = json.loads(cli(root, "plan", "--json").stdout)
    assert plan["steps"] == []
    summary = StateReader(root / ".assay").stored_partition("all_customers", "")
    assert summary["run_id"] != runs[0].run_id


def test_a_sensor_removing_an_unknown_key_fails_its_tick_naming_the_key(make_project):
    root = make_project("customers")
    (root / "incoming").mkdir()
    (root / "churned").mkdir()
    (root / "churned" / "nobody.txt").write_text("")
    tick(root)
    settle(root)
    ticks = json.loads(cli(root, "sensor", "list", "--json").stdout)
    churned = next(row for row in ticks if row["name"] == "churned")
    assert "cannot remove 'nobody': not a key of 'customers'" in json.dumps(churned)
    assert keys(root) == []
    assert StateReader(root / ".assay").runs() == []


def test_automation_materializes_the_keys_added_since_its_last_tick(make_project):
    root = make_project("customers_auto")
    assert "accounts: nothing" in cli(root, "automation", "preview").stdout
    cli(root, "partitions", "add", "customers", "acme", "globex")
    preview = cli(root, "automation", "preview").stdout
    assert "accounts: acme, globex (2 partitions)" in preview
    done = subprocess.run(
        [str(ASSAY), "tick", "--wait"],
        cwd=root,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert stored(root, "accounts") == ["acme", "globex"]
    cli(root, "partitions", "add", "customers", "hooli")
    assert "accounts: hooli" in cli(root, "automation", "preview").stdout
