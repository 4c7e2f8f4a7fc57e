"""What the CLI prints after a year of daily partitions (issue 15, output at a year's
scale): summaries that stay short by default, filters for the details, and a layout
for CI logs. One backfill of tests/projects/flights_year.py (1,107 steps, some of
them failing and skipped, some checks failing and warning), then the commands a
user runs on it, each a real `assay` process whose stdout is a pipe, as in CI."""

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import ASSAY, PROJECTS, clean_env

pytestmark = pytest.mark.slow

MAX_LINES = 60
FAILING = {
    "FAIL_DAYS": "2023-03-10,2023-03-11,2023-07-04",  # flights raises
    "LATE_DAYS": "2023-02-01,2023-02-02,2023-02-03,2023-08-15",  # a warn check fails
    "EMPTY_DAYS": "2023-05-05,2023-05-06,2023-10-01",  # an error check fails
}
ANSI = re.compile(r"\x1b\[")


def run(root: Path, *args: str, code: int = 0) -> str:
    done = subprocess.run(
        [str(ASSAY), *args],
        cwd=root,
        env=clean_env(**FAILING, COLUMNS="80"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == code, (args, done.stdout[-3000:], done.stderr[-3000:])
    assert not ANSI.search(done.stdout), "no ANSI codes reach a pipe"
    return done.stdout


@pytest.fixture(scope="module")
def year(tmp_path_factory):
    root = tmp_path_factory.mktemp("year")
    shutil.copy(PROJECTS / "flights_year.py", root / "flights_year.py")
    (root / "pyproject.toml").write_text(
        '[project]\nname = "flights"\n\n[tool.assay]\nmodule = "flights_year"\n'
    )
    run(root, "backfill", "start", code=1)
    (backfill_run,) = json.loads(run(root, "runs", "--json"))
    return root, backfill_run["run_id"]


def test_runs_show_summarizes_a_year_backfill(year):
    root, run_id = year
    lines = run(root, "runs", "show", run_id[:8]).splitlines()
    assert len(lines) < MAX_LINES, "\n".join(lines)
    text = "\n".join(lines)
    assert "steps: 1,107: 1,084 succeeded, 3 failed, 20 skipped" in text
    assert "flights  2023-03-10..2023-03-11 (2), 2023-07-04  RuntimeError at" in text
    assert "(2 more failed like it: `assay runs show" in text
    # skipped readers folded into ranges, per asset and reason
    assert "delays_7d  2023-03-10..2023-03-17 (8), 2023-07-04..2023-07-10 (7)" in text
    assert "routes  no_empty_routes  failed (error)  2023-05-05..2023-05-06 (2), 2023-10-01" in text
    assert all(len(line) < 400 for line in lines)


def test_runs_show_filters_give_every_detail_asked_for(year):
    root, run_id = year
    failed = run(root, "runs", "show", run_id[:8], "--failed")
    assert failed.count("Traceback (most recent call last)") == 3
    one = run(root, "runs", "show", run_id[:8], "--step", "flights[2023-07-04]")
    assert "RuntimeError: no export for 2023-07-04 yet" in one
    assert "flights[2023-03-10]" not in one
    every = json.loads(run(root, "runs", "show", run_id[:8], "--json"))
    assert len(every["steps"]) == 1_107


def test_check_summarizes_a_year_of_results(year):
    root, _ = year
    out = run(root, "check", code=1)
    lines = out.splitlines()
    assert len(lines) < MAX_LINES, out
    assert lines[0].split() == [
        "asset", "checks", "partitions", "passed", "warned", "failed", "errored"
    ]  # fmt: skip
    assert lines[1].split() == ["flights", "schema", "362", "362", "0", "0", "0"]
    assert lines[2].split() == [
        "routes", "no_empty_routes,", "delays_reasonable", "362", "717", "4", "3", "0"
    ]  # fmt: skip
    failed = "failed (error)  3 partitions: 2023-05-05..2023-05-06 (2), 2023-10-01"
    assert f"routes  no_empty_routes  {failed}" in out
    warned = "warned (warn)  4 partitions: 2023-02-01..2023-02-03 (3), 2023-08-15"
    assert f"routes  delays_reasonable  {warned}" in out
    assert lines[-1].startswith("1,086 results: 1,079 passed, 4 warned, 3 failed.")
    everything = run(root, "check", "--all", code=1).splitlines()
    assert len(everything) > 1_086  # a row per result


def test_list_plan_and_why_after_the_year(year):
    root, run_id = year
    listed = {line.split()[0]: line for line in run(root, "list").splitlines()[1:]}
    assert "362/365 stored" in listed["flights"]
    assert f"failed: of 365, 3 failed (backfill {run_id[:8]})" in listed["flights"]
    assert "10/12 stored" in listed["monthly"]  # March and July wait for their days
    # the selection's partition, and what it reads of its upstream: not the year's
    planned = run(root, "plan", "delays_7d", "-p", "2023-03-12").splitlines()
    assert planned[:2] == [
        "delays_7d  1 of 365 partitions",
        "  2023-03-12: missing",
    ]
    why = run(root, "why", "flights", "-p", "2023-03-10")
    assert f"last attempt failed in run {run_id[:8]}" in why
    assert "RuntimeError: no export for 2023-03-10 yet" in why
    assert f"assay runs show {run_id[:8]} --step 'flights[2023-03-10]'" in why
    skipped = run(root, "why", "delays_7d", "-p", "2023-03-12")
    assert "upstream routes is stale in 2023-03-10..2023-03-11 (2)" in skipped
    assert "2023-07-04" not in skipped  # not what 2023-03-12 reads
