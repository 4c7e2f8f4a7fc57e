"""Applying a plan: exactly its asset partitions, or a refusal when the stored state
or the code moved since it was made."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from assay.errors import PlanError
from assay.execution.executors import make_executor
from assay.execution.hooks import CompositeHooks, LoggingHooks
from assay.execution.lineage_hooks import LineageHooks
from assay.execution.runner import prefetch_versions, run_materialization
from assay.execution.taskgraph import RunTarget, upstream_reads
from assay.planning.plan import code_fingerprint
from assay.results import RunKind, RunResult, RunStatus
from assay.state.store import IndexReport

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from assay.config import ProjectConfig
    from assay.definitions import Definitions
    from assay.execution.executors import ExecutorChoice
    from assay.execution.hooks import RunHooks
    from assay.io.base import IOManager
    from assay.keys import AssetKey
    from assay.planning.plan import Plan
    from assay.state.reader import StateReader
    from assay.state.records import Record


@dataclass(frozen=True, slots=True, kw_only=True)
class Runtime:
    """What every run of a loaded project needs: its configuration, definitions, IO
    managers and state."""

    config: ProjectConfig
    definitions: Definitions
    io_for: Callable[[AssetKey], IOManager]
    state: StateReader

    def hooks(self, subscribers: Sequence[RunHooks] | None) -> CompositeHooks:
        """Lineage, then the caller's subscribers (default: logging)."""
        lineage = LineageHooks(self.config, self.definitions.graph, self.io_for)
        return CompositeHooks([lineage, *(subscribers or [LoggingHooks()])])


def targets_of(plan: Plan) -> list[RunTarget]:
    return [RunTarget(key=step.key, partitions=step.partitions) for step in plan.steps]


def check_current(plan: Plan, runtime: Runtime) -> None:
    """Refuse, in one line, a plan made against code or stored state that moved since.

    Raises:
        PlanError: the code of an asset in its scope, or the stored state, changed.
    """
    graph = runtime.definitions.graph
    missing = [str(k) for k in plan.scope if k not in graph.specs]
    if missing:
        raise PlanError(
            f"the plan covers {', '.join(missing[:3])}, which the project no longer has: "
            "plan again (`assay plan`)"
        )
    if plan.code and code_fingerprint(graph, plan.scope) != plan.code:
        raise PlanError(
            "the plan was made with other code (a code version or a dependency of an asset "
            "it covers changed since): plan again (`assay plan`)"
        )
    if plan.mark is None:
        return
    current = runtime.state.state_mark([str(k) for k in plan.scope])
    if current != plan.mark:
        moved = max(current.rows - plan.mark.rows, 0)
        what = (
            f"{moved} asset partition(s) were first stored" if moved else "asset partitions changed"
        )
        raise PlanError(
            f"the plan is out of date: {what} since it was made (a run went between): "
            "plan again (`assay plan`) and apply the new plan"
        )


def apply_plan(
    runtime: Runtime,
    plan: Plan,
    *,
    choice: ExecutorChoice,
    hooks: RunHooks,
    label: str,
    kind: RunKind = RunKind.MATERIALIZE,
    backfill: Record | None = None,
    should_stop: Callable[[], bool] | None = None,
    run_id: str | None = None,
) -> RunResult:
    """Run exactly the plan's asset partitions as one recorded run (an empty plan runs
    and records nothing: the result has no run id)."""
    if plan.is_empty:
        return RunResult(run_id="", status=RunStatus.SUCCEEDED, steps=(), index=IndexReport())
    graph = runtime.definitions.graph
    targets = targets_of(plan)
    versions = prefetch_versions(
        runtime.state.current_versions, upstream_reads(graph, targets, plan.context)
    )
    executor = make_executor(choice, config=runtime.config, graph=graph, io_for=runtime.io_for)
    return run_materialization(
        config=runtime.config,
        definitions=runtime.definitions,
        targets=targets,
        io_for=runtime.io_for,
        selection=label,
        context=plan.context,
        versions=versions,
        hooks=hooks,
        executor=executor,
        kind=kind,
        backfill=backfill,
        should_stop=should_stop,
        run_id=run_id,
    )
