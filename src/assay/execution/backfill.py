"""Backfills: a persistent, resumable set of asset partitions, driven by the process
that starts (or resumes) it. No daemon.

A backfill is recorded with its targets (per asset, ranges of partition keys),
and each of its runs carries its id, so the status of every asset partition it
covers is the latest step of that partition over its runs. `resume` runs the
targets whose latest step did not succeed: failed, skipped, interrupted, or
never started. `cancel` from another process drops a flag file that the
driving process polls: running steps finish, nothing new starts.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from assay.errors import PartitionKeyError, StateError
from assay.execution.runner import RunTarget, command_line, current_user
from assay.keys import AssetKey
from assay.partitions.subset import PartitionSubset
from assay.state.clock import Clock
from assay.state.journal import Journal

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from assay.graph import AssetGraph
    from assay.state.records import Record

RESUMABLE = frozenset({"failed", "canceled", "interrupted"})


@dataclass(frozen=True, slots=True, kw_only=True)
class AssetProgress:
    """How far a backfill got with one asset."""

    asset_key: str
    targeted: int
    succeeded: int
    failed: int
    skipped: int
    interrupted: int

    @property
    def pending(self) -> int:
        done = self.succeeded + self.failed + self.skipped + self.interrupted
        return max(self.targeted - done, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class BackfillStatus:
    """A backfill's record, per-asset progress and the latest step of every asset
    partition it ran (`steps`: asset_key, partition_key, status, attempts, error...)."""

    backfill: dict[str, Any]
    assets: tuple[AssetProgress, ...]
    steps: tuple[dict[str, Any], ...]

    @property
    def backfill_id(self) -> str:
        return str(self.backfill["backfill_id"])

    @property
    def status(self) -> str:
        return str(self.backfill["status"])

    @property
    def is_resumable(self) -> bool:
        return self.status in RESUMABLE

    def to_dict(self) -> dict[str, Any]:
        return {
            **{k: v for k, v in self.backfill.items() if k != "targets"},
            "assets": [
                {
                    "asset_key": a.asset_key,
                    "targeted": a.targeted,
                    "succeeded": a.succeeded,
                    "failed": a.failed,
                    "skipped": a.skipped,
                    "interrupted": a.interrupted,
                    "pending": a.pending,
                }
                for a in self.assets
            ],
        }


def new_backfill(
    *,
    graph: AssetGraph,
    targets: Sequence[RunTarget],
    selection: str,
    partitions: str,
    force: bool,
    executor: str,
    workers: int | None,
) -> Record:
    """The record of a new backfill over `targets` (its runs journal it)."""
    return {
        "type": "backfill",
        "backfill_id": str(uuid.uuid4()),
        "selection": selection,
        "partitions": partitions,
        "is_forced": force,
        "executor": executor,
        "workers": workers,
        "targets": encode_targets(graph, targets),
        "asset_count": len(targets),
        "partition_count": sum(1 if t.partitions is None else len(t.partitions) for t in targets),
        "created_at": time.time(),
        "finished_at": None,
        "user_name": current_user(),
        "command": command_line(),
    }


def encode_targets(graph: AssetGraph, targets: Iterable[RunTarget]) -> str:
    """`{"raw/orders": [["2024-01-01", "2024-03-31"]], "summary": null}` (keys, not
    indices, so the record still means the same if a partitions start moves)."""
    out: dict[str, list[list[str]] | None] = {}
    for target in targets:
        definition = graph.specs[target.key].partitions
        if target.partitions is None or definition is None:
            out[str(target.key)] = None
            continue
        out[str(target.key)] = [
            [definition.key(start), definition.key(stop - 1)]
            for start, stop in target.partitions.ranges
        ]
    return json.dumps(out, separators=(",", ":"))


def remaining_targets(
    graph: AssetGraph, backfill: dict[str, Any], succeeded: set[tuple[str, str]]
) -> list[RunTarget]:
    """The backfill's targets minus the asset partitions whose last step succeeded.

    Raises:
        StateError: an asset or partition of the backfill is no longer defined.
    """
    wanted = json.loads(backfill["targets"])
    targets: list[RunTarget] = []
    for name, ranges in wanted.items():
        key = AssetKey.parse(name)
        if key not in graph.specs:
            raise StateError(
                f"backfill {backfill['backfill_id'][:8]} covers asset {name!r}, which is no "
                "longer defined: cancel it and start a new backfill"
            )
        definition = graph.specs[key].partitions
        if ranges is None or definition is None:
            if (name, "") not in succeeded:
                targets.append(RunTarget(key=key))
            continue
        try:
            subset = PartitionSubset(
                tuple(
                    (definition.index(first), definition.index(last) + 1) for first, last in ranges
                )
            )
        except PartitionKeyError as exc:
            raise StateError(
                f"backfill {backfill['backfill_id'][:8]} covers partitions of {name!r} that are "
                f"no longer defined ({exc}): cancel it and start a new backfill"
            ) from None
        done = [definition.index(p) for a, p in succeeded if a == name and p]
        left = subset - PartitionSubset.from_indices(done)
        if left:
            targets.append(RunTarget(key=key, partitions=left))
    order = {key: i for i, key in enumerate(graph.order)}
    return sorted(targets, key=lambda t: order[t.key])


def progress(
    graph: AssetGraph, backfill: dict[str, Any], steps: Sequence[dict[str, Any]]
) -> tuple[AssetProgress, ...]:
    """Per asset of the backfill: targeted, and its partitions by their latest status."""
    wanted = json.loads(backfill["targets"])
    counts: dict[str, dict[str, int]] = {name: {} for name in wanted}
    for step in steps:
        status = "interrupted" if step["status"] in ("died", "running") else step["status"]
        bucket = counts.setdefault(step["asset_key"], {})
        bucket[status] = bucket.get(status, 0) + 1
    out = []
    for name, ranges in wanted.items():
        found = counts.get(name, {})
        targeted = 1 if ranges is None else _count(graph, name, ranges)
        out.append(
            AssetProgress(
                asset_key=name,
                targeted=targeted,
                succeeded=found.get("succeeded", 0),
                failed=found.get("failed", 0),
                skipped=found.get("skipped", 0),
                interrupted=found.get("interrupted", 0),
            )
        )
    return tuple(out)


def _count(graph: AssetGraph, name: str, ranges: list[list[str]]) -> int:
    spec = graph.specs.get(AssetKey.parse(name))
    definition = None if spec is None else spec.partitions
    if definition is None:
        return len(ranges)
    try:
        return sum(definition.index(last) - definition.index(first) + 1 for first, last in ranges)
    except PartitionKeyError:
        return 0


def cancel_flag(home: Path, backfill_id: str) -> Path:
    """The file whose existence asks the driving process to stop."""
    return home / "backfills" / f"{backfill_id}.cancel"


def request_cancel(home: Path, backfill_id: str, *, driver_alive: bool) -> str:
    """Ask the driver to stop (it ends the backfill `canceled`), or, with no driver,
    record the backfill canceled now. Returns the status the backfill gets."""
    status = "canceling" if driver_alive else "canceled"
    if driver_alive:
        flag = cancel_flag(home, backfill_id)
        flag.parent.mkdir(parents=True, exist_ok=True)
        flag.write_text(f"{time.time()}\n", encoding="utf-8")
    with Clock(home) as clock, Journal(home / "journal", f"cancel-{uuid.uuid4()}") as journal:
        journal.append(
            {
                "type": "backfill_cancel",
                "backfill_id": backfill_id,
                "status": status,
                "at": time.time(),
                "seq": clock.next(),
            },
            durable=True,
        )
    return status


class CancelWatch:
    """Polled by the coordinator: True once the backfill's cancel flag exists."""

    def __init__(self, home: Path, backfill_id: str) -> None:
        self.flag = cancel_flag(home, backfill_id)
        self.flag.unlink(missing_ok=True)  # a stale request from an earlier run
        self.last_check = 0.0
        self.requested = False

    def __call__(self) -> bool:
        now = time.monotonic()
        if not self.requested and now - self.last_check >= 0.2:
            self.last_check = now
            self.requested = self.flag.exists()
        return self.requested

    def clear(self) -> None:
        self.flag.unlink(missing_ok=True)
