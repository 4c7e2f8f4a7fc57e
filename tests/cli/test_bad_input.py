"""Bad input: one line saying what, why and how to fix; exit 2; nothing stored changes."""

import hashlib

import pytest
from click.testing import CliRunner

from assay.cli.main import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def state_snapshot(root):
    """Every file under `.assay` with a hash of its bytes (lock files aside)."""
    home = root / ".assay"
    if not home.exists():
        return {}
    return {
        str(path.relative_to(home)): hashlib.sha1(path.read_bytes()).hexdigest()
        for path in sorted(home.rglob("*"))
        if path.is_file() and path.suffix != ".lock"
    }


def assert_one_error_line(result, *parts: str) -> str:
    """Exit 2, exactly one `Error: ...` line holding `parts`, no traceback; returns it."""
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert lines[0].startswith("Error: "), result.output
    for part in parts:
        assert part in lines[0]
    return lines[0]


@pytest.fixture
def stored_quality(make_project, monkeypatch):
    """The quality project with two days of everything stored."""
    for name in ("BAD_DAYS", "BIG", "FEW", "EXPLODE"):
        monkeypatch.delenv(name, raising=False)
    root = make_project("quality")
    done = invoke("materialize", "--from", "2024-01-01", "--to", "2024-01-02")
    assert done.exit_code == 0, done.output
    return root


# --- impossible dates, for every command that takes partitions -------------------

COMMANDS = [["plan"], ["materialize"], ["backfill", "start"], ["check"]]
IMPOSSIBLE = [
    (["-p", "2024-13-45"], "partition key '2024-13-45' is not a real date (month must be in"),
    (["-p", "2024-02-30"], "partition key '2024-02-30' is not a real date (day is out of range"),
    (
        ["--from", "2024-01-01", "--to", "2024-01-01 25:00"],
        "partition key '2024-01-01 25:00' is not a real date and hour (hour must be in 0..23)",
    ),
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
@pytest.mark.parametrize(("args", "what"), IMPOSSIBLE, ids=["month", "day", "hour"])
def test_an_impossible_date_is_a_partition_key_error_naming_the_valid_keys(
    stored_quality, command, args, what
):
    before = state_snapshot(stored_quality)
    result = invoke(*command, *args)
    assert_one_error_line(
        result, what, "daily partitions from 2024-01-01", "have keys 2024-01-01..2024-01-05 (5)"
    )
    assert state_snapshot(stored_quality) == before


def test_a_date_past_what_datetime_holds_is_out_of_range_not_an_overflow(make_project):
    make_project("daily_chain")
    result = invoke("plan", "events", "--from", "2024-01-01", "--to", "9999-12-31")
    assert_one_error_line(result, "partition key '9999-12-31' is not in daily partitions")
