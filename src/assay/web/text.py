"""How values read on a page: the Jinja2 environment and its filters."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

if TYPE_CHECKING:
    from pathlib import Path

    import jinja2


def environment(templates: Path) -> jinja2.Environment:
    """Templates from `templates`, HTML-escaped, with the filters pages use."""
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=when,
        ago=ago,
        duration=duration,
        size=size,
        count=count,
        short=short,
        asset_url=asset_url,
        run_url=run_url,
    )
    return env


def when(value: datetime | None) -> str:
    """`2024-03-02 06:00:12` in the server's local time; `-` for nothing."""
    if value is None:
        return "-"
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def ago(value: datetime | None, now: datetime | None = None) -> str:
    """`3 min ago`, `2 h ago`, `in 5 min`."""
    if value is None:
        return "-"
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        text = f"{seconds:.0f} s"
    elif seconds < 3600:
        text = f"{seconds / 60:.0f} min"
    elif seconds < 2 * 86400:
        text = f"{seconds / 3600:.0f} h"
    else:
        text = f"{seconds / 86400:.0f} days"
    return f"in {text}" if future else f"{text} ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def size(value: int | None) -> str:
    """Bytes for people: `1.2 MB`."""
    if value is None:
        return "-"
    amount = float(value)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if amount < 1000 or unit == "TB":
            return f"{amount:.0f} {unit}" if unit == "B" else f"{amount:.1f} {unit}"
        amount /= 1000
    return f"{amount:.1f} TB"


def count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


def short(value: str | None, length: int = 8) -> str:
    """An id or a version cut to `length` characters."""
    return "-" if not value else value[:length]


def asset_url(key: object) -> str:
    """`/assets/sales/orders` (each part of the key quoted)."""
    return "/assets/" + "/".join(quote(part, safe="") for part in str(key).split("/"))


def run_url(run_id: str) -> str:
    return f"/runs/{quote(run_id, safe='')}"


_SECRET_WORDS = ("option", "secret", "password", "token", "credential", "key", "auth")


def io_text(io: object, length: int = 200) -> str:
    """An IO manager as a page shows it: `ParquetIO(root=..., storage_options=…)`.
    Fields whose name sounds like a secret (storage options, keys, tokens,
    passwords) are never shown, nor the repr of an IO that is not a dataclass (it
    could hold anything)."""
    if not dataclasses.is_dataclass(io) or isinstance(io, type):
        return type(io).__name__
    parts = []
    for found in dataclasses.fields(io):
        value = getattr(io, found.name, None)
        if value is None:
            continue
        hidden = any(word in found.name.lower() for word in _SECRET_WORDS)
        parts.append(f"{found.name}={'…' if hidden else repr(value)}")
    text = f"{type(io).__name__}({', '.join(parts)})"
    return text if len(text) <= length else text[: length - 1] + "…"
