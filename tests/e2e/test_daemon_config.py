"""A schedule's RunRequest(config=...) reaches the run it launches, checked first."""

import json
import subprocess

import polars as pl
import pytest

from tests.conftest import ASSAY, clean_env, cli, wait_for

pytestmark = pytest.mark.slow


def tick(root, at, **env):
    return subprocess.run(
        [str(ASSAY), "tick", "--at", at],
        cwd=root,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_requested_configuration_is_what_the_run_uses(make_project):
    root = make_project(
        "scheduled_config", extra_toml='\n[tool.assay.config.regional]\nname = "eu"\n'
    )
    tick(root, "2024-03-01T05:00")
    done = tick(root, "2024-03-01T07:00")
    assert done.returncode == 0, done.stdout + done.stderr
    stored = root / ".assay/storage/sample/data.parquet"
    wait_for(stored.exists, 60)
    wait_for(lambda: json.loads(cli(root, "runs", "--json").stdout)[0]["status"] == "succeeded", 60)
    frame = pl.read_parquet(stored)
    assert frame.height == 3
    assert frame["label"].unique().to_list() == ["scheduled"]
    run = json.loads(cli(root, "runs", "--json").stdout)[0]
    shown = cli(root, "runs", "show", run["run_id"]).stdout
    assert "config of sample: label='scheduled', rows=3" in shown


def test_a_configuration_the_asset_does_not_take_fails_the_tick(make_project):
    root = make_project(
        "scheduled_config", extra_toml='\n[tool.assay.config.regional]\nname = "eu"\n'
    )
    tick(root, "2024-03-01T05:00")
    done = tick(root, "2024-03-01T07:00", SAMPLE_ROWS="many")
    assert done.returncode == 0, done.stdout + done.stderr  # the tick fails, not the ticker
    listed = {r["name"]: r for r in json.loads(cli(root, "schedule", "list", "--json").stdout)}
    assert listed["morning"]["last_status"] == "failed"
    assert "rows: expected a whole number, got 'many'" in listed["morning"]["last_reason"]
    assert not (root / ".assay/storage/sample").exists()


def test_a_request_whose_resources_lack_a_variable_fails_its_tick(make_project):
    root = make_project(
        "scheduled_config", extra_toml='\n[tool.assay.config.regional]\nname = "eu"\n'
    )
    tick(root, "2024-03-01T05:00", WITH_SECRET="1")
    done = tick(root, "2024-03-01T07:00", WITH_SECRET="1")
    assert done.returncode == 0, done.stdout + done.stderr
    listed = {r["name"]: r for r in json.loads(cli(root, "schedule", "list", "--json").stdout)}
    assert listed["with_secret"]["last_status"] == "failed"
    assert "reads the environment variable API_TOKEN" in listed["with_secret"]["last_reason"]
    assert listed["morning"]["last_status"] == "requested"  # the other schedule goes on
