"""Terminal rendering with rich, imported only when a command prints a table.

Where output goes decides its layout, the environment its colors:

- On a terminal, tables are rich tables fitted to its width.
- Anywhere else (a pipe, a file, a CI log), tables are plain aligned columns
  that never wrap, with no trailing spaces, and lines are never cut: a CI log
  keeps one line per row however long it is.
- Styles (ANSI codes) reach a terminal only: never a pipe or a file, unless
  `FORCE_COLOR` is set; `NO_COLOR` turns them off everywhere, and wins.

Where no style can reach the output, `show` writes plain lines itself, reading
rich's markup with `plain` and never importing rich (~0.05-0.1 s of a command's
start), so that scripts and CI logs get a listing at the speed of the query.
"""

from __future__ import annotations

import os
import re
import sys
import unicodedata
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from datetime import datetime

    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.table import Table
    from rich.text import Text

    from assay.partitions.base import PartitionsDefinition

_STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "died": "red",
    "skipped": "yellow",
    "running": "cyan",
    "canceled": "yellow",
    "passed": "green",
    "errored": "red",
    "interrupted": "red",
    "completed": "green",
    "warn": "yellow",
    "sent": "green",
    "pending": "yellow",
    "warned": "yellow",
    "stale": "yellow",
    "fresh": "green",
}
WIDE = 1_000_000  # the width off a terminal: no line is wrapped or cut
_GAP = "  "


def color_choice() -> bool | None:
    """True (`FORCE_COLOR`), False (`NO_COLOR`, which wins) or None: styles on a
    terminal only. What `click.Context.color` takes."""
    if os.environ.get("NO_COLOR"):  # https://no-color.org: set and not empty
        return False
    if os.environ.get("FORCE_COLOR"):  # https://force-color.org: any value but empty
        return True
    return None


def is_terminal(stream: TextIO | None = None) -> bool:
    """Whether `stream` (default stdout) is a terminal."""
    stream = sys.stdout if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed, or not a real stream
        return False


