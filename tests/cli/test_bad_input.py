"""Bad input: one line saying what, why and how to fix; exit 2; nothing stored changes."""

import hashlib
import json
import subprocess

import pytest
from click.testing import CliRunner

from assay.cli.main import main
from tests.conftest import ASSAY, clean_env


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def state_snapshot(root):
    """Every file under `.assay` with a hash of its bytes (lock files aside, and the
    planning snapshot: a cache that any plan may make, docs/state.md)."""
    home = root / ".assay"
    if not home.exists():
        return {}
    return {
        str(path.relative_to(home)): hashlib.sha1(path.read_bytes()).hexdigest()
        for path in sorted(home.rglob("*"))
        if path.is_file() and path.suffix != ".lock" and path.name != "planning.snapshot"
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


# --- --limit ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "command", [["runs"], ["backfill", "list"], ["backfill", "status"]], ids=" ".join
)
@pytest.mark.parametrize(
    ("value", "what"),
    [
        ("-1", "-1 is out of range"),
        ("0", "0 is out of range"),
        ("99999999999999999999", "99999999999999999999 is out of range"),
        ("10001", "10001 is out of range"),
        ("abc", "'abc' is not a whole number"),
    ],
    ids=["negative", "zero", "huge", "above-max", "text"],
)
def test_every_limit_is_a_whole_number_from_1_to_10000(project_dir, command, value, what):
    assert invoke("materialize").exit_code == 0
    before = state_snapshot(project_dir)
    result = invoke(*command, "--limit", value)
    assert_one_error_line(
        result,
        f"Error: invalid value for '--limit': {what}",
        "from 1 to 10,000",
        f"See `assay {' '.join(command)} --help`.",
    )
    assert state_snapshot(project_dir) == before


def test_the_largest_limit_lists_every_run(project_dir):
    invoke("materialize")
    listed = invoke("runs", "--limit", "10000", "--json")
    assert listed.exit_code == 0, listed.output
    assert len(json.loads(listed.output)) == 1


# --- click's usage errors, as one line -----------------------------------------------


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["materialize", "--workers", "0"],
            "Error: invalid value for '--workers': 0 is out of range: give a whole number of "
            "at least 1. See `assay materialize --help`.",
        ),
        (
            ["materialize", "--executor", "foo"],
            "Error: invalid value for '--executor': 'foo' is not one of 'in_process', "
            "'multiprocess', 'dask'. See `assay materialize --help`.",
        ),
        (
            ["graph", "--format", "x"],
            "Error: invalid value for '--format': 'x' is not one of 'mermaid', 'dot'. "
            "See `assay graph --help`.",
        ),
        (["plan", "--bogus"], "Error: no such option '--bogus'. See `assay plan --help`."),
        (
            ["plan", "--exit-cod"],
            "Error: no such option '--exit-cod'. Did you mean '--exit-code'? "
            "See `assay plan --help`.",
        ),
        (["why"], "Error: missing argument 'ASSET'. See `assay why --help`."),
        (
            ["runs", "show"],
            "Error: missing argument 'RUN_ID'. See `assay runs show --help`.",
        ),
        (
            ["materalize"],
            "Error: no such command 'materalize'. Did you mean 'materialize'? See `assay --help`.",
        ),
        (
            ["backfill", "strt"],
            "Error: no such command 'strt'. (Did you mean one of: 'start', 'status'?) "
            "See `assay backfill --help`.",
        ),
        (
            ["lineage", "a", "b"],
            "Error: got unexpected extra argument (b). See `assay lineage show --help`.",
        ),
        (["--bogus"], "Error: no such option '--bogus'. See `assay --help`."),
    ],
    ids=[
        "range",
        "choice",
        "format",
        "option",
        "option-typo",
        "argument",
        "sub-argument",
        "command-typo",
        "subcommand-typo",
        "extra",
        "group-option",
    ],
)
def test_usage_errors_are_one_error_line_with_a_pointer_to_help(project_dir, args, line):
    result = invoke(*args)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [line]
    assert not (project_dir / ".assay").exists()


def test_the_installed_command_prints_usage_errors_on_stderr_only(project_dir):
    done = subprocess.run(
        [str(ASSAY), "materialize", "--workers", "0"],
        cwd=project_dir,
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        "Error: invalid value for '--workers': 0 is out of range: give a whole number of at "
        "least 1. See `assay materialize --help`."
    ]


def test_help_is_unchanged_and_a_bare_group_still_shows_it(project_dir):
    shown = invoke("plan", "--help")
    assert shown.exit_code == 0
    assert shown.output.startswith("Usage: assay plan [OPTIONS] [SELECTION]...\n")
    assert "--exit-code" in shown.output
    bare = invoke("backfill")
    assert bare.output.startswith("Usage: assay backfill [OPTIONS] COMMAND [ARGS]...")
    assert "Error" not in bare.output


