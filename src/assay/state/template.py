"""New state stores copied from an empty one made once per machine.

A new store is the whole chain of migrations applied to an empty file: about sixty
DDL statements and fourteen commits, ~0.1 s, which a project's first run and
every fresh home (a CI job, each test) would pay. The chain's result is always the
same file for one DuckDB version, one chain and one block size, so it is made
once, in the user's cache folder (`$XDG_CACHE_HOME/assay`, else `~/.cache/assay`;
`ASSAY_CACHE_DIR` overrides), and each new store is a copy of it: a few
milliseconds.

The template's digest is kept beside it and checked at each copy (a damaged
template is made again). The copy is written beside the store under a temporary
name, synced, then renamed into place, so a crash leaves no half store; the
caller opens it and migrates as it does any store (a no-op on a template of the
current chain).
Anything that goes wrong (no cache folder, a read-only one, a full disk) only
means the store is made by the chain, as before.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path  # noqa: TC003 (a default)

from assay.config import cache_dir
from assay.state.migrations import MIGRATIONS, migrate

_log = logging.getLogger("assay.state")


def template_path(config: dict[str, str | bool | int | float | list[str]]) -> Path:
    """The empty store for this DuckDB, this chain of migrations and this file config."""
    import duckdb

    chain = hashlib.sha256("\x00".join(MIGRATIONS).encode()).hexdigest()[:16]
    settings = hashlib.sha256(repr(sorted(config.items())).encode()).hexdigest()[:8]
    return cache_dir() / f"store-duckdb{duckdb.__version__}-{chain}-{settings}.duckdb"


def place_new_store(path: Path, config: dict[str, str | bool | int | float | list[str]]) -> bool:
    """Put an empty, migrated store at `path` (which must not exist); False when it
    could not, and the caller makes it with the chain of migrations."""
    try:
        template = template_path(config)
        data = _read_verified(template)
        if data is None:  # not made yet, or damaged since: made (again)
            data = _make_template(template, config)
        _write_into_place(data, path)
    except Exception as exc:  # the chain makes the store as well: never fatal
        _log.debug("state store template unusable (%s); migrating a new file", exc)
        return False
    return True


def _digest(data: bytes) -> str:
    import xxhash

    return xxhash.xxh3_128_hexdigest(data)


def _read_verified(template: Path) -> bytes | None:
    """The template's bytes when they are what was made (its digest beside it)."""
    try:
        data = template.read_bytes()
        expected = template.with_name(template.name + ".xxh3").read_text().strip()
    except OSError:
        return None
    return data if _digest(data) == expected else None


def _make_template(
    template: Path, config: dict[str, str | bool | int | float | list[str]]
) -> bytes:
    import duckdb

    template.parent.mkdir(parents=True, exist_ok=True)
    scratch = template.with_name(f".{template.name}.{os.getpid()}.new")
    try:
        con = duckdb.connect(str(scratch), config=config)
        try:
            migrate(con)
            con.execute("CHECKPOINT")
        finally:
            con.close()
        data = scratch.read_bytes()
        _write_into_place(data, template)
        # another process making it meanwhile writes the same bytes: either wins
        _write_into_place(_digest(data).encode(), template.with_name(template.name + ".xxh3"))
        return data
    finally:
        for leftover in (scratch, scratch.with_name(scratch.name + ".wal")):
            with contextlib.suppress(FileNotFoundError):
                leftover.unlink()


def _write_into_place(data: bytes, path: Path) -> None:
    """Write `data` to `path` whole or not at all (a synced temporary file, renamed)."""
    from assay.io.atomic import atomic_path  # (the io package is not for every start-up)

    with atomic_path(path) as scratch:
        scratch.write_bytes(data)
