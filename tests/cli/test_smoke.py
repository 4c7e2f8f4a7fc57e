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


def _imports(root, *args):
    """The modules `assay ARGS` imported, run in `root` (from -X importtime)."""
    cmd = [sys.executable, "-X", "importtime", "-m", "assay", *args]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, env=clean_env())
    assert done.returncode == 0, done.stderr[-2000:]
    return {line.split("|")[-1].strip() for line in done.stderr.splitlines()}


def test_a_run_of_frame_assets_and_a_listing_import_only_what_they_use(make_project):
    root = make_project("diamond")  # no schedules, sensors or alerts
    for args in (("materialize",), ("list",), ("plan",)):
        imported = _imports(root, *args)
        packages = {name.split(".")[0] for name in imported}
        assert {"polars", "duckdb", "numpy"} <= packages  # positive control: what they use
        for heavy in ("pyarrow", "pandera", "openlineage", "dask", "distributed", "pandas"):
            assert heavy not in packages, f"`assay {' '.join(args)}` imports {heavy}"
        assert "assay.planning.staleness" in imported
        unused = ("assay.automation", "assay.alerting", "assay.lineage.explore", "assay.web")
        for module in unused:
            assert module not in imported, f"`assay {' '.join(args)}` imports {module}"
