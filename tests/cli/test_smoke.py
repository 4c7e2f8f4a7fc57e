"""The installed `assay` command, run as a user would run it."""

import json
import subprocess
import sys

from tests.conftest import ASSAY, clean_env


def test_installed_command_materializes_and_lists(make_project):
    root = make_project("diamond")
    done = subprocess.run(
        [str(ASSAY), "materialize"], cwd=root, env=clean_env(), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "succeeded (4 succeeded)" in done.stdout
    listed = subprocess.run(
        [str(ASSAY), "list", "--json"], cwd=root, env=clean_env(), capture_output=True, text=True
    )
    assert listed.returncode == 0, listed.stderr
    assert {row["status"] for row in json.loads(listed.stdout)} == {"fresh"}


def test_installed_command_reports_user_errors_in_one_line(make_project):
    root = make_project("cycle")
    done = subprocess.run(
        [str(ASSAY), "list"], cwd=root, env=clean_env(), capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "Error: assets form a cycle: a -> b -> c -> a. "
        "Remove one of these dependencies to break it."
    ]


def test_help_imports_nothing_heavy():
    cmd = [sys.executable, "-X", "importtime", "-m", "assay", "--help"]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True, env=clean_env())
    assert "materialize" in done.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines()}
    assert {"click", "assay"} <= imported  # the positive control: importtime reported imports
    heavy_modules = ("pandera", "openlineage", "dask", "distributed", "fsspec", "polars", "duckdb")
    for heavy in (*heavy_modules, "pyarrow", "rich", "numpy"):
        assert heavy not in imported, f"`assay --help` imports {heavy}"
