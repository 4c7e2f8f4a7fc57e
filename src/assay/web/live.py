"""A live run as its journal says it, before the store has indexed it: the journal is
the truth (journal then index), so a run page follows a run step by step without
waiting for the run's next flush into DuckDB and without taking any lock.

`JournalTail` reads each live journal incrementally (only the bytes appended since
its last read; a torn last line is left for the next read).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from assay.state.models import Run, Step, model

if TYPE_CHECKING:
    from pathlib import Path

_TIMES = ("started_at", "finished_at")


@dataclass(slots=True)
class _Followed:
    offset: int = 0
    run: dict[str, Any] | None = None
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)


class JournalTail:
    """The run record and the latest record of each step of live journals."""

    def __init__(self, journal_dir: Path) -> None:
        self.journal_dir = journal_dir
        self._followed: dict[str, _Followed] = {}
        self._lock = threading.Lock()

    def read(self, run_id: str) -> tuple[Run | None, list[Step]]:
        """What the live journal of `run_id` says so far (None and no steps when it has
        no live journal: not started, or finished and archived)."""
        if not is_plain_id(run_id):
            return None, []
        path = self.journal_dir / f"{run_id}.jsonl"
        with self._lock:
            followed = self._followed.setdefault(run_id, _Followed())
            try:
                with path.open("rb") as journal:
                    journal.seek(followed.offset)
                    chunk = journal.read()
            except OSError:
                self._followed.pop(run_id, None)
                return None, []
            whole = chunk[: chunk.rfind(b"\n") + 1]
            followed.offset += len(whole)
            for line in whole.splitlines():
                if b'"type":"step"' not in line and b'"type":"run"' not in line:
                    continue  # lineage events and the rest: not read here
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(record, dict):
                    continue
                if record.get("type") == "run":
                    followed.run = {**(followed.run or {}), **record}
                elif record.get("type") == "step" and isinstance(record.get("step_key"), str):
                    before = followed.steps.get(record["step_key"], {})
                    followed.steps[record["step_key"]] = {**before, **record}
            run = None if followed.run is None else model(Run, _times(followed.run))
            steps = [model(Step, _times(s)) for s in followed.steps.values()]
        return run, steps


def is_plain_id(run_id: str) -> bool:
    """Whether `run_id` can name a file of the state home (no folder, not hidden)."""
    return bool(run_id) and "/" not in run_id and not run_id.startswith(".")


def _times(record: dict[str, Any]) -> dict[str, Any]:
    found = dict(record)
    for name in _TIMES:
        value = found.get(name)
        if isinstance(value, int | float):
            found[name] = datetime.fromtimestamp(value, UTC)
    return found
