"""What a tick asks to launch: the request, its command line, and the checks made
before launching it (started already? computed by a live run? starting now?)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assay.errors import PartitionKeyError
from assay.execution.taskgraph import in_flight
from assay.keys import AssetKey
from assay.partitions.time_window import TimeWindowPartitions

if TYPE_CHECKING:
    from datetime import datetime

    from assay.graph import AssetGraph
    from assay.state.reader import StateReader


@dataclass(slots=True, kw_only=True)
class Request:
    """A run requested by a tick, until it is launched (or found a duplicate)."""

    run_id: str
    run_key: str
    name: str
    tick_id: str
    command: list[str]
    targets: dict[str, list[str] | None]
    priority: int = 0
    queued_seq: int = 0

    def as_record(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "run_key": self.run_key,
            "command": self.command,
            "targets": self.targets,
            "priority": self.priority,
        }


def computed_elsewhere(
    graph: AssetGraph,
    request: Request,
    claims: list[Any],
    now: datetime,
    reader: StateReader | None = None,
) -> str | None:
    """The live run computing everything the request would (None: something is left;
    `reader`: where the keys of dynamic partitions are read)."""
    if not request.targets or not claims:
        return None
    from assay.state.dynamic import partition_context

    context = partition_context(graph, reader, now)
    held = in_flight(graph, claims, context)
    holder = None
    for name, keys in request.targets.items():
        key = AssetKey.parse(name)
        found = held.get(key)
        if found is None:
            return None
        subset, run_id = found
        if keys is not None and subset is not None:
            definition = graph.specs[key].partitions
            assert definition is not None
            try:
                wanted = {definition.index(k, context) for k in keys}
            except PartitionKeyError:  # not a key (yet): the run says so itself
                return None
            if not all(i in subset for i in wanted):
                return None
        elif (keys is not None or subset is not None) and subset is not None:
            return None
        holder = run_id
    return holder


def contiguous(graph: AssetGraph, keys: list[AssetKey], partitions: list[str]) -> bool:
    """Whether the keys are consecutive windows of the selection's time partitions."""
    for key in keys:
        definition = graph.specs[key].partitions
        if isinstance(definition, TimeWindowPartitions):
            indexes = [definition._parse(p) for p in partitions]
            if any(i is None for i in indexes):
                return False
            first = indexes[0]
            assert first is not None
            return indexes == list(range(first, first + len(indexes)))
    return False


def has_started(journal_dir: Path, run_id: str) -> bool:
    """Whether the run journaled anything (in the journal folder or its done/)."""
    from assay.state.journal import ARCHIVED_SUFFIX

    name = f"{run_id}.jsonl"
    done = journal_dir / "done"
    return any(
        p.exists() for p in (journal_dir / name, done / name, done / (name + ARCHIVED_SUFFIX))
    )


def alive(pid: int, start: str) -> bool:
    from assay.state.liveness import is_alive

    return is_alive(pid, start)


def process_with(run_id: str) -> bool:
    """Whether a process of this machine has `run_id` on its command line (Linux)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return False
    needle = run_id.encode()
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                return True
        except OSError:
            continue
    return False


class CrashPoints:
    """`ASSAY_CRASH_AT=after_record:3`: kill -9 this process the 3rd time it passes
    that point (the crash-injection tests)."""

    def __init__(self, spec: str | None) -> None:
        self.point, self.count = None, 0
        if spec:
            point, _, count = spec.partition(":")
            self.point, self.count = point, int(count or 1)

    def hit(self, point: str) -> None:
        if point != self.point:
            return
        self.count -= 1
        if self.count <= 0:
            import signal

            os.kill(os.getpid(), signal.SIGKILL)