# --- the sweep: other bad input --------------------------------------------------------


def test_why_names_one_asset_and_says_so_when_a_selection_picks_several(project_dir):
    result = invoke("why", "source+")
    assert_one_error_line(
        result,
        "`assay why` explains one asset, and 'source+' selects 4 (source, left, right, joined)",
        "name one of them",
    )


@pytest.mark.parametrize(
    ("args", "what"),
    [
        (["materialize", ""], "invalid value for '[SELECTION]...': '' is blank"),
        (["plan", "left", " "], "invalid value for '[SELECTION]...': ' ' is blank"),
        (["backfill", "start", ""], "'' is blank"),
        (["runs", "show", ""], "invalid value for 'RUN_ID': '' is blank: give a run id"),
        (["backfill", "status", ""], "invalid value for '[BACKFILL_ID]': '' is blank"),
        (["backfill", "cancel", ""], "invalid value for 'BACKFILL_ID': '' is blank"),
        (["why", ""], "invalid value for 'ASSET': '' is blank"),
    ],
    ids=["materialize", "plan", "backfill", "runs-show", "status", "cancel", "why"],
)
def test_a_blank_argument_is_an_error_never_everything(project_dir, args, what):
    assert invoke("materialize", "source").exit_code == 0
    before = state_snapshot(project_dir)
    assert_one_error_line(invoke(*args), what)
    assert state_snapshot(project_dir) == before


def test_a_junit_file_in_a_missing_folder_is_refused_before_anything_runs(stored_quality):
    before = state_snapshot(stored_quality)
    result = invoke("check", "--junit-xml", str(stored_quality / "nowhere" / "checks.xml"))
    assert_one_error_line(
        result, "invalid value for '--junit-xml': folder", "does not exist: create it first"
    )
    assert state_snapshot(stored_quality) == before


def test_a_malformed_dask_address_is_refused_at_once(project_dir):
    done = subprocess.run(
        [str(ASSAY), "materialize", "--dask-address", "garbage"],
        cwd=project_dir,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=19,  # a Client made of it waited out a 20 s timeout on the way out
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        "Error: --dask-address 'garbage' is not a scheduler address (missing port number in "
        "address 'garbage'): give one like 'tcp://host:8786', or the JSON file of "
        "`dask scheduler --scheduler-file`"
    ]
    assert state_snapshot(project_dir) == {}


# --- the user's module exits while it is imported --------------------------------------


@pytest.mark.parametrize("code", ["3", "0"])
def test_a_module_that_exits_on_import_is_named_with_its_code_and_line(make_project, code):
    root = make_project("exits")
    (module,) = root.glob("exits_*.py")
    line = next(
        number
        for number, text in enumerate(module.read_text().splitlines(), start=1)
        if text.startswith("sys.exit(")
    )
    done = subprocess.run(
        [str(ASSAY), "list"],
        cwd=root,
        env=clean_env(EXIT_CODE=code),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert done.stderr.splitlines() == [
        f"Error: importing {module.stem!r} exited with code {code} at {module}:{line}: assay "
        "imports the module to read its assets, so it must not exit; put script code under "
        '`if __name__ == "__main__":`'
    ]


# --- assay state prune and assay runs show --step ---------------------------------


@pytest.mark.parametrize(
    ("args", "parts"),
    [
        ([], ["say how old a run must be to go: --older-than 30d", "retention = "]),
        (["--older-than", "soon"], ["'soon' is not a duration: give one such as 30d"]),
        (["--older-than", "0d"], ["'0d' is not a duration"]),
    ],
    ids=["no-cutoff", "not-a-duration", "zero"],
)
def test_prune_without_a_cutoff_says_how_to_give_one(project_dir, args, parts):
    assert invoke("materialize").exit_code == 0
    before = state_snapshot(project_dir)
    assert_one_error_line(invoke("state", "prune", *args), *parts)
    assert state_snapshot(project_dir) == before


def test_prune_with_nothing_that_old_changes_nothing(project_dir):
    assert invoke("materialize").exit_code == 0
    result = invoke("state", "prune", "--older-than", "30d")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("Nothing to prune: no finished run ended before")
    assert len(json.loads(invoke("runs", "--json").output)) == 1


def test_runs_show_of_a_step_the_run_does_not_have_suggests_one(project_dir):
    assert invoke("materialize").exit_code == 0
    (run,) = json.loads(invoke("runs", "--json").output)
    result = invoke("runs", "show", run["run_id"][:8], "--step", "joind")
    assert_one_error_line(
        result, f"run {run['run_id'][:8]} has no step 'joind'", "Did you mean 'joined'?"
    )
    nothing = invoke("runs", "show", run["run_id"][:8], "--step", "joined", "--failed")
    assert nothing.exit_code == 0, nothing.output
    assert "No step asked for failed in this run." in nothing.output
