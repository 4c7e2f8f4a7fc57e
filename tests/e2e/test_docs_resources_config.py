"""docs/resources.md, docs/config.md and docs/testing.md, run as written: every block
whose first line names a file (`# pipeline.py`, `# pyproject.toml`) is written, then
every `$ ...` line runs in a shell (`# exits N` is its exit code)."""

import json
import re
import subprocess
from pathlib import Path

import duckdb
import pytest

from tests.conftest import clean_env

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

REPO = Path(__file__).resolve().parents[2]
DEFAULT_TOML = '[project]\nname = "shop"\n\n[tool.assay]\nmodule = "pipeline"\n'


def run_page(page: str, folder: Path) -> list[subprocess.CompletedProcess[str]]:
    return _run_text((REPO / "docs" / page).read_text(), folder)


def _run_text(text: str, folder: Path) -> list[subprocess.CompletedProcess[str]]:
    (folder / "pyproject.toml").write_text(DEFAULT_TOML)
    for block in re.findall(r"```\w*\n(.*?)```", text, flags=re.S):
        first = block.splitlines()[0]
        if re.fullmatch(r"# [\w.-]+\.(py|toml|yaml|json)", first):
            (folder / first[2:]).write_text(block)
    done = []
    for line in re.findall(r"^\$ (.+)$", text, flags=re.M):
        command, _, comment = line.partition("  # ")
        ran = subprocess.run(
            ["bash", "-c", command],
            cwd=folder,
            env=clean_env(PATH=_venv_path(), PYTHONDONTWRITEBYTECODE="1"),
            capture_output=True,
            text=True,
            timeout=180,
        )
        exits = int(comment.removeprefix("exits ")) if comment.startswith("exits ") else 0
        assert ran.returncode == exits, (command, ran.stdout, ran.stderr)
        done.append(ran)
    return done


def _venv_path() -> str:
    import os
    import sys

    return f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"


def test_resources_page_runs_as_written(tmp_path):
    refused, ran, listed = run_page("resources.md", tmp_path)
    assert refused.stderr.strip() == (
        "Error: resource 'shop' reads the environment variable SHOP_TOKEN "
        "(EnvVar('SHOP_TOKEN')), which is not set: set it where assay runs (its value "
        "is read there and never recorded)"
    )
    assert "succeeded (3 succeeded)" in ran.stdout
    assert "top_customer" in listed.stdout
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT customer, amount FROM main.revenue").fetchall() == [
            ("ada", 37.5),
            ("bob", 12.5),
        ]
    assert "shop_0123" not in "".join(p.read_text(errors="replace") for p in _files(tmp_path))


def _files(folder: Path) -> list[Path]:
    return [p for p in (folder / ".assay").rglob("*") if p.is_file() and p.suffix != ".duckdb"]


def test_config_page_runs_as_written(tmp_path):
    first, planned, quarter, why, refused = run_page("config.md", tmp_path)
    assert "succeeded (2 succeeded)" in first.stdout
    assert "config changed (threshold 25.0 → 10.0)" in planned.stdout
    assert "orders" not in planned.stdout.replace("large_orders", "")
    assert "succeeded (1 succeeded)" in quarter.stdout
    assert "config changed (currencies" in why.stdout
    assert "threshold 10.0 → 25.0" in why.stdout
    assert refused.stderr.strip() == (
        "Error: configuration of 'large_orders': threshold: expected a number, got 'ten' "
        "(from --set)"
    )
    plan = subprocess.run(
        ["bash", "-c", "assay plan --json --config quarter-end.yaml"],
        cwd=tmp_path,
        env=clean_env(PATH=_venv_path()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert json.loads(plan.stdout)["steps"] == []  # the values the last run used


def test_testing_page_runs_as_written(tmp_path):
    (ran,) = run_page("testing.md", tmp_path)
    assert "5 passed" in ran.stdout


def test_assets_page_multi_assets_run_as_written(tmp_path):
    page = (REPO / "docs" / "assets.md").read_text()
    section = page[page.index("## Multi-assets") :]
    section = section[: section.index("\n## ", 3)]
    planned, first, sample = _run_text(section, tmp_path)
    assert "succeeded (8 succeeded)" in first.stdout
    assert "currencies  1 of 2 partitions" in planned.stdout
    assert "computed with prices (@multi_asset split_catalog stores every output" in planned.stdout
    assert "daily_sample" in sample.stdout
    assert "full_export" not in sample.stdout
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM main.currencies").fetchone() == (4,)
