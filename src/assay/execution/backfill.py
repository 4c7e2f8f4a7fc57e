"""Backfills: a persistent, resumable set of asset partitions, driven by the process
that starts (or resumes) it. No daemon.

A backfill is recorded with its targets (per asset, ranges of partition keys),
and each of its runs carries its id, so the status of every asset partition it
covers is the latest step of that partition over its runs. `resume` runs the
targets whose latest step did not succeed: failed, skipped, interrupted, or
never started. `cancel` from another process drops a flag file that the
driving process polls (`cancel`): running steps finish, nothing new starts.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from assay.errors import PartitionKeyError, StateError
from assay.execution.cancel import CancelWatch, cancel_flag, request_stop
from assay.execution.executors import choose_executor
from assay.execution.materialize import apply_plan
from assay.execution.recorder import command_line, current_user
from assay.execution.taskgraph import RunTarget, target_ranges
from assay.keys import AssetKey
from assay.partitions.subset import PartitionSubset
from assay.planning.plan import Plan, PlannedStep
from assay.results import RunKind, RunResult, RunStatus
from assay.run_config import by_asset_json, canonical_json
from assay.state.clock import Clock
from assay.state.dynamic import partition_context
from assay.state.journal import Journal
from assay.state.store import IndexReport

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from pathlib import Path

    from assay.execution.executors import ExecutorChoice
    from assay.execution.hooks import RunHooks
    from assay.execution.materialize import Runtime
    from assay.graph import AssetGraph
    from assay.partitions.base import PartitionContext
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
    config: Mapping[str, str] | None = None,
) -> Record:
    """The record of a new backfill over `targets` (its runs journal it), with the
    configuration every run of it uses (`config`: asset -> JSON)."""
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
        "config": by_asset_json(config or {}),
    }


def encode_targets(graph: AssetGraph, targets: Iterable[RunTarget]) -> str:
    """`{"raw/orders": [["2024-01-01", "2024-03-31"]], "summary": null}` (keys, not
    indices, so the record still means the same if a partitions start moves)."""
    return json.dumps(target_ranges(graph, targets), separators=(",", ":"))


def remaining_targets(
    graph: AssetGraph,
    backfill: dict[str, Any],
    succeeded: set[tuple[str, str]],
    context: PartitionContext | None = None,
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
                    (definition.index(first, context), definition.index(last, context) + 1)
                    for first, last in ranges
                )
            )
        except PartitionKeyError as exc:
            raise StateError(
                f"backfill {backfill['backfill_id'][:8]} covers partitions of {name!r} that are "
                f"no longer defined ({exc}): cancel it and start a new backfill"
            ) from None
        # a key the definition no longer has (a dynamic key removed) is not left to run
        done = [definition._parse(p) for a, p in succeeded if a == name and p]
        left = subset - PartitionSubset.from_indices(i for i in done if i is not None)
        if left:
            targets.append(RunTarget(key=key, partitions=left))
    order = {key: i for i, key in enumerate(graph.order)}
    return sorted(targets, key=lambda t: order[t.key])


def progress(
    graph: AssetGraph,
    backfill: dict[str, Any],
    steps: Sequence[dict[str, Any]],
    context: PartitionContext | None = None,
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
        targeted = 1 if ranges is None else _count(graph, name, ranges, context)
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


def _count(
    graph: AssetGraph, name: str, ranges: list[list[str]], context: PartitionContext | None
) -> int:
    spec = graph.specs.get(AssetKey.parse(name))
    definition = None if spec is None else spec.partitions
    if definition is None:
        return len(ranges)
    try:
        return sum(
            definition.index(last, context) - definition.index(first, context) + 1
            for first, last in ranges
        )
    except PartitionKeyError:
        return 0


def request_cancel(home: Path, backfill_id: str, *, driver_alive: bool) -> str:
    """Ask the driver to stop (it ends the backfill `canceled`), or, with no driver,
    record the backfill canceled now. Returns the status the backfill gets."""
    status = "canceling" if driver_alive else "canceled"
    if driver_alive:
        request_stop(cancel_flag(home, "backfill", backfill_id))
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


# --- driving a backfill from this process ---------------------------------------------

_RECORD_FIELDS = frozenset(
    {
        "backfill_id",
        "selection",
        "partitions",
        "is_forced",
        "executor",
        "workers",
        "targets",
        "asset_count",
        "partition_count",
        "created_at",
        "user_name",
        "command",
        "config",
    }
)


def start_backfill(
    runtime: Runtime,
    plan: Plan,
    *,
    choice: ExecutorChoice,
    hooks: RunHooks,
    label: str,
    should_stop: Callable[[], bool] | None = None,
    run_id: str | None = None,
    run_key: str | None = None,
) -> RunResult:
    """A new backfill over the plan's asset partitions, driven by this process to the
    end. A plan with nothing in it records nothing (the result has no backfill id;
    with a run key, a run with no steps uses the key)."""
    if plan.is_empty:
        if run_key is not None:
            return apply_plan(
                runtime,
                plan,
                choice=choice,
                hooks=hooks,
                label=label,
                run_id=run_id,
                run_key=run_key,
            )
        return RunResult(run_id="", status=RunStatus.SUCCEEDED, steps=(), index=IndexReport())
    chosen = plan.partitions
    record = new_backfill(
        graph=runtime.definitions.graph,
        targets=[RunTarget(key=s.key, partitions=s.partitions) for s in plan.steps],
        selection=plan.selection,
        partitions="" if chosen is None or chosen.is_everything else str(chosen),
        force=plan.force,
        executor=choice.name,
        workers=choice.workers,
        config=plan.config,
    )
    return _drive(runtime, record, plan, label, choice, hooks, should_stop, run_id, run_key)


def resume_backfill(
    runtime: Runtime,
    backfill_id: str,
    *,
    executor: str | None,
    workers: int | None,
    dask_address: str | None,
    hooks: RunHooks,
    context: PartitionContext,
    should_stop: Callable[[], bool] | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Run what a backfill has not done: its failed, skipped, interrupted and never
    started asset partitions; never one that succeeded (as the run `run_id`, when
    given: the launcher's).

    Raises:
        UnknownBackfillError: no such backfill.
        StateError: it is still running in a live process, or nothing is left to run.
    """
    state, graph = runtime.state, runtime.definitions.graph
    row = state.backfill(backfill_id)
    backfill_id = row["backfill_id"]
    if row["status"] in ("running", "canceling"):
        raise StateError(
            f"backfill {backfill_id[:8]} is still running (PID {row['last_run_pid']} on "
            f"{row['last_run_host']}): wait for it, or cancel it "
            f"(`assay backfill cancel {backfill_id[:8]}`)"
        )
    done = {
        (step["asset_key"], step["partition_key"])
        for step in state.backfill_steps(backfill_id)
        if step["status"] == "succeeded"
    }
    targets = remaining_targets(graph, row, done, context)
    if not targets:
        raise StateError(
            f"backfill {backfill_id[:8]} has nothing left to run: every asset partition "
            "it covers succeeded"
        )
    record = {key: _plain(value) for key, value in row.items() if key in _RECORD_FIELDS}
    record["type"] = "backfill"
    record["finished_at"] = None
    if executor is None and dask_address is None:
        executor = row["executor"]
    choice = choose_executor(runtime.config, executor, workers or row["workers"], dask_address)
    plan = Plan(
        steps=tuple(
            PlannedStep(
                key=t.key,
                partitions=t.partitions,
                reasons=(),
                definition=graph.specs[t.key].partitions,
            )
            for t in targets
        ),
        context=context,
        staleness={},
        selection=row["selection"],
        config={
            key: canonical_json(values)
            for key, values in json.loads(row.get("config") or "{}").items()
        },
    )
    label = f"{row['selection']} (backfill {backfill_id[:8]}, resumed)"
    return _drive(runtime, record, plan, label, choice, hooks, should_stop, run_id)


