import io
import json
import re

import pytest
from click.testing import CliRunner
from rich.console import Console

from assay.cli.main import main
from assay.cli.reporting import BackfillProgress
from assay.execution.hooks import RunInfo, StepAttempt
from assay.keys import AssetKey
from assay.results import RunKind, StepError, StepResult, StepStatus


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def chain(make_project, monkeypatch):
    for name in ("SLOW", "FAIL_DAYS", "FLAKY_DIR", "RETRIES", "API_POOL", "INTERVALS", "CALLS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich wraps at 80 otherwise
    return make_project("backfill_chain")


def test_dry_run_prints_ranges_and_records_nothing(chain):
    result = invoke("backfill", "start", "raw+", "--from", "2024-01-01", "--to", "2024-01-31",
                    "--dry-run")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "Would backfill 124 asset partitions of 4 assets:",
        "  raw  2024-01-01..2024-01-31 (31)",
        "  cleaned  2024-01-01..2024-01-31 (31)",
        "  batched  2024-01-01..2024-01-31 (31)",
        "  report  2024-01-01..2024-01-31 (31)",
    ]
    assert "No backfills yet" in invoke("backfill", "list").output


def test_start_prints_the_id_first_then_progress_then_the_outcome(chain):
    result = invoke("backfill", "start", "raw", "cleaned", "--from", "2024-01-01", "--to",
                    "2024-01-05")  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert re.fullmatch(
        r"Backfill [0-9a-f-]{36}: 10 asset partitions \(run [0-9a-f]{8}\)", lines[0]
    )
    ident = lines[0].split()[1].rstrip(":")
    assert lines[1].startswith("10/10 done: 10 succeeded, 0 failed, 0 skipped, 0 running;")
    assert lines[-1] == f"Backfill {ident[:8]} completed: 10 succeeded."
    status = invoke("backfill", "status")
    assert f"Backfill {ident}" in status.output
    assert "completed" in status.output
    rows = {line.split()[0]: line.split()[1:] for line in status.output.splitlines() if line}
    assert rows["raw"] == rows["cleaned"] == ["5", "5", "0", "0", "0", "0"]


def test_a_failed_backfill_exits_1_with_how_to_resume(chain, monkeypatch):
    monkeypatch.setenv("FAIL_DAYS", "2024-01-02")
    result = CliRunner().invoke(
        main, ["backfill", "start", "raw", "cleaned", "--from", "2024-01-01", "--to", "2024-01-03"]
    )
    assert result.exit_code == 1
    assert "failed raw[2024-01-02]: RuntimeError: the export for 2024-01-02 is missing" in (
        result.output
    )
    ident = result.output.splitlines()[0].split()[1].rstrip(":")[:8]
    assert (
        f"Error: backfill {ident} failed (4 succeeded, 1 failed, 1 skipped); "
        f"`assay backfill status {ident}` shows what failed; "
        f"`assay backfill resume {ident}` runs the rest"
    ) in result.output
    status = invoke("backfill", "status", ident)
    assert "2 asset partitions did not succeed:" in status.output
    bad = status.output.split("did not succeed:")[1].splitlines()
    assert bad[1].split()[:2] == ["raw[2024-01-02]", "failed"]
    assert bad[2].split()[:2] == ["cleaned[2024-01-02]", "skipped"]
    assert f"Resume with `assay backfill resume {ident}`." in status.output

    data = json.loads(invoke("backfill", "status", ident, "--json").output)
    assert data["status"] == "failed"
    assert {a["asset_key"]: a["failed"] for a in data["assets"]} == {"raw": 1, "cleaned": 0}
    assert len(data["steps"]) == 6

    monkeypatch.delenv("FAIL_DAYS")
    resumed = invoke("backfill", "resume", ident)
    assert resumed.exit_code == 0
    assert f"Backfill {ident}" in resumed.output.splitlines()[0]
    assert ": 2 asset partitions (run " in resumed.output.splitlines()[0]
    assert f"Backfill {ident} completed: 6 succeeded." in resumed.output
    again = CliRunner().invoke(main, ["backfill", "resume", ident])
    assert again.exit_code == 2
    assert "has nothing left to run" in again.output
    cancel = CliRunner().invoke(main, ["backfill", "cancel", ident])
    assert cancel.exit_code == 2
    assert "is already completed" in cancel.output
    listed = json.loads(invoke("backfill", "list", "--json").output)
    assert listed[0]["status"] == "completed"
    assert listed[0]["succeeded"] == 6


def test_unknown_ids_and_a_fresh_range_are_reported_plainly(chain):
    result = CliRunner().invoke(main, ["backfill", "status", "abc"])
    assert result.exit_code == 2
    assert result.output.strip() == (
        "Error: no backfill matches 'abc'. Run `assay backfill list` to see them."
    )
    assert invoke("backfill", "start", "raw", "-p", "2024-01-01").exit_code == 0
    fresh = invoke("backfill", "start", "raw", "-p", "2024-01-01")
    assert fresh.output.strip() == (
        "Nothing to backfill: every selected partition is fresh (--force runs them)."
    )
    bad = CliRunner().invoke(main, ["backfill", "start", "raw", "--from", "2024-13-01"])
    assert bad.exit_code == 2
    assert "Error:" in bad.output
    assert "Traceback" not in bad.output
    workers = CliRunner().invoke(main, ["backfill", "start", "raw", "--workers", "0"])
    assert workers.exit_code == 2
    assert "give a whole number of at least 1" in workers.output


def test_materialize_runs_on_the_multiprocess_executor(chain):
    result = invoke("materialize", "+report", "--from", "2024-01-01", "--to", "2024-01-03",
                    "--executor", "multiprocess", "--workers", "2")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.output.count("✓") == 9
    assert "succeeded (9 succeeded)" in result.output


def test_progress_bar_on_a_terminal_shows_counts_rate_and_failures():
    out = io.StringIO()
    progress = BackfillProgress(live=True)
    progress.console = Console(file=out, force_terminal=True, width=120)
    run = RunInfo(run_id="run-1", kind=RunKind.BACKFILL, selection="a", started_at=0,
                  step_keys=("a[1]", "a[2]", "a[3]"), backfill_id="bf-1")  # fmt: skip
    key = AssetKey.parse("a")
    first, second = (
        StepAttempt(key=key, partitions=(p,), indices=(i,), attempt=1, dispatched_at=0)
        for i, p in enumerate(["1", "2"])
    )
    progress.run_started(run)
    progress.step_dispatched(run, first)
    ok = StepResult(key=key, partition="1", status=StepStatus.SUCCEEDED,
                    started_at=0, finished_at=1)  # fmt: skip
    error = StepError(message="ValueError: no")
    bad = StepResult(key=key, partition="2", status=StepStatus.FAILED,
                     started_at=0, finished_at=1, failure=error)  # fmt: skip
    progress.step_finished(run, first, [ok])
    progress.step_dispatched(run, second)
    progress.step_finished(run, second, [bad])
    progress.close()
    text = re.sub(r"\x1b\[[0-9;?]*[a-zA-Z]", "", out.getvalue())
    assert "✗ a[2] failed: ValueError: no" in text
    assert "2/3" in text
    assert "1 ok" in text
    assert "1 failed" in text
    assert "/s" in text