def console(*, stderr: bool = False) -> Console:
    """A rich console for stdout (or stderr): fitted to a terminal; elsewhere as wide
    as any line (soft wrap: nothing is wrapped nor cut), styled only when forced."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    tty = is_terminal(stream)
    color = color_choice()
    styled = tty if color is None else color
    return Console(
        file=stream,
        highlight=False,
        soft_wrap=not tty,
        width=None if tty else WIDE,
        force_terminal=styled,
        no_color=color is False,
        color_system="auto" if styled else None,
    )


# rich's markup (`rich.markup`): a tag is `[` then a letter, `#`, `/` or `@`, up to `]`;
# backslashes before it escape it (an odd number) and themselves (in pairs).
_TAG = re.compile(r"((\\*)\[([a-z#/@][^[]*?)])")
_ESCAPABLE = re.compile(r"(\\*)(\[[a-z#/@][^[]*?])")


def escape(text: str) -> str:
    """`text` as markup that shows it as it is (what `rich.markup.escape` does)."""
    escaped = _ESCAPABLE.sub(lambda m: f"{m[1]}{m[1]}\\{m[2]}", text)
    if escaped.endswith("\\") and not escaped.endswith("\\\\"):
        return escaped + "\\"
    return escaped


def plain(markup: str) -> str:
    """The text rich shows for `markup`, without its styles (emoji codes are kept as
    written)."""
    if "[" not in markup:
        return markup
    out: list[str] = []
    position = 0
    for match in _TAG.finditer(markup):
        whole, escapes, _ = match.groups()
        start, end = match.span()
        if start > position:
            out.append(markup[position:start].replace("\\[", "["))
        position = end
        if escapes:
            backslashes, escaped = divmod(len(escapes), 2)
            out.append("\\" * backslashes)
            if escaped:  # not a tag: its text
                out.append(whole[len(escapes) :])
    if position < len(markup):
        out.append(markup[position:].replace("\\[", "["))
    return "".join(out)


def cell_width(text: str) -> int:
    """How many terminal columns `text` takes (East Asian wide characters two,
    combining marks none), as rich counts them."""
    if text.isascii():
        return len(text)
    width = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        width += 2 if unicodedata.east_asian_width(char) in "WF" else 1
    return width


def show(renderable: Grid | str) -> None:
    """Print a `Grid` or a line of markup to stdout: as plain text written directly
    where no style can reach it (a pipe, a file), else through a rich `console()`."""
    if not is_terminal() and color_choice() is not True:
        lines = renderable.plain_lines() if isinstance(renderable, Grid) else [plain(renderable)]
        sys.stdout.write("".join(f"{line}\n" for line in lines))
        return
    console().print(renderable)


class Grid:
    """A table of rich-markup cells: a rich table on a terminal, plain aligned columns
    elsewhere (see the module docstring). Print it with a `console()`."""

    def __init__(self, *columns: str, plain: bool | None = None) -> None:
        self.columns = columns
        self.rows: list[tuple[str, ...]] = []
        self.plain = not is_terminal() if plain is None else plain

    def add_row(self, *cells: str) -> None:
        self.rows.append(cells)

    def __len__(self) -> int:
        return len(self.rows)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not self.plain:
            yield self._table()
            return
        yield from self._lines()

    def _table(self) -> Table:
        from rich.table import Table

        out = Table(box=None, pad_edge=False, header_style="bold")
        for column in self.columns:
            out.add_column(column, overflow="fold")
        for row in self.rows:
            out.add_row(*row)
        return out

    def _lines(self) -> Iterator[Text]:
        from rich.text import Text

        header = [Text(name, style="bold") for name in self.columns]
        body = [[Text.from_markup(cell) for cell in row] for row in self.rows]
        widths = [
            max(text.cell_len for text in column) for column in zip(header, *body, strict=True)
        ]
        for cells in (header, *body):
            line = Text()
            for i, (text, width) in enumerate(zip(cells, widths, strict=True)):
                line.append_text(text)
                if i < len(cells) - 1:
                    line.append(" " * (width - text.cell_len) + _GAP)
            line.rstrip()
            line.no_wrap = True
            line.overflow = "ignore"
            yield line

    def plain_lines(self) -> list[str]:
        """The rows as plain aligned lines, without styles (what `_lines` shows)."""
        body = [[plain(cell) for cell in row] for row in self.rows]
        rows = [list(self.columns), *body]
        widths = [max(cell_width(cell) for cell in column) for column in zip(*rows, strict=True)]
        lines = []
        for cells in rows:
            padded = [
                cell + " " * (width - cell_width(cell)) + _GAP
                for cell, width in zip(cells[:-1], widths, strict=False)
            ]
            lines.append(("".join(padded) + cells[-1]).rstrip())
        return lines


def table(*columns: str) -> Grid:
    """A `Grid` with these column headers."""
    return Grid(*columns)


def status_text(status: str | None) -> str:
    if not status:
        return "-"
    style = _STATUS_STYLE.get(status)
    return f"[{style}]{status}[/]" if style else status


def format_time(value: datetime | None) -> str:
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def fold_keys(
    definition: PartitionsDefinition | None, keys: Iterable[str | None], *, ranges: int = 6
) -> str:
    """Partition keys as ranges in partition order: `2024-01-01..2024-01-31 (31),
    2024-03-05`, the first `ranges` of them and how many more (keys the definition
    no longer has are listed after, as they are)."""
    from assay.errors import PartitionKeyError
    from assay.partitions.subset import PartitionSubset

    given = sorted({key for key in keys if key})
    if definition is None or not given:
        return ", ".join(given) or "-"
    indices, unknown = [], []
    for key in given:
        try:
            indices.append(definition.index(key))
        except PartitionKeyError:
            unknown.append(key)
    subset = PartitionSubset.from_indices(indices)
    shown = PartitionSubset(subset.ranges[:ranges])
    text = definition.fold(shown) if shown else ""
    rest = PartitionSubset(subset.ranges[ranges:])
    if rest:
        text += f", … and {len(rest):,} more in {len(rest.ranges):,} ranges"
    if unknown:
        text = ", ".join(filter(None, [text, *unknown[:ranges]]))
        if len(unknown) > ranges:
            text += f", … and {len(unknown) - ranges:,} more"
    return text
