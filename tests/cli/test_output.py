"""What the CLI prints where: tables that never wrap off a terminal, and styles
(ANSI codes) on a terminal only, unless NO_COLOR or FORCE_COLOR says otherwise."""

import re
import subprocess
import sys

import pytest
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from rich.markup import escape as rich_escape
from rich.text import Text

from assay.cli.main import main
from assay.cli.render import Grid, escape, plain
from tests.conftest import clean_env

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


# Markup as the CLI writes it: text (asset keys, errors, user descriptions) escaped,
# within styles or between them; and stray brackets and backslashes of every kind.
_TEXT = st.text(alphabet=st.sampled_from(list("ab /#@[]\\=:é中́")), max_size=24)
_STYLES = st.sampled_from([None, "red", "bold green", "dim", "link=https://x.org"])


def _markup(pieces):
    """Styled and plain pieces; text next to text is one piece (escaping each alone
    and joining them could make a tag: `[/` then `]`)."""
    merged = []
    for style, text in pieces:
        if style is None and merged and merged[-1][0] is None:
            merged[-1] = (None, merged[-1][1] + text)
        else:
            merged.append((style, text))
    # rich's escape doubles one last backslash only: three before a tag would escape
    # it, so a text right before a tag (a styled one's `[/]` too) never ends with one
    merged = [
        (s, t + " " if t.endswith("\\") and (s is not None or i < len(merged) - 1) else t)
        for i, (s, t) in enumerate(merged)
    ]
    return "".join(escape(t) if s is None else f"[{s}]{escape(t)}[/]" for s, t in merged)


_MARKUP = st.lists(st.tuples(_STYLES, _TEXT), max_size=4).map(_markup)
# the same, of what rich draws as we count it: ASCII (rich measures other widths
# by its own tables), no colons (rich replaces emoji codes such as `:x:`)
_ASCII_TEXT = st.text(alphabet=st.sampled_from(list("ab /#@[]\\=")), max_size=24)
_ASCII_MARKUP = st.lists(st.tuples(_STYLES, _ASCII_TEXT), max_size=4).map(_markup)


@given(_TEXT)
def test_escaped_text_reads_back_as_itself(text):
    assert escape(text) == rich_escape(text)
    assert plain(escape(text)) == Text.from_markup(escape(text), emoji=False).plain
    if "\\" not in text:  # rich's escape leaves `\\[` alone, which shows as `[`
        assert plain(escape(text)) == text


@given(_MARKUP)
def test_plain_reads_markup_as_rich_does(markup):
    assert plain(markup) == Text.from_markup(markup, emoji=False).plain


@given(st.lists(st.tuples(_ASCII_MARKUP, _ASCII_MARKUP, _ASCII_MARKUP), min_size=1, max_size=4))
def test_plain_lines_are_the_lines_rich_draws(rows):
    grid = Grid("asset", "status", "checks", plain=True)
    for row in rows:
        grid.add_row(*row)
    drawn = [text.plain for text in grid._lines()]
    assert grid.plain_lines() == drawn


def test_a_listing_in_a_pipe_is_written_without_rich(make_project):
    root = make_project("diamond")
    code = (
        "import sys; from click.testing import CliRunner; from assay.cli.main import main; "
        "CliRunner().invoke(main, ['materialize']); "
        "[sys.modules.pop(m) for m in list(sys.modules) if m.startswith('rich')]; "
        "out = CliRunner().invoke(main, ['list']); "
        "print(out.exit_code, any(m.startswith('rich') for m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, env=clean_env()
    )
    assert done.stdout.split() == ["0", "False"], done.stderr[-2000:]
