"""Read connections to state files, through one DuckDB instance per process.

Opening a DuckDB file makes a database instance: ~12 ms, and ~4 ms to close, for
any file, empty or not. A process that reads the store again and again (the
daemon, each tick; the web UI, each page; a command with several reads) paid it
each time. Instead, each process keeps one in-memory instance and attaches the
state file to it, read-only, for as long as someone reads it (~2 ms), detaching
it after the last reader (which lets DuckDB's own lock on the file go, so a
writer in another process can open it).

Readers on several threads share one attachment: each gets a cursor of its own
with the attachment as its default catalog. The file cannot change while it is
attached, since every reader holds the store's shared lock (`StateStore.reading`)
from before it attaches until after it detaches, and writers take it exclusively.

A forked child makes its own instance: it never uses the one it inherited.

Every attached store is a catalog of the one instance: what asks the catalog about
tables (`information_schema`) asks of `current_database()`, the reader's own. A
file is attached once whatever path names it (a symlink, `..`, a relative path).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path

    import duckdb


@dataclass(slots=True)
class _Attached:
    alias: str
    readers: int = 0


@dataclass(slots=True)
class _Instance:
    pid: int
    connection: duckdb.DuckDBPyConnection
    attached: dict[str, _Attached] = field(default_factory=dict)
    readers: dict[int, str] = field(default_factory=dict)  # id of a cursor -> its file
    count: int = 0  # attachments made, for unique aliases


_lock = threading.Lock()
_instance: _Instance | None = None
_inherited: list[_Instance] = []  # a forked child's copies: never used, never closed


def open_read(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only cursor on the state file `path` (attached if no one reads it yet);
    give it back with `close_read`.

    Raises:
        duckdb.Error: the file cannot be attached (locked by a writer, corrupt).
    """
    global _instance
    import duckdb

    name = os.path.realpath(path)
    with _lock:
        if _instance is None or _instance.pid != os.getpid():
            _instance = _Instance(pid=os.getpid(), connection=duckdb.connect(":memory:"))
        instance = _instance
        entry = instance.attached.get(name)
        if entry is None:
            instance.count += 1
            alias = f"state_{instance.count}"
            quoted = name.replace("'", "''")
            instance.connection.execute(f"ATTACH '{quoted}' AS {alias} (READ_ONLY)")
            entry = instance.attached[name] = _Attached(alias=alias)
        entry.readers += 1
        try:
            cursor = instance.connection.cursor()
            cursor.execute(f"USE {entry.alias}")
        except BaseException:
            _release(instance, name)
            raise
        instance.readers[id(cursor)] = name  # what `close_read` lets go
    return cursor


def close_read(cursor: duckdb.DuckDBPyConnection) -> None:
    """Give back a cursor of `open_read`: its file is detached after its last reader."""
    cursor.close()
    with _lock:
        if _instance is not None and _instance.pid == os.getpid():
            name = _instance.readers.pop(id(cursor), None)
            if name is not None:
                _release(_instance, name)


def _release(instance: _Instance, name: str) -> None:
    entry = instance.attached.get(name)
    if entry is None:
        return
    entry.readers -= 1
    if entry.readers <= 0:
        del instance.attached[name]
        instance.connection.execute(f"DETACH {entry.alias}")


def _forget_in_child() -> None:
    global _instance, _lock
    if _instance is not None:
        _inherited.append(_instance)  # its threads did not survive the fork
    _instance = None
    _lock = threading.Lock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_forget_in_child)
