"""Terminal rendering with rich, imported only when a command prints a table."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from datetime import datetime

    from rich.console import Console
    from rich.table import Table

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
}


def console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=False)


def table(*columns: str) -> Table:
    from rich.table import Table

    out = Table(box=None, pad_edge=False, header_style="bold")
    for column in columns:
        out.add_column(column, overflow="fold")
    return out


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
    return f"{seconds / 60:.1f} min"
