"""What the CLI prints where: tables that never wrap off a terminal, and styles
(ANSI codes) on a terminal only, unless NO_COLOR or FORCE_COLOR says otherwise."""

import re

import pytest
from click.testing import CliRunner

from assay.cli.main import main
from assay.cli.render import Grid

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def invoke(*args, env=None):
    return CliRunner().invoke(main, list(args), catch_exceptions=False, env=env)


def test_a_table_off_a_terminal_is_plain_aligned_columns_that_never_wrap():
    grid = Grid("asset", "last materialization", "status", plain=True)
    long = "x" * 300
    grid.add_row("orders", "2024-05-01 10:00:00", "[red]failed[/]")
    grid.add_row(long, "-", "✓ [green]ok[/]")
    lines = grid.plain_lines()
    assert lines == [
        "asset" + " " * 297 + "last materialization  status",
        "orders" + " " * 296 + "2024-05-01 10:00:00   failed",
        long + "  -                     ✓ ok",
    ]


@pytest.mark.parametrize(
    ("env", "styled"),
    [
        ({}, False),  # not a terminal: no ANSI codes
        ({"FORCE_COLOR": "1"}, True),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, False),  # NO_COLOR wins
    ],
    ids=["pipe", "force-color", "no-color-wins"],
)
def test_styles_reach_a_terminal_only_unless_asked(project_dir, monkeypatch, env, styled):
    for name in ("NO_COLOR", "FORCE_COLOR", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    for command in (["list"], ["plan"], ["materialize", "source"], ["runs"]):
        result = invoke(*command, env=env)
        assert result.exit_code == 0, result.output
        assert bool(ANSI.search(result.output)) is styled, (command, result.output)


def test_a_table_in_a_pipe_keeps_one_line_per_row_at_any_width(project_dir, monkeypatch):
    monkeypatch.setenv("COLUMNS", "40")  # what CI logs often say; rows still never wrap
    assert invoke("materialize").exit_code == 0
    lines = invoke("list").output.splitlines()
    assert len(lines) == 5  # the header and four assets
    assert all(line == line.rstrip() for line in lines)
    assert lines[0].split()[:4] == ["asset", "group", "upstream", "partitions"]
