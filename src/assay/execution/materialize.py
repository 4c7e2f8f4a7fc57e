"""Applying a plan: exactly its asset partitions, or a refusal when the stored state
or the code moved since it was made."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from assay.errors import AssayError, PlanError, StateError
from assay.execution.executors import make_executor
from assay.execution.hooks import CompositeHooks, LoggingHooks
from assay.execution.lineage_hooks import LineageHooks
from assay.execution.retention import RetentionHooks
from assay.execution.runner import prefetch_versions, run_materialization
from assay.execution.taskgraph import (
    RunTarget,
    decode_ranges,
    in_flight,
    target_ranges,
    upstream_reads,
)
from assay.planning.plan import code_fingerprint
from assay.results import RunKind, RunResult, RunStatus
from assay.run_config import recorded
from assay.state.claims import claim_run_key, partition_claims, retry_run_key
from assay.state.store import IndexReport

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from assay.config import ProjectConfig
    from assay.definitions import Definitions
    from assay.execution.executors import ExecutorChoice
    from assay.execution.hooks import RunHooks
    from assay.io.base import IOManager
    from assay.keys import AssetKey
    from assay.partitions.subset import PartitionSubset
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
        """Lineage, alerts when the project has any, then the caller's subscribers
        (default: logging), then retention (when `[tool.assay] retention` is set).

        Raises:
            DefinitionError: an alert's selection does not parse or selects nothing.
        """
        lineage = LineageHooks(self.config, self.definitions.graph, self.io_for)
        alerts: list[RunHooks] = []
        if self.definitions.alerts:  # (alerting is imported only where alerts are declared)
            from assay.execution.alert_hooks import AlertHooks

            alerts.append(AlertHooks(self.config, self.definitions))
        chosen: list[RunHooks] = [lineage, *alerts, *(subscribers or [LoggingHooks()])]
        if self.config.retention_s is not None:
            chosen.append(RetentionHooks(self.config.home, self.config.retention_s))
        return CompositeHooks(chosen)


def configured(runtime: Runtime, configs: Mapping[str, str]) -> Runtime:
    """The runtime whose assets have `configs` (a plan's or a backfill's recorded
    configuration) where they differ from its own."""
    graph = runtime.definitions.graph
    current = {str(key): config.json for key, config in graph.configs.items()}
    if all(current.get(name) == text for name, text in configs.items()):
        return runtime
    return replace(
        runtime, definitions=runtime.definitions.configured(recorded(graph.specs, configs))
    )


def targets_of(plan: Plan) -> list[RunTarget]:
    return [RunTarget(key=step.key, partitions=step.partitions) for step in plan.steps]


def check_current(plan: Plan, runtime: Runtime) -> None:
    """Refuse, in one line, a plan made against code or stored state that moved since.

    Raises:
        PlanError: the code of an asset in its scope, or the stored state, changed.
    """
    graph = configured(runtime, plan.config).definitions.graph
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
    _check_keys_kept(plan, runtime)
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


def _check_keys_kept(plan: Plan, runtime: Runtime) -> None:
    """Refuse a plan whose steps cover keys of dynamic partitions removed since it was
    made (keys added since change nothing: the plan runs the keys it saw)."""
    from assay.partitions.dynamic import DynamicPartitions

    seen = plan.context.dynamic
    if seen is None:
        return
    covered: dict[str, set[str]] = {}
    for step in plan.steps:
        if isinstance(step.definition, DynamicPartitions) and step.partitions is not None:
            every = seen.get(step.definition.name).keys
            covered.setdefault(step.definition.name, set()).update(
                every[i] for i in step.partitions
            )
    if not covered:
        return
    now = runtime.state.dynamic_partition_keys(sorted(covered))
    for name, keys in sorted(covered.items()):
        gone = sorted(keys - set(now.get(name, ())))
        if gone:
            shown = ", ".join(gone[:5]) + (f", … ({len(gone)})" if len(gone) > 5 else "")
            raise PlanError(
                f"the plan is out of date: keys of {name!r} were removed since it was made "
                f"({shown}): plan again (`assay plan`) and apply the new plan"
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
    run_key: str | None = None,
) -> RunResult:
    """Run exactly the plan's asset partitions as one recorded run.

    An empty plan runs and records nothing (the result has no run id), unless it
    has a run key: the key is then used by a run with no steps. A run key held by
    an earlier run runs nothing: the result names that run (`is_duplicate`).
    Asset partitions another live run computes are skipped (claims).
    """
    runtime = configured(runtime, plan.config)
    home = runtime.config.home
    run_id = run_id or str(uuid.uuid4())
    if run_key is not None:
        claim = claim_run_key(home, run_key, run_id)
        if claim.run_id != run_id:
            return _duplicate(runtime, claim.run_id, run_key)
    elif plan.is_empty:
        return RunResult(run_id="", status=RunStatus.SUCCEEDED, steps=(), index=IndexReport())
    graph = runtime.definitions.graph
    targets = targets_of(plan)
    with partition_claims(home, run_id, target_ranges(graph, targets)) as others:
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
            run_key=run_key,
            in_flight=in_flight(graph, others, plan.context),
        )


def retry_run(
    runtime: Runtime,
    run_id: str,
    plan_of: Callable[[list[str], list[tuple[str, Any]] | None], Plan],
    *,
    choice: ExecutorChoice,
    hooks: RunHooks,
    should_stop: Callable[[], bool] | None = None,
) -> RunResult:
    """Run again what a run that did not succeed covered and is still stale, under its
    run key (a new generation of it: the key's earlier run stays recorded).

    Raises:
        UnknownRunError: no such run.
        StateError: it succeeded, is still running, or is a backfill's run (resume the
            backfill), or another caller retried it first.
    """
    run = runtime.state.run_details(run_id).run
    short = run.run_id[:8]
    if run.backfill_id is not None:
        raise StateError(
            f"run {short} is a run of backfill {run.backfill_id[:8]}: resume the backfill "
            f"(`assay backfill resume {run.backfill_id[:8]}`)"
        )
    if run.status in (RunStatus.SUCCEEDED, RunStatus.RUNNING) or not run.targets:
        raise StateError(f"run {short} is {run.status}: there is nothing to retry")
    wanted = decode_ranges(runtime.definitions.graph, json.loads(run.targets))
    recorded = (  # the values it was given: the retry uses them, whatever the project says now
        [(f"the configuration of run {short}", json.loads(run.config))] if run.config else None
    )
    plan = restrict(plan_of(sorted(str(key) for key in wanted), recorded), wanted)
    new_id = str(uuid.uuid4())
    if run.run_key is not None:
        claim = retry_run_key(runtime.config.home, run.run_key, new_id, replacing=run.run_id)
        if not claim.is_new:
            return _duplicate(runtime, claim.run_id, run.run_key)
    return apply_plan(
        runtime,
        plan,
        choice=choice,
        hooks=hooks,
        label=f"{run.selection or '*'} (retry of {short})",
        should_stop=should_stop,
        run_id=new_id,
        run_key=run.run_key,
    )


def restrict(plan: Plan, wanted: Mapping[AssetKey, PartitionSubset | None]) -> Plan:
    """The plan's steps within `wanted` (per asset, its partitions; None: all of it)."""
    steps = []
    for step in plan.steps:
        if step.key not in wanted:
            continue
        allowed = wanted[step.key]
        if allowed is not None and step.partitions is not None:
            subset = step.partitions & allowed
            if not subset:
                continue
            step = replace(step, partitions=subset)
        steps.append(step)
    return replace(plan, steps=tuple(steps))


def _duplicate(runtime: Runtime, run_id: str, run_key: str) -> RunResult:
    """The result of a run key claimed before: the run that holds it, as indexed."""
    try:
        status = RunStatus(runtime.state.run_details(run_id).run.status)
    except AssayError:  # not indexed yet (it is starting), or the store is held
        status = RunStatus.RUNNING
    return RunResult(
        run_id=run_id,
        status=status,
        steps=(),
        index=IndexReport(),
        run_key=run_key,
        is_duplicate=True,
    )
