"""Is the process that started a run still alive? (PID plus start time, so reuse is caught.)"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot, or '' where /proc is missing."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    # the command name (field 2) may contain spaces and ')': split after the last ')'
    return stat.rsplit(")", 1)[1].split()[19]


def is_alive(pid: int, started: str) -> bool:
    """True when `pid` runs and, where known, started at `started`."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if started:
        now = process_start(pid)
        if now and now != started:
            return False
        if _is_zombie(pid):
            return False
    return True


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return False


def this_host() -> str:
    return socket.gethostname()