def _plain(value: object) -> object:
    return value.timestamp() if isinstance(value, datetime) else value


def _drive(
    runtime: Runtime,
    record: Record,
    plan: Plan,
    label: str,
    choice: ExecutorChoice,
    hooks: RunHooks,
    should_stop: Callable[[], bool] | None,
    run_id: str | None = None,
    run_key: str | None = None,
) -> RunResult:
    record = {**record, "executor": choice.name, "workers": choice.workers}
    flag = cancel_flag(runtime.config.home, "backfill", record["backfill_id"])
    watch = CancelWatch(flag, clear_stale=True)
    try:
        return apply_plan(
            runtime,
            plan,
            choice=choice,
            hooks=hooks,
            label=label,
            kind=RunKind.BACKFILL,
            backfill=record,
            should_stop=lambda: watch() or (should_stop is not None and should_stop()),
            run_id=run_id,
            run_key=run_key,
        )
    finally:
        watch.clear()


def cancel_backfill(runtime: Runtime, backfill_id: str) -> str:
    """Stop a backfill: its running steps finish and nothing new starts. A backfill
    whose process is gone is marked canceled at once. Returns the new status.

    Raises:
        UnknownBackfillError: no such backfill.
        StateError: it already completed or was canceled.
    """
    row = runtime.state.backfill(backfill_id)
    if row["status"] in ("completed", "canceled"):
        raise StateError(f"backfill {row['backfill_id'][:8]} is already {row['status']}")
    alive = row["status"] in ("running", "canceling")
    status = request_cancel(runtime.config.home, row["backfill_id"], driver_alive=alive)
    runtime.state.store.index_pending()
    return status


def backfill_status(runtime: Runtime, backfill_id: str) -> BackfillStatus:
    """A backfill's state: per asset, its partitions by status; each partition's last step.

    Raises:
        UnknownBackfillError: no such backfill.
    """
    row = runtime.state.backfill(backfill_id)
    steps = runtime.state.backfill_steps(row["backfill_id"])
    graph = runtime.definitions.graph
    assets = progress(graph, row, steps, partition_context(graph, runtime.state))
    return BackfillStatus(backfill=row, assets=assets, steps=tuple(steps))
